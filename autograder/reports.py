"""Report records: what grading one submission found (and what a student's own check run
found), how a grading process ended, and a class's submissions with their outcomes, as
the formats, the batch grader and the class tools read them. Kept apart from the
orchestrators (:mod:`autograder.grader`, :mod:`autograder.batch`) so that a reader of
reports imports no grading machinery."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from autograder.checks.confusion import ModelEvaluation
from mnist_course.results import CheckResult

#: Version of the per-submission result file grade-all writes.
RESULT_FORMAT = 1
#: How one submission's grading ended: a report, or the grader's own failure.
Status = Literal["graded", "error"]


class _Scored:
    """A score and a maximum summed over ``results`` (a tuple of CheckResult)."""

    results: tuple[CheckResult, ...]

    @property
    def score(self) -> float:
        return sum(result.points for result in self.results)

    @property
    def max_score(self) -> float:
        return sum(result.max_points for result in self.results)


@dataclass(frozen=True)
class GradeReport(_Scored):
    """Every check's result for one submission, plus what happened while running it."""

    submission: str
    results: tuple[CheckResult, ...]
    notes: tuple[str, ...] = ()
    sandbox: tuple[str, ...] = field(default=(), compare=False)
    #: Why the grader could not grade it (its own failure, not the student's), else None.
    error: str | None = None
    #: The trusted evaluation of each model that could be measured.
    evaluations: tuple[ModelEvaluation, ...] = ()
    #: Wall-clock seconds grading took (not part of equality).
    seconds: float | None = field(default=None, compare=False)
    #: The assignment whose checks these are (None when grading never chose one).
    assignment: str | None = None

    def evaluations_by_stage(self) -> dict[str, ModelEvaluation]:
        """The trusted evaluations this report carries, by stage."""
        return {evaluation.stage: evaluation for evaluation in self.evaluations}

    def to_dict(self) -> dict[str, Any]:
        return {
            "submission": self.submission,
            "score": self.score,
            "max_score": self.max_score,
            "results": [result.to_dict() for result in self.results],
            "notes": list(self.notes),
            "sandbox": list(self.sandbox),
            "error": self.error,
            "evaluations": [evaluation.to_dict() for evaluation in self.evaluations],
            "seconds": self.seconds,
            "assignment": self.assignment,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GradeReport:
        """A report read back from its JSON (as written by :meth:`to_dict`); ValueError
        when it is not one."""
        try:
            results = tuple(CheckResult(**result) for result in data["results"])
            evaluations = tuple(
                ModelEvaluation.from_dict(raw) for raw in data.get("evaluations") or ()
            )
            seconds = data.get("seconds")
            return cls(
                str(data["submission"]),
                results,
                tuple(str(note) for note in data.get("notes") or ()),
                tuple(str(line) for line in data.get("sandbox") or ()),
                error=None if data.get("error") is None else str(data["error"]),
                evaluations=evaluations,
                seconds=float(seconds) if isinstance(seconds, int | float) else None,
                assignment=None if data.get("assignment") is None else str(data["assignment"]),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a grade report ({type(exc).__name__}: {exc})") from None


@dataclass(frozen=True)
class Submission:
    """One notebook to grade and whose it is."""

    student: str
    assignment: str
    path: Path


@dataclass(frozen=True)
class Result:
    """One submission's outcome: a report when graded, else why it could not be graded."""

    submission: Submission
    status: Status
    report: GradeReport | None
    error: str
    notebook_sha256: str
    config_sha256: str
    seconds: float = 0.0
    fresh: bool = True  # graded by this run (False: kept from an earlier run)

    @property
    def graded(self) -> bool:
        return self.status == "graded" and self.report is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": RESULT_FORMAT,
            "student": self.submission.student,
            "assignment": self.submission.assignment,
            "status": self.status,
            "error": self.error,
            "notebook_sha256": self.notebook_sha256,
            "config_sha256": self.config_sha256,
            "seconds": round(self.seconds, 1),
            "report": self.report.to_dict() if self.report else None,
        }


@dataclass(frozen=True)
class Outcome:
    """How one grading process ended: a report (as JSON data) or why there is none."""

    status: Status
    report: dict[str, Any] | None
    error: str = ""
    seconds: float = 0.0
    host: str = ""


@dataclass(frozen=True)
class CheckRun(_Scored):
    """Every check's result on one notebook, and what went wrong in its cells."""

    notebook: str
    results: tuple[CheckResult, ...]
    notes: tuple[str, ...] = ()
