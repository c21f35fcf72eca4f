"""Property tests for the sans-IO core.

The strategies here are deliberately small and local; a public ``harness`` strategies module will
replace them later.
"""

from __future__ import annotations

import itertools
import re

from hypothesis import example, given
from hypothesis import strategies as st

from harness.errors import RemoteProtocolError
from harness.protocol import (
    NEED_DATA,
    Command,
    CommandParser,
    ConnectionClosed,
    DataReceived,
    Reply,
    ReplyParser,
    dot_stuff,
    dot_unstuff,
    encode_data,
)
from harness.protocol.data import bare_line_end_offsets

# ---------------------------------------------------------------------------------------------
# Local strategies

# Reply-code = %x32-35 %x30-35 %x30-39 (RFC 5321 §4.2)
reply_codes = st.builds(
    lambda a, b, c: 100 * a + 10 * b + c,
    st.integers(2, 5),
    st.integers(0, 5),
    st.integers(0, 9),
)

_TEXT_BYTES = [b for b in range(256) if b not in (0x00, 0x0A, 0x0D)]
reply_texts = st.lists(st.sampled_from(_TEXT_BYTES), max_size=40).map(bytes)

replies = st.builds(
    Reply,
    code=reply_codes,
    lines=st.lists(reply_texts, min_size=1, max_size=5).map(tuple),
)

# Messages biased towards the bytes that matter for transparency.
_PIECES = [b"\r", b"\n", b"\r\n", b".", b"..", b".\r\n", b"\r\n.\r\n", b"a", b" ", b"\x00", b"\xff"]
messages = st.one_of(
    st.binary(max_size=60),
    st.lists(st.sampled_from(_PIECES), max_size=25).map(b"".join),
)

# Commands the test driver never mistakes for DATA.
verbs = st.sampled_from(["EHLO", "HELO", "MAIL", "RCPT", "RSET", "NOOP", "VRFY", "AUTH", "QUIT"])
arguments = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"),
    max_size=30,
)
commands = st.builds(Command.build, verbs, arguments)


def crlf_normalised(message: bytes) -> bytes:
    """Reference model, written independently of harness.protocol.data: every CRLF, lone CR and
    lone LF becomes CRLF, and a non-empty message gets a final CRLF."""
    out = bytearray()
    i = 0
    while i < len(message):
        byte = message[i]
        if byte == 0x0D:
            out += b"\r\n"
            i += 2 if message[i + 1 : i + 2] == b"\n" else 1
        elif byte == 0x0A:
            out += b"\r\n"
            i += 1
        else:
            out.append(byte)
            i += 1
    if out and not out.endswith(b"\r\n"):
        out += b"\r\n"
    return bytes(out)


def cut(data: st.DataObject, stream: bytes) -> list[bytes]:
    """Split ``stream`` at drawn cut points into non-empty chunks (``b""`` would mean EOF)."""
    points = data.draw(
        st.lists(st.integers(0, len(stream)), max_size=max(1, len(stream) // 2)), label="cuts"
    )
    bounds = [0, *sorted(set(points)), len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(bounds) if b > a]


# ---------------------------------------------------------------------------------------------
# Replies


@given(replies)
@example(Reply(code=250, lines=(b"",)))
@example(Reply(code=250, lines=(b"", b"")))
@example(Reply(code=535, lines=(b"Error: \xc7\xeb\xca\xb9",)))
def test_reply_round_trip(reply: Reply) -> None:
    parser = ReplyParser()
    parser.receive_data(reply.to_bytes())
    assert parser.next_event() == reply
    assert parser.next_event() is NEED_DATA
    assert not parser.mid_reply
    assert parser.pending == b""


@given(st.lists(replies, min_size=1, max_size=6), st.data())
def test_reply_stream_any_segmentation(expected: list[Reply], data: st.DataObject) -> None:
    stream = b"".join(r.to_bytes() for r in expected)
    chunks = cut(data, stream)
    assert b"".join(chunks) == stream
    parser = ReplyParser()
    got: list[Reply] = []
    for chunk in chunks:
        parser.receive_data(chunk)
        while (event := parser.next_event()) is not NEED_DATA:
            assert isinstance(event, Reply)
            got.append(event)
    assert got == expected
    parser.receive_data(b"")
    assert isinstance(parser.next_event(), ConnectionClosed)


@given(
    st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.sampled_from(
                [b"250", b"250 ", b"250-", b"\r\n", b"\r", b"\n", b"\x00", b"599 x\r\n", b"-", b" "]
            ),
        ),
        max_size=12,
    ),
    st.booleans(),
    st.integers(1, 80),
    st.integers(1, 6),
    st.booleans(),
)
def test_reply_parser_fuzz_only_raises_remote_protocol_error(
    chunks: list[bytes], eof: bool, max_line: int, max_lines: int, allow_bare_lf: bool
) -> None:
    parser = ReplyParser(max_line=max_line, max_lines=max_lines, allow_bare_lf=allow_bare_lf)
    feed = [c for c in chunks if c] + ([b""] if eof else [])
    try:
        for chunk in feed:
            parser.receive_data(chunk)
            for _ in range(len(chunk) + 2):  # each event consumes at least one line
                event = parser.next_event()
                assert isinstance(event, (Reply, ConnectionClosed)) or event is NEED_DATA
                if event is NEED_DATA or isinstance(event, ConnectionClosed):
                    break
            else:
                raise AssertionError("next_event never returned NEED_DATA")
    except RemoteProtocolError:
        # Broken for good: the same error again, even with valid bytes.
        parser.receive_data(b"250 OK\r\n")
        try:
            parser.next_event()
        except RemoteProtocolError:
            pass
        else:
            raise AssertionError("parser recovered after a RemoteProtocolError") from None


