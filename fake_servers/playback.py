"""The script cursor: turns what the client sent into what the server does next. Sans-IO.

The exchange is compiled into *units*: a client step (a command, the DATA content, or a whole AUTH
dialogue) with the server steps that follow it, its reply. Server steps with no client step before
them (the greeting; steps after an ``any_of``) are units without a head and run as soon as the
cursor reaches them.

Rules:
- At any moment the cursor knows the *candidates*: the units that may consume the next input,
  found by walking forward over optional units, into every ``any_of`` branch and every
  remaining ``unordered`` group. The walk visits each position once (the set of live
  positions, not the list of paths to them), so its cost is linear in the script: chained
  ``any_of`` and many optional ``unordered`` groups cannot make it exponential.
- The first candidate that matches is taken; units skipped on the way are dropped. An
  ``unordered`` group whose steps are all optional stays playable until the whole block ends.
- Nothing matches → the session fails: the failure is recorded with the step the client should
  have sent and what it sent, and the server answers 421 and closes.
- When the script is exhausted the server closes the connection.
- An RSET the script does not expect, sent where the script would take QUIT, is answered 250 and
  changes nothing, but then only QUIT (or closing) may follow: RFC 5321 §4.1.1.5 makes an RSET
  "immediately before a QUIT" "effectively equivalent to a NOOP", so no script has to list it.
"""

from __future__ import annotations

import base64
import functools
import os
import re
from dataclasses import dataclass, field, replace

from harness.errors import RemoteProtocolError
from harness.matchers import MatchContext, Mismatch, match_content, match_step
from harness.protocol.auth import cram_md5_digest, decode_base64, decode_plain, decode_xoauth2
from harness.protocol.commands import Command
from harness.protocol.ehlo import Extensions
from harness.protocol.events import ChunkReceived, DataReceived, NeedData
from harness.protocol.replies import Reply, ReplyParser
from harness.results import Failure
from harness.scenario.model import (
    AnyOf,
    AuthStep,
    ClientStep,
    Close,
    Delay,
    Level,
    Scenario,
    Send,
    StartTls,
    Step,
    TlsMode,
    Unordered,
    give_up_window,
)

__all__ = ["Action", "BeginData", "Failure", "Playback", "Script"]

ABORT_REPLY = b"421 4.3.0 smtp-harness: the client did not follow the script, closing\r\n"
_QUIT = Command.build("QUIT")
SUPPORTED_MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2")


@dataclass(frozen=True, slots=True, kw_only=True)
class BeginData:
    """Switch the command parser to DATA mode (the server just sent 354)."""


Action = Send | Delay | StartTls | Close | BeginData


# --- compiled script -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Unit:
    head: ClientStep | AuthStep | None
    actions: tuple[Action, ...]

    @property
    def optional(self) -> bool:
        return self.head is not None and self.head.optional

    @property
    def line(self) -> int:
        return self.head.line if self.head is not None else 0


@dataclass(frozen=True, slots=True, eq=False)
class Choice:
    branches: tuple[tuple[Node, ...], ...]


@dataclass(frozen=True, slots=True, eq=False)
class Group:
    groups: tuple[tuple[Node, ...], ...]


Node = Unit | Choice | Group


def compile_steps(steps: tuple[Step, ...]) -> tuple[Node, ...]:
    nodes: list[Node] = []
    head: ClientStep | AuthStep | None = None
    actions: list[Action] = []
    started = False

    def flush() -> None:
        if started or actions:
            nodes.append(Unit(head=head, actions=tuple(actions)))

    for step in steps:
        if isinstance(step, ClientStep | AuthStep | AnyOf | Unordered):
            flush()
            head, actions, started = None, [], False
            if isinstance(step, AnyOf):
                nodes.append(Choice(branches=tuple(compile_steps(b) for b in step.branches)))
            elif isinstance(step, Unordered):
                nodes.append(Group(groups=tuple(compile_steps(g) for g in step.groups)))
            else:
                head, started = step, True
        else:
            actions.append(step)
    flush()
    return tuple(nodes)


@dataclass(frozen=True, slots=True)
class _Seq:
    nodes: tuple[Node, ...]
    index: int


@dataclass(frozen=True, slots=True)
class _Grp:
    node: Group
    remaining: frozenset[int]


Stack = tuple[_Seq | _Grp, ...]


@dataclass(frozen=True, slots=True)
class _Reach:
    """What the client may do next from one point of a sequence, with no input in between.

    Attributes:
        candidates: the units that may take the next input, each with the stack just after it
            (relative: its first frame replaces the frame the walk began in).
        falls: the end of the sequence is reached by skipping optional steps.
        ends: closing the connection ends the script here (an optional step whose reply
            closes; a silence whose reply closes).
        close_falls: closing reaches the end of the sequence (closing also fulfils silences).
    """

    candidates: tuple[tuple[Unit, Stack], ...]
    falls: bool
    ends: bool
    close_falls: bool


# The reach from each position, by (id of the node tuple, index): it depends on the script
# alone, so one memo serves every connection that plays the same compiled script.
Memo = dict[tuple[int, int], "_Reach"]


@dataclass(frozen=True, slots=True)
class Script:
    """A scenario's exchange compiled once, for every connection that plays it."""

    nodes: tuple[Node, ...]
    has_silence: bool  # most scripts have none: then the reads need not look for one
    memo: Memo = field(default_factory=dict)

    @classmethod
    def compile(cls, scenario: Scenario) -> Script:
        return cls(compile_steps(scenario.exchange), _any_silence(scenario.exchange))


