"""The trusted scores into an nbgrader course's gradebook.db, through nbgrader's own API.

Each check is graded by one nbgrader test cell of the source notebook; the cell is found
by its ``grade_id`` (``check-load``, ``check-cnn-accuracy`` ...), so ``nbgrader export``
and formgrader show the kit's scores, one grade per test cell. A late submission's
penalty (course.yaml's policy, :mod:`autograder.lateness`) goes where nbgrader keeps its
own: the submitted notebook's ``late_submission_penalty``, with the submission's
timestamp, so nbgrader's totals and ``nbgrader export`` agree with grades.csv.
"""

from __future__ import annotations

import os
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING

from autograder import lateness
from autograder.grader import GradingError
from mnist_course.config import CourseConfig
from mnist_course.results import grade_id_of, is_test_cell

if TYPE_CHECKING:
    from autograder.batch import Result

GRADEBOOK_FILE = "gradebook.db"


def source_test_cells(course_dir: Path, config: CourseConfig, assignment: str) -> set[str]:
    """grade_ids of the nbgrader test cells in the assignment's source notebook."""
    import nbformat

    notebook = config.assignments[assignment].notebook
    path = course_dir / config.course.source_directory / assignment / notebook
    if not path.is_file():
        raise GradingError(
            f"{path}: source notebook not found; run grade-all --gradebook in the nbgrader "
            "course directory (where gradebook.db and nbgrader_config.py are)"
        )
    found = set()
    for cell in nbformat.read(path, as_version=4).cells:
        if is_test_cell(cell):
            found.add(cell.metadata.nbgrader["grade_id"])
    return found


def write_scores(
    results: list[Result],
    course_dir: Path,
    config: CourseConfig,
    *,
    submission_times: str | os.PathLike[str] | None = None,
) -> int:
    """Write every graded result's points as the auto-scores of its nbgrader test cells,
    and its late penalty as nbgrader's; results that could not be graded are left out.
    Returns how many were written."""
    from nbgrader.api import Gradebook, MissingEntry

    database = course_dir / GRADEBOOK_FILE
    if not database.is_file():
        raise GradingError(
            f"{database}: no nbgrader gradebook here; run `nbgrader generate_assignment` "
            "in the course directory first, and grade-all --gradebook from there"
        )
    cells = {
        assignment: source_test_cells(course_dir, config, assignment)
        for assignment in {result.submission.assignment for result in results if result.graded}
    }
    late = lateness.assess_class(results, config, submission_times=submission_times)
    written = 0
    with Gradebook(f"sqlite:///{database}") as gradebook:
        for result in results:
            if not result.graded:
                continue
            student = result.submission.student
            assignment = result.submission.assignment
            notebook = config.assignments[assignment].notebook
            gradebook.update_or_create_student(student)
            record = late[result.submission]
            try:
                submission = gradebook.update_or_create_submission(assignment, student)
            except MissingEntry:
                raise GradingError(
                    f"assignment {assignment} is not in {database}; run "
                    f"`nbgrader generate_assignment {assignment}` first"
                ) from None
            for check in result.report.results:
                cell = grade_id_of(check.id)
                if cell not in cells[assignment]:
                    raise GradingError(
                        f"check {check.id}: the source notebook has no test cell with "
                        f"grade_id {cell}; regenerate it with `make notebook`"
                    )
                grade = gradebook.find_grade(
                    cell, notebook.removesuffix(".ipynb"), assignment, student
                )
                grade.auto_score = check.points
            if record.submitted is not None:  # nbgrader keeps naive UTC times
                submission.timestamp = record.submitted.astimezone(UTC).replace(tzinfo=None)
            submitted_notebook = gradebook.find_submission_notebook(
                notebook.removesuffix(".ipynb"), assignment, student
            )
            submitted_notebook.late_submission_penalty = record.penalty or None
            gradebook.db.commit()
            written += 1
    return written
