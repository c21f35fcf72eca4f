"""Failure knobs: which stage of which session gets which reply instead of the normal one.

fail={"rcpt": 550}                 every RCPT gets the profile's 550 (or a generic one)
fail={"rcpt": {2: 550}}            only the 2nd RCPT the server sees (counted over all sessions)
fail={"dot": "554 5.7.1 spam"}     this exact reply to the final dot
fail={"mail": 421}                 421 and the connection closes
fail={"data": "stall"}             no reply at all: the server reads on until the client gives up
fail={"greylist": True}            every RCPT of the first session gets 451 4.7.1 (greylisting)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["STAGES", "Knob", "Knobs", "parse_knobs"]

STAGES = (
    "connect",
    "ehlo",
    "helo",
    "starttls",
    "auth",
    "mail",
    "rcpt",
    "data",
    "dot",
    "rset",
    "noop",
    "quit",
)


@dataclass(frozen=True, slots=True)
class Knob:
    """What to do instead: reply with ``code`` (the profile's text for it) or ``text``, or stall."""

    code: int = 0
    text: str = ""  # a whole reply, lines separated by "\n", each starting with the code
    stall: bool = False


@dataclass(frozen=True, slots=True)
class Knobs:
    every: dict[str, Knob] = field(default_factory=dict)
    nth: dict[str, dict[int, Knob]] = field(default_factory=dict)
    greylist: bool = False

    def pick(self, stage: str, count: int) -> Knob | None:
        """The knob for the ``count``-th (1-based, over the server's life) command of ``stage``."""
        nth = self.nth.get(stage)
        if nth is not None and count in nth:
            return nth[count]
        return self.every.get(stage)


def _knob(where: str, value: Any) -> Knob:
    if value == "stall":
        return Knob(stall=True)
    if isinstance(value, bool):
        raise ValueError(f"{where}: expected a reply code, a reply line or 'stall', got {value!r}")
    if isinstance(value, int):
        if not 200 <= value <= 599:
            raise ValueError(f"{where}: a reply code is 200-599, got {value}")
        return Knob(code=value)
    if isinstance(value, str):
        lines = value.split("\n")
        if not all(len(x) >= 3 and x[:3].isdigit() and x[:3] == lines[0][:3] for x in lines):
            raise ValueError(
                f"{where}: a reply line starts with its 3-digit code (every line the same), got {value!r}"
            )
        return Knob(code=int(value[:3]), text=value)
    raise ValueError(
        f"{where}: expected a reply code, a reply line, 'stall' or {{N: ...}}, got {value!r}"
    )


def parse_knobs(fail: Mapping[str, Any] | None) -> Knobs:
    """Check and compile a ``fail=`` mapping.

    Raises:
        ValueError: an unknown stage or a value that is not a knob; the message says which.
    """
    if not fail:
        return Knobs()
    every: dict[str, Knob] = {}
    nth: dict[str, dict[int, Knob]] = {}
    greylist = False
    for stage, value in fail.items():
        if stage == "greylist":
            greylist = bool(value)
            continue
        if stage not in STAGES:
            raise ValueError(
                f"fail[{stage!r}]: unknown stage; use one of {', '.join(STAGES)} or greylist"
            )
        if isinstance(value, Mapping):
            per: dict[int, Knob] = {}
            for n, v in value.items():
                if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                    raise ValueError(
                        f"fail[{stage!r}]: keys count from 1 (the Nth {stage}), got {n!r}"
                    )
                per[n] = _knob(f"fail[{stage!r}][{n}]", v)
            nth[stage] = per
        else:
            every[stage] = _knob(f"fail[{stage!r}]", value)
    return Knobs(every=every, nth=nth, greylist=greylist)


def parse_cli_knob(text: str) -> tuple[str, Any]:
    """``rcpt=550``, ``rcpt#2=550``, ``data=stall``, ``greylist`` (for ``serve --fail``).

    Raises:
        ValueError: not of that form.
    """
    if text == "greylist":
        return "greylist", True
    stage, eq, value = text.partition("=")
    if not eq or not value:
        raise ValueError(
            f"--fail {text!r}: expected STAGE=CODE, STAGE#N=CODE, STAGE=stall or greylist"
        )
    parsed: Any = int(value) if value.isdigit() else value
    if "#" in stage:
        stage, _, n = stage.partition("#")
        if not n.isdigit():
            raise ValueError(f"--fail {text!r}: N in STAGE#N is a number")
        return stage, {int(n): parsed}
    return stage, parsed