# ---------------------------------------------------------------------------------------------
# Commands and DATA

script_items = st.one_of(
    commands.map(lambda c: ("command", c)),
    messages.map(lambda m: ("data", m)),
)


@given(st.lists(script_items, min_size=1, max_size=6), st.data())
def test_command_stream_with_data_any_segmentation(
    script: list[tuple[str, Command | bytes]], data: st.DataObject
) -> None:
    stream = bytearray()
    expected: list[Command | DataReceived] = []
    messages_sent: list[bytes] = []
    for kind, item in script:
        if kind == "command":
            assert isinstance(item, Command)
            stream += item.to_bytes()
            expected.append(item)
        else:
            assert isinstance(item, bytes)
            stream += b"DATA\r\n" + encode_data(item)
            expected += [Command(line=b"DATA"), DataReceived(wire=dot_stuff(item))]
            messages_sent.append(item)

    parser = CommandParser()
    got: list[Command | DataReceived] = []
    for chunk in cut(data, bytes(stream)):
        parser.receive_data(chunk)
        while (event := parser.next_event()) is not NEED_DATA:
            assert isinstance(event, (Command, DataReceived))
            got.append(event)
            if isinstance(event, Command) and event.verb == "DATA":
                parser.start_data()  # the server has sent 354
    assert got == expected
    assert not parser.in_data
    parser.receive_data(b"")
    assert isinstance(parser.next_event(), ConnectionClosed)

    wires = [e.wire for e in got if isinstance(e, DataReceived)]
    assert [dot_unstuff(w) for w in wires] == [crlf_normalised(m) for m in messages_sent]


@given(
    st.lists(st.binary(max_size=30), max_size=10),
    st.booleans(),
    st.integers(1, 40),
    st.integers(1, 60),
)
def test_command_parser_fuzz_only_raises_remote_protocol_error(
    chunks: list[bytes], eof: bool, max_line: int, max_data: int
) -> None:
    parser = CommandParser(max_line=max_line, max_data=max_data)
    feed = [c for c in chunks if c] + ([b""] if eof else [])
    try:
        for chunk in feed:
            parser.receive_data(chunk)
            for _ in range(len(chunk) + 2):
                event = parser.next_event()
                if event is NEED_DATA or isinstance(event, ConnectionClosed):
                    break
                assert isinstance(event, (Command, DataReceived))
                if isinstance(event, Command) and event.verb == "DATA":
                    parser.start_data()
            else:
                raise AssertionError("next_event never returned NEED_DATA")
    except RemoteProtocolError:
        pass


# ---------------------------------------------------------------------------------------------
# Dot-stuffing


@given(messages)
@example(b"")
@example(b".")
@example(b"\r")
@example(b"\r\n.\r\n")
def test_dot_unstuff_inverts_dot_stuff(message: bytes) -> None:
    wire = dot_stuff(message)
    assert dot_unstuff(wire) == crlf_normalised(message)
    # The wire form is clean: CRLF only, and the end-of-data sequence cannot occur inside it.
    assert bare_line_end_offsets(wire) == []
    assert b"\r\n.\r\n" not in b"\r\n" + wire
    assert not re.search(rb"(?:^|\r\n)\.(?!\.)", wire)  # every line starting with '.' is stuffed
    assert encode_data(message) == wire + b".\r\n"
