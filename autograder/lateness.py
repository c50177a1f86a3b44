"""Late work: when a submission came in, how late it was, and what that costs.

The arithmetic (:func:`assess`) is pure: due time, submission time, policy and raw score
in, lateness and final score out. Due exactly on time costs nothing; one second late is
one started hour or day; the penalty is a share of the maximum score per started period,
capped; past a cutoff the score is zero. An extension replaces the due time (and so
moves the cutoff with it).

The rest reads what the arithmetic needs, never trusting more than it must: the
extensions file (CSV or YAML) and an instructor's CSV of submission times, validated
with errors that name the file and the row; nbgrader's ``timestamp.txt``; a file's mtime
as the last resort. Which source gave the time is kept with the result.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from mnist_course.config import ConfigError, CourseConfig, LatePolicy

if TYPE_CHECKING:
    from autograder.reports import Result, Submission

#: Where a submission time came from, in the order they are tried.
TimeSource = Literal["timestamp.txt", "csv", "mtime"]
PERIOD_SECONDS = {"hour": 3600, "day": 86400}
TIMESTAMP_FILE = "timestamp.txt"  # written by nbgrader submit, kept by nbgrader collect
MAX_TABLE_BYTES = 5 * 2**20
MAX_TIMESTAMP_BYTES = 1024


@dataclass(frozen=True)
class Lateness:
    """How late one submission was and what it cost (all zero when on time or no due)."""

    due: datetime | None  # the due time that applied (an extension's when given)
    submitted: datetime | None
    source: str  # TimeSource, or "" when no time was needed or found
    extended: bool
    seconds_late: float
    periods: int  # started hours or days late
    penalty: float  # points taken off (never more than the raw score)
    zeroed: bool  # past the cutoff
    raw_score: float
    final_score: float

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("due", "submitted"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


def assess(
    raw_score: float,
    max_score: float,
    *,
    due: datetime | None,
    submitted: datetime | None,
    policy: LatePolicy,
    extended: bool = False,
    source: str = "",
) -> Lateness:
    """The final score of ``raw_score`` handed in at ``submitted`` against ``due``.

    No due time, or no submission time, or on time (``submitted <= due``): no penalty.
    Otherwise every started period (hour or day) costs ``policy.penalty`` of
    ``max_score``, at most ``policy.max_penalty`` of it, and more than
    ``policy.zero_after_hours`` late scores zero. The score never goes below zero."""
    for name, moment in (("due", due), ("submitted", submitted)):
        if moment is not None and moment.tzinfo is None:
            raise ValueError(f"{name} time {moment} has no time zone")
    if due is None or submitted is None or submitted <= due:
        return Lateness(due, submitted, source, extended, 0.0, 0, 0.0, False, raw_score, raw_score)
    seconds = (submitted - due).total_seconds()
    periods = math.ceil(seconds / PERIOD_SECONDS[policy.per])
    zeroed = policy.zero_after_hours is not None and seconds > policy.zero_after_hours * 3600
    if zeroed:
        final = 0.0
    else:
        share = min(periods * policy.penalty, policy.max_penalty)
        final = max(raw_score - round(share * max_score, 9), 0.0)
    penalty = round(raw_score - final, 9)
    return Lateness(
        due, submitted, source, extended, seconds, periods, penalty, zeroed, raw_score, final
    )


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Extension(_Row):
    """One row of the extensions file."""

    student: str = Field(..., min_length=1)
    assignment: str = Field(..., min_length=1)
    due: AwareDatetime


class SubmissionTime(_Row):
    """One row of an instructor's submission-times CSV (other columns, as an LMS's
    export has, are ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    student: str = Field(..., min_length=1)
    submitted: AwareDatetime
    assignment: str | None = None


def _read_table(path: Path, what: str) -> tuple[list[Any], str]:
    """The rows of a CSV (dicts) or YAML (a list) file and the word for one of them."""
    if not path.is_file() or path.is_symlink():
        raise ConfigError(f"{path}: {what} file not found (or not a regular file)")
    if path.stat().st_size > MAX_TABLE_BYTES:
        raise ConfigError(f"{path}: {what} file is over {MAX_TABLE_BYTES} bytes")
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            rows = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
        if rows is None:
            return [], "entry"
        if not isinstance(rows, list):
            raise ConfigError(
                f"{path}: expected a list of entries (- student: ..., assignment: ..., due: ...)"
            )
        return rows, "entry"
    if path.suffix.lower() != ".csv":
        raise ConfigError(f"{path}: {what} file must be .csv, .yaml or .yml")
    reader = csv.DictReader(io.StringIO(text))
    rows = [{k: v for k, v in row.items() if v not in (None, "")} for row in reader]
    if None in (reader.fieldnames or []) or any(None in row for row in rows):
        raise ConfigError(f"{path}: a row has more cells than the header has columns")
    return rows, "row"


