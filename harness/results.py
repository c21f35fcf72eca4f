"""Verdicts and results: what one scenario run against one client came to. Data only."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from harness.outcome import ClientOutcome
from harness.scenario.model import Scenario
from harness.transcript import Transcript

__all__ = ["Failure", "Result", "Verdict"]


class Verdict(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"  # the client broke the script or reported the wrong outcome
    ERROR = "error"  # the harness or the adapter broke; says nothing about the client
    SKIP = "skip"  # the scenario needs something the client cannot do
    XFAIL = "xfail"  # failed, and listed as a known deviation of this client
    XPASS = "xpass"  # listed as a known deviation, but passed: the list is out of date


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
    """

    kind: str
    message: str
    line: int = 0
    expected: str = ""
    actual: str = ""
    hint: str = ""


@dataclass(slots=True, kw_only=True)
class Result:
    """One scenario run against one client.

    Attributes:
        verdict: pass, fail, error or skip.
        message: one line saying why (empty for a pass).
        failure: the step-level failure, when the client left the script.
        outcome: what the client reported (None if it reported nothing).
        transcript: every byte both ways, with times and TLS state.
        duration: seconds, wall clock.
        notes: things worth knowing that did not decide the verdict.
    """

    scenario: Scenario
    client: str
    verdict: Verdict
    message: str = ""
    failure: Failure | None = None
    outcome: ClientOutcome | None = None
    transcript: Transcript = field(default_factory=Transcript)
    duration: float = 0.0
    notes: list[str] = field(default_factory=list)

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
            "failing_step": self.failing_step
            if self.verdict in (Verdict.FAIL, Verdict.XFAIL)
            else None,
            "message": self.message,
            "expected": self.failure.expected if self.failure else None,
            "actual": self.failure.actual if self.failure else None,
            "outcome": self.outcome.describe() if self.outcome else None,
            "duration": round(self.duration, 4),
            "notes": self.notes,
        }
