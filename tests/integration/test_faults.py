"""Fault injection: transparent faults change no verdict; ending faults are judged on what must
hold whatever happens; everything is reproducible from the seed."""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from pathlib import Path

import pytest

from fake_servers.playback import Playback
from fake_servers.tls import TlsMaterial
from harness.adapters.base import ClientAdapter
from harness.adapters.reference import ReferenceAdapter
from harness.adapters.smtplib_adapter import SmtplibAdapter
from harness.corpus import corpus_path
from harness.deviations import apply_deviations, deviations_for
from harness.errors import ScenarioError
from harness.faults import Fault, FaultPlan, parse_fault, write_pieces
from harness.protocol.commands import Command
from harness.report.text import format_failure
from harness.results import Verdict
from harness.runner import run_scenario, run_scenarios
from harness.scenario.loader import load_scenario, parse_scenario
from harness.scenario.model import Outcome, Send, StartTls
from harness.transcript import Direction

from .conftest import OutcomeLyingAdapter

LOGIN = corpus_path() / "auth" / "login.yaml"  # 10 server writes; the end-of-data reply is the 9th


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("delay=0.5@3", Fault("delay", 3, seconds=0.5)),
        ("split=every", Fault("split", None)),
        ("split=4,1@2", Fault("split", 2, offsets=(1, 4))),
        ("421@4", Fault("421", 4)),
        ("reset", Fault("reset", None)),
        ("half-close@2", Fault("half-close", 2)),
        ("stall@1", Fault("stall", 1)),
    ],
)
def test_fault_syntax(text: str, fault: Fault) -> None:
    assert parse_fault(text) == fault


@pytest.mark.parametrize("text", ["explode", "delay", "delay=soon", "split=0", "421=1", "reset@0"])
def test_bad_faults_say_what_is_wrong(text: str) -> None:
    with pytest.raises(ValueError, match=r"^'"):
        parse_fault(text)


def test_the_seed_decides_and_repeats() -> None:
    def chosen(seed: int) -> int | None:
        return FaultPlan((Fault("421"),), seed=seed, scenario_id="x", writes=12).faults[0].reply

    assert chosen(7) == chosen(7)
    assert len({chosen(seed) for seed in range(20)}) > 1


def run(scenario, adapter, tls: TlsMaterial, *faults: str, seed: int = 1):
    return asyncio.run(
        run_scenario(scenario, adapter, tls=tls, faults=tuple(map(parse_fault, faults)), seed=seed)
    )


@pytest.mark.parametrize("fault", ["split=every", "delay=0.05", "split=1,2,3@1"])
def test_transparent_faults_change_no_verdict(fault: str, tls_material: TlsMaterial) -> None:
    result = run(load_scenario(LOGIN), ReferenceAdapter(), tls_material, fault)
    assert result.verdict is Verdict.PASS, format_failure(result)
    assert any(fault in note for note in result.notes)


@pytest.mark.parametrize("fault", ["421@5", "reset@5", "half-close@5", "421@1"])
def test_a_client_that_gives_up_cleanly_passes(fault: str, tls_material: TlsMaterial) -> None:
    result = run(load_scenario(LOGIN), ReferenceAdapter(), tls_material, fault)
    assert result.verdict is Verdict.PASS, format_failure(result)
    assert result.outcome is not None and result.outcome.outcome is Outcome.FAILED


@pytest.mark.parametrize(
    ("fault", "happened"), [("stall@11", False), ("delay=0.01@40", False), ("421@10", True)]
)
def test_a_fault_placed_past_the_last_write_is_reported_as_not_happened(
    fault: str, happened: bool, tls_material: TlsMaterial
) -> None:
    """auth.login makes 10 server writes: a fault at write 11 or 40 never comes, and the
    result says so instead of passing as if the client had survived it."""
    result = run(load_scenario(LOGIN), ReferenceAdapter(), tls_material, fault)
    assert result.verdict is Verdict.PASS, format_failure(result)
    missed = [n for n in result.notes if "did not happen" in n]
    if happened:
        assert missed == []
    else:
        assert missed == [f"fault {fault} did not happen: the session had 10 server write(s)"]