def _walk(nodes: tuple[Node, ...], index: int, memo: Memo) -> _Reach:
    """The reach of ``nodes`` from ``index``, in script order.

    Linear in the part of the script it looks at: each ``any_of`` branch and ``unordered``
    group is walked once (and memoised, keyed by the node tuple), whatever came before it, and
    the steps after a branch are walked once, not once per branch. A position is never listed
    twice. This is what keeps 30 chained ``any_of`` or 10 optional ``unordered`` groups cheap.
    """
    key = (id(nodes), index)
    if key in memo:
        return memo[key]
    found: list[tuple[Unit, Stack]] = []
    collect, ends = True, False  # collect: no silence passed yet, candidates still count
    result: _Reach | None = None
    for i in range(index, len(nodes)):
        node = nodes[i]
        after: Stack = (_Seq(nodes, i + 1),)
        if isinstance(node, Unit):
            if node.head is None:  # a barrier: headless units run only when reached for real
                result = _Reach(tuple(found), False, ends, False)
                break
            if collect:
                found.append((node, after))
            closes = any(isinstance(a, Close) for a in node.actions)
            if isinstance(node.head, ClientStep) and node.head.kind in _WAITS:
                # Closing says nothing, so it fulfils a silence step; input must wait for it.
                ends, collect = ends or closes, False
                continue
            if not node.optional:
                result = _Reach(tuple(found), False, ends, False)
                break
            # An optional step whose reply closes the connection may also be left out by closing.
            ends = ends or closes
            continue
        if isinstance(node, Choice):
            parts = [_walk(branch, 0, memo) for branch in node.branches]
        else:
            members = {i: _walk(group, 0, memo) for i, group in enumerate(node.groups)}
            parts = [_group_reach(node, frozenset(members), members)]
        if collect:
            found += [(u, (*after, *rel)) for part in parts for u, rel in part.candidates]
        ends = ends or any(p.ends for p in parts)
        if collect and any(p.falls for p in parts):
            continue
        if any(p.close_falls for p in parts):
            collect = False
            continue
        result = _Reach(tuple(found), False, ends, False)
        break
    if result is None:
        result = _Reach(tuple(found), collect, ends, True)
    memo[key] = result
    return result


def _group_reach(node: Group, remaining: frozenset[int], parts: dict[int, _Reach]) -> _Reach:
    """The reach of an ``unordered`` group with ``remaining`` groups still to play.

    Every remaining group may start next. A group whose steps are all optional is never
    "skipped" here: it stays playable until the group ends, which lets more orders through
    than skipping it would, and keeps the number of positions linear (listing the orders in
    which optional groups are left out is what took minutes).
    """
    chosen = [(i, parts[i]) for i in sorted(remaining)]
    found = tuple(
        (u, (_Grp(node, remaining - {i}), *rel)) for i, part in chosen for u, rel in part.candidates
    )
    return _Reach(
        found,
        falls=all(p.falls for _, p in chosen),
        ends=any(p.ends for _, p in chosen),
        close_falls=all(p.close_falls for _, p in chosen),
    )


def _expand(stack: Stack, out: list[tuple[Unit, Stack]], memo: Memo) -> bool:
    """Append every unit that can take the next input (with the stack just after it) to ``out``.
    Returns True if the script can end here without any more input."""
    collect, ends = True, False
    for depth in range(len(stack) - 1, -1, -1):
        frame, below = stack[depth], stack[:depth]
        if isinstance(frame, _Seq):
            reach = _walk(frame.nodes, frame.index, memo)
        else:
            groups = frame.node.groups
            members = {i: _walk(groups[i], 0, memo) for i in frame.remaining}
            reach = _group_reach(frame.node, frame.remaining, members)
        if collect:
            if below:
                out += [(u, (*below, *rel)) for u, rel in reach.candidates]
            else:  # the outermost frame (most steps): the stacks are the reach's own
                out += reach.candidates
        ends = ends or reach.ends
        if collect and reach.falls:
            continue
        if not reach.close_falls:
            return ends
        collect = False
    return True


# --- AUTH dialogue ---------------------------------------------------------------------------


