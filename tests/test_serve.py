"""``smtp-harness serve``: what it tells the person at the client, run as a real command with a
real client connecting to it."""

from __future__ import annotations

import queue
import re
import smtplib
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.scenario.loader import load_scenario

TIMEOUT = 30


class Serve:
    """``smtp-harness serve ...`` in a subprocess, its output read line by line (by a thread:
    select() on a buffered pipe misses lines already in Python's buffer)."""

    def __init__(self, *args: str) -> None:
        command = [sys.executable, "-c", "from harness.cli import main; raise SystemExit(main())"]
        self.proc = subprocess.Popen(
            [*command, "serve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def until(self, pattern: str, timeout: float = 10) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for line in self.lines[seen:]:
                m = re.search(pattern, line)
                if m:
                    return m
            seen = len(self.lines)
            try:
                line = self._queue.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                line = None
            if line is None:
                raise AssertionError(f"{pattern!r} not in the output:\n" + "\n".join(self.lines))
            self.lines.append(line)

    def finish(self) -> tuple[int, str]:
        code = self.proc.wait(timeout=TIMEOUT)
        while (line := self._queue.get(timeout=TIMEOUT)) is not None:
            self.lines.append(line)
        return code, "\n".join(self.lines)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def serve() -> object:
    started: list[Serve] = []

    def make(*args: str) -> Serve:
        s = Serve(*args)
        started.append(s)
        return s

    yield make
    for s in started:
        s.kill()


def test_a_scenario_tells_what_to_send_numbers_sessions_and_sums_up(serve) -> None:
    s = serve("servers.gmail.starttls-587-send", "--once")  # a corpus id
    port = int(s.until(r"connect to   127\.0\.0\.1:(\d+), plain TCP, then STARTTLS")[1])
    ca = s.until(r"trust        the CA in (\S+)")[1]
    s.until(r"log in as    alice@example\.com, password abcd efgh ijkl mnop")
    s.until(r"send from    <alice@example\.com>")
    s.until(r"send to      <bob@example\.net>")
    eml = Path(s.until(r"the message  (\S+\.eml) \(\d+ octets\)")[1])
    assert eml.parent == Path(ca).parent  # next to the CA
    scenario = load_scenario(id="servers.gmail.starttls-587-send")
    assert eml.read_bytes() == scenario.client.message
    s.until(r"compared     every header of the file with the same value")
    s.until(r"and report   delivered")
    client = smtplib.SMTP("127.0.0.1", port, timeout=10)
    client.ehlo("client.example")
    s.until(r"^\[1\] waiting for: STARTTLS$")  # shown while the server waits
    client.quit()
    code, out = s.finish()
    assert code == 1
    assert "--- session 1: a client connected" in out
    assert re.search(r"^\[1\] +\d+\.\d+ +C: ehlo client\.example$", out, re.MULTILINE), out
    assert "[1] verdict: FAIL - unexpected command; expected STARTTLS" in out
    assert out.splitlines()[-1] == "summary: 1 session(s): 1 failed"
    assert not eml.exists()  # removed on exit


def test_a_profile_takes_any_envelope_and_reports_each_message(serve) -> None:
    s = serve("--profile", "postfix", "--fail", "rcpt#2=550", "--user", "a:pw", "--once")
    port = int(s.until(r"connect to   127\.0\.0\.1:(\d+)")[1])
    s.until(r"log in as    a / pw")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        refused = client.sendmail(
            "a@example.com", ["b@x.org", "c@x.org"], b"Subject: one\r\n\r\nhi\r\n"
        )
        with pytest.raises(smtplib.SMTPDataError):  # Postfix >= 3.9: 521, and it closes
            client.sendmail("a@example.com", ["d@x.org"], b"Subject: two\n\nbare LF\n")
    assert list(refused) == ["c@x.org"]
    code, out = s.finish()
    assert code == 1, out
    assert "[1] message: <a@example.com> to <b@x.org>, 20 octets, Subject: one" in out
    assert "[1] session 1: the message has a bare line end" in out
    assert "[1]   rule:     R-LINE-1 (RFC 5321 §2.3.8: clients MUST NOT send bare CR or LF)" in out
    assert "summary: 1 session(s): 1 with findings" in out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--profile", "gmial"], "no server profile 'gmial'; the profiles are: 163, gmail"),
        (["--profile", "gmail", "--fail", "rcpt"], "expected STAGE=CODE"),
        (["--profile", "gmail", "--fail", "rpct=550"], "unknown stage"),
        (["auth.logn"], "did you mean auth.login"),
        ([], "serve needs a scenario (a file or a corpus id) or --profile NAME"),
        (["basic.null-sender", "--port", "-1"], "a port is 0 to 65535, got -1"),
        (["--profile", "gmail", "--port", "70000"], "a port is 0 to 65535, got 70000"),
        (["basic.null-sender", "--port", "abc"], "expected a port number, got 'abc'"),
    ],
)
def test_bad_serve_arguments_are_clear_errors(serve, args: list[str], words: str) -> None:
    code, out = serve(*args).finish()
    assert code == 2, out
    assert words in out
    assert "Traceback" not in out


def test_control_bytes_from_a_client_reach_the_terminal_escaped(serve) -> None:
    """A client's ESC and BEL bytes are shown as \\x1b and \\x07, never written raw to the
    person's terminal, both for a scenario and for a profile."""
    import socket

    for args in (("servers.gmail.starttls-587-send", "--once"), ("--profile", "postfix")):
        s = serve(*args)
        port = int(s.until(r"127\.0\.0\.1:(\d+)")[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.recv(4096)  # the greeting
            sock.sendall(b"EHLO \x1b]0;owned\x07evil.example\r\n")
            s.until(r"C: EHLO ")
        s.kill()
        shown = "\n".join(s.lines)
        assert "\x1b" not in shown and "\x07" not in shown, shown
        assert "EHLO \\x1b]0;owned\\x07evil.example" in shown, shown


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_serve_stopped_by_a_signal_removes_its_files_and_prints_no_traceback(
    tmp_path: Path, signame: str
) -> None:
    """kill and a closed terminal end ``serve`` as Ctrl-C does: the CA and message files in the
    temporary folder are removed, the summary printed, no traceback. A plain scenario makes no
    CA file at all."""
    import os
    import signal

    env = {**os.environ, "TMPDIR": str(tmp_path)}
    command = [sys.executable, "-c", "from harness.cli import main; raise SystemExit(main())"]
    for scenario, has_ca in (
        ("servers.gmail.starttls-587-send", True),
        ("basic.null-sender", False),
    ):
        proc = subprocess.Popen(
            [*command, "serve", scenario],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("Ctrl-C to stop"):
                break
        made = sorted(p.name for p in tmp_path.iterdir())
        assert any(n.startswith("smtp-harness-ca-") for n in made) is has_ca, made
        proc.send_signal(getattr(signal, signame))
        out = proc.communicate(timeout=TIMEOUT)[0]
        assert proc.returncode == 0, out
        assert "Traceback" not in out and "summary: no client connected" in out, out
        assert list(tmp_path.iterdir()) == [], sorted(p.name for p in tmp_path.iterdir())


def test_a_port_in_use_is_a_clear_error(serve) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        for args in (["basic.null-sender"], ["--profile", "gmail"]):
            code, out = serve(*args, "--port", port).finish()
            assert code == 2, out
            assert f"cannot listen on 127.0.0.1:{port}" in out and "address already in use" in out
            assert "Traceback" not in out, out
