"""Reports: text for people, JSON for machines."""

from harness.report.text import format_failure, format_result_line, format_summary

__all__ = ["format_failure", "format_result_line", "format_summary"]
