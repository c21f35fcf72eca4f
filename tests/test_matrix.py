"""The conformance matrix: ``smtp-harness matrix`` end to end, and the three formatters
(``harness.report.matrix``) on hand-made results."""

from __future__ import annotations

from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path

import pytest
from scenario_texts import wants_noop  # tests/ is on sys.path (rootdir conftest)

from harness.cli import main
from harness.corpus import corpus_path
from harness.deviations import deviations_for
from harness.report.matrix import format_matrix_html, format_matrix_markdown, format_matrix_text
from harness.results import Result, Verdict
from harness.scenario.loader import parse_scenario
from harness.scenario.model import Scenario

CORPUS = corpus_path()
LOGIN = CORPUS / "auth" / "login.yaml"
CRAM = CORPUS / "auth" / "cram-md5-challenge-not-base64.yaml"  # a known deviation of smtplib

MD_HEADER = "| scenario | reference | smtplib |"

# The reference client sends MAIL after EHLO; this script wants NOOP there.
WANTS_NOOP = wants_noop("matrix.expects-noop")


def table_rows(text: str) -> list[list[str]]:
    """The words of each line of the text matrix, up to the blank line before the counts."""
    lines = text.splitlines()
    return [line.split() for line in lines[: lines.index("")]]


def count_rows(text: str) -> list[list[str]]:
    """The words of each line of the grade counts under the text matrix."""
    lines = text.splitlines()
    return [line.split() for line in lines[lines.index("") + 1 :]]


