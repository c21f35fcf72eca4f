"""The fuzzer: generate cases with Hypothesis, run each against a client over real sockets,
classify the result, shrink each distinct finding and write it out as a scenario file.

Generation is Hypothesis's, seeded, and runs every one of the ``examples`` (Hypothesis's own
search stops soon after its first failure, and a report of "nothing in N examples" must mean N).
Shrinking is ours (``cases.simpler_cases``): a few dozen runs of simpler cases that keep the
class of the finding, so a hang costs seconds, not minutes.

A case mostly waits (on the client, on pauses, on a silence), so cases run ``jobs`` at a time
on one event loop, and failing ones are shrunk while the others run; results are taken, and
findings decided, in the order of the cases, so a seed gives the same findings however many
run at once (``harness.fuzz.generation`` says why the cases are the same).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fake_servers.tls import TlsMaterial
from harness.adapters.base import ClientAdapter, unsupported_reason
from harness.deviations import Deviation
from harness.fuzz.cases import BASES, DOMAIN, FuzzCase, build_scenario, simpler_cases
from harness.fuzz.generation import (
    case_stream,
    fewer_collections,
    generate_cases,
)
from harness.protocol.replies import Reply
from harness.redaction import redact_result
from harness.results import Result, Verdict
from harness.runner import run_scenario
from harness.scenario.loader import load_scenario
from harness.scenario.writer import write_scenario

__all__ = [
    "CLASSES",
    "DEFAULT_EXAMPLES",
    "DEFAULT_JOBS",
    "Finding",
    "FuzzReport",
    "classify",
    "format_report",
    "fuzz",
    "generate_cases",
]

# handled: a correct success or a clean failure; crashed: an unexpected exception or exit
# status; hung: no outcome by the deadline; misparsed: an outcome the replies do not allow;
# off-script: an allowed outcome, but commands the script has no place for.
CLASSES = ("handled", "crashed", "hung", "misparsed", "off-script")
DEFAULT_EXAMPLES = 200
MAX_SHRINK_RUNS = 60
# Cases run at once: most of a case's time is waiting (on pauses, silences, the client), so a
# few dozen share one event loop and the CPU does the work of all.
DEFAULT_JOBS = 16


def classify(result: Result) -> str:
    if result.verdict in (
        Verdict.PASS,
        Verdict.XFAIL,
        Verdict.NON_STRICT,
        Verdict.INFO,
        Verdict.NOT_EXERCISED,
    ):
        return "handled"  # every grade the RFC allows
    if result.verdict is Verdict.ERROR:
        return "crashed"
    if result.verdict is Verdict.SKIP:
        return "skipped"
    if result.outcome is None:
        return "hung"
    if result.failure is None:
        return "misparsed"  # the wire was fine; the outcome was not
    expect = result.scenario.expect
    allowed = result.outcome.outcome in expect.outcomes and (
        not expect.codes or any(c.matches(result.outcome.code) for c in expect.codes)
    )
    return "off-script" if allowed else "misparsed"


@dataclass(slots=True)
class Finding:
    """One distinct finding: its class, the shrunk case, and the run that showed it."""

    klass: str
    case: FuzzCase
    result: Result
    first_example: int
    path: Path | None = None
    replayed: str = ""  # the verdict when the written file was run again
    known: Deviation | None = None  # the client's listed deviation this finding is

    def marks(self) -> list[str]:
        """``stage:label`` of each changed reply, as deviation ``fuzz:`` entries name them."""
        return [f"{c.stage}:{c.label()}" for c in self.case.changes]

    @property
    def key(self) -> tuple[str, tuple[str, ...]]:
        return (self.klass, self.case.labels())

    def name(self, client: str) -> str:
        return finding_stem(client, self.klass, self.case.labels())


def finding_stem(client: str, klass: str, labels: Iterable[str]) -> str:
    """A finding's file name (without .yaml): letters, digits, "_" and "-" only, so a client
    named "../x" or "a/b" cannot make ``fuzz --out`` write outside its folder."""
    slug = "-".join(labels)
    text = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{client}-{klass}-{slug}").strip("-")
    return text[:100] or "finding"


def known_deviation(finding: Finding, deviations: Mapping[str, Deviation]) -> Deviation | None:
    """The listed deviation whose ``fuzz`` prefixes match every change of the finding."""
    marks = finding.marks()
    for deviation in deviations.values():
        if (
            deviation.fuzz
            and marks
            and all(any(m.startswith(p) for p in deviation.fuzz) for m in marks)
        ):
            return deviation
    return None


@dataclass(slots=True)
class FuzzReport:
    client: str
    seed: int
    counts: dict[str, int] = field(default_factory=dict)  # runs per class
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    generation_seconds: float = 0.0  # of ``seconds``, the wait for the first cases

    @property
    def examples(self) -> int:
        return sum(self.counts.values())

    @property
    def new_findings(self) -> list[Finding]:
        """Findings that are not a known deviation of the client: these fail the run."""
        return [f for f in self.findings if f.known is None]


def fuzz(
    adapter: ClientAdapter,
    *,
    examples: int = DEFAULT_EXAMPLES,
    seed: int = 0,
    out: Path | None = None,
    bases: tuple[str, ...] = BASES,
    progress: Callable[[str], None] | None = None,
    deviations: Mapping[str, Deviation] | None = None,
    on_example: Callable[[bool], None] | None = None,
    jobs: int = DEFAULT_JOBS,
) -> FuzzReport:
    """Run ``examples`` generated cases against ``adapter``, up to ``jobs`` at a time; shrink and
    (with ``out``) write each distinct finding as a scenario file, then replay that file to
    confirm its verdict.

    The cases are generated in a process of their own (see harness.fuzz.generation) and run as
    they come. Results are taken in the order of the cases, and shrinking keeps its order too,
    so the same seed gives the same findings whatever ``jobs``.
    """
    started = time.monotonic()
    report = FuzzReport(client=adapter.name, seed=seed)
    tls = TlsMaterial.shared()
    usable = tuple(b for b in bases if _supported(adapter, b))
    if not usable:
        raise ValueError(f"{adapter.name} can run none of the base exchanges {bases}")
    search = _Search(adapter, report, tls, max(1, jobs), deviations or {})
    search.on_example, search.progress = on_example, progress
    loop = asyncio.new_event_loop()
    try:
        with fewer_collections():
            stream = case_stream(examples, seed, usable)
            loop.run_until_complete(search.run(stream))
            if progress is not None:
                for finding in report.findings:
                    progress(f"finding: {finding.klass} {', '.join(finding.case.labels())}")
            if out is not None:
                out.mkdir(parents=True, exist_ok=True)
                for finding in report.findings:
                    _write_and_replay(finding, adapter, report, out, loop, tls)
    finally:
        _close_loop(loop)
    report.seconds = time.monotonic() - started
    report.generation_seconds = search.first_case_at - started
    return report


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Close ``loop`` as ``asyncio.run`` closes its own: tasks still running cancelled and
    awaited, async generators (the case stream) finished, and one more turn for the transports'
    last callbacks, so no socket or task is left for the garbage collector to complain about."""
    try:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(asyncio.sleep(0))
    finally:
        loop.close()


