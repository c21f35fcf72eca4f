"""Verdicts and results: what one scenario run against one client came to. Data only."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from harness.outcome import ClientOutcome
from harness.scenario.model import Level, Scenario
from harness.transcript import Transcript

__all__ = ["LEVEL_VERDICT", "VERDICT_ORDER", "Failure", "Result", "Verdict", "count_verdicts"]


class Verdict(enum.StrEnum):
    """The grade of one run, as conformance suites grade (Autobahn: Pass, Non-Strict, Info ...).

    Only ``fail``, ``error`` and ``xpass`` fail a run; ``--strict`` makes ``non-strict`` fail too.
    """

    PASS = "pass"
    NON_STRICT = "non-strict"  # a SHOULD not followed
    INFO = "info"  # the client did something the RFC leaves open; worth knowing, never a failure
    NOT_EXERCISED = "not-exercised"  # the client legally avoided what the scenario is about
    SKIP = "skip"  # the scenario needs something the client cannot do
    FAIL = "fail"  # a MUST broken: the client left the script or reported the wrong outcome
    ERROR = "error"  # the harness or the adapter broke; says nothing about the client
    XFAIL = "xfail"  # failed, and listed as a known deviation of this client
    XPASS = "xpass"  # listed as a known deviation, but passed: the list is out of date

    def fails_run(self, *, strict: bool = False) -> bool:
        """Whether this verdict makes the whole run fail (exit status 1)."""
        if self in (Verdict.FAIL, Verdict.ERROR, Verdict.XPASS):
            return True
        return strict and self is Verdict.NON_STRICT


# The order grades are listed and counted in, everywhere (text summary, JSON, matrix).
VERDICT_ORDER = tuple(Verdict)

# The grade a check of each level gets when the client does not do what it asks.
LEVEL_VERDICT = {
    Level.MUST: Verdict.FAIL,
    Level.SHOULD: Verdict.NON_STRICT,
    Level.INFO: Verdict.INFO,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    """The first way the client left the script.

    Attributes:
        kind: ``unexpected``, ``closed``, ``timeout``, ``protocol``, ``tls``, ``auth`` or
            ``hung`` (the client waited on a silent server past its own timeout).
        line: the scenario line of the step that was expected (0 if none).
        expected: what the script wanted next, for people.
        actual: what the client did.
        hint: the rule or the detail that explains it.
        rule: the rule id (R-...) the client broke, when the check knows it.
        level: how strongly the broken check is required, where the check or its step says;
            None: the scenario's level.
        wire: a wire rule that holds whatever path the client takes (CRLF line ends, command
            syntax, advertised extensions only, dot-stuffing): never excused by a legal HELO.
    """

    kind: str
    message: str
    line: int = 0
    expected: str = ""
    actual: str = ""
    hint: str = ""
    rule: str = ""
    level: Level | None = None
    wire: bool = False


@dataclass(slots=True, kw_only=True)
class Result:
    """One scenario run against one client.

    Attributes:
        verdict: the grade (see Verdict).
        message: one line saying why (empty for a pass).
        level: the level of the check that decided a non-pass grade (None for pass and skip).
        rule: the rule behind the verdict (R-... or an RFC section), where known.
        failure: the step-level failure, when the client left the script.
        outcome: what the client reported (None if it reported nothing).
        transcript: every byte both ways, with times and TLS state.
        duration: seconds, wall clock.
        notes: things worth knowing that did not decide the verdict.
        cut_by_fault: the session-ending fault that cut the script short ("" if none): what
            came after it was never played, so it was neither passed nor failed.
    """

    scenario: Scenario
    client: str
    verdict: Verdict
    message: str = ""
    level: Level | None = None
    rule: str = ""
    failure: Failure | None = None
    outcome: ClientOutcome | None = None
    transcript: Transcript = field(default_factory=Transcript)
    duration: float = 0.0
    notes: list[str] = field(default_factory=list)
    cut_by_fault: str = ""

    @property
    def failing_step(self) -> str:
        """``file:line`` of the step that failed, or of the scenario."""
        if self.failure is not None and self.failure.line:
            return f"{self.scenario.path}:{self.failure.line}"
        return self.scenario.location

    def to_json(self) -> dict[str, object]:
        return {
            "scenario": self.scenario.id,
            "path": self.scenario.path,
            "client": self.client,
            "verdict": self.verdict.value,
            "level": self.level.value if self.level else None,
            "rule": self.rule or None,
            "failing_step": self.failing_step
            if self.verdict not in (Verdict.PASS, Verdict.SKIP, Verdict.ERROR, Verdict.XPASS)
            else None,
            "message": self.message,
            "expected": self.failure.expected if self.failure else None,
            "actual": self.failure.actual if self.failure else None,
            "outcome": self.outcome.describe() if self.outcome else None,
            "duration": round(self.duration, 4),
            "notes": self.notes,
        }


def count_verdicts(results: list[Result]) -> dict[Verdict, int]:
    """How many results have each verdict, every verdict present (in VERDICT_ORDER)."""
    counts = dict.fromkeys(VERDICT_ORDER, 0)
    for result in results:
        counts[result.verdict] += 1
    return counts
