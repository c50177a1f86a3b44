"""GitHub Classroom's grader result (what autograding-grading-reporter reads).

A grader step publishes ``result`` as base64 of this JSON; the reporter sums the
``score`` of every test against ``max_score``.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from autograder.grader import GradeReport


def to_dict(report: GradeReport) -> dict[str, Any]:
    tests = [
        {
            "name": result.id,
            "status": "pass" if result.passed else "fail",
            "message": "" if result.passed else result.explain(),
            "score": result.points,
            "max_score": result.max_points,
            "test_code": f"autograder check {result.id}",
            "filename": "",
            "line_no": 0,
            "execution_time": "",
        }
        for result in report.results
    ]
    status = "pass" if all(result.passed for result in report.results) else "fail"
    return {"version": 1, "status": status, "max_score": report.max_score, "tests": tests}


def render(report: GradeReport) -> str:
    """The step-output line ``result=<base64 JSON>``, ready for $GITHUB_OUTPUT."""
    payload = json.dumps(to_dict(report)).encode("utf-8")
    return f"result={base64.b64encode(payload).decode('ascii')}\n"
