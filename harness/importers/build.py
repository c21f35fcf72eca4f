"""Turn the events of one real session into a scenario the scripted server replays.

What the server said is kept verbatim (with its split writes and pauses when those were
recorded and asked for); what the client said becomes what a replay must see again:

* EHLO/HELO → ``EHLO {domain}`` (the name is the client's own choice);
* MAIL/RCPT → the path only: SIZE and the other parameters are the client's own, and the
  matcher lets a client add those the server advertised;
* AUTH → an ``auth`` step with the server's challenges and final reply; the task's credentials
  are the username and a generated password or token (secrets.Redactor), so no secret is written;
* DATA → ``{data: message}`` with the message as the task's message;
* STARTTLS answered 220 → ``tls: start``; QUIT → optional;
* anything else → the line as sent.

The expected outcome comes from the server's replies: ``delivered`` once the message was
accepted, else ``failed`` with the last 4xx/5xx code.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.errors import RemoteProtocolError, ScenarioError
from harness.importers.events import Command, Content, Event, Reply, ServerClosed, TlsStarted
from harness.importers.secrets import Redactor
from harness.protocol.auth import decode_base64, decode_plain, decode_xoauth2
from harness.scenario.model import (
    AuthStep,
    ClientStep,
    ClientTask,
    Close,
    CodePattern,
    Credentials,
    Expectation,
    Outcome,
    Scenario,
    Send,
    StartTls,
    Step,
    TlsMode,
)

__all__ = ["Origin", "build_scenario"]

_PATH = re.compile(r"^(MAIL FROM|RCPT TO):\s*<([^>]*)>", re.IGNORECASE)
_UNKNOWN_MESSAGE = (
    b"Subject: the transcript does not show the message\r\n\r\n"
    b"The message this client sent is not in the transcript; any content passes.\r\n"
)
_LOGIN_USERNAME_PROMPT = b"334 VXNlcm5hbWU6\r\n"


@dataclass(frozen=True, slots=True, kw_only=True)
class Origin:
    """Where the events came from, for error messages and the scenario's header."""

    path: str  # the transcript file, or "" when recorded live
    what: str  # e.g. "a swaks transcript", "a session recorded through smtp-harness record"
    scenario_id: str
    title: str = ""


@dataclass
class _Turn:
    command: Command | None  # None: the greeting, or the reply to the message content
    reply: Reply | None  # None: the transcript ends before the reply


@dataclass
class _State:
    origin: Origin
    redactor: Redactor
    keep_writes: bool
    steps: list[Step] = field(default_factory=list)
    mail_from: str = ""
    rcpt_to: list[str] = field(default_factory=list)
    message: bytes | None = None
    message_known: bool = True
    tls: TlsMode = TlsMode.NONE
    username: str | None = None
    password: str = ""
    token: str = ""
    mechanisms: list[str] = field(default_factory=list)
    delivered: bool = False
    last_error: int | None = None

    def error(self, line: int, message: str) -> ScenarioError:
        if self.origin.path:
            return ScenarioError(message, path=self.origin.path, line=line or None)
        return ScenarioError(message, field="recorded session")


def _turns(events: Sequence[Event]) -> list[_Turn | Content | TlsStarted | ServerClosed]:
    """Pair each reply with the oldest command still waiting for one (pipelining keeps order)."""
    pending: deque[Command] = deque()
    out: list[_Turn | Content | TlsStarted | ServerClosed] = []
    for event in events:
        if isinstance(event, Command):
            pending.append(event)
        elif isinstance(event, Reply):
            out.append(_Turn(pending.popleft() if pending else None, event))
        else:
            out.append(event)
    out += [_Turn(command, None) for command in pending]
    return out


def _send(state: _State, reply: Reply) -> Send:
    if not state.keep_writes or len(reply.writes) < 2:
        delay = reply.writes[0][1] if state.keep_writes and reply.writes else 0.0
        return Send(data=reply.data, delay=round(delay, 3), line=reply.line)
    offsets, at = [], 0
    for piece, _ in reply.writes[:-1]:
        at += len(piece)
        offsets.append(at)
    gaps = [gap for _, gap in reply.writes[1:]]
    return Send(
        data=reply.data,
        delay=round(reply.writes[0][1], 3),
        split=tuple(offsets),
        pause=round(sum(gaps) / len(gaps), 3),
        line=reply.line,
    )


def _literal(text: str) -> ClientStep:
    """A client step that matches ``text`` itself (as a regex if braces would be placeholders)."""
    if "{" in text or "}" in text:
        return ClientStep(kind="regex", expected=re.escape(text))
    return ClientStep(kind="match", expected=text)


