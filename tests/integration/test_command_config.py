"""What a command config can say about a real client (docs/clients.md): optional arguments,
the newer placeholders, header and envelope-only recipients, and the declarations that turn
"this client cannot do that" into a skip with the reason instead of a failure."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from fake_servers.tls import TlsMaterial
from harness.adapters.base import Target, unsupported_reason
from harness.adapters.command import CommandAdapter, CommandConfig
from harness.corpus import corpus_path
from harness.errors import ScenarioError
from harness.results import Verdict
from harness.scenario.loader import load_scenario
from harness.scenario.model import ClientTask, Outcome

from .conftest import run
from .recording import recording_program


def _adapter(tmp_path: Path, body: str, *, status: int = 1) -> tuple[CommandAdapter, Path]:
    record = tmp_path / "record.json"
    recording_program(tmp_path / "bin", "rec", record, status=status)
    config = tmp_path / "client.yaml"
    config.write_text(f"name: rec\nprogram: {tmp_path / 'bin' / 'rec'}\n{body}")
    return CommandAdapter.from_file(config), record


def _called(adapter: CommandAdapter, record: Path, task: ClientTask) -> dict[str, object]:
    tls = TlsMaterial.shared()
    target = Target(host="127.0.0.1", port=9, ca_file=tls.ca_path, ssl_context=tls.client_context())
    asyncio.run(adapter.deliver(task, target))
    got: dict[str, object] = json.loads(record.read_text())
    return got


def _task(name: str = "basic/bcc-three-recipients.yaml") -> ClientTask:
    return load_scenario(corpus_path() / name).client


def test_an_optional_group_is_left_out_when_the_task_leaves_the_value_to_the_client(
    tmp_path: Path,
) -> None:
    adapter, record = _adapter(
        tmp_path,
        'args: [--from, "{mail_from}", {optional: [--ehlo, "{ehlo_name}"]},\n'
        '       {optional: ["--timeout={timeout}"], otherwise: ["--timeout=20"]}]\n'
        "tls: {none: []}\n",
    )
    task = _task()
    assert task.ehlo_name is None and task.timeout is None
    assert _called(adapter, record, task)["argv"] == ["--from", task.mail_from, "--timeout=20"]
    set_both = replace(task, ehlo_name="client.example.org", timeout=2.5)
    assert _called(adapter, record, set_both)["argv"] == [
        "--from",
        task.mail_from,
        "--ehlo",
        "client.example.org",
        "--timeout=2.5",
    ]


def test_a_placeholder_that_may_be_unset_outside_a_group_is_a_config_error(
    tmp_path: Path,
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text('name: x\nprogram: x\nargs:\n  - "--timeout={timeout}"\ntls: {none: []}\n')
    with pytest.raises(ScenarioError) as exc:
        CommandConfig.from_file(config)
    assert str(exc.value).startswith(f"{config}:4: args[0]: {{timeout}} has no value")
    config.write_text("name: x\nprogram: x\nargs:\n  - {optional: [--fixed]}\ntls: {none: []}\n")
    with pytest.raises(ScenarioError, match=r":4: args\[0\]\.optional: names no placeholder"):
        CommandConfig.from_file(config)


def test_tls_mode_server_name_subject_body_and_config_dir(tmp_path: Path) -> None:
    adapter, record = _adapter(
        tmp_path,
        'args: ["{tls_mode}", "{server_name}", "{subject}", "{config_dir}", "{body_file}"]\n'
        "stdin: body\n"
        "tls: {none: [], starttls: []}\n",
    )
    task = replace(_task(), tls=_task("starttls/reehlo-auth-after-tls.yaml").tls)
    got = _called(adapter, record, task)
    argv = got["argv"]
    assert isinstance(argv, list)
    assert argv[:4] == ["starttls", "localhost", "Lunch on Friday", str(tmp_path)]
    assert got["stdin"] == "Shall we meet at noon?\n"  # a local text file: LF line ends
    assert argv[4].endswith("body.txt")


def test_header_recipients_and_envelope_only_ones(tmp_path: Path) -> None:
    adapter, record = _adapter(
        tmp_path,
        'args: [--to, "{header_rcpt_list}", --bcc, "{bcc_list}"]\n'
        'each_recipient: [--rcpt, "{rcpt}"]\n'
        'each_bcc: [-b, "{rcpt}"]\n'
        'end_of_options: "--"\n'
        "tls: {none: []}\n",
    )
    assert _called(adapter, record, _task())["argv"] == [
        "--to",
        "bob@example.com,carol@example.net",
        "--bcc",
        "dave@example.net",
        "-b",  # an option: before the end of options
        "dave@example.net",
        "--",
        "--rcpt",
        "bob@example.com",
        "--rcpt",
        "carol@example.net",
    ]


def test_declared_limits_skip_with_the_reason(tmp_path: Path) -> None:
    adapter, _ = _adapter(
        tmp_path,
        "args: []\ntls: {none: []}\npicks_auth_mechanism: true\nsends_null_sender: false\n"
        'auth: {any: ["{username}"]}\n',
    )
    login = load_scenario(corpus_path() / "auth/login.yaml")
    assert login.client.auth is not None and login.client.auth.mechanisms
    assert "picks its own AUTH mechanism" in (unsupported_reason(adapter, login) or "")
    chosen = replace(
        login, client=replace(login.client, auth=replace(login.client.auth, mechanisms=()))
    )
    assert unsupported_reason(adapter, chosen) is None
    bounce = load_scenario(corpus_path() / "basic/null-sender.yaml")
    assert "cannot send the null sender" in (unsupported_reason(adapter, bounce) or "")


def test_an_exit_status_for_cannot_do_this_is_a_skip(
    tmp_path: Path, tls_material: TlsMaterial
) -> None:
    adapter, _ = _adapter(
        tmp_path, "args: []\ntls: {none: []}\noutcome: {unsupported: [78]}\n", status=78
    )
    scenario = load_scenario(corpus_path() / "basic/null-sender.yaml")
    result = run(scenario, adapter, tls_material)
    assert result.verdict is Verdict.SKIP
    assert "says it cannot do this (exit status 78" in result.message
    other, _ = _adapter(
        tmp_path, "args: []\ntls: {none: []}\noutcome: {unsupported: [78]}\n", status=1
    )
    assert run(scenario, other, tls_material).verdict is Verdict.FAIL


def test_saying_cannot_after_breaking_the_script_is_a_failure(
    tmp_path: Path, tls_material: TlsMaterial
) -> None:
    speak = (
        "import socket, sys\n"
        "s = socket.create_connection((sys.argv[1], int(sys.argv[2])))\n"
        "s.recv(100); s.sendall(b'EHLO x\\r\\n'); s.recv(1000)\n"
        "s.sendall(b'NOOP wrong\\r\\n'); s.recv(100); sys.exit(78)\n"
    )
    config = tmp_path / "c.yaml"
    config.write_text(
        f"name: talker\nprogram: {sys.executable}\nargs: [-c, {json.dumps(speak)}, '{{host}}', '{{port}}']\n"
        "tls: {none: []}\noutcome: {unsupported: [78]}\n"
    )
    scenario = load_scenario(corpus_path() / "basic/null-sender.yaml")
    result = run(scenario, CommandAdapter.from_file(config), tls_material)
    assert result.verdict is Verdict.FAIL, result.message


def test_a_code_pattern_that_finds_nothing_leaves_the_code_unknown(
    tmp_path: Path, tls_material: TlsMaterial
) -> None:
    """Output without a reply code: the code is unknown (None), not a wrong code."""
    adapter, _ = _adapter(
        tmp_path, "args: []\ntls: {none: []}\noutcome: {code_pattern: 'server said (\\d{3})'}\n"
    )
    tls = TlsMaterial.shared()
    target = Target(host="127.0.0.1", port=9, ca_file=tls.ca_path, ssl_context=tls.client_context())
    outcome = asyncio.run(adapter.deliver(_task(), target))
    assert outcome.outcome is Outcome.FAILED and outcome.code is None
    assert "None" not in outcome.describe()


@pytest.mark.skipif(os.name != "posix", reason="uses a POSIX program")
def test_auth_env_is_set_only_when_the_task_authenticates(tmp_path: Path) -> None:
    adapter, record = _adapter(
        tmp_path,
        'args: []\ntls: {none: []}\nauth: {any: []}\nauth_env: {SWAKS_OPT_pw: "{password}"}\n',
    )
    task = load_scenario(corpus_path() / "auth/login.yaml").client
    assert task.auth is not None
    assert _called(adapter, record, replace(task, tls=_task().tls))["env"] == {
        "SWAKS_OPT_pw": task.auth.password
    }
    assert _called(adapter, record, _task())["env"] == {}


def test_control_bytes_a_client_sends_or_prints_are_escaped_in_the_text_report(
    tmp_path: Path, tls_material: TlsMaterial
) -> None:
    """ESC and BEL from the client (on the wire and on its stderr) are shown escaped: the report
    must not retitle or beep the reader's terminal."""
    from harness.report.text import format_failure, format_result_line

    speak = (
        "import socket, sys\n"
        "s = socket.create_connection((sys.argv[1], int(sys.argv[2])))\n"
        "s.recv(100); s.sendall(b'EHLO \\x1b]0;owned\\x07x\\r\\n'); s.recv(1000)\n"
        "sys.stderr.write('\\x1b[2J\\x07 gave up\\n'); sys.exit(1)\n"
    )
    config = tmp_path / "c.yaml"
    config.write_text(
        f"name: talker\nprogram: {sys.executable}\nargs: [-c, {json.dumps(speak)}, '{{host}}', '{{port}}']\n"
        "tls: {none: []}\n"
    )
    scenario = load_scenario(corpus_path() / "basic/null-sender.yaml")
    result = run(scenario, CommandAdapter.from_file(config), tls_material)
    assert result.verdict is Verdict.FAIL, result.message
    shown = format_failure(result) + "\n" + format_result_line(result)
    assert "\x1b" not in shown and "\x07" not in shown, shown
    assert "\\x1b[2J\\x07 gave up" in shown, shown
