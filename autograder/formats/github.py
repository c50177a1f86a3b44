"""GitHub Classroom's grader result (what autograding-grading-reporter reads).

A grader step publishes ``result`` as base64 of this JSON; the reporter sums the
``score`` of every test against ``max_score``. When grading itself failed the status
is ``error`` and the one test says why, so the run shows an error rather than a zero,
and a result is written even then.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from autograder.checks.hints import GRADER_FAILED
from autograder.formats.text import one_line
from autograder.reports import GradeReport


def _test(name: str, status: str, message: str, score: float, max_score: float) -> dict[str, Any]:
    return {
        "name": name,
        "status": status,
        "message": message,
        "score": score,
        "max_score": max_score,
        "test_code": f"autograder check {name}",
        "filename": "",
        "line_no": 0,
        "execution_time": "",
    }


def error_dict(cause: str, *, max_score: float = 0.0) -> dict[str, Any]:
    """The result of a grading that failed: status error, no points."""
    message = f"The autograder could not grade this submission (not your mistake): {cause}"
    test = _test("grading", "error", one_line(message), 0.0, max_score)
    return {"version": 1, "status": "error", "max_score": max_score, "tests": [test]}


def to_dict(report: GradeReport) -> dict[str, Any]:
    error = report.error or None
    if error is not None:
        return error_dict(error, max_score=report.max_score)
    tests = []
    for result in report.results:
        status = "pass" if result.passed else "fail"
        if not result.passed and result.hint_category == GRADER_FAILED:
            status = "error"
        message = "" if result.passed else result.explain()
        tests.append(_test(result.id, status, message, result.points, result.max_points))
    statuses = {test["status"] for test in tests}
    status = next(s for s in ("error", "fail", "pass") if s in statuses | {"pass"})
    return {"version": 1, "status": status, "max_score": report.max_score, "tests": tests}


def _line(data: dict[str, Any]) -> str:
    payload = json.dumps(data).encode("utf-8")
    return f"result={base64.b64encode(payload).decode('ascii')}\n"


def render(report: GradeReport) -> str:
    """The step-output line ``result=<base64 JSON>``, ready for $GITHUB_OUTPUT."""
    return _line(to_dict(report))


def render_error(cause: str, *, max_score: float = 0.0) -> str:
    """The step-output line for a grading that failed before it produced a report."""
    return _line(error_dict(cause, max_score=max_score))
