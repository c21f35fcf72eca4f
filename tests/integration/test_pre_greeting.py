"""Input before the greeting is checked in every scenario that holds its greeting back (issue 12
item 7), not only those with a ``silence`` step: a client that talks first breaks a SHOULD
(RFC 5321 §4.3.1), graded non-strict; what it sent is still played after the greeting."""

from __future__ import annotations

from fake_servers.tls import TlsMaterial
from harness.adapters.reference import ReferenceAdapter
from harness.report.text import format_failure
from harness.results import Verdict
from harness.scenario.loader import load_scenario, parse_scenario
from harness.scenario.model import Outcome

from .conftest import READ, RawClient, run

HELD_GREETING = """
version: 1
id: test.held-greeting
limits: {total: 5, read: 2}
client: {mail_from: a@example.com, rcpt_to: [b@example.com]}
expect: {outcome: delivered}
exchange:
  - delay: 0.4
  - server: "220 slow.example.com ESMTP"
  - client: "EHLO {domain}"
  - server: "250 slow.example.com"
  - client: "MAIL FROM:<a@example.com>"
  - server: "250 ok"
  - client: "RCPT TO:<b@example.com>"
  - server: "250 ok"
  - client: DATA
  - server: "354 go"
  - client: {data: message, compare: any}
  - server: "250 queued"
  - client: {match: QUIT, optional: true}
  - server: "221 bye"
"""

SESSION = (
    READ,
    b"MAIL FROM:<a@example.com>\r\n",
    READ,
    b"RCPT TO:<b@example.com>\r\n",
    READ,
    b"DATA\r\n",
    READ,
    b"Subject: x\r\n\r\nhi\r\n.\r\n",
    READ,
    b"QUIT\r\n",
    READ,
)


def test_a_client_that_talks_before_the_greeting_is_non_strict(tls_material: TlsMaterial) -> None:
    scenario = parse_scenario(HELD_GREETING, "held.yaml")
    # EHLO straight after connecting, then the greeting and the EHLO reply are read
    client = RawClient(b"EHLO c.example.com\r\n", READ, *SESSION)
    result = run(scenario, client, tls_material)
    assert result.verdict is Verdict.NON_STRICT, format_failure(result)
    assert result.rule == "R-GREET-2"
    assert "SHOULD wait for this greeting" in result.message
    assert "before the greeting" in result.transcript.render()


def test_a_client_that_waits_for_the_held_greeting_passes(tls_material: TlsMaterial) -> None:
    scenario = parse_scenario(HELD_GREETING, "held.yaml")
    waits = RawClient(READ, b"EHLO c.example.com\r\n", *SESSION)
    result = run(scenario, waits, tls_material)
    assert result.verdict is Verdict.PASS, format_failure(result)
    reference = run(scenario, ReferenceAdapter(), tls_material)
    assert reference.verdict is Verdict.PASS, format_failure(reference)


# --- timeouts.no-greeting: the greeting never comes ------------------------------------------


def test_ehlo_to_a_server_that_never_greets_is_non_strict(tls_material: TlsMaterial) -> None:
    """An EHLO sent while no greeting comes breaks a SHOULD (RFC 5321 §4.3.1, R-GREET-2), not a
    MUST: non-strict, as long as the client then gives up (here: its read times out, it closes
    and reports the failure). It was failed as a MUST at the scenario's gives_up step."""
    scenario = load_scenario(id="timeouts.no-greeting")
    client = RawClient(b"EHLO c.example.com\r\n", READ, report=Outcome.FAILED)
    result = run(scenario, client, tls_material)
    assert result.verdict is Verdict.NON_STRICT, format_failure(result)
    assert result.rule == "R-GREET-2"
    assert "SHOULD wait for this greeting" in result.message
    quits = RawClient(b"EHLO c.example.com\r\n", READ, b"QUIT\r\n", READ, report=Outcome.FAILED)
    assert run(scenario, quits, tls_material).verdict is Verdict.NON_STRICT


def test_a_second_command_to_a_server_that_never_greets_fails(tls_material: TlsMaterial) -> None:
    """HELO after the unanswered EHLO is a command sent before the reply to the one before:
    RFC 5321 §4.3.1 "the sender MUST wait for this response before sending further commands"."""
    scenario = load_scenario(id="timeouts.no-greeting")
    client = RawClient(b"EHLO c.example.com\r\n", 0.2, b"HELO c.example.com\r\n", READ)
    result = run(scenario, client, tls_material)
    assert result.verdict is Verdict.FAIL, format_failure(result)
    assert "HELO" in format_failure(result)


def test_ehlo_then_waiting_forever_on_a_server_that_never_greets_fails(
    tls_material: TlsMaterial,
) -> None:
    """Speaking first is forgiven as a SHOULD; never giving up is not (RFC 5321 §4.5.3.2)."""
    scenario = load_scenario(id="timeouts.no-greeting")
    client = RawClient(b"EHLO c.example.com\r\n", 9.0, report=Outcome.FAILED)
    result = run(scenario, client, tls_material)
    assert result.verdict is Verdict.FAIL, format_failure(result)
    assert result.failure is not None and result.failure.kind == "hung"