class TableParser(HTMLParser):
    """Rows of the first <table>: each cell as (tag, attributes, text)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables = 0
        self.rows: list[list[tuple[str, dict[str, str | None], str]]] = []
        self._cell: tuple[str, dict[str, str | None]] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables += 1
        elif self.tables > 1:
            return  # the grade counts: see test_html_counts
        elif tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell, self._text = (tag, dict(attrs)), []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.tables == 1:
            self.rows[-1].append((*self._cell, "".join(self._text)))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._text.append(data)


def parse_table(text: str) -> TableParser:
    parser = TableParser()
    parser.feed(text)
    parser.close()
    return parser


def cell_words(table: TableParser) -> list[list[str]]:
    return [[text for _, _, text in row] for row in table.rows]


# --- the matrix command ----------------------------------------------------------------------


def test_matrix_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    md, html = tmp_path / "matrix.md", tmp_path / "matrix.html"
    code = main(
        [
            "matrix",
            "--client",
            "reference",
            "--client",
            "smtplib",
            str(LOGIN),
            str(CRAM),
            "--markdown",
            str(md),
            "--html",
            str(html),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, out + err  # an xfail is not a failure
    assert "running 2 scenarios against reference ..." in err
    assert "running 2 scenarios against smtplib ..." in err

    assert count_rows(out) == [["pass", "2", "1"], ["xfail", "0", "1"]]
    # text: a header, then one row per scenario and one column per client
    assert table_rows(out) == [
        ["scenario", "reference", "smtplib"],
        ["auth.login", "pass", "pass"],
        ["auth.cram-md5-challenge-not-base64", "pass", "xfail"],
    ]

    deviation = deviations_for("smtplib")["auth.cram-md5-challenge-not-base64"]
    lines = md.read_text().splitlines()
    assert lines[0] == "# Conformance matrix"
    start = lines.index(MD_HEADER)
    assert lines[start : start + 4] == [
        MD_HEADER,
        "|---|---|---|",
        "| `auth.login` | pass | pass |",
        "| `auth.cram-md5-challenge-not-base64` | pass | xfail |",
    ]
    assert (
        f"- auth.cram-md5-challenge-not-base64 / smtplib: xfail: {deviation.describe()} [{deviation.location}]"
        in lines
    )

    table = parse_table(html.read_text())
    assert table.tables == 2
    assert cell_words(table) == [
        ["scenario", "reference", "smtplib"],
        ["auth.login", "pass", "pass"],
        ["auth.cram-md5-challenge-not-base64", "pass", "xfail"],
    ]
    tag, attrs, _ = table.rows[2][2]
    assert tag == "td"
    assert attrs["class"] == "xfail"
    assert attrs["title"] == f"{deviation.describe()} [{deviation.location}]"


def test_matrix_command_exits_1_on_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failing = tmp_path / "wants-noop.yaml"
    failing.write_text(WANTS_NOOP)
    code = main(["matrix", "--client", "reference", str(LOGIN), str(failing)])
    out, _ = capsys.readouterr()
    assert code == 1
    assert table_rows(out) == [
        ["scenario", "reference"],
        ["auth.login", "pass"],
        ["matrix.expects-noop", "FAIL"],
    ]


def test_matrix_command_with_nothing_selected(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["matrix", "--client", "reference", str(LOGIN), "-k", "no-such-word-anywhere"])
    assert code == 2
    assert "no scenarios selected" in capsys.readouterr().err


def test_matrix_deviations_file_for_one_of_two_clients(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failing = tmp_path / "wants-noop.yaml"
    failing.write_text(WANTS_NOOP)
    deviations = tmp_path / "reference.yaml"
    deviations.write_text(
        "client: reference\n"
        "deviations:\n"
        "  - scenario: matrix.expects-noop\n"
        "    rule: R-TEST-1\n"
        "    reason: the test lists it\n"
        "    trigger: always\n"
    )
    code = main(
        [
            "matrix",
            "--client",
            "reference",
            "--client",
            "smtplib",
            "--deviations",
            str(deviations),
            str(failing),
        ]
    )
    out, _ = capsys.readouterr()
    assert table_rows(out) == [
        ["scenario", "reference", "smtplib"],
        ["matrix.expects-noop", "xfail", "FAIL"],
    ]
    assert code == 1


# --- the formatters on hand-made results -----------------------------------------------------


def scenario(scenario_id: str) -> Scenario:
    return parse_scenario(
        f"version: 1\nid: {scenario_id}\nclient: {{}}\nexpect: {{outcome: delivered}}\n"
        'exchange: [{server: "220 mx"}]\n',
        f"{scenario_id}.yaml",
    )


SCENARIOS = [scenario(i) for i in ("a.one", "b.two", "c.three", "d.four")]
A, B, C, D = SCENARIOS
LONG = "a-rather-long-client"


def result(
    s: Scenario, client: str, verdict: Verdict, message: str = "", notes: Sequence[str] = ()
) -> Result:
    return Result(scenario=s, client=client, verdict=verdict, message=message, notes=list(notes))


COLUMNS = {
    "alpha": {
        A.id: result(A, "alpha", Verdict.PASS),
        B.id: result(
            B,
            "alpha",
            Verdict.XFAIL,
            "unexpected command",
            notes=["an earlier note", "known deviation (R-TX-6): extra CRLF"],
        ),
        C.id: result(C, "alpha", Verdict.SKIP, "alpha cannot do TLS mode implicit"),
        D.id: result(D, "alpha", Verdict.ERROR, 'AdapterError: <boom> & "quotes"'),
    },
    LONG: {
        A.id: result(A, LONG, Verdict.FAIL, "unexpected command"),
        B.id: result(
            B, LONG, Verdict.XPASS, "listed as a known deviation but passed: remove it from x:3"
        ),
        # c.three was not run for this client
        D.id: result(D, LONG, Verdict.PASS),
    },
}

NOTES = [
    f"- a.one / {LONG}: FAIL: unexpected command",
    "- b.two / alpha: xfail: known deviation (R-TX-6): extra CRLF",
    f"- b.two / {LONG}: XPASS: listed as a known deviation but passed: remove it from x:3",
    "- c.three / alpha: skip: alpha cannot do TLS mode implicit",
    '- d.four / alpha: ERROR: AdapterError: <boom> & "quotes"',
]


def test_text_table() -> None:
    text = format_matrix_text(SCENARIOS, COLUMNS)
    # columns line up: every cell starts where its header does
    assert [line.rstrip() for line in text.splitlines()[:5]] == [
        f"scenario  alpha  {LONG}",
        "a.one     pass   FAIL",
        "b.two     xfail  XPASS",
        "c.three   skip   -",
        "d.four    ERROR  pass",
    ]


def test_text_table_widens_for_long_ids() -> None:
    s = scenario("a-very-long-scenario.identifier")
    text = format_matrix_text([s, A], {"c": {s.id: result(s, "c", Verdict.PASS)}})
    assert [line.rstrip() for line in text.splitlines()[:3]] == [
        "scenario                         c",
        "a-very-long-scenario.identifier  pass",
        "a.one                            -",
    ]


def test_markdown() -> None:
    lines = format_matrix_markdown(SCENARIOS, COLUMNS).splitlines()
    header = f"| scenario | alpha | {LONG} |"
    start = lines.index(header)
    assert lines[start : start + 6] == [
        header,
        "|---|---|---|",
        "| `a.one` | pass | FAIL |",
        "| `b.two` | xfail | XPASS |",
        "| `c.three` | skip | - |",
        "| `d.four` | ERROR | pass |",
    ]
    why = lines.index("## Why each cell that is not a pass")
    assert lines[why + 1] == ""
    assert lines[why + 2 :] == NOTES  # one note per cell that is not a pass, the xfail's last note


def test_markdown_all_pass_has_no_notes() -> None:
    text = format_matrix_markdown([A], {"alpha": {A.id: result(A, "alpha", Verdict.PASS)}})
    assert text.endswith("| `a.one` | pass |\n")
    assert "## Why" not in text


def test_html() -> None:
    text = format_matrix_html(SCENARIOS, COLUMNS)
    table = parse_table(text)
    assert table.tables == 2  # the matrix, then the counts per grade
    assert cell_words(table) == [
        ["scenario", "alpha", LONG],
        ["a.one", "pass", "FAIL"],
        ["b.two", "xfail", "XPASS"],
        ["c.three", "skip", "-"],
        ["d.four", "ERROR", "pass"],
    ]
    assert [row[0][0] for row in table.rows] == ["th"] * 5  # the scenario names head their rows
    attrs = {
        (row[0][2], i): {k: row[i][1].get(k) for k in ("class", "title")}
        for row in table.rows[1:]
        for i in (1, 2)
    }
    assert attrs[("a.one", 1)] == {"class": "pass", "title": ""}
    assert attrs[("a.one", 2)] == {"class": "fail", "title": "unexpected command"}
    assert attrs[("b.two", 1)] == {
        "class": "xfail",
        "title": "known deviation (R-TX-6): extra CRLF",
    }
    assert attrs[("b.two", 2)]["class"] == "xpass"
    assert attrs[("c.three", 1)] == {"class": "skip", "title": "alpha cannot do TLS mode implicit"}
    assert attrs[("c.three", 2)]["title"] == ""
    # escaped in the source, the original text once parsed
    assert attrs[("d.four", 1)] == {"class": "error", "title": 'AdapterError: <boom> & "quotes"'}
    assert "<boom>" not in text


def test_html_escapes_names() -> None:
    s = scenario("x.y")
    text = format_matrix_html([s], {"a<b>&c": {s.id: result(s, "a<b>&c", Verdict.PASS)}})
    assert "<b>" not in text
    assert cell_words(parse_table(text)) == [["scenario", "a<b>&c"], ["x.y", "pass"]]


def test_text_counts_every_grade_that_occurs() -> None:
    text = format_matrix_text(SCENARIOS, COLUMNS)
    assert count_rows(text) == [
        ["pass", "1", "1"],
        ["skip", "1", "0"],
        ["fail", "0", "1"],
        ["error", "1", "0"],
        ["xfail", "1", "0"],
        ["xpass", "0", "1"],
    ]


def test_markdown_counts_the_grades() -> None:
    graded = {
        "alpha": {
            A.id: result(A, "alpha", Verdict.NON_STRICT, "EHLO name not a domain"),
            B.id: result(B, "alpha", Verdict.INFO, "no code reported"),
            C.id: result(C, "alpha", Verdict.NOT_EXERCISED, "said HELO"),
            D.id: result(D, "alpha", Verdict.PASS),
        }
    }
    lines = format_matrix_markdown(SCENARIOS, graded).splitlines()
    start = lines.index("| grade | alpha |")
    assert lines[start : start + 6] == [
        "| grade | alpha |",
        "|---|---|",
        "| pass | 1 |",
        "| non-strict | 1 |",
        "| info | 1 |",
        "| not-exercised | 1 |",
    ]
    assert "| `a.one` | non-strict |" in lines
    assert "- c.three / alpha: not-exercised: said HELO" in lines
