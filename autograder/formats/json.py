"""The full report as JSON (every field of every check)."""

from __future__ import annotations

import json

from autograder.grader import GradeReport


def grading_error(report: GradeReport) -> str | None:
    """Why grading itself failed, or None when the report is a grade.

    Read defensively: ``GradeReport.error`` is the field that says so, and reports
    written before it existed have none."""
    error = getattr(report, "error", None)
    return str(error) if error else None


def render(report: GradeReport) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
