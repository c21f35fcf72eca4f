"""The profile engine: one session of a stateful server that answers as a named real server does,
and checks the wire as strictly as the scripted server. Sans-IO: commands in, actions out.

Unlike a script, it takes any envelope, any number of recipients and messages, in any order the
real server accepts. What it checks (each a Finding with its rule; see fake_servers/findings.py):

- R-LINE-1 CRLF only (commands and message), R-DOT-1 dot-stuffing, R-LINE-5 / RFC 5322 §2.1.1
  text lines of at most 998 octets, R-8BIT-1 8-bit data only with BODY=8BITMIME (or SMTPUTF8);
- R-EXT-1 only what the current EHLO reply advertised (AUTH, STARTTLS, SIZE=, BODY=, SMTPUTF8,
  DSN parameters), R-PIPE-1 pipelining only when advertised, R-PIPE-2 EHLO/DATA/QUIT/NOOP... only
  last in a group, R-TLS-6 nothing after STARTTLS (checked by the I/O layer);
- R-TLS-3 EHLO again after STARTTLS, R-TX-1 path syntax, R-TX-2 command order, R-AUTH-5/7/9;
- and, graded non-strict (shown, never failing): a password sent in clear where the server
  offers that, a command line over 512 octets (RFC 5321 §4.5.3.1: "SHOULD be avoided"), a Bcc
  header that reaches the To/Cc recipients.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import TYPE_CHECKING

from fake_servers.findings import Finding
from fake_servers.profiles.knobs import Knob, Knobs
from fake_servers.profiles.model import Profile, Said, said
from harness.errors import RemoteProtocolError
from harness.protocol.auth import decode_base64, decode_plain, decode_xoauth2
from harness.protocol.commands import Command, PathArgument, parse_path_argument
from harness.protocol.data import bare_line_end_offsets, dot_unstuff
from harness.protocol.ehlo import Extensions

if TYPE_CHECKING:
    from collections import Counter

__all__ = ["Action", "BeginData", "Close", "ProfileEngine", "Received", "Send", "Stall", "StartTls"]

MAX_COMMAND_LINE = 512  # octets including CRLF, RFC 5321 §4.5.3.1.4
MAX_TEXT_LINE = 1000  # octets including CRLF, RFC 5321 §4.5.3.1.6, RFC 5322 §2.1.1
LAST_IN_GROUP = ("EHLO", "DATA", "VRFY", "EXPN", "TURN", "QUIT", "NOOP")  # RFC 2920 §3.1
GREYLIST = said("Mailu#1742 (rspamd greylisting), server-quirks §11", "451 4.7.1 Try again later")
AUTH_ABORTED = said(
    "jakartaee/mail-api#155 (Postfix), server-quirks §7", "501 5.7.0 Authentication aborted"
)


@dataclass(frozen=True, slots=True)
class Send:
    data: bytes


@dataclass(frozen=True, slots=True)
class StartTls:
    pass


@dataclass(frozen=True, slots=True)
class BeginData:
    pass


@dataclass(frozen=True, slots=True)
class Close:
    pass


@dataclass(frozen=True, slots=True)
class Stall:
    """Answer nothing more: read on until the client gives up."""


Action = Send | StartTls | BeginData | Close | Stall


@dataclass(slots=True, kw_only=True)
class Received:
    """One message the server accepted, as the test gets it.

    Attributes:
        session: the 1-based session it came in.
        mail_from: the reverse path (``""`` for ``<>``); mail_params: MAIL's ESMTP parameters.
        rcpt_to: the accepted recipients, in order; rcpt_params: each one's RCPT parameters.
        tls: whether TLS was on; tls_version: e.g. ``TLSv1.3``.
        auth_user: who authenticated, or None.
        helo: the EHLO/HELO argument.
        content: the message as the client meant it (un-stuffed, CRLF line ends).
        message: ``content`` parsed (``email.policy.default``).
    """

    session: int
    mail_from: str
    mail_params: dict[str, str | None]
    rcpt_to: list[str]
    rcpt_params: dict[str, dict[str, str | None]]
    tls: bool
    tls_version: str | None
    auth_user: str | None
    helo: str
    content: bytes
    message: EmailMessage


@dataclass(slots=True)
class _Auth:
    mechanism: str
    step: int = 0
    username: str = ""


@dataclass(slots=True)
class _Transaction:
    mail_from: str = ""
    mail_params: dict[str, str | None] = field(default_factory=dict)
    rcpts: list[str] = field(default_factory=list)
    rcpt_params: dict[str, dict[str, str | None]] = field(default_factory=dict)


class ProfileEngine:
    """One connection to a profile server.

    Args:
        profile: the server to be.
        number: this session's 1-based number.
        knobs: requested failures; counts: the server's stage counters, shared by its sessions.
        users: ``{username: password}`` accepted; None accepts any credentials.
        implicit_tls: the connection is TLS from the first byte.
    """

    def __init__(
        self,
        profile: Profile,
        *,
        number: int,
        knobs: Knobs,
        counts: Counter[str],
        users: dict[str, str] | None = None,
        implicit_tls: bool = False,
    ) -> None:
        self.profile = profile
        self.number = number
        self.knobs = knobs
        self.counts = counts
        self.users = users
        self.tls = implicit_tls
        self.tls_version: str | None = None
        self.findings: list[Finding] = []
        self.messages: list[Received] = []
        self.ehlo: Extensions | None = None  # the current EHLO reply's extensions
        self.greeted = False  # EHLO or HELO since the connection or the TLS upgrade
        self.helo = ""
        self.after_starttls = False
        self.auth_user: str | None = None
        self.finished = False
        self.quit = False  # the client ended the session with QUIT
        self.stalled = False
        self.waiting_for = "the client to connect"
        self._auth: _Auth | None = None
        self._tx: _Transaction | None = None
        self._mail_tried = False  # a MAIL was sent in this transaction (accepted or not)
        self._data_refused = False
        self._pipelining_noted = False
        self._commands = 0

    # -- inputs --

    def start(self) -> list[Action]:
        knob = self._knob("connect")
        if knob is not None:
            return self._knob_reply(knob, "connect", self.profile.greeting)
        self.waiting_for = "EHLO or HELO"
        return [Send(self.profile.greeting.wire())]

    def on_tls(self, version: str | None) -> None:
        """The TLS handshake is done: the session restarts at the post-greeting state."""
        self.tls = True
        self.tls_version = version
        self.ehlo = None
        self.greeted = False
        self.auth_user = None
        self._tx = None
        self._mail_tried = False
        self.waiting_for = "EHLO again (RFC 3207 §4.2)"

    def on_command(self, command: Command, *, more_pending: bool) -> list[Action]:
        """One command line; ``more_pending``: more bytes came with it, before any reply."""
        if self.finished:
            return []
        self._commands += 1
        if self._auth is not None:
            return self._auth_answer(command)
        if more_pending:
            self._check_pipelining(command)
        if len(command.line) + 2 > MAX_COMMAND_LINE:
            self._long_line(command)
        handler = getattr(self, f"_cmd_{command.verb.lower()}", None)
        if handler is None or command.verb not in _VERBS:
            return self._cmd_unknown(command)
        actions: list[Action] = handler(command)
        return actions

    def on_data(self, wire: bytes) -> list[Action]:
        """The message's bytes as sent, between the 354 and ``CRLF.CRLF`` (exclusive)."""
        tx = self._tx
        assert tx is not None
        self.waiting_for = "the next command"
        self._check_message_wire(wire, tx)
        content = dot_unstuff(wire)
        if bare_line_end_offsets(wire) and self.profile.bare_lf is not None:
            self._tx = None
            self._mail_tried = False
            return self._send(self.profile.bare_lf, close=self.profile.bare_lf.code == 521)
        if len(content) > self.profile.size_limit:
            self._tx = None
            self._mail_tried = False
            return self._send(self.profile.too_big)
        knob = self._knob("dot")
        self._tx = None
        self._mail_tried = False
        if knob is not None:
            return self._knob_reply(knob, "dot", self.profile.queued)
        # Parsed with LF line ends, as Python's email package expects; content keeps the CRLFs.
        parsed = email.message_from_bytes(
            content.replace(b"\r\n", b"\n"), policy=email.policy.default
        )
        assert isinstance(parsed, EmailMessage)
        self._check_bcc(parsed, tx)
        self.messages.append(
            Received(
                session=self.number,
                mail_from=tx.mail_from,
                mail_params=tx.mail_params,
                rcpt_to=list(tx.rcpts),
                rcpt_params=tx.rcpt_params,
                tls=self.tls,
                tls_version=self.tls_version,
                auth_user=self.auth_user,
                helo=self.helo,
                content=content,
                message=parsed,
            )
        )
        return self._send(self.profile.queued)

    def on_protocol_error(self, text: str, *, in_data: bool) -> list[Action]:
        """The parser refused what came: a bare LF or CR in a command, an over-long line, ..."""
        bare = "bare" in text
        rule = "R-LINE-1" if bare else "R-LINE-3"
        self.finding(
            step="DATA content" if in_data else "a command line",
            expected="lines that end in CRLF" if bare else "a line the server can take",
            got=text,
            rule=f"{rule} (RFC 5321 §2.3.8: lines end in CRLF)" if bare else rule,
            message="the server could not read what the client sent",
        )
        reply = self.profile.bare_lf if bare and self.profile.bare_lf else self.profile.closing
        return self._send(reply, close=True)

    # -- findings --

    def finding(
        self,
        *,
        step: str,
        expected: str,
        got: str,
        rule: str,
        message: str,
        detail: str = "",
        grade: str = "fail",
    ) -> None:
        self.findings.append(
            Finding(
                session=self.number,
                step=f"{step} (command {self._commands} of session {self.number})",
                expected=expected,
                got=got,
                rule=rule,
                message=message,
                detail=detail,
                grade=grade,
            )
        )

    # -- commands --

    def _cmd_ehlo(self, command: Command) -> list[Action]:
        if not command.argument.strip():
            self.finding(
                step="EHLO",
                expected="EHLO <domain or address literal>",
                got=command.text,
                rule='R-EHLO-1 (RFC 5321 §4.1.1.1: ehlo = "EHLO" SP ( Domain / address-literal ))',
                message="EHLO without the client's name",
            )
            return self._send(self.profile.syntax)
        knob = self._knob("ehlo")
        if knob is not None:
            return self._knob_reply(knob, "ehlo", self.profile.ehlo_plain)
        self._greet(command, self.profile.extensions(self.tls))
        return self._send(self.profile.ehlo_tls if self.tls else self.profile.ehlo_plain)

    def _cmd_helo(self, command: Command) -> list[Action]:
        knob = self._knob("helo")
        if knob is not None:
            return self._knob_reply(knob, "helo", self.profile.helo)
        self._greet(command, Extensions())
        return self._send(self.profile.helo)

    def _greet(self, command: Command, extensions: Extensions) -> None:
        self.ehlo = extensions
        self.greeted = True
        self.after_starttls = False
        self.helo = command.argument.strip()
        self._tx = None
        self._mail_tried = False
        self._data_refused = False
        self.waiting_for = self._next_step()

    def _next_step(self) -> str:
        """What this server needs next from a client that wants to send (for people)."""
        p = self.profile
        if not self.tls and self._offers("STARTTLS") and p.auth_needs_tls is not None:
            return "STARTTLS (this server requires it)"
        if self.auth_user is None and self._offers("AUTH"):
            step = "AUTH" if p.mail_needs_auth is not None else "AUTH or MAIL FROM"
        else:
            step = "MAIL FROM"
        return ("STARTTLS or " if self._offers("STARTTLS") else "") + step

    def _cmd_starttls(self, command: Command) -> list[Action]:
        if self.tls:
            self.finding(
                step="STARTTLS",
                expected="no second STARTTLS",
                got=command.text,
                rule="R-TLS-4 (RFC 3207 §4.2: the client MUST NOT start TLS twice)",
                message="STARTTLS under TLS",
            )
            return self._send(self.profile.bad_sequence)
        if not self._offers("STARTTLS"):
            return self._not_offered(command, "STARTTLS")
        if command.argument:
            self.finding(
                step="STARTTLS",
                expected="STARTTLS",
                got=command.text,
                rule="R-TLS-1 (RFC 3207 §4: STARTTLS has no parameters)",
                message="STARTTLS with a parameter",
            )
            return self._send(self.profile.syntax)
        knob = self._knob("starttls")
        if knob is not None:
            return self._knob_reply(knob, "starttls", self.profile.starttls)
        self.waiting_for = "the TLS handshake"
        self.after_starttls = True
        return [Send(self.profile.starttls.wire()), StartTls()]

    def _cmd_auth(self, command: Command) -> list[Action]:
        if self.auth_user is not None or self._tx is not None:
            self.finding(
                step="AUTH",
                expected="MAIL FROM (AUTH once per session, outside a transaction)",
                got=_redact(command),
                rule="R-AUTH-7 (RFC 4954 §4)",
                message="AUTH after a successful AUTH or inside a mail transaction",
            )
            return self._send(self.profile.bad_sequence)
        if not self._offers("AUTH"):
            if not self.tls and self.profile.auth_needs_tls is not None:
                self._not_offered(command, "AUTH", reply=False)
                return self._send(self.profile.auth_needs_tls)
            return self._not_offered(command, "AUTH")
        if len(command.line) + 2 > MAX_COMMAND_LINE:
            self.finding(
                step="AUTH",
                expected="the initial response after a 334 instead (the line would pass 512 octets)",
                got=f"an AUTH line of {len(command.line) + 2} octets",
                rule="R-AUTH-9 (RFC 4954 §4: the client MUST NOT use the initial response parameter)",
                message="AUTH with an initial response longer than the line limit",
            )
        mechanism, _, initial = command.argument.partition(" ")
        mechanism = mechanism.upper()
        assert self.ehlo is not None
        if mechanism not in self.ehlo.auth_mechanisms or mechanism not in _MECHANISMS:
            reply = self.profile.by_code.get("auth:504") or said(
                "synthetic: RFC 4954 §4 (504 for an unknown mechanism)",
                "504 5.5.4 Unrecognized authentication type",
            )
            return self._send(reply)
        if not self.tls:
            self.finding(
                step="AUTH",
                expected="AUTH under TLS (STARTTLS first, when the server offers it)",
                got=f"AUTH {mechanism} in clear",
                rule="RFC 4954 §4, §14; RFC 8314 §3 (R-AUTH-12): a password SHOULD NOT cross unprotected",
                message="the password was sent in clear (the server allowed it)",
                grade="non-strict",
            )
        self._auth = _Auth(mechanism=mechanism)
        self.waiting_for = f"the {mechanism} credentials"
        if initial:
            return self._auth_answer(Command(line=initial.encode("utf-8", "surrogateescape")))
        if mechanism == "LOGIN":
            return self._send(self.profile.login_prompts[0])
        return [Send(b"334 \r\n")]

    def _auth_answer(self, command: Command) -> list[Action]:
        auth = self._auth
        assert auth is not None
        line = command.line
        if line == b"*":
            self._auth = None
            return self._send(AUTH_ABORTED)
        try:
            decoded = b"" if line == b"=" else decode_base64(line)  # "=": an empty response
        except RemoteProtocolError:
            self._auth = None
            self.finding(
                step=f"AUTH {auth.mechanism}",
                expected="one line of base64",
                got="<a response that is not base64>",
                rule="R-AUTH-5 (RFC 4954 §4: a response that cannot be decoded gets 501)",
                message="an AUTH response that is not base64",
            )
            return self._send(said("RFC 4954 §4", "501 5.5.2 Cannot decode response"))
        try:
            if auth.mechanism == "PLAIN":
                _, user, password = decode_plain(line)
                return self._auth_done(user, password)
            if auth.mechanism == "XOAUTH2":
                user, token = decode_xoauth2(line)
                return self._auth_done(user, token)
        except RemoteProtocolError:  # base64, but not credentials: refused like wrong ones
            self._auth = None
            return self._send(self.profile.auth_bad)
        value = decoded.decode("utf-8", "replace")  # LOGIN: the username, then the password
        if auth.step == 0:
            auth.username, auth.step = value, 1
            return self._send(self.profile.login_prompts[1])
        return self._auth_done(auth.username, value)

    def _auth_done(self, user: str, password: str) -> list[Action]:
        self._auth = None
        knob = self._knob("auth")
        if knob is not None:
            return self._knob_reply(knob, "auth", self.profile.auth_bad)
        if self.users is not None and self.users.get(user) != password:
            self.waiting_for = "AUTH again (with other credentials), or QUIT"
            return self._send(self.profile.auth_bad)
        self.auth_user = user
        self.waiting_for = "MAIL FROM"
        return self._send(self.profile.auth_ok)

    def _cmd_mail(self, command: Command) -> list[Action]:
        if not self._greeted_for(command):
            return self._send(self.profile.need_ehlo)
        if self._tx is not None:
            self.finding(
                step="MAIL",
                expected="RCPT, DATA or RSET (one transaction at a time)",
                got=command.text,
                rule="R-TX-2 (RFC 5321 §4.1.4: MAIL inside a transaction gets 503)",
                message="a second MAIL inside a mail transaction",
            )
            return self._send(self.profile.bad_sequence)
        self._mail_tried = True
        path = self._path(command, "FROM")
        if path is None:
            return self._send(self.profile.syntax)
        if not self._params_ok(command, path, "MAIL"):
            return self._send(_unsupported(path))
        if not self.tls and self.profile.auth_needs_tls is not None:
            return self._send(self.profile.auth_needs_tls)
        if self.auth_user is None and self.profile.mail_needs_auth is not None:
            return self._send(self.profile.mail_needs_auth)
        if (
            self.profile.local_user_only is not None
            and self.auth_user is not None
            and path.address.lower() != self.auth_user.lower()
        ):
            return self._send(self.profile.local_user_only)
        size = path.params.get("SIZE")
        if size is not None and size.isdigit() and int(size) > self.profile.size_limit:
            return self._send(self.profile.too_big)
        knob = self._knob("mail")
        if knob is not None:
            return self._knob_reply(knob, "mail", self.profile.mail_ok)
        self._tx = _Transaction(mail_from=path.address, mail_params=dict(path.params))
        self.waiting_for = "RCPT TO"
        return self._send(self.profile.mail_ok)

    def _cmd_rcpt(self, command: Command) -> list[Action]:
        if not self._greeted_for(command):
            return self._send(self.profile.need_ehlo)
        if self._tx is None:
            if not self._mail_tried:
                self.finding(
                    step="RCPT",
                    expected="MAIL FROM first",
                    got=command.text,
                    rule="R-TX-2 (RFC 5321 §4.1.4: RCPT before MAIL gets 503)",
                    message="RCPT without MAIL",
                )
            return self._send(self.profile.bad_sequence)  # after a refused MAIL: pipelined, fine
        path = self._path(command, "TO")
        if path is None:
            return self._send(self.profile.syntax)
        if not self._params_ok(command, path, "RCPT"):
            return self._send(_unsupported(path))
        if self.knobs.greylist and self.number == 1:
            return self._send(GREYLIST)
        knob = self._knob("rcpt")
        if knob is not None:
            return self._knob_reply(knob, "rcpt", self.profile.rcpt_ok, address=path.address)
        self._tx.rcpts.append(path.address)
        self._tx.rcpt_params[path.address] = dict(path.params)
        self.waiting_for = "RCPT TO or DATA"
        return self._send(self.profile.rcpt_ok, address=path.address)

    def _cmd_data(self, command: Command) -> list[Action]:
        if not self._greeted_for(command):
            return self._send(self.profile.need_ehlo)
        if self._tx is None and not self._mail_tried:
            self.finding(
                step="DATA",
                expected="MAIL FROM and RCPT TO first",
                got=command.text,
                rule="R-TX-2 (RFC 5321 §4.1.4)",
                message="DATA without a mail transaction",
            )
        if self._tx is None or not self._tx.rcpts:
            self._data_refused = True
            return self._send(self.profile.no_recipients)
        knob = self._knob("data")
        if knob is not None:
            self._data_refused = knob.code >= 400
            return self._knob_reply(knob, "data", self.profile.data_go)
        self.waiting_for = "the message, up to CRLF.CRLF"
        return [Send(self.profile.data_go.wire()), BeginData()]

    def _cmd_rset(self, command: Command) -> list[Action]:
        knob = self._knob("rset")
        if knob is not None:
            return self._knob_reply(knob, "rset", self.profile.rset)
        self._tx = None
        self._mail_tried = False
        self._data_refused = False
        return self._send(self.profile.rset)

    def _cmd_noop(self, command: Command) -> list[Action]:
        knob = self._knob("noop")
        if knob is not None:
            return self._knob_reply(knob, "noop", self.profile.noop)
        return self._send(self.profile.noop)

    def _cmd_quit(self, command: Command) -> list[Action]:
        knob = self._knob("quit")
        if knob is not None:
            return self._knob_reply(knob, "quit", self.profile.bye)
        self.finished = True
        self.quit = True
        self.waiting_for = "nothing (the session is over)"
        return [Send(self.profile.bye.wire()), Close()]

    def _cmd_unknown(self, command: Command) -> list[Action]:
        if command.verb == "BDAT":
            self.finding(
                step="BDAT",
                expected="DATA (CHUNKING was not advertised)",
                got=command.text,
                rule="R-BDAT-1, R-EXT-1 (RFC 3030 §2: BDAT only if CHUNKING was advertised)",
                message="BDAT without CHUNKING",
            )
        if self._data_refused:
            self._data_refused = False
            self.finding(
                step="after a refused DATA",
                expected="no message content (DATA was not answered 354)",
                got=command.text[:80],
                rule="R-TX-4, R-PIPE-4 (RFC 5321 §3.3, RFC 2920 §3.1: the content follows only a 354)",
                message="the client sent the message although DATA was refused",
            )
        return self._send(self.profile.unknown)

    # -- checks --

    def _offers(self, keyword: str) -> bool:
        return self.ehlo is not None and self.ehlo.has(keyword)

    def _greeted_for(self, command: Command) -> bool:
        if self.greeted:
            return True
        if self.after_starttls or self.tls_version is not None:
            self.finding(
                step=command.verb,
                expected="EHLO (the first command after the TLS handshake)",
                got=command.text,
                rule="R-TLS-3 (RFC 3207 §4.2: the server discards what it knew; RFC 5321 §4.1.4)",
                message=f"{command.verb} after STARTTLS without a new EHLO",
            )
        else:
            self.finding(
                step=command.verb,
                expected="EHLO or HELO first",
                got=command.text,
                rule="R-TX-2 (RFC 5321 §4.1.4: a session MUST first be initialized with EHLO)",
                message=f"{command.verb} before EHLO/HELO",
            )
        return False

    def _not_offered(self, command: Command, keyword: str, *, reply: bool = True) -> list[Action]:
        if self.ehlo is None:
            where = (
                "sent after STARTTLS, before the new EHLO" if self.tls else "sent before any EHLO"
            )
        elif not self.tls and keyword in self.profile.extensions(True).keywords:
            where = "offered only after STARTTLS"
        else:
            where = "not in the current EHLO reply"
        self.finding(
            step=keyword,
            expected=f"only commands the current EHLO reply advertised ({keyword} is {where})",
            got=_redact(command),
            rule="R-EXT-1 (RFC 5321 §2.2: use an extension only if it was advertised)",
            message=f"{keyword} was not offered",
        )
        return self._send(self.profile.unknown) if reply else []

    def _path(self, command: Command, keyword: str) -> PathArgument | None:
        try:
            path = parse_path_argument(command.argument, keyword)
        except RemoteProtocolError as exc:
            self.finding(
                step=command.verb,
                expected=f"{command.verb} {keyword}:<address> [parameters]",
                got=command.text,
                rule="R-TX-1 (RFC 5321 §4.1.2, §3.3)",
                message=f"a malformed {command.verb} command",
                detail=str(exc),
            )
            return None
        if not path.address.isascii() and "SMTPUTF8" not in (
            self._tx.mail_params if self._tx and keyword == "TO" else path.params
        ):
            self.finding(
                step=command.verb,
                expected="an ASCII address, or MAIL ... SMTPUTF8 (when advertised)",
                got=command.text,
                rule="R-UTF8-1 (RFC 6531 §3.4)",
                message="a non-ASCII address without SMTPUTF8",
            )
        return path

    def _params_ok(self, command: Command, path: PathArgument, verb: str) -> bool:
        needs = _MAIL_PARAMS if verb == "MAIL" else _RCPT_PARAMS
        for name, value in path.params.items():
            keyword = needs.get(name)
            if keyword is None or not self._offers(keyword):
                offered = f"{keyword} was not advertised" if keyword else "no extension defines it"
                self.finding(
                    step=verb,
                    expected=f"{verb} without {name}= ({offered})",
                    got=command.text,
                    rule="R-EXT-1 (RFC 5321 §2.2; RFC 1870, 6152, 6531, 3461)",
                    message=f"the {name} parameter was used without its extension",
                )
                return False
            if name == "BODY" and (value or "").upper() not in ("7BIT", "8BITMIME"):
                self.finding(
                    step=verb,
                    expected="BODY=7BIT or BODY=8BITMIME",
                    got=command.text,
                    rule="R-8BIT-1 (RFC 6152 §2)",
                    message="an unknown BODY value",
                )
                return False
        return True

    def _check_pipelining(self, command: Command) -> None:
        if not self._offers("PIPELINING"):
            if not self._pipelining_noted:
                self._pipelining_noted = True
                self.finding(
                    step=command.verb,
                    expected="wait for each reply (PIPELINING was not advertised)",
                    got=f"{command.text} with more commands behind it, before any reply",
                    rule="R-PIPE-1 (RFC 2920 §3.1: pipeline only if PIPELINING was advertised)",
                    message="the client pipelined without PIPELINING",
                )
        elif command.verb in LAST_IN_GROUP:
            self.finding(
                step=command.verb,
                expected=f"{command.verb} as the last command of a pipelined group",
                got=f"{command.text} with more bytes behind it, before its reply",
                rule="R-PIPE-2 (RFC 2920 §3.1: EHLO, DATA, VRFY, EXPN, TURN, QUIT and NOOP "
                "can only appear as the last command in a group)",
                message=f"the client sent more after {command.verb} without waiting for its reply",
            )

    def _long_line(self, command: Command) -> None:
        if command.verb == "AUTH":
            return  # R-AUTH-9, a MUST: checked in _cmd_auth
        self.finding(
            step=command.verb,
            expected=f"a command line of at most {MAX_COMMAND_LINE} octets with its CRLF",
            got=f"{len(command.line) + 2} octets",
            rule="R-LINE-3 (RFC 5321 §4.5.3.1.4; §4.5.3.1: larger objects SHOULD be avoided)",
            message="a command line over 512 octets",
            grade="non-strict",
        )

    def _check_message_wire(self, wire: bytes, tx: _Transaction) -> None:
        bare = bare_line_end_offsets(wire)
        if bare:
            at = bare[0]
            kind = "LF" if wire[at : at + 1] == b"\n" else "CR"
            self.finding(
                step="DATA content",
                expected="CRLF line ends only",
                got=f"a bare {kind} at octet {at}: {wire[max(0, at - 30) : at + 1]!r}",
                rule="R-LINE-1 (RFC 5321 §2.3.8: clients MUST NOT send bare CR or LF)",
                message="the message has a bare line end",
                detail=f"{len(bare)} bare line end(s) in the message",
            )
        lines = wire.split(b"\r\n")
        unstuffed = next(
            (i for i, x in enumerate(lines) if x.startswith(b".") and not x.startswith(b"..")),
            None,
        )
        if unstuffed is not None:
            self.finding(
                step="DATA content",
                expected="a line that starts with '.' sent with one more '.'",
                got=f"line {unstuffed + 1}: {lines[unstuffed][:60]!r}",
                rule="R-DOT-1 (RFC 5321 §4.5.2: the client MUST add a period)",
                message="the message was not dot-stuffed",
            )
        long = next((i for i, x in enumerate(lines) if len(x) + 2 > MAX_TEXT_LINE), None)
        if long is not None:
            self.finding(
                step="DATA content",
                expected=f"text lines of at most {MAX_TEXT_LINE} octets with the CRLF",
                got=f"line {long + 1}: {len(lines[long]) + 2} octets",
                rule="R-LINE-5 (RFC 5322 §2.1.1: lines MUST be no more than 998 characters)",
                message="a message line too long",
            )
        declared = (tx.mail_params.get("BODY") or "").upper() == "8BITMIME" or (
            "SMTPUTF8" in tx.mail_params
        )
        if not declared and not wire.isascii():
            at = next(i for i, b in enumerate(wire) if b >= 0x80)
            self.finding(
                step="DATA content",
                expected="7-bit data, or MAIL FROM:<...> BODY=8BITMIME",
                got=f"an 8-bit octet at {at}: {wire[max(0, at - 20) : at + 1]!r}",
                rule="R-8BIT-1 (RFC 6152 §3: 8-bit data only with BODY=8BITMIME)",
                message="8-bit data without BODY=8BITMIME",
            )

    def _check_bcc(self, message: EmailMessage, tx: _Transaction) -> None:
        bcc = message.get_all("Bcc") or []
        if not any(str(v).strip() for v in bcc):
            return
        visible = {
            a.addr_spec.lower()
            for name in ("To", "Cc")
            for value in message.get_all(name) or []
            for a in getattr(value, "addresses", ())
        }
        if visible & {r.lower() for r in tx.rcpts}:
            self.finding(
                step="DATA content",
                expected="no Bcc: header in the copy the To/Cc recipients get",
                got=f"Bcc: {', '.join(str(v) for v in bcc)}",
                rule="RFC 5322 §3.6.3 (the Bcc: line is removed, or sent only to the Bcc recipients)",
                message="the blind copies are visible: a Bcc: header went to the To/Cc recipients",
                grade="non-strict",
            )

    # -- replies --

    def _knob(self, stage: str) -> Knob | None:
        self.counts[stage] += 1
        return self.knobs.pick(stage, self.counts[stage])

    def _knob_reply(self, knob: Knob, stage: str, normal: Said, address: str = "") -> list[Action]:
        if knob.stall:
            self.stalled = True
            self.waiting_for = (
                f"nothing: stalled at {stage} on request (fail={{{stage!r}: 'stall'}})"
            )
            return [Stall()]
        if knob.code in (normal.code,) and not knob.text:
            return self._send(normal, address=address)
        reply = self._reply_for(stage, knob)
        close = reply.code == 421
        if stage == "data" and reply.code == 354:
            return [Send(reply.wire()), BeginData()]
        return self._send(reply, close=close, address=address)

    def _reply_for(self, stage: str, knob: Knob) -> Said:
        if knob.text:
            return Said(lines=tuple(knob.text.split("\n")), source="the test's fail= knob")
        p = self.profile
        found = p.by_code.get(f"{stage}:{knob.code}") or p.by_code.get(str(knob.code))
        if found is not None:
            return found
        own = {
            "auth": [p.auth_bad, p.auth_needs_tls],
            "mail": [p.mail_needs_auth, p.local_user_only, p.too_big, p.bad_sequence],
            "dot": [p.too_big, p.bare_lf],
        }.get(stage, [])
        for candidate in [*own, p.closing, p.syntax, p.unknown, p.bad_sequence]:
            if candidate is not None and candidate.code == knob.code:
                return candidate
        esc = self.profile.extensions(True).has("ENHANCEDSTATUSCODES")
        text = f"{knob.code} " + (f"{knob.code // 100}.0.0 " if esc else "")
        return said(
            "synthetic: no text of this server for it",
            text + f"smtp-harness: {stage} refused on request",
        )

    def _send(self, reply: Said, *, close: bool = False, address: str = "") -> list[Action]:
        data = reply.wire()
        if b"{address}" in data:
            data = data.replace(b"{address}", address.encode("utf-8", "surrogateescape"))
        if close or reply.code == 421:
            self.finished = True
            self.waiting_for = "nothing (the server closed the session)"
            return [Send(data), Close()]
        return [Send(data)]


_VERBS = {"EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "QUIT"}
_MECHANISMS = {"PLAIN", "LOGIN", "XOAUTH2"}
_MAIL_PARAMS = {
    "SIZE": "SIZE",
    "BODY": "8BITMIME",
    "SMTPUTF8": "SMTPUTF8",
    "RET": "DSN",
    "ENVID": "DSN",
    "AUTH": "AUTH",
}
_RCPT_PARAMS = {"NOTIFY": "DSN", "ORCPT": "DSN"}
_SECRET = re.compile(r"^(AUTH\s+\S+)\s+\S+", re.IGNORECASE)


def _redact(command: Command) -> str:
    """A command for a report: an AUTH initial response (the credentials) left out."""
    return _SECRET.sub(r"\1 <credentials>", command.text)


def _unsupported(path: PathArgument) -> Said:
    return said(
        "synthetic: RFC 5321 §4.1.1.11 (555 for a parameter not recognized)",
        "555 5.5.4 Unsupported option",
    )
