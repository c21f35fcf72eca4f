"""The scenario loader: valid files become the expected model objects, and every invalid file
fails with the exact ``file:line: field: message`` text a scenario author will read."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.corpus import corpus_path
from harness.errors import ScenarioError
from harness.scenario.loader import load_scenario, load_scenarios, parse_scenario
from harness.scenario.model import (
    AnyOf,
    AuthStep,
    ClientStep,
    Close,
    Delay,
    Limits,
    Operation,
    Outcome,
    Scenario,
    Send,
    StartTls,
    TlsMode,
    Unordered,
)

# --- valid files -----------------------------------------------------------------------------

MINIMAL = """\
version: 1
id: t.min
client: {rcpt_to: [b@example.com]}
expect: {outcome: delivered}
exchange:
  - server: "220 hi"
"""


def test_minimal_scenario_gets_the_documented_defaults() -> None:
    s = parse_scenario(MINIMAL, "s.yaml")
    assert s.id == "t.min"
    assert s.title == "t.min"  # the id stands in for a missing title
    assert (s.refs, s.tags, s.source, s.description) == ((), (), "", "")
    assert s.limits == Limits(total=10.0, read=5.0)
    assert s.path == "s.yaml"
    assert s.line == 2  # the line of `id:`
    assert s.location == "s.yaml:2"
    c = s.client
    assert c.mail_from == ""
    assert c.rcpt_to == ("b@example.com",)
    assert c.message == b""
    assert c.tls is TlsMode.NONE
    assert c.auth is None
    assert c.ehlo_name is None
    assert c.operations == (Operation(kind="send"),)
    assert c.sends
    assert s.expect.outcomes == (Outcome.DELIVERED,)
    assert s.expect.codes == ()
    assert s.expect.replies is None
    assert s.exchange == (Send(data=b"220 hi\r\n", line=6),)


# Line numbers matter: the tests below check the `line` of each step against this text.
FULL = r"""version: 1
id: full.every-step
title: Every step kind in one file
refs: [RFC 5321 §4.1.1, R-TX-1]
tags: [full, auth]
source: synthetic
description: |
  Free text.
limits: {total: 7, read: 2.5}
client:
  mail_from: alice@example.com
  rcpt_to: [bob@example.com, carol@example.com]
  message: |
    Subject: hi

    body
  tls: starttls
  auth: {username: alice, password: 1234, mechanisms: [plain, LOGIN]}
  ehlo_name: client.example.org
  operations: [send, {vrfy: bob}, noop, {help: MAIL}, {expn: }, rset]
expect: {outcome: [delivered, failed], code: [550, 4xx], replies: [250, 2xx, 55x]}
exchange:
  - server: "220 mx.example.com ESMTP"
  - client: "EHLO {domain}"
  - server: ["250-mx.example.com", "250-STARTTLS", "250 8BITMIME"]
  - client: STARTTLS
  - server: {lines: ["220 2.0.0 Ready"], delay: 0.5, split: [3, 1, 3], pause: 0.05}
  - tls: start
  - client: {regex: "^EHLO \\S+$"}
  - raw: "250-mx\xe9\r\n250 AUTH PLAIN LOGIN CRAM-MD5\n"
  - auth: {mechanism: CRAM-MD5, reject: "504 5.7.4 Unrecognized authentication type"}
  - auth:
      mechanism: [plain, LOGIN]
      prompts: ["334 dXNlcm5hbWU6", "334 UGFzc3dvcmQ6"]
      reply: ["535-5.7.8 first", "535 5.7.8 Error: authentication failed"]
      optional: true
  - auth: login
  - delay: 1.5
  - any_of:
      - [{client: "MAIL FROM:<alice@example.com> BODY=8BITMIME"}, {server: "250 ok"}]
      - [{client: "MAIL FROM:<alice@example.com>"}, {server: "250 ok"}]
  - unordered:
      - [{client: "RCPT TO:<bob@example.com>"}, {server: "250 ok"}]
      - [{client: "RCPT TO:<carol@example.com>"}, {server: "250 ok"}]
  - client: DATA
  - raw: {bytes: "354 go\r\n", split: every, pause: 0.01}
  - client: {data: message, compare: exact, absent: [carol@example.com]}
  - server: "250 queued é"
  - client: {match: "QUIT", optional: true}
  - close: true
