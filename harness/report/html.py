"""The HTML report: one self-contained file (no external assets) with the counts per grade,
filters by grade, area and rule, and a ladder diagram of every result that is not a plain pass.

A ladder has a client lane and a server lane; each command or reply is an arrow between them
with its bytes made visible (CRLF in grey, a bare LF or CR in red, 8-bit bytes marked), the time,
the TLS boundary, and, where the client left the script, what the script expected with the rule
and its RFC section. The matrix links each cell to its scenario's ladder.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence

from harness.report.text import failing_line_index, format_grade
from harness.results import VERDICT_ORDER, Result, Verdict, count_verdicts
from harness.scenario.model import Scenario
from harness.transcript import Direction

__all__ = ["format_matrix_report", "format_run_report", "ladder_id"]

# Bounds, so that a 30 MB message makes a readable report, not a 30 MB one.
MAX_LINE_CHARS = 240
MAX_ROWS = 400

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em}h3{font-size:1em;margin:0}
table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}
code,.msg,.t{font-family:ui-monospace,monospace;font-size:12px}
.g{display:inline-block;padding:0 6px;border-radius:3px;font-weight:600}
.g-pass{background:#cfc}.g-fail,.g-error,.g-xpass{background:#f99}.g-non-strict{background:#fc9}
.g-info,.g-not-exercised{background:#cef}.g-xfail{background:#fe9}.g-skip{background:#ddd}
.counts span{margin-right:1em;cursor:pointer}.filters{margin:1em 0}.filters label{margin-right:1em}
.ladder{border:1px solid #ccc;border-radius:6px;padding:1em;margin:1.5em 0}
.ladder dl{display:grid;grid-template-columns:max-content 1fr;gap:0 1em;margin:.5em 0}
.ladder dt{color:#666}.ladder dd{margin:0}
.row{display:grid;grid-template-columns:4.5em 1fr;align-items:center}
.lanes{display:flex;justify-content:space-between;font-weight:600;border-bottom:2px solid #999;margin-left:4.5em}
.rows{list-style:none;margin:0;padding:0;position:relative}
.rows::before,.rows::after{content:"";position:absolute;top:0;bottom:0;width:2px;background:#999}
.rows::before{left:calc(4.5em + 1em)}.rows::after{right:1em}
.row{min-height:1.6em}.row .t{color:#888}
.arrow{grid-column:2;margin:0 1em;border-bottom:2px solid #46a;position:relative;padding:0 .5em;overflow-wrap:anywhere}
.c2s{border-color:#46a}.c2s::after{content:"";position:absolute;right:-2px;bottom:-6px;border:5px solid transparent;border-left:8px solid #46a}
.s2c{border-color:#393;text-align:right}.s2c::before{content:"";position:absolute;left:-2px;bottom:-6px;border:5px solid transparent;border-right:8px solid #393}
.tls .arrow{background:#f4f0ff}.note{grid-column:2;text-align:center;color:#555;font-style:italic}
.boundary{grid-column:1/3;text-align:center;border-top:2px dashed #96c;color:#639;font-size:12px}
.parted .arrow{border-color:#c00;background:#fee}
.expected{grid-column:2;margin:0 1em;border:2px dashed #c00;color:#900;padding:0 .5em}
.eol{color:#999;font-style:normal}.bad{color:#fff;background:#c00;font-style:normal;padding:0 2px}
.b8{background:#ffd;outline:1px solid #cc9;font-style:normal}
"""

_JS = """
window.onerror=function(m){document.body.dataset.errors=(document.body.dataset.errors||"")+m+";"};
(function(){
  var sel=function(n){return document.getElementById(n)};
  function apply(){
    var g=sel("f-grade").value,a=sel("f-area").value,r=sel("f-rule").value;
    document.querySelectorAll("[data-grade]").forEach(function(el){
      var ok=(!g||el.dataset.grade===g)&&(!a||el.dataset.area===a)&&(!r||(" "+el.dataset.rules+" ").indexOf(" "+r+" ")>=0);
      el.hidden=!ok;
    });
  }
  ["f-grade","f-area","f-rule"].forEach(function(id){sel(id).addEventListener("change",apply)});
  document.querySelectorAll(".counts span").forEach(function(el){
    el.addEventListener("click",function(){sel("f-grade").value=el.dataset.pick;apply()});
  });
  var m=/^#(grade|area|rule)=(.*)$/.exec(location.hash);
  if(m){sel("f-"+m[1]).value=decodeURIComponent(m[2]);apply()}
  document.body.dataset.ready="1";
})();
"""


