"""Text reports: one line per result, a transcript diff per failure, the closing line."""

from __future__ import annotations

from collections.abc import Iterable

from harness.results import Result, Verdict, count_verdicts
from harness.transcript import Direction, escape_controls

__all__ = [
    "format_failure",
    "format_grade",
    "format_result_line",
    "format_summary",
    "shows_detail",
    "terminal_safe",
]

_WIDTH = 5  # "PASS ", "FAIL ", "XFAIL": the longer grades stick out, as they should

# What each grade means, for the detail block.
_MEANING = {
    Verdict.FAIL: "a MUST broken",
    Verdict.NON_STRICT: "a SHOULD not followed",
    Verdict.INFO: "behaviour the RFC leaves open",
    Verdict.NOT_EXERCISED: "the client legally avoided what the scenario is about",
    Verdict.XFAIL: "a known deviation of this client",
    Verdict.XPASS: "listed as a known deviation, but did not fail",
    Verdict.ERROR: "the harness or the adapter broke",
}


_SOFT = (Verdict.NON_STRICT, Verdict.INFO, Verdict.NOT_EXERCISED)


def shows_detail(result: Result, *, strict: bool = False) -> bool:
    """Whether a report prints the whole detail block (transcript) for this result."""
    return result.verdict.fails_run(strict=strict) or result.verdict is Verdict.NON_STRICT


def format_grade(result: Result) -> str:
    """``non-strict (a SHOULD not followed; R-EHLO-1)``: the grade, what it means, the rule."""
    parts = [p for p in (_MEANING.get(result.verdict, ""), result.rule) if p]
    return result.verdict.value + (f" ({'; '.join(parts)})" if parts else "")


def format_result_line(result: Result) -> str:
    label = result.verdict.value.upper().ljust(_WIDTH)
    text = f"{label} {result.scenario.id}  [{result.client}]  {result.duration:.2f}s"
    if result.verdict is Verdict.XFAIL and result.notes:
        text += f"  - {result.notes[-1]}"
    elif result.verdict is not Verdict.PASS and result.message:
        text += f"  - {result.message}"
        if result.rule and result.verdict in _SOFT:
            text += f" [{result.rule}]"  # the failures show their rule in the detail block
    return terminal_safe(text)


def format_failure(result: Result) -> str:
    """The scenario, the failing step, expected vs actual, and the whole transcript with the
    point of failure marked: the ``-`` line is what the script expected, the ``+`` line what
    the client sent."""
    s = result.scenario
    out = [
        f"=== {s.id} [{result.client}]: {format_grade(result)}",
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
    mark = failing_line_index(lines) if failure is not None else None
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
    return terminal_safe("\n".join(out))


def terminal_safe(text: str) -> str:
    """Control characters escaped (line breaks and tabs kept): a client's ESC or BEL, in what it
    sent or printed, must not reach the reader's terminal as a control sequence."""
    return escape_controls(text, keep="\n\t")


def failing_line_index(lines: list[tuple[float, Direction, bool, str]]) -> int | None:
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
    """``N passed, N failed, N skipped``, then every other grade that occurred."""
    counts = count_verdicts(list(results))
    text = f"{counts[Verdict.PASS]} passed, {counts[Verdict.FAIL]} failed, {counts[Verdict.SKIP]} skipped"
    for verdict, word in (
        (Verdict.NON_STRICT, "non-strict"),
        (Verdict.INFO, "info"),
        (Verdict.NOT_EXERCISED, "not exercised"),
        (Verdict.XFAIL, "xfailed"),
        (Verdict.XPASS, "xpassed"),
        (Verdict.ERROR, "errors"),
    ):
        if counts[verdict]:
            text += f", {counts[verdict]} {word}"
    return text
