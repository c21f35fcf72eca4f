"""421 without the close: a client that goes on after the 421 fails on the wire, with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from fake_servers.tls import TlsMaterial
from harness.adapters.reference import ReferenceAdapter
from harness.client.machine import ClientMachine
from harness.corpus import corpus_path
from harness.protocol.events import ConnectionClosed, NeedData
from harness.protocol.replies import Reply, ReplyParser
from harness.results import Verdict
from harness.scenario.loader import load_scenario
from harness.scenario.model import ClientTask

from .conftest import run

SCENARIOS = sorted((corpus_path() / "errors").glob("421-socket-open-at-*.yaml"))


class _421As451(ReplyParser):
    def next_event(self) -> Reply | ConnectionClosed | NeedData:
        event = super().next_event()
        if isinstance(event, Reply) and event.code == 421:
            return Reply(code=451, lines=event.lines)
        return event


class Treats421AsAny4xx(ClientMachine):
    """Reads only the first digit of 421, so it takes "closing the channel" for an ordinary
    temporary refusal of the one command, and goes on: the next RCPT, and (as aiosmtplib's
    sendmail() does) a RSET for the failed transaction."""

    def __init__(self, task: ClientTask, *, ehlo_name: str, max_reply_line: int = 65536) -> None:
        super().__init__(task, ehlo_name=ehlo_name, max_reply_line=max_reply_line)
        self.parser = _421As451(max_line=max_reply_line)

    def _after_transaction(self, *, needs_rset: bool) -> None:
        if needs_rset:
            self._command("RSET", "rset")
        else:
            self._next_operation()


def test_there_is_one_for_mail_rcpt_and_data() -> None:
    assert [p.stem for p in SCENARIOS] == [
        "421-socket-open-at-data",
        "421-socket-open-at-mail",
        "421-socket-open-at-rcpt",
    ]


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_the_reference_client_passes(path: Path, tls_material: TlsMaterial) -> None:
    result = run(load_scenario(path), ReferenceAdapter(), tls_material)
    assert result.verdict is Verdict.PASS, result.message


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_a_client_that_goes_on_after_421_fails_citing_421(
    path: Path, tls_material: TlsMaterial
) -> None:
    result = run(load_scenario(path), ReferenceAdapter(Treats421AsAny4xx), tls_material)
    assert result.verdict is Verdict.FAIL
    assert result.message.startswith("the server answered 421 (closing the transmission channel)")
    assert result.failure is not None and "R-421-3" in result.failure.hint
    assert not result.failure.actual.startswith("QUIT")


def test_an_explicitly_scripted_command_after_421_is_still_allowed(
    tls_material: TlsMaterial,
) -> None:
    """ehlo.ehlo-421-connection-open scripts a HELO after the 421: the script has the last word."""
    scenario = load_scenario(corpus_path() / "ehlo/ehlo-421-connection-open.yaml")
    result = run(scenario, ReferenceAdapter(Treats421AsAny4xx), tls_material)
    # It says HELO (legal there), gets the second 421 and reports 451 instead of 421: the
    # outcome check fails it, not the wire.
    assert result.failure is None
    assert "expected 421" in result.message
