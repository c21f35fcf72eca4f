"""Graded verdicts end to end, over real sockets: a legal HELO client is never failed, a SHOULD
scenario gives non-strict, and the grades reach the command line, JSON and pytest."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

import pytest

from fake_servers.tls import TlsMaterial
from harness.adapters.base import Target
from harness.adapters.reference import ReferenceAdapter
from harness.cli import main
from harness.client.machine import ClientMachine
from harness.corpus import corpus_path
from harness.outcome import ClientOutcome
from harness.protocol.data import to_crlf
from harness.results import Verdict
from harness.scenario.loader import load_scenario, parse_scenario
from harness.scenario.model import ClientTask, TlsMode
from harness.transcript import Direction

from .conftest import run

pytest_plugins = ["pytester"]


class HeloMachine(ClientMachine):
    """Says HELO wherever it would say EHLO, as RFC 5321 §3.2 allows; so it uses no extension."""

    def _command(self, text: str, kind: str, info: str = "") -> None:
        if kind == "ehlo":
            text, kind = "HELO" + text[4:], "helo"
        super()._command(text, kind, info)


class HeloWithoutDotStuffing(HeloMachine):
    """HELO, and then breaks a wire rule: leading dots not doubled (RFC 5321 §4.5.2)."""

    def message_wire(self) -> bytes:
        text = to_crlf(self.task.message)
        return (text if text.endswith(b"\r\n") else text + b"\r\n") + b".\r\n"


class HeloAfterTlsMachine(ClientMachine):
    """EHLO before STARTTLS, then HELO as the first command inside TLS (as s-nail does): RFC 3207
    §4.2 says the client SHOULD send EHLO there, so this is legal but not strict."""

    def _command(self, text: str, kind: str, info: str = "") -> None:
        if kind == "ehlo" and self.tls_active and self.task.tls is TlsMode.STARTTLS:
            text, kind = "HELO" + text[4:], "helo"
        super()._command(text, kind, info)


def corpus(name: str):
    return load_scenario(corpus_path() / name)


@pytest.mark.parametrize(
    ("name", "verdict"),
    [
        # PIPELINING offered, one RCPT refused: a HELO client sends lock-step and handles it.
        ("extensions/pipelining-one-rcpt-refused.yaml", Verdict.NOT_EXERCISED),
        ("ehlo/multiline-postfix.yaml", Verdict.NOT_EXERCISED),
        # Nothing about extensions: HELO is as good as EHLO here.
        ("errors/rcpt-550-unknown-user.yaml", Verdict.PASS),
        ("data/dot-stuffing.yaml", Verdict.PASS),
    ],
)
def test_a_helo_client_is_never_failed_where_helo_is_legal(
    name: str, verdict: Verdict, tls_material: TlsMaterial
) -> None:
    result = run(corpus(name), ReferenceAdapter(HeloMachine), tls_material)
    assert result.verdict is verdict, (result.message, result.transcript.render())
    assert b"HELO " in result.transcript.sent_by(Direction.CLIENT)


def test_a_helo_client_still_fails_a_wire_rule(tls_material: TlsMaterial) -> None:
    result = run(
        corpus("data/dot-stuffing.yaml"), ReferenceAdapter(HeloWithoutDotStuffing), tls_material
    )
    assert result.verdict is Verdict.FAIL
    assert result.rule == "R-DOT-1"
    assert result.failure is not None and result.failure.wire


def test_helo_is_no_excuse_when_the_task_needs_an_extension(tls_material: TlsMaterial) -> None:
    # AUTH needs the EHLO reply (RFC 4954 §3): HELO here is the client's failure to do the task.
    result = run(corpus("auth/login.yaml"), ReferenceAdapter(HeloMachine), tls_material)
    assert result.verdict is Verdict.FAIL


@pytest.mark.parametrize(
    "name",
    [
        "tls/certificates/intermediate-ca-starttls.yaml",
        "starttls/220-reply-delayed-and-split.yaml",
        "ehlo/starttls-new-list-drops-size.yaml",
    ],
)
def test_helo_after_starttls_is_non_strict_not_a_failure(
    name: str, tls_material: TlsMaterial
) -> None:
    result = run(corpus(name), ReferenceAdapter(HeloAfterTlsMachine), tls_material)
    assert result.verdict is Verdict.NON_STRICT, (result.message, result.transcript.render())
    assert result.rule == "R-TLS-3"
    assert "RFC 3207 §4.2" in result.message
    assert b"HELO " in result.transcript.sent_by(Direction.CLIENT)


def test_helo_after_starttls_is_no_excuse_when_the_task_authenticates(
    tls_material: TlsMaterial,
) -> None:
    # The task needs AUTH after TLS (RFC 4954 §3): only the EHLO reply can offer it.
    result = run(
        corpus("starttls/reehlo-auth-after-tls.yaml"),
        ReferenceAdapter(HeloAfterTlsMachine),
        tls_material,
    )
    assert result.verdict is Verdict.FAIL, (result.message, result.transcript.render())


SHOULD_SCENARIO = """\
version: 1
id: grades.should-scenario
title: A scenario graded SHOULD (its script wants an EHLO name the client is not given)
refs: [R-EHLO-1]
level: should
limits: {total: 3, read: 1}
client: {mail_from: alice@example.com, rcpt_to: [bob@example.com], message: "Subject: x\\n\\nhi\\n"}
expect: {outcome: delivered}
exchange:
  - server: "220 mx.example.com ESMTP"
  - client: "EHLO client.example.org"
  - server: "250 mx.example.com"
