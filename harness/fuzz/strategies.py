"""Hypothesis strategies for what an SMTP server sends: replies, their framing, and how TCP cuts them.

Every strategy shrinks toward the plainest input of its kind, so a finding reads like a real
exchange: codes toward ``250`` (or ``X50`` of the requested class), texts toward empty, line counts
toward one, framing defects toward the first kind in their list, segmentations toward a single write
with no pause, extension lists toward ``SIZE``-less upper-case ones.

The reply codes obey RFC 5321 §4.2 (``%x32-35 %x30-35 %x30-39``); reply text never holds CR, LF or
NUL unless a framing defect puts it there on purpose.
"""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass

from hypothesis import strategies as st

from harness.protocol.replies import Reply

__all__ = [
    "INVALID_KINDS",
    "MAX_WRITE_PAUSES",
    "Challenge",
    "Framing",
    "Segmentation",
    "auth_challenges",
    "ehlo_extension_lists",
    "ehlo_replies",
    "enhanced_codes",
    "frame",
    "framings",
    "invalid_framings",
    "replies",
    "reply_codes",
    "reply_texts",
    "segmentations",
    "unsolicited_lines",
    "valid_framings",
]


# --- replies ---------------------------------------------------------------------------------

# Strategies that take no value drawn from another are built once (``_built_once``): building
# and validating a strategy per draw was most of the fuzzer's generation time. A cached
# strategy draws exactly what a fresh one would, so a seed still gives the same cases.
# Bounded, since a caller may pass a fresh strategy (say ``st.just(...)``) every time.
_built_once = functools.lru_cache(maxsize=256)


@_built_once
def reply_codes(first_digits: str = "2345") -> st.SearchStrategy[int]:
    """A reply code whose first digit is one of ``first_digits``; shrinks toward ``X50``."""
    return st.builds(
        lambda a, b, c: int(a + b + c),
        st.sampled_from(first_digits),
        st.sampled_from("501234"),
        st.sampled_from("0123456789"),
    )


@_built_once
def enhanced_codes(klass: int) -> st.SearchStrategy[bytes]:
    """An RFC 3463 enhanced status code of class ``klass`` (2, 4 or 5); shrinks toward ``X.0.0``."""
    return st.builds(
        lambda subject, detail: f"{klass}.{subject}.{detail}".encode(),
        st.integers(0, 7),
        st.integers(0, 999),
    )


_PRINTABLE = list(range(0x20, 0x7F))
_EIGHT_BIT = list(range(0x80, 0x100))
_TEXT_BYTES = [b for b in range(1, 0x100) if b not in (0x0A, 0x0D)]


@_built_once
def reply_texts(max_size: int = 40) -> st.SearchStrategy[bytes]:
    """Reply text: empty, printable ASCII, 8-bit (GBK, Latin-1, broken UTF-8), or any bytes but
    CR, LF and NUL; shrinks toward empty."""
    return st.one_of(
        st.lists(st.sampled_from(_PRINTABLE), max_size=max_size).map(bytes),
        st.lists(st.sampled_from(_PRINTABLE + _EIGHT_BIT), max_size=max_size).map(bytes),
        st.lists(st.sampled_from(_TEXT_BYTES), max_size=max_size).map(bytes),
        st.sampled_from(["出错了", "Ошибка", "✓ ok"]).map(str.encode),
        st.sampled_from(["\xc7\xeb\xca\xb9", "r\xe9ponse"]).map(lambda t: t.encode("latin-1")),
    )


