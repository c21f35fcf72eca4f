"""What a test gets told about the sessions a server saw: findings, and the errors that carry them.

A server that finds the client broke its script or a wire rule records a :class:`Finding`. The
pytest plugin asks every server a test used for its findings when the test ends, so the
diagnosis reaches the test whatever the application raised first; ``assert_followed()`` asks
the same question explicitly. Both servers (the scripted one and the profiles) answer through
the :class:`Judged` protocol below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from harness.judge import judge_server_side
from harness.results import Verdict

if TYPE_CHECKING:
    from fake_servers.scripted import Session
    from harness.scenario.model import Scenario

__all__ = [
    "Finding",
    "Judged",
    "NoClientError",
    "ServerFindingError",
    "format_findings",
    "scripted_finding",
    "short_path",
]

_RULE_ID = re.compile(r"\bR-[A-Z0-9]+-\d+\b")
_RFC_SECTION = re.compile(r"\bRFC \d+ §\d+(?:\.\d+)*")


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One thing a server found wrong with what the client sent.

    Attributes:
        session: 1-based number of the session (connection) it happened in.
        step: where: the scenario's ``file:line``, or the command or stage for a profile.
        expected: what a correct client sends there.
        got: what this client sent.
        rule: the rule broken (``R-...`` ids from the rule list, or the RFC section).
        message: one line saying what went wrong.
        detail: more about it (the matcher's explanation, the RFC words), if any.
        grade: ``fail`` (a MUST broken: the test fails) or ``non-strict`` (a SHOULD not
            followed: shown in the report, the test still passes).
    """

    session: int
    step: str
    expected: str
    got: str
    rule: str
    message: str
    detail: str = ""
    grade: str = "fail"

    @property
    def fails(self) -> bool:
        """A MUST broken, or a script the harness could not play (nothing was tested)."""
        return self.grade in ("fail", "error")

    def render(self) -> str:
        if self.grade == "error":
            grade = " [error: the harness, not the client]"
        else:
            grade = "" if self.fails else f" [{self.grade}: does not fail the test]"
        lines = [
            f"session {self.session}: {self.message}{grade}",
            f"  step:     {self.step}",
            f"  expected: {self.expected}",
            f"  got:      {self.got}",
            f"  rule:     {self.rule}",
        ]
        if self.detail:
            lines.append(f"  detail:   {self.detail}")
        return "\n".join(lines)


class ServerFindingError(AssertionError):
    """The client did not do what the server required; the message is the whole diagnosis."""

    def __init__(self, text: str, findings: list[Finding]) -> None:
        super().__init__(text)
        self.findings = findings


class NoClientError(AssertionError):
    """No client connected, or its session did not end, in the time given."""


class Judged(Protocol):
    """What the pytest plugin needs from a server a test used."""

    findings_fail_the_test: bool

    def settle(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for sessions still running to end."""

    def findings(self) -> list[Finding]:
        """Every finding of the sessions that have ended."""

    def report_sections(self) -> list[tuple[str, str]]:
        """``(title, text)`` sections for the test report: a transcript per session."""

    def describe(self) -> str:
        """One line naming the server, e.g. ``scenario auth.login on 127.0.0.1:40123``."""

    def redact(self, text: str) -> str:
        """``text`` without the credentials its sessions carried (unless asked to show them)."""


def format_findings(server: Judged, findings: list[Finding]) -> str:
    """The text of a failed check: which server, then each finding (the transcripts go in the
    report's sections, or follow here when there is no report)."""
    head = f"smtp-harness: {server.describe()} found {len(findings)} problem(s)"
    return server.redact("\n".join([head, *(f.render() for f in findings)]))


def short_path(path: str) -> str:
    """A scenario's path for reports, never an absolute local path (``harness.corpus``)."""
    from harness.corpus import report_path

    return report_path(path)


def scripted_finding(scenario: Scenario, session: Session, number: int) -> Finding | None:
    """The finding of one ended session of a scripted server, or None if it followed the script.

    Graded as the runner grades the same session (``harness.judge.judge_server_side``): a check
    of SHOULD level gives a ``non-strict`` finding and a legal choice such as HELO never fails
    the test. A session the server itself ended (the test was over and the server stopped) is
    not judged: the client may still have been connected, legitimately.
    """
    failure = session.failure
    if failure is None and session.stopped and not session.complete:
        return None
    result = judge_server_side(scenario, session.evidence())
    if result.verdict is Verdict.PASS:
        return None
    grade = str(result.verdict)
    refs = ", ".join(scenario.refs) or "(the scenario names none)"
    path = short_path(scenario.path)
    if failure is not None:
        # The hint names the rule when the server's check knows it; else the scenario's refs do.
        named = _RULE_ID.findall(failure.hint) or _RFC_SECTION.findall(failure.hint)
        expected = failure.expected or "(see the transcript)"
        if failure.kind == "tls":
            expected = "a TLS handshake the client completes (trusting the test CA, ca_path)"
        message = failure.message if grade != "not-exercised" else result.message
        return Finding(
            session=number,
            step=f"{path}:{failure.line or scenario.line}",
            expected=expected,
            got=failure.actual or "(nothing)",
            rule=", ".join(dict.fromkeys(named)) if named else refs,
            message=f"{message} (scenario {scenario.id})",
            detail=failure.hint,
            grade=grade,
        )
    if session.complete:  # followed the script, by a legal choice the RFC grades
        expected, got = (
            ("the server's greeting before the first command", "commands before the greeting")
            if session.talked_first
            else ("EHLO as the first command after STARTTLS", "HELO")
            if session.helo_after_tls
            else ("EHLO", "HELO (RFC 5321 §3.2 allows it)")
        )
        return Finding(
            session=number,
            step=f"{path}:{scenario.line}",
            expected=expected,
            got=got,
            rule=result.rule or refs,
            message=f"{result.message} (scenario {scenario.id})",
            grade=grade,
        )
    if session.harness_error:
        return Finding(
            session=number,
            step=f"{path}:{scenario.line}",
            expected="a script the server can play",
            got="(the client was not judged)",
            rule=refs,
            message=f"{result.message} (scenario {scenario.id})",
            grade=grade,
        )
    pending = " | ".join(session.pending) or "(the rest of the script)"
    return Finding(
        session=number,
        step=f"{path}:{scenario.line}",
        expected=pending,
        got="the session ended",
        rule=refs,
        message=f"the session ended before the script did (scenario {scenario.id})",
        grade=grade,
    )
