"""Events the parsers hand out besides replies and commands, and the NEED_DATA sentinel."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["NEED_DATA", "ChunkReceived", "ConnectionClosed", "DataReceived", "NeedData"]


class NeedData(enum.Enum):
    """The parser has no complete event yet: feed it more bytes (or ``b""`` for EOF)."""

    NEED_DATA = "NEED_DATA"


NEED_DATA = NeedData.NEED_DATA


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionClosed:
    """The peer closed the connection cleanly, between two events."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DataReceived:
    """The content of one DATA phase as it was on the wire.

    Attributes:
        wire: every byte between the 354 reply and the terminating ``.\\r\\n``, still dot-stuffed.
            It ends with the CRLF that belongs to the last text line (RFC 5321 §4.1.1.4), or is
            empty for an empty message.
    """

    wire: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkReceived:
    """The octets of one BDAT chunk (RFC 3030 §2), exactly as sent: no dot-stuffing applies.

    Attributes:
        data: the chunk.
        last: the BDAT command said LAST.
    """

    data: bytes
    last: bool
