"""The pytest plugin: scenario files as test items, and ``smtp_*`` fixtures.

Inert unless used: scenario files are collected only when ``--smtp-client`` is given. Importing
it loads the harness's data model (``harness`` and its scenario loader), never the servers, the
runner or any adapter; those load inside hooks and fixtures.

    pytest --smtp-client=smtplib --smtp-client=reference scenarios/
    pytest -n auto --smtp-client=swaks scenarios/          # with pytest-xdist

A failing item shows the transcript diff, not a traceback. A scenario listed as a known
deviation of the client is marked ``xfail(strict=True)``: it is shown and counted, and an
unexpected pass fails the run so that the list stays true.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy
import pytest

__all__ = [
    "ScenarioError",
    "ScenarioFailed",
    "ScenarioFile",
    "ScenarioItem",
    "smtp_listen_host",
    "smtp_profile",
    "smtp_server",
    "smtp_server_factory",
    "smtp_tls",
]

if TYPE_CHECKING:
    from fake_servers.controller import ServerController
    from fake_servers.findings import Finding, Judged
    from fake_servers.profiles import ProfileController
    from fake_servers.tls import TlsMaterial
    from harness.adapters.base import ClientAdapter
    from harness.results import Result
    from harness.scenario.model import Scenario


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("smtp-harness", "SMTP client conformance scenarios")
    group.addoption(
        "--smtp-client",
        action="append",
        default=[],
        metavar="NAME|FILE.yaml",
        help="run scenario files (*.yaml) against this client; repeat for a client x scenario matrix",
    )
    group.addoption(
        "--smtp-deviations",
        action="append",
        default=[],
        metavar="FILE",
        help="a known-deviations file (adds to the client's built-in list)",
    )
    group.addoption(
        "--smtp-strict",
        action="store_true",
        default=False,
        help="non-strict results (a SHOULD not followed) fail, as MUST failures do",
    )
    group.addoption(
        "--smtp-show-secrets",
        action="store_true",
        default=False,
        help="show AUTH responses, passwords and tokens in reports (hidden by default)",
    )


def pytest_configure(config: pytest.Config) -> None:
    from harness.errors import UsageError
    from harness.event_loop import install_from_environment

    try:
        install_from_environment()  # SMTP_HARNESS_LOOP=uvloop: the fixtures' loops too
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.addinivalue_line(
        "markers",
        "smtp_scenario(source): the scenario the smtp_server fixture plays: a path, YAML text or a dict",
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if not parent.config.getoption("smtp_client"):
        return None
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    try:
        text = file_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if "exchange:" not in text or "version:" not in text:
        return None  # some other YAML file: not ours
    return ScenarioFile.from_parent(parent, path=file_path)


class ScenarioFailed(Exception):
    """A scenario's verdict was fail; carries the Result for the report."""

    def __init__(self, result: Result) -> None:
        super().__init__(result.message)
        self.result = result


class ScenarioError(Exception):
    """The harness or the adapter broke (verdict error). Not a ScenarioFailed, so that the xfail
    of a known deviation (raises=ScenarioFailed) never hides it."""

    def __init__(self, result: Result) -> None:
        super().__init__(result.message)
        self.result = result


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from harness.deviations import deviations_for
        from harness.scenario.loader import load_scenario

        scenario = load_scenario(self.path)  # a ScenarioError becomes a collection error
        for client in self.config.getoption("smtp_client"):
            label = Path(client).stem if client.endswith((".yaml", ".yml")) else client
            item = ScenarioItem.from_parent(
                self, name=f"{scenario.id}[{label}]", scenario=scenario, client=client
            )
            deviation = deviations_for(label, self.config.getoption("smtp_deviations")).get(
                scenario.id
            )
            if deviation is not None:
                item.add_marker(
                    pytest.mark.xfail(
                        reason=deviation.describe(), strict=True, raises=ScenarioFailed
                    )
                )
            yield item


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Scenario, client: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.client = client

    def _adapter(self) -> ClientAdapter:
        from harness.adapters.base import load_adapter

        cache: dict[str, ClientAdapter] = self.config.stash.setdefault(_ADAPTERS, {})
        if self.client not in cache:
            cache[self.client] = load_adapter(self.client)
        return cache[self.client]

    def runtest(self) -> None:
        from harness.results import Verdict
        from harness.runner import run_scenario

        show_secrets = bool(self.config.getoption("smtp_show_secrets"))
        result = asyncio.run(
            run_scenario(self.scenario, self._adapter(), show_secrets=show_secrets)
        )
        self.user_properties.append(("smtp_grade", result.verdict.value))
        strict = bool(self.config.getoption("smtp_strict"))
        if result.verdict is Verdict.SKIP:
            pytest.skip(result.message)
        if result.verdict is Verdict.ERROR:
            raise ScenarioError(result)
        if result.verdict.fails_run(strict=strict) or result.verdict is Verdict.NON_STRICT:
            if result.verdict is Verdict.NON_STRICT and not strict:
                # A SHOULD not followed: reported under its own grade, never a failure.
                self.add_report_section("call", "smtp-harness", _grade_text(result))
                return
            raise ScenarioFailed(result)
        if result.verdict is not Verdict.PASS:
            self.add_report_section("call", "smtp-harness", _grade_text(result))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed | ScenarioError):
            from harness.report.text import format_failure

            return format_failure(excinfo.value.result)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.scenario.line - 1, f"{self.scenario.id} against {self.client}"


