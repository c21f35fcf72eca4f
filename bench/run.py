"""Benchmarks for the harness (issue 6, item 4): ``python bench/run.py`` (``--quick`` for a short run).

Every figure is compared, in the same run, against baselines this script starts itself on
127.0.0.1:

1. sessions per second, one plain smtplib send per session, sequential sessions: the scripted
   server (ServerController; one script per connection, so every session is a new connection
   to the same server) vs (a) aiosmtpd's Controller with an accept-all handler and (b) the
   minimal asyncio responder in ``bench/minimal_responder.py``;
2. the whole harness per scenario (setup, server start, matching, transcript, verdict) with the
   reference client, ``run_scenarios(..., jobs=1)`` on the plain corpus scenarios, vs (b);
3. the whole corpus, serial and with ``jobs=default_jobs()``: wall time, CPU time, the longest
   scenario, against the target "at most 1.5x the longest scenario + CPU time / cores";
4. the TLS cost per session: STARTTLS and implicit TLS vs plain (certificates made once per run);
5. the fuzzer's examples/s against the reference client and smtplib (``harness.fuzz.engine.fuzz``,
   generation, runs and shrinking included: what ``smtp-harness fuzz`` does after start-up);

and, in a full run, benchmarks 1 and 2 once more with the process pinned to one CPU (sessions
are sequential, so that costs no parallelism; it removes cross-CPU wake-ups, which on a VM are
expensive and erratic and slow the two-thread baselines far more than the one-thread harness).

Servers run in threads of this process (as ServerController does); the smtplib client runs in
the main thread. Each figure is measured in short rounds interleaved across the servers; rates
are medians over rounds and ratios the median of back-to-back pairs, so that drift and bursts of
other load cancel out (best and worst rounds are shown). CPU time per session is read per thread
(client and server loop); one session at a time is CPU-bound, so it explains the wall time.
``--profile`` (on by default in a full run) adds cProfile tables of the scripted server's loop
thread, of the minimal responder's, and of the harness's loop.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import cProfile
import datetime
import json
import os
import platform
import pstats
import resource
import smtplib
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import minimal_responder
from aiosmtpd.controller import Controller

from fake_servers.controller import ServerController
from fake_servers.tls import TlsMaterial
from harness.adapters.reference import ReferenceAdapter
from harness.corpus import corpus_path
from harness.results import Result, Verdict
from harness.runner import default_jobs, run_scenarios
from harness.scenario.loader import load_scenarios, parse_scenario
from harness.scenario.model import (
    AnyOf,
    ClientStep,
    Close,
    Delay,
    Scenario,
    Send,
    StartTls,
    Step,
    TlsMode,
    Unordered,
)

HOST = "127.0.0.1"
MAIL_FROM = "alice@example.com"
RCPT_TO = "bob@example.com"
MESSAGE = (
    b"From: Alice <alice@example.com>\r\nTo: Bob <bob@example.com>\r\nSubject: bench\r\n\r\n"
    b"Hello from the benchmark.\r\n"
)
MODES = ("none", "starttls", "implicit")

# ---------------------------------------------------------------------------------------------
# the inline scenario: the same send the baselines take, in each TLS mode


def bench_scenario(mode: str = "none") -> Scenario:
    ehlo = '["250-mx.example.com", "250-PIPELINING", "250 8BITMIME"]'
    tls_steps = ""
    if mode == "starttls":
        tls_steps = """
  - client: "EHLO {domain}"
  - server: ["250-mx.example.com", "250-PIPELINING", "250-8BITMIME", "250 STARTTLS"]
  - client: STARTTLS
  - server: "220 2.0.0 Ready to start TLS"
  - tls: start"""
    text = f"""version: 1
id: bench.send-{mode}
title: one plain send, TLS {mode}
source: synthetic
client:
  mail_from: {MAIL_FROM}
  rcpt_to: [{RCPT_TO}]
  tls: {mode}
  message: |
    From: Alice <alice@example.com>
    To: Bob <bob@example.com>
    Subject: bench

    Hello from the benchmark.
expect: {{outcome: delivered}}
exchange:
  - server: "220 mx.example.com ESMTP"{tls_steps}
  - client: "EHLO {{domain}}"
  - server: {ehlo}
  - client: "MAIL FROM:<{MAIL_FROM}>"
  - server: "250 2.1.0 Ok"
  - client: "RCPT TO:<{RCPT_TO}>"
  - server: "250 2.1.5 Ok"
  - client: DATA
  - server: "354 End data with <CR><LF>.<CR><LF>"
  - client: {{data: message, compare: exact}}
  - server: "250 2.0.0 Ok: queued"
  - client: {{match: QUIT, optional: true}}
  - server: "221 2.0.0 Bye"
