"""Extensions.from_reply on real EHLO replies (shared/reference/server-quirks.md).

Rules: R-EHLO-2 (first line is the domain; keyword syntax), R-EHLO-3 (case-insensitive),
R-EHLO-4 (SIZE without a value), R-AUTH-1 (AUTH and AUTH= union, deduplicated), R-REPLY-8.
"""

from __future__ import annotations

import pytest

from harness.protocol import NEED_DATA, Extensions, Reply, ReplyParser


def ehlo(*lines: str) -> Extensions:
    """Build the wire form of a 250 EHLO reply, parse it with ReplyParser, then read it."""
    wire = b"".join(
        b"250" + (b" " if i == len(lines) - 1 else b"-") + line.encode() + b"\r\n"
        for i, line in enumerate(lines)
    )
    parser = ReplyParser()
    parser.receive_data(wire)
    reply = parser.next_event()
    assert isinstance(reply, Reply)
    assert parser.next_event() is NEED_DATA
    return Extensions.from_reply(reply)


# §1 Gmail, EHLO after STARTTLS on 587.
GMAIL = (
    "smtp.gmail.com at your service, [2604:a880:800:a1::ddc:6001]",
    "SIZE 35882577",
    "8BITMIME",
    "AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH",
    "ENHANCEDSTATUSCODES",
    "PIPELINING",
    "CHUNKING",
    "SMTPUTF8",
)

# §2 NetEase 163.com (Coremail): AUTH twice (new and old style) and an opaque keyword.
NETEASE_163 = (
    "mail",
    "PIPELINING",
    "AUTH LOGIN PLAIN",
    "AUTH=LOGIN PLAIN",
    "coremail 1Uxr2xKj7kG0xkI17xGrU7I0s8FY2U3Uj8Cz28x1UUUUU7Ic2I0Y2Urit98DUCa0xDrUUUUj",
    "STARTTLS",
    "8BITMIME",
)

# §5 Exchange on-premises (2013): SIZE without a value, X-EXPS.
EXCHANGE = (
    "TS-EXHC-P1.CXG.CO.UK Hello [172.16.10.102]",
    "SIZE",
    "PIPELINING",
    "DSN",
    "ENHANCEDSTATUSCODES",
    "X-ANONYMOUSTLS",
    "AUTH NTLM",
    "X-EXPS GSSAPI NTLM",
    "8BITMIME",
    "BINARYMIME",
    "CHUNKING",
    "XEXCH50",
    "XRDST",
    "XSHADOW",
)

# §7 Postfix (swaks transcript): the first line is the bare hostname.
POSTFIX = (
    "mail.saloniamatteo.top",
    "PIPELINING",
    "SIZE 10240000",
    "VRFY",
    "ETRN",
    "STARTTLS",
    "ENHANCEDSTATUSCODES",
    "8BITMIME",
    "DSN",
    "SMTPUTF8",
    "CHUNKING",
)


def test_gmail() -> None:
    ext = ehlo(*GMAIL)
    assert ext.domain == "smtp.gmail.com"
    assert list(ext.keywords) == [
        "SIZE",
        "8BITMIME",
        "AUTH",
        "ENHANCEDSTATUSCODES",
        "PIPELINING",
        "CHUNKING",
        "SMTPUTF8",
    ]
    assert ext.keywords["SIZE"] == ("35882577",)
    assert ext.size_limit == 35882577
    assert ext.auth_mechanisms == (
        "LOGIN",
        "PLAIN",
        "XOAUTH2",
        "PLAIN-CLIENTTOKEN",
        "OAUTHBEARER",
        "XOAUTH",
    )
    assert ext.has("auth") and ext.has("SMTPUTF8") and ext.has("chunking")
    assert not ext.has("STARTTLS")
    assert ext.ignored == ()


