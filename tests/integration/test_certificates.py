"""Certificates a client must refuse: each one really is bad in the way it says, a verifying client
passes every tls.refuse-* scenario, and clients that verify nothing fail them, naming the
certificate they accepted."""

from __future__ import annotations

import ssl
from dataclasses import replace
from pathlib import Path

import pytest

from fake_servers.tls import TlsMaterial, describe
from harness.adapters.base import Capabilities, ClientAdapter, Target
from harness.adapters.reference import ReferenceAdapter
from harness.adapters.smtplib_adapter import SmtplibAdapter
from harness.corpus import corpus_path
from harness.errors import ScenarioError
from harness.outcome import ClientOutcome
from harness.results import Verdict
from harness.scenario.loader import load_scenario, parse_scenario
from harness.scenario.model import Certificate, ClientTask, StartTls

from .conftest import run

REFUSE = sorted((corpus_path() / "tls" / "certificates").glob("refuse-*.yaml"))

# What OpenSSL says when a verifying client meets each certificate: proof that each scenario
# tests the defect it names, and only that one.
VERIFY_ERRORS = {
    Certificate.UNTRUSTED_CA: "unable to get local issuer certificate",
    Certificate.WRONG_HOST: "mismatch",
    Certificate.EXPIRED: "certificate has expired",
    Certificate.NOT_YET_VALID: "certificate is not yet valid",
    Certificate.SELF_SIGNED: "self-signed certificate",
    Certificate.INCOMPLETE_CHAIN: "unable to get local issuer certificate",
}


class AcceptsAnyCertificate:
    """Runs another adapter with a TLS context that verifies nothing (CERT_NONE, no host name
    check): the classic broken client."""

    capabilities = Capabilities()

    def __init__(self, inner: ClientAdapter) -> None:
        self.inner = inner
        self.name = f"{inner.name}-accepts-any-certificate"

    async def deliver(self, task: ClientTask, target: Target) -> ClientOutcome:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return await self.inner.deliver(task, replace(target, ssl_context=ctx))


class SmtplibWithoutContext(SmtplibAdapter):
    """smtplib driven the way many examples drive it: ``starttls()`` / ``SMTP_SSL()`` with no
    context, which gives ssl._create_stdlib_context(): no verification at all."""

    name = "smtplib-starttls-without-context"

    async def deliver(self, task: ClientTask, target: Target) -> ClientOutcome:
        return await super().deliver(task, replace(target, ssl_context=None))  # type: ignore[arg-type]


def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> None:
    """A real TLS handshake in memory between the two contexts (raises ssl.SSLError)."""
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="localhost")
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        done = 0
        for side, out, peer_in in ((client, c_out, s_in), (server, s_out, c_in)):
            try:
                side.do_handshake()
                done += 1
            except ssl.SSLWantReadError:
                pass
            peer_in.write(out.read())
        if done == 2:
            return
    raise AssertionError("the handshake did not finish")


@pytest.mark.parametrize("certificate", list(VERIFY_ERRORS), ids=str)
def test_each_bad_certificate_fails_verification_for_its_own_reason(
    certificate: Certificate, tls_material: TlsMaterial
) -> None:
    server = tls_material.server_context(certificate)
    with pytest.raises(ssl.SSLCertVerificationError) as caught:
        _handshake(server, tls_material.client_context())
    assert VERIFY_ERRORS[certificate] in str(caught.value)
    # ... and it is a usable certificate otherwise: a client that checks nothing completes.
    unverified = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    unverified.check_hostname, unverified.verify_mode = False, ssl.CERT_NONE
    _handshake(server, unverified)


@pytest.mark.parametrize("certificate", [Certificate.GOOD, Certificate.INTERMEDIATE], ids=str)
def test_good_certificates_verify(certificate: Certificate, tls_material: TlsMaterial) -> None:
    _handshake(tls_material.server_context(certificate), tls_material.client_context())