"""
    return parse_scenario(text, f"<bench {mode}>")


def is_plain(scenario: Scenario) -> bool:
    """No TLS, no delays or pauses, no server close, no step that waits on purpose (silence, a
    client that must give up), no faults: a scenario that runs as fast as it can."""

    def plain_steps(steps: tuple[Step, ...]) -> bool:
        for step in steps:
            if isinstance(step, Delay | StartTls | Close):
                return False
            if isinstance(step, ClientStep) and step.kind in ("silence", "gives_up"):
                return False
            if isinstance(step, Send) and (step.delay or step.pause):
                return False
            if isinstance(step, AnyOf) and not all(plain_steps(b) for b in step.branches):
                return False
            if isinstance(step, Unordered) and not all(plain_steps(g) for g in step.groups):
                return False
        return True

    return (
        scenario.client.tls is TlsMode.NONE
        and not scenario.faults
        and plain_steps(scenario.exchange)
    )


# ---------------------------------------------------------------------------------------------
# servers: each a context manager yielding an Endpoint


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int
    loop: asyncio.AbstractEventLoop  # the server's event loop (its thread's CPU time is read there)

    def thread_cpu(self) -> float:
        """CPU seconds used so far by the thread that runs the server's loop."""
        fut: concurrent.futures.Future[float] = concurrent.futures.Future()
        self.loop.call_soon_threadsafe(lambda: fut.set_result(time.thread_time()))
        return fut.result(10)


