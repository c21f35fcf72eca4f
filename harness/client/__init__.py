"""The built-in reference client: a strict RFC 5321/3207/4954/2920 client, and its legal variants."""

from harness.client.driver import ClientConfig, deliver, deliver_blocking
from harness.client.machine import ClientMachine
from harness.client.variant import STRICT, VARIANTS, ClientVariant, parse_variant

__all__ = [
    "STRICT",
    "VARIANTS",
    "ClientConfig",
    "ClientMachine",
    "ClientVariant",
    "deliver",
    "deliver_blocking",
    "parse_variant",
]