def test_claiming_delivery_after_a_fault_fails_and_names_the_seed(
    tls_material: TlsMaterial,
) -> None:
    liar = OutcomeLyingAdapter(ReferenceAdapter(), Outcome.DELIVERED)
    result = run(load_scenario(LOGIN), liar, tls_material, "421", seed=11)
    assert result.verdict is Verdict.FAIL
    assert "seed 11" in result.message
    again = run(load_scenario(LOGIN), liar, tls_material, "421", seed=11)
    assert again.message == result.message  # same seed, same fault, same verdict


def test_a_fault_after_the_message_was_accepted_allows_delivered(tls_material: TlsMaterial) -> None:
    result = run(load_scenario(LOGIN), ReferenceAdapter(), tls_material, "421@10")  # QUIT's reply
    assert result.verdict is Verdict.PASS, format_failure(result)
    assert not [n for n in result.notes if "did not happen" in n]  # it did hit the session


def test_faults_in_a_scenario_file(tls_material: TlsMaterial) -> None:
    text = LOGIN.read_text().replace(
        "version: 1\n", "version: 1\nfaults: [split=every, delay=0.01@2]\n", 1
    )
    scenario = parse_scenario(text, "with-faults.yaml")
    assert scenario.faults == (Fault("split"), Fault("delay", 2, seconds=0.01))
    assert run(scenario, ReferenceAdapter(), tls_material).verdict is Verdict.PASS
    with pytest.raises(ScenarioError, match=r"^bad\.yaml:2: faults\[0\]: 'boom' is not a fault"):
        parse_scenario(text.replace("faults: [split=every", "faults: [boom"), "bad.yaml")


# --- fair under TLS, splits that add no time, stalls under load, deviations (issue 12 item 4) ---

IMPLICIT_465 = corpus_path() / "tls" / "implicit-gmail-465.yaml"  # the greeting is in TLS
STARTTLS_AUTH = corpus_path() / "starttls" / "reehlo-auth-after-tls.yaml"  # writes 5+ in TLS


@pytest.mark.parametrize("adapter", [ReferenceAdapter(), SmtplibAdapter()], ids=lambda a: a.name)
@pytest.mark.parametrize(
    ("path", "fault"), [(IMPLICIT_465, "half-close@1"), (STARTTLS_AUTH, "half-close@5")]
)
def test_half_close_under_tls_is_a_close_a_client_can_see(
    adapter: ClientAdapter, path: Path, fault: str, tls_material: TlsMaterial
) -> None:
    # TLS has its own end of stream (close_notify); sending nothing instead was a stall with
    # no stall's allowance, and a correct client that waited on it was failed.
    result = run(load_scenario(path), adapter, tls_material, fault)
    assert result.verdict is Verdict.PASS, format_failure(result)
    assert result.outcome is not None and result.outcome.outcome is Outcome.FAILED
    notes = [e.data.decode() for e in result.transcript.entries if e.direction is Direction.NOTE]
    assert f"fault injected: {fault}" in notes
    assert notes[-1] == "client closed its side"  # the server read on after its half-close


def test_a_split_fault_keeps_the_scenarios_pauses_where_they_were() -> None:
    send = Send(data=b"220-a\r\n220 b\r\n", split=(7,), pause=1.5)
    pieces = write_pieces(send, [Fault("split")])
    assert b"".join(p for _, p in pieces) == send.data
    assert len(pieces) == len(send.data)
    assert [pause for pause, _ in pieces if pause] == [1.5]  # only at the scenario's own cut
    assert write_pieces(send) == [(0.0, b"220-a\r\n"), (1.5, b"220 b\r\n")]
    offsets = write_pieces(send, [Fault("split", offsets=(2, 7))])
    assert [p for _, p in offsets] == [b"22", b"0-a\r\n", b"220 b\r\n"]


