"""The built-in adapters against real servers: real smtplib, aiosmtplib, swaks, curl and msmtp.

Command-line clients are Debian packages (see the README). Locally a missing binary skips its
tests with the reason; in CI (CI=true) it fails them, so that CI can never go green by skipping.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from fake_servers.tls import TlsMaterial
from harness.adapters.base import load_adapter
from harness.adapters.command import CommandAdapter, CommandConfig
from harness.corpus import corpus_path
from harness.deviations import apply_deviations, deviations_for
from harness.errors import ScenarioError
from harness.outcome import ClientOutcome
from harness.report.text import format_failure
from harness.results import Verdict
from harness.scenario.loader import load_scenario, parse_scenario
from harness.scenario.model import Outcome

from .conftest import run

COMMAND_CLIENTS = ("swaks", "curl", "msmtp", "nodemailer", "s-nail")
ALL_CLIENTS = ("reference", "smtplib", "aiosmtplib", *COMMAND_CLIENTS)
# s-nail composes its own message and says HELO when it needs no extension: the smoke scenarios
# judge both too strictly until the harness grades them as the RFC does (issue 10), so it has
# its own smoke test below.
SMOKE_CLIENTS = tuple(c for c in ALL_CLIENTS if c != "s-nail")
SMOKE = (
    "auth/login.yaml",
    "starttls/reehlo-auth-after-tls.yaml",
    "tls/implicit-gmail-465.yaml",
    "errors/rcpt-550-unknown-user.yaml",
    "basic/bcc-three-recipients.yaml",
)


def _need_program(client: str) -> None:
    if client not in COMMAND_CLIENTS:
        return
    adapter = load_adapter(client)
    assert isinstance(adapter, CommandAdapter)
    missing = adapter.missing()
    if missing is not None:
        message = f"{missing} (see the README: Command-line clients)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.mark.parametrize("name", SMOKE)
@pytest.mark.parametrize("client", SMOKE_CLIENTS)
def test_each_client_passes_the_smoke_scenarios(
    client: str, name: str, tls_material: TlsMaterial
) -> None:
    _need_program(client)
    adapter = load_adapter(client)
    result = apply_deviations(
        run(load_scenario(corpus_path() / name), adapter, tls_material), deviations_for(client)
    )
    assert result.verdict in (Verdict.PASS, Verdict.SKIP), format_failure(result)


WRONG_SCRIPT = """
version: 1
id: test.expects-vrfy
limits: {total: 10, read: 1}
client: {mail_from: a@example.com, rcpt_to: [b@example.com], message: "Subject: t\\n\\nhi\\n"}
expect: {outcome: delivered}
exchange:
  - server: "220 mx.example.com ESMTP"
  - any_of:
      - [{client: "EHLO {domain}"}, {server: "250 mx.example.com"}]
      - [{client: "HELO {domain}"}, {server: "250 mx.example.com"}]
  - client: "VRFY {any}"             # no client sends this during a plain send
  - server: "252 ok"
