"""Command, parse_path_argument and CommandParser (line mode and DATA mode).

Rules: R-LINE-1/2 (CRLF only; only CRLF.CRLF ends DATA), R-TX-1 (path syntax), R-TX-6/R-DOT-1.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.errors import LocalProtocolError, MessageTooLarge, RemoteProtocolError
from harness.protocol import (
    NEED_DATA,
    Command,
    CommandParser,
    ConnectionClosed,
    DataReceived,
    PathArgument,
    parse_path_argument,
)

Event = Command | DataReceived | ConnectionClosed


def drain(parser: CommandParser) -> list[Event]:
    """Collect events until NEED_DATA or ConnectionClosed; enter DATA mode after a DATA command,
    as a server does once it has sent its 354."""
    events: list[Event] = []
    while True:
        event = parser.next_event()
        if event is NEED_DATA:
            return events
        events.append(event)
        if isinstance(event, ConnectionClosed):
            return events
        if isinstance(event, Command) and event.verb == "DATA":
            parser.start_data()


def run(chunks: list[bytes], *, eof: bool = False, **kwargs: Any) -> list[Event]:
    parser = CommandParser(**kwargs)
    events: list[Event] = []
    for chunk in chunks:
        parser.receive_data(chunk)
        events += drain(parser)
    if eof:
        parser.receive_data(b"")
        events += drain(parser)
    return events


def data_phase(parser_chunks: bytes, **kwargs: Any) -> CommandParser:
    parser = CommandParser(**kwargs)
    parser.start_data()
    parser.receive_data(parser_chunks)
    return parser


# ---------------------------------------------------------------------------------------------
# Command


@pytest.mark.parametrize(
    ("line", "verb", "argument"),
    [
        pytest.param(b"MAIL FROM:<a@b>", "MAIL", "FROM:<a@b>", id="mail"),
        pytest.param(b"mail FROM:<a@b>", "MAIL", "FROM:<a@b>", id="lower-case-verb"),
        pytest.param(b"eHlO client.example", "EHLO", "client.example", id="mixed-case-verb"),
        pytest.param(b"rcpt to:<x@y> NOTIFY=NEVER", "RCPT", "to:<x@y> NOTIFY=NEVER", id="as-sent"),
        pytest.param(b"QUIT", "QUIT", "", id="no-argument"),
        pytest.param(b"NOOP ", "NOOP", "", id="trailing-space"),
        pytest.param(b"EHLO  two.spaces", "EHLO", " two.spaces", id="double-space-kept"),
        pytest.param(b"MAIL FROM: <a@b>", "MAIL", "FROM: <a@b>", id="space-after-colon-kept"),
        pytest.param(b"AUTH PLAIN AGEAYg==", "AUTH", "PLAIN AGEAYg==", id="auth-ir"),
        pytest.param(b"", "", "", id="empty-line"),
        pytest.param(b"dGVzdA==", "DGVZDA==", "", id="sasl-response-line"),
    ],
)
def test_command_parsing(line: bytes, verb: str, argument: str) -> None:
    command = Command(line=line)
    assert command.verb == verb
    assert command.argument == argument
    assert command.line == line
    assert command.to_bytes() == line + b"\r\n"


def test_command_8bit_argument_round_trips() -> None:
    command = Command(line=b"MAIL FROM:<\xff\xfe@example.com>")
    assert command.verb == "MAIL"
    assert command.argument.encode("utf-8", "surrogateescape") == b"FROM:<\xff\xfe@example.com>"
    assert command.text.encode("utf-8", "surrogateescape") == command.line
    utf8 = Command(line="MAIL FROM:<grüße@example.com> SMTPUTF8".encode())
    assert utf8.argument == "FROM:<grüße@example.com> SMTPUTF8"


@pytest.mark.parametrize(
    ("verb", "argument", "wire"),
    [
        pytest.param("MAIL", "FROM:<a@b>", b"MAIL FROM:<a@b>\r\n", id="with-argument"),
        pytest.param("QUIT", "", b"QUIT\r\n", id="no-argument"),
        pytest.param("EHLO", "[192.0.2.1]", b"EHLO [192.0.2.1]\r\n", id="address-literal"),
        pytest.param("ehlo", "x", b"ehlo x\r\n", id="verb-case-as-given"),
    ],
)
def test_command_build(verb: str, argument: str, wire: bytes) -> None:
    command = Command.build(verb, argument)
    assert command.to_bytes() == wire
    assert command.verb == verb.upper()
    assert command.argument == argument


@pytest.mark.parametrize(
    ("verb", "argument"),
    [
        pytest.param("MAIL", "FROM:<a@b>\r\nRCPT TO:<c@d>", id="crlf-injection"),
        pytest.param("MAIL", "FROM:<a@b>\nRCPT TO:<c@d>", id="lf-in-argument"),
        pytest.param("MAIL", "FROM:<a@b>\r", id="cr-in-argument"),
        pytest.param("NOOP\r\n", "", id="crlf-in-verb"),
        pytest.param("NO\nOP", "", id="lf-in-verb"),
        pytest.param("NO\rOP", "x", id="cr-in-verb"),
    ],
)
def test_command_build_rejects_cr_lf(verb: str, argument: str) -> None:
    with pytest.raises(LocalProtocolError) as excinfo:
        Command.build(verb, argument)
    assert excinfo.type is LocalProtocolError


# ---------------------------------------------------------------------------------------------
# parse_path_argument


@pytest.mark.parametrize(
    ("argument", "keyword", "address", "params"),
    [
        pytest.param("FROM:<a@b.example>", "FROM", "a@b.example", {}, id="simple"),
        pytest.param("FROM:<>", "FROM", "", {}, id="null-path"),
        pytest.param("from:<a@b>", "FROM", "a@b", {}, id="case-insensitive-keyword"),
        pytest.param("TO:<postmaster>", "TO", "postmaster", {}, id="to-postmaster"),
        pytest.param("FROM:<a@b> SIZE=1000", "FROM", "a@b", {"SIZE": "1000"}, id="param-value"),
        pytest.param("FROM:<a@b> SMTPUTF8", "FROM", "a@b", {"SMTPUTF8": None}, id="param-bare"),
        pytest.param(
            "FROM:<> size=10 body=8BITMIME smtputf8",
            "FROM",
            "",
            {"SIZE": "10", "BODY": "8BITMIME", "SMTPUTF8": None},
            id="several-params-upper-cased-names",
        ),
        pytest.param(
            "TO:<c@d> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c@d",
            "TO",
            "c@d",
            {"NOTIFY": "SUCCESS,FAILURE", "ORCPT": "rfc822;c@d"},
            id="dsn-params-values-as-sent",
        ),
        pytest.param(
            "FROM:<a@b> ENVID=QQ314159+2D1", "FROM", "a@b", {"ENVID": "QQ314159+2D1"}, id="xtext"
        ),
        pytest.param("FROM:<a@b> X-FOO-1", "FROM", "a@b", {"X-FOO-1": None}, id="dash-in-name"),
        pytest.param(
            "FROM:<grüße@b> SMTPUTF8", "FROM", "grüße@b", {"SMTPUTF8": None}, id="utf8-address"
        ),
        pytest.param(
            "FROM:<@relay.example:a@b>", "FROM", "@relay.example:a@b", {}, id="source-route"
        ),
    ],
)
def test_parse_path_argument(
    argument: str, keyword: str, address: str, params: dict[str, str | None]
) -> None:
    assert parse_path_argument(argument, keyword) == PathArgument(
        keyword=keyword, address=address, params=params
    )


@pytest.mark.parametrize(
    ("argument", "keyword"),
    [
        pytest.param("FROM: <a@b>", "FROM", id="space-after-colon"),
        pytest.param("FROM :<a@b>", "FROM", id="space-before-colon"),
        pytest.param("FROM:a@b", "FROM", id="no-brackets"),
        pytest.param("FROM:<a@b", "FROM", id="no-closing-bracket"),
        pytest.param("FROM:a@b>", "FROM", id="no-opening-bracket"),
        pytest.param("FROM:", "FROM", id="no-path"),
        pytest.param("", "FROM", id="empty"),
        pytest.param("TO:<a@b>", "FROM", id="wrong-keyword"),
        pytest.param("FROM:<a@b>", "TO", id="wrong-keyword-to"),
        pytest.param("FROMX:<a@b>", "FROM", id="keyword-glued"),
        pytest.param("FROM:<Joe <a@b>>", "FROM", id="display-name"),
        pytest.param("FROM:<a b@c>", "FROM", id="space-in-address"),
        pytest.param("FROM:<a@b>SIZE=10", "FROM", id="param-without-space"),
        pytest.param("FROM:<a@b>>", "FROM", id="extra-bracket"),
        pytest.param("FROM:<a@b> ", "FROM", id="trailing-space"),
        pytest.param("FROM:<a@b>  SIZE=10", "FROM", id="two-spaces-before-param"),
        pytest.param("FROM:<a@b> SIZE=", "FROM", id="param-empty-value"),
        pytest.param("FROM:<a@b> =10", "FROM", id="param-no-name"),
        pytest.param("FROM:<a@b> -SIZE=10", "FROM", id="param-name-starts-with-dash"),
        pytest.param("FROM:<a@b> SI_ZE=10", "FROM", id="param-name-bad-char"),
        pytest.param("FROM:<a@b> SIZE=1=0", "FROM", id="param-value-with-equals"),
        pytest.param("FROM:<a@b> SIZE=1\x7f", "FROM", id="param-value-with-del"),
        pytest.param("FROM:<a@b> SIZE=10\n", "FROM", id="param-value-trailing-lf"),
        pytest.param("FROM:<a@b> SMTPUTF8\n", "FROM", id="param-name-trailing-lf"),
        pytest.param("FROM:<a@b> SIZE=1\t0", "FROM", id="param-value-with-tab"),
    ],
)
def test_parse_path_argument_errors(argument: str, keyword: str) -> None:
    with pytest.raises(RemoteProtocolError) as excinfo:
        parse_path_argument(argument, keyword)
    assert excinfo.type is RemoteProtocolError


# ---------------------------------------------------------------------------------------------
# CommandParser, line mode


def test_line_mode_commands_in_one_chunk() -> None:
    events = run([b"EHLO c.example\r\nMAIL FROM:<a@b>\r\nrcpt TO:<c@d>\r\n"])
    assert events == [
        Command(line=b"EHLO c.example"),
        Command(line=b"MAIL FROM:<a@b>"),
        Command(line=b"rcpt TO:<c@d>"),
    ]


def test_line_mode_byte_by_byte() -> None:
    wire = b"EHLO c.example\r\nNOOP\r\n"
    assert run([wire[i : i + 1] for i in range(len(wire))]) == [
        Command(line=b"EHLO c.example"),
        Command(line=b"NOOP"),
    ]


def test_line_mode_clean_eof() -> None:
    events = run([b"QUIT\r\n"], eof=True)
    assert events == [Command(line=b"QUIT"), ConnectionClosed()]


def test_eof_with_nothing_received() -> None:
    assert run([], eof=True) == [ConnectionClosed()]


@pytest.mark.parametrize(
    ("chunks", "eof", "kwargs"),
    [
        pytest.param([b"QUIT"], True, {}, id="eof-mid-command"),
        pytest.param([b"QUIT\r"], True, {}, id="eof-before-lf"),
        pytest.param([b"QUIT\n"], False, {}, id="bare-lf"),
        pytest.param([b"NO\rOP\r\n"], False, {}, id="bare-cr"),
        pytest.param([b"\n"], False, {}, id="lone-lf"),
        pytest.param([b"NOOP " + b"x" * 20 + b"\r\n"], False, {"max_line": 10}, id="long-line"),
        pytest.param([b"NOOP " + b"x" * 20], False, {"max_line": 10}, id="long-line-no-end"),
    ],
)
def test_line_mode_errors(chunks: list[bytes], eof: bool, kwargs: dict[str, Any]) -> None:
    with pytest.raises(RemoteProtocolError) as excinfo:
        run(chunks, eof=eof, **kwargs)
    assert excinfo.type is RemoteProtocolError


def test_line_mode_allow_bare_lf() -> None:
    assert run([b"NOOP\nQUIT\r\n"], allow_bare_lf=True) == [
        Command(line=b"NOOP"),
        Command(line=b"QUIT"),
    ]


def test_parser_stays_broken_after_an_error() -> None:
    parser = CommandParser()
    parser.receive_data(b"NOOP\n")
    with pytest.raises(RemoteProtocolError) as first:
        parser.next_event()
    parser.receive_data(b"QUIT\r\n")
    with pytest.raises(RemoteProtocolError) as again:
        parser.next_event()
    assert again.value is first.value


def test_pending() -> None:
    parser = CommandParser()
    parser.receive_data(b"NOOP\r\nQU")
    assert parser.next_event() == Command(line=b"NOOP")
    assert parser.next_event() is NEED_DATA
    assert parser.pending == b"QU"


# ---------------------------------------------------------------------------------------------
# CommandParser, DATA mode


def test_empty_data() -> None:
    parser = data_phase(b".\r\n")
    assert parser.in_data
    assert parser.next_event() == DataReceived(wire=b"")
    assert not parser.in_data
    assert parser.next_event() is NEED_DATA


def test_empty_data_split() -> None:
    parser = CommandParser()
    parser.start_data()
    for byte in b".\r":
        parser.receive_data(bytes([byte]))
        assert parser.next_event() is NEED_DATA
    parser.receive_data(b"\n")
    assert parser.next_event() == DataReceived(wire=b"")


def test_empty_line_then_end() -> None:
    # One empty text line: the CRLF belongs to it, then ".CRLF".
    assert data_phase(b"\r\n.\r\n").next_event() == DataReceived(wire=b"\r\n")


def test_normal_data() -> None:
    wire = b"Subject: hi\r\n\r\nbody\r\n..dot-stuffed\r\n"
    parser = data_phase(wire + b".\r\n")
    assert parser.next_event() == DataReceived(wire=wire)
    assert not parser.in_data


def test_normal_data_byte_by_byte() -> None:
    wire = b"Subject: hi\r\n\r\nbody\r\n"
    parser = CommandParser()
    parser.start_data()
    events = []
    for byte in wire + b".\r\nQUIT\r\n":
        parser.receive_data(bytes([byte]))
        while (event := parser.next_event()) is not NEED_DATA:
            events.append(event)
    assert events == [DataReceived(wire=wire), Command(line=b"QUIT")]


@pytest.mark.parametrize(
    "fake_end",
    [
        pytest.param(b"\n.\n", id="LF.LF"),
        pytest.param(b"\r.\r", id="CR.CR"),
        pytest.param(b"\n.\r\n", id="LF.CRLF"),
        pytest.param(b"\r\n.\n", id="CRLF.LF"),
        pytest.param(b"\r.\r\n", id="CR.CRLF"),
        pytest.param(b"\r\n.\r", id="CRLF.CR"),
        pytest.param(b"\r\n \r\n", id="CRLF-space-CRLF"),
    ],
)
def test_smuggling_variants_do_not_end_data(fake_end: bytes) -> None:
    wire = b"first" + fake_end + b"MAIL FROM:<evil@x>\r\nRCPT TO:<victim@y>\r\nDATA\r\n"
    for chunks in ([wire + b".\r\n"], [bytes([b]) for b in wire + b".\r\n"]):
        parser = CommandParser()
        parser.start_data()
        events = []
        for chunk in chunks:
            parser.receive_data(chunk)
            while (event := parser.next_event()) is not NEED_DATA:
                events.append(event)
        assert events == [DataReceived(wire=wire)]


@pytest.mark.parametrize(
    "fake_end",
    [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n"],
    ids=["LF.LF", "CR.CR", "LF.CRLF", "CRLF.LF"],
)
def test_smuggling_variant_then_eof_is_an_error(fake_end: bytes) -> None:
    parser = data_phase(b"body" + fake_end)
    assert parser.next_event() is NEED_DATA
    parser.receive_data(b"")
    with pytest.raises(RemoteProtocolError):
        parser.next_event()


def test_data_then_command_in_same_chunk() -> None:
    events = run([b"DATA\r\nSubject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n"], eof=True)
    assert events == [
        Command(line=b"DATA"),
        DataReceived(wire=b"Subject: x\r\n\r\nhello\r\n"),
        Command(line=b"QUIT"),
        ConnectionClosed(),
    ]


def test_two_transactions_in_one_chunk() -> None:
    events = run([b"DATA\r\na\r\n.\r\nDATA\r\n.\r\nDATA\r\n..\r\n.\r\nRSET\r\n"])
    assert events == [
        Command(line=b"DATA"),
        DataReceived(wire=b"a\r\n"),
        Command(line=b"DATA"),
        DataReceived(wire=b""),
        Command(line=b"DATA"),
        DataReceived(wire=b"..\r\n"),
        Command(line=b"RSET"),
    ]


def test_data_is_not_line_checked() -> None:
    # DATA content is handed out as it was on the wire: bare LF/CR and long lines are the
    # checker's business, not the framing's.
    wire = b"a\nb\rc\r\n" + b"x" * 50 + b"\r\n"
    parser = data_phase(wire + b".\r\n", max_line=10)
    assert parser.next_event() == DataReceived(wire=wire)


@pytest.mark.parametrize(
    "received",
    [
        pytest.param(b"", id="nothing"),
        pytest.param(b"body\r\n", id="after-a-line"),
        pytest.param(b"body\r\n.", id="after-dot"),
        pytest.param(b"body\r\n.\r", id="after-dot-cr"),
        pytest.param(b".", id="lone-dot"),
    ],
)
def test_eof_during_data(received: bytes) -> None:
    parser = data_phase(received)
    if received:
        assert parser.next_event() is NEED_DATA
    parser.receive_data(b"")
    with pytest.raises(RemoteProtocolError) as excinfo:
        parser.next_event()
    assert excinfo.type is RemoteProtocolError
    assert parser.in_data


def test_max_data_exceeded_without_terminator() -> None:
    parser = data_phase(b"x" * 30, max_data=10)
    with pytest.raises(RemoteProtocolError) as excinfo:
        parser.next_event()
    assert excinfo.type is MessageTooLarge  # answered 552, not the generic 421


def _segmentations(wire: bytes) -> list[list[bytes]]:
    """One chunk, byte by byte, and every split into two chunks."""
    out = [[wire], [bytes([b]) for b in wire]]
    out += [[wire[:i], wire[i:]] for i in range(1, len(wire))]
    return out


@pytest.mark.parametrize("size", [10, 11, 12, 20])
def test_max_data_does_not_depend_on_segmentation(size: int) -> None:
    # max_data is the largest DataReceived.wire accepted: content of exactly max_data octets
    # passes, one more fails — however the bytes arrive, terminator in the same chunk or not.
    max_data = 11
    wire = b"x" * (size - 2) + b"\r\n"
    for chunks in _segmentations(wire + b".\r\nQUIT\r\n"):
        parser = CommandParser(max_data=max_data)
        parser.start_data()
        events: list[Event] = []
        try:
            for chunk in chunks:
                parser.receive_data(chunk)
                while (event := parser.next_event()) is not NEED_DATA:
                    events.append(event)
        except RemoteProtocolError:
            assert size > max_data, f"content of {size} octets rejected; chunks={chunks!r}"
        else:
            assert size <= max_data, f"content of {size} octets accepted; chunks={chunks!r}"
            assert events == [DataReceived(wire=wire), Command(line=b"QUIT")]