@dataclass(slots=True)
class _AuthDialogue:
    """The server side of one AUTH exchange, checking each answer against the credentials."""

    step: AuthStep
    mechanism: str
    username: str
    password: str
    token: str = ""
    prompts: list[bytes] = field(default_factory=list)
    answers: list[bytes] = field(default_factory=list)
    expected_answers: int = 0
    error_sent: bool = False  # XOAUTH2: the error challenge went out; an empty line must follow

    @classmethod
    def default_prompts(cls, mechanism: str) -> list[bytes]:
        if mechanism == "LOGIN":
            return [b"334 VXNlcm5hbWU6\r\n", b"334 UGFzc3dvcmQ6\r\n"]
        if mechanism == "XOAUTH2":
            return [b"334 \r\n"]
        if mechanism == "CRAM-MD5":
            challenge = (
                f"<{int.from_bytes(os.urandom(4), 'big')}.{os.getpid()}@smtp-harness.invalid>"
            )
            return [b"334 " + base64.b64encode(challenge.encode()) + b"\r\n"]
        return [b"334 \r\n"]

    def check(self) -> str | None:
        """Check the collected answers; return a problem or None."""
        try:
            if self.mechanism == "PLAIN":
                authzid, user, password = decode_plain(self.answers[0])
                if (user, password) != (self.username, self.password) or authzid not in (
                    "",
                    self.username,
                ):
                    return (
                        f"PLAIN credentials decode to authzid={authzid!r} user={user!r} password={password!r}, "
                        f"expected user={self.username!r} password={self.password!r}"
                    )
            elif self.mechanism == "LOGIN":
                got = [decode_base64(a).decode("utf-8", "replace") for a in self.answers]
                if len(got) != 2:
                    return f"LOGIN gave {len(got)} answer(s), expected 2 (the username, then the password)"
                if got != [self.username, self.password]:
                    return (
                        f"LOGIN answers decode to user={got[0]!r} password={got[1]!r}, "
                        f"expected user={self.username!r} password={self.password!r}"
                    )
            elif self.mechanism == "XOAUTH2":
                user, token = decode_xoauth2(self.answers[0])
                if (user, token) != (self.username, self.token):
                    return (
                        f"XOAUTH2 response is user={user!r} token={token!r}, "
                        f"expected user={self.username!r} token={self.token!r}"
                    )
            elif self.mechanism == "CRAM-MD5":
                challenge = decode_base64(self.prompts[0][4:].rstrip(b"\r\n"))
                user, _, digest = (
                    decode_base64(self.answers[0]).decode("utf-8", "replace").rpartition(" ")
                )
                wanted = cram_md5_digest(self.password, challenge)
                if user != self.username or digest != wanted:
                    return (
                        f"CRAM-MD5 answer is user={user!r} digest={digest!r}, expected user={self.username!r} "
                        f"digest={wanted!r} (lower-case hex HMAC-MD5 of the decoded challenge, RFC 2195 §2)"
                    )
        except RemoteProtocolError as exc:
            return f"{self.mechanism} answer is not valid: {exc}"
        return None


# --- the cursor ------------------------------------------------------------------------------


