"""Grades into Canvas through its REST API (the canvasapi library).

Endpoints used, as canvasapi calls them (Canvas REST API docs, canvas.instructure.com/
doc/api): ``GET /api/v1/courses/:id`` (courses.html#method.courses.show), ``GET
/api/v1/courses/:id/assignments/:id`` (assignments_api.show), ``GET
/api/v1/courses/:id/search_users?enrollment_type[]=student`` (courses.users: each user's
``sis_user_id`` and ``login_id``, paginated by Link headers), ``GET`` and ``PUT
/api/v1/courses/:id/assignments/:id/submissions/:user_id`` (submissions_api.show and
.update: ``submission[posted_grade]``, ``comment[text_comment]``,
``comment[file_ids][]``), and the file-upload flow of ``POST
.../submissions/:user_id/comments/files`` (submission_comments_api.create_file: an
``upload_url`` and ``upload_params``, then a multipart POST of the file there).

A dry run (the default) reads the roster and prints what would be posted. With ``post``
each step (the grade with its comment, then the feedback page) is appended to a record
(canvas-posts.jsonl in the results folder) as soon as Canvas accepted it; a run that
failed half-way is run again and posts only what the record does not hold, so nothing is
posted twice and nothing is lost. A regraded score is a new grade, and is posted.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from autograder.exports import GradeRow, describe_late, read_class
from autograder.grader import GradingError

TOKEN_ENV = "CANVAS_API_TOKEN"
URL_ENV = "CANVAS_URL"
RECORD_FILE = "canvas-posts.jsonl"
Match = Literal["sis", "login"]
#: Which Canvas user field holds the kit's student name, by --match.
MATCH_FIELDS = {"sis": "sis_user_id", "login": "login_id"}
Step = Literal["grade", "feedback"]


@dataclass
class CanvasExport:
    """What an export did (or, in a dry run, would do)."""

    posted: list[tuple[str, Step]] = field(default_factory=list)
    would_post: list[tuple[str, Step]] = field(default_factory=list)
    already: list[tuple[str, Step]] = field(default_factory=list)
    unknown_students: list[str] = field(default_factory=list)
    not_graded: list[tuple[str, str]] = field(default_factory=list)


class PostRecord:
    """The steps Canvas accepted, one JSON line each, appended and flushed as they happen."""

    def __init__(self, path: Path, scope: dict[str, Any]) -> None:
        self.path = path
        self.scope = scope
        self.done: set[str] = set()
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    self.done.add(json.loads(line)["key"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a crash: that step is posted again

    def key(self, student: str, step: Step, value: str) -> str:
        identity = {**self.scope, "student": student, "step": step, "value": value}
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()

    def add(self, student: str, step: Step, value: str, **details: Any) -> None:
        key = self.key(student, step, value)
        line = {
            "key": key,
            **self.scope,
            "student": student,
            "step": step,
            "value": value,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            **details,
        }
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.done.add(key)


def _comment(row: GradeRow, posted: float, points_possible: float | None, attach: bool) -> str:
    text = f"Autograder: {row.raw_score:g} of {row.max_score:g} points"
    if row.late:
        text += (
            f"; submitted {describe_late(row.seconds_late)} late, late penalty "
            f"{row.penalty:g}, final {row.final_score:g}"
        )
    if points_possible and points_possible != row.max_score:
        text += f" (posted as {posted:g} of Canvas's {points_possible:g})"
    return text + (". Your feedback page is attached." if attach and row.feedback else ".")


def _canvas_error(exc: Exception, url: str) -> GradingError:
    """What to do about a Canvas failure, in words."""
    from canvasapi import exceptions

    if isinstance(exc, exceptions.InvalidAccessToken | exceptions.Unauthorized):
        return GradingError(
            f"Canvas at {url} refused the token in ${TOKEN_ENV} ({exc}); create one under "
            "Account > Settings > New access token, as a teacher of the course, and export it"
        )
    if isinstance(exc, exceptions.ResourceDoesNotExist):
        return GradingError(f"Canvas at {url}: not found ({exc}); check --course and --assignment")
    return GradingError(f"Canvas at {url}: {type(exc).__name__}: {exc}")


def _roster(course: Any, match: Match) -> dict[str, Any]:
    """The course's students by the field named by ``match``."""
    field_name = MATCH_FIELDS[match]
    roster = {}
    for user in course.get_users(enrollment_type=["student"]):
        value = getattr(user, field_name, None)
        if value:
            roster[str(value)] = user
    return roster


def _table(lines: list[tuple[str, ...]], out: TextIO) -> None:
    header = ("student", "canvas user", "raw", "penalty", "final", "posted", "action")
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    for row in [header, *lines]:
        out.write(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            + "\n"
        )


