"""Fault injection: transport faults laid over any scenario, seeded and deterministic.

A fault is written ``KIND[=VALUE][@REPLY]``, in a scenario's ``faults:`` list or with
``--fault`` on the command line:

    delay=0.5@3      wait 0.5 s before the 3rd server write
    split=every      every server write goes out one byte at a time (REPLY omitted: all writes)
    split=1,4@2      the 2nd write in three pieces, cut at offsets 1 and 4
    421@4            instead of the 4th write: "421 4.3.2 ..." and close
    reset@2          instead of the 2nd write: reset the connection (RST)
    half-close@2     instead of the 2nd write: close our sending side, keep reading
    stall@2          instead of the 2nd write: say nothing more until the client gives up

``delay`` and ``split`` without ``@REPLY`` apply to every write; the session-ending kinds
without ``@REPLY`` hit a write chosen from the seed, so a run is reproducible from its seed.

Delays and splits change nothing a correct client may notice: the scenario is judged as usual.
A split adds cuts and nothing else: the scenario's own pauses stay where the scenario put them,
so ``split=every`` over a write with ``pause: 1.5`` still waits 1.5 s per scenario cut, not per
byte. After a session-ending fault the script no longer applies; the client passes if it
reported an outcome in time and did not claim delivery of a message the server never accepted.
A fault hits the n-th write the server makes in the session, counted the same way in every run,
so a seed picks the same place each time.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the scenario model imports Fault from here
    from harness.scenario.model import Send

__all__ = ["ENDING_KINDS", "KINDS", "Fault", "FaultPlan", "parse_fault", "write_pieces"]

KINDS = ("delay", "split", "421", "reset", "half-close", "stall")
ENDING_KINDS = ("421", "reset", "half-close", "stall")
_SPEC = re.compile(r"^(?P<kind>[a-z0-9-]+)(?:=(?P<value>[^@]+))?(?:@(?P<reply>\d+))?$")


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    reply: int | None = None  # 1-based index of the server write it hits; None: see the module doc
    seconds: float = 0.0
    offsets: tuple[int, ...] = ()  # for split; empty = every byte

    def __str__(self) -> str:
        value = ""
        if self.kind == "delay":
            value = f"={self.seconds:g}"
        elif self.kind == "split":
            value = "=" + (",".join(map(str, self.offsets)) if self.offsets else "every")
        return f"{self.kind}{value}" + (f"@{self.reply}" if self.reply else "")


def parse_fault(text: str) -> Fault:
    """Parse ``KIND[=VALUE][@REPLY]``.

    Raises:
        ValueError: the text is not a fault; the message lists the kinds.
    """
    m = _SPEC.match(text.strip())
    if m is None or m.group("kind") not in KINDS:
        raise ValueError(
            f"{text!r} is not a fault; write KIND[=VALUE][@REPLY] with KIND one of: {', '.join(KINDS)}"
        )
    kind, value, reply = m.group("kind"), m.group("value"), m.group("reply")
    index = int(reply) if reply else None
    if index == 0:
        raise ValueError(f"{text!r}: writes are counted from 1")
    if kind == "delay":
        try:
            seconds = float(value or "")
        except ValueError:
            raise ValueError(f"{text!r}: delay needs seconds, e.g. delay=0.5") from None
        return Fault(kind, index, seconds=seconds)
    if kind == "split":
        if value in (None, "every"):
            return Fault(kind, index)
        try:
            offsets = tuple(sorted({int(v) for v in value.split(",")}))
        except ValueError:
            raise ValueError(f"{text!r}: split takes byte offsets (split=1,4) or every") from None
        if not offsets or offsets[0] < 1:
            raise ValueError(f"{text!r}: split offsets start at 1")
        return Fault(kind, index, offsets=offsets)
    if value is not None:
        raise ValueError(f"{text!r}: {kind} takes no value")
    return Fault(kind, index)


class FaultPlan:
    """The faults of one run, with the seed-chosen writes fixed.

    Args:
        faults: the faults (scenario's and command line's).
        seed: the run's seed.
        scenario_id: mixed into the seed so every scenario gets its own choice.
        writes: how many server writes the script has (the range the seed chooses from).
    """

    def __init__(
        self, faults: tuple[Fault, ...], *, seed: int, scenario_id: str, writes: int
    ) -> None:
        rng = random.Random(f"{seed}:{scenario_id}")
        resolved = []
        for fault in faults:
            if fault.reply is None and fault.kind in ENDING_KINDS:
                fault = Fault(
                    fault.kind, rng.randint(1, max(1, writes)), fault.seconds, fault.offsets
                )
            resolved.append(fault)
        self.faults = tuple(resolved)
        self.seed = seed

    def __bool__(self) -> bool:
        return bool(self.faults)

    def describe(self) -> str:
        return ", ".join(map(str, self.faults)) + f" (seed {self.seed})"

    def for_write(self, n: int) -> list[Fault]:
        """The faults that hit the ``n``-th server write (1-based)."""
        return [
            f
            for f in self.faults
            if f.reply == n or (f.reply is None and f.kind not in ENDING_KINDS)
        ]


def write_pieces(send: Send, faults: Iterable[Fault] = ()) -> list[tuple[float, bytes]]:
    """How one server write goes out: ``(pause before it, bytes)`` per piece.

    The scenario's own cuts (``split``) get its ``pause``; the cuts a ``split`` fault adds get
    none, so splitting never adds time the scenario did not ask for."""
    data = send.data
    own = set(range(1, len(data))) if send.every_byte else set(send.split or ())
    added: set[int] = set()
    for fault in faults:
        if fault.kind == "split":
            added |= set(fault.offsets) if fault.offsets else set(range(1, len(data)))
    cuts = sorted(c for c in own | added if 0 < c < len(data))
    pieces = []
    for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
        pause = send.pause if start in own else 0.0
        pieces.append((pause, data[start:end]))
    return pieces
