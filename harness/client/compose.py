"""Regenerating a message the way high-level mail libraries and mail user agents do.

Such a client does not send the task's bytes as given: it adds a Date and Message-ID where they
are missing, adds MIME-Version and a Content-Type, and re-encodes a body with long lines or 8-bit
bytes as quoted-printable. A mail user agent, which composes its own message from the subject
and the body, also replaces the Date and Message-ID it was given (``replace_ids``). All of that
is legal (RFC 5322 §3.6 lets the originator set Date and Message-ID; RFC 2045 §6.7 defines
quoted-printable), so a scenario must not fail it.

The header fields the task gave (other than the replaced ones) are kept byte for byte; only the
body is re-encoded. A MIME entity that is not a single text part (multipart, application/...) is
left as it is apart from Date, Message-ID and MIME-Version: re-encoding its parts is not what
this variant is about.
"""

from __future__ import annotations

import quopri
import re
from datetime import UTC, datetime
from email.utils import format_datetime, make_msgid

__all__ = ["QP_LINE", "regenerate_message"]

QP_LINE = 76  # RFC 2045 §6.7 (5): encoded lines are at most 76 characters
_HEADER = re.compile(rb"[!-9;-~]+:")  # RFC 5322 §2.2: field name, then a colon
_STAMPED = (b"date", b"message-id", b"mime-version")
_BODY_FIELDS = {b"content-type", b"content-transfer-encoding"}
_CHARSET = re.compile(rb'charset\s*=\s*"?([^";\s]+)', re.IGNORECASE)


def regenerate_message(
    message: bytes, *, domain: str, now: datetime | None = None, replace_ids: bool = False
) -> bytes:
    """The message as such a client would send it (lines end in LF; the caller stuffs).

    Args:
        message: the task's message (LF or CRLF line ends).
        domain: the right-hand side of a new Message-ID.
        now: the Date to stamp (default: the current time, in UTC).
        replace_ids: replace the Date and Message-ID the message has (a composing client);
            False adds them only where missing.
    """
    lines = message.replace(b"\r\n", b"\n").split(b"\n")
    headers, body_lines = _split_header(lines)
    fields = _fields(headers)
    present = {_name(f) for f in fields}
    stamps = {
        b"date": b"Date: " + format_datetime(now or datetime.now(UTC)).encode(),
        b"message-id": b"Message-ID: " + make_msgid(domain=domain).encode(),
        b"mime-version": b"MIME-Version: 1.0",
    }
    replaced = {b"date", b"message-id"} if replace_ids else set()
    kept = [f for f in fields if _name(f) not in replaced]
    new = [stamps[n] for n in _STAMPED if n in replaced or n not in present]
    body = b"\n".join(body_lines)
    content_type = next((f for f in kept if _name(f) == b"content-type"), None)
    if content_type is None or b"text/" in content_type.lower():
        kept = [f for f in kept if _name(f) not in _BODY_FIELDS]
        charset = _charset(content_type, body)
        needs_qp = any(b >= 0x80 for b in body) or any(len(ln) > QP_LINE for ln in body_lines)
        new.append(b"Content-Type: text/plain; charset=" + charset)
        if needs_qp:
            new.append(b"Content-Transfer-Encoding: quoted-printable")
            body = quopri.encodestring(body)
        else:
            new.append(b"Content-Transfer-Encoding: 7bit")
    return b"\n".join([*kept, *new]) + b"\n\n" + body


def _split_header(lines: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """Header lines and body lines. A first line that is no field means there is no header;
    a line that is neither a field nor a continuation ends the header (as if a blank line)."""
    header: list[bytes] = []
    for i, line in enumerate(lines):
        if line == b"":
            return header, lines[i + 1 :]
        if _HEADER.match(line) or (header and line[:1] in (b" ", b"\t")):
            header.append(line)
        else:
            return header, lines[i:]
    return header, []


def _fields(header: list[bytes]) -> list[bytes]:
    """Header lines joined into whole fields, folding kept (CRLF-less, LF between lines)."""
    fields: list[bytes] = []
    for line in header:
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\n" + line
        else:
            fields.append(line)
    return fields


def _name(field: bytes) -> bytes:
    return field.split(b":", 1)[0].strip().lower()


def _charset(content_type: bytes | None, body: bytes) -> bytes:
    """The declared charset, else us-ascii for 7-bit text, utf-8 if the bytes are UTF-8, and
    unknown-8bit (RFC 1428) for anything else: the bytes are kept, never transcoded."""
    declared = _CHARSET.search(content_type or b"")
    if declared:
        return declared.group(1)
    if body.isascii():
        return b"us-ascii"
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return b"unknown-8bit"
    return b"utf-8"
