"""Which rules (R-...) and client bugs (Q#...) the scenarios cover, from their ``refs``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.scenario.model import Scenario

__all__ = [
    "CatalogueEntry",
    "Coverage",
    "compute_coverage",
    "format_coverage_markdown",
    "format_coverage_text",
    "load_catalogue",
]

_CATALOGUE = Path(__file__).parent / "catalogue.yaml"
_ID = re.compile(r"\b(R-[A-Z0-9]+-\d+|Q#\d+)\b")


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    id: str
    summary: str
    not_scriptable: str = ""
    partial: str = ""


@dataclass(frozen=True, slots=True)
class Coverage:
    rules: list[tuple[CatalogueEntry, list[str]]]
    quirks: list[tuple[CatalogueEntry, list[str]]]
    unknown_refs: dict[str, list[str]]  # ids in refs that the catalogue does not know

    @staticmethod
    def _count(rows: list[tuple[CatalogueEntry, list[str]]]) -> int:
        return sum(1 for _, ids in rows if ids)


def load_catalogue() -> tuple[list[CatalogueEntry], list[CatalogueEntry]]:
    data = yaml.safe_load(_CATALOGUE.read_text(encoding="utf-8"))
    rules = [
        CatalogueEntry(r["id"], f"{r['source']}: {r['rule']}", r.get("not_scriptable", ""))
        for r in data["rules"]
    ]
    quirks = [
        CatalogueEntry(
            q["id"], f"{q['client']}: {q['bug']} ({q['trigger']})", q.get("not_scriptable", "")
        )
        for q in data["quirks"]
    ]
    return rules, quirks


def compute_coverage(scenarios: Sequence[Scenario]) -> Coverage:
    by_id: dict[str, list[str]] = {}
    for s in scenarios:
        for ref in s.refs:
            for found in _ID.findall(ref):
                by_id.setdefault(found, []).append(s.id)
    rules, quirks = load_catalogue()
    known = {e.id for e in rules + quirks}
    return Coverage(
        rules=[(e, sorted(set(by_id.get(e.id, [])))) for e in rules],
        quirks=[(e, sorted(set(by_id.get(e.id, [])))) for e in quirks],
        unknown_refs={i: ids for i, ids in sorted(by_id.items()) if i not in known},
    )


def format_coverage_text(cov: Coverage) -> str:
    lines = []
    for title, rows in (("rules", cov.rules), ("client bugs", cov.quirks)):
        lines.append(f"{title}: {Coverage._count(rows)} of {len(rows)} covered")
        for entry, ids in rows:
            mark = f"{len(ids):3d}" if ids else ("  -" if not entry.not_scriptable else "  n")
            lines.append(
                f"  {mark}  {entry.id:12} {', '.join(ids[:3]) if ids else entry.not_scriptable}"
            )
    for ref, ids in cov.unknown_refs.items():
        lines.append(f"unknown id {ref} in refs of: {', '.join(ids)}")
    return "\n".join(lines)


def format_coverage_markdown(cov: Coverage) -> str:
    out = [
        "# Corpus coverage",
        "",
        "Regenerate with `smtp-harness coverage --markdown docs/coverage.md`. A scenario covers an id",
        "when its `refs` name it.",
        "",
        f"- rules: **{Coverage._count(cov.rules)} of {len(cov.rules)}** covered",
        f"- client bugs (server-quirks.md §12): **{Coverage._count(cov.quirks)} of {len(cov.quirks)}** covered",
        "",
    ]
    for title, rows in (("Rules", cov.rules), ("Client bugs", cov.quirks)):
        out += [f"## {title}", "", "| id | scenarios | what |", "|---|---|---|"]
        for entry, ids in rows:
            cell = (
                ", ".join(f"`{i}`" for i in ids)
                if ids
                else (
                    f"not scriptable: {entry.not_scriptable}"
                    if entry.not_scriptable
                    else "**not covered**"
                )
            )
            out.append(f"| {entry.id} | {cell} | {entry.summary.replace('|', '/')} |")
        out.append("")
    if cov.unknown_refs:
        out += ["## Ids in refs that the catalogue does not know", ""]
        out += [f"- {ref}: {', '.join(ids)}" for ref, ids in cov.unknown_refs.items()]
    return "\n".join(out) + "\n"