class Playback:
    """Plays one scenario for one connection.

    Feed it inputs (``start``, ``on_command``, ``on_data``, ``on_close``, ``on_timeout``,
    ``on_error``); each returns the actions the server must perform, in order. After a failure,
    or once the script is done, ``finished`` is True and the last actions close the connection.
    """

    def __init__(
        self, scenario: Scenario, *, composes_message: bool = False, script: Script | None = None
    ) -> None:
        """``script``: ``Script.compile(scenario)``, shared by the connections that play it."""
        self.scenario = scenario
        self.composes_message = composes_message  # the client writes its own message
        script = script or Script.compile(scenario)
        self._stack: Stack = (_Seq(script.nodes, 0),)
        self._memo = script.memo
        self._has_silence = script.has_silence
        self.failure: Failure | None = None
        self.finished = False
        self.extensions: Extensions | None = None
        self._ctx: MatchContext | None = None  # the matchers' context for ``extensions``
        self._auth: _AuthDialogue | None = None
        self._bdat: tuple[Unit, list[bytes]] | None = None  # a chunked message under way
        self._auth_unit: Unit | None = None
        self._last_verb = ""
        self._rset_before_quit = False  # an unscripted RSET was answered; QUIT must follow
        # Set once the server has said the session is over for anything but QUIT (a 421, or a
        # certificate the client had to refuse): why, the rule's words, and the rule id.
        self._only_quit: tuple[str, str, str] | None = None
        # The script's own ``close`` step ran (the server hung up, not just the end of script).
        self.hung_up = False
        # The client said HELO where the script has EHLO: the keywords the scripted EHLO reply
        # would have offered (RFC 5321 §3.2 lets a client use HELO). None: no such substitution.
        self.helo_for_ehlo: tuple[str, ...] | None = None
        # That HELO came as the first command after STARTTLS, where RFC 3207 §4.2 says the
        # client SHOULD send EHLO: legal, so it is graded non-strict, never a failure.
        self.helo_after_tls = False
        self._tls_fresh = False  # TLS has just started and no command has come since
        self._server_spoke = False  # the script has sent something (the greeting, mostly)
        # The last reply ends in a TLS start the client may refuse (``may_refuse``), and no
        # input has come since: a close now, even while that reply is still being written, is
        # the refusal the script allows.
        self._tls_refusable = False
        # The client said EHLO or HELO before the server said anything, where the script waits
        # for it to give up on a greeting that never comes: a SHOULD broken, graded non-strict.
        self.talked_first = False

    # -- inputs --

    def start(self) -> list[Action]:
        """Actions before the first client step (normally the greeting)."""
        return self._settle()

    def on_command(self, command: Command) -> list[Action]:
        if self.finished:
            return []
        self._tls_refusable = False
        if self._auth is not None:
            return self._auth_answer(command)
        if self._bdat is not None:
            if command.verb != "BDAT":
                unit = self._bdat[0]
                self._bdat = None
                return self._fail(
                    Failure(
                        kind="unexpected",
                        message="the client stopped sending BDAT chunks before LAST",
                        line=unit.line,
                        expected="BDAT <size> [LAST]",
                        actual=command.text,
                        hint="RFC 3030 §2: a message sent with BDAT ends with BDAT ... LAST",
                    )
                )
            return []  # the chunk follows
        return self._consume(command)

    def on_chunk(self, chunk: ChunkReceived) -> list[Action]:
        """The octets of one BDAT chunk (the parser reads them after the BDAT command)."""
        if self.finished:
            return []
        if self._bdat is None:
            return self._fail(
                self._failure_here("unexpected", "a BDAT chunk the script did not expect")
            )
        unit, chunks = self._bdat
        chunks.append(chunk.data)
        if not chunk.last:
            return [Send(data=f"250 2.0.0 {len(chunk.data)} octets received\r\n".encode())]
        self._bdat = None
        assert isinstance(unit.head, ClientStep)
        content = b"".join(chunks)
        message = self.scenario.client.message
        if content == message + b"\r\n" and not message.endswith(b"\r\n"):
            content = message  # a final CRLF added to a message without one is fine
        mismatch = match_content(unit.head, content, message, composed=self.composes_message)
        if mismatch is not None:
            return self._fail(
                Failure(
                    kind="unexpected",
                    message="unexpected BDAT content",
                    line=unit.line,
                    expected=unit.head.describe(),
                    actual=f"{len(content)} octets in {len(chunks)} chunk(s)",
                    hint=str(mismatch),
                    rule=mismatch.rule,
                    level=mismatch.level or unit.head.level,
                    wire=mismatch.level is not None,
                )
            )
        return self._run_unit(unit)

    def on_data(self, data: DataReceived) -> list[Action]:
        if self.finished:
            return []
        self._tls_refusable = False
        return self._consume(data)

    def on_close(self, *, while_writing: bool = False) -> list[Action]:
        """The client closed its side. Fine if all that is left is optional.

        ``while_writing``: the close was seen as a failed write, so the rest of the actions did
        not run. Before a TLS start the script lets the client refuse, that is the refusal: a
        client that discards plaintext after its STARTTLS (RFC 3207 §4.2) and starts the
        handshake while injected bytes still arrive (split in pieces) finds them in the TLS
        stream, fails the handshake and aborts, as RFC 3207 §4 says it SHOULD.
        """
        if self.finished:
            return []
        if while_writing and self._tls_refusable:
            self.finished = True
            return [Close()]
        candidates: list[tuple[Unit, Stack]] = []
        # An optional AUTH step may be left mid-way too.
        auth_done = self._auth is None or self._auth.step.optional
        if auth_done and self._bdat is None and _expand(self._stack, candidates, self._memo):
            self.finished = True
            return [Close()]
        message = "the client closed the connection before the script ended"
        return self._fail(self._failure_here("closed", message), send_abort=False)

    def end_here(self) -> None:
        """The session ends at this point by the script's leave (e.g. a refused TLS upgrade)."""
        self.finished = True

    def only_quit_from_now(self, why: str, *, hint: str, rule: str) -> None:
        """From now on a command other than QUIT that the script does not expect fails with
        ``why`` (the server said the session is over: a 421, or a certificate it had to refuse)."""
        if self._only_quit is None:
            self._only_quit = (why, hint, rule)

    def on_timeout(self, seconds: float) -> list[Action]:
        message = f"the client sent nothing for {seconds:g} s"
        return self._fail(self._failure_here("timeout", message, actual="(silence)"))

    def silence_wait(self) -> float | None:
        """Seconds after which client silence is the next step, if a silence step can come next."""
        if not self._has_silence or self._auth is not None or self._bdat is not None:
            return None
        candidates: list[tuple[Unit, Stack]] = []
        _expand(self._stack, candidates, self._memo)
        waits = [self._wait_seconds(u) for u, _ in candidates if _is_silence(u)]
        return min(waits) if waits else None

    def on_silence(self) -> list[Action]:
        """The client sent nothing for ``silence_wait()`` seconds: take the silence step."""
        candidates: list[tuple[Unit, Stack]] = []
        _expand(self._stack, candidates, self._memo)
        unit, after = min(
            ((u, a) for u, a in candidates if _is_silence(u)),
            key=lambda pair: self._wait_seconds(pair[0]),
        )
        if isinstance(unit.head, ClientStep) and unit.head.kind == "gives_up":
            # The server went silent and the client is still there: it waits forever.
            seconds, timeout = self._wait_seconds(unit), self.scenario.client.timeout
            return self._fail(
                Failure(
                    kind="hung",
                    message=f"hung: the client neither sent QUIT nor closed within {seconds:g} s "
                    f"of the server going silent (it was told client.timeout = {timeout:g} s)",
                    line=unit.line,
                    expected=unit.head.describe(),
                    actual="(still connected, silent)",
                    hint="RFC 5321 §4.5.3.2: an SMTP client MUST provide a timeout mechanism",
                    rule="R-TMO-2",
                ),
                send_abort=False,
            )
        self._stack = after
        return self._run_unit(unit)

    def on_error(
        self, kind: str, message: str, *, send_abort: bool = True, reply: bytes | None = None
    ) -> list[Action]:
        """A protocol or TLS error seen by the server: the session fails. A protocol error
        (bare LF in a command, an over-long line, bytes after STARTTLS) breaks a wire rule.
        ``reply``: said before closing instead of the usual 421."""
        failure = self._failure_here(kind, message)
        if kind == "protocol":
            failure = replace(failure, level=Level.MUST, wire=True)
        actions = self._fail(failure, send_abort=send_abort and reply is None)
        return [Send(data=reply), *actions] if reply is not None else actions

    def pending_steps(self) -> list[str]:
        """Descriptions of the steps that could come next (for reports)."""
        candidates: list[tuple[Unit, Stack]] = []
        _expand(self._stack, candidates, self._memo)
        return [_describe(u) for u, _ in candidates]

    # -- internals --

    def _wait_seconds(self, unit: Unit) -> float:
        """How long a silence or gives_up step waits before it is decided."""
        head = unit.head
        assert isinstance(head, ClientStep)
        if head.kind == "gives_up":
            return give_up_window(self.scenario.client.timeout or 0.0)
        return head.seconds

    def _context(self) -> MatchContext:
        ctx = self._ctx
        if ctx is None or ctx.extensions is not self.extensions:  # made anew only when they change
            ctx = self._ctx = MatchContext(
                task=self.scenario.client,
                extensions=self.extensions,
                composes_message=self.composes_message,
            )
        return ctx

    def _failure_here(self, kind: str, message: str, actual: str = "") -> Failure:
        """A Failure that names the step(s) the script was waiting for."""
        if self._auth is not None:
            step = self._auth.step
            return Failure(
                kind=kind,
                message=message,
                line=step.line,
                actual=actual,
                expected=f"an answer to the {self._auth.mechanism} prompt",
            )
        candidates: list[tuple[Unit, Stack]] = []
        _expand(self._stack, candidates, self._memo)
        if not candidates:
            return Failure(kind=kind, message=message, expected="(end of script)", actual=actual)
        required = [u for u, _ in candidates if not u.optional] or [u for u, _ in candidates]
        expected = " | ".join(dict.fromkeys(_describe(u) for u, _ in candidates))
        # Stopping where the script waits is graded at the level of the step(s) it waits for.
        levels = {_step_level(u) for u in required}
        return Failure(
            kind=kind,
            message=message,
            line=required[0].line,
            expected=expected,
            actual=actual,
            level=levels.pop() if len(levels) == 1 else None,
        )

    def _fail(self, failure: Failure, *, send_abort: bool = True) -> list[Action]:
        if self.failure is None:
            self.failure = failure
        self.finished = True
        return [Send(data=ABORT_REPLY), Close()] if send_abort else [Close()]

    def _consume(self, actual: Command | DataReceived) -> list[Action]:
        after_tls, self._tls_fresh = self._tls_fresh, False
        candidates: list[tuple[Unit, Stack]] = []
        _expand(self._stack, candidates, self._memo)
        ctx = self._context()
        if self._rset_before_quit and not (isinstance(actual, Command) and actual.verb == "QUIT"):
            return self._fail(
                Failure(
                    kind="unexpected",
                    message="unexpected command after the RSET taken as the one before QUIT",
                    line=candidates[0][0].line if candidates else 0,
                    expected="QUIT",
                    actual=actual.text if isinstance(actual, Command) else "DATA content",
                    hint="the script has no RSET here; one is accepted only immediately before "
                    "QUIT (RFC 5321 §4.1.1.5)",
                )
            )
        mismatches: list[tuple[Unit, Mismatch]] = []
        for unit, after in candidates:
            assert unit.head is not None
            if isinstance(unit.head, AuthStep):
                mismatch = self._auth_mismatch(unit.head, actual)
            else:
                mismatch = match_step(unit.head, actual, ctx)
            if mismatch is None:
                self._stack = after
                if isinstance(actual, Command):
                    self._last_verb = actual.verb
                if isinstance(unit.head, AuthStep):
                    assert isinstance(actual, Command)
                    return self._auth_begin(unit, actual)
                if unit.head.kind == "bdat":
                    self._bdat = (unit, [])
                    return []  # its chunk follows; the reply comes after LAST
                return self._run_unit(unit)
            mismatches.append((unit, mismatch))
        if self._spoke_before_greeting(actual, candidates):
            return []  # no reply: the greeting never comes, and the client must still give up
        shown = (
            actual.text
            if isinstance(actual, Command)
            else f"DATA content ({len(actual.wire)} octets)"
        )
        if self._only_quit is not None and not (
            isinstance(actual, Command) and actual.verb == "QUIT"
        ):
            why, hint, rule = self._only_quit
            verb = actual.verb if isinstance(actual, Command) else "message content"
            return self._fail(
                Failure(
                    kind="unexpected",
                    message=f"{why}: it sent {verb}",
                    line=min((u.line for u, _ in candidates), default=0),
                    expected="QUIT, or a close",
                    actual=shown,
                    hint=f"{hint} ({rule})",
                    rule=rule,
                )
            )
        if not candidates:
            return self._fail(
                Failure(
                    kind="unexpected",
                    message="the client sent more after the script ended",
                    expected="(end of script)",
                    actual=shown,
                )
            )
        if (
            isinstance(actual, Command)
            and actual.verb == "RSET"
            and not actual.argument
            and not self._rset_before_quit
            and any(
                isinstance(u.head, ClientStep) and match_step(u.head, _QUIT, ctx) is None
                for u, _ in candidates
            )
        ):
            self._rset_before_quit = True
            enhanced = self.extensions is not None and self.extensions.has("ENHANCEDSTATUSCODES")
            return [Send(data=b"250 2.0.0 OK\r\n" if enhanced else b"250 OK\r\n")]
        helo = self._helo_in_place_of_ehlo(actual, candidates, after_tls=after_tls)
        if helo is not None:
            return helo
        unit, mismatch = _closest(mismatches, actual)
        return self._fail(
            Failure(
                kind="unexpected",
                message=f"unexpected {'command' if isinstance(actual, Command) else 'DATA content'}",
                line=unit.line,
                expected=" | ".join(dict.fromkeys(_describe(u) for u, _ in mismatches)),
                actual=shown,
                hint=str(mismatch),
                rule=mismatch.rule,
                level=mismatch.level or _step_level(unit),
                wire=mismatch.level is not None,
            )
        )

    def _spoke_before_greeting(
        self, actual: Command | DataReceived, candidates: list[tuple[Unit, Stack]]
    ) -> bool:
        """Take the first EHLO or HELO sent before the server said anything, while the script
        waits for the client to give up on a silent server (``gives_up`` with no greeting).

        RFC 5321 §4.3.1: "The sender SHOULD wait for this greeting message before sending any
        commands" (R-GREET-2): speaking first is non-strict, and the client must still give up
        (QUIT or close in time), as a client whose EHLO got no reply must. A second command
        before a reply breaks the MUST of §4.3.1 ("the sender MUST wait for this response
        before sending further commands") and fails as any other command there does.
        """
        if self._server_spoke or self.talked_first or not isinstance(actual, Command):
            return False
        if actual.verb not in ("EHLO", "HELO"):
            return False
        if not any(
            isinstance(u.head, ClientStep) and u.head.kind == "gives_up" for u, _ in candidates
        ):
            return False
        self.talked_first = True
        self._last_verb = actual.verb
        return True

    def _helo_in_place_of_ehlo(
        self,
        actual: Command | DataReceived,
        candidates: list[tuple[Unit, Stack]],
        *,
        after_tls: bool = False,
    ) -> list[Action] | None:
        """Take a HELO where the script expects EHLO, if the task needs no extension.

        RFC 5321 §3.2 lets a client open with HELO; it then uses no extension. The server
        answers as the scripted server would answer HELO (a single 250 with the same domain,
        or the scripted 421/4xx), and the script goes on with no extensions advertised: a later
        step that only an EHLO client could take ends the run as not-exercised, while the wire
        rules still hold. The same holds for the first command after STARTTLS when the task needs
        nothing more than TLS (RFC 3207 §4.2: the client SHOULD send EHLO there), graded
        non-strict. None: this is not such a case.
        """
        if not isinstance(actual, Command) or actual.verb != "HELO" or self.helo_for_ehlo:
            return None
        task = self.scenario.client
        if after_tls:
            # Inside TLS the task must need no further extension (AUTH, DSN, SMTPUTF8).
            if replace(task, tls=TlsMode.NONE).required_extension:
                return None
        elif task.required_extension or self.extensions is not None:
            return None
        for unit, after in candidates:
            head = unit.head
            if not (
                isinstance(head, ClientStep)
                and head.kind == "match"
                and head.expected.upper().startswith("EHLO ")
            ):
                continue
            if match_step(
                replace(head, expected="HELO" + head.expected[4:]), actual, self._context()
            ):
                return None  # the HELO argument itself is wrong: report the EHLO mismatch
            reply, keywords = _helo_reply(unit.actions)
            self.helo_for_ehlo = keywords
            self.helo_after_tls = after_tls
            self._stack = after
            self._last_verb = "HELO"
            return self._run_unit(Unit(head=head, actions=reply))
        return None

    def _run_unit(self, unit: Unit) -> list[Action]:
        actions = list(unit.actions)
        self._observe_replies(actions)
        return actions + self._settle()

    def _settle(self) -> list[Action]:
        """Run headless units at the cursor; close when the script is exhausted."""
        actions: list[Action] = []
        while True:
            while self._stack:
                top = self._stack[-1]
                if (isinstance(top, _Seq) and top.index >= len(top.nodes)) or (
                    isinstance(top, _Grp) and not top.remaining
                ):
                    self._stack = self._stack[:-1]
                else:
                    break
            if not self._stack:
                self.finished = True
                return [*actions, Close()]
            top = self._stack[-1]
            if isinstance(top, _Seq):
                node = top.nodes[top.index]
                if isinstance(node, Unit) and node.head is None:
                    self._stack = (*self._stack[:-1], _Seq(top.nodes, top.index + 1))
                    more = list(node.actions)
                    self._observe_replies(more)
                    actions += more
                    continue
            if any(isinstance(a, Close) for a in actions):
                self.finished = True
            return actions

    def _observe_replies(self, actions: list[Action]) -> None:
        """Track the EHLO extensions and 354 from what the server is about to send."""
        writes_of_step = tuple(a.data for a in actions if isinstance(a, Send))
        if sum(map(len, writes_of_step)) <= _CACHED_REPLY_SIZE:
            own = _read_own_replies(writes_of_step)
        else:  # a huge reply is not kept in the cache
            own = _read_own_replies.__wrapped__(writes_of_step)
        last = own.last
        writes = -1
        for i, action in enumerate(list(actions)):
            if isinstance(action, StartTls):
                self.extensions = None  # RFC 3207 §4.2: everything learned before TLS is void
                self._tls_fresh = True
                self._tls_refusable = action.may_refuse
            if isinstance(action, Close):
                self.finished = True
                self.hung_up = True
            if not isinstance(action, Send):
                continue
            self._server_spoke = True
            writes += 1
            if writes == own.broken_at:
                if self._last_verb == "EHLO":  # a lenient client reads what it can
                    last = _salvage_ehlo(own.sent)
                break
            if writes == own.first_354 and self._last_verb == "DATA":
                actions.insert(i + 1, BeginData())
                self._last_verb = ""
        if self._last_verb == "DATA" and own.line_354:
            # A 354 in broken framing: a lenient client sends the message, so read it as one.
            at = max(i for i, a in enumerate(actions) if isinstance(a, Send))
            actions.insert(at + 1, BeginData())
            self._last_verb = ""
        if last is None:
            return
        if last.code == 421:
            self.only_quit_from_now(
                "the server answered 421 (closing the transmission channel) and the client went on",
                hint="RFC 5321 §3.8, §4.2.2: 421 means the server is shutting down and closing the "
                "channel; only QUIT may follow",
                rule="R-421-3",
            )
        if self._last_verb == "EHLO" and last.code == 250:
            self.extensions = own.extensions if last is own.last else Extensions.from_reply(last)
        elif self._last_verb == "HELO" and last.code == 250:
            self.extensions = Extensions()

    # -- AUTH --

    def _auth_mismatch(self, step: AuthStep, actual: Command | DataReceived) -> Mismatch | None:
        expected = step.describe()
        if not isinstance(actual, Command) or actual.verb != "AUTH":
            return Mismatch(
                field="verb", expected=expected, actual=getattr(actual, "text", "DATA content")
            )
        mechanism = actual.argument.split(" ")[0].upper()
        accepted = step.mechanisms or SUPPORTED_MECHANISMS
        if mechanism not in accepted:
            return Mismatch(field="mechanism", expected=" or ".join(accepted), actual=actual.text)
        if self.extensions is None or mechanism not in self.extensions.auth_mechanisms:
            offered = (
                "nothing"
                if self.extensions is None
                else " ".join(self.extensions.auth_mechanisms) or "no AUTH"
            )
            return Mismatch(
                field="mechanism",
                expected=f"a mechanism from the last EHLO reply ({offered})",
                actual=actual.text,
                hint="RFC 4954 §4 and RFC 5321 §2.2: use only what was advertised",
            )
        if step.reject is None and self.scenario.client.auth is None:
            return Mismatch(
                field="credentials",
                expected="client.auth in the scenario",
                actual="none",
                hint="an auth step that checks credentials needs client.auth",
            )
        return None

    def _auth_begin(self, unit: Unit, command: Command) -> list[Action]:
        step = unit.head
        assert isinstance(step, AuthStep)
        if step.reject is not None:
            return [Send(data=step.reject), *self._run_unit(Unit(head=None, actions=unit.actions))]
        creds = self.scenario.client.auth
        assert creds is not None
        words = command.argument.split(" ")
        mechanism = words[0].upper()
        prompts = (
            list(step.prompts)
            if step.prompts is not None
            else _AuthDialogue.default_prompts(mechanism)
        )
        dialogue = _AuthDialogue(
            step=step,
            mechanism=mechanism,
            username=creds.username,
            password=creds.password,
            token=creds.token,
            prompts=prompts,
        )
        dialogue.expected_answers = {"PLAIN": 1, "LOGIN": 2, "CRAM-MD5": 1, "XOAUTH2": 1}[mechanism]
        if len(words) > 2:
            return self._fail(
                Failure(
                    kind="auth",
                    message="malformed AUTH command",
                    line=step.line,
                    expected="AUTH mechanism [initial-response]",
                    actual=command.text,
                )
            )
        if len(words) == 2 and len(command.line) + 2 > 512:
            return self._fail(
                Failure(
                    kind="auth",
                    message="the AUTH command with its initial response is longer than 512 octets",
                    line=step.line,
                    expected="AUTH without the initial response, then the answer after a 334",
                    actual=f"{len(command.line) + 2} octets",
                    hint="RFC 4954 §4 (R-AUTH-9): the client MUST NOT use an initial response that breaks the limit",
                )
            )
        if len(words) == 2:
            if mechanism == "CRAM-MD5":
                return self._fail(
                    Failure(
                        kind="auth",
                        message="CRAM-MD5 has no initial response",
                        line=step.line,
                        expected="AUTH CRAM-MD5",
                        actual=command.text,
                        hint="RFC 2195 §2: the server speaks first",
                    )
                )
            dialogue.answers.append(b"" if words[1] == "=" else words[1].encode())
            if mechanism == "LOGIN":  # the username came early; skip the Username prompt
                dialogue.prompts = prompts[1:]
        self._auth, self._auth_unit = dialogue, unit
        return self._auth_next()

    def _auth_next(self) -> list[Action]:
        dialogue, unit = self._auth, self._auth_unit
        assert dialogue is not None and unit is not None
        if len(dialogue.answers) < dialogue.expected_answers:
            asked = dialogue.expected_answers - len(dialogue.answers)
            prompt = (
                dialogue.prompts[len(dialogue.prompts) - asked]
                if asked <= len(dialogue.prompts)
                else b"334 \r\n"
            )
            return [Send(data=prompt)]
        if dialogue.error_sent:
            # RFC-less but documented (Google, Microsoft): after the error challenge the client
            # sends an empty line and then gets the final reply (R-XOAUTH2-2).
            if dialogue.answers[-1] != b"":
                self._auth = self._auth_unit = None
                return self._fail(
                    Failure(
                        kind="auth",
                        message="the client did not answer the XOAUTH2 error challenge with an empty line",
                        line=dialogue.step.line,
                        expected="an empty line",
                        actual=repr(dialogue.answers[-1][:60]),
                        hint="R-XOAUTH2-2: the final 535/454 comes only after an empty response",
                    )
                )
        else:
            problem = dialogue.check()
            if problem is not None:
                self._auth = self._auth_unit = None
                return self._fail(
                    Failure(
                        kind="auth",
                        message="the AUTH answer does not match client.auth",
                        line=dialogue.step.line,
                        expected=dialogue.step.describe(),
                        actual=problem,
                    )
                )
            if dialogue.step.error is not None:
                dialogue.error_sent = True
                dialogue.expected_answers += 1
                return [Send(data=b"334 " + base64.b64encode(dialogue.step.error) + b"\r\n")]
        self._auth = self._auth_unit = None
        return [
            Send(data=dialogue.step.reply),
            *self._run_unit(Unit(head=None, actions=unit.actions)),
        ]

    def _auth_answer(self, command: Command) -> list[Action]:
        dialogue = self._auth
        assert dialogue is not None
        if command.line == b"*" and dialogue.error_sent:
            # RFC 4954 §4: the client may cancel any exchange with "*", and the server "MUST
            # reject the AUTH command by sending a 501 reply"; the login has failed either way.
            unit = self._auth_unit
            assert unit is not None
            self._auth = self._auth_unit = None
            return [
                Send(data=b"501 5.7.0 Authentication cancelled\r\n"),
                *self._run_unit(Unit(head=None, actions=unit.actions)),
            ]
        if command.line == b"*":
            self._auth = None
            return self._fail(
                Failure(
                    kind="auth",
                    message="the client cancelled AUTH with '*'",
                    line=dialogue.step.line,
                    expected=f"an answer to the {dialogue.mechanism} prompt",
                    actual="*",
                    hint="RFC 4954 §4: '*' cancels the exchange",
                )
            )
        dialogue.answers.append(command.line)
        return self._auth_next()


