"""harness.judge on its own: hand-made evidence in, a graded verdict out (no sockets)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.deviations import Deviation, apply_deviations
from harness.judge import Evidence, SessionEvidence, judge, refusable_input
from harness.outcome import ClientOutcome
from harness.results import Failure, Verdict
from harness.scenario.loader import parse_scenario
from harness.scenario.model import ClientTask, Level, Outcome, Scenario
from harness.transcript import Direction, Transcript


def scenario(
    *,
    refs: str = "[RFC 5321 §4.1.1.1]",
    expect: str = "{outcome: delivered}",
    level: str = "",
    rcpt: str = "bob@example.com",
    scenario_id: str = "judge.sample",
) -> Scenario:
    return parse_scenario(
        f"""\
version: 1
id: {scenario_id}
refs: {refs}
{f"level: {level}" if level else ""}
client: {{mail_from: alice@example.com, rcpt_to: ["{rcpt}"], message: "Subject: x\\n\\nbody\\n"}}
expect: {expect}
exchange:
  - server: "220 mx"
  - client: "EHLO {{domain}}"
  - server: "250 mx"
""",
        "judge.yaml",
    )


def transcript(*client_lines: bytes) -> Transcript:
    t = Transcript()
    for line in client_lines:
        t.add(Direction.CLIENT, line, tls=False)
    return t


DELIVERED = ClientOutcome(outcome=Outcome.DELIVERED)
DEPARTED = Failure(kind="unexpected", message="unexpected command", line=7, expected="NOOP")
WIRE = Failure(kind="unexpected", message="bare LF", rule="R-LINE-1", level=Level.MUST, wire=True)


def evidence(
    sc: Scenario,
    outcome: ClientOutcome | None = DELIVERED,
    *,
    reports_codes: bool = True,
    connected: bool = True,
    **session: object,
) -> Evidence:
    facts = SessionEvidence(transcript=Transcript(), complete=True)
    return Evidence(
        scenario=sc,
        client="test",
        reports_codes=reports_codes,
        outcome=outcome,
        session=replace(facts, **session) if connected else None,  # type: ignore[arg-type]
    )


# --- the grade follows the level of the check ------------------------------------------------


def test_a_complete_session_with_the_expected_outcome_passes() -> None:
    result = judge(evidence(scenario()))
    assert result.verdict is Verdict.PASS
    assert result.message == "" and result.rule == ""


@pytest.mark.parametrize(
    ("level", "verdict"),
    [("must", Verdict.FAIL), ("should", Verdict.NON_STRICT), ("info", Verdict.INFO)],
)
def test_a_departure_is_graded_at_the_scenario_level(level: str, verdict: Verdict) -> None:
    result = judge(evidence(scenario(level=level), failure=DEPARTED, complete=False))
    assert result.verdict is verdict
    assert result.level is Level(level)
    assert result.message == "unexpected command"


def test_the_default_level_follows_the_cited_rules() -> None:
    # R-SIZE-2 is a SHOULD in the catalogue; with a MUST rule beside it the MUST wins.
    should_only = judge(evidence(scenario(refs="[R-SIZE-2]"), failure=DEPARTED, complete=False))
    assert should_only.verdict is Verdict.NON_STRICT
    assert should_only.rule == "R-SIZE-2"
    both = judge(evidence(scenario(refs="[R-SIZE-2, R-LINE-1]"), failure=DEPARTED, complete=False))
    assert both.verdict is Verdict.FAIL


def test_a_wire_rule_is_a_must_in_a_should_scenario() -> None:
    result = judge(evidence(scenario(level="should"), failure=WIRE, complete=False))
    assert result.verdict is Verdict.FAIL
    assert result.rule == "R-LINE-1"


def test_a_step_level_beats_the_scenario_level() -> None:
    step_info = replace(DEPARTED, level=Level.INFO)
    result = judge(evidence(scenario(), failure=step_info, complete=False))
    assert result.verdict is Verdict.INFO


def test_a_wrong_outcome_fails_at_the_expect_level() -> None:
    sc = scenario(expect="{outcome: failed, level: should}")
    assert judge(evidence(sc)).verdict is Verdict.NON_STRICT
    assert judge(evidence(scenario(expect="{outcome: failed}"))).verdict is Verdict.FAIL


# --- HELO instead of EHLO (RFC 5321 §3.2) ----------------------------------------------------


def test_helo_then_a_step_only_ehlo_allows_is_not_exercised() -> None:
    result = judge(
        evidence(scenario(), failure=DEPARTED, complete=False, helo_for_ehlo=("PIPELINING",))
    )
    assert result.verdict is Verdict.NOT_EXERCISED
    assert "HELO" in result.message


def test_helo_does_not_excuse_a_wire_rule() -> None:
    result = judge(evidence(scenario(), failure=WIRE, complete=False, helo_for_ehlo=()))
    assert result.verdict is Verdict.FAIL


def test_helo_through_an_extension_scenario_is_not_exercised() -> None:
    sc = scenario(refs="[R-PIPE-1]", scenario_id="extensions.sample")
    result = judge(evidence(sc, helo_for_ehlo=("PIPELINING",)))
    assert result.verdict is Verdict.NOT_EXERCISED


def test_helo_through_a_plain_scenario_passes_with_a_note() -> None:
    result = judge(evidence(scenario(), helo_for_ehlo=("SIZE",)))
    assert result.verdict is Verdict.PASS
    assert any("HELO" in n for n in result.notes)


# --- refusing before connecting, lost connections, codes --------------------------------------


def test_never_connecting_fails() -> None:
    result = judge(evidence(scenario(), ClientOutcome(outcome=Outcome.FAILED), connected=False))
    assert result.verdict is Verdict.FAIL
    assert "never connected" in result.message


def test_refusing_bad_input_before_connecting_is_judged_on_the_outcome() -> None:
    sc = scenario(rcpt="bob@example.com\\r\\nRCPT TO:<eve@example.com>", expect="{outcome: failed}")
    assert refusable_input(sc.client)
    refused = ClientOutcome(outcome=Outcome.FAILED, message="invalid address")
    assert judge(evidence(sc, refused, connected=False)).verdict is Verdict.PASS
    assert judge(evidence(sc, DELIVERED, connected=False)).verdict is Verdict.FAIL


def test_a_non_ascii_address_refused_locally_is_not_exercised() -> None:
    sc = scenario(rcpt="jöran@example.com")
    refused = ClientOutcome(outcome=Outcome.FAILED, message="SMTPUTF8 not supported")
    assert judge(evidence(sc, refused, connected=False)).verdict is Verdict.NOT_EXERCISED


def test_giving_up_before_mail_on_a_non_ascii_address_is_not_exercised() -> None:
    sc = scenario(rcpt="jöran@example.com")
    closed = Failure(kind="closed", message="the client closed the connection")
    result = judge(
        evidence(
            sc,
            ClientOutcome(outcome=Outcome.FAILED),
            failure=closed,
            complete=False,
            transcript=transcript(b"EHLO x\r\n", b"QUIT\r\n"),
        )
    )
    assert result.verdict is Verdict.NOT_EXERCISED
    after_mail = judge(
        evidence(
            sc,
            ClientOutcome(outcome=Outcome.FAILED),
            failure=closed,
            complete=False,
            transcript=transcript(b"EHLO x\r\n", b"MAIL FROM:<a@b>\r\n"),
        )
    )
    assert after_mail.verdict is Verdict.FAIL


def test_a_lost_connection_may_be_reported_instead_of_the_code() -> None:
    sc = scenario(expect="{outcome: failed, code: 550}")
    lost = ClientOutcome(outcome=Outcome.FAILED, code=None, message="connection lost")
    result = judge(evidence(sc, lost, server_closed=True))
    assert result.verdict is Verdict.PASS
    assert any("RFC 5321 §3.8" in n for n in result.notes)


def test_no_code_without_a_hang_up_is_info_and_a_wrong_code_fails() -> None:
    sc = scenario(expect="{outcome: failed, code: 550}")
    no_code = judge(evidence(sc, ClientOutcome(outcome=Outcome.FAILED)))
    assert no_code.verdict is Verdict.INFO
    wrong = judge(evidence(sc, ClientOutcome(outcome=Outcome.FAILED, code=451)))
    assert wrong.verdict is Verdict.FAIL
    assert "451" in wrong.message


def test_codes_are_not_checked_for_a_client_that_cannot_report_them() -> None:
    sc = scenario(expect="{outcome: failed, code: 550}")
    result = judge(evidence(sc, ClientOutcome(outcome=Outcome.FAILED), reports_codes=False))
    assert result.verdict is Verdict.PASS


# --- sessions that did not end, faults --------------------------------------------------------


def test_a_client_holding_the_connection_open_fails() -> None:
    result = judge(evidence(scenario(), None, ended=False, complete=False, pending=("QUIT",)))
    assert result.verdict is Verdict.FAIL
    assert "kept the connection open" in result.message


def test_after_a_stall_still_waiting_passes_but_a_false_delivery_fails() -> None:
    sc = scenario()
    stalled = judge(evidence(sc, None, fault="stall@2 (seed 1)", complete=False))
    assert stalled.verdict is Verdict.PASS
    lied = judge(evidence(sc, DELIVERED, fault="421@2 (seed 1)", complete=False))
    assert lied.verdict is Verdict.FAIL


# --- known deviations and --strict -----------------------------------------------------------

DEVIATION = {
    "judge.sample": Deviation(scenario="judge.sample", rule="R-X-1", reason="r", trigger="t")
}


def graded(verdict: Verdict) -> object:
    from harness.results import Result

    return Result(scenario=scenario(), client="test", verdict=verdict)


@pytest.mark.parametrize(
    ("verdict", "strict", "becomes"),
    [
        (Verdict.FAIL, False, Verdict.XFAIL),
        (Verdict.PASS, False, Verdict.XPASS),
        (Verdict.NON_STRICT, False, Verdict.XPASS),  # the entry should go: it is only a SHOULD
        (Verdict.NON_STRICT, True, Verdict.XFAIL),
        (Verdict.INFO, True, Verdict.XPASS),
        (Verdict.NOT_EXERCISED, False, Verdict.XPASS),
        (Verdict.SKIP, False, Verdict.SKIP),
        (Verdict.ERROR, False, Verdict.ERROR),
    ],
)
def test_a_listed_scenario_is_xfail_only_when_it_fails(
    verdict: Verdict, strict: bool, becomes: Verdict
) -> None:
    result = graded(verdict)
    assert apply_deviations(result, DEVIATION, strict=strict).verdict is becomes  # type: ignore[arg-type]


def test_only_fail_error_and_xpass_fail_a_run_unless_strict() -> None:
    failing = {v for v in Verdict if v.fails_run()}
    assert failing == {Verdict.FAIL, Verdict.ERROR, Verdict.XPASS}
    assert {v for v in Verdict if v.fails_run(strict=True)} == failing | {Verdict.NON_STRICT}


def test_required_extension_of_a_task() -> None:
    assert ClientTask().required_extension == ""
    assert ClientTask(rcpt_to=("jö@example.com",)).required_extension == "SMTPUTF8"
