"""Message content as a reader sees it: compare two messages by meaning, not by bytes.

Mail user agents and high-level libraries legally change the bytes of a message they send: they
add Date, Message-ID and MIME-Version, refold header fields, RFC 2047-encode non-ASCII header
text and re-encode the body as quoted-printable or base64 (RFC 6409 §8.2-8.4 lists the same
changes for a submission server). ``compare_content`` checks what must survive all that: each
header field of the task with the same decoded value, and the same decoded body text.

Built on the standard ``email`` package. Pure functions, no I/O.
"""

from __future__ import annotations

import email.policy
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.parser import BytesParser

__all__ = [
    "AT_MOST_ONCE",
    "ContentDifference",
    "compare_content",
    "repeated_fields",
]

# RFC 5322 §3.6, the table of fields: these may occur at most once in a message.
AT_MOST_ONCE = (
    "date",
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "bcc",
    "message-id",
    "in-reply-to",
    "references",
    "subject",
)
# Only the encoding changes with these; the decoded body is compared instead.
_ENCODING_FIELDS = ("content-transfer-encoding",)
# Content-Type parameters that describe the encoding of the text, not the text.
_ENCODING_PARAMS = ("charset", "format", "delsp", "boundary")

_POLICY = email.policy.default


@dataclass(frozen=True, slots=True, kw_only=True)
class ContentDifference:
    """Where two messages differ in meaning.

    Attributes:
        what: one line for people, e.g. ``header Subject: expected 'a', got 'b'``.
        body_line: for a body difference, the 1-based line of the decoded body text, else 0.
        expected_line, actual_line: that body line on both sides ('' past the end).
    """

    what: str
    body_line: int = 0
    expected_line: str = ""
    actual_line: str = ""


def _parse(data: bytes) -> EmailMessage:
    message = BytesParser(policy=_POLICY).parsebytes(data)
    assert isinstance(message, EmailMessage)  # the default policy's message class
    return message


def repeated_fields(content: bytes, given: bytes) -> list[str]:
    """Names of fields that RFC 5322 §3.6 allows once and ``content`` has more often than the
    message the client was ``given`` (a given message with two is passed on as it came)."""
    if content == given:  # what most clients send: nothing can be repeated more than given
        return []
    small = len(given) <= 65536  # a huge message is not kept in the cache
    have, had = _field_counts(content), (_given_field_counts if small else _field_counts)(given)
    return [name for name in AT_MOST_ONCE if have.get(name, 0) > max(1, had.get(name, 0))]


@functools.lru_cache(maxsize=64)
def _given_field_counts(given: bytes) -> dict[str, int]:
    """The task's message is the same for every session of a scenario: counted once."""
    return _field_counts(given)


def _field_counts(data: bytes) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name, _value in BytesParser(policy=_POLICY).parsebytes(data, headersonly=True).raw_items():
        counts[name.lower()] = counts.get(name.lower(), 0) + 1
    return counts


def compare_content(
    expected: bytes, actual: bytes, *, composed: bool = False, end_lines: bool = False
) -> ContentDifference | None:
    """None if ``actual`` carries the content of ``expected``; else the first difference.

    Every header field of ``expected`` must be in ``actual`` with the same decoded value (added
    fields are fine; Content-Transfer-Encoding and the charset may change), and each body part
    must decode to the same text, except for empty lines at its end, which only ``end_lines``
    compares (many clients add one; the scenarios about that line say ``end_lines``).
    ``composed``: the client was given only the subject and the body text and wrote the rest
    itself, so only those two are compared.
    """
    if actual == expected:  # the same bytes carry the same content (tested against the parse)
        return None
    return _compare_parsed(expected, actual, composed=composed, end_lines=end_lines)


def _compare_parsed(
    expected: bytes, actual: bytes, *, composed: bool, end_lines: bool
) -> ContentDifference | None:
    want, got = _parse(expected), _parse(actual)
    names = ("subject",) if composed else None
    difference = _compare_headers(want, got, names)
    if difference is not None:
        return difference
    leaves = _text_body if composed else _leaves
    return _compare_leaves(list(leaves(want)), list(leaves(got)), end_lines)


# --- header fields ---------------------------------------------------------------------------


def _fields(message: Message) -> list[tuple[str, object]]:
    """(lower-case name, comparable value) of every field, parsed leniently."""
    out = []
    for name, raw in message.raw_items():
        out.append((name.lower(), _comparable(name, raw)))
    return out


def _comparable(name: str, raw: str) -> object:
    try:
        header = _POLICY.header_fetch_parse(name, raw)
        addresses = getattr(header, "addresses", None)
        if addresses is not None:
            return tuple(
                (a.display_name, a.username, a.domain.lower()) for a in addresses
            ) or " ".join(str(header).split())
        when = getattr(header, "datetime", None)
        if when is not None:
            return when
        content_type = getattr(header, "content_type", None)
        if name.lower() == "content-type" and content_type is not None:
            params = getattr(header, "params", {})
            kept = {k.lower(): v for k, v in params.items() if k.lower() not in _ENCODING_PARAMS}
            return (content_type, tuple(sorted(kept.items())))
        # Folding whitespace is one space to a reader (RFC 5322 §3.2.2); so are runs of it.
        return " ".join(str(header).split())
    except Exception:  # a value the parser cannot read: compare it as written
        return " ".join(raw.split())


