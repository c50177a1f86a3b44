"""The one record every check returns, and an assignment's checks with their points.

The grader, the notebook's self-checks, the pytest plugin and the authoring tools all
speak these records, so they live in the core package, not beside the checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from mnist_course.config import AssignmentConfig

Visibility = Literal["visible", "hidden"]


@dataclass(frozen=True)
class Advice:
    """A hint chosen from the catalogue (autograder.checks.hints), its details filled in."""

    category: str
    text: str


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check: what was found (message) and, when failed, what to do (hint)."""

    id: str
    title: str
    passed: bool
    points: float
    max_points: float
    message: str
    hint: str = ""
    visibility: Visibility = "visible"
    #: The catalogue id of the hint (autograder.checks.hints), "" when passed.
    hint_category: str = ""

    @property
    def partial(self) -> bool:
        """Below its bar, yet some points (partial credit, mnist_course.credit)."""
        return not self.passed and self.points > 0

    def explain(self) -> str:
        """Message and hint as one text, for assertion errors and reports."""
        return f"{self.message}\n{self.hint}".strip() if self.hint else self.message

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CheckSpec:
    """What a check is worth and who may see it, derived from course.yaml."""

    id: str
    title: str
    max_points: float
    visibility: Visibility = "visible"

    def passed(self, message: str) -> CheckResult:
        return CheckResult(
            self.id,
            self.title,
            True,
            self.max_points,
            self.max_points,
            message,
            "",
            self.visibility,
        )

    def failed(self, message: str, advice: Advice | str) -> CheckResult:
        if isinstance(advice, str):  # a hint outside the catalogue: counted as "other"
            advice = Advice("other", advice)
        return CheckResult(
            self.id,
            self.title,
            False,
            0.0,
            self.max_points,
            message,
            advice.text,
            self.visibility,
            advice.category,
        )


def check_specs(config: AssignmentConfig) -> tuple[CheckSpec, ...]:
    """Every check of the assignment in report order, with points from course.yaml."""
    specs = []
    for check in config.spec.checks:
        title = check.title
        if check.stage is not None:
            title = title.format(title=config.stages[check.stage].title)
        specs.append(CheckSpec(check.id, title, config.points(check.id), check.visibility))
    return tuple(specs)


def is_test_cell(cell: object) -> bool:
    """Whether a notebook cell is an nbgrader test cell (graded, not a solution). Read
    from metadata that, in a submitted file, may hold anything."""
    metadata = cell.get("metadata") if isinstance(cell, Mapping) else None
    marks = metadata.get("nbgrader") if isinstance(metadata, Mapping) else None
    return isinstance(marks, Mapping) and bool(marks.get("grade")) and not marks.get("solution")


def grade_id_of(check_id: str) -> str:
    """The grade_id of the nbgrader test cell that runs ``check_id`` (``data.load`` ->
    ``check-load``, ``hidden_layer.accuracy`` -> ``check-hidden-layer-accuracy``): the
    notebook generator names the cells with it, the gradebook and feedback find them."""
    return "check-" + check_id.removeprefix("data.").replace(".", "-").replace("_", "-")


def spec_for(check_id: str, config: AssignmentConfig) -> CheckSpec:
    """The catalogue entry of ``check_id``; ValueError names the valid ids."""
    config.spec.check(check_id)  # the ValueError naming the valid ids
    return next(spec for spec in check_specs(config) if spec.id == check_id)


def fail_all(
    config: AssignmentConfig, message: str, advice: Advice | str
) -> tuple[CheckResult, ...]:
    """Every check failed for one reason (the notebook could not be read or run at all)."""
    return tuple(spec.failed(message, advice) for spec in check_specs(config))