def _validated(path: Path, what: str, model: type[_Row]) -> list[Any]:
    rows, word = _read_table(path, what)
    found, errors = [], []
    for number, row in enumerate(rows, start=2 if word == "row" else 1):
        try:
            if not isinstance(row, dict):
                raise ConfigError(f"expected a mapping (got {type(row).__name__})")
            found.append(model.model_validate(row))
        except ValidationError as exc:
            for error in exc.errors():
                key = ".".join(str(part) for part in error["loc"])
                given = f" (got {error['input']!r})" if error["type"] != "missing" else ""
                errors.append(f"{word} {number}: key '{key}': {error['msg']}{given}")
        except ConfigError as exc:
            errors.append(f"{word} {number}: {exc}")
    if errors:
        raise ConfigError(f"{path}: invalid {what} file\n  " + "\n  ".join(errors))
    return found


def read_extensions(path: Path, config: CourseConfig) -> dict[tuple[str, str], datetime]:
    """The new due time of each (student, assignment); an assignment the course does not
    have, or a student given two extensions for one assignment, is an error."""
    extensions: dict[tuple[str, str], datetime] = {}
    errors = []
    for extension in _validated(path, "extensions", Extension):
        key = (extension.student, extension.assignment)
        if extension.assignment not in config.assignments:
            errors.append(
                f"student {extension.student}: key 'assignment': no assignment "
                f"{extension.assignment!r} (the course has: {', '.join(config.assignments)})"
            )
        elif key in extensions:
            errors.append(f"student {extension.student}: two extensions for {extension.assignment}")
        extensions[key] = extension.due
    if errors:
        raise ConfigError(f"{path}: invalid extensions file\n  " + "\n  ".join(errors))
    return extensions


def read_submission_times(path: Path) -> dict[tuple[str, str | None], datetime]:
    """Submission times by (student, assignment); assignment None: any of the student's."""
    return {
        (row.student, row.assignment): row.submitted
        for row in _validated(path, "submission times", SubmissionTime)
    }


def _nbgrader_timestamp(submission: Submission) -> datetime | None:
    """nbgrader's timestamp.txt of a ``<student>/<assignment>/`` submission, read by
    nbgrader's own parser (a time without a zone is UTC, as nbgrader writes it)."""
    folder = submission.path.parent
    if (folder.name, folder.parent.name) != (submission.assignment, submission.student):
        return None  # a flat folder: a timestamp.txt there is nobody's
    file = folder / TIMESTAMP_FILE
    if file.is_symlink() or not file.is_file() or file.stat().st_size > MAX_TIMESTAMP_BYTES:
        return None
    from nbgrader.utils import parse_utc

    try:
        moment = parse_utc(file.read_text(encoding="utf-8").strip())
    except (ValueError, OverflowError, OSError):
        return None
    return moment.replace(tzinfo=UTC) if moment is not None else None


def submission_time(
    submission: Submission, times: Mapping[tuple[str, str | None], datetime]
) -> tuple[datetime | None, TimeSource | Literal[""]]:
    """When ``submission`` was handed in, and from where: nbgrader's timestamp.txt, else
    the instructor's CSV, else the notebook's modification time (weak evidence: copying
    the folder can change it); (None, "") when the notebook is gone as well."""
    stamped = _nbgrader_timestamp(submission)
    if stamped is not None:
        return stamped, "timestamp.txt"
    for key in ((submission.student, submission.assignment), (submission.student, None)):
        if key in times:
            return times[key], "csv"
    try:
        mtime = os.lstat(submission.path).st_mtime
    except OSError:
        return None, ""
    return datetime.fromtimestamp(mtime, UTC), "mtime"


def assess_class(
    results: Iterable[Result],
    config: CourseConfig,
    *,
    submission_times: str | os.PathLike[str] | None = None,
) -> dict[Submission, Lateness]:
    """Lateness of every graded one of ``results`` (the others have no score to lose
    points from). Extensions and the
    submission-times CSV come from course.yaml's late_work (``submission_times`` wins);
    a submission of an assignment without a due time is never late."""
    extensions_file = config.course_path(config.late_work.extensions)
    extensions = read_extensions(extensions_file, config) if extensions_file else {}
    times_file = (
        Path(submission_times)
        if submission_times is not None
        else config.course_path(config.late_work.submission_times)
    )
    times = read_submission_times(times_file) if times_file else {}
    assessed = {}
    for result in results:
        if not result.graded:
            continue
        submission, raw, maximum = result.submission, result.report.score, result.report.max_score
        due = config.assignments[submission.assignment].due
        extended = (submission.student, submission.assignment) in extensions
        if extended:
            due = extensions[(submission.student, submission.assignment)]
        submitted, source = (None, "") if due is None else submission_time(submission, times)
        assessed[submission] = assess(
            raw,
            maximum,
            due=due,
            submitted=submitted,
            policy=config.late_policy(submission.assignment),
            extended=extended,
            source=source,
        )
    return assessed
