"""The fuzzer finds a broken client, writes findings that replay, and repeats itself by seed;
the reference client comes through it clean."""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path

import pytest
from hypothesis import given, settings

from harness.adapters.base import Capabilities, Target
from harness.adapters.reference import ReferenceAdapter
from harness.fuzz.cases import BASES, DOMAIN, Change, FuzzCase, build_scenario, fuzz_cases
from harness.fuzz.engine import DEFAULT_EXAMPLES, classify, format_report, fuzz
from harness.fuzz.generation import case_stream
from harness.fuzz.strategies import frame
from harness.outcome import ClientOutcome
from harness.protocol.replies import Reply
from harness.runner import run_scenario
from harness.scenario.loader import load_scenario
from harness.scenario.model import ClientTask, Outcome


class FirstLineOnlyClient:
    """Deliberately broken: takes the first line of every reply as the whole reply."""

    name = "first-line-only"
    capabilities = Capabilities(auth_mechanisms=frozenset())

    async def deliver(self, task: ClientTask, target: Target) -> ClientOutcome:
        reader, writer = await asyncio.open_connection(target.host, target.port)

        async def command(line: bytes | None, want: str) -> int:
            if line is not None:
                writer.write(line + b"\r\n")
                await writer.drain()
            reply = await asyncio.wait_for(reader.readline(), target.timeout)
            code = int(reply[:3]) if reply[:3].isdigit() else 0
            if not str(code).startswith(want):
                raise LookupError(code)
            return code

        try:
            await command(None, "2")
            await command(b"EHLO client.example.com", "2")
            await command(f"MAIL FROM:<{task.mail_from}>".encode(), "2")
            await command(f"RCPT TO:<{task.rcpt_to[0]}>".encode(), "2")
            await command(b"DATA", "3")
            await command(task.message + b".", "2")
            writer.write(b"QUIT\r\n")
            return ClientOutcome(outcome=Outcome.DELIVERED)
        except LookupError as exc:
            return ClientOutcome(outcome=Outcome.FAILED, code=exc.args[0])
        except (OSError, TimeoutError, ValueError):
            return ClientOutcome(outcome=Outcome.FAILED)
        finally:
            writer.close()


def test_a_client_that_reads_one_line_per_reply_is_found(tmp_path: Path) -> None:
    report = fuzz(FirstLineOnlyClient(), examples=DEFAULT_EXAMPLES, seed=1, out=tmp_path)
    assert report.examples == DEFAULT_EXAMPLES
    assert report.findings, report.counts
    classes = {f.klass for f in report.findings}
    assert classes & {"misparsed", "off-script", "hung"}
    # Which labels the shrunk findings keep depends on the shrink path (greedy, same class, and
    # timing decides some classes); what holds is that a finding still has a reply of more than
    # one line (the EHLO list or a changed reply): the thing this client misreads.
    assert any(
        len(reply.lines) > 1
        for f in report.findings
        for reply in (f.case.ehlo, *(c.reply for c in f.case.changes))
    ), [f.case.describe() for f in report.findings]
    for finding in report.findings:
        # Each written file replays with the verdict the fuzzer saw.
        assert finding.path is not None and finding.path.exists()
        assert finding.replayed == finding.result.verdict.value
        assert load_scenario(finding.path).tags == ("fuzz",)


def test_a_multi_line_reply_alone_is_what_the_first_line_client_misreads() -> None:
    """Deterministic half of the test above: one multi-line MAIL reply, everything else one line."""
    one_line_ehlo = Reply(code=250, lines=(DOMAIN,))
    mail = Reply(code=250, lines=(b"2.1.0 Sender", b"2.1.0 Ok"))
    change = Change(stage="mail", how="reframe", reply=mail, framing=frame(mail, "valid", 0))
    plain = FuzzCase(base="send", ehlo=one_line_ehlo)
    multi = FuzzCase(base="send", ehlo=one_line_ehlo, changes=(change,))
    assert multi.labels() == ("multi-line",)

    def verdict(case: FuzzCase) -> str:
        return classify(asyncio.run(run_scenario(build_scenario(case), FirstLineOnlyClient())))

    assert verdict(plain) == "handled"
    assert verdict(multi) == "misparsed"


def test_the_same_seed_gives_the_same_findings(tmp_path: Path) -> None:
    # One case at a time against 16 at a time: results are taken and findings decided in the
    # order of the cases either way.
    first = fuzz(FirstLineOnlyClient(), examples=40, seed=5, jobs=1)
    second = fuzz(FirstLineOnlyClient(), examples=40, seed=5, jobs=16)
    assert first.findings, first.counts
    assert first.counts == second.counts
    assert [(f.klass, f.case) for f in first.findings] == [
        (f.klass, f.case) for f in second.findings
    ]