"""


@pytest.fixture(scope="module")
def full() -> Scenario:
    return parse_scenario(FULL, "full.yaml")


def test_full_header_and_task(full: Scenario) -> None:
    assert full.title == "Every step kind in one file"
    assert full.refs == ("RFC 5321 §4.1.1", "R-TX-1")
    assert full.tags == ("full", "auth")
    assert full.source == "synthetic"
    assert full.description == "Free text.\n"
    assert full.limits == Limits(total=7.0, read=2.5)
    c = full.client
    assert c.mail_from == "alice@example.com"
    assert c.rcpt_to == ("bob@example.com", "carol@example.com")
    assert c.message == b"Subject: hi\r\n\r\nbody\r\n"  # LF in the YAML block, CRLF in the model
    assert c.tls is TlsMode.STARTTLS
    assert c.auth is not None
    assert (c.auth.username, c.auth.password) == ("alice", "1234")  # a number becomes text
    assert c.auth.mechanisms == ("PLAIN", "LOGIN")
    assert c.ehlo_name == "client.example.org"
    assert c.operations == (
        Operation(kind="send"),
        Operation(kind="vrfy", argument="bob"),
        Operation(kind="noop"),
        Operation(kind="help", argument="MAIL"),
        Operation(kind="expn", argument=""),
        Operation(kind="rset"),
    )
    e = full.expect
    assert e.outcomes == (Outcome.DELIVERED, Outcome.FAILED)
    assert [str(p) for p in e.codes] == ["550", "4xx"]
    assert e.replies is not None
    assert [str(p) for p in e.replies] == ["250", "2xx", "55x"]


def test_full_step_kinds_and_lines(full: Scenario) -> None:
    kinds = [(type(step).__name__, step.line) for step in full.exchange]
    assert kinds == [
        ("Send", 23),
        ("ClientStep", 24),
        ("Send", 25),
        ("ClientStep", 26),
        ("Send", 27),
        ("StartTls", 28),
        ("ClientStep", 29),
        ("Send", 30),
        ("AuthStep", 31),
        ("AuthStep", 32),
        ("AuthStep", 37),
        ("Delay", 38),
        ("AnyOf", 39),
        ("Unordered", 42),
        ("ClientStep", 45),
        ("Send", 46),
        ("ClientStep", 47),
        ("Send", 48),
        ("ClientStep", 49),
        ("Close", 50),
    ]


def test_full_server_steps(full: Scenario) -> None:
    ex = full.exchange
    assert ex[0] == Send(data=b"220 mx.example.com ESMTP\r\n", line=23)
    # a list of lines is one write, each line with its CRLF
    assert ex[2] == Send(data=b"250-mx.example.com\r\n250-STARTTLS\r\n250 8BITMIME\r\n", line=25)
    # offsets are sorted and deduplicated
    assert ex[4] == Send(data=b"220 2.0.0 Ready\r\n", delay=0.5, split=(1, 3), pause=0.05, line=27)
    # raw: latin-1 bytes, \xNN kept as one byte, no CRLF added, a bare LF kept
    assert ex[7] == Send(data=b"250-mx\xe9\r\n250 AUTH PLAIN LOGIN CRAM-MD5\n", line=30)
    assert ex[15] == Send(data=b"354 go\r\n", every_byte=True, pause=0.01, line=46)
    # server text is UTF-8
    assert ex[17] == Send(data="250 queued é\r\n".encode(), line=48)
    assert ex[5] == StartTls(line=28)
    assert ex[11] == Delay(seconds=1.5, line=38)
    assert ex[19] == Close(line=50)


def test_full_client_steps(full: Scenario) -> None:
    ex = full.exchange
    assert ex[1] == ClientStep(kind="match", expected="EHLO {domain}", line=24)
    assert ex[6] == ClientStep(kind="regex", expected=r"^EHLO \S+$", line=29)
    assert ex[16] == ClientStep(
        kind="data",
        expected="message",
        compare="exact",
        absent=("carol@example.com",),
        line=47,
    )
    assert ex[14] == ClientStep(kind="match", expected="DATA", line=45)
    assert ex[18] == ClientStep(kind="match", expected="QUIT", optional=True, line=49)


def test_full_auth_steps(full: Scenario) -> None:
    reject, long_form, short = full.exchange[8], full.exchange[9], full.exchange[10]
    assert reject == AuthStep(
        mechanisms=("CRAM-MD5",),
        reject=b"504 5.7.4 Unrecognized authentication type\r\n",
        line=31,
    )
    assert long_form == AuthStep(
        mechanisms=("PLAIN", "LOGIN"),
        prompts=(b"334 dXNlcm5hbWU6\r\n", b"334 UGFzc3dvcmQ6\r\n"),
        reply=b"535-5.7.8 first\r\n535 5.7.8 Error: authentication failed\r\n",
        optional=True,
        line=32,
    )
    # the short form: the whole default dialogue, mechanism upper-cased
    assert short == AuthStep(mechanisms=("LOGIN",), line=37)
    assert short.reply == b"235 2.7.0 Authentication successful\r\n"
    assert short.prompts is None and short.reject is None


def test_full_structure_steps(full: Scenario) -> None:
    any_of, unordered = full.exchange[12], full.exchange[13]
    assert isinstance(any_of, AnyOf)
    assert any_of.branches == (
        (
            ClientStep(
                kind="match", expected="MAIL FROM:<alice@example.com> BODY=8BITMIME", line=40
            ),
            Send(data=b"250 ok\r\n", line=40),
        ),
        (
            ClientStep(kind="match", expected="MAIL FROM:<alice@example.com>", line=41),
            Send(data=b"250 ok\r\n", line=41),
        ),
    )
    assert isinstance(unordered, Unordered)
    assert [g[0] for g in unordered.groups] == [
        ClientStep(kind="match", expected="RCPT TO:<bob@example.com>", line=43),
        ClientStep(kind="match", expected="RCPT TO:<carol@example.com>", line=44),
    ]
    assert [len(g) for g in unordered.groups] == [2, 2]


def test_block_style_steps_keep_their_own_lines() -> None:
    text = MINIMAL + textwrap.indent(
        textwrap.dedent(
            """\
            - any_of:
                -
                  - client: "EHLO {domain}"
                  - server: "250 mx"
                -
                  - client: "HELO {domain}"
                  - server: "250 mx"
            """
        ),
        "  ",
    )
    step = parse_scenario(text, "s.yaml").exchange[1]
    assert isinstance(step, AnyOf)
    assert step.line == 7
    assert [[s.line for s in b] for b in step.branches] == [[9, 10], [12, 13]]


# --- errors ----------------------------------------------------------------------------------


def error(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "s.yaml")
    return info.value


def step(yaml_line: str) -> str:
    """MINIMAL plus one more step, which lands on line 7 as exchange[1]."""
    return MINIMAL + "  " + yaml_line + "\n"


VERSION_HINT = "(a newer file needs a newer smtp-harness; see docs/scenario-format.md)"
TOP_KEYS = (
    "certificate, client, description, exchange, expect, faults, id, level, limits, refs, source, "
    "tags, title, version"
)
STEP_KINDS = "server, raw, client, auth, tls, delay, close, any_of, unordered"

ERRORS = [
    pytest.param(
        "a: b\n  c: d\n",
        "s.yaml:2: invalid YAML: mapping values are not allowed here",
        id="yaml-syntax",
    ),
    pytest.param(
        "version: 1\nid: [a\n",
        "s.yaml:3: invalid YAML: while parsing a flow sequence, expected ',' or ']', but got '<stream end>'",
        id="yaml-unclosed-bracket",
    ),
    pytest.param("", "s.yaml:1: the file is empty", id="empty"),
    pytest.param("# only a comment\n", "s.yaml:1: the file is empty", id="only-comment"),
    pytest.param("- 1\n- 2\n", "s.yaml:1: expected a mapping, got a list", id="top-list"),
    pytest.param("hello\n", "s.yaml:1: expected a mapping, got the value 'hello'", id="top-scalar"),
    pytest.param(
        MINIMAL.replace("version: 1\n", ""),
        "s.yaml:1: version: required key is missing",
        id="missing-version",
    ),
    pytest.param(
        MINIMAL.replace("version: 1", "version: 2"),
        f"s.yaml:1: version: version 2 is not supported; this harness reads version 1 {VERSION_HINT}",
        id="version-2",
    ),
    pytest.param(
        MINIMAL.replace("version: 1", "version: '1'"),
        f"s.yaml:1: version: version '1' is not supported; this harness reads version 1 {VERSION_HINT}",
        id="version-string",
    ),
    pytest.param(
        MINIMAL + "extra: 1\n",
        f"s.yaml:7: extra: unknown key 'extra'; expected one of: {TOP_KEYS}",
        id="unknown-top-key",
    ),
    pytest.param(
        MINIMAL.replace("rcpt_to:", "rcpt:"),
        "s.yaml:3: client.rcpt: unknown key 'rcpt'; expected one of: "
        "auth, dsn, ehlo_name, mail_from, message, operations, rcpt_to, timeout, tls",
        id="unknown-client-key",
    ),
    pytest.param(
        MINIMAL.replace("{outcome: delivered}", "{outcome: delivered, cod: 550}"),
        "s.yaml:4: expect.cod: unknown key 'cod'; expected one of: code, level, outcome, replies",
        id="unknown-expect-key",
    ),
    pytest.param(
        step("- serve: x"),
        "s.yaml:7: exchange[1].serve: unknown key 'serve'; expected one of: "
        "any_of, auth, client, close, delay, raw, server, tls, unordered",
        id="unknown-step-kind",
    ),
    pytest.param(
        step("- server: {lines: ['250 OK'], dealy: 1}"),
        "s.yaml:7: exchange[1].server.dealy: unknown key 'dealy'; "
        "expected one of: delay, lines, pause, split",
        id="unknown-key-in-server-step",
    ),
    pytest.param(
        step("- client: {match: QUIT, optinal: true}"),
        "s.yaml:7: exchange[1].client.optinal: unknown key 'optinal'; "
        "expected one of: absent, bdat, compare, data, gives_up, level, match, optional, regex, "
        "silence",
        id="unknown-key-in-client-step",
    ),
    pytest.param(
        step("- server: x\n    delay: 1"),
        f"s.yaml:7: exchange[1]: expected exactly one step kind per item ({STEP_KINDS})",
        id="two-step-kinds",
    ),
    pytest.param(
        MINIMAL.replace("rcpt_to: [b@example.com]", "tls: ssl"),
        "s.yaml:3: client.tls: 'ssl' is not one of: none, starttls, implicit",
        id="bad-tls",
    ),
    pytest.param(
        MINIMAL.replace("outcome: delivered", "outcome: sent"),
        "s.yaml:4: expect.outcome: 'sent' is not one of: delivered, failed, completed",
        id="bad-outcome",
    ),
    pytest.param(
        MINIMAL.replace("outcome: delivered", "outcome: failed, code: 6xx"),
        "s.yaml:4: expect.code: '6xx' is not a reply code like 550 or a class like 5xx",
        id="bad-code",
    ),
    pytest.param(
        MINIMAL.replace("outcome: delivered", "outcome: failed, code: [5xx, 6xx]"),
        "s.yaml:4: expect.code[1]: '6xx' is not a reply code like 550 or a class like 5xx",
        id="bad-code-in-list",
    ),
    pytest.param(
        step('- raw: "250 \\u0100\\r\\n"'),
        "s.yaml:7: exchange[1].raw: raw bytes must be characters \\x00-\\xff "
        "(write \\xNN escapes), found 'Ā'",
        id="raw-char-above-xff",
    ),
    pytest.param(
        step('- server: "250 a\\n250 b"'),
        "s.yaml:7: exchange[1].server: a reply line may not contain CR or LF; "
        "use `raw:` for exact bytes",
        id="server-line-with-newline",
    ),
    pytest.param(
        step('- server: ["250-a", "250 b\\r\\n"]'),
        "s.yaml:7: exchange[1].server[1]: a reply line may not contain CR or LF; "
        "use `raw:` for exact bytes",
        id="server-list-line-with-crlf",
    ),
    pytest.param(
        step('- client: "EHLO {foo}"'),
        "s.yaml:7: exchange[1].client: bad command pattern 'EHLO {foo}': "
        "unknown placeholder {foo}; known: {domain}, {address}, {word}, {any}",
        id="unknown-placeholder",
    ),
    pytest.param(
        step('- client: {match: "EHLO {foo}"}'),
        "s.yaml:7: exchange[1].client.match: bad command pattern 'EHLO {foo}': "
        "unknown placeholder {foo}; known: {domain}, {address}, {word}, {any}",
        id="unknown-placeholder-in-match",
    ),
    pytest.param(
        step('- client: "MAIL FROM: <a@example.com>"'),
        "s.yaml:7: exchange[1].client: bad command pattern 'MAIL FROM: <a@example.com>': "
        "space after FROM: is not allowed (RFC 5321 §4.1.2): 'FROM: <a@example.com>'",
        id="mail-space-after-colon",
    ),
    pytest.param(
        step('- client: {regex: "^NOOP("}'),
        "s.yaml:7: exchange[1].client.regex: invalid regular expression: "
        "missing ), unterminated subpattern at position 5",
        id="bad-regex",
    ),
    pytest.param(
        step("- client: {match: DATA, compare: exact}"),
        "s.yaml:7: exchange[1].client.compare: compare applies only to `data` and `bdat`",
        id="compare-on-non-data",
    ),
    pytest.param(
        step("- client: {data: message, compare: loose}"),
        "s.yaml:7: exchange[1].client.compare: 'loose' is not one of: exact, lines, content, any",
        id="bad-compare",
    ),
    pytest.param(
        step("- client: {data: other}"),
        "s.yaml:7: exchange[1].client.data: the only data source is `message` (client.message)",
        id="data-other",
    ),
    pytest.param(
        step("- client: {match: QUIT, regex: QUIT}"),
        "s.yaml:7: exchange[1].client: expected exactly one of: match, regex, data, bdat, silence, gives_up",
        id="two-client-matchers",
    ),
    pytest.param(
        step("- close: true\n  - server: '250 x'"),
        "s.yaml:8: exchange[2].server: nothing can follow `close`: the connection is gone",
        id="step-after-close",
    ),
    pytest.param(
        step("- close: false"),
        "s.yaml:7: exchange[1].close: write `close: true`",
        id="close-false",
    ),
    pytest.param(
        step("- tls: stop"),
        "s.yaml:7: exchange[1].tls: 'stop' is not one of: start",
        id="bad-tls-step",
    ),
    pytest.param(
        step('- any_of:\n      - [{client: "EHLO {domain}"}, {server: "250 x"}]'),
        "s.yaml:8: exchange[1].any_of: expected at least two branches",
        id="any-of-one-branch",
    ),
    pytest.param(
        step('- any_of: [[{client: "EHLO {domain}"}], [{server: "250 x"}]]'),
        "s.yaml:7: exchange[1].any_of[1]: each branch must start with a client or auth step",
        id="branch-starts-with-server",
    ),
    pytest.param(
        step("- auth: {mechanism: PLAIN, reject: '504 no', reply: '235 ok'}"),
        "s.yaml:7: exchange[1].auth.reject: reject answers AUTH at once: no prompts or reply with it",
        id="auth-reject-with-reply",
    ),
    pytest.param(
        MINIMAL + "id: again\n",
        "s.yaml:7: id: duplicate key",
        id="duplicate-top-key",
    ),
    pytest.param(
        MINIMAL.replace("{rcpt_to: [b@example.com]}", "{rcpt_to: [a@x.org], rcpt_to: [b@x.org]}"),
        "s.yaml:3: client.rcpt_to: duplicate key",
        id="duplicate-nested-key",
    ),
    pytest.param(
        MINIMAL.replace("id: t.min", "id: 't min'"),
        "s.yaml:2: id: use letters, digits, '.', '_' and '-' only",
        id="bad-id",
    ),
    pytest.param(
        MINIMAL.replace('exchange:\n  - server: "220 hi"\n', "exchange: []\n"),
        "s.yaml:5: exchange: expected at least one step",
        id="empty-exchange",
    ),
    pytest.param(
        MINIMAL + "limits: {total: 0}\n",
        "s.yaml:7: limits.total: must be at least 0.01, got 0",
        id="zero-limit",
    ),
    pytest.param(
        MINIMAL.replace("{rcpt_to: [b@example.com]}", "{operations: [fly]}"),
        "s.yaml:3: client.operations[0]: 'fly' is not one of: send, vrfy, expn, noop, help, rset",
        id="bad-operation",
    ),
]


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_error_message(text: str, message: str) -> None:
    assert str(error(text)) == message


def test_error_carries_its_parts() -> None:
    exc = error(MINIMAL.replace("outcome: delivered", "outcome: sent"))
    assert isinstance(exc, ValueError)  # ScenarioError mixes in the builtin it resembles
    assert (exc.path, exc.line, exc.field) == ("s.yaml", 4, "expect.outcome")
    assert exc.message == "'sent' is not one of: delivered, failed, completed"


# --- messages that name the wrong field or line, or say too little -----------------------------
# Each test below once pinned, as a strict xfail, what a message SHOULD say; the loader now says it.
# so the check cannot disappear unnoticed.


def test_split_out_of_range_is_rejected_at_its_line() -> None:
    exc = error(step("- server: {lines: ['250 OK'], split: [1, 8]}"))
    assert exc.line == 7
    assert exc.message == "expected a byte offset between 1 and 7, or `split: every`"
    exc = error(step('- raw: {bytes: "250 OK\\r\\n", split: [0]}'))
    assert exc.message == "expected a byte offset between 1 and 7, or `split: every`"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            step("- server: {lines: ['250 OK'], split: [1, 8]}"),
            "s.yaml:7: exchange[1].server.split[1]: expected a byte offset between 1 and 7, "
            "or `split: every`",
            id="server-split",
        ),
        pytest.param(
            step('- raw: {bytes: "250 OK\\r\\n", split: [0]}'),
            "s.yaml:7: exchange[1].raw.split[0]: expected a byte offset between 1 and 7, "
            "or `split: every`",
            id="raw-split",
        ),
        pytest.param(
            step("- server: {lines: ['250 OK'], delay: -1}"),
            "s.yaml:7: exchange[1].server.delay: must be at least 0.0, got -1",
            id="server-delay",
        ),
    ],
)
def test_split_delay_field_names_the_option_itself(text: str, message: str) -> None:
    assert str(error(text)) == message


BLOCK_ANY_OF = step(
    '- any_of:\n      - [{client: "EHLO {domain}"}, {server: "250 x"}]\n      - [{server: "250 x"}]'
)


def test_bad_branch_names_the_branch_field() -> None:
    exc = error(BLOCK_ANY_OF)
    assert exc.field == "exchange[1].any_of[1]"
    assert exc.message == "each branch must start with a client or auth step"


def test_bad_branch_names_the_branch_line() -> None:
    assert str(error(BLOCK_ANY_OF)) == (
        "s.yaml:9: exchange[1].any_of[1]: each branch must start with a client or auth step"
    )


def test_empty_unordered_is_rejected() -> None:
    exc = error(step("- unordered: []"))
    assert (exc.line, exc.field) == (7, "exchange[1].unordered")


def test_empty_unordered_message_says_at_least_one_group() -> None:
    assert str(error(step("- unordered: []"))) == (
        "s.yaml:7: exchange[1].unordered: expected at least one group"
    )


MULTI_DOC = MINIMAL + "---\nfoo: 1\n"


def test_second_yaml_document_is_rejected() -> None:
    exc = error(MULTI_DOC)
    assert exc.line == 7
    assert exc.message.startswith("invalid YAML: ")


def test_second_yaml_document_message_is_a_sentence() -> None:
    assert str(error(MULTI_DOC)) == (
        "s.yaml:7: invalid YAML: expected a single document in the stream, "
        "but found another document"
    )


def test_version_true_is_not_version_1() -> None:
    assert str(error(MINIMAL.replace("version: 1", "version: true"))) == (
        f"s.yaml:1: version: version True is not supported; this harness reads version 1 "
        f"{VERSION_HINT}"
    )


# --- files -----------------------------------------------------------------------------------


def _write_pair(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(MINIMAL)
    b.write_text(MINIMAL)
    return a, b


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    a, b = _write_pair(tmp_path)
    with pytest.raises(ScenarioError) as info:
        load_scenarios([tmp_path])
    exc = info.value
    assert (exc.path, exc.field) == (str(b), "id")
    assert exc.message.startswith(f"duplicate scenario id 't.min', first defined at {a}:")


def test_duplicate_ids_name_the_id_lines(tmp_path: Path) -> None:
    a, b = _write_pair(tmp_path)
    with pytest.raises(ScenarioError) as info:
        load_scenarios([tmp_path])
    assert str(info.value) == f"{b}:2: id: duplicate scenario id 't.min', first defined at {a}:2"


def test_distinct_ids_load_in_path_order(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text(MINIMAL.replace("t.min", "t.b"))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.yml").write_text(MINIMAL.replace("t.min", "t.a"))
    (tmp_path / "notes.txt").write_text("not a scenario")
    assert [s.id for s in load_scenarios([tmp_path])] == ["t.b", "t.a"]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == (
        f"{path}: cannot read the file: [Errno 2] No such file or directory: '{path}'"
    )


def test_missing_path_in_load_scenarios(tmp_path: Path) -> None:
    path = tmp_path / "nope"
    with pytest.raises(ScenarioError) as info:
        load_scenarios([path])
    assert str(info.value) == f"{path}: no such file or directory"


def test_load_scenario_records_the_path(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(MINIMAL)
    s = load_scenario(path)
    assert (s.path, s.location) == (str(path), f"{path}:2")


# --- the corpus ------------------------------------------------------------------------------

CORPUS = sorted(corpus_path().rglob("*.yaml"))


def test_corpus_is_not_empty() -> None:
    assert len(CORPUS) >= 20


@pytest.mark.parametrize(
    "path", CORPUS, ids=[p.relative_to(corpus_path()).as_posix() for p in CORPUS]
)
def test_corpus_file_loads(path: Path) -> None:
    s = load_scenario(path)
    assert s.exchange
    assert s.refs, "every corpus scenario names its sources in refs:"


def test_corpus_ids_are_unique() -> None:
    assert len(load_scenarios([corpus_path()])) == len(CORPUS)


def test_silence_step_loads_with_its_seconds() -> None:
    s = parse_scenario(MINIMAL + "  - client: {silence: 0.25}\n", "s.yaml")
    step = s.exchange[1]
    assert isinstance(step, ClientStep)
    assert (step.kind, step.seconds) == ("silence", 0.25)


@pytest.mark.parametrize(
    ("yaml_step", "message"),
    [
        ("{silence: 0}", "exchange[1].client.silence: expected a number of seconds > 0"),
        ("{silence: 1, optional: true}", "exchange[1].client: `silence` takes no other keys"),
    ],
)
def test_silence_step_errors(yaml_step: str, message: str) -> None:
    assert message in str(error(MINIMAL + f"  - client: {yaml_step}\n"))


def test_ipv6_literal_tags_match_in_any_case() -> None:
    from harness.scenario.patterns import compile_pattern

    assert compile_pattern("EHLO [IPv6:2001:db8::1]").fullmatch("EHLO [ipv6:2001:DB8::1]")
    assert compile_pattern("EHLO {domain}").fullmatch("EHLO [ipV6:::1]")
    assert compile_pattern("MAIL FROM:<a@[IPv6:::1]>").fullmatch("MAIL FROM:<a@[IPV6:::1]>")
    assert not compile_pattern("EHLO [IPv6:2001:db8::1]").fullmatch("EHLO [IPv6:2001:db8::2]")
    assert not compile_pattern("EHLO mx.example").fullmatch("EHLO MX.example")  # only literals
