"""Grading a whole class: every submission in a folder, one report each, one CSV.

Each submission is graded on its own, in its own sandbox and scratch folder, by
:func:`autograder.grader.grade_submission`; a submission that breaks even the
grader becomes a zero with the reason, and the batch goes on. Reports are written
as each submission finishes, so an interrupted batch keeps what it had done.
"""

from __future__ import annotations

import csv
import json
import os
import re
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from autograder.checks.result import fail_all
from autograder.config import CourseConfig, load_config
from autograder.grader import GradeReport, GradingError, grade_submission

GRADES_FILE = "grades.csv"
SAFE_NAME = re.compile(r"[^A-Za-z0-9_.@-]+")


@dataclass(frozen=True)
class Submission:
    """One notebook to grade and whose it is."""

    student: str
    assignment: str
    path: Path


def find_submissions(folder: Path, config: CourseConfig) -> list[Submission]:
    """Submissions under ``folder``, sorted by student.

    Two layouts are recognised: nbgrader's ``<student>/<assignment>/<notebook>``
    (``submitted/`` of a course directory), and a flat folder of ``<student>.ipynb``
    files (an LMS download).
    """
    if not folder.is_dir():
        raise GradingError(f"{folder}: submissions folder does not exist")
    found: list[Submission] = []
    for student_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        for assignment in config.assignments:
            notebook = student_dir / assignment.id / assignment.notebook
            if notebook.is_file():
                found.append(Submission(student_dir.name, assignment.id, notebook))
    default = config.assignments[0].id
    for notebook in sorted(folder.glob("*.ipynb")):
        found.append(Submission(notebook.stem, default, notebook))
    return found


def _crashed(submission: Submission, config: CourseConfig, error: BaseException) -> GradeReport:
    """A zero report for a submission that made the grader itself fail."""
    reason = f"the grader failed on this submission ({type(error).__name__}: {error})"
    return GradeReport(
        submission=str(submission.path),
        results=fail_all(
            config, reason, "Tell your instructor: this is a grader problem, not your mistake."
        ),
        notes=(reason, traceback.format_exc(limit=5)),
    )


def _report_name(submission: Submission) -> str:
    return SAFE_NAME.sub("_", f"{submission.student}--{submission.assignment}") + ".json"


def write_grades_csv(path: Path, graded: list[tuple[Submission, GradeReport]]) -> None:
    """One row per submission: student, assignment, score, max score, each check's points."""
    check_ids: list[str] = []
    for _, report in graded:
        for result in report.results:
            if result.id not in check_ids:
                check_ids.append(result.id)
    temporary = path.with_suffix(".csv.tmp")
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "assignment", "score", "max_score", *check_ids])
        for submission, report in graded:
            points = {result.id: result.points for result in report.results}
            writer.writerow(
                [
                    submission.student,
                    submission.assignment,
                    report.score,
                    report.max_score,
                    *(points.get(check, "") for check in check_ids),
                ]
            )
    os.replace(temporary, path)  # never a half-written grades file


def grade_all(
    folder: str | os.PathLike[str],
    output: str | os.PathLike[str] = "graded",
    *,
    config: CourseConfig | None = None,
    config_path: str | os.PathLike[str] | None = None,
    retrain: bool | None = None,
    submission_timeout_s: float | None = None,
    cell_timeout_s: float | None = None,
    progress: Callable[[str], None] | None = None,
    allow_unsandboxed: bool = False,
) -> list[tuple[Submission, GradeReport]]:
    """Grade every submission in ``folder``; write ``output``/<student>--<assignment>.json
    and ``output``/grades.csv. Raises :class:`GradingError` only when nothing can be graded
    (no such folder, no submissions, bad course.yaml, MNIST missing)."""
    say = progress or (lambda message: None)
    config = config or load_config(config_path)
    submissions = find_submissions(Path(folder), config)
    if not submissions:
        raise GradingError(
            f"{folder}: no submissions found (expected <student>/<assignment>/<notebook> "
            "as in nbgrader's submitted/, or <student>.ipynb files)"
        )
    target = Path(output)
    target.mkdir(parents=True, exist_ok=True)
    graded: list[tuple[Submission, GradeReport]] = []
    for number, submission in enumerate(submissions, start=1):
        started = time.perf_counter()
        say(f"[{number}/{len(submissions)}] {submission.student} ({submission.assignment}) ...")
        try:
            report = grade_submission(
                submission.path,
                config=config,
                retrain=retrain,
                submission_timeout_s=submission_timeout_s,
                cell_timeout_s=cell_timeout_s,
                allow_unsandboxed=allow_unsandboxed,
            )
        except GradingError:
            raise  # the data or the configuration is missing: no submission can be graded
        except Exception as exc:  # one bad submission never stops a batch
            report = _crashed(submission, config, exc)
        graded.append((submission, report))
        (target / _report_name(submission)).write_text(
            json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        write_grades_csv(target / GRADES_FILE, graded)
        say(
            f"[{number}/{len(submissions)}] {submission.student}: "
            f"{report.score:g}/{report.max_score:g} in {time.perf_counter() - started:.0f} s"
        )
    return graded
