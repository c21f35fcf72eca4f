"""DATA transparency: line-end normalisation, dot-stuffing and un-stuffing (RFC 5321 §4.5.2)."""

from __future__ import annotations

import re

__all__ = [
    "END_OF_DATA",
    "bare_line_end_offsets",
    "dot_stuff",
    "dot_unstuff",
    "encode_data",
    "to_crlf",
]

END_OF_DATA = b".\r\n"
_LONE_CR_OR_LF = re.compile(rb"\r\n|\r|\n")
_BARE = re.compile(rb"\r(?!\n)|(?<!\r)\n")


def to_crlf(text: bytes) -> bytes:
    """Turn every lone CR or LF into CRLF (RFC 5321 §2.3.8: only CRLF ends a line)."""
    return _LONE_CR_OR_LF.sub(b"\r\n", text)


def bare_line_end_offsets(wire: bytes) -> list[int]:
    """Offsets of every CR not followed by LF and every LF not preceded by CR."""
    return [m.start() for m in _BARE.finditer(wire)]


def dot_stuff(message: bytes) -> bytes:
    """The wire form of a message's content, without the final ``.\\r\\n``.

    Line ends become CRLF, a final CRLF is added when missing (§4.1.1.4: the CRLF before the dot
    ends the last line), and every line that starts with ``.`` gets one more.
    """
    if not message:
        return b""
    text = to_crlf(message)
    if not text.endswith(b"\r\n"):
        text += b"\r\n"
    lines = text.split(b"\r\n")[:-1]
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)


def encode_data(message: bytes) -> bytes:
    """Everything a client sends after the 354: the stuffed content and ``.\\r\\n``."""
    return dot_stuff(message) + END_OF_DATA


def dot_unstuff(wire: bytes) -> bytes:
    """Remove one leading dot from every line that has one (the receiver's side of §4.5.2)."""
    if not wire:
        return b""
    lines = wire.split(b"\r\n")
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)