def test_netease_163() -> None:
    ext = ehlo(*NETEASE_163)
    assert ext.domain == "mail"
    assert ext.auth_mechanisms == ("LOGIN", "PLAIN")  # the AUTH= line adds nothing new
    assert ext.keywords["AUTH"] == ("LOGIN", "PLAIN")
    assert "AUTH=LOGIN" not in ext.keywords
    assert ext.keywords["COREMAIL"] == (
        "1Uxr2xKj7kG0xkI17xGrU7I0s8FY2U3Uj8Cz28x1UUUUU7Ic2I0Y2Urit98DUCa0xDrUUUUj",
    )
    assert ext.has("coremail") and ext.has("STARTTLS") and ext.has("8BITMIME")
    assert ext.size_limit is None
    assert set(ext.keywords) == {"PIPELINING", "AUTH", "COREMAIL", "STARTTLS", "8BITMIME"}
    assert ext.ignored == ()


def test_netease_126_old() -> None:
    ext = ehlo("mail", "AUTH LOGIN PLAIN", "AUTH=LOGIN PLAIN", "8BITMIME")
    assert ext.auth_mechanisms == ("LOGIN", "PLAIN")
    assert set(ext.keywords) == {"AUTH", "8BITMIME"}


def test_exchange() -> None:
    ext = ehlo(*EXCHANGE)
    assert ext.domain == "TS-EXHC-P1.CXG.CO.UK"
    assert ext.keywords["SIZE"] == ()
    assert ext.size_limit == 0  # SIZE without a value: no fixed limit (RFC 1870 §4)
    assert ext.keywords["X-EXPS"] == ("GSSAPI", "NTLM")
    assert ext.keywords["AUTH"] == ("NTLM",)
    # Only AUTH and AUTH= lines feed auth_mechanisms; X-EXPS is Exchange's private list.
    assert ext.auth_mechanisms == ("NTLM",)
    assert ext.has("X-ANONYMOUSTLS") and ext.has("xshadow") and ext.has("XEXCH50")
    assert len(ext.keywords) == len(EXCHANGE) - 1
    assert ext.ignored == ()


def test_exchange_both_auth_styles() -> None:
    # mailcore2#1875
    ext = ehlo(
        "mx.example Hello",
        "SIZE 24117248",
        "STARTTLS",
        "X-ANONYMOUSTLS",
        "AUTH LOGIN PLAIN",
        "AUTH=LOGIN PLAIN",
        "X-EXPS GSSAPI NTLM",
        "8BITMIME",
        "BINARYMIME",
        "CHUNKING",
        "XRDST",
    )
    assert ext.size_limit == 24117248
    assert ext.auth_mechanisms == ("LOGIN", "PLAIN")


def test_postfix() -> None:
    ext = ehlo(*POSTFIX)
    assert ext.domain == "mail.saloniamatteo.top"
    assert list(ext.keywords) == [line.split()[0] for line in POSTFIX[1:]]
    assert ext.size_limit == 10240000
    assert ext.auth_mechanisms == ()
    assert not ext.has("AUTH")
    assert ext.has("VRFY") and ext.has("etrn")


def test_postfix_broken_sasl_auth_clients_only_old_style() -> None:
    # Only the old-style line (thunderbird-android#8715): still counts as AUTH.
    ext = ehlo("mx", "AUTH=PLAIN LOGIN", "8BITMIME")
    assert ext.auth_mechanisms == ("PLAIN", "LOGIN")
    assert ext.has("AUTH")
    assert "AUTH" not in ext.keywords
    assert ext.ignored == ()


def test_lower_case_keywords() -> None:
    ext = ehlo("mx.example", "size 10240000", "auth login plain", "starttls", "8bitmime")
    assert set(ext.keywords) == {"SIZE", "AUTH", "STARTTLS", "8BITMIME"}
    assert ext.size_limit == 10240000
    assert ext.auth_mechanisms == ("LOGIN", "PLAIN")
    assert ext.has("STARTTLS") and ext.has("StartTls")
    # Parameters are kept as sent, only keywords and mechanisms are upper-cased.
    assert ext.keywords["AUTH"] == ("login", "plain")