"""


@pytest.mark.parametrize("client", ALL_CLIENTS)
def test_each_client_can_fail(client: str, tls_material: TlsMaterial) -> None:
    _need_program(client)
    result = run(parse_scenario(WRONG_SCRIPT, "wrong.yaml"), load_adapter(client), tls_material)
    assert result.verdict is Verdict.FAIL
    assert result.failure is not None
    assert result.failure.expected == "VRFY {any}"
    assert result.failure.actual.upper().startswith("MAIL FROM:<A@EXAMPLE.COM>")


@pytest.mark.parametrize("client", COMMAND_CLIENTS)
def test_command_clients_skip_what_they_cannot_do(client: str, tls_material: TlsMaterial) -> None:
    _need_program(client)
    result = run(
        load_scenario(corpus_path() / "vrfy/pymotw-sendmail.yaml"),
        load_adapter(client),
        tls_material,
    )
    assert result.verdict is Verdict.SKIP
    assert "vrfy" in result.message


# --- the command adapter itself, with harmless programs ---------------------------------------


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "client.yaml"
    path.write_text(text)
    return path


async def _deliver(adapter: CommandAdapter, mail_from: str) -> ClientOutcome:
    from dataclasses import replace

    from harness.adapters.base import Target

    scenario = load_scenario(corpus_path() / "basic/null-sender.yaml")
    task = replace(scenario.client, mail_from=mail_from)
    tls = TlsMaterial.shared()
    target = Target(host="127.0.0.1", port=9, ca_file=tls.ca_path, ssl_context=tls.client_context())
    return await adapter.deliver(task, target)


def test_placeholders_never_reach_a_shell(tmp_path: Path) -> None:
    import asyncio

    marker = tmp_path / "pwned"
    config = _config(
        tmp_path,
        'name: echo\nprogram: "false"\nargs: ["{mail_from}"]\ntls: {none: []}\n'
        "outcome: {delivered: [0]}\n",
    )
    hostile = f"$(touch {marker}); touch {marker}`touch {marker}`@example.com"
    outcome = asyncio.run(_deliver(CommandAdapter.from_file(config), hostile))
    assert outcome.outcome is Outcome.FAILED  # `false` exits 1
    assert not marker.exists()


def test_a_hung_program_is_killed_at_its_time_limit(tmp_path: Path) -> None:
    import asyncio
    import time

    config = _config(
        tmp_path, "name: slow\nprogram: sleep\nargs: ['30']\ntimeout: 0.5\ntls: {none: []}\n"
    )
    started = time.monotonic()
    outcome = asyncio.run(_deliver(CommandAdapter.from_file(config), "a@example.com"))
    assert time.monotonic() - started < 5
    assert outcome.outcome is Outcome.FAILED
    assert "did not finish within 0.5 s" in outcome.message


def test_config_errors_name_file_line_and_field(tmp_path: Path) -> None:
    config = _config(tmp_path, "name: x\nprogram: x\nargs:\n  - '{nosuch}'\ntls: {none: []}\n")
    with pytest.raises(ScenarioError) as exc:
        CommandConfig.from_file(config)
    assert str(exc.value).startswith(
        f"{config}:4: args[0]: unknown placeholder {{nosuch}}; known: host, port"
    )

    config = _config(tmp_path, "name: x\nprogram: x\nargs: []\ntls: {none: []}\nshell: true\n")
    with pytest.raises(ScenarioError) as exc:
        CommandConfig.from_file(config)
    assert str(exc.value).startswith(f"{config}:5: shell: unknown key 'shell'; expected one of:")


def test_a_yaml_file_is_a_client(tls_material: TlsMaterial) -> None:
    _need_program("swaks")
    adapter = load_adapter(str(Path(__file__).parents[2] / "harness/adapters/clients/swaks.yaml"))
    result = run(load_scenario(corpus_path() / "auth/login.yaml"), adapter, tls_material)
    assert result.verdict is Verdict.PASS, format_failure(result)


def test_the_readme_example_client_runs(tls_material: TlsMaterial) -> None:
    """docs/clients/sendemail.yaml: a client with no adapter, put under test by one file."""
    if shutil.which("sendemail") is None:
        if os.environ.get("CI"):
            pytest.fail("sendemail is not installed (see the README)")
        pytest.skip("sendemail is not installed")
    adapter = load_adapter(str(Path(__file__).parents[2] / "docs/clients/sendemail.yaml"))
    result = run(load_scenario(corpus_path() / "auth/login.yaml"), adapter, tls_material)
    assert result.verdict is Verdict.PASS, format_failure(result)


@pytest.mark.parametrize(
    "name",
    [
        "basic/null-sender.yaml",  # sendEmail refuses an empty -f: it cannot send MAIL FROM:<>
        "auth/cram-md5-pymotw-exim.yaml",  # it uses LOGIN and cannot be told CRAM-MD5
    ],
)
def test_the_readme_example_client_is_not_failed_for_what_it_cannot_be_asked(
    name: str, tls_material: TlsMaterial
) -> None:
    """A new user's first run of docs/clients/sendemail.yaml finds only sendEmail's defects."""
    if shutil.which("sendemail") is None:
        if os.environ.get("CI"):
            pytest.fail("sendemail is not installed (see the README)")
        pytest.skip("sendemail is not installed")
    adapter = load_adapter(str(Path(__file__).parents[2] / "docs/clients/sendemail.yaml"))
    result = run(load_scenario(corpus_path() / name), adapter, tls_material)
    assert result.verdict is Verdict.SKIP, format_failure(result)


def test_a_code_pattern_with_two_groups_is_refused_when_the_config_loads(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        "name: x\nprogram: x\nargs: []\ntls: {none: []}\noutcome:\n"
        "  code_pattern: '^(<|>) (\\d{3})'\n",
    )
    with pytest.raises(ScenarioError) as exc:
        CommandConfig.from_file(config)
    assert str(exc.value).startswith(
        f"{config}:6: outcome.code_pattern: expected one group, or a group named `code`"
    )


def _curl_config(tmp_path: Path, auth: str, code_pattern: str) -> Path:
    """The built-in curl config with another `auth` table and code pattern."""
    text = (Path(__file__).parents[2] / "harness/adapters/clients/curl.yaml").read_text()
    head, _, rest = text.partition("auth:\n")
    tail = rest[rest.index("outcome:") :]
    tail = (
        "outcome:\n  delivered: [0]\n  code_pattern: '"
        + code_pattern
        + "'\n"
        + tail.partition("code_pattern:")[2].partition("\n")[2]
    )
    path = tmp_path / "curl-variant.yaml"
    path.write_text(f"{head}auth:\n{auth}{tail}")
    return path


def test_a_named_code_group_gives_the_code(tls_material: TlsMaterial, tmp_path: Path) -> None:
    _need_program("curl")
    config = _curl_config(
        tmp_path, '  any: [--user, "{username}:{password}"]\n', r"^(<) (?P<code>[45]\d\d)[ -]"
    )
    result = run(
        load_scenario(corpus_path() / "errors/rcpt-550-unknown-user.yaml"),
        CommandAdapter.from_file(config),
        tls_material,
    )
    assert result.verdict is Verdict.PASS, format_failure(result)
    assert result.outcome is not None and result.outcome.code == 550


def test_an_auth_table_without_any_uses_a_listed_mechanism_or_skips(
    tls_material: TlsMaterial, tmp_path: Path
) -> None:
    _need_program("curl")
    auth = '  PLAIN: [--user, "{username}:{password}", --login-options, "AUTH=PLAIN"]\n'
    adapter = CommandAdapter.from_file(_curl_config(tmp_path, auth, r"^< ([45]\d\d)[ -]"))
    # Both tasks name no mechanism; the first server takes PLAIN or LOGIN, the second LOGIN only.
    either = load_scenario(corpus_path() / "tls/certificate-verified-starttls.yaml")
    assert either.client.auth is not None and not either.client.auth.mechanisms
    result = run(either, adapter, tls_material)
    assert result.verdict is Verdict.PASS, format_failure(result)
    assert "AUTH PLAIN" in result.transcript.render()
    only_login = load_scenario(corpus_path() / "starttls/reehlo-auth-after-tls.yaml")
    assert only_login.client.auth is not None and not only_login.client.auth.mechanisms
    result = run(only_login, adapter, tls_material)
    assert result.verdict is Verdict.SKIP
    assert "always uses PLAIN" in result.message and "accepts only LOGIN" in result.message


def test_programs_run_in_a_utf8_locale(tmp_path: Path) -> None:
    """`locale charmap` (glibc) names the character set the program sees."""
    if shutil.which("locale") is None:
        pytest.skip("no locale program")
    config = _config(
        tmp_path,
        "name: charmap\nprogram: locale\nargs: [charmap]\ntls: {none: []}\n"
        "outcome: {delivered: [99]}\n",
    )
    outcome = asyncio.run(_deliver(CommandAdapter.from_file(config), "a@example.com"))
    assert outcome.message == "exit status 0: UTF-8"


def test_a_config_without_auth_skips_tasks_that_authenticate(
    tls_material: TlsMaterial, tmp_path: Path
) -> None:
    text = (Path(__file__).parents[2] / "harness/adapters/clients/curl.yaml").read_text()
    head, _, rest = text.partition("auth:\n")
    adapter = CommandAdapter.from_file(_config(tmp_path, head + rest[rest.index("outcome:") :]))
    scenario = load_scenario(corpus_path() / "tls/certificate-verified-starttls.yaml")
    result = run(scenario, adapter, tls_material)  # its task names no mechanism
    assert result.verdict is Verdict.SKIP
    assert "cannot authenticate" in result.message


MUA_SMOKE = """
version: 1
id: test.mua-smoke
limits: {total: 10, read: 5}
client:
  mail_from: alice@example.com
  rcpt_to: [bob@example.com, dave@example.net]
  message: "From: Alice <alice@example.com>\\nTo: Bob <bob@example.com>\\nSubject: Lunch\\n\\nAt noon?\\n"
  tls: starttls
  auth: {username: alice, password: "s3cret pass", mechanisms: [PLAIN]}
