"""ReplyParser and Reply: the reply grammar of RFC 5321 §4.2 (rules R-REPLY-1…8, R-LINE-1/4)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.errors import LocalProtocolError, RemoteProtocolError
from harness.protocol import NEED_DATA, ConnectionClosed, Reply, ReplyParser


def parse_all(wire: bytes, *, eof: bool = False, **kwargs: Any) -> list[Reply]:
    """Feed ``wire`` in one chunk and return every complete Reply (NEED_DATA ends the list)."""
    parser = ReplyParser(**kwargs)
    parser.receive_data(wire)
    if eof:
        parser.receive_data(b"")
    replies: list[Reply] = []
    while True:
        event = parser.next_event()
        if event is NEED_DATA or isinstance(event, ConnectionClosed):
            return replies
        assert isinstance(event, Reply)
        replies.append(event)


def parse_bytewise(wire: bytes) -> list[Reply]:
    """Feed ``wire`` one byte at a time, draining events after every byte."""
    parser = ReplyParser()
    replies: list[Reply] = []
    for i in range(len(wire)):
        parser.receive_data(wire[i : i + 1])
        while (event := parser.next_event()) is not NEED_DATA:
            assert isinstance(event, Reply)
            replies.append(event)
    return replies


GBK_535 = b"Error: \xc7\xeb\xca\xb9"

# (wire, expected replies)
VALID = [
    pytest.param(b"250 OK\r\n", [Reply(code=250, lines=(b"OK",))], id="single-line"),
    pytest.param(
        b"250-mail.example.com\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
        [Reply(code=250, lines=(b"mail.example.com", b"PIPELINING", b"8BITMIME"))],
        id="multi-line",
    ),
    pytest.param(b"250\r\n", [Reply(code=250, lines=(b"",))], id="bare-code-no-text"),
    pytest.param(b"250 \r\n", [Reply(code=250, lines=(b"",))], id="code-space-empty-text"),
    pytest.param(b"334 \r\n", [Reply(code=334, lines=(b"",))], id="empty-334-challenge"),
    pytest.param(
        b"250-\r\n250 last\r\n", [Reply(code=250, lines=(b"", b"last"))], id="empty-continuation"
    ),
    pytest.param(
        b"250-a\r\n250\r\n", [Reply(code=250, lines=(b"a", b""))], id="bare-code-last-line"
    ),
    pytest.param(b"250 OK.  \r\n", [Reply(code=250, lines=(b"OK.  ",))], id="trailing-spaces-kept"),
    pytest.param(b"250 a\tb\r\n", [Reply(code=250, lines=(b"a\tb",))], id="tab-in-text"),
    pytest.param(b"535 " + GBK_535 + b"\r\n", [Reply(code=535, lines=(GBK_535,))], id="gbk-8bit"),
    pytest.param(
        b"220 ready\r\n250 OK\r\n",
        [Reply(code=220, lines=(b"ready",)), Reply(code=250, lines=(b"OK",))],
        id="two-replies-one-chunk",
    ),
    pytest.param(
        b"250-QQ\r\n250-SIZE 73400320\r\n250 OK\r\n",
        [Reply(code=250, lines=(b"QQ", b"SIZE 73400320", b"OK"))],
        id="multi-line-helo-qq",
    ),
    pytest.param(
        b"535-5.7.8 Username and Password not accepted. Learn more at\r\n"
        b"535 5.7.8  https://support.google.com/mail/?p=BadCredentials i5sm8565805wrv.34 - gsmtp\r\n",
        [
            Reply(
                code=535,
                lines=(
                    b"5.7.8 Username and Password not accepted. Learn more at",
                    b"5.7.8  https://support.google.com/mail/?p=BadCredentials i5sm8565805wrv.34"
                    b" - gsmtp",
                ),
            )
        ],
        id="gmail-535-multi-line",
    ),
    pytest.param(b"422 x\r\n", [Reply(code=422, lines=(b"x",))], id="unknown-but-valid-code"),
    pytest.param(b"559 x\r\n", [Reply(code=559, lines=(b"x",))], id="highest-second-digit-5"),
    pytest.param(b"200 x\r\n", [Reply(code=200, lines=(b"x",))], id="lowest-code"),
]


@pytest.mark.parametrize(("wire", "expected"), VALID)
def test_valid_replies(wire: bytes, expected: list[Reply]) -> None:
    assert parse_all(wire) == expected


@pytest.mark.parametrize(("wire", "expected"), VALID)
def test_valid_replies_byte_by_byte(wire: bytes, expected: list[Reply]) -> None:
    assert parse_bytewise(wire) == expected


def test_gbk_text_is_kept_as_bytes() -> None:
    (reply,) = parse_all(b"535 " + GBK_535 + b"\r\n")
    assert reply.lines == (b"Error: \xc7\xeb\xca\xb9",)
    assert isinstance(reply.lines[0], bytes)
    # .text never raises on 8-bit text; undecodable bytes are escaped, not dropped.
    # (\xca\xb9 happens to be valid UTF-8, U+02B9, so only the first two are escaped.)
    assert reply.text == "Error: \\xc7\\xeb\u02b9"
    assert reply.klass == 5


@pytest.mark.parametrize(
    ("wire", "enhanced"),
    [
        pytest.param(
            b"535 5.7.139 Authentication unsuccessful, basic authentication is disabled.\r\n",
            "5.7.139",
            id="o365-5.7.139",
        ),
        pytest.param(
            b"451 4.7.0 Temporary server error. Please try again later.\r\n", "4.7.0", id="4.7.0"
        ),
        pytest.param(
            b"535-5.7.8 Username and Password not accepted. Learn more at\r\n"
            b"535 5.7.8  https://support.google.com/mail/?p=BadCredentials - gsmtp\r\n",
            "5.7.8",
            id="gmail-535-5.7.8-multi-line",
        ),
        pytest.param(b"250 2.0.0\r\n", "2.0.0", id="code-only-no-text"),
        pytest.param(b"250 2.1.5 OK\r\n", "2.1.5", id="2.1.5"),
        pytest.param(b"250 OK\r\n", None, id="none"),
        pytest.param(b"250\r\n", None, id="bare-reply"),
        pytest.param(b"550 5.7.1234 x\r\n", None, id="detail-too-long"),
        pytest.param(b"550 3.7.1 x\r\n", None, id="class-3-invalid"),
        pytest.param(b"550 5.7.1x\r\n", None, id="no-space-after-code"),
    ],
)
def test_enhanced_status_code(wire: bytes, enhanced: str | None) -> None:
    (reply,) = parse_all(wire)
    assert reply.enhanced == enhanced


# (wire, parser keyword arguments, feed EOF afterwards)
INVALID = [
    pytest.param(b"250-a\r\n251 b\r\n", {}, False, id="mixed-codes"),
    pytest.param(b"250-a\r\n550-b\r\n250 c\r\n", {}, False, id="mixed-codes-middle"),
    pytest.param(b"250x\r\n", {}, False, id="missing-separator"),
    pytest.param(b"250_ok\r\n", {}, False, id="wrong-separator"),
    pytest.param(b"250-a\r\n\r\n250 b\r\n", {}, False, id="blank-line-inside-reply"),
    pytest.param(b"\r\n", {}, False, id="blank-line-alone"),
    pytest.param(b"250 ok\n", {}, False, id="bare-lf"),
    pytest.param(b"250-a\n250 b\r\n", {}, False, id="bare-lf-continuation"),
    pytest.param(b"\n", {}, False, id="bare-lf-alone"),
    pytest.param(b"250 o\rk\r\n", {}, False, id="bare-cr-inside"),
    pytest.param(b"250 ok\r\r\n", {}, False, id="cr-cr-lf"),
    pytest.param(b"250 o\x00k\r\n", {}, False, id="nul-byte"),
    pytest.param(b"250 \x00\r\n", {}, False, id="nul-only-text"),
    pytest.param(b"600 x\r\n", {}, False, id="code-600"),
    pytest.param(b"2a0 x\r\n", {}, False, id="code-2a0"),
    pytest.param(b"260 x\r\n", {}, False, id="code-second-digit-6"),
    pytest.param(b"199 x\r\n", {}, False, id="code-1xx"),
    pytest.param(b"25 x\r\n", {}, False, id="two-digit-code"),
    pytest.param(b"25\r\n", {}, False, id="short-line"),
    pytest.param(b" 250 ok\r\n", {}, False, id="leading-space"),
    pytest.param(b"\x00250 ok\r\n", {}, False, id="leading-nul"),
    pytest.param(b"250 " + b"x" * 20 + b"\r\n", {"max_line": 10}, False, id="over-long-line"),
    pytest.param(b"250 " + b"x" * 20, {"max_line": 10}, False, id="over-long-line-no-end"),
    pytest.param(
        b"250-a\r\n250-b\r\n250-c\r\n250 d\r\n", {"max_lines": 3}, False, id="too-many-lines"
    ),
    pytest.param(b"250-a\r\n", {}, True, id="eof-after-continuation"),
    pytest.param(b"250 ok", {}, True, id="eof-mid-line"),
    pytest.param(b"250 ok\r", {}, True, id="eof-before-lf"),
    pytest.param(b"2", {}, True, id="eof-after-one-byte"),
]


@pytest.mark.parametrize(("wire", "kwargs", "eof"), INVALID)
def test_invalid_replies_raise_remote_protocol_error(
    wire: bytes, kwargs: dict[str, Any], eof: bool
) -> None:
    with pytest.raises(RemoteProtocolError) as excinfo:
        parse_all(wire, eof=eof, **kwargs)
    assert excinfo.type is RemoteProtocolError


@pytest.mark.parametrize(("wire", "kwargs", "eof"), INVALID)
def test_invalid_replies_byte_by_byte(wire: bytes, kwargs: dict[str, Any], eof: bool) -> None:
    parser = ReplyParser(**kwargs)
    with pytest.raises(RemoteProtocolError) as excinfo:
        for i in range(len(wire)):
            parser.receive_data(wire[i : i + 1])
            while (event := parser.next_event()) is not NEED_DATA:
                assert isinstance(event, Reply)
        if eof:
            parser.receive_data(b"")
            parser.next_event()
    assert excinfo.type is RemoteProtocolError


def test_limits_are_inclusive() -> None:
    # A line of exactly max_line octets and a reply of exactly max_lines lines are accepted.
    assert parse_all(b"250 abcdef\r\n", max_line=10) == [Reply(code=250, lines=(b"abcdef",))]
    assert parse_all(b"250-a\r\n250-b\r\n250 c\r\n", max_lines=3) == [
        Reply(code=250, lines=(b"a", b"b", b"c"))
    ]
    # …also when the bytes trickle in.
    parser = ReplyParser(max_line=10)
    for byte in b"250 abcdef\r\n":
        parser.receive_data(bytes([byte]))
        event = parser.next_event()
    assert event == Reply(code=250, lines=(b"abcdef",))


def test_good_reply_before_bad_line_is_delivered() -> None:
    parser = ReplyParser()
    parser.receive_data(b"250 OK\r\n250 bad\n")
    assert parser.next_event() == Reply(code=250, lines=(b"OK",))
    with pytest.raises(RemoteProtocolError):
        parser.next_event()


def test_clean_eof_gives_connection_closed() -> None:
    parser = ReplyParser()
    parser.receive_data(b"221 Bye\r\n")
    parser.receive_data(b"")
    assert parser.next_event() == Reply(code=221, lines=(b"Bye",))
    assert isinstance(parser.next_event(), ConnectionClosed)
    # Asking again keeps saying so; it does not turn into an error.
    assert isinstance(parser.next_event(), ConnectionClosed)


def test_eof_with_nothing_received() -> None:
    parser = ReplyParser()
    assert parser.next_event() is NEED_DATA
    parser.receive_data(b"")
    assert isinstance(parser.next_event(), ConnectionClosed)


def test_parser_stays_broken_after_an_error() -> None:
    parser = ReplyParser()
    parser.receive_data(b"250-a\r\n251 b\r\n")
    with pytest.raises(RemoteProtocolError) as first:
        parser.next_event()
    parser.receive_data(b"250 OK\r\n")
    for _ in range(3):
        with pytest.raises(RemoteProtocolError) as again:
            parser.next_event()
        assert again.value is first.value
    parser.receive_data(b"")
    with pytest.raises(RemoteProtocolError) as after_eof:
        parser.next_event()
    assert after_eof.value is first.value


def test_pending_and_mid_reply() -> None:
    parser = ReplyParser()
    # Bytes injected after a 220 (the STARTTLS injection pattern) stay visible in pending.
    parser.receive_data(b"220 go ahead\r\n250-inj")
    assert parser.next_event() == Reply(code=220, lines=(b"go ahead",))
    assert parser.next_event() is NEED_DATA
    assert parser.pending == b"250-inj"
    assert not parser.mid_reply
    parser.receive_data(b"ected\r\n250-b\r\n25")
    assert parser.next_event() is NEED_DATA
    assert parser.mid_reply
    assert parser.pending == b"250-injected\r\n250-b\r\n25"
    parser.receive_data(b"0 c\r\n")
    assert parser.next_event() == Reply(code=250, lines=(b"injected", b"b", b"c"))
    assert parser.pending == b""
    assert not parser.mid_reply


def test_allow_bare_lf() -> None:
    assert parse_all(b"250-a\n250 b\r\n", allow_bare_lf=True) == [
        Reply(code=250, lines=(b"a", b"b"))
    ]
    # A bare CR is still an error even when bare LF is tolerated.
    with pytest.raises(RemoteProtocolError):
        parse_all(b"250 a\rb\n", allow_bare_lf=True)


# ---------------------------------------------------------------------------------------------
# Serialisation


@pytest.mark.parametrize(
    ("reply", "wire"),
    [
        pytest.param(Reply(code=250, lines=(b"OK",)), b"250 OK\r\n", id="single"),
        pytest.param(Reply(code=250), b"250\r\n", id="default-lines-bare-code"),
        pytest.param(Reply(code=250, lines=(b"",)), b"250\r\n", id="empty-last-line-bare-code"),
        pytest.param(
            Reply(code=250, lines=(b"mx", b"SIZE 10", b"8BITMIME")),
            b"250-mx\r\n250-SIZE 10\r\n250 8BITMIME\r\n",
            id="multi",
        ),
        pytest.param(
            Reply(code=550, lines=(b"a", b"")), b"550-a\r\n550\r\n", id="multi-empty-last-line"
        ),
        pytest.param(
            Reply(code=550, lines=(b"", b"b")), b"550-\r\n550 b\r\n", id="multi-empty-first-line"
        ),
        pytest.param(Reply(code=535, lines=(GBK_535,)), b"535 " + GBK_535 + b"\r\n", id="8bit"),
        pytest.param(Reply(code=250, lines=(b" ",)), b"250  \r\n", id="space-text"),
        pytest.param(Reply.of(250, "mx", "SIZE"), b"250-mx\r\n250 SIZE\r\n", id="of"),
        pytest.param(Reply.of(354), b"354\r\n", id="of-no-text"),
    ],
)
def test_serialise(reply: Reply, wire: bytes) -> None:
    assert reply.to_bytes() == wire
    assert parse_all(wire) == [reply]


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"code": 600}, id="code-600"),
        pytest.param({"code": 199}, id="code-199"),
        pytest.param({"code": 260}, id="code-260"),
        pytest.param({"code": 25}, id="two-digit"),
        pytest.param({"code": 2500}, id="four-digit"),
        pytest.param({"code": 250, "lines": ()}, id="no-lines"),
        pytest.param({"code": 250, "lines": (b"a\r\nb",)}, id="crlf-in-text"),
        pytest.param({"code": 250, "lines": (b"a\rb",)}, id="cr-in-text"),
        pytest.param({"code": 250, "lines": (b"ok", b"a\n")}, id="lf-in-later-line"),
    ],
)
def test_reply_rejects_unsendable_values(kwargs: dict[str, Any]) -> None:
    with pytest.raises(LocalProtocolError) as excinfo:
        Reply(**kwargs)
    assert excinfo.type is LocalProtocolError


def test_reply_text_and_class() -> None:
    reply = Reply.of(421, "4.7.0 Try again later,", "closing connection.")
    assert reply.text == "4.7.0 Try again later,\nclosing connection."
    assert reply.klass == 4
    assert reply.enhanced == "4.7.0"
