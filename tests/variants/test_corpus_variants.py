"""The whole corpus against every legal variant of the reference client: none may fail.

This keeps the corpus as strict as the RFC and no stricter. Each named variant
(harness/client/variant.py) makes one choice the RFCs leave open (HELO, no pipelining, no QUIT
after an error, RSET before QUIT, a regenerated message, refusing bad input locally, reporting a
lost connection, another AUTH mechanism, a slow exit). A scenario that fails one is stricter than
the RFC, unless ``exceptions.yaml`` lists it with the RFC words that forbid the variant there.
Verdicts other than fail, error and xpass (skip, and the graded ones) are fine.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from harness.adapters.reference import ReferenceAdapter
from harness.client.variant import VARIANTS
from harness.corpus import corpus_path
from harness.results import Result, Verdict
from harness.runner import run_scenarios
from harness.scenario.loader import load_scenarios
from harness.transcript import Direction

SCENARIOS = load_scenarios([corpus_path()])
BAD = {Verdict.FAIL, Verdict.ERROR, Verdict.XPASS}
# Scenarios mostly wait (on delays and deadlines), so all variants run at once, each with a few
# jobs; the corpus's slowest scenario (about 3.5 s) sets the floor. A slow exit only sleeps.
JOBS = 8
SLOW_EXIT_JOBS = 96
EXCEPTIONS_FILE = Path(__file__).with_name("exceptions.yaml")


def _exceptions() -> dict[tuple[str, str], str]:
    entries = yaml.safe_load(EXCEPTIONS_FILE.read_text(encoding="utf-8"))["exceptions"] or []
    return {(e["variant"], e["scenario"]): e["rfc"] for e in entries}


EXCEPTIONS = _exceptions()


def _report(results: list[Result]) -> str:
    lines = []
    for r in results:
        f = r.failure
        where = f" (line {f.line}: expected {f.expected!r}, got {f.actual!r})" if f else ""
        lines.append(f"  {r.scenario.id}: {r.verdict.value}: {r.message}{where}")
    return "\n".join(lines)


@functools.cache
def _results() -> dict[str, list[Result]]:
    """The strict client and every named variant over the whole corpus, all at once (once per
    test process); the strict run is under the key ``strict``."""

    async def run_all() -> list[list[Result]]:
        adapters = [ReferenceAdapter()] + [ReferenceAdapter.from_variant(n) for n in VARIANTS]
        return await asyncio.gather(
            *(
                run_scenarios(SCENARIOS, a, jobs=SLOW_EXIT_JOBS if a.variant.exit_delay else JOBS)
                for a in adapters
            )
        )

    started = time.monotonic()
    results = dict(zip(["strict", *VARIANTS], asyncio.run(run_all()), strict=True))
    elapsed = time.monotonic() - started
    print(f"\n{len(results)} clients x {len(SCENARIOS)} scenarios in {elapsed:.1f} s")
    for name, runs in results.items():
        print(f"  reference:{name}: {dict(Counter(r.verdict.value for r in runs))}")
    return results


def test_every_exception_quotes_the_rfc_and_names_a_real_scenario_and_variant() -> None:
    ids = {s.id for s in SCENARIOS}
    for (variant, scenario), rfc in EXCEPTIONS.items():
        assert variant in VARIANTS, f"exceptions.yaml: unknown variant {variant!r}"
        assert scenario in ids, f"exceptions.yaml: unknown scenario {scenario!r}"
        assert "RFC" in rfc and rfc.count('"') >= 2, f"exceptions.yaml: {scenario}: quote the RFC"


def _evidence(r: Result) -> tuple[object, ...]:
    """What the client did and said: its bytes on the wire and its reported outcome."""
    sent = b"".join(e.data for e in r.transcript.entries if e.direction is Direction.CLIENT)
    said = (r.outcome.outcome, r.outcome.code, r.outcome.message) if r.outcome else None
    return sent, said


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_changes_what_the_client_does_somewhere_in_the_corpus(name: str) -> None:
    # A switch that changed nothing would make its corpus run prove nothing.
    strict, variant = _results()["strict"], _results()[name]
    if VARIANTS[name].exit_delay:
        slower = sorted(v.duration - s.duration for s, v in zip(strict, variant, strict=True))
        # The median, not the minimum: runs go in parallel, and on a loaded machine one strict
        # run can take longer than its slow twin; a switch that did nothing has a median near 0.
        assert slower[len(slower) // 2] > VARIANTS[name].exit_delay / 2
        return
    changed = [
        s.scenario.id for s, v in zip(strict, variant, strict=True) if _evidence(s) != _evidence(v)
    ]
    assert changed, f"reference:{name} did the same as the strict client in every scenario"


@pytest.mark.parametrize("name", list(VARIANTS))
def test_the_corpus_never_fails_a_legal_variant(name: str) -> None:
    bad = [r for r in _results()[name] if r.verdict in BAD]
    excused = {r.scenario.id for r in bad if (name, r.scenario.id) in EXCEPTIONS}
    stale = sorted(s for (v, s) in EXCEPTIONS if v == name and s not in excused)
    assert not stale, f"exceptions.yaml lists scenarios that no longer fail {name}: {stale}"
    bad = [r for r in bad if r.scenario.id not in excused]
    assert not bad, (
        f"{len(bad)} scenario(s) fail the legal variant reference:{name}; fix the scenario, or "
        f"list it in {EXCEPTIONS_FILE.name} with the RFC words that forbid the variant "
        f"(and a transcript: smtp-harness run --client reference:{name} -k ID):\n" + _report(bad)
    )
