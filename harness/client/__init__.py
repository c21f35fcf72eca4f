"""The built-in reference client: a strict RFC 5321/3207/4954/2920 client."""

from harness.client.driver import ClientConfig, deliver, deliver_blocking
from harness.client.machine import ClientMachine

__all__ = ["ClientConfig", "ClientMachine", "deliver", "deliver_blocking"]
