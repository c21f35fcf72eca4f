"""One timer for all the waits of a connection, moved forward by progress.

A connection waits for one thing at a time (a reply, a read, a scripted pause), and most waits
end early. Making a timer per wait costs a heap entry and a cancel each time; instead the one
``Deadline`` is only remade when a wait must end *earlier* than the armed timer. A timer that
fires before the current due time re-arms itself for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["Deadline"]


class Deadline:
    """Calls ``expired`` once the time given to :meth:`set` has passed, unless cleared first."""

    def __init__(self, loop: asyncio.AbstractEventLoop, expired: Callable[[], None]) -> None:
        self.loop = loop
        self.expired = expired
        self.due = 0.0
        self.active = False
        self._timer: asyncio.TimerHandle | None = None

    def set(self, when: float) -> None:
        """Expire at ``when`` (loop time), replacing any earlier ``set``."""
        self.due, self.active = when, True
        timer = self._timer
        if timer is None or timer.when() > when:
            if timer is not None:
                timer.cancel()
            self._timer = self.loop.call_at(when, self._fire)

    def clear(self) -> None:
        """Nothing is awaited now; the timer, if armed, fires once more and does nothing."""
        self.active = False

    def cancel(self) -> None:
        """The connection is gone: drop the timer itself."""
        self.active = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        if not self.active:
            return
        if self.loop.time() < self.due:  # the wait moved on since the timer was set
            self._timer = self.loop.call_at(self.due, self._fire)
            return
        self.active = False
        self.expired()
