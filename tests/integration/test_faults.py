"""Fault injection: transparent faults change no verdict; ending faults are judged on what must
hold whatever happens; everything is reproducible from the seed."""

from __future__ import annotations

import asyncio

import pytest

from fake_servers.tls import TlsMaterial
from harness.adapters.reference import ReferenceAdapter
from harness.corpus import corpus_path
from harness.errors import ScenarioError
from harness.faults import Fault, FaultPlan, parse_fault
from harness.report.text import format_failure
from harness.results import Verdict
from harness.runner import run_scenario
from harness.scenario.loader import load_scenario, parse_scenario
from harness.scenario.model import Outcome

from .conftest import OutcomeLyingAdapter

LOGIN = corpus_path() / "auth" / "login.yaml"  # 12 server writes; the end-of-data reply is the 9th


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("delay=0.5@3", Fault("delay", 3, seconds=0.5)),
        ("split=every", Fault("split", None)),
        ("split=4,1@2", Fault("split", 2, offsets=(1, 4))),
        ("421@4", Fault("421", 4)),
        ("reset", Fault("reset", None)),
        ("half-close@2", Fault("half-close", 2)),
        ("stall@1", Fault("stall", 1)),
    ],
)
def test_fault_syntax(text: str, fault: Fault) -> None:
    assert parse_fault(text) == fault


@pytest.mark.parametrize("text", ["explode", "delay", "delay=soon", "split=0", "421=1", "reset@0"])
def test_bad_faults_say_what_is_wrong(text: str) -> None:
    with pytest.raises(ValueError, match=r"^'"):
        parse_fault(text)


def test_the_seed_decides_and_repeats() -> None:
    def chosen(seed: int) -> int | None:
        return FaultPlan((Fault("421"),), seed=seed, scenario_id="x", writes=12).faults[0].reply

    assert chosen(7) == chosen(7)
    assert len({chosen(seed) for seed in range(20)}) > 1


def run(scenario, adapter, tls: TlsMaterial, *faults: str, seed: int = 1):
    return asyncio.run(
        run_scenario(scenario, adapter, tls=tls, faults=tuple(map(parse_fault, faults)), seed=seed)
    )


@pytest.mark.parametrize("fault", ["split=every", "delay=0.05", "split=1,2,3@1"])
def test_transparent_faults_change_no_verdict(fault: str, tls_material: TlsMaterial) -> None:
    result = run(load_scenario(LOGIN), ReferenceAdapter(), tls_material, fault)
    assert result.verdict is Verdict.PASS, format_failure(result)
    assert any(fault in note for note in result.notes)


@pytest.mark.parametrize("fault", ["421@5", "reset@5", "half-close@5", "421@1"])
def test_a_client_that_gives_up_cleanly_passes(fault: str, tls_material: TlsMaterial) -> None:
    result = run(load_scenario(LOGIN), ReferenceAdapter(), tls_material, fault)
    assert result.verdict is Verdict.PASS, format_failure(result)
    assert result.outcome is not None and result.outcome.outcome is Outcome.FAILED


def test_claiming_delivery_after_a_fault_fails_and_names_the_seed(
    tls_material: TlsMaterial,
) -> None:
    liar = OutcomeLyingAdapter(ReferenceAdapter(), Outcome.DELIVERED)
    result = run(load_scenario(LOGIN), liar, tls_material, "421", seed=11)
    assert result.verdict is Verdict.FAIL
    assert "seed 11" in result.message
    again = run(load_scenario(LOGIN), liar, tls_material, "421", seed=11)
    assert again.message == result.message  # same seed, same fault, same verdict


def test_a_fault_after_the_message_was_accepted_allows_delivered(tls_material: TlsMaterial) -> None:
    result = run(
        load_scenario(LOGIN), ReferenceAdapter(), tls_material, "421@12"
    )  # the reply to QUIT
    assert result.verdict is Verdict.PASS, format_failure(result)


def test_faults_in_a_scenario_file(tls_material: TlsMaterial) -> None:
    text = LOGIN.read_text().replace(
        "version: 1\n", "version: 1\nfaults: [split=every, delay=0.01@2]\n", 1
    )
    scenario = parse_scenario(text, "with-faults.yaml")
    assert scenario.faults == (Fault("split"), Fault("delay", 2, seconds=0.01))
    assert run(scenario, ReferenceAdapter(), tls_material).verdict is Verdict.PASS
    with pytest.raises(ScenarioError, match=r"^bad\.yaml:2: faults\[0\]: 'boom' is not a fault"):
        parse_scenario(text.replace("faults: [split=every", "faults: [boom"), "bad.yaml")