def _helo_reply(actions: tuple[Action, ...]) -> tuple[tuple[Action, ...], tuple[str, ...]]:
    """The scripted EHLO reply turned into a HELO reply, and the keywords it advertised.

    A 250 becomes ``250 <its first line>`` (RFC 5321 §4.1.1.1: HELO gets a single-line 250 with
    the domain); any other reply (a 421, a 554) is kept as scripted, since it answers any
    command. Delays and other server steps are kept; a split into pieces is kept only if it
    still fits.
    """
    out: list[Action] = []
    keywords: tuple[str, ...] = ()
    replaced = False
    for action in actions:
        if isinstance(action, Send) and not replaced:
            replaced = True
            parser = ReplyParser(allow_bare_lf=True)
            parser.receive_data(action.data)
            event: object
            try:
                event = parser.next_event()
            except RemoteProtocolError:
                event = _salvage_ehlo(action.data)
            if isinstance(event, Reply) and event.code == 250:
                keywords = tuple(Extensions.from_reply(event).keywords)
                first = event.lines[0] if event.lines else b""
                data = b"250 " + first + b"\r\n" if first else b"250\r\n"
                fits = action.split is None or all(o < len(data) for o in action.split)
                action = replace(action, data=data, split=action.split if fits else None)
        out.append(action)
    return tuple(out), keywords