def _command_step(state: _State, command: Command, reply: Reply | None) -> Step:
    text = command.text
    verb = text.split(" ", 1)[0].upper()
    if verb in ("EHLO", "HELO"):
        return ClientStep(kind="match", expected=f"{verb} {{domain}}")
    if verb == "QUIT":
        return ClientStep(kind="match", expected="QUIT", optional=True)
    if verb in ("MAIL", "RCPT"):
        m = _PATH.match(text)
        if m is None:
            raise state.error(command.line, f"cannot read the path of {text!r}")
        address = state.redactor.address(m.group(2))
        if verb == "MAIL":
            state.mail_from = address
            return ClientStep(kind="match", expected=f"MAIL FROM:<{address}>")
        state.rcpt_to.append(address)
        return ClientStep(kind="match", expected=f"RCPT TO:<{address}>")
    if verb in ("DATA", "STARTTLS", "RSET", "NOOP"):
        return ClientStep(kind="match", expected=verb)
    if verb == "BDAT":
        raise state.error(command.line, "BDAT (CHUNKING) sessions cannot be imported yet")
    return _literal(state.redactor.text(text))


def _auth(state: _State, turns: list[_Turn | Content | TlsStarted | ServerClosed], i: int) -> int:
    """Turn the AUTH dialogue starting at ``turns[i]`` into an auth step; the next index."""
    first = turns[i]
    assert isinstance(first, _Turn) and first.command is not None
    words = first.command.text.split(" ")
    mechanism = words[1].upper() if len(words) > 1 else ""
    answers = [words[2].encode()] if len(words) > 2 else []
    prompts: list[bytes] = []
    reply = first.reply
    j = i + 1
    while reply is not None and reply.code == 334:
        prompts.append(reply.data)
        nxt = turns[j] if j < len(turns) else None
        if not isinstance(nxt, _Turn) or nxt.command is None:
            raise state.error(reply.line, "the AUTH dialogue ends without the client's answer")
        answers.append(nxt.command.text.encode())
        reply, j = nxt.reply, j + 1
    if reply is None:
        raise state.error(first.command.line, "the AUTH dialogue ends without the final reply")
    if mechanism not in ("PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"):
        raise state.error(
            first.command.line,
            f"AUTH {mechanism or '(no mechanism)'} cannot be replayed: the harness checks "
            "PLAIN, LOGIN, CRAM-MD5 and XOAUTH2",
        )
    state.mechanisms.append(mechanism)
    if not answers and not prompts and reply.code is not None and reply.code >= 400:
        state.steps.append(AuthStep(mechanisms=(mechanism,), reject=reply.data))
        state.username = state.username or ""
        return j
    try:
        user = _credentials(state, mechanism, answers)
    except (RemoteProtocolError, IndexError):
        raise state.error(
            first.command.line, f"cannot decode the client's {mechanism} answer"
        ) from None
    state.username = state.redactor.text(user)
    error = None
    if mechanism == "LOGIN" and len(words) > 2:
        prompts.insert(0, _LOGIN_USERNAME_PROMPT)  # the initial response skips this one
    if mechanism == "XOAUTH2":
        # The only challenge after the initial response is the JSON error (R-XOAUTH2-2).
        if prompts and len(words) > 2:
            error = decode_base64(prompts[0][4:].rstrip(b"\r\n"))
        prompts = []
    elif mechanism == "PLAIN" and len(words) > 2:
        prompts = []
    state.steps.append(
        AuthStep(
            mechanisms=(mechanism,),
            prompts=tuple(prompts) if prompts else None,
            reply=reply.data,
            error=error,
        )
    )
    _note(state, reply)
    return j


def _credentials(state: _State, mechanism: str, answers: list[bytes]) -> str:
    """The username in the answers; the secret in them is replaced by a generated one."""
    if mechanism == "PLAIN":
        _, user, _ = decode_plain(answers[0])
    elif mechanism == "LOGIN":
        user = decode_base64(answers[0]).decode("utf-8", "replace")
    elif mechanism == "CRAM-MD5":
        user = decode_base64(answers[0]).decode("utf-8", "replace").rpartition(" ")[0]
    else:
        user, _ = decode_xoauth2(answers[0])
        state.token = state.token or state.redactor.token()
        return user
    state.password = state.password or state.redactor.password()
    return user


def _note(state: _State, reply: Reply) -> None:
    if reply.code is not None and reply.code >= 400:
        state.last_error = reply.code


