"""``run --jobs``: the longest scenarios start first (so one long scenario does not start last
and hold the run up), and results still come back in the order given."""

from __future__ import annotations

import asyncio

from harness.adapters.base import Target
from harness.adapters.reference import ReferenceAdapter
from harness.outcome import ClientOutcome
from harness.results import Verdict
from harness.runner import expected_seconds, run_scenarios
from harness.scenario.loader import parse_scenario
from harness.scenario.model import ClientTask


def scenario(name: str, delay: float):
    wait = f"  - delay: {delay}\n" if delay else ""
    return parse_scenario(
        f"""
version: 1
id: test.{name}
limits: {{total: 5, read: 2}}
client: {{mail_from: {name}@example.com, rcpt_to: [b@example.com]}}
expect: {{outcome: delivered}}
exchange:
{wait}  - server: "220 ready"
  - client: "EHLO {{domain}}"
  - server: "250 ok"
  - client: "MAIL FROM:<{name}@example.com>"
  - server: "250 ok"
  - client: "RCPT TO:<b@example.com>"
  - server: "250 ok"
  - client: DATA
  - server: "354 go"
  - client: {{data: message}}
  - server: "250 queued"
  - client: {{match: QUIT, optional: true}}
  - server: "221 bye"
""",
        f"{name}.yaml",
    )


class Recording(ReferenceAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.started: list[str] = []

    async def deliver(self, task: ClientTask, target: Target) -> ClientOutcome:
        self.started.append(task.mail_from.split("@")[0])
        return await super().deliver(task, target)


def test_the_longest_scenario_starts_first_and_results_keep_their_order() -> None:
    scenarios = [scenario("quick-1", 0), scenario("quick-2", 0), scenario("slow", 0.3)]
    assert expected_seconds(scenarios[2]) == 0.3
    adapter = Recording()
    order: list[str] = []
    results = asyncio.run(
        run_scenarios(scenarios, adapter, jobs=1, on_result=lambda r: order.append(r.scenario.id))
    )
    assert [r.scenario.id for r in results] == ["test.quick-1", "test.quick-2", "test.slow"]
    assert order == ["test.quick-1", "test.quick-2", "test.slow"]
    assert all(r.verdict is Verdict.PASS for r in results)
    assert adapter.started == ["slow", "quick-1", "quick-2"]  # jobs=1: one at a time