class LoopThread:
    """An event loop in a daemon thread, for the baselines' asyncio servers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="bench-loop", daemon=True)
        self.thread.start()

    def call(self, coro, timeout: float = 10.0):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@contextlib.contextmanager
def minimal_server(tls: TlsMaterial, mode: str) -> Iterator[Endpoint]:
    lt = LoopThread()
    ctx = tls.server_context() if mode != "none" else None
    server = lt.call(minimal_responder.serve(HOST, 0, tls=ctx, implicit=mode == "implicit"))
    try:
        yield Endpoint(HOST, server.sockets[0].getsockname()[1], lt.loop)
    finally:

        async def close() -> None:
            server.close()
            await server.wait_closed()

        lt.call(close())
        lt.stop()


class AcceptAll:
    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        return "250 2.0.0 Ok: queued"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def aiosmtpd_server(tls: TlsMaterial, mode: str) -> Iterator[Endpoint]:
    kwargs: dict[str, object] = {}
    if mode == "starttls":
        kwargs = {"tls_context": tls.server_context(), "require_starttls": False}
    elif mode == "implicit":
        kwargs = {"ssl_context": tls.server_context()}
    controller = Controller(
        AcceptAll(), hostname=HOST, port=free_port(), server_hostname="localhost", **kwargs
    )
    controller.start()
    try:
        yield Endpoint(HOST, controller.port, controller.loop)
    finally:
        controller.stop()


@contextlib.contextmanager
def scripted_server(tls: TlsMaterial, mode: str) -> Iterator[Endpoint]:
    with ServerController(bench_scenario(mode), tls=tls) as server:
        assert server._loop is not None  # read only: to time the server thread's CPU
        yield Endpoint(server.host, server.port, server._loop)
        # The client has quit; give the server a moment to end the last session. (The pause
        # also keeps the last session's task from being destroyed pending at stop(): see
        # RESULTS.md, "harness issues found".)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and not all(s.done.is_set() for s in server.sessions):
            time.sleep(0.005)
        time.sleep(0.05)
        bad = [s for s in server.sessions if s.failure is not None or not s.complete]
        if bad:
            first = bad[0]
            why = (
                first.failure.message
                if first.failure
                else "incomplete: " + " | ".join(first.pending)
            )
            raise RuntimeError(
                f"scripted server: {len(bad)} of {len(server.sessions)} sessions failed: {why}"
            )


@contextlib.contextmanager
def on_uvloop(
    make: Callable[[TlsMaterial, str], contextlib.AbstractContextManager[Endpoint]],
    tls: TlsMaterial,
    mode: str,
) -> Iterator[Endpoint]:
    """``make``'s server with its loop made by uvloop (the ``uvloop`` extra); the policy is
    uvloop's only while the server starts, so everything else keeps asyncio's loop."""
    import uvloop

    previous = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        context = make(tls, mode)
        endpoint = context.__enter__()
    finally:
        asyncio.set_event_loop_policy(previous)
    try:
        yield endpoint
    finally:
        context.__exit__(None, None, None)


def has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


SERVERS: dict[str, Callable[[TlsMaterial, str], contextlib.AbstractContextManager[Endpoint]]] = {
    "scripted": scripted_server,
    "minimal": minimal_server,
    "aiosmtpd": aiosmtpd_server,
    "scripted-uvloop": partial(on_uvloop, scripted_server),
    "minimal-uvloop": partial(on_uvloop, minimal_server),
}

# ---------------------------------------------------------------------------------------------
# the smtplib client


def smtplib_send(host: str, port: int, mode: str, ctx: ssl.SSLContext) -> None:
    if mode == "implicit":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            host, port, local_hostname="localhost", timeout=10, context=ctx
        )
    else:
        client = smtplib.SMTP(host, port, local_hostname="localhost", timeout=10)
    try:
        if mode == "starttls":
            client.starttls(context=ctx)
        client.sendmail(MAIL_FROM, [RCPT_TO], MESSAGE)
        client.quit()
    finally:
        client.close()


@dataclass(frozen=True, slots=True)
class Sample:
    """One timed stretch of sequential sessions."""

    rate: float  # sessions/s
    client_ms: float  # CPU ms per session in the client (main) thread
    server_ms: float  # CPU ms per session in the server's loop thread


def sessions_per_second(ep: Endpoint, mode: str, ctx: ssl.SSLContext, seconds: float) -> Sample:
    n = 0
    server0, client0, start = ep.thread_cpu(), time.thread_time(), time.perf_counter()
    end = start + seconds
    while True:
        smtplib_send(ep.host, ep.port, mode, ctx)
        n += 1
        now = time.perf_counter()
        if now >= end:
            break
    client = time.thread_time() - client0
    server = ep.thread_cpu() - server0
    return Sample(n / (now - start), 1000 * client / n, 1000 * server / n)


def interleaved_rates(
    tls: TlsMaterial, configs: list[tuple[str, str]], seconds: float, rounds: int
) -> dict[tuple[str, str], list[Sample]]:
    """Sessions/s of each (server, mode), ``rounds`` interleaved rounds of ``seconds`` each.

    Each server is started once and kept for every round; the first sessions are a warm-up."""
    ctx = tls.client_context()
    samples: dict[tuple[str, str], list[Sample]] = {c: [] for c in configs}
    with contextlib.ExitStack() as stack:
        where = {c: stack.enter_context(SERVERS[c[0]](tls, c[1])) for c in configs}
        for c in configs:  # warm-up
            sessions_per_second(where[c], c[1], ctx, min(0.2, seconds))
        for _ in range(rounds):
            for c in configs:
                samples[c].append(sessions_per_second(where[c], c[1], ctx, seconds))
    return samples


def median_rate(samples: list[Sample]) -> float:
    return statistics.median(x.rate for x in samples)


def median_cpu(samples: list[Sample]) -> tuple[float, float]:
    """Median CPU ms per session of the client and of the server thread."""
    return statistics.median(x.client_ms for x in samples), statistics.median(
        x.server_ms for x in samples
    )


# ---------------------------------------------------------------------------------------------
# output helpers

TARGETS: list[tuple[str, bool, str]] = []


def target(name: str, met: bool, detail: str) -> None:
    TARGETS.append((name, met, detail))
    print(f"  target {name}: {'MET' if met else 'MISSED'} ({detail})")


def heading(text: str) -> None:
    print(f"\n== {text}", flush=True)


def spread(values: list[float]) -> str:
    if len(values) < 2:
        return ""
    return f"  (rounds: best {max(values):,.0f}, worst {min(values):,.0f})"


# ---------------------------------------------------------------------------------------------
# 1. sessions per second


def paired_ratio(a: list[float], b: list[float]) -> float:
    """The median over rounds of a/b, each pair measured back to back, so that drift and bursts
    of other load on the machine cancel out."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def bench_sessions(tls: TlsMaterial, seconds: float, rounds: int, tag: str = "") -> float:
    """Benchmark 1; returns (b)'s median sessions/s."""
    heading(
        f"1{tag}. sessions/s, smtplib client, one plain send per session ({rounds} rounds x {seconds:g} s per server)"
    )
    configs = [("minimal", "none"), ("aiosmtpd", "none"), ("scripted", "none")]
    if has_uvloop():  # the optional speed-up, measured beside the default loop
        configs += [("scripted-uvloop", "none"), ("minimal-uvloop", "none")]
    samples = interleaved_rates(tls, configs, seconds, rounds)
    by = {s: samples[(s, "none")] for s, _ in configs}
    rates = {s: [x.rate for x in v] for s, v in by.items()}
    rate = {s: median_rate(v) for s, v in by.items()}
    cpu = {s: median_cpu(v) for s, v in by.items()}
    labels = {
        "minimal": "(b) minimal responder",
        "aiosmtpd": "(a) aiosmtpd Controller",
        "scripted": "scripted server",
        "scripted-uvloop": "scripted server, uvloop",
        "minimal-uvloop": "(b) on uvloop",
    }
    print(f"  {'':24} {'sessions/s':>10} {'ms/session':>10}   CPU ms/session: client server")
    for s, _ in configs:
        print(
            f"  {labels[s]:24} {rate[s]:10,.0f} {1000 / rate[s]:10.3f}   {'':16}{cpu[s][0]:6.3f} {cpu[s][1]:6.3f}"
            f"{spread(rates[s])}"
        )
    print(
        "  (medians over rounds; CPU: client = smtplib's thread, server = the server loop's thread;"
    )
    print("   client + server ~= ms/session: one session at a time is CPU-bound)")
    rb = paired_ratio(rates["scripted"], rates["minimal"])
    ra = paired_ratio(rates["scripted"], rates["aiosmtpd"])
    rab = paired_ratio(rates["aiosmtpd"], rates["minimal"])
    print(
        f"  ratios (median of back-to-back rounds): scripted/(b) = {rb:.2f}x   scripted/(a) = {ra:.2f}x   (a)/(b) = {rab:.2f}x"
    )
    print(
        f"  ratios of CPU per session (client + server): scripted/(b) ="
        f" {sum(cpu['minimal']) / sum(cpu['scripted']):.2f}x   scripted/(a) = {sum(cpu['aiosmtpd']) / sum(cpu['scripted']):.2f}x"
    )
    # What the scripted server may spend per session, if the client's share stays as it is.
    client = cpu["scripted"][0]
    for name, factor, base in (("0.8x (b)", 0.8, "minimal"), ("1.5x (a)", 1.5, "aiosmtpd")):
        wall = 1000 / (factor * rate[base])
        print(
            f"  for {name}: <= {wall:.3f} ms/session, so the scripted server may use about"
            f" {wall - client:.3f} ms CPU/session (it uses {cpu['scripted'][1]:.3f}; (b) {cpu['minimal'][1]:.3f},"
            f" (a) {cpu['aiosmtpd'][1]:.3f})"
        )
    target(
        f"scripted >= 0.8x minimal{tag}",
        rb >= 0.8,
        f"{rb:.2f}x, {100 * (rb / 0.8 - 1):+.0f}% vs the target",
    )
    target(
        f"scripted >= 1.5x aiosmtpd{tag}",
        ra >= 1.5,
        f"{ra:.2f}x, {100 * (ra / 1.5 - 1):+.0f}% vs the target",
    )
    if "scripted-uvloop" in rates:
        ub = paired_ratio(rates["scripted-uvloop"], rates["minimal"])
        ua = paired_ratio(rates["scripted-uvloop"], rates["aiosmtpd"])
        uu = paired_ratio(rates["scripted-uvloop"], rates["minimal-uvloop"])
        gain = paired_ratio(rates["scripted-uvloop"], rates["scripted"])
        print(
            f"  with SMTP_HARNESS_LOOP=uvloop (the uvloop extra): scripted/(b) = {ub:.2f}x,"
            f" scripted/(a) = {ua:.2f}x, {gain:.2f}x the scripted server on asyncio's loop;"
            f" against (b) on uvloop too: {uu:.2f}x"
        )
        target(
            f"scripted on uvloop >= 0.8x minimal{tag} (optional extra)",
            ub >= 0.8,
            f"{ub:.2f}x, {100 * (ub / 0.8 - 1):+.0f}% vs the target",
        )
        target(
            f"scripted on uvloop >= 1.5x aiosmtpd{tag} (optional extra)",
            ua >= 1.5,
            f"{ua:.2f}x, {100 * (ua / 1.5 - 1):+.0f}% vs the target",
        )
    return rate["minimal"]