def _shown(value: object) -> str:
    if isinstance(value, tuple) and value and all(isinstance(v, tuple) for v in value):
        return repr(", ".join(f"{d} <{u}@{h}>".lstrip() for d, u, h in value))
    return repr(str(value))


def _compare_headers(
    want: Message, got: Message, names: tuple[str, ...] | None
) -> ContentDifference | None:
    left = _fields(got)
    for name, value in _fields(want):
        if name in _ENCODING_FIELDS or (names is not None and name not in names):
            continue
        if (name, value) in left:
            left.remove((name, value))  # each expected field matches its own actual field
            continue
        same_name = [v for n, v in left if n == name]
        if not same_name:
            return ContentDifference(what=f"header {name}: missing (expected {_shown(value)})")
        return ContentDifference(
            what=f"header {name}: expected {_shown(value)}, got {_shown(same_name[0])}"
        )
    return None


# --- bodies ----------------------------------------------------------------------------------


def _leaves(message: Message) -> Iterator[tuple[str, str | bytes]]:
    """(media type, decoded content) of every leaf part, in order."""
    if message.is_multipart():
        for part in message.get_payload():
            assert isinstance(part, Message)
            yield from _leaves(part)
        return
    yield message.get_content_type(), _decoded(message)


def _text_body(message: EmailMessage) -> Iterator[tuple[str, str | bytes]]:
    """The plain-text body a mail user agent would show, as the only leaf."""
    body = message.get_body(preferencelist=("plain",))
    if body is not None:
        yield "text/plain", _decoded(body)


def _decoded(part: Message) -> str | bytes:
    """The content without its transfer encoding; text also without its charset, with line
    ends as LF, format=flowed lines joined, and the final line break that SMTP adds."""
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        data = b""
    if part.get_content_maintype() != "text":
        return data
    charset = part.get_content_charset("us-ascii")
    try:
        text = data.decode(charset)
    except (LookupError, UnicodeDecodeError):
        # Unlabelled 8-bit text is what a task without MIME fields hands over: read it as UTF-8,
        # keeping undecodable bytes distinct.
        text = data.decode("utf-8", "surrogateescape")
    text = text.replace("\r\n", "\n")
    if part.get_param("format", "", header="content-type") == "flowed":
        text = _unflow(text, str(part.get_param("delsp", "no")).lower() == "yes")
    if text and not text.endswith("\n"):
        text += "\n"  # RFC 5321 §4.1.1.4: the CRLF before the final dot ends the last line
    return text


def _unflow(text: str, delete_space: bool) -> str:
    """Undo RFC 3676 §4.1-4.2: a line ending in a space continues on the next line, and one
    leading space was added to lines starting with a space, ">" or "From "."""
    out: list[str] = []
    pending = ""
    for line in text.split("\n"):
        if line.startswith(" "):
            line = line[1:]
        if line.endswith(" ") and line != "-- ":
            pending += line[:-1] if delete_space else line
            continue
        out.append(pending + line)
        pending = ""
    if pending:
        out.append(pending)
    return "\n".join(out)


def _compare_leaves(
    want: list[tuple[str, str | bytes]], got: list[tuple[str, str | bytes]], end_lines: bool
) -> ContentDifference | None:
    if [t for t, _ in want] != [t for t, _ in got]:
        return ContentDifference(
            what=f"body parts: expected {[t for t, _ in want]}, got {[t for t, _ in got]}"
        )
    for n, ((kind, a), (_, b)) in enumerate(zip(want, got, strict=True), start=1):
        if not end_lines and isinstance(a, str) and isinstance(b, str):
            a, b = _without_end_lines(a), _without_end_lines(b)
        if a == b:
            continue
        where = f"body part {n} ({kind})" if len(want) > 1 else "body"
        if isinstance(a, bytes) or isinstance(b, bytes):
            return ContentDifference(what=f"{where}: the decoded octets differ")
        return _first_text_difference(where, a, b)
    return None


def _without_end_lines(text: str) -> str:
    stripped = text.rstrip("\n")
    return stripped + "\n" if stripped else ""


def _first_text_difference(where: str, want: str, got: str) -> ContentDifference:
    want_lines, got_lines = want.split("\n"), got.split("\n")
    for n, (a, b) in enumerate(zip(want_lines, got_lines, strict=False), start=1):
        if a != b:
            return ContentDifference(
                what=f"{where} line {n}: expected {a[:80]!r}, got {b[:80]!r}",
                body_line=n,
                expected_line=a,
                actual_line=b,
            )
    lines_want, lines_got = len(want_lines) - 1, len(got_lines) - 1  # each text ends in LF
    return ContentDifference(
        what=f"{where}: expected {lines_want} lines, got {lines_got}",
        body_line=min(len(want_lines), len(got_lines)),
    )
