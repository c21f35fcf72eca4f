"""Per-server bounds kept apart from the read/write loop: how many connections one server
serves at once, and what the rest are told."""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_CONNECTIONS", "ConnectionGate"]

# A scenario needs one connection, a retrying client a few, tests/integration/test_concurrency
# 200 at once; a hostile client must not take the server's memory and fds with thousands.
DEFAULT_MAX_CONNECTIONS = 256


class ConnectionGate:
    """Counts the connections being served and refuses those past ``limit``.

    Args:
        limit: connections served at once; None for no limit.
    """

    def __init__(self, limit: int | None = DEFAULT_MAX_CONNECTIONS) -> None:
        self.limit = limit
        self.active = 0
        self.refused = 0

    @property
    def refusal(self) -> bytes:
        """The reply to a connection past the limit (RFC 5321 §3.1: 421 instead of the
        greeting, then close)."""
        return (
            f"421 4.7.0 smtp-harness: too many connections ({self.limit} at once), "
            "try again later\r\n"
        ).encode()

    def admit(self) -> bool:
        """Take a place for a new connection; False (and counted) if none is left."""
        if self.limit is not None and self.active >= self.limit:
            self.refused += 1
            return False
        self.active += 1
        return True

    def leave(self) -> None:
        self.active -= 1
