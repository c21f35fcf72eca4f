"""The reference client as a sans-IO state machine: replies in, commands and actions out.

Rules (each cites the RFC it follows):
- Every command we send is queued with what its reply means (a *pending* entry). Replies are
  matched to the queue in order, so pipelining (RFC 2920 §3.1) and lock-step share one path,
  and every reply of a pipelined group is checked (R-PIPE-3).
- The handler for each kind of pending command is looked up in ``_HANDLERS``: that table is the
  state machine.
- A reply code is interpreted by its first digit (RFC 5321 §4.2.1), never by its text.
- 421 to anything but QUIT ends the session at once, with no further command (§3.8).
- Extensions are used only when the *current* EHLO reply advertised them (§2.2); STARTTLS
  discards what was learned before (RFC 3207 §4.2), and the client says EHLO again.
- Once finished (or after an error) the machine ignores further input.
- Where the RFCs leave a choice, a ``ClientVariant`` (variant.py) decides; the default is strict.
"""

from __future__ import annotations

import base64
import binascii
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.client.compose import regenerate_message
from harness.client.variant import STRICT, ClientVariant
from harness.errors import RemoteProtocolError
from harness.outcome import ClientOutcome
from harness.protocol.auth import (
    cram_md5_response,
    login_response,
    plain_response,
    xoauth2_response,
)
from harness.protocol.commands import Command
from harness.protocol.data import encode_data
from harness.protocol.ehlo import Extensions
from harness.protocol.events import ConnectionClosed, NeedData
from harness.protocol.replies import Reply, ReplyParser
from harness.scenario.model import ClientTask, Operation, Outcome, TlsMode

__all__ = [
    "AUTH_PREFERENCE",
    "ClientMachine",
    "CloseConnection",
    "StartTls",
    "Write",
    "local_refusal",
]

AUTH_PREFERENCE = ("XOAUTH2", "CRAM-MD5", "PLAIN", "LOGIN")  # XOAUTH2 only with a token
MAX_COMMAND_LINE = 512  # RFC 5321 §4.5.3.1.4, including CRLF
# AUTH replies after which another mechanism may be tried (RFC 4954 §6, R-AUTH-6, R-EHLO-8):
# the mechanism was refused, not the credentials. 535 (bad credentials) and 4xx stop.
_TRY_NEXT_MECHANISM = {500, 501, 502, 504, 534, 538, 550, 553, 554}


@dataclass(frozen=True, slots=True)
class Write:
    data: bytes


@dataclass(frozen=True, slots=True)
class StartTls:
    """Begin the TLS handshake now; call ``tls_established()`` when it is done."""


@dataclass(frozen=True, slots=True)
class CloseConnection:
    pass


ClientAction = Write | StartTls | CloseConnection


@dataclass(slots=True)
class _Pending:
    kind: str
    info: str = ""


@dataclass(slots=True)
class _Transaction:
    pipelined: bool
    mail: Reply | None = None
    rcpt: dict[str, Reply] = field(default_factory=dict)
    data: Reply | None = None
    end: Reply | None = None

    @property
    def accepted(self) -> list[str]:
        return [r for r, reply in self.rcpt.items() if reply.klass == 2]

    def failure(self) -> Reply | None:
        """The reply that failed the transaction, by order of the commands."""
        if self.mail is not None and self.mail.klass != 2:
            return self.mail
        if self.rcpt and not self.accepted:
            return next(iter(self.rcpt.values()))
        if self.data is not None and self.data.code != 354:
            return self.data
        if self.end is not None and self.end.klass != 2:
            return self.end
        return None


def xtext(value: str) -> str:
    """RFC 3461 §4: '+', '=' and characters outside '!'..'~' become +XX."""
    return "".join(
        c if "!" <= c <= "~" and c not in "+=" else "".join(f"+{b:02X}" for b in c.encode())
        for c in value
    )


def local_refusal(task: ClientTask, variant: ClientVariant = STRICT) -> str | None:
    """Why the client refuses the task's addresses without asking any server, or None.

    RFC 5321 §2.3.8, §4.1.2: no CR, LF or NUL in a path (sending one would inject commands); a
    client without SMTPUTF8 (RFC 6531) cannot send a non-ASCII address at all.
    """
    addresses = [task.mail_from, *task.rcpt_to]
    if any(c in a for a in addresses for c in "\r\n\x00"):
        return "an address contains CR, LF or NUL"
    if not variant.smtputf8 and any(not a.isascii() for a in addresses):
        return "non-ASCII address but this client does not support SMTPUTF8"
    return None


