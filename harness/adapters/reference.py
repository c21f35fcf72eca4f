"""The ``reference`` adapter: our own strict client."""

from __future__ import annotations

from harness.adapters.base import Capabilities, Target
from harness.client.driver import ClientConfig, deliver
from harness.client.machine import ClientMachine
from harness.outcome import ClientOutcome
from harness.scenario.model import ClientTask

__all__ = ["ReferenceAdapter"]


class ReferenceAdapter:
    """Our client. ``machine_class`` runs a variant of its state machine over the same driver
    (the way tests build deliberately broken clients)."""

    capabilities = Capabilities()

    def __init__(self, machine_class: type[ClientMachine] = ClientMachine) -> None:
        self.machine_class = machine_class
        self.name = "reference" if machine_class is ClientMachine else machine_class.__name__

    async def deliver(self, task: ClientTask, target: Target) -> ClientOutcome:
        config = ClientConfig(
            host=target.host,
            port=target.port,
            ssl_context=target.ssl_context,
            server_hostname=target.server_hostname,
            timeout=target.timeout,
        )
        return await deliver(task, config, machine_class=self.machine_class)