# How many failing examples are shrunk ahead of the one whose finding is being decided: those
# shrinks are wasted if an earlier finding covers their example, and a hang costs seconds a run.
SHRINKS_AHEAD = 4


class _Search:
    """One search: the examples as they come, ``jobs`` at a time, and, while they run, the
    shrinking of the failing ones, decided in their order."""

    def __init__(
        self,
        adapter: ClientAdapter,
        report: FuzzReport,
        tls: TlsMaterial,
        jobs: int,
        deviations: Mapping[str, Deviation],
    ) -> None:
        self.adapter, self.report, self.tls, self.jobs = adapter, report, tls, jobs
        self.deviations = deviations
        self.on_example: Callable[[bool], None] | None = None
        self.progress: Callable[[str], None] | None = None
        self.first_case_at = time.monotonic()
        self.cases: list[FuzzCase] = []
        # Shrink candidates, each run once per search (the paths of several failing examples
        # often meet), at most ``jobs`` at a time across the shrinks under way.
        self.tried: dict[FuzzCase, asyncio.Future[Result]] = {}
        self.shrink_gate = asyncio.Semaphore(jobs)
        self.waiting: deque[tuple[int, FuzzCase, Result]] = deque()  # failing, not yet shrinking
        self.ahead: deque[tuple[int, FuzzCase, Result, asyncio.Future[Finding]]] = deque()
        self.more = asyncio.Event()
        self.all_run = False

    async def run(self, cases: AsyncGenerator[FuzzCase, None]) -> None:
        decide = asyncio.ensure_future(self._decide())
        try:
            await _run_in_order(self._counted(cases), self._run_one, self.jobs, self._one_example)
            self.all_run = True
            self.more.set()
            await decide
        finally:
            left: list[asyncio.Future[Any]] = [decide, *(a[3] for a in self.ahead)]
            left += self.tried.values()
            for future in left:
                future.cancel()
            await asyncio.gather(*left, return_exceptions=True)

    async def _counted(
        self, cases: AsyncGenerator[FuzzCase, None]
    ) -> AsyncGenerator[FuzzCase, None]:
        try:
            async for case in cases:
                if not self.cases:
                    self.first_case_at = time.monotonic()
                self.cases.append(case)
                yield case
        finally:
            await cases.aclose()

    async def _run_one(self, case: FuzzCase) -> Result:
        # Credentials are hidden only in the findings' results (_decide): classifying needs
        # none of that, and redacting every run's transcript was a tenth of its CPU.
        scenario = build_scenario(case, scenario_id=f"fuzz.{self.adapter.name}")
        return await run_scenario(scenario, self.adapter, tls=self.tls, show_secrets=True)

    async def _run_gated(self, case: FuzzCase) -> Result:
        async with self.shrink_gate:
            return await self._run_one(case)

    async def _run_candidates(self, batch: list[FuzzCase]) -> list[Result]:
        for case in batch:
            if case not in self.tried:
                self.tried[case] = asyncio.ensure_future(self._run_gated(case))
        # shielded: a shrink given up must not cancel a run that another one waits for
        return list(await asyncio.gather(*(asyncio.shield(self.tried[c]) for c in batch)))

    def _one_example(self, result: Result) -> None:
        report = self.report
        klass = classify(result)
        report.counts[klass] = report.counts.get(klass, 0) + 1
        if klass not in ("handled", "skipped"):
            self.waiting.append((report.examples, self.cases[report.examples - 1], result))
            self._start_shrinks()
        if self.on_example is not None:  # after every example, in order (a live progress bar)
            self.on_example(klass not in ("handled", "skipped"))
        if self.progress is not None and report.examples % 50 == 0:
            self.progress(f"{report.examples} examples: {_counts(report.counts)}")

    def _start_shrinks(self) -> None:
        while self.waiting and len(self.ahead) < SHRINKS_AHEAD:
            index, case, result = self.waiting.popleft()
            shrink = _shrink(case, result, index, self._run_candidates, self.jobs)
            self.ahead.append((index, case, result, asyncio.ensure_future(shrink)))
        self.more.set()

    async def _decide(self) -> None:
        """Each failing example in order, as a one-at-a-time search decides it: skipped if a
        finding before it covers it, else shrunk, and kept if its finding is new."""
        report = self.report
        while True:
            while not self.ahead:
                if self.all_run and not self.waiting:
                    return
                self.more.clear()
                await self.more.wait()
            _, case, result, shrink = self.ahead.popleft()
            klass = classify(result)
            if any(
                f.klass == klass and set(f.case.labels()) <= set(case.labels())
                for f in report.findings
            ):
                shrink.cancel()  # most likely a finding already shrunk
            else:
                finding = await shrink
                if all(f.key != finding.key for f in report.findings):
                    finding.result = redact_result(finding.result)
                    finding.known = known_deviation(finding, self.deviations)
                    report.findings.append(finding)
            self._start_shrinks()


