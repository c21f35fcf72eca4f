"""The ``reference`` adapter: our own strict client."""

from __future__ import annotations

from harness.adapters.base import Capabilities, Target
from harness.client.driver import ClientConfig, deliver
from harness.outcome import ClientOutcome
from harness.scenario.model import ClientTask

__all__ = ["ReferenceAdapter"]


class ReferenceAdapter:
    name = "reference"
    capabilities = Capabilities()

    async def deliver(self, task: ClientTask, target: Target) -> ClientOutcome:
        config = ClientConfig(
            host=target.host,
            port=target.port,
            ssl_context=target.ssl_context,
            server_hostname=target.server_hostname,
            timeout=target.timeout,
        )
        return await deliver(task, config)
