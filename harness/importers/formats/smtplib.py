"""Python smtplib's debug output: ``set_debuglevel(1)`` prints ``send: '...'`` and
``reply: b'...'`` lines (Python reprs), level 2 puts a time stamp before each. The message goes
out as one ``send: b'...'``. Nothing is printed for a TLS handshake: the one after STARTTLS's
220 is implied, and implicit TLS (SMTP_SSL) must be given (``--tls implicit``). The greeting is there only if debugging started before connect()."""

from __future__ import annotations

import ast
import re

from harness.importers.events import Command, Content, Event, Reply
from harness.importers.formats._lines import unreadable

__all__ = ["MARKER", "read"]

MARKER = re.compile(r"^(?:\d\d:\d\d:\d\d\.\d+ )?(?:send|reply|connect): ")
_LINE = re.compile(r"^(?:\d\d:\d\d:\d\d\.\d+ )?(send|reply|connect|data): (.*)$")
_IGNORED = re.compile(r"^(?:\d\d:\d\d:\d\d\.\d+ )?(?:reply: retcode|data: \(|connect: )")


def read(text: str, path: str) -> list[Event]:
    events: list[Event] = []
    reply: list[bytes] = []
    reply_line = 0
    for number, line in enumerate(text.splitlines(), 1):
        if _IGNORED.match(line) or not line.strip():
            continue
        m = _LINE.match(line)
        if m is None:
            raise unreadable(path, number, line, "smtplib debug output")
        kind, value = m.groups()
        try:
            data = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise unreadable(path, number, line, "smtplib debug output") from None
        if kind == "reply" and isinstance(data, bytes):
            if not reply:
                reply_line = number
            reply.append(data if data.endswith(b"\r\n") else data.rstrip(b"\r\n") + b"\r\n")
            if len(data) < 4 or data[3:4] != b"-":
                events.append(Reply(data=b"".join(reply), line=reply_line))
                reply = []
        elif kind == "send" and isinstance(data, str):
            for command in data.split("\r\n")[:-1] or [data]:
                events.append(Command(text=command, line=number))
        elif kind == "send" and isinstance(data, bytes):
            if not data.endswith(b"\r\n.\r\n") and data != b".\r\n":
                raise unreadable(path, number, line, "the message (it must end with CRLF.CRLF)")
            body = data[: -len(b".\r\n")]
            unstuffed = b"\r\n".join(
                piece[1:] if piece.startswith(b".") else piece for piece in body.split(b"\r\n")
            )
            events.append(Content(message=unstuffed, line=number))
        else:
            raise unreadable(path, number, line, "smtplib debug output")
    if reply:
        events.append(Reply(data=b"".join(reply), line=reply_line))
    return events
