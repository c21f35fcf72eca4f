"""A receive buffer that hands out CRLF-terminated lines and enforces a line-length limit."""

from __future__ import annotations

from harness.errors import RemoteProtocolError

__all__ = ["DEFAULT_MAX_LINE", "LineBuffer"]

# RFC 5321 §4.5.3.1.5 limits reply lines to 512 octets, but §4.5.3.1 asks receivers to be
# liberal; this limit only keeps memory bounded against a hostile peer.
DEFAULT_MAX_LINE = 65536


class LineBuffer:
    """Collects bytes and splits them into lines.

    Args:
        max_line: the longest line accepted, without its line end.
        allow_bare_lf: accept ``\\n`` alone as a line end (RFC 5321 §2.3.8 forbids it; some
            parsers must tolerate it).
    """

    def __init__(self, *, max_line: int = DEFAULT_MAX_LINE, allow_bare_lf: bool = False) -> None:
        self._buf = bytearray()
        self.max_line = max_line
        self.allow_bare_lf = allow_bare_lf
        self.eof = False

    def feed(self, data: bytes) -> None:
        """Add received bytes; ``b""`` means the peer closed the connection."""
        if data:
            self._buf += data
        else:
            self.eof = True

    def __len__(self) -> int:
        return len(self._buf)

    def peek(self) -> bytes:
        """Everything buffered and not yet consumed."""
        return bytes(self._buf)

    def startswith(self, prefix: bytes) -> bool:
        """True if the buffered bytes begin with ``prefix`` (copies only that many bytes)."""
        return self._buf[: len(prefix)] == prefix

    def take(self, n: int) -> bytes:
        """Remove and return the first ``n`` buffered bytes."""
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def find(self, needle: bytes, start: int = 0) -> int:
        return self._buf.find(needle, start)

    def pop_line(self) -> bytes | None:
        """Remove and return the next complete line without its line end, or None if incomplete.

        Raises:
            RemoteProtocolError: a bare CR or LF, or a line longer than ``max_line``.
        """
        lf = self._buf.find(b"\n")
        if lf < 0:
            if len(self._buf) > self.max_line + 1:
                raise RemoteProtocolError(
                    f"line longer than {self.max_line} octets without a line end"
                )
            return None
        if lf == 0 or self._buf[lf - 1] != 0x0D:
            if not self.allow_bare_lf:
                raise RemoteProtocolError(
                    "bare LF: lines must end in CRLF (RFC 5321 §2.3.8): "
                    + repr(bytes(self._buf[: lf + 1])[-60:])
                )
            line = bytes(self._buf[:lf])
        else:
            line = bytes(self._buf[: lf - 1])
        del self._buf[: lf + 1]
        if len(line) > self.max_line:
            raise RemoteProtocolError(
                f"line of {len(line)} octets exceeds the limit of {self.max_line}"
            )
        if b"\r" in line:
            raise RemoteProtocolError("bare CR inside a line (RFC 5321 §2.3.8): " + repr(line[:60]))
        return line