@dataclass(frozen=True, slots=True)
class _OwnReplies:
    """What the server's own writes of one step say, read once per distinct step."""

    last: Reply | None  # the last complete reply (before a framing error, if any)
    first_354: int | None  # the write after which a 354 is the last complete reply, first
    broken_at: int | None  # the write whose framing broke the reply parser
    sent: bytes  # the writes, joined, up to the broken one
    line_354: bool  # a line of ``sent`` starts with 354
    # ``last`` read as an EHLO reply (if it is a 250): Extensions are immutable, so one parse
    # serves every session that plays this step.
    extensions: Extensions | None


_CACHED_REPLY_SIZE = 65536


@functools.lru_cache(maxsize=1024)
def _read_own_replies(writes: tuple[bytes, ...]) -> _OwnReplies:
    """Parse the server's own writes as a client would. A script's steps repeat for every
    connection, so this runs once per distinct step, not once per session."""
    parser = ReplyParser(allow_bare_lf=True)
    last: Reply | None = None
    first_354 = broken_at = None
    sent = b""
    for n, data in enumerate(writes):
        sent += data
        parser.receive_data(data)
        try:
            while not isinstance(event := parser.next_event(), NeedData):
                if isinstance(event, Reply):
                    last = event
        except RemoteProtocolError:
            broken_at = n
            break
        if first_354 is None and last is not None and last.code == 354:
            first_354 = n
    extensions = Extensions.from_reply(last) if last is not None and last.code == 250 else None
    return _OwnReplies(last, first_354, broken_at, sent, bool(_LINE_354.search(sent)), extensions)


