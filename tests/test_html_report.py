"""The HTML report in a real browser: headless Chromium (Debian's package) loads it, runs its
script, and the test reads the resulting DOM: a ladder for every finding, working filters, no
script errors. A screenshot is kept in $SMTP_HARNESS_ARTIFACTS (default: the test's tmp dir).

Chromium is a Debian package the README's CI line installs; locally its absence skips these
tests with the reason, in CI (CI=true) it fails them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from scenario_texts import wants_noop

from harness.cli import main
from harness.corpus import corpus_path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def chromium(tmp_path: Path) -> list[str]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (README: apt-get install chromium)")
        pytest.skip(
            "chromium is not installed: apt-get install -y --no-install-recommends chromium"
        )
    return [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]


def dump_dom(browser: list[str], url: str) -> str:
    done = subprocess.run(
        [*browser, "--virtual-time-budget=2000", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )
    return done.stdout


class Dom(HTMLParser):
    """The elements of the dumped DOM that the tests look at."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.body: dict[str, str | None] = {}
        self.ladders: dict[str, dict[str, str | None]] = {}
        self.expected_rows = 0
        self.links: list[str] = []
        self.results: list[dict[str, str | None]] = []
        self._in_results = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "body":
            self.body = a
        elif tag == "section" and a.get("class") == "ladder":
            self.ladders[str(a["id"])] = a
        elif tag == "div" and a.get("class") == "expected":
            self.expected_rows += 1
        elif tag == "a" and str(a.get("href", "")).startswith("#l-"):
            self.links.append(str(a["href"])[1:])
        elif tag == "table" and a.get("class") == "results":
            self._in_results = True
        elif tag == "tr" and self._in_results and "data-grade" in a:
            self.results.append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_results = False


def test_run_report_in_a_browser(
    chromium: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failing = tmp_path / "wants-noop.yaml"
    failing.write_text(wants_noop("html.expects-noop"))
    report = tmp_path / "run.html"
    login = corpus_path() / "auth" / "login.yaml"
    assert main(["run", str(failing), str(login), "--html", str(report)]) == 1
    capsys.readouterr()

    dom = Dom(dump_dom(chromium, report.as_uri()))
    assert dom.body.get("data-ready") == "1", "the report's script did not run to its end"
    assert not dom.body.get("data-errors"), dom.body.get("data-errors")
    assert list(dom.ladders) == ["l-reference--html.expects-noop"]  # one per finding, no pass
    assert dom.expected_rows == 1  # the step where client and script parted, marked
    assert dom.links == ["l-reference--html.expects-noop"]

    # the grade filter, driven by the URL: only the failure stays visible
    filtered = Dom(dump_dom(chromium, report.as_uri() + "#grade=fail"))
    shown = [r for r in filtered.results if "hidden" not in r]
    assert [r["data-grade"] for r in shown] == ["fail"]
    assert len(filtered.results) == 2

    shots = Path(os.environ.get("SMTP_HARNESS_ARTIFACTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / "run-report.png"
    subprocess.run(
        [*chromium, "--window-size=1200,1600", f"--screenshot={shot}", report.as_uri()],
        capture_output=True,
        timeout=90,
        check=True,
    )
    assert shot.stat().st_size > 10_000


def test_matrix_cells_link_to_their_ladders(
    chromium: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failing = tmp_path / "wants-noop.yaml"
    failing.write_text(wants_noop("html.expects-noop"))
    report = tmp_path / "matrix.html"
    code = main(
        [
            "matrix",
            "--client",
            "reference",
            "--client",
            "smtplib",
            str(failing),
            "--html",
            str(report),
        ]
    )
    assert code == 1
    capsys.readouterr()
    dom = Dom(dump_dom(chromium, report.as_uri()))
    assert dom.body.get("data-ready") == "1" and not dom.body.get("data-errors")
    assert (
        set(dom.links)
        == set(dom.ladders)
        == {
            "l-reference--html.expects-noop",
            "l-smtplib--html.expects-noop",
        }
    )


def test_bytes_are_made_visible() -> None:
    from harness.report.html import MAX_LINE_CHARS, visible

    assert visible(b"250 OK\r\n") == '250 OK<i class="eol"> CRLF</i>'
    assert "bare LF" in visible(b"250 OK\n")
    assert "no line end" in visible(b"250 OK")
    assert 'title="bare CR">CR</i>' in visible(b"a\rb\r\n")
    assert '<i class="b8" title="8-bit">é</i>' in visible("é\r\n".encode())
    assert "\\xb4" in visible(b"535 \xb4\xed\r\n")  # GBK, not UTF-8
    assert "&lt;script&gt;" in visible(b"<script>\r\n")
    assert "more octets" in visible(b"x" * (MAX_LINE_CHARS + 10) + b"\r\n")