def test_the_reference_client_has_no_findings() -> None:
    collections_before = gc.get_threshold()
    report = fuzz(ReferenceAdapter(), examples=40, seed=3)
    assert report.findings == [], [f.result.message for f in report.findings]
    assert report.counts == {"handled": 40}
    assert gc.get_threshold() == collections_before  # the search's GC setting is undone


@settings(max_examples=25)
@given(fuzz_cases())
def test_the_reference_client_handles_every_case_in_bounded_time(case: object) -> None:
    scenario = build_scenario(case)  # type: ignore[arg-type]
    started = time.monotonic()
    result = asyncio.run(run_scenario(scenario, ReferenceAdapter()))
    assert classify(result) == "handled", result.message
    # Its own deadline, not the server's patience, ends every wait.
    assert time.monotonic() - started < scenario.limits.total


def test_findings_that_a_deviation_names_are_known_not_new() -> None:
    from harness.deviations import Deviation

    plain = fuzz(FirstLineOnlyClient(), examples=40, seed=5)
    assert plain.findings and plain.new_findings == plain.findings
    marks = sorted({m.split(":")[0] + ":" for f in plain.findings for m in f.marks()})
    listed = {
        "x.known": Deviation(
            scenario="x.known",
            rule="R-REPLY-3",
            reason="reads one line",
            trigger="t",
            fuzz=tuple(marks),
        )
    }
    known = fuzz(FirstLineOnlyClient(), examples=40, seed=5, deviations=listed)
    assert [f.key for f in known.findings] == [f.key for f in plain.findings]
    assert known.new_findings == []
    assert all(f.known is listed["x.known"] for f in known.findings)
    assert "all known deviations" in format_report(known)
    # a prefix that matches no finding leaves them all new
    other = {
        "x.other": Deviation(
            scenario="x.other", rule="R", reason="r", trigger="t", fuzz=("nowhere:",)
        )
    }
    assert fuzz(FirstLineOnlyClient(), examples=40, seed=5, deviations=other).new_findings


@pytest.mark.parametrize("client", ["../../outside", "a/b", "..", "/etc/x", "name with spaces"])
def test_a_finding_file_name_never_leaves_the_out_folder(client: str, tmp_path: Path) -> None:
    from harness.fuzz.engine import finding_stem

    stem = finding_stem(client, "misparsed", ["split+every", "code=421"])
    path = (tmp_path / f"{stem}.yaml").resolve()
    assert path.parent == tmp_path.resolve()
    assert "/" not in stem and ".." not in stem and stem


def test_the_cases_of_a_seed_do_not_depend_on_what_the_caller_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hypothesis draws constants from every local module loaded in its process; in the
    caller's process, importing this module changes most of seed 7's first 60 cases."""

    async def streamed() -> list[FuzzCase]:
        return [c async for c in case_stream(60, 7, BASES)]

    before = asyncio.run(streamed())
    numbers = ", ".join(str(i) for i in range(0, 400, 3))
    (tmp_path / "lots_of_constants.py").write_text(f"NUMBERS = ({numbers})\nWORDS = ('ab', 'Q')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import lots_of_constants  # noqa: F401

    after = asyncio.run(streamed())
    assert len(before) == 60
    assert after == before


def test_a_failure_to_generate_in_the_other_process_is_reported() -> None:
    async def streamed() -> list[FuzzCase]:
        return [c async for c in case_stream(5, 0, ())]  # no base at all

    with pytest.raises(RuntimeError, match="generating the fuzz cases failed: InvalidArgument"):
        asyncio.run(streamed())


def test_the_cases_of_a_seed_do_not_depend_on_local_modules_loaded_where_they_are_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same, in the generating process itself: a sitecustomize module on PYTHONPATH loads a
    module full of constants there before the cases are made (as an editable install loads
    the harness's own modules, whose every docstring Hypothesis would otherwise read)."""

    async def streamed() -> list[FuzzCase]:
        return [c async for c in case_stream(60, 7, BASES)]

    before = asyncio.run(streamed())
    numbers = ", ".join(str(i) for i in range(100, 700, 3))
    (tmp_path / "lots_of_constants.py").write_text(f"NUMBERS = ({numbers})\nWORDS = ('ab', 'Q')\n")
    (tmp_path / "sitecustomize.py").write_text("import lots_of_constants  # noqa: F401\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    assert asyncio.run(streamed()) == before