async def _run_in_order(
    cases: AsyncGenerator[FuzzCase, None],
    run_one: Callable[[FuzzCase], Awaitable[Result]],
    jobs: int,
    on_result: Callable[[Result], None],
) -> None:
    """Run the cases as they come, up to ``jobs`` at a time; ``on_result`` in their order."""
    gate = asyncio.Semaphore(max(1, jobs))
    started: asyncio.Queue[asyncio.Future[Result] | None] = asyncio.Queue()

    async def one(case: FuzzCase) -> Result:
        try:
            return await run_one(case)
        finally:
            gate.release()

    async def start_each() -> None:
        try:
            async for case in cases:
                await gate.acquire()
                started.put_nowait(asyncio.ensure_future(one(case)))
        finally:
            started.put_nowait(None)
            await cases.aclose()  # now, not when collected: it may hold a process

    feeder = asyncio.ensure_future(start_each())
    running: list[asyncio.Future[Result]] = []
    try:
        while (task := await started.get()) is not None:
            running.append(task)
            on_result(await task)
            running.remove(task)
        await feeder  # raises what generating raised
    finally:
        left: list[asyncio.Future[Any]] = [feeder, *running, *_drain(started)]
        for future in left:
            future.cancel()
        await asyncio.gather(*left, return_exceptions=True)