def ladder_id(client: str, scenario_id: str) -> str:
    """The HTML id of a ladder (matrix cells link to it)."""
    return "l-" + re.sub(r"[^A-Za-z0-9_.-]", "_", f"{client}--{scenario_id}")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _grade(verdict: Verdict) -> str:
    return f'<span class="g g-{verdict.value}">{verdict.value}</span>'


def visible(line: bytes) -> str:
    """One line of the wire as HTML: CRLF shown in grey, a bare CR or LF in red, bytes that are
    not printable ASCII marked (8-bit text kept, undecodable bytes as \\xNN)."""
    body, eol = line, ""
    if body.endswith(b"\r\n"):
        body, eol = body[:-2], '<i class="eol"> CRLF</i>'
    elif body.endswith(b"\n"):
        body, eol = body[:-1], '<i class="bad" title="RFC 5321 §2.3.8">bare LF</i>'
    elif body:
        eol = '<i class="bad" title="the line has no line end">no line end</i>'
    more = ""
    if len(body) > MAX_LINE_CHARS:
        more = f'<i class="eol"> … {len(body) - MAX_LINE_CHARS} more octets</i>'
        body = body[:MAX_LINE_CHARS]
    out = []
    for ch in body.decode("utf-8", "surrogateescape"):
        if ch == "\r":
            out.append('<i class="bad" title="bare CR">CR</i>')
        elif " " <= ch <= "~":
            out.append(_e(ch))
        elif "\udc80" <= ch <= "\udcff":  # a byte that is not UTF-8
            out.append(f'<i class="b8" title="8-bit, not UTF-8">\\x{ord(ch) - 0xDC00:02x}</i>')
        elif ch.isprintable():
            out.append(f'<i class="b8" title="8-bit">{_e(ch)}</i>')
        else:
            out.append(f'<i class="b8" title="control">\\x{ord(ch):02x}</i>')
    return "".join(out) + eol + more


def _ladder(result: Result) -> str:
    s = result.scenario
    failure = result.failure
    rows = []
    lines = result.transcript.lines()
    raw = result.transcript.raw_lines()
    mark = failing_line_index(lines) if failure is not None else None
    tls_seen = False
    for i, (at, direction, tls, line) in enumerate(raw[:MAX_ROWS]):
        if tls and not tls_seen:
            rows.append('<li class="row"><div class="boundary">TLS from here on</div></li>')
        tls_seen = tls_seen or tls
        time = f'<div class="t">{at:.3f}</div>'
        if direction is Direction.NOTE:
            rows.append(
                f'<li class="row">{time}<div class="note">{_e(line.decode("utf-8", "replace"))}</div></li>'
            )
            continue
        if i == mark and failure is not None:
            rows.append(
                f'<li class="row">{time}<div class="expected">expected (line {failure.line}): '
                f"<code>{_e(failure.expected)}</code>{_rule_text(result)}</div></li>"
            )
        arrow = "c2s" if direction is Direction.CLIENT else "s2c"
        classes = " ".join(
            c for c in ("row", "tls" if tls else "", "parted" if i == mark else "") if c
        )
        rows.append(
            f'<li class="{classes}">{time}<div class="arrow {arrow}"><span class="msg">{visible(line)}</span></div></li>'
        )
    if len(raw) > MAX_ROWS:
        rows.append(
            f'<li class="row"><div class="note">… {len(raw) - MAX_ROWS} more lines</div></li>'
        )
    if failure is not None and mark is None:
        rows.append(
            f'<li class="row"><div class="t"></div><div class="expected">expected (line {failure.line}): '
            f"<code>{_e(failure.expected)}</code>; got <code>{_e(failure.actual)}</code>{_rule_text(result)}</div></li>"
        )
    facts = [
        ("grade", _e(format_grade(result))),
        ("why", _e(result.message or "-")),
        ("file", f"<code>{_e(result.failing_step)}</code>"),
        ("refs", _e(", ".join(s.refs) or "-")),
    ]
    if failure is not None and failure.hint:
        facts.append(("detail", _e(failure.hint)))
    if result.outcome is not None:
        facts.append(("client reported", _e(result.outcome.describe())))
    wanted = " or ".join(o.value for o in s.expect.outcomes)
    codes = f" with code {' or '.join(map(str, s.expect.codes))}" if s.expect.codes else ""
    facts.append(("expected outcome", _e(wanted + codes)))
    facts += [("note", _e(n)) for n in result.notes]
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    return (
        f'<section class="ladder" id="{ladder_id(result.client, s.id)}" {_data(result)}>'
        f"<h3>{_grade(result.verdict)} {_e(s.id)} <small>[{_e(result.client)}]</small></h3>"
        f"<p>{_e(s.title)}</p><dl>{dl}</dl>"
        '<div class="lanes"><span>client</span><span>server</span></div>'
        f'<ol class="rows">{"".join(rows)}</ol></section>'
    )