def export(
    results_dir: str | os.PathLike[str],
    *,
    course: int,
    assignment: int,
    grades_of: str | None = None,
    url: str | None = None,
    match: Match = "sis",
    post: bool = False,
    attach: bool = True,
    stream: TextIO | None = None,
) -> CanvasExport:
    """Post (with ``post``; else show) the final scores of ``grades_of`` in
    ``results_dir`` to Canvas assignment ``assignment`` of ``course``, each with a comment
    (raw score, lateness, penalty) and, with ``attach``, the feedback page as a comment
    file. Students are matched by SIS user id or login id (``match``); a student Canvas
    does not know is listed, not fatal."""
    from canvasapi import Canvas
    from canvasapi.exceptions import CanvasException
    from requests import RequestException

    out = stream or sys.stdout
    grades = read_class(results_dir, grades_of)
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise GradingError(
            f"set ${TOKEN_ENV} to a Canvas access token (Account > Settings > New access "
            "token); it is never a flag, so it stays out of shell history"
        )
    url = (url or os.environ.get(URL_ENV, "")).strip().rstrip("/")
    if not url:
        raise GradingError(f"say which Canvas: --url https://canvas.example.edu or ${URL_ENV}")
    summary = CanvasExport(not_graded=list(grades.not_graded))
    try:
        with warnings.catch_warnings():  # canvasapi warns about http:// (the tests' server)
            warnings.simplefilter("ignore", UserWarning)
            canvas = Canvas(url, token)
        canvas_course = canvas.get_course(course)
        canvas_assignment = canvas_course.get_assignment(assignment)
        roster = _roster(canvas_course, match)
    except (CanvasException, RequestException) as exc:
        raise _canvas_error(exc, url) from None
    points_possible = getattr(canvas_assignment, "points_possible", None) or None
    record = PostRecord(
        Path(results_dir) / RECORD_FILE, {"url": url, "course": course, "assignment": assignment}
    )
    plan: list[tuple[GradeRow, Any, float, list[tuple[Step, str]]]] = []
    lines = []
    for row in grades.rows:
        user = roster.get(row.student)
        posted = row.final_score
        if points_possible and row.max_score:
            posted = round(row.final_score / row.max_score * float(points_possible), 2)
        steps: list[tuple[Step, str]] = [("grade", f"{posted:g}")]
        if attach and row.feedback is not None:
            steps.append(("feedback", hashlib.sha256(row.feedback.read_bytes()).hexdigest()))
        if user is None:
            summary.unknown_students.append(row.student)
            action = f"no Canvas student with this {MATCH_FIELDS[match]}"
        else:
            todo = [(s, v) for s, v in steps if record.key(row.student, s, v) not in record.done]
            summary.already += [(row.student, s) for s, v in steps if (s, v) not in todo]
            if todo:
                plan.append((row, user, posted, todo))
            action = ", ".join(s for s, _ in todo) or "posted before"
        lines.append(
            (
                row.student,
                str(user.id) if user is not None else "-",
                f"{row.raw_score:g}",
                f"{row.penalty:g}",
                f"{row.final_score:g}",
                f"{posted:g}" + (f"/{points_possible:g}" if points_possible else ""),
                action,
            )
        )
    _table(lines, out)
    if not post:
        summary.would_post = [(row.student, step) for row, _, _, todo in plan for step, _ in todo]
        out.write(
            f"\ndry run: {len(summary.would_post)} steps would be posted; run again with "
            "--post to post them\n"
        )
    else:
        _post(plan, canvas_assignment, record, summary, points_possible, attach, url, out)
    if summary.unknown_students:
        out.write(
            f"not in the Canvas course (by {MATCH_FIELDS[match]}): "
            f"{', '.join(summary.unknown_students)}\n"
        )
    if summary.not_graded:
        out.write(f"not graded, not exported: {', '.join(s for s, _ in summary.not_graded)}\n")
    return summary


def _post(
    plan: list[tuple[GradeRow, Any, float, list[tuple[Step, str]]]],
    canvas_assignment: Any,
    record: PostRecord,
    summary: CanvasExport,
    points_possible: float | None,
    attach: bool,
    url: str,
    out: TextIO,
) -> None:
    """Post every planned step, recording each as Canvas accepts it; stop at the first
    failure and say how to go on."""
    from canvasapi.exceptions import CanvasException
    from requests import RequestException

    total = sum(len(todo) for _, _, _, todo in plan)
    for row, user, posted, todo in plan:
        try:
            submission = canvas_assignment.get_submission(user.id)
            for step, value in todo:
                if step == "grade":
                    submission.edit(
                        submission={"posted_grade": value},
                        comment={"text_comment": _comment(row, posted, points_possible, attach)},
                    )
                else:
                    uploaded, response = submission.upload_comment(str(row.feedback))
                    if not uploaded:
                        raise GradingError(f"Canvas did not take the file: {response}")
                record.add(row.student, step, value, user_id=user.id)
                summary.posted.append((row.student, step))
                out.write(f"posted {row.student}: {step}\n")
        except (CanvasException, RequestException, GradingError) as exc:
            error = exc if isinstance(exc, GradingError) else _canvas_error(exc, url)
            raise GradingError(
                f"{error} — posted {len(summary.posted)} of {total} steps, each kept in "
                f"{record.path}; run the same command again to post only the rest"
            ) from None
    out.write(f"\nposted {len(summary.posted)} steps; record: {record.path}\n")
