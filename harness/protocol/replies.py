"""Server replies: the Reply event, its serialisation, and the incremental ReplyParser.

RFC 5321 §4.2::

    Reply-line = *( Reply-code "-" [ textstring ] CRLF )
                    Reply-code [ SP textstring ] CRLF
    Reply-code = %x32-35 %x30-35 %x30-39

Clients act on the code, never the text (§4.2), so text is kept as bytes: real servers send 8-bit
text (QQ's GBK 535) and a bare ``250`` with no text at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.errors import LocalProtocolError, RemoteProtocolError
from harness.protocol.buffer import DEFAULT_MAX_LINE, LineBuffer
from harness.protocol.events import NEED_DATA, ConnectionClosed, NeedData

__all__ = ["DEFAULT_MAX_REPLY_LINES", "Reply", "ReplyParser"]

DEFAULT_MAX_REPLY_LINES = 1000
_ENHANCED = re.compile(rb"^([245])\.(\d{1,3})\.(\d{1,3})(?= |$)")


def _valid_code(code: bytes) -> bool:
    return (
        len(code) == 3
        and 0x32 <= code[0] <= 0x35
        and 0x30 <= code[1] <= 0x35
        and 0x30 <= code[2] <= 0x39
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """One complete server reply.

    Attributes:
        code: the three-digit reply code.
        lines: the text of each line, after the code and its separator, as bytes. A reply has at
            least one line; a bare ``250`` has the single line ``b""``.
    """

    code: int
    lines: tuple[bytes, ...] = (b"",)

    def __post_init__(self) -> None:
        if not _valid_code(str(self.code).encode()):
            raise LocalProtocolError(f"invalid reply code {self.code!r} (RFC 5321 §4.2)")
        if not self.lines:
            raise LocalProtocolError("a reply needs at least one line")
        for line in self.lines:
            if b"\r" in line or b"\n" in line or b"\x00" in line:
                raise LocalProtocolError(f"reply text may not contain CR, LF or NUL: {line!r}")

    @classmethod
    def of(cls, code: int, *texts: str) -> Reply:
        """Build a reply from text lines (UTF-8), e.g. ``Reply.of(250, "mx", "SIZE")``."""
        return cls(code=code, lines=tuple(t.encode() for t in texts) or (b"",))

    @property
    def text(self) -> str:
        """All lines joined with newlines, decoded leniently (undecodable bytes escaped)."""
        return "\n".join(line.decode("utf-8", "backslashreplace") for line in self.lines)

    @property
    def enhanced(self) -> str | None:
        """The enhanced status code (RFC 3463) at the start of the first line, if any."""
        m = _ENHANCED.match(self.lines[0])
        return m.group(0).decode() if m else None

    @property
    def klass(self) -> int:
        """The first digit: 2 success, 3 intermediate, 4 temporary, 5 permanent failure."""
        return self.code // 100

    def to_bytes(self) -> bytes:
        """Serialise: ``XYZ-text`` for every line but the last, ``XYZ text`` (or ``XYZ``) last."""
        code = str(self.code).encode()
        out = bytearray()
        last = len(self.lines) - 1
        for i, text in enumerate(self.lines):
            if i < last:
                out += code + b"-" + text + b"\r\n"
            elif text:
                out += code + b" " + text + b"\r\n"
            else:
                out += code + b"\r\n"
        return bytes(out)


class ReplyParser:
    """Turns received bytes into Reply events, for any segmentation of the stream.

    Feed bytes with :meth:`receive_data` (``b""`` = the server closed) and call
    :meth:`next_event` until it returns ``NEED_DATA``. After a RemoteProtocolError the parser stays
    broken: every later call raises the same error.

    Args:
        max_line: longest reply line accepted (memory bound, not the RFC limit).
        max_lines: most lines in one reply.
        allow_bare_lf: accept LF alone as a line end instead of raising.
    """

    def __init__(
        self,
        *,
        max_line: int = DEFAULT_MAX_LINE,
        max_lines: int = DEFAULT_MAX_REPLY_LINES,
        allow_bare_lf: bool = False,
    ) -> None:
        self._buffer = LineBuffer(max_line=max_line, allow_bare_lf=allow_bare_lf)
        self._max_lines = max_lines
        self._code: bytes | None = None
        self._lines: list[bytes] = []
        self._error: RemoteProtocolError | None = None

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes from the server; ``b""`` means EOF."""
        self._buffer.feed(data)

    @property
    def pending(self) -> bytes:
        """Bytes received but not yet part of a complete reply (e.g. injected after a 220)."""
        head = (
            b"".join(self._code + b"-" + line + b"\r\n" for line in self._lines)
            if self._code
            else b""
        )
        return head + self._buffer.peek()

    @property
    def mid_reply(self) -> bool:
        return self._code is not None

    def next_event(self) -> Reply | ConnectionClosed | NeedData:
        """Return the next complete reply, ConnectionClosed at a clean EOF, or NEED_DATA.

        Raises:
            RemoteProtocolError: the bytes are not a valid reply, or EOF cut a reply short.
        """
        if self._error is not None:
            raise self._error
        try:
            return self._next_event()
        except RemoteProtocolError as exc:
            self._error = exc
            raise

    def _next_event(self) -> Reply | ConnectionClosed | NeedData:
        while True:
            line = self._buffer.pop_line()
            if line is None:
                if self._buffer.eof:
                    if self._code is not None or len(self._buffer):
                        raise RemoteProtocolError(
                            "connection closed in the middle of a reply: "
                            + repr(self.pending[-80:])
                        )
                    return ConnectionClosed()
                return NEED_DATA
            reply = self._add_line(line)
            if reply is not None:
                return reply

    def _add_line(self, line: bytes) -> Reply | None:
        code = line[:3]
        if not _valid_code(code):
            raise RemoteProtocolError(f"reply line does not start with a reply code: {line[:60]!r}")
        sep = line[3:4]
        if sep not in (b"", b" ", b"-"):
            raise RemoteProtocolError(
                f"expected SP, '-' or CRLF after the reply code, got {sep!r} in {line[:60]!r}"
            )
        if self._code is not None and code != self._code:
            raise RemoteProtocolError(
                f"reply code changed inside a multi-line reply: {self._code.decode()} then "
                f"{code.decode()} (RFC 5321 §4.2.1)"
            )
        text = line[4:]
        if b"\x00" in text:
            raise RemoteProtocolError(f"NUL byte in reply text: {line[:60]!r}")
        self._code = code
        self._lines.append(text)
        if sep == b"-":
            if len(self._lines) >= self._max_lines:
                raise RemoteProtocolError(f"reply longer than {self._max_lines} lines")
            return None
        reply = Reply(code=int(code), lines=tuple(self._lines))
        self._code = None
        self._lines = []
        return reply