# ---------------------------------------------------------------------------------------------
# 2. the whole harness per scenario


@dataclass(slots=True)
class HarnessRun:
    n: int  # scenarios run
    wall: float
    cpu: float  # process CPU seconds
    failed: list[Result]  # results that were not a pass (none are expected)
    slowest: Result | None

    def check(self, what: str) -> None:
        if self.failed:
            r = self.failed[0]
            print(
                f"  WARNING: {len(self.failed)} of {self.n} {what} did not pass, e.g. {r.scenario.id}: {r.message}"
            )


async def _harness_rate(scenarios: list[Scenario], seconds: float) -> HarnessRun:
    """Run ``scenarios`` with the reference client, jobs=1, over and over for ``seconds``.
    Results are not kept (a long run must not grow the process)."""
    adapter = ReferenceAdapter()
    await run_scenarios(scenarios[:5], adapter, jobs=1)  # warm-up (imports, caches, contexts)
    run = HarnessRun(0, 0.0, 0.0, [], None)
    cpu0, start = time.process_time(), time.perf_counter()
    while True:
        for r in await run_scenarios(scenarios, adapter, jobs=1):
            if r.verdict is not Verdict.PASS:
                run.failed.append(r)
            if run.slowest is None or r.duration > run.slowest.duration:
                run.slowest = r
        run.n += len(scenarios)
        if time.perf_counter() - start >= seconds:
            break
    run.wall, run.cpu = time.perf_counter() - start, time.process_time() - cpu0
    return run


def check(results: list[Result], what: str) -> None:
    bad = [r for r in results if r.verdict is not Verdict.PASS]
    if bad:
        print(
            f"  WARNING: {len(bad)} of {len(results)} {what} did not pass, e.g. {bad[0].scenario.id}: {bad[0].message}"
        )