def test_split_every_over_a_paused_reply_passes(tls_material: TlsMaterial) -> None:
    # The greeting pauses 1.5 s between its lines; split per byte, that pause was taken before
    # every byte and the session ran out of time.
    scenario = load_scenario(corpus_path() / "greeting" / "postscreen-multiline-pause.yaml")
    result = run(scenario, ReferenceAdapter(), tls_material, "split=every")
    assert result.verdict is Verdict.PASS, format_failure(result)


def _stalled_runs(tls: TlsMaterial, jobs: int) -> list[tuple[str, str]]:
    scenario = load_scenario(LOGIN)
    scenario = replace(scenario, limits=replace(scenario.limits, total=2.0, read=1.0, grace=1.0))
    copies = [replace(scenario, id=f"{scenario.id}-{i}") for i in range(jobs)]
    results = asyncio.run(
        run_scenarios(copies, SmtplibAdapter(), jobs=jobs, faults=(parse_fault("stall@1"),))
    )
    return [(r.verdict.value, r.message) for r in results]


def test_stalls_under_many_jobs_give_the_same_fair_verdicts_twice(
    tls_material: TlsMaterial,
) -> None:
    # Three times more blocking clients at once than the loop's default executor has workers
    # (cores + 4): each must still start with its run, or later runs' clients sit queued past
    # their time limit and its grace, and are failed as never connected or hung.
    jobs = 3 * min(32, (os.cpu_count() or 1) + 4)
    first = _stalled_runs(tls_material, jobs)
    assert [run for run in first if run != ("pass", "")] == []
    assert _stalled_runs(tls_material, jobs) == first


def test_a_known_deviation_cut_off_by_a_fault_is_no_xpass(tls_material: TlsMaterial) -> None:
    # data.raw-bare-cr is a listed smtplib deviation, shown in the message; a 421 instead of
    # the greeting ends the session before it, which proves nothing either way.
    path = corpus_path() / "data" / "raw-bare-cr.yaml"
    deviations = deviations_for("smtplib")
    cut = apply_deviations(
        run(load_scenario(path), SmtplibAdapter(), tls_material, "421@1"), deviations
    )
    assert cut.verdict is Verdict.PASS, format_failure(cut)
    assert any("not reached: the fault 421@1" in note for note in cut.notes)
    shown = apply_deviations(run(load_scenario(path), SmtplibAdapter(), tls_material), deviations)
    assert shown.verdict is Verdict.XFAIL  # without the fault the deviation still shows


# --- an injection split in pieces: the handshake fails on the attacker's bytes -----------------

INJECTION = corpus_path() / "security" / "starttls-response-injection.yaml"


def test_a_split_injection_that_breaks_the_handshake_is_the_allowed_refusal(
    tls_material: TlsMaterial,
) -> None:
    """Sent byte by byte, the plaintext injected after the 220 to STARTTLS reaches smtplib's
    socket after it has discarded its buffer and begun the handshake: the handshake fails on
    those bytes and smtplib aborts, which the scenario allows (``may_refuse``, RFC 3207 §4).
    The server that waited for each piece to drain failed it about 1 run in 8 here (4 in 10
    from the command line), when the close came while it still wrote: so 30 runs (0.3 s)."""
    scenario = load_scenario(INJECTION)
    for seed in range(1, 31):
        result = run(scenario, SmtplibAdapter(), tls_material, "split=every", seed=seed)
        assert result.verdict is Verdict.PASS, format_failure(result)


