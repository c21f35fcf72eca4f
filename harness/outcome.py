"""What a client reports at the end of its task: the data every adapter returns."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.scenario.model import ClientTask, Outcome

__all__ = ["ClientOutcome"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientOutcome:
    """The client's own account of what happened.

    Attributes:
        outcome: delivered, failed or completed.
        code: the reply code that made the client fail, if it knows it.
        message: the reply text or error, for people.
        recipients: the RCPT reply code per recipient, where known.
        replies: the reply code of each non-send operation, in order, where known.
        unsupported: not empty when the client said it cannot do this task (the reason): the
            run is then skipped, not failed.
    """

    outcome: Outcome
    code: int | None = None
    message: str = ""
    recipients: dict[str, int] = field(default_factory=dict)
    replies: tuple[int, ...] | None = None
    unsupported: str = ""

    @classmethod
    def success(
        cls, task: ClientTask, recipients: dict[str, int], replies: list[int]
    ) -> ClientOutcome:
        """The outcome of a session that ran every operation: delivered if it sent, else completed."""
        sends = task.sends
        return cls(
            outcome=Outcome.DELIVERED if sends else Outcome.COMPLETED,
            recipients=recipients,
            replies=tuple(replies) if replies or not sends else None,
        )

    @classmethod
    def failure(
        cls, code: int | None, message: str, recipients: dict[str, int], replies: list[int]
    ) -> ClientOutcome:
        """A failed session, with what was learned before it failed."""
        return cls(
            outcome=Outcome.FAILED,
            code=code,
            message=message,
            recipients=recipients,
            replies=tuple(replies) or None,
        )

    def describe(self) -> str:
        text = self.outcome.value
        if self.code is not None:
            text += f" {self.code}"
        if self.message:
            text += f": {self.message}"
        return text
