"""Text reports: one line per result, a transcript diff per failure, the closing line."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from harness.results import Result, Verdict
from harness.transcript import Direction

__all__ = ["format_failure", "format_result_line", "format_summary"]

_LABEL = {
    Verdict.PASS: "PASS ",
    Verdict.FAIL: "FAIL ",
    Verdict.ERROR: "ERROR",
    Verdict.SKIP: "SKIP ",
    Verdict.XFAIL: "XFAIL",
    Verdict.XPASS: "XPASS",
}


def format_result_line(result: Result) -> str:
    text = (
        f"{_LABEL[result.verdict]} {result.scenario.id}  [{result.client}]  {result.duration:.2f}s"
    )
    if result.verdict is Verdict.XFAIL and result.notes:
        text += f"  - {result.notes[-1]}"
    elif result.verdict is not Verdict.PASS and result.message:
        text += f"  - {result.message}"
    return text


def format_failure(result: Result) -> str:
    """The scenario, the failing step, expected vs actual, and the whole transcript with the
    point of failure marked: the ``-`` line is what the script expected, the ``+`` line what
    the client sent."""
    s = result.scenario
    out = [
        f"=== {s.id} [{result.client}]: {result.verdict.value}",
        f"    {s.title}",
        f"    file: {s.location}",
    ]
    if s.refs:
        out.append(f"    refs: {', '.join(s.refs)}")
    out.append(f"    why: {result.message}")
    failure = result.failure
    if failure is not None:
        out.append(f"    step: {result.failing_step}")
        if failure.hint:
            out.append(f"    detail: {failure.hint}")
    if result.outcome is not None:
        out.append(f"    client reported: {result.outcome.describe()}")
        wanted = " or ".join(o.value for o in s.expect.outcomes)
        codes = f" with code {' or '.join(map(str, s.expect.codes))}" if s.expect.codes else ""
        out.append(f"    expected outcome: {wanted}{codes}")
    out += [f"    note: {n}" for n in result.notes]
    out.append("    transcript (time, TLS, S=server C=client *=harness):")
    lines = result.transcript.lines()
    mark = _failing_line(lines) if failure is not None else None
    for i, (at, direction, tls, text) in enumerate(lines):
        lock = "tls " if tls and direction is not Direction.NOTE else "    "
        if i == mark and failure is not None:
            out.append(
                f"    - {'':7} {'':4}C: {failure.expected}    <- expected (line {failure.line})"
            )
            out.append(f"    + {at:7.3f} {lock}{direction.value}: {text}")
        else:
            out.append(f"      {at:7.3f} {lock}{direction.value}: {text}")
    if failure is not None and mark is None:
        out.append(f"    - {'':12}C: {failure.expected}    <- expected (line {failure.line})")
        out.append(f"    + {'':12}   {failure.actual}")
    return "\n".join(out)


def _failing_line(lines: list[tuple[float, Direction, bool, str]]) -> int | None:
    """The last client line before the harness noted the failure."""
    for i in range(len(lines) - 1, -1, -1):
        if lines[i][1] is Direction.NOTE and lines[i][3].startswith("FAILED"):
            for j in range(i - 1, -1, -1):
                if lines[j][1] is Direction.CLIENT:
                    return j
                if lines[j][1] is Direction.SERVER and j < i - 2:
                    return None
            return None
    return None


def format_summary(results: Iterable[Result]) -> str:
    """``N passed, N failed, N skipped`` (then xfailed, xpassed and errors, if any)."""
    counts = Counter(r.verdict for r in results)
    text = f"{counts[Verdict.PASS]} passed, {counts[Verdict.FAIL]} failed, {counts[Verdict.SKIP]} skipped"
    for verdict, word in (
        (Verdict.XFAIL, "xfailed"),
        (Verdict.XPASS, "xpassed"),
        (Verdict.ERROR, "errors"),
    ):
        if counts[verdict]:
            text += f", {counts[verdict]} {word}"
    return text
