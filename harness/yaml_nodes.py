"""Typed reading of composed YAML nodes, so every value keeps its line and every error names
``file:line: field``. Used by the scenario loader and by the command-adapter configs."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ScenarioError

# No wait in a test harness needs more than an hour; a larger one is a typo or an attack.
MAX_SECONDS = 3600.0

__all__ = ["NodeReader", "compose", "node_kind", "node_line", "read_yaml_text"]

# Bounds on what a hand-written file may need; beyond them it is hostile or broken.
MAX_DEPTH = 64
# The largest scenario has about 1,000 values; an alias counts once per use.
MAX_NODES = 50_000
# Only the plain YAML types: explicit tags (!!int abc, !foo, !!python/...) and timestamps are refused.
_PLAIN_TAGS = frozenset(
    "tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "merge")
)
_RESOLVER = yaml.resolver.Resolver()
# C0 controls other than tab, newline and carriage return, and DEL.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class NodeReader:
    """Typed access to YAML nodes; every failure becomes a ScenarioError with a line."""

    def __init__(self, path: str, loader: yaml.SafeLoader) -> None:
        self.path = path
        self._loader = loader

    def error(self, node: yaml.Node | None, field: str, message: str) -> ScenarioError:
        line = node.start_mark.line + 1 if node is not None else None
        return ScenarioError(message, path=self.path, line=line, field=field)

    def mapping(
        self, node: yaml.Node, field: str, allowed: Iterable[str], required: Iterable[str] = ()
    ) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, field, f"expected a mapping, got {node_kind(node)}")
        allowed = set(allowed)
        out: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise self.error(
                    key_node, field, "YAML merge keys (<<) are not supported; write the keys out"
                )
            key = self.scalar(key_node, field)
            sub = f"{field}.{key}" if field else str(key)
            if not isinstance(key, str) or key not in allowed:
                raise self.error(
                    key_node,
                    sub,
                    f"unknown key {key!r}; expected one of: {', '.join(sorted(allowed))}",
                )
            if key in out:
                raise self.error(key_node, sub, "duplicate key")
            out[key] = value_node
        for key in required:
            if key not in out:
                raise self.error(
                    node, f"{field}.{key}" if field else key, "required key is missing"
                )
        return out

    def scalar(self, node: yaml.Node, field: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, field, f"expected a single value, got {node_kind(node)}")
        return self._loader.construct_object(node, deep=True)

    def string(self, node: yaml.Node, field: str, *, allow_numbers: bool = False) -> str:
        value = self.scalar(node, field)
        if isinstance(value, str):
            return value
        if allow_numbers and isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise self.error(node, field, f"expected a string, got {type(value).__name__} {value!r}")

    def number(
        self, node: yaml.Node, field: str, *, minimum: float = 0.0, maximum: float = MAX_SECONDS
    ) -> float:
        value = self.scalar(node, field)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(node, field, f"expected a number of seconds, got {value!r}")
        if not math.isfinite(value):  # .nan compares false with everything: it would pass below
            raise self.error(node, field, f"expected a finite number of seconds, got {value!r}")
        if value > maximum:
            raise self.error(node, field, f"must be at most {maximum:g} seconds, got {value!r}")
        if value < minimum:
            raise self.error(node, field, f"must be at least {minimum}, got {value!r}")
        return float(value)

    def boolean(self, node: yaml.Node, field: str) -> bool:
        value = self.scalar(node, field)
        if not isinstance(value, bool):
            raise self.error(node, field, f"expected true or false, got {value!r}")
        return value

    def sequence(self, node: yaml.Node, field: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(node, field, f"expected a list, got {node_kind(node)}")
        return list(node.value)

    def strings(self, node: yaml.Node, field: str, *, single_ok: bool = True) -> tuple[str, ...]:
        if single_ok and isinstance(node, yaml.ScalarNode):
            return (self.string(node, field, allow_numbers=True),)
        return tuple(
            self.string(item, f"{field}[{i}]", allow_numbers=True)
            for i, item in enumerate(self.sequence(node, field))
        )

    def choice(self, node: yaml.Node, field: str, options: Iterable[str]) -> str:
        value = self.string(node, field)
        options = tuple(options)
        if value not in options:
            raise self.error(node, field, f"{value!r} is not one of: {', '.join(options)}")
        return value


def node_kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return f"the value {node.value!r}"


def node_line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


class _TooDeep(Exception):
    """Nesting passed MAX_DEPTH while composing; carries the line where it did."""

    def __init__(self, mark: yaml.Mark | None) -> None:
        super().__init__()
        self.line = int(mark.line) + 1 if mark is not None else None


class _DepthComposer(yaml.composer.Composer):
    """Composes as PyYAML does, but stops at the first node nested deeper than MAX_DEPTH, so a
    file of 10,000 ``[`` is refused after 65 of them instead of exhausting the stack first.
    Depth counts as the later walk does: the root is 1, every key and value one more."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self._depth >= MAX_DEPTH:
            raise _TooDeep(self.peek_event().start_mark)  # type: ignore[attr-defined]
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _ShallowScanner(yaml.scanner.Scanner):
    """The pure-Python scanner looks up to 1,024 characters ahead for a flow collection that may
    be a key, costing time quadratic in the ``[`` it holds: refuse the 65th level as it is read."""

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        if self.flow_level >= MAX_DEPTH:
            raise _TooDeep(self.get_mark())  # type: ignore[attr-defined]
        super().fetch_flow_collection_start(TokenClass)


class _PythonLoader(
    yaml.reader.Reader,
    _ShallowScanner,
    yaml.parser.Parser,
    _DepthComposer,
    yaml.constructor.SafeConstructor,
    yaml.resolver.Resolver,
):
    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        _ShallowScanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        _DepthComposer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)


