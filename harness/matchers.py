"""How an expected client step is checked against what the client sent.

A matcher is a named, pure function ``(step, actual, context) -> Mismatch | None``. The built-in
ones are ``match`` (a command pattern with placeholders), ``regex`` and ``data`` (the DATA
content). ``register_matcher`` adds more; scenario files name them by key.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from harness.errors import RemoteProtocolError
from harness.protocol.commands import Command, PathArgument, parse_path_argument
from harness.protocol.data import bare_line_end_offsets, dot_stuff, dot_unstuff
from harness.protocol.ehlo import Extensions
from harness.protocol.events import DataReceived
from harness.protocol.message import compare_content, repeated_fields
from harness.scenario.model import ClientStep, ClientTask, Level
from harness.scenario.patterns import PLACEHOLDERS, compile_pattern

__all__ = [
    "MATCHERS",
    "PLACEHOLDERS",
    "MatchContext",
    "Mismatch",
    "compile_pattern",
    "match_content",
    "match_step",
    "register_matcher",
]

# ESMTP parameters a client may add to MAIL/RCPT, and the extension that must be advertised
# first (RFC 5321 §2.2, R-EXT-1). Parameters not listed need a keyword of their own name.
PARAMETER_EXTENSIONS = {
    "SIZE": "SIZE",
    "BODY": "8BITMIME",
    "SMTPUTF8": "SMTPUTF8",
    "RET": "DSN",
    "ENVID": "DSN",
    "NOTIFY": "DSN",
    "ORCPT": "DSN",
    "AUTH": "AUTH",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Mismatch:
    """Why an expected step did not match: the field, both sides, and a hint with the rule.

    ``rule`` and ``level`` are set for the wire rules that hold in every scenario whatever path
    the client takes (CRLF line ends, command syntax, advertised extensions only): such a
    mismatch is a MUST failure even where the client legally took another path (HELO).
    """

    field: str
    expected: str
    actual: str
    hint: str = ""
    rule: str = ""
    level: Level | None = None

    def __str__(self) -> str:
        text = f"{self.field}: expected {self.expected}, got {self.actual}"
        return f"{text} ({self.hint})" if self.hint else text


@dataclass(frozen=True, slots=True, kw_only=True)
class MatchContext:
    """What a matcher may need beyond the step: the task, the last EHLO reply's extensions
    (None before any EHLO, or after TLS started), and what the client declared about itself."""

    task: ClientTask
    extensions: Extensions | None = None
    # The client writes its own message from the task's subject and body (Capabilities).
    composes_message: bool = False


Actual = Command | DataReceived
Matcher = Callable[[ClientStep, Actual, MatchContext], Mismatch | None]


def _fits(template: str, text: str) -> bool:
    return compile_pattern(template).fullmatch(text) is not None


@functools.lru_cache(maxsize=1024)
def _expected_path(pattern: str, keyword: str) -> PathArgument:
    """The step's own ``FROM:<...>`` parsed once: steps repeat for every session."""
    return parse_path_argument(pattern, keyword)


def _match_path_command(
    step: ClientStep, cmd: Command, keyword: str, ctx: MatchContext
) -> Mismatch | None:
    _verb, _, pattern_arg = step.expected.partition(" ")
    try:
        actual = parse_path_argument(cmd.argument, keyword)
    except RemoteProtocolError as exc:
        return Mismatch(
            field="syntax",
            expected=step.expected,
            actual=cmd.text,
            hint=str(exc),
            rule="R-TX-1",
            level=Level.MUST,
        )
    expected = _expected_path(pattern_arg, keyword)
    if not _fits(expected.address, actual.address):
        return Mismatch(
            field="path", expected=f"<{expected.address}>", actual=f"<{actual.address}>"
        )
    for name, value in expected.params.items():
        if name not in actual.params:
            return Mismatch(field=f"parameter {name}", expected="present", actual="missing")
        if value is not None and not _fits(value, actual.params[name] or ""):
            return Mismatch(
                field=f"parameter {name}", expected=value, actual=str(actual.params[name])
            )
    for name in actual.params.keys() - expected.params.keys():
        needed = PARAMETER_EXTENSIONS.get(name, name)
        if ctx.extensions is None or not ctx.extensions.has(needed):
            return Mismatch(
                field=f"parameter {name}",
                expected=f"only parameters of advertised extensions ({needed} was not advertised)",
                actual=cmd.text,
                hint="RFC 5321 §2.2: an extension may be used only if the EHLO reply advertised it",
                rule="R-EXT-1",
                level=Level.MUST,
            )
    return None