class ClientMachine:
    """One SMTP session for one task.

    Args:
        task: what to do.
        ehlo_name: the domain or address literal to send in EHLO/HELO.
        max_reply_line: longest reply line accepted.
        variant: the legal choices to make where the RFCs leave one (default: strict).
    """

    def __init__(
        self,
        task: ClientTask,
        *,
        ehlo_name: str,
        max_reply_line: int = 65536,
        variant: ClientVariant = STRICT,
    ) -> None:
        self.task = task
        self.variant = variant
        self._message = (
            regenerate_message(
                task.message, domain=_msgid_domain(task.mail_from), replace_ids=variant.compose
            )
            if variant.regenerate or variant.compose
            else task.message
        )
        self.ehlo_name = ehlo_name
        self.parser = ReplyParser(max_line=max_reply_line)
        self.tls_active = task.tls is TlsMode.IMPLICIT
        self.extensions: Extensions | None = None
        self.finished = False
        self._expect: deque[_Pending] = deque([_Pending("greeting")])
        self._actions: list[ClientAction] = []
        self._ops: deque[Operation] = deque(task.operations)
        self._replies: list[int] = []
        self._sends: list[tuple[bool, Reply | None, str]] = []  # (delivered, failing reply, why)
        self._recipients: dict[str, int] = {}
        self._failure: tuple[int | None, str] | None = None
        self._mechanisms: deque[str] = deque()
        self._auth_answers = 0
        self._tx: _Transaction | None = None
        self._rcpt_params: list[str] = []
        self._quit_sent = False
        self._rset_before_quit_sent = False
        self.outcome: ClientOutcome | None = None

    # -- inputs --

    def receive_data(self, data: bytes) -> list[ClientAction]:
        """Feed bytes from the server (``b""`` = it closed); returns what to do next."""
        if self.finished:
            return []
        self.parser.receive_data(data)
        # Only commands already written can have replies in these bytes; anything beyond is a
        # reply to nothing, even if we are about to send the next command.
        answerable = len(self._expect)
        while not self.finished:
            try:
                event = self.parser.next_event()
            except RemoteProtocolError as exc:
                self._abort(None, f"protocol error from the server: {exc}")
                break
            if isinstance(event, NeedData):
                break
            if isinstance(event, ConnectionClosed):
                if self._quit_sent:
                    self._finish()
                elif self.variant.report_lost_connection:
                    # RFC 5321 §3.8: the connection was lost; say so rather than guess a code.
                    self._abort(None, "the server closed the connection")
                else:
                    # A reply that already failed the transaction is the reason to report, not
                    # the close that followed it (R-PIPE-3; MailKit's bug, Q#45).
                    failing = self._tx.failure() if self._tx is not None else None
                    if failing is not None:
                        self._abort(
                            failing.code, f"{failing.code} {failing.text} (then the server closed)"
                        )
                    else:
                        self._abort(None, "the server closed the connection")
                break
            if answerable == 0 or not self._expect:
                if event.code == 421:  # a server that is going away says so unasked (R-421-1)
                    self._abort(421, f"421 {event.text}")
                else:
                    self._abort(
                        None, f"unsolicited reply from the server: {event.code} {event.text[:80]}"
                    )
                break
            answerable -= 1
            pending = self._expect.popleft()
            if event.code == 421 and pending.kind != "quit":
                # RFC 5321 §3.8: the server is closing; send nothing more (R-421-1, R-EHLO-6).
                self._abort(421, f"421 {event.text}")
                break
            _HANDLERS[pending.kind](self, event, pending)
        return self._take()

    def tls_established(self) -> list[ClientAction]:
        """The handshake after STARTTLS succeeded: forget the old extensions, EHLO again."""
        self.tls_active = True
        self.extensions = None
        self._command(f"EHLO {self.ehlo_name}", "ehlo")
        return self._take()

    def fail(self, message: str) -> list[ClientAction]:
        """The driver gave up (timeout, TLS failure): end with a failure and close."""
        if not self.finished:
            self._abort(None, message)
        return self._take()

    def message_wire(self) -> bytes:
        """Everything sent after 354: the stuffed message and the final ``.\r\n``."""
        return encode_data(self._message)

    # -- plumbing --

    def _take(self) -> list[ClientAction]:
        actions, self._actions = self._actions, []
        return actions

    def _command(self, text: str, kind: str, info: str = "") -> None:
        self._actions.append(Write(Command.build(*text.split(" ", 1)).to_bytes()))
        self._expect.append(_Pending(kind, info))

    def _abort(self, code: int | None, message: str) -> None:
        if self._failure is None:
            self._failure = (code, message)
        self._actions.append(CloseConnection())
        self._finish()

    def _fail_and_quit(self, code: int | None, message: str) -> None:
        if self._failure is None:
            self._failure = (code, message)
        if not self.variant.quit_after_error:
            self._abort(code, message)
            return
        self._quit()

    def _quit(self) -> None:
        if (
            self.variant.rset_before_quit
            and self.extensions is not None
            and not self._rset_before_quit_sent
        ):
            self._rset_before_quit_sent = True
            self._command("RSET", "rset_quit")
            return
        self._quit_sent = True
        self._command("QUIT", "quit")

    def _on_rset_quit(self, reply: Reply, pending: _Pending) -> None:
        self._quit()  # whatever RSET got, the session ends

    def _finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        self._expect.clear()
        self.outcome = self._build_outcome()

    def _build_outcome(self) -> ClientOutcome:
        sends = [op for op in self.task.operations if op.kind == "send"]
        replies = tuple(self._replies)
        if self._failure is not None and (len(self._sends) < len(sends) or not sends):
            code, message = self._failure
            return ClientOutcome(outcome=Outcome.FAILED, code=code, message=message,
                                 recipients=dict(self._recipients), replies=replies or None)  # fmt: skip
        if not sends:
            return ClientOutcome(outcome=Outcome.COMPLETED, replies=replies)
        for delivered, reply, why in self._sends:
            if not delivered:
                return ClientOutcome(outcome=Outcome.FAILED, code=reply.code if reply else None,
                                     message=f"{reply.code} {reply.text}" if reply else why,
                                     recipients=dict(self._recipients), replies=replies or None)  # fmt: skip
        return ClientOutcome(outcome=Outcome.DELIVERED, recipients=dict(self._recipients),
                             replies=replies or None)  # fmt: skip

    # -- session set-up --

    def _on_greeting(self, reply: Reply, pending: _Pending) -> None:
        if reply.code != 220:
            # RFC 5321 §3.1: a 554 greeting means no service; QUIT is still allowed (R-GREET-3).
            self._fail_and_quit(reply.code, f"greeting {reply.code} {reply.text}")
            return
        if self.variant.helo and not self.needs_extension():
            self._command(f"HELO {self.ehlo_name}", "helo")  # RFC 5321 §3.2: HELO is allowed
            return
        self._command(f"EHLO {self.ehlo_name}", "ehlo")

    def needs_extension(self) -> bool:
        """Whether the task can only be done with an SMTP extension, so EHLO is a must:
        STARTTLS, AUTH, DSN, SMTPUTF8 (a non-ASCII address) or 8BITMIME (an 8-bit message)."""
        task = self.task
        addresses = [task.mail_from, *task.rcpt_to]
        return (
            task.tls is TlsMode.STARTTLS
            or task.auth is not None
            or task.dsn is not None
            or (self.variant.smtputf8 and any(not a.isascii() for a in addresses))
            or not self._message.isascii()  # an 8-bit message
        )

    def _on_ehlo(self, reply: Reply, pending: _Pending) -> None:
        if reply.klass == 2:
            self.extensions = Extensions.from_reply(reply)
            self._after_hello()
        elif reply.klass == 5:
            # RFC 5321 §4.1.4: a server without EHLO answers 5xx; fall back to HELO (R-EHLO-5).
            self._command(f"HELO {self.ehlo_name}", "helo")
        else:
            self._fail_and_quit(reply.code, f"EHLO refused: {reply.code} {reply.text}")

    def _on_helo(self, reply: Reply, pending: _Pending) -> None:
        if reply.klass != 2:
            self._fail_and_quit(reply.code, f"HELO refused: {reply.code} {reply.text}")
            return
        self.extensions = Extensions()  # HELO means no extensions at all
        self._after_hello()

    def _after_hello(self) -> None:
        ext = self.extensions
        assert ext is not None
        if self.task.tls is TlsMode.STARTTLS and not self.tls_active:
            if not ext.has("STARTTLS"):
                # RFC 3207 §6 (R-TLS-7): with TLS required, a missing STARTTLS is a failure.
                self._fail_and_quit(
                    None, "TLS is required but the server did not advertise STARTTLS"
                )
                return
            self._command("STARTTLS", "starttls")
            return
        if self.task.auth is not None:
            self._begin_auth()
            return
        self._next_operation()

    def _on_starttls(self, reply: Reply, pending: _Pending) -> None:
        if reply.code != 220:
            # RFC 3207 §4 (R-TLS-2): TLS is required, so 454/501 end the attempt.
            self._fail_and_quit(reply.code, f"STARTTLS refused: {reply.code} {reply.text}")
            return
        if self.parser.pending:
            # RFC 3207 §6: bytes after the 220 arrived in plaintext and must not be trusted.
            self._abort(
                None, f"the server sent {self.parser.pending[:60]!r} after its 220 to STARTTLS"
            )
            return
        self._actions.append(StartTls())

    # -- AUTH (RFC 4954) --

    def _begin_auth(self) -> None:
        creds = self.task.auth
        ext = self.extensions
        assert creds is not None and ext is not None
        if not ext.has("AUTH"):
            self._fail_and_quit(
                None, "credentials were given but the server did not advertise AUTH"
            )
            return
        usable = {"XOAUTH2"} if creds.token else set()
        if creds.password:
            usable |= {"CRAM-MD5", "PLAIN", "LOGIN"}
        self._mechanisms = deque(self._auth_order(ext.auth_mechanisms, usable))
        if not self._mechanisms:
            self._fail_and_quit(
                None, f"no usable AUTH mechanism among {' '.join(ext.auth_mechanisms)}"
            )
            return
        self._try_mechanism()

    def _auth_order(self, offered: tuple[str, ...], usable: set[str]) -> list[str]:
        """The offered, usable mechanisms in the order to try them. Mechanisms the task names
        are tried in its order; otherwise the variant picks (RFC 4954 §4 leaves the choice to
        the client)."""
        names = self.task.auth.mechanisms if self.task.auth else ()
        candidates = [m for m in offered if m in usable]
        if names:
            return [m for m in names if m in candidates]
        if self.variant.auth_order == "last-offered":
            return candidates[::-1]
        if self.variant.auth_order == "seeded":
            random.Random(self.variant.seed).shuffle(candidates)
            return candidates
        return [m for m in AUTH_PREFERENCE if m in candidates]

    def _try_mechanism(self) -> None:
        creds = self.task.auth
        assert creds is not None
        mechanism = self._mechanisms.popleft()
        self._auth_answers = 0
        if mechanism in ("PLAIN", "XOAUTH2"):
            ir = self._first_answer(mechanism).decode()
            # RFC 4954 §4 (R-AUTH-9): no initial response that would break the 512-octet limit.
            if len(f"AUTH {mechanism} {ir}\r\n") <= MAX_COMMAND_LINE:
                self._auth_answers = 1
                self._command(f"AUTH {mechanism} {ir}", "auth", mechanism)
                return
        self._command(f"AUTH {mechanism}", "auth", mechanism)

    def _on_auth(self, reply: Reply, pending: _Pending) -> None:
        creds = self.task.auth
        assert creds is not None
        mechanism = pending.info
        if reply.code == 334:
            answer = self._auth_answer(mechanism, reply)
            self._auth_answers += 1
            # RFC 4954 §4: '*' cancels; the server then answers 501.
            self._actions.append(Write((answer if answer is not None else b"*") + b"\r\n"))
            self._expect.append(_Pending("auth", mechanism))
            return
        if reply.klass == 2:
            self._next_operation()
            return
        if reply.code in _TRY_NEXT_MECHANISM and self._mechanisms:
            self._try_mechanism()
            return
        self._fail_and_quit(reply.code, f"AUTH {mechanism} failed: {reply.code} {reply.text}")

    def _first_answer(self, mechanism: str) -> bytes:
        creds = self.task.auth
        assert creds is not None
        if mechanism == "XOAUTH2":
            return xoauth2_response(creds.username, creds.token)
        return plain_response(creds.username, creds.password)

    def _auth_answer(self, mechanism: str, challenge: Reply) -> bytes | None:
        """The base64 answer to a 334, or None to cancel."""
        creds = self.task.auth
        assert creds is not None
        n = self._auth_answers
        if mechanism in ("PLAIN", "XOAUTH2") and n == 0:
            return self._first_answer(mechanism)
        if mechanism == "XOAUTH2" and n == 1:
            # The 334 after our token carries a JSON error; an empty line gets the final reply
            # (R-XOAUTH2-2). A '*' or silence here is the Q#27/Q#28 bug.
            return b""
        if mechanism == "LOGIN" and n < 2:
            # The prompt text is ignored on purpose (R-LOGIN-1): servers word it differently.
            return login_response(creds.username if n == 0 else creds.password)
        if mechanism == "CRAM-MD5" and n == 0:
            try:
                decoded = base64.b64decode(challenge.lines[0].strip(), validate=True)
            except (binascii.Error, ValueError):
                return None
            return cram_md5_response(creds.username, creds.password, decoded)
        return None

    # -- operations --

    def _next_operation(self) -> None:
        if not self._ops:
            self._quit()
            return
        op = self._ops.popleft()
        if op.kind == "send":
            self._begin_send()
        else:
            self._command(f"{op.kind.upper()} {op.argument}".rstrip(), "operation")

    def _on_operation(self, reply: Reply, pending: _Pending) -> None:
        self._replies.append(reply.code)
        self._next_operation()

    def _on_rset(self, reply: Reply, pending: _Pending) -> None:
        self._next_operation()

    def _send_failed_locally(self, why: str) -> None:
        self._sends.append((False, None, why))
        self._after_transaction(needs_rset=False)  # nothing was sent, so nothing to reset

    def _begin_send(self) -> None:
        ext = self.extensions
        assert ext is not None
        task = self.task
        wire = self.message_wire()
        params: list[str] = []
        addresses = [task.mail_from, *task.rcpt_to]
        if not task.rcpt_to:
            self._send_failed_locally("no recipients")
            return
        refusal = local_refusal(task, self.variant)
        if refusal is not None:
            self._send_failed_locally(refusal)
            return
        if any(not a.isascii() for a in addresses):
            if not ext.has("SMTPUTF8"):
                # RFC 6531 §3.4 (R-UTF8-1): non-ASCII addresses need SMTPUTF8.
                self._send_failed_locally(
                    "non-ASCII address but the server did not advertise SMTPUTF8"
                )
                return
            params.append("SMTPUTF8")
        if not self._message.isascii():  # any octet >= 0x80
            if ext.has("8BITMIME"):
                params.append("BODY=8BITMIME")  # RFC 6152 §3
            elif "SMTPUTF8" not in params:
                self._send_failed_locally("8-bit message but the server did not advertise 8BITMIME")
                return
        limit = ext.size_limit
        if limit and len(wire) > limit:
            # RFC 1870 §6 (R-SIZE-2): do not send what the server said it will refuse.
            self._send_failed_locally(
                f"message of {len(wire)} octets exceeds the advertised SIZE {limit}"
            )
            return
        if ext.has("SIZE"):
            params.append(f"SIZE={len(wire)}")
        rcpt_params: list[str] = []
        if task.dsn is not None and ext.has("DSN"):
            # RFC 3461 §4: only when DSN was advertised (R-DSN-1); ENVID and ORCPT are xtext.
            if task.dsn.ret:
                params.append(f"RET={task.dsn.ret}")
            if task.dsn.envid:
                params.append(f"ENVID={xtext(task.dsn.envid)}")
            if task.dsn.notify:
                rcpt_params.append("NOTIFY=" + ",".join(task.dsn.notify))
        self._rcpt_params = rcpt_params
        mail = " ".join([f"MAIL FROM:<{task.mail_from}>", *params])
        pipelined = ext.has("PIPELINING") and self.variant.pipelining
        self._tx = _Transaction(pipelined=pipelined)
        if pipelined:
            # RFC 2920 §3.1: MAIL, every RCPT and DATA as one group; DATA ends it.
            self._command(mail, "mail")
            for rcpt in task.rcpt_to:
                self._command(self._rcpt_command(rcpt), "rcpt", rcpt)
            self._command("DATA", "data")
        else:
            self._command(mail, "mail")

    def _rcpt_command(self, rcpt: str) -> str:
        params = list(self._rcpt_params)
        if params:  # with NOTIFY, say who the recipient originally was (RFC 3461 §4.2)
            params.append(f"ORCPT=rfc822;{xtext(rcpt)}")
        return " ".join([f"RCPT TO:<{rcpt}>", *params])

    def _on_mail(self, reply: Reply, pending: _Pending) -> None:
        tx = self._tx
        assert tx is not None
        tx.mail = reply
        if tx.pipelined:
            return
        if reply.klass != 2:
            self._end_transaction()
            return
        self._command(self._rcpt_command(self.task.rcpt_to[0]), "rcpt", self.task.rcpt_to[0])

    def _on_rcpt(self, reply: Reply, pending: _Pending) -> None:
        tx = self._tx
        assert tx is not None
        tx.rcpt[pending.info] = reply
        self._recipients[pending.info] = reply.code
        if tx.pipelined:
            return
        done = len(tx.rcpt)
        if done < len(self.task.rcpt_to):
            rcpt = self.task.rcpt_to[done]
            self._command(self._rcpt_command(rcpt), "rcpt", rcpt)
        elif tx.accepted:
            self._command("DATA", "data")
        else:
            self._end_transaction()  # RFC 5321 §3.3: no accepted recipient, no DATA (R-TX-4)

    def _on_data(self, reply: Reply, pending: _Pending) -> None:
        tx = self._tx
        assert tx is not None
        tx.data = reply
        if reply.code != 354:
            self._end_transaction()
            return
        if tx.mail is not None and tx.mail.klass == 2 and tx.accepted:
            self._actions.append(Write(self.message_wire()))
        else:
            # RFC 2920 §3.1: a pipelined DATA got 354 although nothing was accepted: end it empty.
            self._actions.append(Write(b".\r\n"))
        self._expect.append(_Pending("data_end"))

    def _on_data_end(self, reply: Reply, pending: _Pending) -> None:
        tx = self._tx
        assert tx is not None
        tx.end = reply
        self._end_transaction()

    def _end_transaction(self) -> None:
        tx = self._tx
        assert tx is not None
        self._tx = None
        failing = tx.failure()
        if failing is None and tx.end is None:
            failing = tx.data  # no reply to end of data can only mean DATA itself failed
        self._sends.append((failing is None, failing, ""))
        self._after_transaction(needs_rset=failing is not None)

    def _after_transaction(self, *, needs_rset: bool) -> None:
        if needs_rset and self._ops:
            self._command("RSET", "rset")  # RFC 5321 §4.1.1.5: clear the failed transaction
        elif not self._ops and not self.variant.quit_after_error and not self._sends[-1][0]:
            # The send failed and nothing is left to do: close without QUIT (the variant).
            self._actions.append(CloseConnection())
            self._finish()
        else:
            self._next_operation()

    def _on_quit(self, reply: Reply, pending: _Pending) -> None:
        # Any reply (or none) to QUIT is fine once the work is done (R-QUIT-1).
        self._actions.append(CloseConnection())
        self._finish()


_HANDLERS: dict[str, Callable[[ClientMachine, Reply, _Pending], None]] = {
    "greeting": ClientMachine._on_greeting,
    "ehlo": ClientMachine._on_ehlo,
    "helo": ClientMachine._on_helo,
    "starttls": ClientMachine._on_starttls,
    "auth": ClientMachine._on_auth,
    "operation": ClientMachine._on_operation,
    "rset": ClientMachine._on_rset,
    "rset_quit": ClientMachine._on_rset_quit,
    "mail": ClientMachine._on_mail,
    "rcpt": ClientMachine._on_rcpt,
    "data": ClientMachine._on_data,
    "data_end": ClientMachine._on_data_end,
    "quit": ClientMachine._on_quit,
}


def _msgid_domain(mail_from: str) -> str:
    """The sender's domain for a new Message-ID (RFC 5322 §3.6.4), or a reserved name."""
    domain = mail_from.rpartition("@")[2]
    return domain if domain and domain.isascii() and "@" in mail_from else "localhost.invalid"