def _drain(queue: asyncio.Queue[asyncio.Future[Result] | None]) -> list[asyncio.Future[Result]]:
    out = []
    while not queue.empty():
        task = queue.get_nowait()
        if task is not None:
            out.append(task)
    return out


def _supported(adapter: ClientAdapter, base: str) -> bool:
    """Whether the adapter can run ``base`` at all (AUTH, for one; the EHLO list is irrelevant)."""
    probe = build_scenario(FuzzCase(base=base, ehlo=Reply(code=250, lines=(DOMAIN,))))
    return unsupported_reason(adapter, probe) is None


async def _shrink(
    case: FuzzCase,
    result: Result,
    index: int,
    run_many: Callable[[list[FuzzCase]], Awaitable[list[Result]]],
    width: int,
) -> Finding:
    """Greedy: take the first simpler case that shows the same class, until none does.

    Candidates run in batches (2, then 4, ... up to ``width`` at a time: the first candidates
    win most often), in order; the first that keeps the class wins, as in a one-at-a-time
    search, and runs are counted as that search counts them (up to the one that won), so the
    outcome does not depend on ``width``."""
    klass = classify(result)
    best, best_result = case, result
    runs = 0
    improved = True
    while improved and runs < MAX_SHRINK_RUNS:
        improved = False
        candidates = simpler_cases(best)[: MAX_SHRINK_RUNS - runs]
        start, size = 0, min(2, width)
        while start < len(candidates):
            batch = candidates[start : start + size]
            results = await run_many(batch)
            hit = next((i for i, r in enumerate(results) if classify(r) == klass), None)
            if hit is not None:
                runs += start + hit + 1
                best, best_result, improved = batch[hit], results[hit], True
                break
            start, size = start + size, min(2 * size, width)
        else:
            runs += len(candidates)
    return Finding(klass=klass, case=best, result=best_result, first_example=index)


def _write_and_replay(
    finding: Finding,
    adapter: ClientAdapter,
    report: FuzzReport,
    out: Path,
    loop: asyncio.AbstractEventLoop,
    tls: TlsMaterial,
) -> None:
    name = finding.name(adapter.name)
    note = (
        f"Found by `smtp-harness fuzz --client {adapter.name} --seed {report.seed}` "
        f"(example {finding.first_example}, then shrunk): {finding.klass}. "
        f"At the time: {finding.result.verdict.value}: {finding.result.message}"
    )
    scenario = build_scenario(finding.case, scenario_id=f"fuzz.{name}", note=note)
    path = out / f"{name}.yaml"
    write_scenario(scenario, path)
    replay = loop.run_until_complete(run_scenario(load_scenario(path), adapter, tls=tls))
    finding.path = path
    finding.replayed = replay.verdict.value


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts[k]} {k}" for k in (*CLASSES, "skipped") if counts.get(k))


def format_report(report: FuzzReport) -> str:
    lines = [
        f"fuzz: {report.client}, seed {report.seed}: {report.examples} examples in "
        f"{report.seconds:.1f} s: {_counts(report.counts) or 'nothing run'}"
    ]
    if not report.findings:
        lines.append(f"no findings in {report.examples} examples")
    elif not report.new_findings:
        lines.append(f"{len(report.findings)} finding(s), all known deviations of {report.client}")
    for f in report.findings:
        where = f" -> {f.path} (replays: {f.replayed})" if f.path else ""
        lines.append(f"{f.klass.upper():10} {', '.join(f.marks())}{where}")
        if f.known is not None:
            lines.append(
                f"    known deviation ({f.known.rule}, {f.known.scenario}): {f.known.reason} "
                f"[{f.known.location}]"
            )
        lines += [f"    {d}" for d in f.case.describe()]
        lines.append(f"    verdict: {f.result.verdict.value}: {f.result.message}")
    return "\n".join(lines)
