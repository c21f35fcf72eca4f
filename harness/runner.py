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
from harness.outcome import ClientOutcome
from harness.results import Result, Verdict
from harness.scenario.model import AnyOf, AuthStep, Outcome, Scenario, Send, Step, Unordered
from harness.transcript import Transcript

__all__ = ["default_jobs", "judge", "run_scenario", "run_scenarios"]

# After the client is done, how long the server may take to see the connection end.
SESSION_GRACE = 1.0
# After the server's session has ended, how long the client may take to report its outcome.
CLIENT_GRACE = 1.0


async def run_scenario(
    scenario: Scenario,
    adapter: ClientAdapter,
    *,
    tls: TlsMaterial | None = None,
    faults: tuple[Fault, ...] = (),
    seed: int = 0,
) -> Result:
    """Serve ``scenario`` on a fresh loopback port, run ``adapter`` against it, and judge.

    The verdict is reached within ``limits.total`` plus ``limits.read`` and a second of grace,
    whatever the client does. ``faults`` (added to the scenario's own) and ``seed`` make a
    reproducible fault-injection run (see harness.faults).
    """
    started = time.monotonic()
    reason = unsupported_reason(adapter, scenario)
    if reason is not None:
        return Result(scenario=scenario, client=adapter.name, verdict=Verdict.SKIP, message=reason)
    tls = tls or TlsMaterial.shared()
    limits = scenario.limits
    outcome: ClientOutcome | None = None
    notes: list[str] = []
    all_faults = scenario.faults + tuple(faults)
    plan = FaultPlan(
        all_faults, seed=seed, scenario_id=scenario.id, writes=_count_writes(scenario.exchange)
    )
    if plan:
        notes.append(f"faults: {plan.describe()}")
    try:
        async with ScriptedServer(scenario, tls=tls, faults=plan or None) as server:
            target = Target(
                host=server.host,
                port=server.port,
                ca_file=tls.ca_path,
                ssl_context=tls.client_context(),
                timeout=limits.total,
            )
            outcome, session = await _deliver_and_watch(adapter, scenario, target, server, notes)
            if len(server.sessions) > 1:
                notes.append(
                    f"the client opened {len(server.sessions)} connections; only the first is judged"
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
    if outcome is not None and outcome.unsupported and not _left_script_first(session):
        return Result(
            scenario=scenario,
            client=adapter.name,
            verdict=Verdict.SKIP,
            message=outcome.unsupported,
            outcome=outcome,
            transcript=session.transcript if session else Transcript(),
            duration=time.monotonic() - started,
            notes=notes,
        )
    result = judge(scenario, adapter, outcome, session.transcript if session else Transcript())
    if session is None:
        result.verdict, result.message = (
            Verdict.FAIL,
            "the client never connected (or its session never ended)",
        )
    elif result.verdict is Verdict.PASS and session.failure is not None:
        result.verdict, result.message = Verdict.FAIL, session.failure.message
    if session is not None and session.fault and session.failure is None:
        # The script stopped at an injected fault: judge only what must hold whatever happens.
        result = _judge_after_fault(scenario, adapter, outcome, session)
    elif session is not None:
        result.failure = session.failure
        if session.failure is not None:
            result.verdict = Verdict.FAIL
            result.message = session.failure.message
        elif not session.complete and result.verdict is Verdict.PASS:
            result.verdict = Verdict.FAIL
            result.message = "the session ended before the script did; expected: " + " | ".join(
                session.pending
            )
    result.notes += notes
    if plan and result.verdict is Verdict.FAIL and "(seed " not in result.message:
        result.message += f" [faults: {plan.describe()}]"
    result.duration = time.monotonic() - started
    return result


def _left_script_first(session: Session | None) -> bool:
    """Whether the client broke the script before it said it cannot do the task (a failure
    then, not a skip): anything but giving up with QUIT or by closing the connection."""
    failure = session.failure if session is not None else None
    if failure is None or failure.kind == "closed":
        return False
    return not failure.actual.upper().startswith("QUIT")


def _judge_after_fault(
    scenario: Scenario, adapter: ClientAdapter, outcome: ClientOutcome | None, session: Session
) -> Result:
    """After a session-ending fault: the client must have reported in time, and must not claim
    a delivery the server never accepted."""
    result = Result(
        scenario=scenario,
        client=adapter.name,
        verdict=Verdict.PASS,
        outcome=outcome,
        transcript=session.transcript,
    )
    if outcome is None and session.fault.startswith("stall"):
        # RFC 5321 §4.5.3.2 lets a client wait minutes for a reply: still waiting is no fault.
        result.notes.append(
            f"the client was still waiting when the run ended, after {session.fault}"
        )
    elif outcome is None:
        result.verdict = Verdict.FAIL
        result.message = f"the client reported nothing after the fault {session.fault}"
    elif (
        outcome.outcome is Outcome.DELIVERED and scenario.client.sends and not session.data_accepted
    ):
        result.verdict = Verdict.FAIL
        result.message = f"the client reported delivered, but the fault {session.fault} came before the server accepted the message"
    return result


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

    Once the server's session has ended, the client gets CLIENT_GRACE seconds more to report,
    not the whole time limit: a client that hangs after the server gave up must not hold the
    verdict back.
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
            wait = min(CLIENT_GRACE, remaining) if watcher.done() else remaining
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
        return outcome, session
    finally:
        for task in (client, watcher):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


def judge(
    scenario: Scenario,
    adapter: ClientAdapter,
    outcome: ClientOutcome | None,
    transcript: Transcript,
) -> Result:
    """Check the client's reported outcome against ``scenario.expect`` (the wire is judged by
    the server's playback)."""
    expect = scenario.expect

    def result(verdict: Verdict, message: str = "") -> Result:
        return Result(
            scenario=scenario,
            client=adapter.name,
            verdict=verdict,
            message=message,
            outcome=outcome,
            transcript=transcript,
        )

    if outcome is None:
        return result(Verdict.FAIL, "the client reported no outcome in time")
    wanted = " or ".join(o.value for o in expect.outcomes)
    if outcome.outcome not in expect.outcomes:
        return result(Verdict.FAIL, f"the client reported {outcome.describe()}; expected {wanted}")
    if not adapter.capabilities.reports_codes:
        return result(Verdict.PASS)
    if (
        outcome.outcome is Outcome.FAILED
        and expect.codes
        and not any(c.matches(outcome.code) for c in expect.codes)
    ):
        codes = " or ".join(str(c) for c in expect.codes)
        if outcome.code_unknown:
            passed = result(Verdict.PASS)
            passed.notes.append(f"the client's reply code is unknown; {codes} was not checked")
            return passed
        shown = "unknown" if outcome.code is None else outcome.code
        return result(Verdict.FAIL, f"the client failed with code {shown}; expected {codes}")
    if expect.replies is not None:
        got = list(outcome.replies or ())
        if len(got) != len(expect.replies) or not all(
            c.matches(g) for c, g in zip(expect.replies, got, strict=False)
        ):
            return result(
                Verdict.FAIL,
                f"operation replies were {got}; expected {[str(c) for c in expect.replies]}",
            )
    return result(Verdict.PASS)


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
            return await run_scenario(scenario, adapter, tls=tls, faults=faults, seed=seed)

    tasks = [asyncio.ensure_future(one(s)) for s in todo]
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
