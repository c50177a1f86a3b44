"""Grades out of the kit: grade-all's class.json as the rows an LMS takes.

One :class:`GradeRow` per graded submission, read from class.json (raw score, late
penalty, final score, the feedback page beside it); each LMS format
(:mod:`autograder.exports.lms_csv`, :mod:`autograder.exports.canvas`) loops over them.
Submissions grade-all could not grade are listed, never exported as zeros.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.batch import CLASS_FILE, feedback_page
from autograder.grader import GradingError

MAX_CLASS_BYTES = 200 * 2**20


@dataclass(frozen=True)
class GradeRow:
    """One graded submission as every export sees it."""

    student: str
    assignment: str
    raw_score: float
    max_score: float
    penalty: float
    seconds_late: float
    final_score: float
    feedback: Path | None  # grade-all's feedback page, when it is there

    @property
    def late(self) -> bool:
        return self.seconds_late > 0


@dataclass(frozen=True)
class ClassGrades:
    """The rows of one assignment, and the submissions that have no grade to export."""

    assignment: str
    rows: tuple[GradeRow, ...]
    not_graded: tuple[tuple[str, str], ...]  # (student, why)


def describe_late(seconds: float) -> str:
    """A lateness for people: 1 s, 3 min, 2 h 5 min, 3 d 4 h."""
    seconds = math.ceil(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    days, hours = divmod(hours, 24)
    return f"{days} d" + (f" {hours} h" if hours else "")


def _number(data: Any, key: str) -> float:
    value = float(data[key])
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{key} is {value}")
    return value


def _row(item: dict[str, Any], folder: Path) -> GradeRow:
    report = item["report"]
    raw, maximum = _number(report, "score"), _number(report, "max_score")
    late = item.get("late") or {"penalty": 0.0, "seconds_late": 0.0, "final_score": raw}
    page = feedback_page(folder, str(item["student"]), str(item["assignment"]))
    return GradeRow(
        student=str(item["student"]),
        assignment=str(item["assignment"]),
        raw_score=raw,
        max_score=maximum,
        penalty=_number(late, "penalty"),
        seconds_late=_number(late, "seconds_late"),
        final_score=_number(late, "final_score"),
        feedback=page if page.is_file() and not page.is_symlink() else None,
    )


def read_class(results_dir: str | os.PathLike[str], assignment: str | None = None) -> ClassGrades:
    """The grades of ``assignment`` (None: the only one in the results) from grade-all's
    class.json in ``results_dir``."""
    folder = Path(results_dir)
    path = folder / CLASS_FILE
    if not path.is_file() or path.is_symlink():
        raise GradingError(f"{path}: not found; run grade-all with --output {folder} first")
    if path.stat().st_size > MAX_CLASS_BYTES:
        raise GradingError(f"{path}: over {MAX_CLASS_BYTES} bytes; not read")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))["results"]
        assignments = sorted({str(item["assignment"]) for item in results})
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GradingError(
            f"{path}: not grade-all's class.json ({exc}); run grade-all again"
        ) from None
    if assignment is None:
        if len(assignments) != 1:
            raise GradingError(
                f"{path}: grades of {len(assignments)} assignments ({', '.join(assignments)}); "
                "say which with --grades-of ID"
            )
        assignment = assignments[0]
    if assignment not in assignments:
        raise GradingError(
            f"{path}: no grades of {assignment!r} (it has: {', '.join(assignments) or 'none'})"
        )
    rows, not_graded = [], []
    for item in results:
        if item.get("assignment") != assignment:
            continue
        if item.get("status") != "graded" or not item.get("report"):
            not_graded.append((str(item.get("student")), str(item.get("error") or "not graded")))
            continue
        try:
            rows.append(_row(item, folder))
        except (KeyError, TypeError, ValueError) as exc:
            not_graded.append((str(item.get("student")), f"unreadable result ({exc})"))
    return ClassGrades(assignment, tuple(rows), tuple(not_graded))
