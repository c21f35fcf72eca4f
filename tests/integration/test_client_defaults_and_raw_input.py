"""A client's own EHLO name, and a message handed over as written (raw_message).

Each new scenario passes the reference client and fails a variant that breaks the rule it is
about: one that says a bare "127.0.0.1", one that passes its input's line ends through.
"""

from __future__ import annotations

import pytest

from fake_servers.tls import TlsMaterial
from harness.adapters.reference import ReferenceAdapter
from harness.client.machine import ClientMachine
from harness.corpus import corpus_path
from harness.results import Verdict
from harness.scenario.loader import load_scenario, parse_scenario
from harness.scenario.model import ClientTask
from harness.scenario.patterns import compile_pattern
from harness.scenario.writer import dump_scenario

from .conftest import run

RAW = (
    "data/raw-lf-only-line-ends.yaml",
    "data/raw-mixed-line-ends-no-final.yaml",
    "data/raw-bare-cr.yaml",
    "security/smuggling-raw-input.yaml",
)


class BareIpName(ClientMachine):
    """Introduces itself as 127.0.0.1, without the brackets of an address literal."""

    def __init__(self, task: ClientTask, *, ehlo_name: str, max_reply_line: int = 65536) -> None:
        super().__init__(task, ehlo_name=ehlo_name.strip("[]"), max_reply_line=max_reply_line)


class PassesLineEndsThrough(ClientMachine):
    """Dot-stuffs CRLF lines but sends lone CR and LF of its input as they are."""

    def message_wire(self) -> bytes:
        text = self.task.message
        lines = text.split(b"\r\n")
        body = b"\r\n".join(b"." + x if x.startswith(b".") else x for x in lines)
        return body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n"


def test_the_domain_placeholder_refuses_a_bare_ipv4_address() -> None:
    pattern = compile_pattern("EHLO {domain}")
    for good in ("EHLO [127.0.0.1]", "EHLO localhost", "EHLO mx1.example.com", "EHLO 1.example"):
        assert pattern.fullmatch(good), good
    for bad in ("EHLO 127.0.0.1", "EHLO 127.0.0.1.", "EHLO example.123", "EHLO 42"):
        assert not pattern.fullmatch(bad), bad


def test_a_bare_ip_as_the_default_name_fails(tls_material: TlsMaterial) -> None:
    scenario = load_scenario(corpus_path() / "ehlo/name-client-default.yaml")
    assert scenario.client.ehlo_name is None
    assert run(scenario, ReferenceAdapter(), tls_material).verdict is Verdict.PASS
    result = run(scenario, ReferenceAdapter(BareIpName), tls_material)
    assert result.verdict is Verdict.FAIL
    assert result.failure is not None
    assert result.failure.actual in ("EHLO 127.0.0.1", "HELO 127.0.0.1")


def test_raw_message_is_handed_over_as_written() -> None:
    text = 'version: 1\nid: t.raw\nclient:\n  {raw}message: "a\\nb\\rc\\r\\nd"\nexpect: {{outcome: delivered}}\nexchange:\n  - server: "220 x"\n'
    raw = parse_scenario(text.format(raw="raw_message: true\n  "), "raw.yaml")
    assert raw.client.message == b"a\nb\rc\r\nd"
    assert raw.client.raw_message
    normal = parse_scenario(text.format(raw=""), "normal.yaml")
    assert normal.client.message == b"a\r\nb\r\nc\r\nd"
    assert not normal.client.raw_message
    again = parse_scenario(dump_scenario(raw), "again.yaml")
    assert again.client == raw.client


@pytest.mark.parametrize("name", RAW)
def test_raw_input_scenarios_pass_a_normalising_client_and_fail_a_pass_through_one(
    name: str, tls_material: TlsMaterial
) -> None:
    scenario = load_scenario(corpus_path() / name)
    assert scenario.client.raw_message
    good = run(scenario, ReferenceAdapter(), tls_material)
    assert good.verdict is Verdict.PASS, good.message
    bad = run(scenario, ReferenceAdapter(PassesLineEndsThrough), tls_material)
    assert bad.verdict is Verdict.FAIL
    assert bad.failure is not None
    assert "bare CR or LF" in str(bad.failure.actual) + bad.failure.message + bad.failure.hint


def test_a_client_that_refuses_raw_input_after_ehlo_passes(tls_material: TlsMaterial) -> None:
    """Refusing a message with bare line ends (QUIT, report failure) is legal (§2.3.8)."""

    class Refuses(ClientMachine):
        def _after_hello(self) -> None:
            self._fail_and_quit(None, "the message has bare line ends")

    scenario = load_scenario(corpus_path() / "data/raw-lf-only-line-ends.yaml")
    result = run(scenario, ReferenceAdapter(Refuses), tls_material)
    assert result.verdict is Verdict.PASS, result.message
