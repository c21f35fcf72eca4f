"""``demo-broken``: the reference client with one deliberate bug, for a first look at a failure.

It forgets dot-stuffing (RFC 5321 §4.5.2: a line of the message that starts with "." must get
one more "." on the wire), the bug that ends a message early at a line holding a single dot.
``smtp-harness run --client demo-broken -k data.dot-stuffing`` shows what a finding looks like.
It is not a client to test against anything else.
"""

from __future__ import annotations

from harness.adapters.reference import ReferenceAdapter
from harness.client.machine import ClientMachine
from harness.protocol.data import to_crlf

__all__ = ["DemoBrokenAdapter"]


class _ForgetsDotStuffing(ClientMachine):
    def message_wire(self) -> bytes:
        text = to_crlf(self.task.message)
        return (text if text.endswith(b"\r\n") else text + b"\r\n") + b".\r\n"


class DemoBrokenAdapter(ReferenceAdapter):
    def __init__(self) -> None:
        super().__init__(_ForgetsDotStuffing)
        self.name = "demo-broken"
