"""A client that must give up: a silent server, the task's client.timeout, and the "hung" verdict."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from fake_servers.tls import TlsMaterial
from harness.adapters.base import Capabilities, ClientAdapter, Target
from harness.adapters.reference import ReferenceAdapter
from harness.corpus import corpus_path
from harness.errors import ScenarioError
from harness.outcome import ClientOutcome
from harness.results import Result, Verdict
from harness.runner import run_scenarios
from harness.scenario.loader import load_scenario, parse_scenario
from harness.scenario.model import ClientTask, Outcome, give_up_window

from .conftest import READ, RawClient, run

SCENARIOS = sorted((corpus_path() / "timeouts").glob("*.yaml"))


class WaitsForever:
    """The reference client with the task's timeout ignored: it waits an hour for each reply."""

    capabilities = Capabilities()
    name = "waits-forever"

    async def deliver(self, task: ClientTask, target: Target) -> ClientOutcome:
        return await ReferenceAdapter().deliver(task, replace(target, timeout=3600.0))


class RecordsTarget:
    capabilities = Capabilities()
    name = "records-target"

    def __init__(self) -> None:
        self.targets: list[Target] = []

    async def deliver(self, task: ClientTask, target: Target) -> ClientOutcome:
        self.targets.append(target)
        return ClientOutcome(outcome=Outcome.FAILED)


def _all(adapter: ClientAdapter) -> list[Result]:
    scenarios = [load_scenario(p) for p in SCENARIOS]
    return asyncio.run(run_scenarios(scenarios, adapter, jobs=len(scenarios)))


def test_the_timeouts_cover_greeting_command_mid_reply_and_final_dot() -> None:
    assert {p.stem for p in SCENARIOS} >= {
        "no-greeting",
        "silent-after-greeting",
        "silent-after-rcpt",
        "silent-mid-reply",
        "silent-after-final-dot",
    }


def test_a_client_with_a_timeout_gives_up_in_time() -> None:
    for result in _all(ReferenceAdapter()):
        assert result.verdict is Verdict.PASS, (result.scenario.id, result.message)
        timeout = result.scenario.client.timeout
        assert timeout is not None
        assert result.duration < give_up_window(timeout) + 1


def test_a_client_that_waits_forever_fails_as_hung_not_as_an_error() -> None:
    for result in _all(WaitsForever()):
        assert result.verdict is Verdict.FAIL, result.scenario.id
        assert result.failure is not None and result.failure.kind == "hung"
        assert result.message.startswith("hung: the client neither sent QUIT nor closed within 6 s")
        # The harness stops it at the step's window, not at limits.total.
        assert result.duration < result.scenario.limits.total


def test_the_task_timeout_reaches_the_adapter(tls_material: TlsMaterial) -> None:
    adapter = RecordsTarget()
    run(load_scenario(SCENARIOS[0]), adapter, tls_material)
    assert [t.timeout for t in adapter.targets] == [2.0]


def test_quit_after_the_timeout_passes(tls_material: TlsMaterial) -> None:
    scenario = load_scenario(corpus_path() / "timeouts/silent-after-greeting.yaml")
    client = RawClient(
        READ, b"EHLO client.example\r\n", 2.2, b"QUIT\r\n", READ, report=Outcome.FAILED
    )
    assert run(scenario, client, tls_material).verdict is Verdict.PASS


def test_another_command_after_the_timeout_fails(tls_material: TlsMaterial) -> None:
    """swaks does this: HELO after an EHLO whose reply never came (RFC 5321 §4.3.1)."""
    scenario = load_scenario(corpus_path() / "timeouts/silent-after-greeting.yaml")
    client = RawClient(READ, b"EHLO client.example\r\n", 2.2, b"HELO client.example\r\n", READ)
    result = run(scenario, client, tls_material)
    assert result.verdict is Verdict.FAIL
    assert result.failure is not None and "MUST wait for the response" in result.failure.hint


SCENARIO = """
version: 1
id: test.gives-up
{limits}
client: {{rcpt_to: [b@example.com]{timeout}}}
expect: {{outcome: failed}}
exchange:
  - server: "220 x"
  - client: {{gives_up: true}}
"""


def test_gives_up_needs_a_client_timeout() -> None:
    with pytest.raises(ScenarioError, match=r"a `gives_up` step needs client.timeout"):
        parse_scenario(SCENARIO.format(limits="", timeout=""))


def test_limits_total_must_leave_room_for_the_window() -> None:
    text = SCENARIO.format(limits="limits: {total: 5}", timeout=", timeout: 2")
    with pytest.raises(ScenarioError, match=r"<string>:4: limits.total: must exceed 6 s"):
        parse_scenario(text)


def test_a_scenario_with_gives_up_loads() -> None:
    scenario = parse_scenario(SCENARIO.format(limits="limits: {total: 8}", timeout=", timeout: 2"))
    assert scenario.client.timeout == 2.0