def _match_pattern(step: ClientStep, actual: Actual, ctx: MatchContext) -> Mismatch | None:
    if not isinstance(actual, Command):
        return Mismatch(field="command", expected=step.expected, actual="DATA content")
    verb, _, argument = step.expected.partition(" ")
    if actual.verb != verb.upper():
        return Mismatch(field="verb", expected=step.expected, actual=actual.text)
    if actual.verb in ("MAIL", "RCPT"):
        return _match_path_command(step, actual, "FROM" if actual.verb == "MAIL" else "TO", ctx)
    if not _fits(argument, actual.argument):
        return Mismatch(field="argument", expected=step.expected, actual=actual.text)
    return None


def _match_regex(step: ClientStep, actual: Actual, ctx: MatchContext) -> Mismatch | None:
    if not isinstance(actual, Command):
        return Mismatch(field="command", expected=step.describe(), actual="DATA content")
    if re.fullmatch(step.expected, actual.text) is None:
        return Mismatch(field="command", expected=step.describe(), actual=actual.text)
    return None


def _first_difference(expected: bytes, actual: bytes) -> str:
    exp_lines, act_lines = expected.split(b"\r\n"), actual.split(b"\r\n")
    for n, (e, a) in enumerate(zip(exp_lines, act_lines, strict=False), start=1):
        if e != a:
            return f"line {n}: expected {e[:80]!r}, got {a[:80]!r}"
    return f"expected {len(exp_lines) - 1} lines, got {len(act_lines) - 1}"


def _unstuffed_wire_line(wire: bytes) -> tuple[int, bytes] | None:
    """The first wire line that starts with one "." and then something else: whatever the
    message said, a client that stuffs (RFC 5321 §4.5.2) never sends one."""
    for n, line in enumerate(wire.split(b"\r\n"), start=1):
        if line.startswith(b".") and not line.startswith(b".."):
            return n, line
    return None


def _match_data(step: ClientStep, actual: Actual, ctx: MatchContext) -> Mismatch | None:
    if not isinstance(actual, DataReceived):
        return Mismatch(
            field="DATA content",
            expected="the message",
            actual=f"command {actual.text!r}",
            hint="after 354 the client must send the message",
        )
    # The wire checks come first and hold whatever the comparison mode.
    wire = actual.wire
    bare = bare_line_end_offsets(wire)
    if bare:
        return Mismatch(
            field="DATA line ends",
            expected="CRLF only",
            actual=f"bare CR or LF at offset {bare[0]}",
            hint="RFC 5321 §2.3.8: bare CR and LF must not be sent",
            rule="R-LINE-1",
            level=Level.MUST,
        )
    unstuffed = _unstuffed_wire_line(wire)
    if unstuffed is not None:
        n, line = unstuffed
        return Mismatch(
            field="DATA dot-stuffing",
            expected="one more '.' before every line that starts with '.'",
            actual=f"wire line {n}: {line[:60]!r}",
            hint=f"wire line {n} starts with '.' but was not dot-stuffed (RFC 5321 §4.5.2)",
            rule="R-DOT-1",
            level=Level.MUST,
        )
    content = dot_unstuff(wire)
    mismatch = match_content(step, content, ctx.task.message, composed=ctx.composes_message)
    if mismatch is None:
        return None
    # A line "." or ".." sent unstuffed reads as the end of the data or as one dot less.
    early_end = _ended_at_unstuffed_dot(content, ctx.task.message)
    if early_end:
        return replace(
            mismatch, hint=f"{early_end}; {mismatch.hint}", rule="R-DOT-1", level=Level.MUST
        )
    return mismatch


def match_content(
    step: ClientStep, content: bytes, message: bytes, *, composed: bool = False
) -> Mismatch | None:
    """Check message content (DATA after un-stuffing, or BDAT chunks joined) against the task's
    ``message``: the step's ``absent`` strings, the fields RFC 5322 §3.6 allows once, and the
    ``compare`` mode. ``composed``: the client writes its own message from the task's subject
    and body, so ``exact`` cannot apply and only those two are compared."""
    for text in step.absent:
        if text.encode() in content:
            return Mismatch(
                field="message content",
                expected=f"no {text!r} anywhere in the data",
                actual=f"{text!r} at offset {content.index(text.encode())}",
            )
    repeated = repeated_fields(content, message)
    if repeated:
        return Mismatch(
            field="message header",
            expected=f"at most one {', '.join(repeated)} field",
            actual="the field twice or more",
            hint="RFC 5322 §3.6: the table of fields allows each of Date, From, Sender, Reply-To, "
            "To, Cc, Bcc, Message-ID, In-Reply-To, References and Subject at most once",
            rule="RFC 5322 §3.6",
            level=Level.MUST,
        )
    mode = "content" if composed and step.compare == "exact" else step.compare
    if mode == "any":
        return None
    if mode == "exact":
        expected = dot_unstuff(dot_stuff(message))
        if content == expected:
            return None
        hint = _first_difference(expected, content)
    else:
        difference = compare_content(message, content, composed=composed, end_lines=mode == "lines")
        if difference is None:
            return None
        hint = difference.what
        if difference.expected_line.startswith(".") and (
            difference.actual_line == difference.expected_line[1:]
        ):
            return Mismatch(
                field="DATA content",
                expected=f"the message ({mode})",
                actual=f"{len(content)} octets",
                hint=f"{hint} - that line starts with '.' and was not dot-stuffed (RFC 5321 §4.5.2)",
                rule="R-DOT-1",
                level=Level.MUST,
            )
    return Mismatch(
        field="DATA content",
        expected=f"the message ({mode})",
        actual=f"{len(content)} octets",
        hint=hint,
    )


