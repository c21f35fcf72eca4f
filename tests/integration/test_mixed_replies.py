"""Replies whose lines disagree in class, and the old-style AUTH= line.

A client that takes the last line of ``550-`` then ``250 `` to RCPT and sends the message to a
refused recipient fails (the DEVELOPERS rule: "a client that ... takes the last line of a mixed
reply must fail"). Where the last line is the refusal (EHLO, MAIL, the final dot), deciding on
the first line is what RFC 5321 §4.2.1 allows ("processing decisions based on the code in any
line"): graded info. Using old-style AUTH= is interoperability: info."""

from __future__ import annotations

from pathlib import Path

import pytest

from fake_servers.tls import TlsMaterial
from harness.adapters.reference import ReferenceAdapter
from harness.client.machine import ClientMachine
from harness.corpus import corpus_path
from harness.fuzz.cases import Change, FuzzCase, expectation
from harness.fuzz.strategies import frame
from harness.protocol.events import ConnectionClosed, NeedData
from harness.protocol.replies import Reply, ReplyParser
from harness.results import Verdict
from harness.scenario.loader import load_scenario
from harness.scenario.model import ClientTask, Level, Outcome

from .conftest import run

MIXED = {p.stem: p for p in (corpus_path() / "framing").glob("mixed-class-*.yaml")}
AUTH_EQUALS = corpus_path() / "auth/old-style-auth-equals-login-only.yaml"


class _LastLineCode(ReplyParser):
    """Takes a reply whose lines disagree for the code of its last line."""

    def _add_line(self, line: bytes) -> Reply | None:
        if self._code is not None and line[:3] != self._code:
            self._code = line[:3]
        return super()._add_line(line)


class _FirstLineCode(ReplyParser):
    """Takes a reply whose lines disagree for the code of its first line."""

    def _add_line(self, line: bytes) -> Reply | None:
        if self._code is not None and line[:3] != self._code:
            line = self._code + line[3:]
        return super()._add_line(line)


class _NoAuthEquals(ReplyParser):
    """Does not read the pre-RFC 2554 ``AUTH=`` lines of an EHLO reply."""

    def next_event(self) -> Reply | ConnectionClosed | NeedData:
        event = super().next_event()
        if isinstance(event, Reply):
            lines = tuple(x for x in event.lines if not x.upper().startswith(b"AUTH="))
            return Reply(code=event.code, lines=lines or (b"",))
        return event


def _machine(parser: type[ReplyParser]) -> type[ClientMachine]:
    class Machine(ClientMachine):
        def __init__(
            self, task: ClientTask, *, ehlo_name: str, max_reply_line: int = 65536
        ) -> None:
            super().__init__(task, ehlo_name=ehlo_name, max_reply_line=max_reply_line)
            self.parser = parser(max_line=max_reply_line)

    Machine.__name__ = parser.__name__.strip("_")
    return Machine


def test_there_is_one_for_rcpt_ehlo_mail_and_the_final_dot() -> None:
    assert sorted(MIXED) == [f"mixed-class-{x}" for x in ("ehlo", "end-of-data", "mail", "rcpt")]
    for path in [*MIXED.values(), AUTH_EQUALS]:
        wanted = None if path.stem == "mixed-class-rcpt" else Level.INFO  # None: the rule's, MUST
        assert load_scenario(path).level is wanted


@pytest.mark.parametrize("path", [*MIXED.values(), AUTH_EQUALS], ids=lambda p: p.stem)
def test_the_reference_client_passes(path: Path, tls_material: TlsMaterial) -> None:
    result = run(load_scenario(path), ReferenceAdapter(), tls_material)
    assert result.verdict is Verdict.PASS, result.message


@pytest.mark.parametrize(
    ("parser", "acts_on_success"),
    [
        (_LastLineCode, {"mixed-class-rcpt"}),
        (_FirstLineCode, {"mixed-class-ehlo", "mixed-class-mail", "mixed-class-end-of-data"}),
    ],
    ids=["last-line", "first-line"],
)
def test_acting_on_the_success_line(
    parser: type[ReplyParser], acts_on_success: set[str], tls_material: TlsMaterial
) -> None:
    adapter = ReferenceAdapter(_machine(parser))
    for name, path in MIXED.items():
        result = run(load_scenario(path), adapter, tls_material)
        wanted = Verdict.INFO if name in acts_on_success else Verdict.PASS
        if name == "mixed-class-rcpt" and name in acts_on_success:
            wanted = Verdict.FAIL  # the last line's 250, after a 550 line: the message goes out
        assert result.verdict is wanted, (name, result.message)


def test_a_client_that_does_not_read_auth_equals_is_info(tls_material: TlsMaterial) -> None:
    result = run(
        load_scenario(AUTH_EQUALS), ReferenceAdapter(_machine(_NoAuthEquals)), tls_material
    )
    assert result.verdict is Verdict.INFO
    assert "R-AUTH-1" in result.message or result.failure is not None


def test_the_fuzz_oracle_lets_a_client_act_on_any_line() -> None:
    """A MAIL reply "250-... / 550 ...": the first line says yes, the last no. RFC 5321 §4.2.1
    lets a client decide on either, so delivered and failed are both correct."""
    reply = Reply.of(550, "5.7.1 refused")
    change = Change(
        stage="mail", how="defect", reply=reply, framing=frame(reply, "mixed-codes", 250)
    )
    case = FuzzCase(base="send", ehlo=Reply.of(250, "mx.example.com"), changes=(change,))
    assert set(expectation(case).outcomes) == {Outcome.DELIVERED, Outcome.FAILED}
