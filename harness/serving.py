"""What ``smtp-harness serve`` tells the person at the client: what to send, which session is
which, what the server is waiting for, and a summary at the end.

Only text: the command (``cli.py``) runs the servers and prints what these functions return.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness.scenario.model import ClientStep, Scenario, TlsMode

__all__ = ["SessionTally", "message_file", "profile_guide", "scenario_guide"]

_COMPARE = {
    "exact": "byte for byte after un-stuffing (line ends as CRLF, a final CRLF may be added)",
    "content": "every header of the file with the same value (Date, Message-ID and other "
    "added headers are fine) and the same body",
    "any": "not compared: only CRLF line ends and dot-stuffing are checked",
}


def message_file(scenario: Scenario, ca_path: str | Path) -> Path:
    """Write the scenario's message next to the CA file (``<ca name>-<id>.eml``); return it."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", scenario.id)
    ca = Path(ca_path)
    path = ca.with_name(f"{ca.stem}-{safe}.eml")
    path.write_bytes(scenario.client.message)
    return path


def _data_step(scenario: Scenario) -> ClientStep | None:
    def walk(steps: Iterable[object]) -> ClientStep | None:
        for step in steps:
            if isinstance(step, ClientStep) and step.kind in ("data", "bdat"):
                return step
            for attr in ("branches", "groups"):
                for sub in getattr(step, attr, ()):
                    found = walk(sub)
                    if found is not None:
                        return found
        return None

    return walk(scenario.exchange)


def scenario_guide(
    scenario: Scenario, *, host: str, port: int, ca_path: str | None, message_path: Path | None
) -> str:
    """The instructions for a person pointing a client at a served scenario."""
    task = scenario.client
    how = {
        TlsMode.NONE: "plain TCP (no TLS)",
        TlsMode.STARTTLS: "plain TCP, then STARTTLS",
        TlsMode.IMPLICIT: "implicit TLS (TLS from the first byte, like port 465)",
    }[task.tls]
    lines = [
        f"scenario {scenario.id}: {scenario.title}",
        "what the client must do:",
        f"  connect to   {host}:{port}, {how}",
    ]
    if ca_path is not None:
        lines.append(f"  trust        the CA in {ca_path}")
    if task.auth is not None:
        mechs = f" (mechanism: {' or '.join(task.auth.mechanisms)})" if task.auth.mechanisms else ""
        secret = f"token {task.auth.token}" if task.auth.token else f"password {task.auth.password}"
        lines.append(f"  log in as    {task.auth.username}, {secret}{mechs}")
    if task.sends:
        lines.append(f"  send from    <{task.mail_from}>")
        lines.append(f"  send to      {', '.join(f'<{r}>' for r in task.rcpt_to) or '(nobody)'}")
        step = _data_step(scenario)
        if message_path is not None:
            lines.append(f"  the message  {message_path} ({len(task.message)} octets)")
        if step is not None:
            lines.append(f"  compared     {_COMPARE.get(step.compare, step.compare)}")
            if step.absent:
                lines.append(f"  must not contain {', '.join(step.absent)}")
    other = [op for op in task.operations if op.kind != "send"]
    if other:
        lines.append(
            "  and also     "
            + ", ".join(f"{op.kind.upper()} {op.argument}".strip() for op in other)
        )
    outcomes = " or ".join(o.value for o in scenario.expect.outcomes)
    codes = (
        f" with code {' or '.join(map(str, scenario.expect.codes))}"
        if scenario.expect.codes
        else ""
    )
    lines.append(f"  and report   {outcomes}{codes}")
    return "\n".join(lines)


def profile_guide(
    name: str,
    title: str,
    tls: str,
    *,
    host: str,
    port: int,
    ca_path: str,
    users: dict[str, str] | None,
    notes: Iterable[str],
) -> str:
    how = {
        "none": "plain TCP (STARTTLS if the EHLO reply offers it)",
        "starttls": "plain TCP, then STARTTLS",
        "implicit": "implicit TLS (TLS from the first byte)",
    }[tls]
    lines = [
        f"profile {name}: {title}",
        f"  connect to   {host}:{port}, {how}",
        f"  trust        the CA in {ca_path}",
        "  log in as    "
        + (", ".join(f"{u} / {p}" for u, p in users.items()) if users else "anyone, any password"),
        "  send         any envelope, any number of messages",
    ]
    lines += [f"  note         {n}" for n in notes]
    return "\n".join(lines)


@dataclass(slots=True)
class SessionTally:
    """Verdicts of the sessions served, for the summary on exit."""

    verdicts: list[str] = field(default_factory=list)

    def add(self, verdict: str) -> None:
        self.verdicts.append(verdict)

    def summary(self) -> str:
        if not self.verdicts:
            return "summary: no client connected"
        counts: dict[str, int] = {}
        for v in self.verdicts:
            counts[v] = counts.get(v, 0) + 1
        parts = ", ".join(f"{n} {v}" for v, n in counts.items())
        return f"summary: {len(self.verdicts)} session(s): {parts}"