_ADAPTERS = pytest.StashKey[dict[str, "ClientAdapter"]]()

# Grades that pass but are worth seeing: their own word in the summary line, like xfail.
_SOFT_GRADES = {"non-strict": ("N", "NON-STRICT"), "info": ("I", "INFO")}
_SOFT_GRADES["not-exercised"] = ("o", "NOT-EXERCISED")


def _grade_text(result: Result) -> str:
    from harness.report.text import format_grade

    return f"{format_grade(result)}: {result.message}"


def pytest_report_teststatus(
    report: pytest.TestReport, config: pytest.Config
) -> tuple[str, str, str] | None:
    """Show non-strict, info and not-exercised results under their grade, not as plain passes
    (they do not fail the run; ``--smtp-strict`` makes non-strict fail)."""
    if report.when != "call" or not report.passed:
        return None
    grade = dict(report.user_properties).get("smtp_grade")
    if isinstance(grade, str) and grade in _SOFT_GRADES:
        letter, word = _SOFT_GRADES[grade]
        return grade, letter, word
    return None


# --- fixtures for people testing their own code ----------------------------------------------


@pytest.fixture
def smtp_listen_host() -> str:
    """Where scripted servers listen; override to use another loopback address."""
    return "127.0.0.1"


@pytest.fixture(scope="session")
def smtp_tls() -> Iterator[TlsMaterial]:
    """The run's CA and server certificate (``.ca_path`` is the CA file for clients)."""
    from fake_servers.tls import TlsMaterial

    material = TlsMaterial()
    yield material
    material.close()


def _as_scenario(source: Any) -> Scenario:
    """A Scenario from a Scenario, a dict, YAML text, a file path or a corpus id."""
    import re

    from harness.scenario.loader import load_scenario, parse_scenario
    from harness.scenario.model import Scenario

    if isinstance(source, Scenario):
        return source
    if isinstance(source, dict):
        import yaml

        return parse_scenario(yaml.safe_dump(source, sort_keys=False), "<dict>")
    if isinstance(source, str) and "\n" in source:
        return parse_scenario(source, "<text>")
    if (
        isinstance(source, str)
        and not Path(source).exists()
        and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", source)
        and not source.endswith((".yaml", ".yml"))
    ):
        return load_scenario(id=source)  # "auth.login": from the installed corpus
    return load_scenario(source)


# Every server a test started, judged when the test ends (see pytest_runtest_makereport).
_JUDGED = pytest.StashKey[list["Judged"]]()
_REPORTED = pytest.StashKey[set["Finding"]]()
SETTLE_SECONDS = 2.0  # how long a test's end waits for sessions still closing


