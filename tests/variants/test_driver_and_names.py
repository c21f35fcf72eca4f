"""The variant switches the asyncio driver carries out (refusing before connecting, a slow exit),
over a real loopback socket, and choosing a variant by name (``--client reference:helo``)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from harness.adapters.base import load_adapter
from harness.adapters.reference import ReferenceAdapter
from harness.client.driver import ClientConfig, deliver
from harness.client.variant import STRICT, VARIANTS, ClientVariant
from harness.errors import AdapterError
from harness.outcome import ClientOutcome
from harness.scenario.model import ClientTask, Outcome

TASK = ClientTask(
    mail_from="a@example.com", rcpt_to=("b@example.com\r\nRSET",), message=b"Subject: x\n\nx\n"
)


async def _deliver_to_a_554_server(
    task: ClientTask, variant: ClientVariant
) -> tuple[ClientOutcome, int, float]:
    """Run the driver against a server that refuses service (554, then 221 to QUIT); returns
    the outcome, how many connections the server saw, and the seconds ``deliver`` took."""
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.write(b"554 no service here\r\n")
        if await reader.readline():
            writer.write(b"221 bye\r\n")
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        started = time.monotonic()
        config = ClientConfig(host="127.0.0.1", port=port, timeout=5.0)
        outcome = await deliver(task, config, variant=variant)
        return outcome, connections, time.monotonic() - started
    finally:
        server.close()
        await server.wait_closed()


def test_refusing_before_connecting_opens_no_connection() -> None:
    strict, strict_connections, _ = asyncio.run(_deliver_to_a_554_server(TASK, STRICT))
    assert strict_connections == 1 and strict.code == 554
    early, connections, _ = asyncio.run(_deliver_to_a_554_server(TASK, VARIANTS["local-refusal"]))
    assert connections == 0
    assert early.outcome is Outcome.FAILED and early.code is None
    assert "CR, LF or NUL" in (early.message or "")


def test_refusing_before_connecting_still_connects_for_good_input() -> None:
    good = replace(TASK, rcpt_to=("b@example.com",))
    outcome, connections, _ = asyncio.run(_deliver_to_a_554_server(good, VARIANTS["local-refusal"]))
    assert connections == 1 and outcome.code == 554


def test_slow_exit_reports_only_after_the_delay() -> None:
    good = replace(TASK, rcpt_to=("b@example.com",))
    _, _, fast = asyncio.run(_deliver_to_a_554_server(good, STRICT))
    outcome, _, slow = asyncio.run(_deliver_to_a_554_server(good, VARIANTS["slow-exit"]))
    assert fast < 1.0
    assert slow >= VARIANTS["slow-exit"].exit_delay
    assert outcome.code == 554


def test_a_variant_is_chosen_by_name() -> None:
    adapter = load_adapter("reference:helo+no-quit")
    assert isinstance(adapter, ReferenceAdapter)
    assert adapter.name == "reference:helo+no-quit"
    assert adapter.variant == ClientVariant(helo=True, quit_after_error=False)
    plain = load_adapter("reference")
    assert isinstance(plain, ReferenceAdapter) and plain.variant == STRICT


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("reference:nonsense", "no reference client variant named 'nonsense'"),
        ("smtplib:helo", "client adapter 'smtplib' has no variants"),
        ("nosuch:helo", "no client adapter named 'nosuch'"),
    ],
)
def test_a_bad_variant_name_is_a_clear_error(name: str, error: str) -> None:
    with pytest.raises(AdapterError, match=error):
        load_adapter(name)


def test_only_the_compose_variant_declares_that_it_writes_its_own_message() -> None:
    assert ReferenceAdapter.from_variant("compose").capabilities.composes_message
    assert not ReferenceAdapter.from_variant("regenerate").capabilities.composes_message
    assert not ReferenceAdapter().capabilities.composes_message