def bench_harness(
    tls: TlsMaterial, corpus: list[Scenario], seconds: float, rounds: int, b1: float, tag: str = ""
) -> None:
    plain = [s for s in corpus if is_plain(s)]
    one = [bench_scenario("none")] * 50
    heading(
        f"2{tag}. whole harness per scenario, reference client, run_scenarios(jobs=1); {rounds} rounds of"
        f" {seconds:g} s, each beside {seconds:g} s of (b)"
    )
    ctx = tls.client_context()
    base: list[Sample] = []
    runs: dict[str, list[HarnessRun]] = {"plain": [], "one": []}
    with minimal_server(tls, "none") as ep:
        sessions_per_second(ep, "none", ctx, 0.2)
        for _ in range(rounds):
            base.append(sessions_per_second(ep, "none", ctx, seconds))
            for key, batch in (("plain", plain), ("one", one)):
                runs[key].append(asyncio.run(_harness_rate(batch, seconds)))
                runs[key][-1].check(
                    "plain corpus scenarios" if key == "plain" else "bench.send-none runs"
                )
    rate = {k: [x.n / x.wall for x in v] for k, v in runs.items()}
    cpu = {k: statistics.median(1000 * x.cpu / x.n for x in v) for k, v in runs.items()}
    slowest = max((x.slowest for x in runs["plain"] if x.slowest), key=lambda r: r.duration)
    base_rates = [x.rate for x in base]
    b = statistics.median(base_rates)
    print(
        f"  {'(b) minimal responder, smtplib':37} {b:7,.0f} sessions/s   {1000 / b:6.3f} ms/session{spread(base_rates)}"
    )
    ratio = {}
    for key, label in (
        ("plain", f"plain corpus scenarios ({len(plain)})"),
        ("one", "bench.send-none (benchmark 1's send)"),
    ):
        r = statistics.median(rate[key])
        ratio[key] = paired_ratio(rate[key], base_rates)
        print(
            f"  {label:37} {r:7,.0f} scenarios/s  {1000 / r:6.3f} ms/scenario (CPU {cpu[key]:.3f} ms)"
            f"  harness/(b) = {ratio[key]:.2f}x{spread(rate[key])}"
        )
    print(
        f"  (medians; ratios: median of back-to-back rounds; plain: {len(plain)} of {len(corpus)} corpus"
        f" scenarios have no TLS, delay, pause or close; slowest {slowest.scenario.id} {1000 * slowest.duration:.1f} ms)"
    )
    r = ratio["plain"]
    print(
        f"  against (b) of benchmark 1 ({b1:,.0f} sessions/s): plain {statistics.median(rate['plain']) / b1:.2f}x,"
        f" bench.send-none {statistics.median(rate['one']) / b1:.2f}x  ((b) measured between harness runs is often"
        " slower)"
    )
    target(
        f"harness >= 0.4x minimal{tag}",
        r >= 0.4,
        f"{r:.2f}x on the plain corpus scenarios, {100 * (r / 0.4 - 1):+.0f}% vs the target",
    )


# ---------------------------------------------------------------------------------------------
# 3. the whole corpus


class TimedAdapter(ReferenceAdapter):
    """The reference client, noting when each scenario's client starts (for the schedule)."""

    def __init__(self, names: dict[int, str]) -> None:
        super().__init__()
        self.names, self.started, self.t0 = names, {}, time.perf_counter()

    async def deliver(self, task, target):  # type: ignore[no-untyped-def]
        self.started.setdefault(self.names.get(id(task), "?"), time.perf_counter() - self.t0)
        return await super().deliver(task, target)


def bench_corpus(corpus: list[Scenario], serial: bool, command_line: bool = True) -> None:
    jobs, cores = default_jobs(), os.cpu_count() or 1
    heading(f"3. whole corpus ({len(corpus)} scenarios), reference client, run_scenarios(jobs=...)")
    names = {id(s.client): s.id for s in corpus}
    runs: dict[int, tuple[float, float, list[Result], TimedAdapter]] = {}
    for j in ([1] if serial else []) + [jobs]:
        adapter = TimedAdapter(names)
        cpu0, start = time.process_time(), time.perf_counter()
        results = asyncio.run(run_scenarios(corpus, adapter, jobs=j))
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
        runs[j] = (wall, cpu, results, adapter)
        check(results, "corpus scenarios")
        longest = max(results, key=lambda r: r.duration)
        last = max(results, key=lambda r: adapter.started.get(r.scenario.id, 0.0) + r.duration)
        print(
            f"  jobs={j:<3} wall {wall:6.2f} s  CPU {cpu:6.2f} s  sum of durations {sum(r.duration for r in results):6.2f} s"
            f"  longest {longest.duration:.2f} s ({longest.scenario.id})"
        )
        if j > 1:
            print(
                f"           last to finish: {last.scenario.id} ({last.duration:.2f} s), started at"
                f" {adapter.started.get(last.scenario.id, float('nan')):.2f} s (the longest start first)"
            )
    if serial:
        one = {r.scenario.id: r.verdict for r in runs[1][2]}
        many = {r.scenario.id: r.verdict for r in runs[jobs][2]}
        print(f"  verdicts identical serial vs jobs={jobs}: {one == many}")
        print(f"  speed-up jobs={jobs} vs serial: {runs[1][0] / runs[jobs][0]:.1f}x")
    # the longest single scenario, uncontended when there is a serial run
    longest = max(r.duration for r in runs[1 if serial else jobs][2])
    wall, cpu, results, _ = runs[jobs]
    limit = 1.5 * longest + cpu / cores
    ideal = max(longest, sum(r.duration for r in runs[1 if serial else jobs][2]) / jobs)
    print(
        f"  target: 1.5 x longest ({longest:.2f} s) + CPU ({cpu:.2f} s) / cores ({cores}) = {limit:.2f} s;"
        f" jobs={jobs} took {wall:.2f} s (the ideal schedule would take about {ideal:.2f} s)"
    )
    target(
        f"corpus with jobs={jobs} <= 1.5x longest + CPU/cores",
        wall <= limit,
        f"run_scenarios: {wall:.2f} s vs {limit:.2f} s, {100 * (wall / limit - 1):+.0f}%",
    )
    if not command_line:
        return
    # The same from the command line, as a user runs it: start-up, imports and YAML included.
    command = [sys.executable, "-m", "harness.cli", "run", "--jobs", str(jobs)]
    with tempfile.TemporaryDirectory(prefix="smtp-bench-") as tmp:
        report = Path(tmp) / "report.json"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(
            [*command, "--report-json", str(report)], capture_output=True, text=True
        )
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        durations = (
            [r["duration"] for r in json.loads(report.read_text())["results"]]
            if report.exists()
            else []
        )
    if proc.returncode != 0 or not durations:
        print(
            f"  WARNING: `{' '.join(command[2:])}` exited {proc.returncode}: {proc.stderr.strip()[-300:]}"
        )
        return
    longest_cli = max(durations)
    limit = 1.5 * longest_cli + cpu / cores
    print(
        f"  `python -m harness.cli run --jobs {jobs}`: wall {wall:.2f} s, CPU {cpu:.2f} s (start-up, imports and"
        f" loading {len(durations)} YAML files included), longest {longest_cli:.2f} s; limit {limit:.2f} s"
    )
    target(
        f"`smtp-harness run --jobs {jobs}` <= 1.5x longest + CPU/cores",
        wall <= limit,
        f"{wall:.2f} s vs {limit:.2f} s, {100 * (wall / limit - 1):+.0f}%",
    )