def _ended_at_unstuffed_dot(content: bytes, message: bytes) -> str:
    """Explain a DATA that stopped short where the message has a line that is only "." (the
    server took it for the end). Aligned on the body, so headers the client added or changed
    do not shift the lines."""
    body = _body(content)
    expected = _body(dot_unstuff(dot_stuff(message)))
    if len(body) >= len(expected) or not expected.startswith(body):
        return ""
    next_line = expected[len(body) :].split(b"\r\n", 1)[0]
    if not next_line.startswith(b"."):
        return ""
    n = body.count(b"\r\n") + 1
    return (
        f"the DATA ended before body line {n} ({next_line[:40]!r}): that line was not "
        "dot-stuffed (RFC 5321 §4.5.2), so the server took it for the end of the data"
    )


def _body(content: bytes) -> bytes:
    _head, sep, body = content.partition(b"\r\n\r\n")
    return body if sep else content


_BDAT_ARGUMENT = re.compile(r"\d{1,10}( LAST)?", re.IGNORECASE)


def _match_bdat(step: ClientStep, actual: Actual, ctx: MatchContext) -> Mismatch | None:
    """The first BDAT command of a chunked message (the chunks are checked by the server)."""
    if not isinstance(actual, Command) or actual.verb != "BDAT":
        shown = actual.text if isinstance(actual, Command) else "DATA content"
        return Mismatch(field="verb", expected="BDAT <size> [LAST]", actual=shown)
    if ctx.extensions is None or not ctx.extensions.has("CHUNKING"):
        return Mismatch(
            field="extension",
            expected="BDAT only after CHUNKING was advertised",
            actual=actual.text,
            hint="RFC 3030 §2 (R-BDAT-1)",
            rule="R-BDAT-1",
            level=Level.MUST,
        )
    if not _BDAT_ARGUMENT.fullmatch(actual.argument):
        return Mismatch(
            field="argument", expected="BDAT <size> [LAST]", actual=actual.text, hint="RFC 3030 §2"
        )
    return None


def _match_silence(step: ClientStep, actual: Actual, ctx: MatchContext) -> Mismatch | None:
    """A silence step is taken when nothing comes (see Playback.on_silence); input never matches."""
    shown = actual.text if isinstance(actual, Command) else "DATA content"
    return Mismatch(
        field="silence", expected=f"nothing for {step.seconds:g} s", actual=shown, hint=""
    )


def _match_gives_up(step: ClientStep, actual: Actual, ctx: MatchContext) -> Mismatch | None:
    """A client giving up on a silent server may say QUIT first; closing fulfils the step."""
    if isinstance(actual, Command) and actual.verb == "QUIT":
        return None
    shown = actual.text if isinstance(actual, Command) else "DATA content"
    return Mismatch(
        field="verb",
        expected="QUIT, or a close (the server has gone silent)",
        actual=shown,
        hint="RFC 5321 §4.3.1: the sender MUST wait for the response before sending further "
        "commands; a client whose reply never came may only QUIT or close (R-TMO-2)",
    )


MATCHERS: dict[str, Matcher] = {
    "silence": _match_silence,
    "gives_up": _match_gives_up,
    "match": _match_pattern,
    "regex": _match_regex,
    "data": _match_data,
    "bdat": _match_bdat,
}


def register_matcher(name: str, matcher: Matcher) -> None:
    """Make ``matcher`` available to scenario steps as ``client: {NAME: ...}``."""
    MATCHERS[name] = matcher


def match_step(step: ClientStep, actual: Actual, ctx: MatchContext) -> Mismatch | None:
    """Check ``actual`` against ``step`` with the step's matcher."""
    return MATCHERS[step.kind](step, actual, ctx)
