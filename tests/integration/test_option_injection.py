"""No scenario value can become an option or a command of a shipped command-line client.

Each shipped config is run twice with hostile values (a leading "-", "--output-file=...",
spaces, quotes, "$(...)", a newline) in the sender, a recipient, the EHLO name, the user name and
the password: once with a recording program of the same name first on PATH, which writes down
the argument list it was given, and once with the real program (when installed) pointed at a
closed port, after which no file named in a hostile value may exist. A config whose program
would read a value starting with "-" as an option must refuse it (the scenario is skipped), and
a password must not be in the command line when the program can take it another way.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.parse
from dataclasses import replace
from pathlib import Path

import pytest

from fake_servers.tls import TlsMaterial
from harness.adapters.base import Target, unsupported_reason
from harness.adapters.command import CommandAdapter, builtin_config_path
from harness.corpus import corpus_path
from harness.outcome import ClientOutcome
from harness.scenario.loader import load_scenario
from harness.scenario.model import ClientTask, Credentials

from .recording import recording_program

ROOT = Path(__file__).parents[2]
CONFIGS = {
    "swaks": builtin_config_path("swaks"),
    "curl": builtin_config_path("curl"),
    "msmtp": builtin_config_path("msmtp"),
    "sendemail": ROOT / "docs/clients/sendemail.yaml",
    "nodemailer": builtin_config_path("nodemailer"),
    "s-nail": builtin_config_path("s-nail"),
}
# How each program's own parser treats a value, as measured (see the configs' comments):
#   next-argument: an option's value is the next argument, whatever it starts with;
#   equals-form:   values are given as "--option=value", recipients after "--";
#   refuses:       a value starting with "-" would be read as an option, so the config refuses it.
PARSER = {
    "swaks": "refuses",
    "curl": "next-argument",
    "msmtp": "equals-form",
    "sendemail": "refuses",
    "nodemailer": "equals-form",  # our driver: only --key=value, recipients after "--"
    "s-nail": "next-argument",  # -S name=value, -s SUBJECT, -b ADDR; recipients after "-."
}
# Programs that can take the password other than on the command line, and do in our configs.
PASSWORD_OFF_COMMAND_LINE = {"swaks", "msmtp", "nodemailer"}
FIELDS = ("mail_from", "rcpt", "ehlo_name", "username", "password")


def _hostile(tmp: Path) -> list[str]:
    return [
        "-x",
        f"--output-file={tmp / 'output-file'}",
        f"--logfile={tmp / 'logfile'}",
        f"-o{tmp / 'dash-o'}",
        "two words@example.com",
        "quo'te\"s@example.com",
        f"$(touch {tmp / 'subshell'})@example.com",
        "line\nbreak@example.com",
        f"|touch {tmp / 'pipe'}",  # a mail user agent's pipe and file recipients
        str(tmp / "file-recipient"),
    ]


def _task(field: str, value: str) -> ClientTask:
    base = ClientTask(
        mail_from="alice@example.com",
        rcpt_to=("bob@example.com", "carol@example.com"),
        message=b"Subject: t\r\n\r\nhi\r\n",
        auth=Credentials(username="alice", password="benign-secret", mechanisms=("PLAIN",)),
        ehlo_name="client.example.com",
    )
    if field == "rcpt":
        return replace(base, rcpt_to=("bob@example.com", value))
    if field in ("username", "password"):
        assert base.auth is not None
        return replace(base, auth=replace(base.auth, **{field: value}))
    return replace(base, **{field: value})


def _target() -> Target:
    tls = TlsMaterial.shared()
    # Port 9 (discard) has no listener on these machines: the program parses its arguments,
    # then fails to connect.
    return Target(host="127.0.0.1", port=9, ca_file=tls.ca_path, ssl_context=tls.client_context())


def _shim(directory: Path, program: str, record: Path) -> None:
    recording_program(directory, program, record)


def _deliver(adapter: CommandAdapter, task: ClientTask) -> ClientOutcome:
    return asyncio.run(adapter.deliver(task, _target()))


def _places(value: str, argv: list[str]) -> list[int]:
    forms = {value, urllib.parse.quote(value, safe="")}
    # The CA file's random temporary name can hold "-x" itself (smtp-harness-ca-x1b2.pem).
    ca = TlsMaterial.shared().ca_path
    return [i for i, a in enumerate(argv) if any(f in a.replace(ca, "") for f in forms)]


@pytest.mark.parametrize("client", sorted(CONFIGS))
def test_hostile_values_reach_the_program_as_values(
    client: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = CommandAdapter.from_file(CONFIGS[client])
    adapter = CommandAdapter(replace(loaded.config, requires=()))  # the stand-in needs nothing
    record = tmp_path / "argv.json"
    _shim(tmp_path / "bin", adapter.config.program, record)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")

    _deliver(adapter, _task("mail_from", "alice@example.com"))
    benign = json.loads(record.read_text())["argv"]
    checked = 0
    for field in FIELDS:
        for value in _hostile(tmp_path):
            record.unlink(missing_ok=True)
            task = _task(field, value)
            outcome = _deliver(adapter, task)
            where = f"{client}: {field}={value!r}"
            if value.startswith("-") and PARSER[client] == "refuses":
                assert outcome.unsupported, where
                assert not record.exists(), f"{where}: the program was run"
                scenario = replace(load_scenario(corpus_path() / "auth/login.yaml"), client=task)
                assert unsupported_reason(adapter, scenario) == outcome.unsupported
                checked += 1
                continue
            assert not outcome.unsupported, where
            got = json.loads(record.read_text())
            argv = got["argv"]
            assert len(argv) == len(benign), f"{where}: the argument list changed shape: {argv}"
            places = _places(value, argv)
            if field == "password" and client in PASSWORD_OFF_COMMAND_LINE:
                assert places == [], f"{where}: the password is on the command line"
                if client == "swaks":
                    assert got["env"]["SWAKS_OPT_auth_password"] == value
                continue
            assert places, f"{where}: the value did not reach the program intact: {argv}"
            marker = adapter.config.end_of_options
            end = argv.index(marker) if marker and marker in argv else len(argv)
            for i in places:
                arg = argv[i]
                checked += value.startswith("-")
                if not arg.startswith("-") or i > end:  # no parser reads this as an option
                    continue
                if PARSER[client] == "next-argument":  # the option before it takes it
                    assert argv[i - 1].startswith("-") and argv[i - 1] in benign, where
                elif i < end:  # equals-form: glued to its option as "--option=...value"
                    option, equals, rest = arg.partition("=")
                    assert equals and option in {a.partition("=")[0] for a in benign}, where
                    assert value in rest, f"{where}: {arg!r}"
    assert checked, "no value that looks like an option was checked"


@pytest.mark.parametrize("client", sorted(CONFIGS))
def test_the_real_program_writes_no_file_a_value_names(client: str, tmp_path: Path) -> None:
    adapter = CommandAdapter.from_file(CONFIGS[client])
    missing = adapter.missing()
    if missing is not None:
        message = f"{missing} (see the README)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    values = [v for v in _hostile(tmp_path) if str(tmp_path) in v]  # those that name a file
    for field in FIELDS:
        for value in values:
            _deliver(adapter, _task(field, value))
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [], f"{client} wrote {left} when given hostile values"


def test_swaks_keeps_the_password_out_of_its_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = CommandAdapter.from_file(CONFIGS["swaks"])
    record = tmp_path / "argv.json"
    _shim(tmp_path / "bin", "swaks", record)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    _deliver(adapter, _task("password", "hunter2"))
    got = json.loads(record.read_text())
    assert not any("hunter2" in a for a in got["argv"])
    assert got["env"] == {"SWAKS_OPT_auth_password": "hunter2"}
    # No authentication, no password variable (swaks would otherwise be told to look for one).
    _deliver(adapter, replace(_task("password", "x"), auth=None))
    assert json.loads(record.read_text())["env"] == {}