# ---------------------------------------------------------------------------------------------
# 4. TLS cost per session


async def _harness_modes(seconds: float, rounds: int) -> dict[str, list[float]]:
    adapter = ReferenceAdapter()
    out: dict[str, list[float]] = {m: [] for m in MODES}
    batches = {m: [bench_scenario(m)] * 20 for m in MODES}
    for m in MODES:
        await run_scenarios(batches[m][:3], adapter, jobs=1)
    for _ in range(rounds):
        for m in MODES:
            n, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                results = await run_scenarios(batches[m], adapter, jobs=1)
                check(results, f"bench.send-{m} runs")
                n += len(results)
            out[m].append(n / (time.perf_counter() - start))
    return out


def bench_tls(tls: TlsMaterial, seconds: float, rounds: int) -> None:
    heading(
        f"4. TLS cost per session ({rounds} x {seconds:g} s per cell); certificates made once per run"
    )
    configs = [(s, m) for s in ("minimal", "aiosmtpd", "scripted") for m in MODES]
    samples = interleaved_rates(tls, configs, seconds, rounds)
    harness = asyncio.run(_harness_modes(seconds, rounds))
    print(
        "  wall ms/session, +ms over plain for the same server and client, [server thread CPU ms/session]"
    )
    print("  (medians over rounds)")
    print(f"  {'':34} {'plain':>16}   {'STARTTLS':>26}   {'implicit TLS':>26}")

    def row(name: str, wall: dict[str, float], cpu: dict[str, float] | None) -> None:
        cells = []
        for m in MODES:
            extra = "" if m == "none" else f" {wall[m] - wall['none']:+6.3f}"
            server = f" [{cpu[m]:5.3f}]" if cpu else " " * 8
            cells.append(f"{wall[m]:6.3f}{extra}{server}")
        print(f"  {name:34} {cells[0]:>16}   {cells[1]:>26}   {cells[2]:>26}")

    for s, label in (
        ("minimal", "smtplib -> (b) minimal responder"),
        ("aiosmtpd", "smtplib -> (a) aiosmtpd"),
        ("scripted", "smtplib -> scripted server"),
    ):
        row(
            label,
            {m: 1000 / median_rate(samples[(s, m)]) for m in MODES},
            {m: median_cpu(samples[(s, m)])[1] for m in MODES},
        )
    row("harness, reference client", {m: 1000 / statistics.median(harness[m]) for m in MODES}, None)
    print("  (harness: whole run_scenario per session, server and client in one loop and thread)")


# ---------------------------------------------------------------------------------------------
# 5. fuzzer throughput

FUZZ_TARGETS = {"reference": 200.0, "smtplib": 50.0}  # examples/s (issue 16, item 3)
FUZZ_SEED = 1


def bench_fuzz(examples: dict[str, int]) -> None:
    from harness.adapters import load_adapter
    from harness.fuzz.engine import DEFAULT_JOBS, fuzz  # imports Hypothesis

    heading(
        f"5. fuzzer throughput: fuzz(client, examples=N, seed={FUZZ_SEED}), {DEFAULT_JOBS} cases at"
        " a time (as `smtp-harness fuzz --client C --examples N --seed 1`, start-up aside)"
    )
    for name, want in FUZZ_TARGETS.items():
        n = examples[name]
        cpu0 = own_cpu_seconds()  # with the process that generates the cases
        report = fuzz(load_adapter(name), examples=n, seed=FUZZ_SEED)
        cpu = own_cpu_seconds() - cpu0
        rate = report.examples / report.seconds
        classes = ", ".join(f"{v} {k}" for k, v in sorted(report.counts.items()))
        print(
            f"  {name:10} {report.examples} examples in {report.seconds:.2f} s = {rate:,.0f} examples/s"
            f" (the first cases came after {report.generation_seconds:.2f} s); CPU {cpu:.2f} s"
            " (generating process included);"
            f" {classes}; {len(report.findings)} finding(s)"
        )
        target(
            f"fuzz {name} >= {want:g} examples/s",
            rate >= want,
            f"{rate:,.0f} examples/s, {100 * (rate / want - 1):+.0f}%",
        )


