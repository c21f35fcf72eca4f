"""The `silence` client step: the server waits, and the client must say nothing."""

from __future__ import annotations

from fake_servers.tls import TlsMaterial
from harness.adapters.reference import ReferenceAdapter
from harness.results import Verdict
from harness.scenario.loader import parse_scenario
from harness.scenario.model import Outcome
from harness.transcript import Direction

from .conftest import CLOSE, READ, RawClient, run

PREGREET = """\
version: 1
id: t.pregreet
client: {mail_from: a@example.com, rcpt_to: [b@example.com], message: "Subject: x\\n\\nhi\\n"}
expect: {outcome: delivered}
exchange:
  - client: {silence: 0.3}
  - server: "220 mx.example.com ESMTP"
  - client: "EHLO {domain}"
  - server: "250 mx.example.com"
  - client: "MAIL FROM:<a@example.com>"
  - server: "250 ok"
  - client: "RCPT TO:<b@example.com>"
  - server: "250 ok"
  - client: DATA
  - server: "354 go"
  - client: {data: message}
  - server: "250 ok"
  - client: {match: QUIT, optional: true}
  - server: "221 bye"
"""

WAIT_OR_GO_ON = """\
version: 1
id: t.wait-or-go-on
client: {mail_from: a@example.com, rcpt_to: [b@example.com]}
expect: {outcome: [delivered, failed]}
exchange:
  - server: "220 mx.example.com ESMTP"
  - client: "EHLO {domain}"
  - raw: "250 mx.example.com\\r"
  - any_of:
      - [{client: {silence: 0.2}}, {close: true}]
      - [{client: "MAIL FROM:<a@example.com>"}, {server: "250 ok"}, {close: true}]
"""


def test_a_client_that_waits_for_the_greeting_passes(tls_material: TlsMaterial) -> None:
    result = run(parse_scenario(PREGREET, "p.yaml"), ReferenceAdapter(), tls_material)
    assert result.verdict is Verdict.PASS, result.message
    # The greeting went out only after the silence.
    greeting = next(e for e in result.transcript.entries if e.direction is Direction.SERVER)
    assert greeting.at >= 0.3


def test_a_client_that_talks_before_the_greeting_fails(tls_material: TlsMaterial) -> None:
    pregreet = RawClient(b"EHLO early.example.com\r\n", READ, CLOSE)
    result = run(parse_scenario(PREGREET, "p.yaml"), pregreet, tls_material)
    assert result.verdict is Verdict.FAIL
    assert result.failure is not None
    assert result.failure.line == 6
    assert result.failure.expected == "<silence for 0.3 s>"
    assert result.failure.actual == "EHLO early.example.com"


def test_silence_then_close_takes_the_silent_branch(tls_material: TlsMaterial) -> None:
    # The reply ends in a bare CR: a strict client waits for the line end and says nothing.
    waiting = RawClient(b"EHLO a.example.com\r\n", 1.0, CLOSE, report=Outcome.FAILED)
    result = run(parse_scenario(WAIT_OR_GO_ON, "w.yaml"), waiting, tls_material)
    assert result.verdict is Verdict.PASS, result.message
    assert result.transcript.entries[-1].at < 0.9  # the server closed after the silence


def test_the_other_branch_is_still_taken_by_a_client_that_goes_on(
    tls_material: TlsMaterial,
) -> None:
    lenient = RawClient(b"EHLO a.example.com\r\n", 0.05, b"MAIL FROM:<a@example.com>\r\n", READ)
    result = run(parse_scenario(WAIT_OR_GO_ON, "w.yaml"), lenient, tls_material)
    assert result.verdict is Verdict.PASS, result.message
    assert b"MAIL FROM" in result.transcript.sent_by(Direction.CLIENT)


def test_talking_before_a_delayed_greeting_is_non_strict_not_a_failure(
    tls_material: TlsMaterial,
) -> None:
    """RFC 5321 §4.3.1: "The sender SHOULD wait for this greeting message before sending any
    commands": in the corpus scenario for a delayed greeting, speaking first is non-strict."""
    from harness.corpus import corpus_path
    from harness.scenario.loader import load_scenario

    early = RawClient(b"EHLO early.example.com\r\n", READ, CLOSE)
    result = run(load_scenario(corpus_path() / "greeting/delayed-3s.yaml"), early, tls_material)
    assert result.verdict is Verdict.NON_STRICT, result.message
    assert result.failure is not None and result.failure.actual == "EHLO early.example.com"
