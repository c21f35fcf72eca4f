"""One server instance holds many sessions at once; --jobs gives the same results as a serial run."""

from __future__ import annotations

import asyncio

from fake_servers.scripted import ScriptedServer
from fake_servers.tls import TlsMaterial
from harness.adapters.reference import ReferenceAdapter
from harness.client.driver import ClientConfig, deliver
from harness.corpus import corpus_path
from harness.runner import run_scenarios
from harness.scenario.loader import load_scenario, load_scenarios
from harness.scenario.model import Outcome


def test_one_server_holds_200_concurrent_sessions(tls_material: TlsMaterial) -> None:
    scenario = load_scenario(corpus_path() / "auth" / "login.yaml")

    async def main() -> tuple[list[Outcome], int]:
        async with ScriptedServer(scenario, tls=tls_material) as server:
            config = ClientConfig(host=server.host, port=server.port, timeout=30)
            outcomes = await asyncio.gather(*(deliver(scenario.client, config) for _ in range(200)))
            sessions = server.sessions
            for session in sessions:
                await asyncio.wait_for(session.done.wait(), 5)
            clean = sum(s.failure is None and s.complete for s in sessions)
            return [o.outcome for o in outcomes], clean

    outcomes, clean = asyncio.run(main())
    assert outcomes == [Outcome.DELIVERED] * 200
    assert clean == 200


def test_jobs_give_the_same_results_as_a_serial_run(tls_material: TlsMaterial) -> None:
    scenarios = load_scenarios([corpus_path() / "errors", corpus_path() / "auth"])

    def verdicts(jobs: int) -> list[tuple[str, str, str]]:
        results = asyncio.run(run_scenarios(scenarios, ReferenceAdapter(), jobs=jobs))
        return [
            (r.scenario.id, r.verdict.value, r.outcome.describe() if r.outcome else "")
            for r in results
        ]

    serial = verdicts(1)
    assert verdicts(8) == serial
    assert [sid for sid, _, _ in serial] == [s.id for s in scenarios]  # in order
