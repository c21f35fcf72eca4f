"""The import rules of the module map (STYLE.md §14), checked on the source with ``ast``.

* ``harness/protocol/*`` is the sans-IO core: from ``harness`` it imports only ``harness.errors``
  and ``harness.protocol.*``; never ``asyncio``, ``socket``, ``ssl``, ``yaml`` or ``fake_servers``.
* ``harness/scenario/model.py`` is frozen dataclasses: no ``yaml``.
* ``fake_servers`` imports *submodules* of ``harness``, never ``from harness import ...``.
* ``harness/__init__.py`` does not import ``harness.runner`` or ``fake_servers``, not even
  through the modules it imports (that would make the two packages' import graph cyclic).

Every import counts, including those inside functions, except for the ``__init__`` rule, which is
about eager imports: a function may import the runner lazily.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import fake_servers
import harness

HARNESS = Path(harness.__file__).resolve().parent
FAKE_SERVERS = Path(fake_servers.__file__).resolve().parent
ROOTS = {"harness": HARNESS, "fake_servers": FAKE_SERVERS}
FORBIDDEN_IN_PROTOCOL = {"asyncio", "socket", "ssl", "yaml", "fake_servers"}


@dataclass(frozen=True)
class Import:
    module: str  # the fully qualified module imported (X.Y for `from X import Y` when Y is one)
    line: int
    eager: bool  # at module level (not inside a function)
    from_package: str | None = None  # `from P import name`: P


def module_name(path: Path) -> str:
    for root_name, root in ROOTS.items():
        if path.is_relative_to(root):
            parts = [root_name, *path.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            return ".".join(parts)
    raise ValueError(path)


def is_module(name: str) -> bool:
    head, *rest = name.split(".")
    if head not in ROOTS:
        return False
    base = ROOTS[head].joinpath(*rest)
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports(source: str, name: str, *, is_package: bool = False) -> Iterator[Import]:
    """Every import in ``source`` (the module ``name``), with relative imports resolved."""
    package = name if is_package else name.rpartition(".")[0]

    def walk(node: ast.AST, eager: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield Import(alias.name, child.lineno, eager)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                if base == "__future__":
                    continue
                for alias in child.names:
                    sub = f"{base}.{alias.name}"
                    target = sub if is_module(sub) else base
                    yield Import(target, child.lineno, eager, from_package=base)
            else:
                inner = eager and not isinstance(
                    child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
                )
                yield from walk(child, inner)

    yield from walk(ast.parse(source), True)


def file_imports(path: Path) -> list[Import]:
    return list(
        imports(path.read_text("utf-8"), module_name(path), is_package=path.name == "__init__.py")
    )


def sources(root: Path) -> list[Path]:
    return sorted(root.rglob("*.py"))


def ids(paths: list[Path]) -> list[str]:
    return [module_name(p) for p in paths]


def top(module: str) -> str:
    return module.split(".")[0]


# --- the checker itself can fail ---------------------------------------------------------------


def test_checker_sees_every_import_form() -> None:
    source = textwrap.dedent(
        """\
        from __future__ import annotations
        import asyncio, os.path
        from harness import errors
        from harness import Scenario
        from . import buffer
        from .events import Reply
        from ..scenario import model
        if True:
            import yaml

        def lazy():
            import ssl
        """
    )
    found = [(i.module, i.line, i.eager) for i in imports(source, "harness.protocol.replies")]
    assert found == [
        ("asyncio", 2, True),
        ("os.path", 2, True),
        ("harness.errors", 3, True),
        ("harness", 4, True),
        ("harness.protocol.buffer", 5, True),
        ("harness.protocol.events", 6, True),
        ("harness.scenario.model", 7, True),
        ("yaml", 9, True),
        ("ssl", 12, False),
    ]


def test_package_relative_imports_resolve_inside_the_package() -> None:
    found = [
        i.module for i in imports("from .scripted import X\n", "fake_servers", is_package=True)
    ]
    assert found == ["fake_servers.scripted"]


def test_there_is_something_to_check() -> None:
    assert len(PROTOCOL) >= 5
    assert len(FAKE_SERVER_FILES) >= 3


# --- the rules -------------------------------------------------------------------------------

PROTOCOL = sources(HARNESS / "protocol")


def protocol_violation(imp: Import) -> str | None:
    if top(imp.module) in FORBIDDEN_IN_PROTOCOL:
        return f"{imp.module} (no IO, no YAML, no servers in the sans-IO core)"
    if top(imp.module) == "harness" and not (
        imp.module == "harness.errors"
        or imp.module == "harness.protocol"
        or imp.module.startswith("harness.protocol.")
    ):
        return f"{imp.module} (only harness.errors and harness.protocol.*)"
    return None


def test_protocol_rule_catches_violations() -> None:
    bad = "import socket\nfrom harness.scenario.model import Scenario\nfrom harness import errors\n"
    ok = "import re\nfrom harness.errors import RemoteProtocolError\nfrom . import events\n"
    name = "harness.protocol.replies"
    assert [protocol_violation(i) is not None for i in imports(bad, name)] == [True, True, False]
    assert [protocol_violation(i) for i in imports(ok, name)] == [None, None, None]


@pytest.mark.parametrize("path", PROTOCOL, ids=ids(PROTOCOL))
def test_protocol_is_sans_io(path: Path) -> None:
    bad = [
        f"line {i.line}: {why}"
        for i in file_imports(path)
        if (why := protocol_violation(i)) is not None
    ]
    assert bad == []


def test_scenario_model_does_not_import_yaml() -> None:
    path = HARNESS / "scenario" / "model.py"
    assert [i.line for i in file_imports(path) if top(i.module) == "yaml"] == []


FAKE_SERVER_FILES = sources(FAKE_SERVERS)


@pytest.mark.parametrize("path", FAKE_SERVER_FILES, ids=ids(FAKE_SERVER_FILES))
def test_fake_servers_import_harness_submodules_only(path: Path) -> None:
    bad = [
        f"line {i.line}: from harness import ... (import the submodule that defines it)"
        for i in file_imports(path)
        if i.from_package == "harness" or (i.module == "harness" and i.from_package is None)
    ]
    assert bad == []


def eager_closure(start: str) -> dict[str, str]:
    """Every module of ours that importing ``start`` loads, each with the module that pulled it
    in. Importing ``a.b.c`` loads the packages ``a`` and ``a.b`` first."""
    seen: dict[str, str] = {start: ""}
    todo = [start]
    while todo:
        name = todo.pop()
        head, *rest = name.split(".")
        base = ROOTS[head].joinpath(*rest)
        path = base / "__init__.py" if (base / "__init__.py").is_file() else base.with_suffix(".py")
        for imp in imports(path.read_text("utf-8"), name, is_package=path.name == "__init__.py"):
            if not imp.eager or top(imp.module) not in ROOTS:
                continue
            parts = imp.module.split(".")
            for n in range(1, len(parts) + 1):
                target = ".".join(parts[:n])
                if target not in seen and is_module(target):
                    seen[target] = name
                    todo.append(target)
    return seen


def test_closure_follows_the_chain() -> None:
    closure = eager_closure("harness.runner")
    assert "fake_servers.scripted" in closure
    assert "harness.errors" in closure


def test_harness_init_does_not_pull_in_the_runner_or_servers() -> None:
    closure = eager_closure("harness")
    bad = {m: by for m, by in closure.items() if m == "harness.runner" or top(m) == "fake_servers"}
    assert bad == {}, "importing harness would load these (module: imported by)"


def test_importing_harness_loads_no_servers() -> None:
    """The same rule, checked at run time in a fresh interpreter."""
    code = (
        "import sys, harness; "
        "print(sorted(m for m in sys.modules "
        "if m == 'harness.runner' or m.split('.')[0] == 'fake_servers'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
