"""Helpers for end-to-end tests: real sockets on 127.0.0.1, real TLS, one scenario at a time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import replace

import pytest

from fake_servers.tls import TlsMaterial
from harness.adapters.base import Capabilities, ClientAdapter, Target
from harness.outcome import ClientOutcome
from harness.protocol.events import ConnectionClosed, NeedData
from harness.protocol.replies import Reply, ReplyParser
from harness.results import Result
from harness.runner import run_scenario
from harness.scenario.model import ClientTask, Outcome, Scenario

READ = "read"  # RawClient: wait for one complete reply
CLOSE = "close"  # RawClient: close the connection now


@pytest.fixture(scope="session")
def tls_material() -> Iterator[TlsMaterial]:
    material = TlsMaterial()
    yield material
    material.close()


def run(
    scenario: Scenario, adapter: ClientAdapter, tls: TlsMaterial, *, show_secrets: bool = False
) -> Result:
    return asyncio.run(run_scenario(scenario, adapter, tls=tls, show_secrets=show_secrets))


class RawClient:
    """A client that sends exactly the bytes it is given: the way to write a deliberately broken
    client in a test. Items: bytes to send, READ to wait for one reply, a float to sleep, CLOSE."""

    name = "raw"
    capabilities = Capabilities()

    def __init__(self, *script: bytes | float | str, report: Outcome = Outcome.DELIVERED) -> None:
        self.script = script
        self.report = report
        self.replies: list[Reply] = []

    async def deliver(self, task: ClientTask, target: Target) -> ClientOutcome:
        reader, writer = await asyncio.open_connection(target.host, target.port)
        parser = ReplyParser(allow_bare_lf=True)
        try:
            for item in self.script:
                if item == READ:
                    while isinstance(event := parser.next_event(), NeedData):
                        parser.receive_data(
                            await asyncio.wait_for(reader.read(4096), target.timeout)
                        )
                    if isinstance(event, ConnectionClosed):
                        break
                    self.replies.append(event)
                elif item == CLOSE:
                    break
                elif isinstance(item, float):
                    await asyncio.sleep(item)
                else:
                    assert isinstance(item, bytes)
                    writer.write(item)
                    await writer.drain()
        except (OSError, TimeoutError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return ClientOutcome(outcome=self.report)


class TaskChangingAdapter:
    """Runs another adapter on a changed task (e.g. a wrong password)."""

    capabilities = Capabilities()

    def __init__(self, inner: ClientAdapter, **changes: object) -> None:
        self.inner = inner
        self.name = inner.name
        self.changes = changes

    async def deliver(self, task: ClientTask, target: Target) -> ClientOutcome:
        return await self.inner.deliver(replace(task, **self.changes), target)  # type: ignore[arg-type]


class OutcomeLyingAdapter:
    """Runs another adapter and then reports the given outcome instead of the real one."""

    capabilities = Capabilities()

    def __init__(self, inner: ClientAdapter, outcome: Outcome) -> None:
        self.inner = inner
        self.name = inner.name
        self.outcome = outcome

    async def deliver(self, task: ClientTask, target: Target) -> ClientOutcome:
        await self.inner.deliver(task, target)
        return ClientOutcome(outcome=self.outcome)
