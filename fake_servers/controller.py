"""A threaded controller: runs a ScriptedServer on its own event loop, for blocking code.

with ServerController(scenario) as server:
    smtplib.SMTP(server.host, server.port) ...
    session = server.wait_session(timeout=5)
    server.assert_followed()          # raises with the finding and the transcript if not
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

from fake_servers.findings import (
    Finding,
    NoClientError,
    ServerFindingError,
    format_findings,
    scripted_finding,
)
from fake_servers.scripted import ScriptedServer, Session
from fake_servers.threaded import ThreadedServer
from fake_servers.tls import TlsMaterial
from harness.redaction import redact_result, redact_sessions_text, redact_transcript
from harness.scenario.model import Scenario

__all__ = ["ServerController"]


class ServerController(ThreadedServer[ScriptedServer]):
    """Start and stop a ScriptedServer from synchronous code.

    Args:
        scenario: what to play.
        tls: certificates (default: the process's shared ones).
        host, port: where to listen (127.0.0.1 and a free port by default).
        ready_timeout: seconds ``start()`` waits for the server to listen.
        show_secrets: show AUTH responses, passwords and tokens in findings and transcripts
            (hidden by default: a test log is read by more people than the test's author).
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        tls: TlsMaterial | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        ready_timeout: float = 5.0,
        show_secrets: bool = False,
    ) -> None:
        self.tls = tls or TlsMaterial.shared()
        self.show_secrets = show_secrets
        super().__init__(
            ScriptedServer(scenario, tls=self.tls, host=host, port=port),
            ready_timeout=ready_timeout,
        )

    @property
    def ca_path(self) -> str:
        """The CA file a client must trust for STARTTLS or implicit TLS."""
        return self.tls.ca_path

    @property
    def sessions(self) -> list[Session]:
        return self.server.sessions

    def wait_session(self, timeout: float = 10.0) -> Session:
        """The first session once it has ended.

        Raises:
            NoClientError: no client connected within ``timeout`` seconds, or its session had
                not ended by then (the message says which, and what the script waited for).
        """
        session: Session | None = self._call(self.server.first_session(timeout), timeout + 1.0)
        if session is not None:
            return session
        where = f"{self.host}:{self.port}"
        if not self.sessions:
            raise NoClientError(f"no client connected to {where} within {timeout:g} s")
        raise NoClientError(
            f"a client connected to {where} but its session had not ended within {timeout:g} s"
        )

    # -- judging, for tests (the pytest plugin calls these when a test ends) --

    def describe(self) -> str:
        return f"the scripted server for {self.server.scenario.id} on {self.host}:{self.port}"

    def settle(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for sessions still running to end."""
        if not self.running:
            return

        async def all_done() -> None:
            waits = [s.done.wait() for s in self.server.sessions]
            if waits:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.gather(*waits), timeout)

        self._call(all_done(), timeout + 1.0)

    def findings(self) -> list[Finding]:
        """A finding for every ended session that left the script or ended before it."""
        out = []
        for number, session in enumerate(self.sessions, 1):
            if session.done.is_set():
                finding = scripted_finding(self.server.scenario, session, number)
                if finding is not None:
                    out.append(finding)
        return out

    def report_sections(self) -> list[tuple[str, str]]:
        """One section per session: its transcript, with the failing step marked."""
        from fake_servers.findings import short_path
        from harness.report.text import format_failure
        from harness.results import Result, Verdict

        sections = []
        scenario = self.server.scenario
        scenario = dataclasses.replace(scenario, path=short_path(scenario.path))
        for number, session in enumerate(self.sessions, 1):
            title = f"smtp-harness: {scenario.id} on {self.host}:{self.port}, session {number}"
            if not session.done.is_set():
                text = "still running when the test ended (not judged)\n"
                transcript = session.transcript
                if not self.show_secrets:
                    transcript, _ = redact_transcript(transcript, self._known_secrets())
                sections.append((title, text + transcript.render()))
                continue
            failed = session.failure is not None or not (session.complete or session.stopped)
            result = Result(
                scenario=scenario,
                client="the code under test",
                verdict=Verdict.FAIL if failed else Verdict.PASS,
                message=session.failure.message if session.failure else "",
                failure=session.failure,
                transcript=session.transcript,
            )
            if not self.show_secrets:
                result = redact_result(result)
            sections.append((title, format_failure(result)))
        return sections

    def redact(self, text: str) -> str:
        """``text`` (a finding) without the credentials any session sent, unless show_secrets."""
        if self.show_secrets:
            return text
        return redact_sessions_text(
            text, (s.transcript for s in self.sessions), self._known_secrets()
        )

    def _known_secrets(self) -> tuple[str, ...]:
        credentials = self.server.scenario.client.auth
        return (credentials.password, credentials.token) if credentials else ()

    def assert_followed(self, timeout: float = 10.0) -> None:
        """Raise unless a client connected and every ended session followed the script.

        Waits up to ``timeout`` seconds for a first client and for running sessions to end.

        Raises:
            ServerFindingError: a session left the script: step, expected, got, rule, and
                every session's transcript.
            NoClientError: no client connected within ``timeout`` seconds.
        """
        if not self.sessions:
            self.wait_session(timeout)
        self.settle(timeout)
        findings = [f for f in self.findings() if f.fails]
        if findings:
            text = format_findings(self, findings)
            transcripts = "\n".join(f"--- {t}\n{body}" for t, body in self.report_sections())
            raise ServerFindingError(f"{text}\n{transcripts}", findings)

    def __enter__(self) -> ServerController:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
