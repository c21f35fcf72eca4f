"""The ``reference`` adapter: our own strict client, and its legal variants."""

from __future__ import annotations

from harness.adapters.base import Capabilities, Target
from harness.client.driver import ClientConfig, deliver
from harness.client.machine import ClientMachine
from harness.client.variant import STRICT, ClientVariant, parse_variant
from harness.outcome import ClientOutcome
from harness.scenario.model import ClientTask

__all__ = ["ReferenceAdapter"]


class ReferenceAdapter:
    """Our client. ``machine_class`` runs a changed state machine over the same driver (the
    way tests build deliberately broken clients); ``variant`` makes the legal choices a real
    client may make (``--client reference:helo``, see harness/client/variant.py)."""

    capabilities = Capabilities()

    def __init__(
        self,
        machine_class: type[ClientMachine] = ClientMachine,
        *,
        variant: ClientVariant = STRICT,
        name: str | None = None,
    ) -> None:
        self.machine_class = machine_class
        self.variant = variant
        if variant.compose:  # it writes its own message, so only Subject and body are compared
            self.capabilities = Capabilities(composes_message=True)
        self.name = name or (
            "reference" if machine_class is ClientMachine else machine_class.__name__
        )

    @classmethod
    def from_variant(cls, spec: str) -> ReferenceAdapter:
        """``reference:SPEC``: the variant named ``SPEC`` (names joined with ``+`` combine).

        Raises:
            AdapterError: an unknown variant name.
        """
        return cls(variant=parse_variant(spec), name=f"reference:{spec}")

    async def deliver(self, task: ClientTask, target: Target) -> ClientOutcome:
        config = ClientConfig(
            host=target.host,
            port=target.port,
            ssl_context=target.ssl_context,
            server_hostname=target.server_hostname,
            timeout=target.timeout,
        )
        return await deliver(task, config, machine_class=self.machine_class, variant=self.variant)
