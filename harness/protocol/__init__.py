"""The sans-IO SMTP core: bytes in, events out; events in, bytes out.

No sockets, asyncio, ssl or yaml here. The scripted server, the reference client, the matchers and
the fuzz strategies all share this one implementation, so what the server sends and what the client
parses cannot drift apart.
"""

from harness.protocol.auth import (
    cram_md5_digest,
    cram_md5_response,
    decode_base64,
    decode_plain,
    decode_xoauth2,
    login_response,
    plain_response,
    xoauth2_response,
)
from harness.protocol.commands import Command, CommandParser, PathArgument, parse_path_argument
from harness.protocol.data import dot_stuff, dot_unstuff, encode_data, to_crlf
from harness.protocol.ehlo import Extensions
from harness.protocol.events import (
    NEED_DATA,
    ChunkReceived,
    ConnectionClosed,
    DataReceived,
    NeedData,
)
from harness.protocol.replies import Reply, ReplyParser

__all__ = [
    "NEED_DATA",
    "ChunkReceived",
    "Command",
    "CommandParser",
    "ConnectionClosed",
    "DataReceived",
    "Extensions",
    "NeedData",
    "PathArgument",
    "Reply",
    "ReplyParser",
    "cram_md5_digest",
    "cram_md5_response",
    "decode_base64",
    "decode_plain",
    "decode_xoauth2",
    "dot_stuff",
    "dot_unstuff",
    "encode_data",
    "login_response",
    "parse_path_argument",
    "plain_response",
    "to_crlf",
    "xoauth2_response",
]