def test_every_bad_certificate_has_a_starttls_and_an_implicit_scenario() -> None:
    found = {
        (s.stem.removeprefix("refuse-").rsplit("-", 1)[0], s.stem.rsplit("-", 1)[1]) for s in REFUSE
    }
    wanted = {(c.value, mode) for c in VERIFY_ERRORS for mode in ("starttls", "implicit")}
    assert found == wanted


def _certificate_of(path: Path) -> Certificate:
    scenario = load_scenario(path)
    steps = [s for s in scenario.exchange if isinstance(s, StartTls)]
    return steps[0].certificate if steps else scenario.certificate


@pytest.mark.parametrize("path", REFUSE, ids=lambda p: p.stem)
def test_a_verifying_client_refuses(path: Path, tls_material: TlsMaterial) -> None:
    result = run(load_scenario(path), ReferenceAdapter(), tls_material)
    assert result.verdict is Verdict.PASS, result.message
    assert any("the client refused" in e.data.decode() for e in result.transcript.entries)


@pytest.mark.parametrize("inner", [ReferenceAdapter, SmtplibAdapter], ids=["reference", "smtplib"])
@pytest.mark.parametrize("path", REFUSE, ids=lambda p: p.stem)
def test_a_client_that_accepts_any_certificate_fails_naming_it(
    path: Path, inner: type[ClientAdapter], tls_material: TlsMaterial
) -> None:
    result = run(load_scenario(path), AcceptsAnyCertificate(inner()), tls_material)
    assert result.verdict is Verdict.FAIL
    assert f"the client accepted {describe(_certificate_of(path))}" in result.message
    assert "it sent EHLO" in result.message


@pytest.mark.parametrize("path", REFUSE, ids=lambda p: p.stem)
def test_smtplib_without_a_context_verifies_nothing_and_fails(
    path: Path, tls_material: TlsMaterial
) -> None:
    result = run(load_scenario(path), SmtplibWithoutContext(), tls_material)
    assert result.verdict is Verdict.FAIL
    assert "the client accepted" in result.message


def test_completing_the_handshake_then_quit_passes(tls_material: TlsMaterial) -> None:
    """RFC 3207 §4.1: the client "SHOULD issue an SMTP QUIT command immediately after the TLS
    negotiation is complete" if the security is not enough: that must pass."""

    class QuitsAfterHandshake(ReferenceAdapter):
        name = "quits-after-handshake"

    from harness.client.machine import ClientAction, ClientMachine

    class Machine(ClientMachine):
        def tls_established(self) -> list[ClientAction]:
            self.tls_active = True
            self._fail_and_quit(None, "the certificate could not be validated")
            return self._take()

    scenario = load_scenario(corpus_path() / "tls/certificates/refuse-expired-starttls.yaml")
    result = run(scenario, AcceptsAnyCertificate(ReferenceAdapter(Machine)), tls_material)
    assert result.verdict is Verdict.PASS, result.message
    assert any(e.tls and e.data == b"QUIT\r\n" for e in result.transcript.entries)


def test_a_verifying_client_takes_a_complete_chain(tls_material: TlsMaterial) -> None:
    scenario = load_scenario(corpus_path() / "tls/certificates/intermediate-ca-starttls.yaml")
    assert run(scenario, ReferenceAdapter(), tls_material).verdict is Verdict.PASS


SCENARIO = """
version: 1
id: test.cert
{top}
client: {{tls: {tls}, rcpt_to: [b@example.com]}}
expect: {{outcome: failed}}
exchange:
  - server: "220 x"
{steps}
"""


def test_certificate_at_the_top_is_for_implicit_tls_only() -> None:
    text = SCENARIO.format(top="certificate: expired", tls="starttls", steps="")
    with pytest.raises(
        ScenarioError, match=r"<string>:4: certificate: only for client.tls: implicit"
    ):
        parse_scenario(text)


def test_an_unknown_certificate_is_an_error() -> None:
    text = SCENARIO.format(
        top="", tls="starttls", steps="  - tls: {start: true, certificate: revoked}"
    )
    with pytest.raises(
        ScenarioError, match=r":9: exchange\[1\].tls.certificate: .revoked. is not one of: good,"
    ):
        parse_scenario(text)
