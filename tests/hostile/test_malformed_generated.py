"""Malformed files made by Hypothesis from the real ones (issue 12 item 3): every scenario,
client config and deviation file of the repository, broken at the text level (a YAML tag, an
alias, a control byte, a lone surrogate, an odd number, deep nesting, a cut, 8-bit bytes, a
duplicated or deleted line). The property: its loader either loads it, or raises the project's
own error naming the file and a line, within a second. Never another exception."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.adapters.command import CommandConfig
from harness.deviations import load_deviations
from harness.errors import ScenarioError
from harness.file_kinds import check_file
from harness.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SOURCES: dict[str, tuple[Callable[[Path], Any], list[Path]]] = {
    "scenario": (load_scenario, sorted((ROOT / "scenarios").rglob("*.yaml"))[::9]),
    "client": (CommandConfig.from_file, sorted((ROOT / "docs" / "clients").glob("*.yaml"))),
    "deviations": (
        lambda p: load_deviations(p, client="smtplib"),
        sorted((ROOT / "harness" / "adapters" / "deviations").glob("*.yaml")),
    ),
}
FILES = [(kind, path) for kind, (_, paths) in SOURCES.items() for path in paths]

# Text put somewhere in a file: each is a class of input that once gave a traceback or a hang.
SNIPPETS = [
    b"!!int abc",
    b"!foo ",
    b"!!timestamp 2020-01-01",
    b"!!python/name:os.system ",
    b"&a ",
    b"*a",
    b"*nothere",
    b"<<: *a\n",
    b"\x00",
    b"\x1b[31m",
    b"\x07",
    b'"\\ud800"',
    b".nan",
    b"-.inf",
    b"1e400",
    b"99999999999999999999999",
    b"[" * 300,
    b"{" * 300,
    b"- " * 200,
    b"\t",
    b": :",
    b"'",
    b'"',
    b"\xff\xfe",
    b"\xe9",
    b"%YAML 1.1\n",
    b"---\n",
    b"...\n",
]


@st.composite
def broken_files(draw: st.DrawFn) -> tuple[str, Path, bytes]:
    kind, path = draw(st.sampled_from(FILES))
    data = path.read_bytes()
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        how = draw(st.sampled_from(["insert", "cut", "byte", "line-dup", "line-drop"]))
        if how == "insert":
            data = data[:at] + draw(st.sampled_from(SNIPPETS)) + data[at:]
        elif how == "cut":
            data = data[:at]
        elif how == "byte":
            data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
        else:
            lines = data.splitlines(keepends=True) or [b""]
            i = draw(st.integers(0, len(lines) - 1))
            lines[i : i + 1] = [lines[i], lines[i]] if how == "line-dup" else []
            data = b"".join(lines)
    return kind, path, data


@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=broken_files())
def test_a_broken_file_loads_or_is_a_file_line_error_within_a_second(
    tmp_path: Path, case: tuple[str, Path, bytes]
) -> None:
    kind, original, data = case
    path = tmp_path / original.name
    path.write_bytes(data)
    # Its own loader, and ``smtp-harness validate``'s, which first tells the kind of file.
    for load in (SOURCES[kind][0], check_file):
        start = time.monotonic()
        try:
            load(path)
        except ScenarioError as exc:
            assert exc.path == str(path), f"{exc} (from {original.name})"
            assert exc.line is not None, f"no line number: {exc} (from {original.name})"
        took = time.monotonic() - start
        assert took < 1.0, f"{original.name} took {took:.2f} s"
