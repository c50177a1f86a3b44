"""Gradescope's results.json: score, max_score and one test per check."""

from __future__ import annotations

import json
from typing import Any

from autograder.grader import GradeReport


def to_dict(report: GradeReport) -> dict[str, Any]:
    tests = [
        {
            "name": f"{result.id}: {result.title}",
            "score": result.points,
            "max_score": result.max_points,
            "status": "passed" if result.passed else "failed",
            "output": result.explain(),
            "visibility": result.visibility,
        }
        for result in report.results
    ]
    output = "\n".join(report.notes)
    return {
        "score": report.score,
        "max_score": report.max_score,
        "output": output,
        "visibility": "visible",
        "tests": tests,
    }


def render(report: GradeReport) -> str:
    return json.dumps(to_dict(report), indent=2, ensure_ascii=False) + "\n"