@_built_once
@st.composite
def replies(
    draw: st.DrawFn, codes: st.SearchStrategy[int] | None = None, max_lines: int = 5
) -> Reply:
    """A well-formed reply: a code from ``codes``, 1 to ``max_lines`` lines of text, sometimes
    led by an enhanced status code; shrinks toward a one-line reply with empty text."""
    code = draw(codes if codes is not None else reply_codes())
    lines = draw(st.lists(reply_texts(), min_size=1, max_size=max_lines))
    if code // 100 in (2, 4, 5) and draw(st.booleans()):
        enhanced = draw(enhanced_codes(code // 100))
        lines = [enhanced + (b" " + t if t else b"") for t in lines]
    return Reply(code=code, lines=tuple(lines))


# --- framing ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Framing:
    """The bytes a server writes for one reply, and what they mean.

    Attributes:
        data: the bytes.
        kind: ``valid``, or the defect: one of INVALID_KINDS.
        codes: every reply code at the start of a line, in order (what a client may act on).
        terminated: the last line ends in CRLF, so a strict client can tell the reply is over.
        closes: the server closes the connection right after these bytes.
    """

    data: bytes
    kind: str
    codes: tuple[int, ...]
    terminated: bool = True
    closes: bool = False

    @property
    def valid(self) -> bool:
        return self.kind == "valid"


def framings(reply: Reply) -> st.SearchStrategy[Framing]:
    """The reply framed correctly (usually) or with one defect; shrinks toward correct framing."""
    return st.one_of(valid_framings(reply), invalid_framings(reply))


def valid_framings(reply: Reply) -> st.SearchStrategy[Framing]:
    """Correct framings of ``reply``: an empty last line as ``250`` or as ``250 `` (both are seen
    in the wild and a client must take both, R-REPLY-4)."""
    return st.integers(0, 1 if reply.lines[-1] == b"" else 0).map(
        lambda param: frame(reply, "valid", param)
    )


INVALID_KINDS = (
    "trailing-garbage",  # a correct reply, then a line that is no reply at all
    "missing-separator",  # "250OK": neither SP nor "-" after the code
    "mixed-codes",  # a multi-line reply whose lines carry different codes (R-REPLY-2)
    "blank-line",  # an empty line inside a multi-line reply (R-REPLY-8)
    "over-long-line",  # a line longer than 512 octets (R-LINE-4)
    "nul-byte",  # a NUL in the text
    "bare-lf",  # lines end in LF alone
    "bare-cr",  # lines end in CR alone
    "cut-off",  # the last line has no CRLF, and the server closes
)


def invalid_framings(reply: Reply) -> st.SearchStrategy[Framing]:
    """``reply`` with one framing defect from INVALID_KINDS (tried in that order when shrinking)."""
    return st.sampled_from(INVALID_KINDS).flatmap(
        lambda kind: _defect_params(reply, kind).map(lambda param: frame(reply, kind, param))
    )


_GARBAGE = (b"garbage", b"", b"-", b"25", b"OK", b"\xff\xfe")


def _defect_params(reply: Reply, kind: str) -> st.SearchStrategy[int]:
    if kind == "trailing-garbage":
        return st.integers(0, len(_GARBAGE) - 1)
    if kind == "mixed-codes":
        return reply_codes().filter(lambda c: c != reply.code)
    if kind == "blank-line":
        return st.integers(0, len(reply.lines) - 1)
    if kind == "over-long-line":
        return st.integers(600, 5000)
    return st.just(0)


def frame(reply: Reply, kind: str = "valid", param: int = 0) -> Framing:
    """``reply`` framed correctly (``valid``; ``param`` 1 writes an empty last line as ``250 ``)
    or with the defect ``kind``, which ``param`` details: the garbage line (an index), the other
    code (mixed-codes), where the blank line goes, the over-long line's size."""
    code = str(reply.code).encode()
    n = len(reply.lines)
    codes = (reply.code,) * n
    data = reply.to_bytes()
    if kind == "valid":
        if param and reply.lines[-1] == b"":
            data = data[:-2] + b" \r\n"
        return Framing(data=data, kind=kind, codes=codes)
    if kind == "trailing-garbage":
        return Framing(
            data=data + _GARBAGE[param % len(_GARBAGE)] + b"\r\n", kind=kind, codes=codes
        )
    if kind == "missing-separator":
        text = reply.lines[-1] or b"OK"
        if text[:1] in (b" ", b"-"):
            text = b"OK" + text
        head = b"".join(code + b"-" + line + b"\r\n" for line in reply.lines[:-1])
        return Framing(data=head + code + text + b"\r\n", kind=kind, codes=codes)
    if kind == "mixed-codes":
        other = param if param and param != reply.code else (550 if reply.code != 550 else 250)
        first = str(other).encode() + b"-" + reply.lines[0] + b"\r\n"
        return Framing(data=first + data, kind=kind, codes=(other, *codes))
    if kind == "blank-line":
        lines = data.split(b"\r\n")[:-1]
        at = param % len(lines)
        blanked = b"".join(
            (b"\r\n" if i == at else b"") + line + b"\r\n" for i, line in enumerate(lines)
        )
        return Framing(data=blanked, kind=kind, codes=codes)
    if kind == "over-long-line":
        size = max(param, 600)
        long_line = code + b"-" + b"x" * (size - 6) + b"\r\n"
        return Framing(data=long_line + data, kind=kind, codes=(reply.code, *codes))
    if kind == "nul-byte":
        return Framing(data=code + b"-\x00\r\n" + data, kind=kind, codes=(reply.code, *codes))
    if kind == "bare-lf":
        return Framing(data=data.replace(b"\r\n", b"\n"), kind=kind, codes=codes)
    if kind == "bare-cr":
        return Framing(data=data.replace(b"\r\n", b"\r"), kind=kind, codes=codes, terminated=False)
    if kind == "cut-off":
        return Framing(data=data[:-2], kind=kind, codes=codes, terminated=False, closes=True)
    raise ValueError(f"unknown framing kind {kind!r}; expected valid or one of {INVALID_KINDS}")


# --- the transport ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Segmentation:
    """How one write is cut into TCP writes: at ``split`` offsets, or one byte per write
    (``every_byte``), with ``pause`` seconds between pieces after ``delay`` seconds."""

    split: tuple[int, ...] | None = None
    every_byte: bool = False
    pause: float = 0.0
    delay: float = 0.0

    @property
    def plain(self) -> bool:
        return self == Segmentation()


# What the pauses inside one write add up to at most, in seconds.
MAX_WRITE_PAUSES = 0.1


@st.composite
def segmentations(draw: st.DrawFn, data: bytes, max_pause: float = 0.01) -> Segmentation:
    """Cuts of ``data`` (down to a byte per write) with short pauses and delays; shrinks toward one
    write, no waiting. One-byte writes pause at most a millisecond, and the pauses of one write
    add up to MAX_WRITE_PAUSES at most, so a run stays short."""
    delay = draw(_waits(max_pause))
    if len(data) < 2:
        return Segmentation(delay=delay)
    how = draw(_SEGMENTATION_KINDS)
    if how == "one":
        return Segmentation(delay=delay)
    if how == "every":
        pause = draw(_BYTE_PAUSES)
        # A long write (an over-long line has up to 5000 bytes) goes out one byte per write
        # back to back: a millisecond per byte would take seconds, which a busy machine
        # stretches past the session's time limit, and the case then "hangs" for no fault of
        # the client. (The pause is still drawn, so every later draw stays the same.)
        if pause * (len(data) - 1) > MAX_WRITE_PAUSES:
            pause = 0.0
        return Segmentation(every_byte=True, pause=pause, delay=delay)
    cuts = draw(_cuts(len(data)))
    pause = draw(_waits(max_pause))
    if pause * len(cuts) > MAX_WRITE_PAUSES:  # only with a max_pause above 0.025 s
        pause = 0.0
    return Segmentation(split=tuple(sorted(cuts)), pause=pause, delay=delay)


_SEGMENTATION_KINDS = st.sampled_from(["one", "cuts", "every"])
_BYTE_PAUSES = st.sampled_from([0.0, 0.001])


@_built_once
def _waits(max_pause: float) -> st.SearchStrategy[float]:
    return st.sampled_from([0.0, 0.001, max_pause])


@_built_once
def _cuts(size: int) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(1, size - 1), min_size=1, max_size=4, unique=True)


@_built_once
def unsolicited_lines() -> st.SearchStrategy[bytes]:
    """A complete reply the client did not ask for (sent before the one it did ask for)."""
    return replies(max_lines=2).map(Reply.to_bytes)


# --- EHLO and AUTH ---------------------------------------------------------------------------

# Keywords that do not change the commands a plain sender must use. CHUNKING and BINARYMIME are
# left out (a client may then use BDAT), and SIZE always has room for a test message.
_KEYWORDS = [
    b"PIPELINING",
    b"8BITMIME",
    b"ENHANCEDSTATUSCODES",
    b"SIZE",
    b"SIZE 0",
    b"SIZE 35882577",
    b"DSN",
    b"SMTPUTF8",
    b"HELP",
    b"VRFY",
    b"ETRN",
    b"DELIVERBY 300",
    b"STARTTLS",
    b"AUTH LOGIN PLAIN",
    b"AUTH=LOGIN PLAIN",
    b"AUTH PLAIN LOGIN XOAUTH2 OAUTHBEARER",
    b"X-EXPS GSSAPI NTLM",
    b"XCLIENT NAME ADDR",
    b"X-UNKNOWN-KEYWORD with some params",
]


def _keyword_head(keyword: bytes) -> bytes:
    return keyword.split(b" ")[0]


@_built_once
def _keyword_lists(max_size: int) -> st.SearchStrategy[list[bytes]]:
    return st.lists(st.sampled_from(_KEYWORDS), max_size=max_size, unique_by=_keyword_head)


@_built_once
def _orders(size: int) -> st.SearchStrategy[list[int]]:
    return st.permutations(range(size))


_CASINGS = st.sampled_from(["upper", "lower", "title"])
_GREETINGS = st.sampled_from([b"", b" Hello [127.0.0.1]", b" at your service"])


def _in_case(keyword: bytes, how: str) -> bytes:
    head, sep, params = keyword.partition(b" ")
    if how == "lower":
        head = head.lower()
    elif how == "title":
        head = head.capitalize()
    return head + sep + params


@_built_once
@st.composite
def ehlo_extension_lists(
    draw: st.DrawFn, required: tuple[bytes, ...] = (), max_size: int = 8
) -> tuple[bytes, ...]:
    """EHLO keyword lines (without code): known and unknown keywords, with and without
    parameters, in upper, lower or title case, ``AUTH=`` lines, ``SIZE`` with and without a
    value. ``required`` lines are always there, in their own case; shrinks toward only those."""
    drawn = draw(_keyword_lists(max_size))
    cased = [_in_case(k, draw(_CASINGS)) for k in drawn]
    # With a required AUTH line, no other AUTH line may offer more mechanisms than it does.
    lines = list(required) + [k for k in cased if not (required and k.upper().startswith(b"AUTH"))]
    order = draw(_orders(len(lines))) if len(lines) > 1 else range(len(lines))
    return tuple(lines[i] for i in order)


@_built_once
@st.composite
def ehlo_replies(
    draw: st.DrawFn, domain: bytes = b"mx.example.com", required: tuple[bytes, ...] = ()
) -> Reply:
    """A 250 EHLO reply: the domain (with or without a greeting text), then extension lines."""
    greeting = draw(_GREETINGS)
    lines = draw(ehlo_extension_lists(required=required))
    return Reply(code=250, lines=(domain + greeting, *lines))


@dataclass(frozen=True, slots=True, kw_only=True)
class Challenge:
    """The 334 lines a server sends during AUTH, CRLF included."""

    lines: tuple[bytes, ...]


_LOGIN_WORDS = ["Username:", "Password:", "User Name", "", "用户名:", "Passwort:", "\x00"]
_LOGIN_PROMPTS = st.one_of(
    st.sampled_from(_LOGIN_WORDS).map(str.encode),
    st.text(max_size=30).map(str.encode),
)
_PLAIN_CHALLENGES = st.sampled_from([b"334 \r\n", b"334\r\n"])


@_built_once
@st.composite
def auth_challenges(draw: st.DrawFn, mechanism: str) -> Challenge:
    """AUTH challenges: for LOGIN, two prompts of any text, base64-encoded as RFC 4954 §4 wants
    (a client must not depend on what they say); for PLAIN, the empty challenge as ``334 `` or
    ``334``. Shrinks toward the usual ``VXNlcm5hbWU6``/``UGFzc3dvcmQ6`` and ``334 ``."""
    if mechanism == "PLAIN":
        return Challenge(lines=(draw(_PLAIN_CHALLENGES),))
    assert mechanism == "LOGIN", mechanism
    first, second = draw(_LOGIN_PROMPTS), draw(_LOGIN_PROMPTS)
    return Challenge(lines=tuple(b"334 " + base64.b64encode(w) + b"\r\n" for w in (first, second)))