"""


def test_a_should_scenario_grades_non_strict(tls_material: TlsMaterial) -> None:
    result = run(parse_scenario(SHOULD_SCENARIO, "s.yaml"), ReferenceAdapter(), tls_material)
    assert result.verdict is Verdict.NON_STRICT
    assert result.rule == "R-EHLO-1"


def test_the_command_line_shows_grades_and_strict_fails_non_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "should.yaml"
    path.write_text(SHOULD_SCENARIO)
    report = tmp_path / "report.json"
    assert main(["run", str(path), "--report-json", str(report)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("NON-STRICT grades.should-scenario  [reference]")
    assert "[R-EHLO-1]" in out.splitlines()[0]
    assert (
        "=== grades.should-scenario [reference]: non-strict (a SHOULD not followed; R-EHLO-1)"
        in out
    )
    assert out.splitlines()[-1] == "0 passed, 0 failed, 0 skipped, 1 non-strict"
    data = json.loads(report.read_text())
    assert data["counts"]["non-strict"] == 1 and data["counts"]["fail"] == 0
    assert data["results"][0]["verdict"] == "non-strict"
    assert data["results"][0]["level"] == "should"
    assert data["results"][0]["rule"] == "R-EHLO-1"

    assert main(["run", "--strict", str(path)]) == 1
    capsys.readouterr()


def test_pytest_shows_non_strict_under_its_own_word(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", should=SHOULD_SCENARIO)
    relaxed = pytester.runpytest_subprocess(
        "--smtp-client=reference", "-v", "-p", "no:cacheprovider"
    )
    assert relaxed.ret == pytest.ExitCode.OK, relaxed.stdout.str()
    assert "NON-STRICT" in relaxed.stdout.str()
    assert "= 1 non-strict in " in relaxed.stdout.str()
    strict = pytester.runpytest_subprocess(
        "--smtp-client=reference", "--smtp-strict", "-p", "no:cacheprovider"
    )
    assert strict.ret == pytest.ExitCode.TESTS_FAILED
    assert "non-strict (a SHOULD not followed; R-EHLO-1)" in strict.stdout.str()


class SlowToExit:
    """The reference client, then two seconds before it reports: a real program that takes its
    time to exit after the server has hung up."""

    capabilities = ReferenceAdapter().capabilities
    name = "slow"

    async def deliver(self, task: ClientTask, target: Target) -> ClientOutcome:
        outcome = await ReferenceAdapter().deliver(task, target)
        await asyncio.sleep(2.0)
        return outcome


def test_a_client_slow_to_exit_after_an_error_is_judged_on_its_outcome(
    tls_material: TlsMaterial,
) -> None:
    scenario = corpus("errors/rcpt-550-unknown-user.yaml")
    result = run(scenario, SlowToExit(), tls_material)
    assert result.verdict is Verdict.PASS, result.message
    # The grace is the scenario's limit: with a one-second grace the same client is too slow.
    short = replace(scenario, limits=replace(scenario.limits, grace=1.0))
    assert run(short, SlowToExit(), tls_material).verdict is Verdict.FAIL
