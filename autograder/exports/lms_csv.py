"""The grade-import CSV files of Moodle and Canvas.

Moodle (Grades > Import > CSV file; https://docs.moodle.org/en/Grade_import and its
importer, grade/import/csv/classes/load_data.php): one column identifies the user and is
mapped on the import screen to a user field (username, ID number or email address), each
further column is mapped to a grade item or to an item's feedback; columns not mapped
are ignored, so raw score, lateness and penalty ride along for the record. The headers
follow Moodle's own grade export ("Username", "ID number", "Email address";
"<item> (Real)" for the grade, "<item> (Feedback)").

Canvas (Grades > Import; Canvas Instructor Guide "How do I import grades in the
Gradebook?", and e.g. Ohio State's "Import a CSV file to Carmen Grades"): the columns
``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID``, ``Section``, then one column per
assignment named ``<name> (<assignment id>)``; a student is matched by ID, SIS User ID
or SIS Login ID, and a "Points Possible" row may follow the header. Canvas makes every
other column a new assignment, so this file holds the final score only; the raw score,
lateness and penalty are in grades.csv beside it (and in the comment the API export
posts).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Literal

from autograder.exports import ClassGrades, describe_late, read_class

MoodleIdentifier = Literal["username", "idnumber", "email"]
#: Moodle's names of the user fields its import can map an identifier column to.
MOODLE_IDENTIFIER_HEADERS = {
    "username": "Username",
    "idnumber": "ID number",
    "email": "Email address",
}
CanvasMatch = Literal["sis", "login"]
CANVAS_FIXED_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
#: Canvas's export writes this (indented) in the Student column of the points row.
CANVAS_POINTS_ROW = "    Points Possible"


def _write(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    os.replace(temporary, path)
    return path


def _feedback(row) -> str:  # noqa: ANN001 - a GradeRow
    text = f"Autograder: {row.raw_score:g}/{row.max_score:g}"
    if row.late:
        text += f"; {describe_late(row.seconds_late)} late, -{row.penalty:g}"
        text += f" = {row.final_score:g}"
    return text


def moodle_csv(
    results_dir: str | os.PathLike[str],
    *,
    output: str | os.PathLike[str] | None = None,
    grades_of: str | None = None,
    item: str | None = None,
    identifier: MoodleIdentifier = "username",
) -> tuple[Path, ClassGrades]:
    """Write Moodle's grade-import CSV of one assignment (default: ``results_dir``/
    moodle-<assignment>.csv); the student column holds grade-all's student names, which
    must be the Moodle users' ``identifier``."""
    grades = read_class(results_dir, grades_of)
    item = item or grades.assignment
    header = [
        MOODLE_IDENTIFIER_HEADERS[identifier],
        f"{item} (Real)",
        f"{item} (Feedback)",
        "Raw score",
        "Maximum score",
        "Late (seconds)",
        "Late penalty",
    ]
    rows = [
        [
            row.student,
            f"{row.final_score:g}",
            _feedback(row),
            f"{row.raw_score:g}",
            f"{row.max_score:g}",
            round(row.seconds_late),
            f"{row.penalty:g}",
        ]
        for row in grades.rows
    ]
    path = Path(output) if output else Path(results_dir) / f"moodle-{grades.assignment}.csv"
    return _write(path, header, rows), grades


def canvas_csv(
    results_dir: str | os.PathLike[str],
    *,
    output: str | os.PathLike[str] | None = None,
    grades_of: str | None = None,
    title: str | None = None,
    canvas_assignment: int | None = None,
    match: CanvasMatch = "sis",
) -> tuple[Path, ClassGrades]:
    """Write Canvas's gradebook-import CSV of one assignment (default: ``results_dir``/
    canvas-<assignment>.csv): the final score in the column ``<title> (<id>)`` (without an
    id, Canvas makes a new assignment of that title); the student names go into
    SIS User ID or SIS Login ID (``match``)."""
    grades = read_class(results_dir, grades_of)
    title = title or grades.assignment
    column = f"{title} ({canvas_assignment})" if canvas_assignment is not None else title
    header = [*CANVAS_FIXED_COLUMNS, column]
    maximum = max((row.max_score for row in grades.rows), default=0.0)
    rows: list[list[object]] = [[CANVAS_POINTS_ROW, "", "", "", "", f"{maximum:g}"]]
    for row in grades.rows:
        sis, login = (row.student, "") if match == "sis" else ("", row.student)
        rows.append([row.student, "", sis, login, "", f"{row.final_score:g}"])
    path = Path(output) if output else Path(results_dir) / f"canvas-{grades.assignment}.csv"
    return _write(path, header, rows), grades
