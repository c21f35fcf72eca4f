"""Every scenario of the built-in corpus, end to end, against the reference client."""

from __future__ import annotations

import pytest

from fake_servers.tls import TlsMaterial
from harness.adapters.reference import ReferenceAdapter
from harness.corpus import corpus_path
from harness.report.text import format_failure
from harness.results import Verdict
from harness.scenario.loader import load_scenarios

from .conftest import run

SCENARIOS = load_scenarios([corpus_path()])


def test_the_corpus_is_not_empty() -> None:
    assert len(SCENARIOS) >= 15


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_reference_client_passes(scenario, tls_material: TlsMaterial) -> None:
    result = run(scenario, ReferenceAdapter(), tls_material)
    assert result.verdict is Verdict.PASS, format_failure(result)
    assert result.transcript.entries, "a pass must come with a transcript"