def test_lower_case_old_style_auth() -> None:
    ext = ehlo("mx", "auth=cram-md5 login")
    assert ext.auth_mechanisms == ("CRAM-MD5", "LOGIN")


def test_trailing_spaces() -> None:
    ext = ehlo("mx.example  ", "PIPELINING ", "SIZE 1000  ", "AUTH PLAIN  LOGIN ", "8BITMIME\t")
    assert ext.domain == "mx.example"
    assert ext.keywords == {
        "PIPELINING": (),
        "SIZE": ("1000",),
        "AUTH": ("PLAIN", "LOGIN"),
        "8BITMIME": (),
    }
    assert ext.size_limit == 1000
    assert ext.auth_mechanisms == ("PLAIN", "LOGIN")
    assert ext.ignored == ()


@pytest.mark.parametrize(
    ("line", "limit"),
    [
        pytest.param(None, None, id="not-advertised"),
        pytest.param("SIZE", 0, id="no-value"),
        pytest.param("SIZE ", 0, id="no-value-trailing-space"),
        pytest.param("SIZE 0", 0, id="zero"),
        pytest.param("SIZE 35882577", 35882577, id="gmail"),
        pytest.param("size 157286400", 157286400, id="lower-case"),
        pytest.param("SIZE abc", None, id="not-a-number"),
        pytest.param("SIZE -1", None, id="negative"),
        pytest.param("SIZE 1e6", None, id="float-ish"),
    ],
)
def test_size_limit(line: str | None, limit: int | None) -> None:
    lines = ["mx.example", "PIPELINING"] + ([line] if line is not None else [])
    assert ehlo(*lines).size_limit == limit


@pytest.mark.parametrize(
    ("lines", "mechanisms"),
    [
        pytest.param(["AUTH PLAIN"], ("PLAIN",), id="single"),
        pytest.param(["AUTH PLAIN LOGIN", "AUTH=LOGIN PLAIN"], ("PLAIN", "LOGIN"), id="same-set"),
        pytest.param(
            ["AUTH PLAIN", "AUTH=LOGIN XOAUTH2"], ("PLAIN", "LOGIN", "XOAUTH2"), id="union"
        ),
        pytest.param(["AUTH=LOGIN", "AUTH PLAIN LOGIN"], ("LOGIN", "PLAIN"), id="old-style-first"),
        pytest.param(["AUTH PLAIN PLAIN plain"], ("PLAIN",), id="dedup-within-line"),
        pytest.param(["AUTH login", "AUTH=LOGIN"], ("LOGIN",), id="dedup-across-case"),
        pytest.param(["AUTH"], (), id="auth-without-mechanisms"),
        pytest.param(["AUTH="], (), id="old-style-empty"),
        pytest.param(["X-EXPS GSSAPI NTLM"], (), id="x-exps-not-merged"),
    ],
)
def test_auth_mechanism_union(lines: list[str], mechanisms: tuple[str, ...]) -> None:
    assert ehlo("mx.example", *lines).auth_mechanisms == mechanisms


def test_single_line_reply_has_no_keywords() -> None:
    ext = ehlo("mx.example greets you")
    assert ext.domain == "mx.example"
    assert ext.keywords == {}
    assert ext.auth_mechanisms == ()


def test_empty_first_line() -> None:
    ext = Extensions.from_reply(Reply(code=250, lines=(b"", b"PIPELINING")))
    assert ext.domain == ""
    assert ext.has("PIPELINING")


def test_invalid_keyword_lines_are_ignored() -> None:
    ext = Extensions.from_reply(
        Reply(code=250, lines=(b"mx", b"", b"-BAD", b"X_UNDERSCORE 1", b"\xff\xfe", b"DSN"))
    )
    assert set(ext.keywords) == {"DSN"}
    assert len(ext.ignored) == 4
    assert ext.ignored[0] == ""
    assert ext.ignored[1:3] == ("-BAD", "X_UNDERSCORE 1")
