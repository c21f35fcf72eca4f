"""Client adapters: one interface to put any SMTP client under test."""

from harness.adapters.base import (
    ENTRY_POINT_GROUP,
    Capabilities,
    ClientAdapter,
    Target,
    available_adapters,
    load_adapter,
    unsupported_reason,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Capabilities",
    "ClientAdapter",
    "Target",
    "available_adapters",
    "load_adapter",
    "unsupported_reason",
]