# ---------------------------------------------------------------------------------------------
# profiles


def _short(file: str) -> str:
    for marker in ("/site-packages/", "/lib/python3.11/", "/lib/python3", "/work/main/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def top_functions(
    stats: pstats.Stats, n: int, key: str, per: int, unit: str = "session"
) -> list[str]:
    """The top ``n`` functions by cumulative (``cum``) or own time, per ``unit`` in microseconds."""
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        name = func if file == "~" else f"{_short(file)}:{line}({func})"
        rows.append((ct if key == "cum" else tt, nc, tt, ct, name))
    rows.sort(reverse=True)
    out = [
        f"    {'calls':>10} {'own us':>8} {'cum us':>8}  function  (per {unit}, under the profiler)"
    ]
    for _, nc, tt, ct, name in rows[:n]:
        out.append(f"    {nc / per:10.1f} {1e6 * tt / per:8.1f} {1e6 * ct / per:8.1f}  {name}")
    return out


def categories(stats: pstats.Stats, per: int, unit: str = "session") -> list[str]:
    """Own time per session, summed by where it is spent."""
    sums: dict[str, float] = {}
    for (file, _line, func), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if "method 'poll' of 'select.epoll'" in func:
            key = "epoll wait (mostly idle: waiting for the other side)"
        elif file == "~" and ("_socket.socket" in func or "socket.close" in func):
            key = "socket system calls (send, recv, accept, close)"
        elif file == "~" and ("_ssl." in func or "SSL" in func):
            key = "ssl (C)"
        elif file == "~":
            key = "other built-ins (len, isinstance, Context.run, ...)"
        elif "/work/main/bench/" in file:
            key = "bench: " + _short(file)
        elif "/work/main/" in file:
            key = "harness: " + _short(file)
        elif "/asyncio/" in file or file.endswith(("selectors.py", "_weakrefset.py")):
            key = "asyncio machinery (asyncio/*, selectors)"
        else:
            key = "other stdlib: " + _short(file)
        sums[key] = sums.get(key, 0.0) + tt
    busy = sum(v for k, v in sums.items() if not k.startswith("epoll"))
    out = [f"    {'us':>8} {'% busy':>6}  where (own time per {unit}, under the profiler)"]
    for k, v in sorted(sums.items(), key=lambda kv: -kv[1]):
        if 1e6 * v / per < 5:
            continue
        share = "" if k.startswith("epoll") else f"{100 * v / busy:5.1f}%"
        out.append(f"    {1e6 * v / per:8.1f} {share:>6}  {k}")
    harness = sum(v for k, v in sums.items() if k.startswith("harness:"))
    aio = sums.get("asyncio machinery (asyncio/*, selectors)", 0.0)
    out.append(
        f"    busy {1e6 * busy / per:.0f} us/{unit}: asyncio machinery {100 * aio / busy:.0f}%,"
        f" harness code {100 * harness / busy:.0f}%"
    )
    return out


