"""What-if for the harness's hot spot: ``python bench/whatif_waits.py`` (about 30 s).

Not a benchmark of record and it changes no harness file: it patches, in this process only,

- ``asyncio.wait_for`` with a version built on ``asyncio.timeout()`` (what Python 3.12 does;
  3.11's wait_for wraps every awaitable in a new Task, plus a timer and ~2 extra loop turns), and
- ``fake_servers.channel.Channel.drain`` to skip the (wait_for-wrapped) drain when nothing is
  buffered,

then measures, pinned to one CPU and in interleaved rounds toggled variant by variant, the scripted server's
sessions/s and CPU per session with an smtplib client (benchmark 1 of ``bench/run.py``) and the
harness's plain-scenario rate (benchmark 2). Medians, as in ``run.py``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run

import fake_servers.channel as channel
from fake_servers.tls import TlsMaterial
from harness.corpus import corpus_path
from harness.scenario.loader import load_scenarios

ORIGINAL_WAIT_FOR = asyncio.wait_for
ORIGINAL_DRAIN = channel.Channel.drain


async def timeout_wait_for(aw, timeout):  # type: ignore[no-untyped-def]
    if timeout is None:
        return await aw
    async with asyncio.timeout(timeout):
        return await aw


async def drain_if_needed(self: channel.Channel) -> None:
    transport = self.writer.transport
    if transport.get_write_buffer_size() or transport.is_closing():
        await self.writer.drain()


VARIANTS = {
    "as is": (ORIGINAL_WAIT_FOR, ORIGINAL_DRAIN),
    "wait_for on asyncio.timeout": (timeout_wait_for, ORIGINAL_DRAIN),
    "... and drain only if buffered": (timeout_wait_for, drain_if_needed),
}


def use(name: str) -> None:
    asyncio.wait_for, channel.Channel.drain = VARIANTS[name]  # type: ignore[assignment]


def main() -> int:
    rounds, seconds = 10, 0.25
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) > 1:  # as in run.py's pinned re-run: steadier figures on a VM
        os.sched_setaffinity(0, {cpus[-1]})
        print(f"pinned to CPU {cpus[-1]} (threads inherit it)")
    tls = TlsMaterial.shared()
    ctx = tls.client_context()
    plain = [s for s in load_scenarios([corpus_path()]) if run.is_plain(s)]
    sessions: dict[str, list[run.Sample]] = {name: [] for name in ["minimal", *VARIANTS]}
    harness: dict[str, list[float]] = {name: [] for name in VARIANTS}
    print(f"{rounds} interleaved rounds of {seconds:g} s per variant", flush=True)
    with run.minimal_server(tls, "none") as minimal, run.scripted_server(tls, "none") as scripted:
        run.sessions_per_second(minimal, "none", ctx, 0.2)
        run.sessions_per_second(scripted, "none", ctx, 0.2)
        for _ in range(rounds):
            sessions["minimal"].append(run.sessions_per_second(minimal, "none", ctx, seconds))
            for name in VARIANTS:
                use(name)
                sessions[name].append(run.sessions_per_second(scripted, "none", ctx, seconds))
                hr = asyncio.run(run._harness_rate(plain, seconds))
                hr.check(f"plain scenarios ({name})")
                harness[name].append(hr.n / hr.wall)
        use("as is")
    base = [x.rate for x in sessions["minimal"]]
    print(
        f"\n(b) minimal responder: {statistics.median(base):,.0f} sessions/s,"
        f" server CPU {run.median_cpu(sessions['minimal'])[1]:.3f} ms/session"
    )
    print(
        f"{'':32} {'scripted sessions/s':>20} {'/(b)':>6} {'server CPU ms':>14}   {'harness scen/s':>14} {'/(b)':>6}"
    )
    for name in VARIANTS:
        rates = [x.rate for x in sessions[name]]
        r, h = statistics.median(rates), statistics.median(harness[name])
        cpu = run.median_cpu(sessions[name])[1]
        print(
            f"{name:32} {r:20,.0f} {run.paired_ratio(rates, base):6.2f} {cpu:14.3f}"
            f"   {h:14,.0f} {run.paired_ratio(harness[name], base):6.2f}"
        )
    print("(medians over rounds; /(b): median of back-to-back ratios)")
    before = run.median_cpu(sessions["as is"])[1]
    hbefore = statistics.median(harness["as is"])
    for name in list(VARIANTS)[1:]:
        cpu = run.median_cpu(sessions[name])[1]
        h = statistics.median(harness[name])
        print(
            f"  {name}: scripted server CPU/session {100 * (cpu / before - 1):+.0f}%,"
            f" harness scenarios/s {100 * (h / hbefore - 1):+.0f}%"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
