"""What a server profile is: a named real server's replies, each with where it was seen, and the
few policies (TLS before AUTH, AUTH before MAIL, size limit) that make it behave like that server.

Data only; the engine (``engine.py``) decides which reply a command gets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.protocol.ehlo import Extensions
from harness.protocol.replies import Reply

__all__ = ["Profile", "Said", "said"]


@dataclass(frozen=True, slots=True)
class Said:
    """One reply as the real server sends it, and the source that shows it.

    Attributes:
        lines: the wire lines without CRLF, code included (``"535-5.7.8 Username ..."``).
        source: where it was seen (an issue, a transcript), or ``synthetic: why``.
    """

    lines: tuple[str, ...]
    source: str

    @property
    def code(self) -> int:
        return int(self.lines[0][:3])

    def wire(self) -> bytes:
        return b"".join(line.encode("utf-8", "surrogateescape") + b"\r\n" for line in self.lines)

    def as_reply(self) -> Reply:
        return Reply(code=self.code, lines=tuple(line[4:].encode() for line in self.lines))


def said(source: str, *lines: str) -> Said:
    return Said(lines=lines, source=source)


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """A real server's behaviour.

    Attributes:
        name: what tests and ``serve --profile`` call it (``gmail``, ``163``).
        title: one line for people.
        tls: how clients connect: ``starttls`` (offered, maybe required), ``implicit`` (TLS from
            the first byte, port 465) or ``none`` (STARTTLS may still be offered).
        ehlo_plain / ehlo_tls: the EHLO reply before and after TLS.
        auth_needs_tls: the reply to AUTH or MAIL in clear, if the server requires STARTTLS first.
        mail_needs_auth: the reply to MAIL without AUTH, if the server requires AUTH.
        local_user_only: the reply to a MAIL FROM that is not the logged-in user, if it checks.
        bare_lf: the reply to a message with a bare LF, if the server refuses one (else accepted,
            and still reported as the wire finding it is).
        by_code: more verbatim replies, by code, that failure knobs use (``fail={"rcpt": 550}``
            sends the 550 from here if the server has one for that stage).
        size_limit: the SIZE it advertises and enforces (octets).
    """

    name: str
    title: str
    tls: str
    greeting: Said
    ehlo_plain: Said
    ehlo_tls: Said
    helo: Said
    starttls: Said
    auth_ok: Said
    auth_bad: Said
    login_prompts: tuple[Said, Said]
    mail_ok: Said
    rcpt_ok: Said
    data_go: Said
    queued: Said
    too_big: Said
    bad_sequence: Said
    need_ehlo: Said
    syntax: Said
    unknown: Said
    no_recipients: Said
    rset: Said
    noop: Said
    bye: Said
    closing: Said  # the 421 it sends when it gives up on a session
    size_limit: int
    auth_needs_tls: Said | None = None
    mail_needs_auth: Said | None = None
    local_user_only: Said | None = None
    bare_lf: Said | None = None
    by_code: dict[str, Said] = field(default_factory=dict)  # "550" or "rcpt:550" -> reply
    notes: tuple[str, ...] = ()

    def extensions(self, tls: bool) -> Extensions:
        return Extensions.from_reply((self.ehlo_tls if tls else self.ehlo_plain).as_reply())

    def replies(self) -> dict[str, Said]:
        """Every reply by name, for ``serve --profile`` and the docs."""
        out = {
            name: getattr(self, name)
            for name in Profile.__dataclass_fields__
            if isinstance(getattr(self, name), Said)
        }
        out["login_prompt_user"], out["login_prompt_password"] = self.login_prompts
        out.update({f"by_code[{k}]": v for k, v in self.by_code.items()})
        return out
