"""The full report as JSON (every field of every check)."""

from __future__ import annotations

import json

from autograder.reports import GradeReport


def render(report: GradeReport) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