def _watch(request: pytest.FixtureRequest, server: Judged) -> None:
    request.node.stash.setdefault(_JUDGED, []).append(server)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pluggy.Result[pytest.TestReport], None]:
    """Bring the servers' diagnosis into the test's report.

    After the test body (and again after teardown, for sessions that ended late), every server
    the test used is asked for its findings. Each session's transcript becomes a section of the
    report. A finding not yet reported fails the test: a test that passed fails with the
    findings; a test that failed (the application raised first) gets them put above its
    traceback, so the real cause is the first thing read.
    """
    outcome = yield
    servers = item.stash.get(_JUDGED, None)
    if not servers or call.when not in ("call", "teardown"):
        return
    from fake_servers.findings import ServerFindingError, format_findings

    report = outcome.get_result()
    reported = item.stash.setdefault(_REPORTED, set())
    if call.excinfo is not None and isinstance(call.excinfo.value, ServerFindingError):
        # assert_followed() raised: those findings are the test's failure already
        reported.update(call.excinfo.value.findings)
    blocks = []
    for server in servers:
        if call.when == "call":
            server.settle(SETTLE_SECONDS)
            report.sections.extend(server.report_sections())
        if not server.findings_fail_the_test:
            continue  # the test said it breaks the rules on purpose (allow_findings())
        new = [f for f in server.findings() if f.fails and f not in reported]
        reported.update(new)
        if new:
            blocks.append(format_findings(server, new))
    if not blocks or report.skipped:
        return
    text = "\n\n".join(blocks)
    if report.passed:
        report.outcome = "failed"
        report.longrepr = text + "\n(the transcripts are in the sections below)"
    else:
        report.longrepr = f"{text}\n\n--- and the test itself raised:\n{report.longrepr}"


@pytest.fixture
def smtp_server_factory(
    request: pytest.FixtureRequest, smtp_tls: TlsMaterial, smtp_listen_host: str
) -> Iterator[Callable[[Any], ServerController]]:
    """Start scripted servers: ``smtp_server_factory(id | path | yaml_text | dict | Scenario)``.

    Each returned server is running (``.host``, ``.port``, ``.ca_path``); ``.wait_session()``
    gives the recorded session (``.failure``, ``.transcript``). When the test ends, a session
    that left the script fails it with the finding and the transcript, whatever the code under
    test raised. All servers are stopped afterwards.
    """
    from fake_servers.controller import ServerController

    started: list[ServerController] = []

    def make(source: Any) -> ServerController:
        server = ServerController(
            _as_scenario(source),
            tls=smtp_tls,
            host=smtp_listen_host,
            show_secrets=bool(request.config.getoption("smtp_show_secrets")),
        )
        server.start()
        started.append(server)
        _watch(request, server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def smtp_server(
    request: pytest.FixtureRequest, smtp_server_factory: Callable[[Any], ServerController]
) -> ServerController:
    """A running scripted server for the scenario named by ``@pytest.mark.smtp_scenario(...)``."""
    marker = request.node.get_closest_marker("smtp_scenario")
    if marker is None or not marker.args:
        raise pytest.UsageError(
            "smtp_server needs @pytest.mark.smtp_scenario(path | yaml_text | dict)"
        )
    return smtp_server_factory(marker.args[0])


@pytest.fixture
def smtp_profile(
    request: pytest.FixtureRequest, smtp_tls: TlsMaterial, smtp_listen_host: str
) -> Iterator[Callable[..., ProfileController]]:
    """Start servers that behave as a real one: ``smtp_profile("gmail", fail={"rcpt": 550})``.

    Keywords: ``users={name: password}`` (default: any credentials), ``fail={stage: code |
    reply | "stall" | {N: ...}, "greylist": True}``, ``read_timeout``, ``total``. Each server is
    running (``.host``, ``.port``, ``.ca_path``); ``.messages`` holds what arrived and
    ``.wait_message()`` waits for the first. A wire rule the client broke fails the test when it
    ends, with the finding and the transcript. All servers are stopped afterwards.
    """
    from fake_servers.profiles import ProfileController

    started: list[ProfileController] = []

    def make(profile: str, **options: Any) -> ProfileController:
        options.setdefault("show_secrets", bool(request.config.getoption("smtp_show_secrets")))
        server = ProfileController(profile, tls=smtp_tls, host=smtp_listen_host, **options)
        server.start()
        started.append(server)
        _watch(request, server)
        return server

    yield make
    for server in started:
        server.stop()