def _salvage_ehlo(sent: bytes) -> Reply | None:
    """The 250 lines of an EHLO reply in broken framing, as a lenient client would read them."""
    lines = [m.group(1) for m in _LINE_250.finditer(sent)]
    return Reply(code=250, lines=tuple(lines)) if lines else None


_LINE_250 = re.compile(rb"(?m)^250[ -]?([^\r\n\x00]*)")
_LINE_354 = re.compile(rb"(?:^|[\r\n])354")


_WAITS = ("silence", "gives_up")  # client steps decided by the clock, not by a command


def _any_silence(steps: tuple[Step, ...]) -> bool:
    for step in steps:
        if isinstance(step, ClientStep) and step.kind in _WAITS:
            return True
        branches = (
            step.branches
            if isinstance(step, AnyOf)
            else step.groups
            if isinstance(step, Unordered)
            else ()
        )
        if any(_any_silence(b) for b in branches):
            return True
    return False


def _is_silence(unit: Unit) -> bool:
    return isinstance(unit.head, ClientStep) and unit.head.kind in _WAITS


def _step_level(unit: Unit) -> Level | None:
    return unit.head.level if unit.head is not None else None


def _describe(unit: Unit) -> str:
    return unit.head.describe() if unit.head is not None else "(server steps)"


def _closest(
    mismatches: list[tuple[Unit, Mismatch]], actual: Command | DataReceived
) -> tuple[Unit, Mismatch]:
    """The candidate nearest to what was sent: same verb first, then the first required one."""
    verb = actual.verb if isinstance(actual, Command) else ""
    for unit, mismatch in mismatches:
        if mismatch.field != "verb" and (verb or isinstance(actual, DataReceived)):
            return unit, mismatch
    required = [(u, m) for u, m in mismatches if not u.optional]
    return (required or mismatches)[0]