@pytest.mark.parametrize("adapter", [ReferenceAdapter(), SmtplibAdapter()], ids=lambda a: a.name)
def test_an_injection_written_slowly_that_breaks_the_handshake_is_the_allowed_refusal(
    adapter: ClientAdapter, tls_material: TlsMaterial
) -> None:
    """The same attack written by the script itself a byte every 10 ms: both clients read the
    220, discard what follows it and start the handshake, which fails on the injected bytes, so
    they close while the server is still writing. That close is the refusal the script allows;
    it was failed as "closed before the script ended"."""
    text = INJECTION.read_text()
    raw = '  - raw: "220 ready\\r\\n250-injected\\r\\n250 injected\\r\\n"\n'
    assert raw in text
    slow = raw.replace('raw: "', 'raw: {bytes: "').replace('"\n', '", split: every, pause: 0.01}\n')
    result = run(
        parse_scenario(text.replace(raw, slow), "slow-injection.yaml"), adapter, tls_material
    )
    assert result.verdict is Verdict.PASS, format_failure(result)
    notes = [e.data.decode() for e in result.transcript.entries if e.direction is Direction.NOTE]
    assert any(note.startswith("connection lost while writing") for note in notes), notes


def _after_starttls(text: str) -> Playback:
    playback = Playback(parse_scenario(text, "injection.yaml"))
    playback.start()
    playback.on_command(Command.build("EHLO", "c.example.com"))
    actions = playback.on_command(Command.build("STARTTLS"))
    assert any(isinstance(a, StartTls) for a in actions)
    return playback


def test_only_a_tls_start_that_may_be_refused_forgives_a_close_while_writing() -> None:
    text = INJECTION.read_text()
    refusable = _after_starttls(text)
    refusable.on_close(while_writing=True)
    assert refusable.finished and refusable.failure is None
    required = _after_starttls(text.replace("{start: true, may_refuse: true}", "start"))
    required.on_close(while_writing=True)
    assert required.failure is not None and required.failure.kind == "closed"
    # Once the client has said something inside TLS, closing is judged as anywhere else.
    went_on = _after_starttls(text)
    went_on.on_command(Command.build("EHLO", "c.example.com"))
    went_on.on_close(while_writing=True)
    assert went_on.failure is not None


_SPLIT_AFTER_CLOSE = """
version: 1
id: test.split-after-close
limits: {total: 5, read: 2}
client: {mail_from: a@example.com, rcpt_to: [b@example.com]}
expect: {outcome: delivered}
exchange:
  - server: "220 mx.example.com ESMTP"
  - client: "EHLO {domain}"
  - server: {lines: ["250-mx.example.com LONG", "250 8BITMIME"], delay: 0.2}
  - client: {match: QUIT, optional: true}
  - server: "221 bye"
""".replace("LONG", "x" * 400)


def test_a_split_write_stops_at_the_first_piece_that_cannot_go_out(
    tls_material: TlsMaterial, caplog: pytest.LogCaptureFixture
) -> None:
    """The client leaves while the server waits to answer; the answer, split byte by byte, then
    meets a closed connection: the server stops at once (one note), instead of writing hundreds
    of pieces into a dead transport (asyncio logged "socket.send() raised exception." for each)."""
    from fake_servers.scripted import ScriptedServer

    scenario = parse_scenario(_SPLIT_AFTER_CLOSE, "split-after-close.yaml")
    plan = FaultPlan((parse_fault("split=every"),), seed=0, scenario_id=scenario.id, writes=3)

    async def main() -> list[bytes]:
        async with ScriptedServer(scenario, tls=tls_material, faults=plan) as server:
            reader, writer = await asyncio.open_connection(server.host, server.port)
            await reader.readline()
            writer.write(b"EHLO client.example.com\r\n")
            await writer.drain()
            writer.close()
            session = await server.first_session(5)
            assert session is not None
            return [e.data for e in session.transcript.entries if e.direction is Direction.NOTE]

    with caplog.at_level("WARNING", logger="asyncio"):
        notes = asyncio.run(main())
    assert not [r for r in caplog.records if "socket.send() raised" in r.getMessage()]
    assert len([n for n in notes if n.startswith(b"connection lost while writing")]) == 1, notes
