"""Malformed documents made from valid ones: each mutation changes one place of the tree."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

# Values put in place of another: every YAML type, with empty and edge cases. No float with an
# integral value (5.0): the schema reads it as an integer, the loader does not (documented).
SAMPLES: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    7,
    0.5,
    "",
    "text",
    "every",
    "start",
    [],
    ["x"],
    [1],
    {},
    {"x": 1},
    "250 OK",
    "PLAIN",
    "message",
    250,
)

Path = tuple[str | int, ...]


def paths(doc: Any, prefix: Path = ()) -> Iterator[Path]:
    """Every place in a tree of dicts and lists, the root first."""
    yield prefix
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from paths(value, (*prefix, i))


def _at(doc: Any, path: Path) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def mutations(doc: Any, rng: random.Random, count: int) -> Iterator[tuple[str, Any]]:
    """``count`` one-place changes of ``doc``, each with a description."""
    places = [p for p in paths(doc) if p]
    for _ in range(count):
        path = rng.choice(places)
        new = copy.deepcopy(doc)
        parent, last = _at(new, path[:-1]), path[-1]
        kind = rng.choice(("replace", "replace", "replace", "delete", "add-key", "append"))
        if kind == "delete":
            del parent[last]
        elif kind == "add-key" and isinstance(_at(new, path), dict):
            _at(new, path)[rng.choice(("bogus", "level", "optional", "delay", "lines"))] = (
                rng.choice(SAMPLES)
            )
        elif kind == "append" and isinstance(_at(new, path), list):
            _at(new, path).append(copy.deepcopy(rng.choice(SAMPLES)))
        else:
            kind = "replace"
            parent[last] = copy.deepcopy(rng.choice(SAMPLES))
        yield f"{kind} at {'.'.join(map(str, path))}", new
