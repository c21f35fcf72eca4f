"""Client commands: the Command event, MAIL/RCPT path arguments, and the server-side parser.

The CommandParser is what a server reads with. It has two modes: lines (commands and SASL
responses) and, after the server has sent 354, the DATA content up to ``CRLF.CRLF``. Only that
exact sequence ends DATA (RFC 5321 §4.1.1.4); ``LF.LF`` and friends do not (§2.3.8, the SMTP
smuggling variants).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.errors import LocalProtocolError, MessageTooLarge, RemoteProtocolError
from harness.protocol.buffer import DEFAULT_MAX_LINE, LineBuffer
from harness.protocol.events import (
    NEED_DATA,
    ChunkReceived,
    ConnectionClosed,
    DataReceived,
    NeedData,
)

__all__ = ["DEFAULT_MAX_DATA", "Command", "CommandParser", "PathArgument", "parse_path_argument"]

DEFAULT_MAX_DATA = 32 * 1024 * 1024


def _decode(raw: bytes) -> str:
    # Commands are ASCII unless SMTPUTF8 is in use; keep undecodable bytes round-trippable.
    return raw.decode("utf-8", "surrogateescape")


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """One command line as the client sent it.

    Attributes:
        line: the raw line without its CRLF.
        verb: the first word, upper-cased (verbs are case-insensitive, RFC 5321 §2.4).
        argument: everything after the first space, exactly as sent (decoded, surrogateescape).
    """

    line: bytes
    verb: str = field(init=False)
    argument: str = field(init=False)

    def __post_init__(self) -> None:
        text = _decode(self.line)
        verb, _, argument = text.partition(" ")
        object.__setattr__(self, "verb", verb.upper())
        object.__setattr__(self, "argument", argument)

    @classmethod
    def build(cls, verb: str, argument: str = "") -> Command:
        """Make a command to send, e.g. ``Command.build("MAIL", "FROM:<a@b>")``.

        Raises:
            LocalProtocolError: CR or LF in the verb or argument (command injection).
        """
        text = f"{verb} {argument}" if argument else verb
        if "\r" in text or "\n" in text:
            raise LocalProtocolError(f"CR or LF inside a command: {text!r}")
        return cls(line=text.encode("utf-8", "surrogateescape"))

    @property
    def text(self) -> str:
        return _decode(self.line)

    def to_bytes(self) -> bytes:
        return self.line + b"\r\n"


_BDAT = re.compile(r"(\d{1,10})(?: (LAST))?", re.IGNORECASE)
_PARAM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*(=[\x21-\x3c\x3e-\x7e\x80-\U0010ffff]+)?\Z")


@dataclass(frozen=True, slots=True, kw_only=True)
class PathArgument:
    """The argument of MAIL or RCPT: ``FROM:<path> params`` or ``TO:<path> params``.

    Attributes:
        keyword: ``FROM`` or ``TO`` (upper-cased).
        address: the address between the angle brackets, ``""`` for the null path ``<>``.
        params: ESMTP parameters, names upper-cased, value None for a bare keyword.
    """

    keyword: str
    address: str
    params: dict[str, str | None]


def parse_path_argument(argument: str, keyword: str) -> PathArgument:
    """Parse ``FROM:<a@b> SIZE=10`` (``keyword="FROM"``) strictly, per RFC 5321 §4.1.2.

    Raises:
        RemoteProtocolError: wrong keyword, a space around the colon, a missing bracket, or a
            malformed parameter. The message says which.
    """
    head = keyword + ":"
    if argument[: len(head)].upper() != head:
        raise RemoteProtocolError(f"expected {head}<path>, got {argument!r}")
    rest = argument[len(head) :]
    if rest.startswith(" "):
        raise RemoteProtocolError(
            f"space after {head} is not allowed (RFC 5321 §4.1.2): {argument!r}"
        )
    if not rest.startswith("<"):
        raise RemoteProtocolError(
            f"the path must be in angle brackets (RFC 5321 §4.1.2): {argument!r}"
        )
    end = rest.find(">")
    if end < 0:
        raise RemoteProtocolError(f"missing '>' in path: {argument!r}")
    address = rest[1:end]
    if "<" in address or " " in address:
        raise RemoteProtocolError(f"malformed path: {argument!r}")
    tail = rest[end + 1 :]
    params: dict[str, str | None] = {}
    if tail:
        if not tail.startswith(" "):
            raise RemoteProtocolError(
                f"parameters must follow the path after a space: {argument!r}"
            )
        for item in tail[1:].split(" "):
            if not _PARAM.match(item):
                raise RemoteProtocolError(f"malformed ESMTP parameter {item!r} in {argument!r}")
            name, eq, value = item.partition("=")
            params[name.upper()] = value if eq else None
    return PathArgument(keyword=keyword, address=address, params=params)


class CommandParser:
    """Turns bytes from a client into Command and DataReceived events (the server's side).

    Call :meth:`start_data` right after sending a 354 reply; the parser then collects the DATA
    content and returns to line mode by itself once it has handed out the DataReceived event.

    Args:
        max_line: longest command line accepted (memory bound; RFC 5321 allows 512).
        max_data: largest DATA content accepted.
        allow_bare_lf: accept LF alone as a line end instead of raising.
    """

    def __init__(
        self,
        *,
        max_line: int = DEFAULT_MAX_LINE,
        max_data: int = DEFAULT_MAX_DATA,
        allow_bare_lf: bool = False,
    ) -> None:
        self._buffer = LineBuffer(max_line=max_line, allow_bare_lf=allow_bare_lf)
        self._max_data = max_data
        self._in_data = False
        self._scan_from = 0
        self._chunk: tuple[int, bool] | None = None  # (octets still to read, LAST) after a BDAT
        self._bdat_octets = 0  # announced by this message's BDAT commands so far
        self._error: RemoteProtocolError | None = None

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes from the client; ``b""`` means EOF."""
        self._buffer.feed(data)

    def start_data(self) -> None:
        """Switch to DATA mode (call after sending 354)."""
        self._in_data = True
        self._scan_from = 0

    @property
    def in_data(self) -> bool:
        return self._in_data

    @property
    def in_body(self) -> bool:
        """Inside DATA content or a BDAT chunk."""
        return self._in_data or self._chunk is not None

    @property
    def eof(self) -> bool:
        """The client has closed its side."""
        return self._buffer.eof

    @property
    def pending(self) -> bytes:
        """Bytes received and not yet handed out as an event."""
        return self._buffer.peek()

    def next_event(self) -> Command | DataReceived | ChunkReceived | ConnectionClosed | NeedData:
        """Return the next event, or NEED_DATA.

        Raises:
            RemoteProtocolError: malformed line, over-long line or data, or EOF inside a line
                or inside DATA.
        """
        if self._error is not None:
            raise self._error
        try:
            if self._chunk is not None:
                return self._chunk_event()
            return self._data_event() if self._in_data else self._line_event()
        except RemoteProtocolError as exc:
            self._error = exc
            raise

    def _line_event(self) -> Command | ConnectionClosed | NeedData:
        line = self._buffer.pop_line()
        if line is not None:
            command = Command(line=line)
            if command.verb == "BDAT":
                # RFC 3030 §2: "BDAT" SP chunk-size [SP "LAST"]; the chunk's octets follow at once.
                m = _BDAT.fullmatch(command.argument)
                if m is not None:
                    size, last = int(m.group(1)), m.group(2) is not None
                    self._count_bdat(size, last)
                    self._chunk = (size, last)
            elif command.verb == "RSET":
                self._bdat_octets = 0  # RFC 3030 §4: RSET abandons the chunks sent so far
            return command
        if self._buffer.eof:
            if len(self._buffer):
                raise RemoteProtocolError(
                    "connection closed in the middle of a command: " + repr(self.pending[:80])
                )
            return ConnectionClosed()
        return NEED_DATA

    def _count_bdat(self, size: int, last: bool) -> None:
        """Add one chunk to the message's total; refuse it, before reading a byte of it, when the
        message would pass the limit (the chunks of one message count together, not each alone)."""
        total = self._bdat_octets + size
        if total > self._max_data:
            raise MessageTooLarge(
                f"BDAT chunks add up to {total} octets, past the limit of {self._max_data}"
                if self._bdat_octets
                else f"BDAT chunk of {size} octets exceeds the limit of {self._max_data}"
            )
        self._bdat_octets = 0 if last else total

    def _chunk_event(self) -> ChunkReceived | NeedData:
        assert self._chunk is not None
        size, last = self._chunk
        if len(self._buffer) >= size:
            self._chunk = None
            return ChunkReceived(data=self._buffer.take(size), last=last)
        if self._buffer.eof:
            raise RemoteProtocolError(
                f"connection closed inside a BDAT chunk after {len(self._buffer)} of {size} octets"
            )
        return NEED_DATA

    def _data_event(self) -> DataReceived | NeedData:
        if self._buffer.startswith(b".\r\n"):  # empty content: the terminator comes first
            self._buffer.take(3)
            self._in_data = False
            return DataReceived(wire=b"")
        end = self._buffer.find(b"\r\n.\r\n", self._scan_from)
        if end >= 0:
            if end + 2 > self._max_data:
                raise MessageTooLarge(
                    f"DATA content larger than the limit of {self._max_data} octets"
                )
            wire = self._buffer.take(end + 2)
            self._buffer.take(3)
            self._in_data = False
            return DataReceived(wire=wire)
        # The buffer may end with the ".\r" of the terminator, which is not content.
        if len(self._buffer) - 2 > self._max_data:
            raise MessageTooLarge(f"DATA content larger than the limit of {self._max_data} octets")
        if self._buffer.eof:
            raise RemoteProtocolError(
                f"connection closed during DATA after {len(self._buffer)} octets, before CRLF.CRLF"
            )
        self._scan_from = max(0, len(self._buffer) - 4)
        return NEED_DATA
