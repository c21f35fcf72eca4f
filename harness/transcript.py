"""The transcript: every byte both ways, with a timestamp and the TLS state, and its rendering."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field

__all__ = ["Direction", "Entry", "Transcript", "display_lines", "escape_controls"]


class Direction(enum.StrEnum):
    SERVER = "S"  # server → client
    CLIENT = "C"  # client → server
    NOTE = "*"  # something the harness did or saw: TLS started, connection closed, a failure


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    at: float  # seconds since the transcript started
    direction: Direction
    data: bytes
    tls: bool


@dataclass(slots=True)
class Transcript:
    """An append-only record of one session."""

    entries: list[Entry] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def add(self, direction: Direction, data: bytes, *, tls: bool) -> None:
        self.entries.append(
            Entry(at=time.monotonic() - self.started, direction=direction, data=data, tls=tls)
        )

    def note(self, text: str, *, tls: bool = False) -> None:
        self.add(Direction.NOTE, text.encode(), tls=tls)

    def sent_by(self, direction: Direction) -> bytes:
        """Every byte one side sent, joined."""
        return b"".join(e.data for e in self.entries if e.direction is direction)

    def raw_lines(self) -> list[tuple[float, Direction, bool, bytes]]:
        """The transcript as lines of bytes, each with its own line end (or none, for a last
        line cut off): consecutive writes of one side are joined and split after each LF, so a
        reply split into pieces still reads as one line. Notes are one line each."""
        out: list[tuple[float, Direction, bool, bytes]] = []
        pending = b""
        pending_meta: tuple[float, Direction, bool] | None = None

        def flush(final: bool) -> None:
            nonlocal pending, pending_meta
            if pending_meta is None:
                return
            at, direction, tls = pending_meta
            *complete, rest = pending.split(b"\n")
            out.extend((at, direction, tls, line + b"\n") for line in complete)
            if final and rest:
                out.append((at, direction, tls, rest))
                rest = b""
            pending = rest
            if not rest:
                pending_meta = None

        for e in self.entries:
            if e.direction is Direction.NOTE:
                flush(final=True)
                out.append((e.at, e.direction, e.tls, e.data))
                continue
            if pending_meta is not None and pending_meta[1] is not e.direction:
                flush(final=True)
            if pending_meta is None:
                pending_meta = (e.at, e.direction, e.tls)
            pending += e.data
            flush(final=False)
        flush(final=True)
        return out

    def lines(self) -> list[tuple[float, Direction, bool, str]]:
        """``raw_lines`` for display: CRLF dropped, a bare LF or a missing line end marked, any
        other control or 8-bit byte escaped."""
        out = []
        for at, direction, tls, line in self.raw_lines():
            if direction is Direction.NOTE:
                text = line.decode()
            elif line.endswith(b"\n"):
                text = _show(line)
            else:
                text = _show(line) + "  [no line end]"
            out.append((at, direction, tls, text))
        return out

    def render(self, *, indent: str = "  ") -> str:
        rows = []
        for at, direction, tls, text in self.lines():
            lock = "tls " if tls and direction is not Direction.NOTE else "    "
            rows.append(f"{indent}{at:7.3f} {lock}{direction.value}: {text}")
        return "\n".join(rows)


def display_lines(data: bytes) -> list[str]:
    """One write's bytes as lines safe for a terminal: split at line ends, and every control
    byte (ESC, BEL, a bare CR...) escaped, so a client cannot drive the reader's terminal."""
    text = data.rstrip(b"\r\n").replace(b"\r\n", b"\n")
    return [_escape(line) for line in text.split(b"\n")]


def _show(line: bytes) -> str:
    """A line for display: CRLF dropped, any other control or 8-bit byte escaped."""
    if line.endswith(b"\r\n"):
        line = line[:-2]
    elif line.endswith(b"\n"):
        return _escape(line[:-1]) + "  [bare LF]"
    return _escape(line)


def _escape(data: bytes) -> str:
    return escape_controls(data.decode("utf-8", "backslashreplace"))


def escape_controls(text: str, *, keep: str = "") -> str:
    """Every control character but those in ``keep`` written as its escape (ESC as ``\\x1b``),
    so text a client sent or printed cannot drive a terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in keep else repr(c)[1:-1] for c in text)