def _rule_text(result: Result) -> str:
    rfc = [r for r in result.scenario.refs if r.startswith("RFC")]
    parts = [p for p in (result.rule, ", ".join(rfc[:2])) if p]
    return f" <small>({_e('; '.join(parts))})</small>" if parts else ""


def _data(result: Result) -> str:
    area = result.scenario.id.split(".", 1)[0]
    rules = " ".join(r for r in result.scenario.refs if r.startswith(("R-", "Q#")))
    return f'data-grade="{result.verdict.value}" data-area="{_e(area)}" data-rules="{_e(rules)}"'


def _filters(results: Sequence[Result]) -> str:
    def options(values: Sequence[str]) -> str:
        return '<option value="">all</option>' + "".join(
            f'<option value="{_e(v)}">{_e(v)}</option>' for v in values
        )

    grades = [v.value for v in VERDICT_ORDER if any(r.verdict is v for r in results)]
    areas = sorted({r.scenario.id.split(".", 1)[0] for r in results})
    rules = sorted({x for r in results for x in r.scenario.refs if x.startswith(("R-", "Q#"))})
    return (
        '<div class="filters">'
        f'<label>grade <select id="f-grade">{options(grades)}</select></label>'
        f'<label>area <select id="f-area">{options(areas)}</select></label>'
        f'<label>rule <select id="f-rule">{options(rules)}</select></label></div>'
    )


def _counts(results: Sequence[Result]) -> str:
    counts = count_verdicts(list(results))
    spans = "".join(
        f'<span data-pick="{v.value}">{_grade(v)} {n}</span>' for v, n in counts.items() if n
    )
    return f'<p class="counts">{spans}<span data-pick="">show all</span></p>'


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{_e(title)}</title>"
        f"<style>{_CSS}</style><body><h1>{_e(title)}</h1>{body}<script>{_JS}</script></body></html>\n"
    )


def _wants_ladder(result: Result, all_ladders: bool) -> bool:
    return result.verdict is not Verdict.SKIP and (
        all_ladders or result.verdict is not Verdict.PASS
    )


def format_run_report(results: Sequence[Result], *, client: str, all_ladders: bool = False) -> str:
    """A run of scenarios against one client: counts, a table of results, ladders."""
    rows = []
    for r in results:
        link = (
            f'<a href="#{ladder_id(r.client, r.scenario.id)}">{_e(r.scenario.id)}</a>'
            if _wants_ladder(r, all_ladders)
            else _e(r.scenario.id)
        )
        rows.append(
            f"<tr {_data(r)}><td>{_grade(r.verdict)}</td><td>{link}</td>"
            f"<td>{_e(r.rule)}</td><td>{_e(r.message)}</td></tr>"
        )
    ladders = "".join(_ladder(r) for r in results if _wants_ladder(r, all_ladders))
    body = (
        _counts(results)
        + _filters(results)
        + '<table class="results"><tr><th>grade</th><th>scenario</th><th>rule</th><th>why</th></tr>'
        + "".join(rows)
        + "</table><h2>Ladder diagrams</h2>"
        + (ladders or "<p>Every scenario passed.</p>")
    )
    return _page(f"smtp-harness: {len(results)} scenarios against {client}", body)


def format_matrix_report(
    scenarios: Sequence[Scenario],
    columns: Mapping[str, Mapping[str, Result]],
    *,
    all_ladders: bool = False,
) -> str:
    """Scenario x client: the grid (each cell links to its ladder), counts per client, ladders."""
    from harness.report.matrix import matrix_tables

    results = [r for column in columns.values() for r in column.values()]
    ladders = "".join(_ladder(r) for r in results if _wants_ladder(r, all_ladders))
    body = (
        _counts(results)
        + _filters(results)
        + matrix_tables(scenarios, columns, link=lambda r: _wants_ladder(r, all_ladders))
        + "<h2>Ladder diagrams</h2>"
        + (ladders or "<p>Every scenario passed.</p>")
    )
    return _page(f"smtp-harness conformance matrix: {', '.join(columns)}", body)