expect: {outcome: delivered}
exchange:
  - server: "220 mx.example.com ESMTP"
  - client: "EHLO {domain}"
  - server: ["250-mx.example.com", "250 STARTTLS"]
  - client: STARTTLS
  - server: "220 2.0.0 Ready to start TLS"
  - tls: start
  - client: "EHLO {domain}"
  - server: ["250-mx.example.com", "250 AUTH PLAIN LOGIN"]
  - auth: PLAIN
  - client: "MAIL FROM:<alice@example.com>"
  - server: "250 2.1.0 OK"
  - unordered:
      - [{client: "RCPT TO:<bob@example.com>"}, {server: "250 2.1.5 OK"}]
      - [{client: "RCPT TO:<dave@example.net>"}, {server: "250 2.1.5 OK"}]
  - client: DATA
  - server: "354 go ahead"
  - client: {data: message, compare: any, absent: [dave@example.net]}
  - server: "250 2.0.0 queued"
  - client: {match: QUIT, optional: true}
  - server: "221 bye"
"""


def test_s_nail_composes_and_sends_over_starttls_with_auth_and_a_bcc(
    tls_material: TlsMaterial,
) -> None:
    """The mail user agent, judged on the wire only (the message is its own composition)."""
    _need_program("s-nail")
    result = run(parse_scenario(MUA_SMOKE, "mua.yaml"), load_adapter("s-nail"), tls_material)
    assert result.verdict is Verdict.PASS, format_failure(result)
    data = result.transcript.render()
    assert "Subject: Lunch" in data and "At noon?" in data
