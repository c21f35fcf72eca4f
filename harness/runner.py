"""The runner: one scenario run against one client adapter → a Result, within the scenario's time limit."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterable

from fake_servers.scripted import ScriptedServer, Session
from fake_servers.tls import TlsMaterial
from harness.adapters.base import ClientAdapter, Target, unsupported_reason
from harness.faults import Fault, FaultPlan
from harness.judge import Evidence, judge
from harness.outcome import ClientOutcome
from harness.redaction import redact_result
from harness.results import Result, Verdict
from harness.scenario.model import (
    AnyOf,
    AuthStep,
    ClientStep,
    Delay,
    Limits,
    Scenario,
    Send,
    Step,
    Unordered,
)

__all__ = ["default_jobs", "expected_seconds", "run_scenario", "run_scenarios"]

# After the client is done, how long the server may take to see the connection end.
SESSION_GRACE = 1.0
# After the server failed the session, how long a client still running may take to report.
FAILED_SESSION_GRACE = 1.0


async def run_scenario(
    scenario: Scenario,
    adapter: ClientAdapter,
    *,
    tls: TlsMaterial | None = None,
    faults: tuple[Fault, ...] = (),
    seed: int = 0,
    show_secrets: bool = False,
) -> Result:
    """Serve ``scenario`` on a fresh loopback port, run ``adapter`` against it, and judge.

    The verdict is reached within ``limits.total`` plus ``limits.read`` and the grace,
    whatever the client does. ``faults`` (added to the scenario's own) and ``seed`` make a
    reproducible fault-injection run (see harness.faults). The runner only gathers evidence;
    harness.judge decides. Credentials are hidden in the result unless ``show_secrets``.
    """
    started = time.monotonic()
    reason = unsupported_reason(adapter, scenario)
    if reason is not None:
        return Result(scenario=scenario, client=adapter.name, verdict=Verdict.SKIP, message=reason)
    tls = tls or TlsMaterial.shared()
    limits = scenario.limits
    notes: list[str] = []
    all_faults = scenario.faults + tuple(faults)
    plan = (
        FaultPlan(
            all_faults, seed=seed, scenario_id=scenario.id, writes=_count_writes(scenario.exchange)
        )
        if all_faults
        else None  # most runs: no faults, no random generator to seed
    )
    if plan:
        notes.append(f"faults: {plan.describe()}")
    try:
        async with ScriptedServer(
            scenario,
            tls=tls,
            faults=plan or None,
            composes_message=adapter.capabilities.composes_message,
        ) as server:
            target = Target(
                host=server.host,
                port=server.port,
                ca_file=tls.ca_path,
                ssl_context=tls.client_context(),
                timeout=scenario.client.timeout or limits.total,
            )
            outcome, session = await _deliver_and_watch(adapter, scenario, target, server, notes)
            if plan and session is not None:
                notes += _faults_that_never_came(plan, session)
            opened = server.connections + server.refused
            if opened > 1:
                refused = f" ({server.refused} refused with 421)" if server.refused else ""
                notes.append(
                    f"the client opened {opened} connections{refused}; only the first is judged"
                )
    except (
        Exception
    ) as exc:  # the adapter or the harness broke: an error, not a verdict on the client
        return Result(
            scenario=scenario,
            client=adapter.name,
            verdict=Verdict.ERROR,
            message=f"{type(exc).__name__}: {exc}",
            duration=time.monotonic() - started,
        )
    evidence = Evidence(
        scenario=scenario,
        client=adapter.name,
        reports_codes=adapter.capabilities.reports_codes,
        outcome=outcome,
        session=session.evidence() if session is not None else None,
        faults=plan.describe() if plan else "",
    )
    result = judge(evidence)
    result.notes = notes + result.notes
    result.duration = time.monotonic() - started
    return result if show_secrets else redact_result(result)


def _faults_that_never_came(plan: FaultPlan, session: Session) -> list[str]:
    """A fault placed at a write the session never made did not happen: say so, or a fault run
    would pass without the reader learning that this scenario saw no fault."""
    return [
        f"fault {fault} did not happen: the session had {session.writes} server write(s)"
        for fault in plan.faults
        if fault.reply is not None and fault.reply > session.writes and not session.fault
    ]


def _grace(watcher: asyncio.Future[Session | None], limits: Limits) -> float:
    """How long a client still running after the server's end may take to report: the whole
    ``limits.grace`` when its outcome decides the verdict, a moment when the server has already
    failed it (its outcome can change the grade only in rare cases)."""
    session = watcher.result()
    if session is not None and session.failure is not None:
        return min(FAILED_SESSION_GRACE, limits.grace)
    return limits.grace


def expected_seconds(scenario: Scenario) -> float:
    """The time a scenario's own waits take at least (delays, pauses, silences, the client's
    timeout where the task has one): for starting the longest first, not a limit."""

    def walk(steps: tuple[Step, ...]) -> float:
        total = 0.0
        for step in steps:
            if isinstance(step, Send):
                pieces = len(step.data) if step.every_byte else len(step.split or ()) + 1
                total += step.delay + step.pause * (pieces - 1)
            elif isinstance(step, Delay) or (
                isinstance(step, ClientStep) and step.kind == "silence"
            ):
                total += step.seconds
            elif isinstance(step, AnyOf):
                total += max((walk(b) for b in step.branches), default=0.0)
            elif isinstance(step, Unordered):
                total += sum(walk(g) for g in step.groups)
        return total

    return walk(scenario.exchange) + (scenario.client.timeout or 0.0)


def _count_writes(steps: tuple[Step, ...]) -> int:
    """About how many server writes a script makes (the range a seed picks faults from)."""
    n = 0
    for step in steps:
        if isinstance(step, Send):
            n += 1
        elif isinstance(step, AuthStep):
            n += 2
        elif isinstance(step, AnyOf):
            n += max(_count_writes(b) for b in step.branches)
        elif isinstance(step, Unordered):
            n += sum(_count_writes(g) for g in step.groups)
    return n


async def _deliver_and_watch(
    adapter: ClientAdapter,
    scenario: Scenario,
    target: Target,
    server: ScriptedServer,
    notes: list[str],
) -> tuple[ClientOutcome | None, Session | None]:
    """Run the client while watching the server side.

    Once the server's session has ended, the client gets ``limits.grace`` seconds more to
    report, not the whole time limit: a client that hangs after the server gave up must not hold
    the verdict back, and a real program may take a second or two to exit.
    """
    limits = scenario.limits
    deadline = time.monotonic() + limits.total
    client = asyncio.ensure_future(adapter.deliver(scenario.client, target))
    watcher = asyncio.ensure_future(server.first_session(limits.total))
    try:
        await asyncio.wait(
            {client, watcher}, timeout=limits.total, return_when=asyncio.FIRST_COMPLETED
        )
        if not client.done():
            remaining = max(0.0, deadline - time.monotonic())
            wait = min(_grace(watcher, limits), remaining) if watcher.done() else remaining
            await asyncio.wait({client}, timeout=wait)
        outcome: ClientOutcome | None = None
        if client.done():
            outcome = client.result()  # an adapter's exception propagates: that is an error
        else:
            notes.append(
                "the client had not reported when the time limit (or the grace after the server's end) ran out"
            )
        # A client that never connected gets a short grace; a session under way gets its read limit.
        wait = limits.read + SESSION_GRACE if server.sessions else SESSION_GRACE
        session = await server.first_session(wait)
        if session is None and server.sessions:
            session = server.sessions[0]  # connected, but still holding the connection open
        return outcome, session
    finally:
        for task in (client, watcher):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


def default_jobs() -> int:
    """Scenarios mostly wait (on deadlines, delays, other processes), so run a few per core."""
    return max(2, 4 * (os.cpu_count() or 1))


async def run_scenarios(
    scenarios: Iterable[Scenario],
    adapter: ClientAdapter,
    *,
    jobs: int = 1,
    on_result: Callable[[Result], None] | None = None,
    faults: tuple[Fault, ...] = (),
    seed: int = 0,
    show_secrets: bool = False,
) -> list[Result]:
    """Run scenarios with one adapter, up to ``jobs`` at a time, each on its own port.

    Results come back in the order of ``scenarios``; ``on_result`` is called in that order too,
    as soon as a result and all before it are done, so output is the same as a serial run.
    """
    tls = TlsMaterial.shared()
    todo = list(scenarios)
    gate = asyncio.Semaphore(max(1, jobs))

    async def one(scenario: Scenario) -> Result:
        async with gate:
            return await run_scenario(
                scenario, adapter, tls=tls, faults=faults, seed=seed, show_secrets=show_secrets
            )

    # The longest scenarios take the gate first (tasks queue on it in creation order), so a
    # 3-second scenario does not start last and hold the whole run up; results still come back
    # in the given order.
    by_length = sorted(range(len(todo)), key=lambda i: -expected_seconds(todo[i]))
    started = {i: asyncio.ensure_future(one(todo[i])) for i in by_length}
    tasks = [started[i] for i in range(len(todo))]
    results = []
    try:
        for task in tasks:
            result = await task
            if on_result is not None:
                on_result(result)
            results.append(result)
    finally:
        for task in tasks:
            task.cancel()
    return results