_Loader: type[yaml.SafeLoader]
if getattr(yaml, "__with_libyaml__", False):
    from yaml.cyaml import CParser  # type: ignore[attr-defined]

    class _CLoader(
        _DepthComposer, CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver
    ):
        """libyaml's parser (the corpus reads about 10 times faster) under the bounded composer;
        libyaml itself refuses flow nesting past 1,000 before giving any event, and then the
        pure-Python loader reports the error."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _DepthComposer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

    _Loader = _CLoader  # type: ignore[assignment]
else:
    _Loader = _PythonLoader  # type: ignore[assignment]


def compose(text: str, path: str) -> tuple[yaml.Node, NodeReader]:
    """Parse YAML text into its root node and a reader for it.

    Raises:
        ScenarioError: invalid YAML, nesting deeper than MAX_DEPTH, or an empty document, with
            file and line.
    """
    try:
        return _compose(text, path)
    except _TooDeep as exc:
        raise ScenarioError(
            f"nesting deeper than {MAX_DEPTH} levels", path=path, line=exc.line
        ) from None


def _compose(text: str, path: str) -> tuple[yaml.Node, NodeReader]:
    try:
        loader: yaml.SafeLoader = _Loader(text)
        root = loader.get_single_node()
    except yaml.MarkedYAMLError:
        # Report with the pure-Python parser: the same messages wherever libyaml is missing.
        loader = _PythonLoader(text)  # type: ignore[assignment]
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            raise ScenarioError(
                f"invalid YAML: {', '.join(t for t in (exc.context, exc.problem) if t) or exc}",
                path=path,
                line=mark.line + 1 if mark else None,
            ) from None
    if root is None:
        raise ScenarioError("the file is empty", path=path, line=1)
    _check_nodes(root, path)
    return root, NodeReader(path, loader)


def read_yaml_text(path: str | Path, what: str) -> str:
    """The file's text as UTF-8; a bad byte or a control character is an error with its line.

    Raises:
        ScenarioError: unreadable, not UTF-8, or holding control characters.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"cannot read the {what}: {exc}", path=str(p)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            f"not UTF-8: byte 0x{data[exc.start]:02x} cannot be decoded",
            path=str(p),
            line=data.count(b"\n", 0, exc.start) + 1,
        ) from None
    bad = _CONTROL.search(text)
    if bad:
        raise ScenarioError(
            f"control character {bad.group()!r} in the file; write it as an escape in a quoted string",
            path=str(p),
            line=text.count("\n", 0, bad.start()) + 1,
        )
    return text


def _check_nodes(root: yaml.Node, path: str) -> None:
    """Bound alias expansion (billion laughs) and depth; refuse tags and lone surrogates.

    Walks iteratively so a deep file cannot exhaust the stack; an alias is walked once per use.
    """
    visits = 0
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        line = int(node.start_mark.line) + 1
        visits += 1
        if visits > MAX_NODES:
            raise ScenarioError(
                f"more than {MAX_NODES} values once aliases are expanded (an alias bomb?)",
                path=path,
                line=line,
            )
        if depth > MAX_DEPTH:
            raise ScenarioError(f"nesting deeper than {MAX_DEPTH} levels", path=path, line=line)
        if node.tag not in _PLAIN_TAGS:
            raise ScenarioError(
                f"YAML tag {node.tag!r} is not supported; write a plain string, number, "
                "true/false, list or mapping",
                path=path,
                line=line,
            )
        if isinstance(node, yaml.ScalarNode):
            plain = not node.style  # libyaml gives "" for a plain scalar, PyYAML None
            resolved = _RESOLVER.resolve(yaml.ScalarNode, node.value, (plain, not plain))  # type: ignore[no-untyped-call]
            if node.tag != resolved and not node.tag.endswith(":merge"):
                raise ScenarioError(
                    f"explicit YAML tag {node.tag!r} on {node.value!r} is not supported",
                    path=path,
                    line=line,
                )
            try:
                # U+DC80..U+DCFF are raw bytes (surrogateescape), which the writer emits on purpose.
                node.value.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:
                raise ScenarioError(
                    f"lone surrogate in {node.value!r}; not a valid character", path=path, line=line
                ) from None
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, depth + 1) for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.append((key, depth + 1))
                stack.append((value, depth + 1))
