"""The events of one SMTP session, as a transcript or the recording proxy saw them."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Command", "Content", "Event", "Reply", "ServerClosed", "TlsStarted"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """One line the client sent (without its CRLF): a command or an AUTH answer."""

    text: str
    line: int = 0  # where it is in the transcript (0: recorded live)


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """One whole reply, exactly as the server wrote it.

    ``writes`` keeps how it arrived when that is known (the proxy): each piece with the seconds
    since the previous event, so split writes and pauses can be replayed.
    """

    data: bytes
    writes: tuple[tuple[bytes, float], ...] = ()
    line: int = 0

    @property
    def code(self) -> int | None:
        head = self.data[:3]
        return int(head) if head.isdigit() else None

    @property
    def lines(self) -> list[str]:
        return self.data.decode("utf-8", "replace").split("\r\n")[:-1]


@dataclass(frozen=True, slots=True, kw_only=True)
class Content:
    """The message after DATA's 354, un-stuffed, or None when the transcript does not show it."""

    message: bytes | None
    line: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsStarted:
    """The TLS handshake happened here (at the start: implicit TLS)."""

    line: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerClosed:
    """The server closed the connection (not after the client's QUIT)."""

    line: int = 0


Event = Command | Reply | Content | TlsStarted | ServerClosed