def build_scenario(
    events: Sequence[Event],
    origin: Origin,
    *,
    redactor: Redactor | None = None,
    keep_writes: bool = False,
    tls: TlsMode | None = None,
) -> Scenario:
    """The scenario that replays ``events``.

    Args:
        events: the session, in the order it happened.
        origin: where it came from (errors name ``origin.path`` and the event's line).
        redactor: the stand-ins for secrets (a new one, addresses kept, by default).
        keep_writes: replay the server's writes as they arrived (split, paused).
        tls: the TLS mode when the events cannot show it (smtplib's SMTP_SSL).

    Raises:
        ScenarioError: a session that cannot be replayed; the message names the line.
    """
    state = _State(origin=origin, redactor=redactor or Redactor(), keep_writes=keep_writes)
    turns = _turns(events)
    if turns and isinstance(turns[0], TlsStarted):
        state.tls = TlsMode.IMPLICIT
    if not any(isinstance(t, _Turn) and t.command is None for t in turns[:2]):
        # smtplib prints nothing of the greeting when debugging starts after connect().
        state.steps.append(Send(data=b"220 smtp-harness.invalid ESMTP (greeting not recorded)\r\n"))
    i, waiting_for_content = 0, False
    while i < len(turns):
        turn = turns[i]
        if isinstance(turn, ServerClosed):
            state.steps.append(Close(line=turn.line))
            break
        if isinstance(turn, TlsStarted):
            i += 1  # STARTTLS's 220 already put the handshake in the script
            continue
        if isinstance(turn, Content):
            if not waiting_for_content:
                raise state.error(turn.line, "message content without a 354 reply to DATA")
            waiting_for_content = False
            _content(state, turn.message)
            i += 1
            continue
        if waiting_for_content:  # the transcript does not show the message (curl -v)
            waiting_for_content = False
            _content(state, None)
            continue
        if turn.command is not None and turn.command.text.upper().startswith("AUTH "):
            i = _auth(state, turns, i)
            continue
        if turn.command is not None:
            state.steps.append(_command_step(state, turn.command, turn.reply))
        if turn.reply is not None:
            state.steps.append(_send(state, turn.reply))
            if turn.command is None and state.message is not None and turn.reply.code:
                state.delivered = state.delivered or 200 <= turn.reply.code < 300
            if turn.command is None or turn.command.text.upper() != "QUIT":
                _note(state, turn.reply)
            if turn.command is not None:
                verb = turn.command.text.split(" ", 1)[0].upper()
                if verb == "STARTTLS" and turn.reply.code == 220:
                    state.steps.append(StartTls())
                    state.tls = TlsMode.STARTTLS
                waiting_for_content = verb == "DATA" and turn.reply.code == 354
        i += 1
    if waiting_for_content:
        _content(state, None)
    return _scenario(state, tls)


def _content(state: _State, message: bytes | None) -> None:
    if message is None:
        state.message_known = False
        state.message = _UNKNOWN_MESSAGE
        state.steps.append(ClientStep(kind="data", expected="message", compare="any"))
        return
    state.message = state.redactor.message(message)
    state.steps.append(ClientStep(kind="data", expected="message"))


def _scenario(state: _State, tls: TlsMode | None) -> Scenario:
    origin = state.origin
    if state.delivered:
        expect = Expectation(outcomes=(Outcome.DELIVERED,))
    elif state.last_error is not None:
        expect = Expectation(
            outcomes=(Outcome.FAILED,), codes=(CodePattern(str(state.last_error)),)
        )
    else:
        expect = Expectation(outcomes=(Outcome.FAILED,))
    auth = None
    if state.username is not None:
        auth = Credentials(
            username=state.username,
            password=state.password or ("" if state.token else state.redactor.password()),
            token=state.token,
            mechanisms=tuple(dict.fromkeys(state.mechanisms)),
        )
    notes = [f"Made by smtp-harness from {origin.what}."]
    if auth is not None:
        notes.append("The password or token is a generated stand-in; the real one is not kept.")
    if not state.message_known:
        notes.append("The transcript does not show the message: any content passes.")
    if state.redactor.redact_message:
        notes.append("Addresses and the message body are replaced by generated ones.")
    return Scenario(
        id=origin.scenario_id,
        title=origin.title or f"Replay of {origin.what}",
        source=origin.what,
        tags=("recorded",),
        description=" ".join(notes),
        client=ClientTask(
            mail_from=state.mail_from,
            rcpt_to=tuple(state.rcpt_to),
            message=state.message or b"",
            tls=tls or state.tls,
            auth=auth,
        ),
        expect=expect,
        exchange=tuple(state.steps),
    )
