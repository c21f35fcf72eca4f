"""Progress on long runs: on a terminal one line redrawn in place (done/total, the counts that
matter, time left); elsewhere (CI logs, pipes) a plain line every tenth of the way, so logs stay
short. Written to stderr, so stdout stays the report."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from harness.results import Result, Verdict

__all__ = ["Progress", "is_quiet_worthy"]


class Progress:
    def __init__(
        self, total: int, label: str, *, stream: TextIO | None = None, plain: bool = True
    ) -> None:
        """``plain``: whether to print the plain lines when not on a terminal (a run that prints
        a line per result needs none)."""
        self.total = max(total, 1)
        self.plain = plain
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.live = self.stream.isatty()
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()
        self._next_plain = 0.1

    def advance(self, result: Result) -> None:
        self.step(failed=result.verdict.fails_run())

    def step(self, *, failed: bool = False) -> None:
        """One more unit of work done (a scenario, a fuzz example)."""
        self.done += 1
        if failed:
            self.failed += 1
        if self.live:
            self.stream.write("\r" + self.line() + "\x1b[K")
            self.stream.flush()
        elif self.plain and (self.done / self.total >= self._next_plain or self.done == self.total):
            self._next_plain += 0.1
            print(self.line(), file=self.stream, flush=True)

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        left = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        width = 24
        filled = width * self.done // self.total
        bar = "#" * filled + "." * (width - filled)
        return (
            f"{self.label} [{bar}] {self.done}/{self.total}  {self.failed} failing  "
            f"{elapsed:.0f}s, about {left:.0f}s left"
        )

    def clear(self) -> None:
        """Remove the live line before other output (a result line) is printed."""
        if self.live:
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.clear()


def is_quiet_worthy(result: Result) -> bool:
    """What ``-q`` still prints: results that fail the run or fall short of a pass."""
    return result.verdict not in (Verdict.PASS, Verdict.SKIP, Verdict.XFAIL)
