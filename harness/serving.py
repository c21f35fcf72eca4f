"""What ``smtp-harness serve`` tells the person at the client: what to send, which session is
which, what the server is waiting for, and a summary at the end; and ``serve --profile``.

The scripted serve loop is in ``cli.py``; the profile one is here, to keep the command short.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from harness.errors import ScenarioError
from harness.redaction import Redactor, redact_text
from harness.scenario.model import ClientStep, Scenario, TlsMode
from harness.transcript import Direction, Transcript, display_lines

if TYPE_CHECKING:
    from harness.transcript import Entry

EXIT_OK, EXIT_FAILED = 0, 1

S = TypeVar("S", bound="_Numbered")

__all__ = [
    "SESSIONS_KEPT",
    "LiveTranscript",
    "SessionTally",
    "SessionWatch",
    "listen",
    "message_file",
    "port_number",
    "profile_guide",
    "scenario_guide",
    "serve_profile",
    "show_waits",
]

_COMPARE = {
    "exact": "byte for byte after un-stuffing (line ends as CRLF, a final CRLF may be added)",
    "content": "every header of the file with the same value (Date, Message-ID and other "
    "added headers are fine) and the same body",
    "any": "not compared: only CRLF line ends and dot-stuffing are checked",
}


def message_file(scenario: Scenario) -> Path:
    """Write the scenario's message to a temporary ``smtp-harness-<id>-*.eml``; return it (the
    caller removes it)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", scenario.id)
    fd, name = tempfile.mkstemp(prefix=f"smtp-harness-{safe}-", suffix=".eml")
    with os.fdopen(fd, "wb") as f:
        f.write(scenario.client.message)
    return Path(name)


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
    """Verdict counts of the sessions served, for the summary on exit (counts, not a list:
    a ``serve`` left running for days holds no more for its thousandth session)."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, verdict: str) -> None:
        self.counts[verdict] = self.counts.get(verdict, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        if not self.counts:
            return "summary: no client connected"
        parts = ", ".join(f"{n} {v}" for v, n in self.counts.items())
        return f"summary: {self.total} session(s): {parts}"


def port_number(text: str) -> int:
    """``--port``: a TCP port, 0 (any free one) to 65535; anything else is argparse's clear error."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, got {port}")
    return port


async def listen(start: Awaitable[None], port: int) -> None:
    """Start a server; a port in use or not allowed is one clear error, not a traceback."""
    try:
        await start
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ScenarioError(
            f"cannot listen on 127.0.0.1:{port}: {reason}", field="--port"
        ) from None


class LiveTranscript:
    """The lines ``serve`` prints as a session goes, with AUTH responses, passwords and tokens
    hidden unless ``show_secrets`` (one Redactor per session: a secret's place depends on what
    came before it in that session)."""

    def __init__(self, *, show_secrets: bool = False, known: Iterable[str] = ()) -> None:
        self.show_secrets = show_secrets
        self._known = tuple(known)
        self._redactors: dict[int, Redactor] = {}

    def lines(self, number: int, entry: Entry) -> list[str]:
        """The printed lines for one write of session ``number``."""
        data = entry.data
        if not self.show_secrets:
            data = self._redactor(number).feed(entry.direction, data)
        lock = "tls " if entry.tls else "    "
        return [
            f"[{number}] {entry.at:7.3f} {lock}{entry.direction.value}: {line}"
            for line in display_lines(data)
        ]

    def hide(self, number: int, text: str) -> str:
        """``text`` about session ``number`` (a verdict, a finding) without its secrets."""
        if self.show_secrets:
            return text
        return redact_text(text, self._redactor(number).secrets)

    def forget(self, number: int) -> None:
        self._redactors.pop(number, None)

    def _redactor(self, number: int) -> Redactor:
        if number not in self._redactors:
            self._redactors[number] = Redactor(self._known)
        return self._redactors[number]


class _Numbered(Protocol):
    number: int
    done: asyncio.Event


SESSIONS_KEPT = 100


class SessionWatch(Generic[S]):
    """The serve loop's view of a server's session list: :meth:`ended` hands out each session
    once it has ended, in the order they connected, and drops all but the last ``keep`` of those
    handed out from the list (their transcripts with them), so memory stays bounded however
    long ``serve`` runs.

    Args:
        sessions: the server's own list (``ScriptedServer.sessions``); trimmed in place.
        keep: ended sessions kept after they are reported.
    """

    def __init__(self, sessions: list[S], keep: int = SESSIONS_KEPT) -> None:
        self._sessions = sessions
        self.keep = keep
        self.reported = 0  # number of the last session handed out

    def ended(self) -> list[S]:
        out = []
        for session in self._sessions:
            if session.number <= self.reported:
                continue
            if not session.done.is_set():
                break
            out.append(session)
            self.reported = session.number
        excess = len(self._sessions) - self.keep
        while excess > 0 and self._sessions[0].number <= self.reported:
            del self._sessions[0]
            excess -= 1
        return out


