"""The conformance matrix: scenario x client verdicts, as text, Markdown and HTML."""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence

from harness.results import VERDICT_ORDER, Result, Verdict, count_verdicts
from harness.scenario.model import Scenario

__all__ = ["format_matrix_html", "format_matrix_markdown", "format_matrix_text", "grade_counts"]

Columns = Mapping[str, Mapping[str, Result]]
# Grades that fail a run are in capitals, so they stand out in a column of passes.
_CELL = {v: v.value.upper() if v.fails_run() else v.value for v in Verdict}


def _cell(result: Result | None) -> str:
    return _CELL[result.verdict] if result is not None else "-"


def grade_counts(columns: Columns) -> dict[str, dict[Verdict, int]]:
    """Per client, how many scenarios got each grade."""
    return {client: count_verdicts(list(results.values())) for client, results in columns.items()}


def _count_rows(columns: Columns) -> list[tuple[str, list[int]]]:
    """(grade, count per client) for every grade that occurs in some column."""
    counts = grade_counts(columns)
    rows = []
    for verdict in VERDICT_ORDER:
        per_client = [counts[c][verdict] for c in columns]
        if any(per_client):
            rows.append((verdict.value, per_client))
    return rows


def format_matrix_text(scenarios: Sequence[Scenario], columns: Columns) -> str:
    width = max([len(s.id) for s in scenarios] + [8])
    clients = list(columns)
    widths = [max(len(c), 5) for c in clients]
    rows = [
        "  ".join(
            [f"{'scenario':<{width}}", *(f"{c:<{w}}" for c, w in zip(clients, widths, strict=True))]
        )
    ]
    for s in scenarios:
        cells = [
            f"{_cell(columns[c].get(s.id)):<{w}}" for c, w in zip(clients, widths, strict=True)
        ]
        rows.append("  ".join([f"{s.id:<{width}}", *cells]))
    rows.append("")
    for grade, per_client in _count_rows(columns):
        cells = [f"{n:<{w}}" for n, w in zip(per_client, widths, strict=True)]
        rows.append("  ".join([f"{grade:<{width}}", *cells]))
    return "\n".join(rows)


def _notes(scenarios: Sequence[Scenario], columns: Columns) -> list[str]:
    """One line per cell that is not a plain pass: why."""
    out = []
    for s in scenarios:
        for client, results in columns.items():
            r = results.get(s.id)
            if r is None or r.verdict is Verdict.PASS:
                continue
            why = r.notes[-1] if r.verdict is Verdict.XFAIL and r.notes else r.message
            out.append(f"{s.id} / {client}: {_CELL[r.verdict]}: {why}")
    return out


def format_matrix_markdown(scenarios: Sequence[Scenario], columns: Columns) -> str:
    clients = list(columns)
    lines = [
        "# Conformance matrix",
        "",
        "Regenerate with `tox -e conformance`. Grades as the RFC grades: `FAIL` a MUST broken,",
        "`non-strict` a SHOULD not followed, `info` behaviour the RFC leaves open, `not-exercised` the",
        "client legally avoided what the scenario is about (e.g. it said HELO, so it never pipelined).",
        "`xfail` is a known deviation of that client (listed with its reason in",
        "`harness/adapters/deviations/`); `skip` means the client cannot be asked to do what the",
        "scenario needs.",
        "",
        "| grade | " + " | ".join(clients) + " |",
        "|---|" + "---|" * len(clients),
        *(f"| {g} | " + " | ".join(map(str, n)) + " |" for g, n in _count_rows(columns)),
        "",
        "| scenario | " + " | ".join(clients) + " |",
        "|---|" + "---|" * len(clients),
    ]
    for s in scenarios:
        lines.append(
            f"| `{s.id}` | " + " | ".join(_cell(columns[c].get(s.id)) for c in clients) + " |"
        )
    notes = _notes(scenarios, columns)
    if notes:
        lines += ["", "## Why each cell that is not a pass", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def matrix_tables(
    scenarios: Sequence[Scenario],
    columns: Columns,
    *,
    link: Callable[[Result], bool] = lambda r: False,
) -> str:
    """The HTML grid (a row per scenario, a cell per client, linked to its ladder where
    ``link`` says) and, below it, the counts per grade."""
    from harness.report.html import ladder_id

    clients = list(columns)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in clients)
    body = []
    for s in scenarios:
        cells = []
        for c in clients:
            r = columns[c].get(s.id)
            title = html.escape(
                (r.notes[-1] if r and r.verdict is Verdict.XFAIL and r.notes else r.message)
                if r
                else ""
            )
            text = _cell(r)
            if r is not None and link(r):
                text = f'<a href="#{ladder_id(c, s.id)}">{text}</a>'
            area = html.escape(s.id.split(".", 1)[0])
            grade = r.verdict.value if r else ""
            cells.append(
                f'<td class="{_cell(r).lower()}" title="{title}" data-grade="{grade}" '
                f'data-area="{area}">{text}</td>'
            )
        body.append(f"<tr><th>{html.escape(s.id)}</th>{''.join(cells)}</tr>")
    counts = "".join(
        f"<tr><th>{g}</th>{''.join(f'<td>{n}</td>' for n in per_client)}</tr>"
        for g, per_client in _count_rows(columns)
    )
    return (
        f"<table class=matrix><tr><th>scenario</th>{head}</tr>{''.join(body)}</table>"
        f"<table class=counts><tr><th>grade</th>{head}</tr>{counts}</table>"
    )


def format_matrix_html(scenarios: Sequence[Scenario], columns: Columns) -> str:
    """The matrix as one self-contained HTML page, with a ladder diagram per cell that is not a
    pass (see harness.report.html)."""
    from harness.report.html import format_matrix_report

    return format_matrix_report(scenarios, columns)
