"""Gradescope's results.json, with every field of its documented spec that applies.

Spec: https://gradescope-autograders.readthedocs.io/en/latest/specs/ . Messages and
hints are Markdown (hints quote code in backticks); student text in them has its HTML
escaped, so a crafted exception message cannot inject markup into the results page.
A report whose grading failed becomes an error result: no score (Gradescope then shows
the autograder as failed instead of recording a zero) and the cause in the output.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any, get_args

from autograder.reports import GradeReport
from mnist_course.config import GradescopeVisibility, GradingLimits
from mnist_course.results import CheckResult

VISIBILITIES: tuple[GradescopeVisibility, ...] = get_args(GradescopeVisibility)
#: Who sees which check when course.yaml says nothing (grading.gradescope_visibility).
DEFAULT_VISIBILITY: Mapping[str, GradescopeVisibility] = GradingLimits().gradescope_visibility
ERROR_OUTPUT = (
    "**The autograder could not grade this submission.** This is not your score and "
    "not your mistake; your instructor has the cause below and will regrade it.\n\n"
    "Cause: {cause}"
)


def visibility_of(
    result: CheckResult, visibility: Mapping[str, GradescopeVisibility] = DEFAULT_VISIBILITY
) -> GradescopeVisibility:
    """Gradescope visibility of one check: by id, then by kind, then the kit's own."""
    kind = result.id.rpartition(".")[2]
    chosen = visibility.get(result.id) or visibility.get(kind)
    if chosen is None:
        chosen = "visible" if result.visibility == "visible" else "after_published"
    if chosen not in VISIBILITIES:
        raise ValueError(
            f"visibility {chosen!r} for {result.id} is not one of {', '.join(VISIBILITIES)}"
        )
    return chosen


def _markdown(text: str) -> str:
    return html.escape(text, quote=False)


def _test(
    number: int, result: CheckResult, visibility: Mapping[str, GradescopeVisibility]
) -> dict[str, Any]:
    output = _markdown(result.message)
    if not result.passed and result.hint:
        output += f"\n\n**Hint:** {_markdown(result.hint)}"
    stage = result.id.partition(".")[0]
    return {
        "score": result.points,
        "max_score": result.max_points,
        "status": "passed" if result.passed else "failed",
        "name": result.title,
        "name_format": "text",
        "number": str(number),
        "output": output,
        "output_format": "md",
        "tags": [tag for tag in (result.hint_category, stage) if tag],
        "visibility": visibility_of(result, visibility),
        "extra_data": {"id": result.id, "hint_category": result.hint_category},
    }


def _top(output: str, execution_time: float | None, extra: dict[str, Any]) -> dict[str, Any]:
    top: dict[str, Any] = {
        "output": output,
        "output_format": "md",
        "test_output_format": "md",
        "test_name_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": extra,
    }
    if execution_time is not None:
        top["execution_time"] = max(0, round(execution_time))
    return top


def error_dict(cause: str, *, execution_time: float | None = None) -> dict[str, Any]:
    """The result for a submission that could not be graded (no score, no tests)."""
    output = ERROR_OUTPUT.format(cause=_markdown(cause))
    return {**_top(output, execution_time, {"error": cause}), "tests": []}


def to_dict(
    report: GradeReport,
    *,
    visibility: Mapping[str, GradescopeVisibility] = DEFAULT_VISIBILITY,
    execution_time: float | None = None,
) -> dict[str, Any]:
    """results.json for ``report``; ``execution_time`` in seconds (default: the report's
    own ``seconds`` when it has one)."""
    if execution_time is None:
        execution_time = report.seconds
    error = report.error or None
    if error is not None:
        return error_dict(error, execution_time=execution_time)
    notes = "\n".join(f"- {_markdown(note)}" for note in report.notes)
    output = f"**Score: {report.score:g} / {report.max_score:g}**"
    if notes:
        output += f"\n\nWhile running your notebook:\n\n{notes}"
    extra = {"submission": report.submission, "notes": list(report.notes)}
    return {
        "score": report.score,
        "max_score": report.max_score,
        **_top(output, execution_time, extra),
        "tests": [
            _test(number, result, visibility)
            for number, result in enumerate(report.results, start=1)
        ],
    }


def render(
    report: GradeReport,
    *,
    visibility: Mapping[str, GradescopeVisibility] = DEFAULT_VISIBILITY,
    execution_time: float | None = None,
) -> str:
    data = to_dict(report, visibility=visibility, execution_time=execution_time)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def render_error(cause: str, *, execution_time: float | None = None) -> str:
    """results.json text for a grading that failed before it produced a report."""
    return json.dumps(error_dict(cause, execution_time=execution_time), indent=2) + "\n"
