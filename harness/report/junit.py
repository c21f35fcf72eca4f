"""JUnit XML, as CI systems read it (Jenkins, GitLab, GitHub test reporters): one testsuite per
client, one testcase per scenario. A failure carries the text report (step, expected, got, the
transcript); xfail and skip are skipped with their reasons; non-strict, info and not-exercised
pass with their grade in system-out (non-strict fails under --strict). The shape is checked
against ``junit.xsd`` beside this module in the tests.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.report.text import format_failure, format_grade
from harness.results import Result, Verdict

__all__ = ["JUNIT_SCHEMA", "format_junit"]

JUNIT_SCHEMA = Path(__file__).with_name("junit.xsd")

# XML 1.0 allows no C0 control character but tab, LF and CR, and no lone surrogate.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", value)


def _case(result: Result, *, strict: bool) -> ET.Element:
    area = result.scenario.id.split(".", 1)[0]
    case = ET.Element(
        "testcase",
        {
            "classname": _text(f"{result.client}.{area}"),
            "name": _text(result.scenario.id),
            "file": _text(result.scenario.path),
            "time": f"{result.duration:.3f}",
        },
    )
    verdict = result.verdict
    if verdict in (Verdict.FAIL, Verdict.XPASS) or (strict and verdict is Verdict.NON_STRICT):
        failure = ET.SubElement(
            case, "failure", {"message": _text(result.message), "type": verdict.value}
        )
        failure.text = _text(format_failure(result))
    elif verdict is Verdict.ERROR:
        error = ET.SubElement(case, "error", {"message": _text(result.message), "type": "error"})
        error.text = _text(format_failure(result))
    elif verdict in (Verdict.SKIP, Verdict.XFAIL):
        why = result.notes[-1] if verdict is Verdict.XFAIL and result.notes else result.message
        ET.SubElement(case, "skipped", {"message": _text(f"{verdict.value}: {why}")})
    elif verdict is not Verdict.PASS:
        out = ET.SubElement(case, "system-out")
        out.text = _text(f"{format_grade(result)}: {result.message}")
    return case


def _counts(cases: Sequence[ET.Element]) -> dict[str, str]:
    def count(tag: str) -> int:
        return sum(1 for c in cases if c.find(tag) is not None)

    return {
        "tests": str(len(cases)),
        "failures": str(count("failure")),
        "errors": str(count("error")),
        "skipped": str(count("skipped")),
        "time": f"{sum(float(c.get('time', '0')) for c in cases):.3f}",
    }


def format_junit(runs: Mapping[str, Sequence[Result]], *, strict: bool = False) -> str:
    """The results of one or more clients (client name → its results) as JUnit XML."""
    root = ET.Element("testsuites", {"name": "smtp-harness"})
    every: list[ET.Element] = []
    for client, results in runs.items():
        cases = [_case(r, strict=strict) for r in results]
        suite = ET.SubElement(
            root, "testsuite", {"name": _text(f"smtp-harness.{client}"), **_counts(cases)}
        )
        suite.extend(cases)
        every += cases
    root.attrib.update(_counts(every))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
