"""The scenario model: frozen dataclasses, no YAML.

A Scenario is the client task, the expected outcome, and the exchange: a tuple of steps that the
scripted server plays. Every step remembers the line it came from, so a failure can point at it.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from harness.faults import Fault

__all__ = [
    "GIVE_UP_MARGIN",
    "AnyOf",
    "AuthStep",
    "Certificate",
    "ClientStep",
    "ClientTask",
    "Close",
    "CodePattern",
    "Credentials",
    "Delay",
    "DsnRequest",
    "Expectation",
    "Level",
    "Limits",
    "Operation",
    "Outcome",
    "Scenario",
    "Send",
    "StartTls",
    "Step",
    "TlsMode",
    "Unordered",
    "give_up_window",
]


class TlsMode(enum.StrEnum):
    """How the client must protect the session."""

    NONE = "none"
    STARTTLS = "starttls"  # upgrade with STARTTLS, and fail if that is impossible
    IMPLICIT = "implicit"  # TLS from the first byte (RFC 8314 §3)


class Certificate(enum.StrEnum):
    """Which certificate the server presents in a TLS handshake.

    Every kind but ``good`` and ``intermediate`` is one a verifying client must refuse
    (RFC 8314 §5.3, RFC 7817 §3, RFC 6125 §6): fake_servers.tls makes each one per run.
    """

    GOOD = "good"  # signed by the CA the client is told to trust, for the server's names
    INTERMEDIATE = "intermediate"  # good, signed by an intermediate CA the server also sends
    UNTRUSTED_CA = "untrusted-ca"  # signed by a CA the client was not told to trust
    WRONG_HOST = "wrong-host"  # trusted CA, but issued for another host name
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    SELF_SIGNED = "self-signed"
    INCOMPLETE_CHAIN = "incomplete-chain"  # signed by an intermediate the server leaves out

    @property
    def must_refuse(self) -> bool:
        return self not in (Certificate.GOOD, Certificate.INTERMEDIATE)


class Level(enum.StrEnum):
    """How strongly the RFC asks for what a check checks (RFC 2119 keywords).

    A broken ``must`` is a failure; a ``should`` not followed is non-strict; ``info`` marks
    behaviour the RFC leaves open (interoperability, robustness): reported, never failed.
    """

    MUST = "must"
    SHOULD = "should"
    INFO = "info"


class Outcome(enum.StrEnum):
    """What the client reports at the end of its task."""

    DELIVERED = "delivered"  # the message was accepted (for at least one recipient)
    FAILED = "failed"  # the client reported a failure
    COMPLETED = "completed"  # a session of non-send operations ran to its end


@dataclass(frozen=True, slots=True)
class CodePattern:
    """A reply code or a class of codes: ``"550"`` or ``"5xx"``."""

    text: str

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[2-5](\d\d|xx|\dx)", self.text):
            raise ValueError(f"{self.text!r} is not a reply code like 550 or a class like 5xx")

    def matches(self, code: int | None) -> bool:
        if code is None:
            return False
        return all(p in ("x", c) for p, c in zip(self.text, f"{code:03d}", strict=True))

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    username: str
    password: str = ""
    token: str = ""  # an OAuth 2.0 bearer token, for XOAUTH2
    mechanisms: tuple[str, ...] = ()  # preference order; empty = the client's choice


@dataclass(frozen=True, slots=True, kw_only=True)
class DsnRequest:
    """Delivery status notifications the client is asked to request (RFC 3461), if it can."""

    notify: tuple[str, ...] = ()  # NEVER, or some of SUCCESS, FAILURE, DELAY
    ret: str = ""  # FULL or HDRS
    envid: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation:
    """One thing the client does once the session is up: ``send`` or a single command."""

    kind: str  # send | vrfy | expn | noop | help | rset
    argument: str = ""

    KINDS = ("send", "vrfy", "expn", "noop", "help", "rset")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientTask:
    """What the client under test is asked to do."""

    mail_from: str = ""
    rcpt_to: tuple[str, ...] = ()
    message: bytes = b""
    tls: TlsMode = TlsMode.NONE
    auth: Credentials | None = None
    ehlo_name: str | None = None
    operations: tuple[Operation, ...] = (Operation(kind="send"),)
    dsn: DsnRequest | None = None
    # Seconds the client is told to wait for any one reply before it gives up (None: the
    # harness's own limit, limits.total). Scaled down from RFC 5321 §4.5.3.2's minutes.
    timeout: float | None = None

    @property
    def sends(self) -> bool:
        return any(op.kind == "send" for op in self.operations)

    @property
    def required_extension(self) -> str:
        """The extension this task cannot be done without ("" if HELO would do): STARTTLS,
        AUTH, DSN or SMTPUTF8 (RFC 5321 §3.2: a HELO client uses no extension)."""
        if self.tls is TlsMode.STARTTLS:
            return "STARTTLS"
        if self.auth is not None:
            return "AUTH"
        if self.dsn is not None:
            return "DSN"
        if not all(a.isascii() for a in (self.mail_from, *self.rcpt_to)):
            return "SMTPUTF8"
        return ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Expectation:
    """What the client must report: one of ``outcomes``, and the codes if it reports them."""

    outcomes: tuple[Outcome, ...]
    codes: tuple[CodePattern, ...] = ()  # the code that made it fail; empty = any
    replies: tuple[CodePattern, ...] | None = None  # per operation, in order
    level: Level | None = None  # how strongly the outcome is required (None: the scenario's)


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    total: float = 10.0  # seconds for the whole run
    read: float = 5.0  # seconds the server waits for the client's next bytes
    line: int = 65536  # longest command line the server accepts (memory bound; RFC 5321: 512)
    message: int = 32 * 1024 * 1024  # largest message content the server accepts
    # After the server's session has ended, how long the client may take to report (a real
    # program may take a second or two to exit). Only waited for by a client still running.
    grace: float = 5.0


# A client told ``timeout`` seconds gives up on a silent server within one timeout, plus one
# more if it sends QUIT and waits for its reply, plus this margin (process start, exit).
GIVE_UP_MARGIN = 2.0


def give_up_window(timeout: float) -> float:
    """Seconds a ``gives_up`` step waits for the client to close."""
    return 2 * timeout + GIVE_UP_MARGIN


# --- exchange steps -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Send:
    """The server writes bytes, optionally after a delay and in pieces."""

    data: bytes
    delay: float = 0.0
    split: tuple[int, ...] | None = None  # byte offsets; (1,) with every_byte for one-byte writes
    every_byte: bool = False
    pause: float = 0.0
    line: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Delay:
    seconds: float
    line: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class StartTls:
    """The server starts its side of the TLS handshake.

    Attributes:
        may_refuse: a client that closes the connection instead of starting the handshake
            ends the session without failing it (e.g. after a suspicious 220, RFC 3207 §4).
        certificate: the certificate the server presents; with one the client must refuse, a
            handshake the client aborts ends the session without failing it, and after a
            completed one the client may only QUIT (RFC 3207 §4.1).
    """

    may_refuse: bool = False
    certificate: Certificate = Certificate.GOOD
    line: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Close:
    line: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientStep:
    """What the client must send next.

    Attributes:
        kind: the matcher: ``match`` (pattern), ``regex``, ``data``, ``bdat`` (the message sent
            in one or more BDAT chunks, RFC 3030), ``silence`` (the client sends nothing for
            ``seconds``; closing counts as silence) or ``gives_up`` (the server says nothing
            more, and the client must close, after QUIT or not, within ``give_up_window``).
        expected: the pattern or regex; for ``data``, the word ``message``.
        compare: for ``data`` and ``bdat``: ``exact`` (the bytes), ``lines`` (``content`` and
            the empty lines at the end of the body), ``content`` (what a reader sees: header
            fields and decoded body text) or ``any`` (only the wire checks).
        absent: for ``data``: strings that must not appear anywhere in the data (e.g. a BCC
            address that a client must not leak into a header).
        optional: the client may leave this step, and the server steps after it, out.
    """

    kind: str
    expected: str
    compare: str = "content"
    absent: tuple[str, ...] = ()
    optional: bool = False
    seconds: float = 0.0  # for ``silence``
    level: Level | None = None  # how strongly this step is required (None: the scenario's)
    line: int = 0

    def describe(self) -> str:
        if self.kind == "silence":
            return f"<silence for {self.seconds:g} s>"
        if self.kind == "gives_up":
            return "<the client gives up: QUIT or close>"
        if self.kind == "data":
            return f"<DATA content: the message, compare={self.compare}>"
        if self.kind == "bdat":
            return f"<BDAT chunks: the message, compare={self.compare}>"
        if self.kind == "regex":
            return f"/{self.expected}/"
        return self.expected


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthStep:
    """A whole AUTH dialogue, played and checked by the server."""

    mechanisms: tuple[str, ...] = ()  # accepted mechanisms; empty = any the harness can check
    prompts: tuple[bytes, ...] | None = None  # challenge lines sent (None = per-mechanism default)
    reply: bytes = b"235 2.7.0 Authentication successful\r\n"
    reject: bytes | None = None  # answer the AUTH command at once with this
    error: bytes | None = None  # XOAUTH2: the JSON error sent in a 334 before ``reply``
    optional: bool = False
    level: Level | None = None  # how strongly this step is required (None: the scenario's)
    line: int = 0

    def describe(self) -> str:
        return "AUTH " + ("|".join(self.mechanisms) if self.mechanisms else "<any mechanism>")


@dataclass(frozen=True, slots=True, kw_only=True)
class AnyOf:
    """Alternatives: the branch whose first client step matches is played."""

    branches: tuple[tuple[Step, ...], ...]
    line: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Unordered:
    """Groups played once each, in whatever order the client's commands come."""

    groups: tuple[tuple[Step, ...], ...]
    line: int = 0


Step = Send | Delay | StartTls | Close | ClientStep | AuthStep | AnyOf | Unordered


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    id: str
    title: str
    client: ClientTask
    expect: Expectation
    exchange: tuple[Step, ...]
    refs: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    source: str = ""
    description: str = ""
    limits: Limits = field(default_factory=Limits)
    faults: tuple[Fault, ...] = ()  # transport faults laid over the exchange (harness.faults)
    certificate: Certificate = Certificate.GOOD  # presented at connect (client.tls: implicit)
    # How strongly the RFC requires what this scenario checks; None: from the rules in refs
    # (harness.grading.scenario_level).
    level: Level | None = None
    path: str = ""
    line: int = 0

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}" if self.path else self.id