def loop_counts(stats: pstats.Stats, per: int, unit: str = "session") -> str:
    calls = {}
    for (file, _line, func), (_cc, nc, _tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if file.endswith("asyncio/base_events.py") and func in (
            "_run_once",
            "create_task",
            "call_at",
        ):
            calls[func] = nc
        if file.endswith("asyncio/tasks.py") and func == "wait_for":
            calls.setdefault("wait_for", 0)
            calls["wait_for"] += nc
    return (
        f"  per {unit}: {calls.get('_run_once', 0) / per:.1f} event-loop iterations,"
        f" {calls.get('create_task', 0) / per:.1f} tasks created, {calls.get('call_at', 0) / per:.1f} timers,"
        f" {calls.get('wait_for', 0) / per:.1f} wait_for frames (calls + resumptions)"
    )


def profile_server(tls: TlsMaterial, kind: str, seconds: float, top: int) -> None:
    heading(f"profile: the {kind} server's loop thread only, smtplib plain sends for {seconds:g} s")
    ctx = tls.client_context()
    prof = cProfile.Profile()  # wall clock: cheaper than a CPU clock, so less distortion
    with SERVERS[kind](tls, "none") as ep:
        sessions_per_second(ep, "none", ctx, 0.2)
        started = threading.Event()
        ep.loop.call_soon_threadsafe(lambda: (prof.enable(), started.set()))
        started.wait(5)
        sample = sessions_per_second(ep, "none", ctx, seconds)
        stopped = threading.Event()
        ep.loop.call_soon_threadsafe(lambda: (prof.disable(), stopped.set()))
        stopped.wait(5)
    per = max(1, round(sample.rate * seconds))
    print(
        f"  {sample.rate:,.0f} sessions/s under the profiler (~{per} sessions; cProfile inflates small calls)"
    )
    stats = pstats.Stats(prof)
    print(loop_counts(stats, per))
    print("\n".join(categories(stats, per)))
    if top:
        print("  top by cumulative time:")
        print("\n".join(top_functions(stats, top, "cum", per)))
        print("  top by own time:")
        print("\n".join(top_functions(stats, top * 2 // 3, "own", per)))


def profile_harness(corpus: list[Scenario], seconds: float) -> None:
    plain = [s for s in corpus if is_plain(s)]
    heading(f"profile: the harness (run_scenarios, jobs=1), plain corpus scenarios, {seconds:g} s")
    prof = cProfile.Profile()
    prof.enable()
    hr = asyncio.run(_harness_rate(plain, seconds))
    prof.disable()
    n = hr.n
    print(
        f"  {n / hr.wall:,.0f} scenarios/s under the profiler ({n} scenarios; server and client in one thread)"
    )
    stats = pstats.Stats(prof)
    print(loop_counts(stats, n, "scenario"))
    print("\n".join(categories(stats, n, "scenario")))
    print("  top by cumulative time:")
    print("\n".join(top_functions(stats, 40, "cum", n, "scenario")))
    print("  top by own time:")
    print("\n".join(top_functions(stats, 25, "own", n, "scenario")))


# ---------------------------------------------------------------------------------------------


def busy_cpu_seconds() -> tuple[float, float] | None:
    """CPU seconds all processes have used since boot (user + system), and the hypervisor's
    steal, from Linux's /proc/stat; None elsewhere."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = (int(x) for x in fields[:8])
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system) / tick, steal / tick


def own_cpu_seconds() -> float:
    me, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--quick", action="store_true", help="a short run (no serial corpus run, shorter rounds)"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="every section once, in a few seconds, on a small corpus: proves the benchmarks "
        "still run (the test suite runs it); its figures mean nothing",
    )
    parser.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="print cProfile tables (default: on in a full run, off with --quick)",
    )
    args = parser.parse_args()
    args.quick = args.quick or args.smoke
    profile = (not args.quick) if args.profile is None else args.profile
    seconds, rounds = (0.2, 3) if args.quick else (0.25, 12)
    if args.smoke:
        seconds, rounds = 0.05, 1

    print(f"date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M:%S %Z}")
    print(
        f"machine: {platform.node()}, nproc {os.cpu_count()}, {platform.machine()}, {platform.platform()}"
    )
    print(f"python: {sys.version.split()[0]} ({platform.python_implementation()})")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"command: python bench/run.py{' --smoke' if args.smoke else ' --quick' if args.quick else ''}"
        + ("" if args.profile is None else (" --profile" if args.profile else " --no-profile"))
    )
    t0, busy0, own0 = time.perf_counter(), busy_cpu_seconds(), own_cpu_seconds()
    start = time.perf_counter()
    tls = TlsMaterial.shared()
    tls.server_context()
    tls.client_context()
    print(f"certificates (once per run): {1000 * (time.perf_counter() - start):.0f} ms")
    start = time.perf_counter()
    corpus = load_scenarios([corpus_path()])
    print(
        f"corpus loaded: {len(corpus)} scenarios in {1000 * (time.perf_counter() - start):.0f} ms"
    )

    if args.smoke:
        corpus = [s for s in corpus if is_plain(s)][:12]
        print(f"smoke run: {len(corpus)} plain scenarios stand for the corpus")
    b1 = bench_sessions(tls, seconds, rounds)
    bench_harness(tls, corpus, seconds, 1 if args.smoke else max(3, rounds // 2), b1)
    bench_corpus(corpus, serial=not args.quick, command_line=not args.smoke)
    bench_tls(tls, seconds, max(1, rounds // 3))
    fuzz_examples = (20, 10) if args.smoke else (200, 100) if args.quick else (500, 200)
    bench_fuzz(dict(zip(FUZZ_TARGETS, fuzz_examples, strict=True)))
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not args.quick and len(cpus) > 1:
        # Sequential sessions never run client and server at once, so one CPU loses no
        # parallelism; it only removes cross-CPU wake-ups, which are costly and erratic on VMs.
        cpu = cpus[-1]
        heading(
            f"benchmarks 1 and 2 again, the whole process pinned to CPU {cpu} (threads inherit it)"
        )
        os.sched_setaffinity(0, {cpu})
        try:
            b1 = bench_sessions(tls, seconds, rounds * 2 // 3, f" [pinned to CPU {cpu}]")
            bench_harness(tls, corpus, seconds, max(3, rounds // 3), b1, f" [pinned to CPU {cpu}]")
        finally:
            os.sched_setaffinity(0, set(cpus))
    if profile or args.smoke:
        length = 0.2 if args.smoke else None
        profile_server(tls, "scripted", length or 2.0, top=5 if args.smoke else 30)
        profile_server(tls, "minimal", length or 1.0, top=0)
        profile_harness(corpus, length or 2.0)

    heading("targets")
    for name, met, detail in TARGETS:
        print(f"  {'MET   ' if met else 'MISSED'} {name}: {detail}")
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    busy1, wall = busy_cpu_seconds(), time.perf_counter() - t0
    if busy0 is not None and busy1 is not None:
        other = max(0.0, (busy1[0] - busy0[0]) - (own_cpu_seconds() - own0))
        steal = busy1[1] - busy0[1]
        print(
            f"other processes used {other:.1f} CPU s during the run ({100 * other / wall:.0f}% of one core"
            f" on average; 0% is a quiet machine); hypervisor steal {steal:.1f} s"
        )
    print(f"bench/run.py took {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