def show_waits(
    sessions: Sequence[tuple[int, Transcript, bool, Callable[[], str]]], shown: dict[int, int]
) -> None:
    """Print what each open session waits for, once it has been quiet for a second after the
    server spoke. ``sessions``: (number, transcript, ended, what it waits for) per session."""
    for n, transcript, ended, waiting_for in sessions:
        entries = transcript.entries
        if ended or not entries or shown.get(n) == len(entries):
            continue
        last = entries[-1]
        quiet = time.monotonic() - transcript.started - last.at
        if last.direction is Direction.SERVER and quiet >= 1.0:
            shown[n] = len(entries)
            print(f"[{n}] waiting for: {waiting_for()}", flush=True)


def serve_profile(args: argparse.Namespace) -> int:
    """``smtp-harness serve --profile NAME``: serve a profile until Ctrl-C (or one session)."""
    from fake_servers.profiles import ProfileServer, ProfileSession
    from fake_servers.profiles.knobs import parse_cli_knob

    users = dict(u.split(":", 1) for u in args.user) if args.user else None
    fail: dict[str, object] = {}
    for spec in args.fail:
        try:
            stage, value = parse_cli_knob(spec)
        except ValueError as exc:
            raise ScenarioError(str(exc)) from None
        before = fail.get(stage)
        if isinstance(value, dict) and isinstance(before, dict):
            before.update(value)
        else:
            fail[stage] = value

    shown = LiveTranscript(show_secrets=args.show_secrets, known=users.values() if users else ())

    def live(session: ProfileSession, entry: Entry) -> None:
        if len(session.transcript.entries) == 1:
            print(f"--- session {session.number}: a client connected", flush=True)
        for line in shown.lines(session.number, entry):
            print(line, flush=True)

    async def serve() -> int:
        try:
            server = ProfileServer(
                args.profile, users=users, fail=fail, port=args.port, on_entry=live
            )
        except (KeyError, ValueError) as exc:
            raise ScenarioError(str(exc).strip("'\"")) from None
        await listen(server.start(), args.port)
        seen = 0
        tally = SessionTally()
        shown_wait: dict[int, int] = {}
        try:  # from here on, Ctrl-C (or SIGTERM) still prints the summary and closes the server
            p = server.profile
            print(
                profile_guide(
                    p.name,
                    p.title,
                    p.tls,
                    host=server.host,
                    port=server.port,
                    ca_path=server.tls.ca_path,
                    users=users,
                    notes=p.notes,
                ),
                flush=True,
            )
            print(
                "Ctrl-C to stop" + (" (exits after one session)" if args.once else ""), flush=True
            )
            while True:
                await asyncio.sleep(0.05)
                show_waits(
                    [
                        (
                            s.number,
                            s.transcript,
                            s.done.is_set(),
                            partial(getattr, s, "waiting_for"),
                        )
                        for s in server.sessions
                    ],
                    shown_wait,
                )
                for session in server.sessions[seen:]:
                    if not session.done.is_set():
                        break
                    seen += 1
                    for m in session.messages:
                        subject = m.message.get("Subject", "")
                        print(
                            f"[{seen}] message: <{m.mail_from}> to {', '.join(f'<{r}>' for r in m.rcpt_to)}, {len(m.content)} octets, Subject: {subject}"
                        )
                    for f in session.findings:
                        text = shown.hide(seen, f.render())
                        print(f"[{seen}] " + text.replace("\n", f"\n[{seen}] "))
                    failed = any(f.fails for f in session.findings)
                    print(
                        f"[{seen}] ended: {session.ended}; {len(session.messages)} message(s); {'FAIL' if failed else 'no wire rule broken'}"
                    )
                    tally.add("with findings" if failed else "clean")
                    # printed: drop it, so a long serve holds no more than the sessions still open
                    session.transcript.entries.clear()
                    session.messages.clear()
                    shown.forget(seen)
                    if args.once:
                        return EXIT_FAILED if failed else EXIT_OK
        finally:
            print(tally.summary(), flush=True)
            await server.close()

    try:
        return asyncio.run(serve())
    except KeyboardInterrupt:
        return EXIT_OK
