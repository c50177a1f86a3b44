"""An assignment, declared once, as data: what a student defines, the models they train
and the checks that grade them.

Every part of the kit loops over an :class:`AssignmentSpec` instead of naming stages or
notebook variables: the sandbox's harness exports :attr:`AssignmentSpec.exports`, the
grader and the notebook's self-checks run :attr:`AssignmentSpec.checks` through the judge
families of :mod:`autograder.checks`, course.yaml's ``assignments.<id>`` is validated
against it, and the notebook generator and the reference pipeline read its stages. Spec
modules live in :mod:`mnist_course.assignments`, one per assignment; a malformed one fails
when it is imported, with a :class:`SpecError` that says what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

#: Where a generated notebook's metadata records its assignment (nbgrader keeps it).
NOTEBOOK_METADATA_KEY = "autograder"
Visibility = Literal["visible", "hidden"]
#: How the sandbox exports a notebook name (see autograder.harness):
#: ``loaded`` - an array summarised right after the cell that first defines it;
#: ``function`` - called on the grader's probe images, its output saved;
#: ``array`` - an array's summary and its first rows;
#: ``builder`` - a function that builds a model (only whether it is defined);
#: ``model`` - a keras.Model saved as a .keras file, with what fit() was given;
#: ``built`` - a function called without arguments, the keras.Model it returns saved;
#: ``tuner`` - a KerasTuner tuner after its search: every trial's values and score;
#: ``number`` - a float.
ExportKind = Literal["loaded", "function", "array", "builder", "model", "built", "tuner", "number"]
#: What a stage's model reads: flattened 784-value vectors or 28x28x1 images.
InputKind = Literal["vectors", "images"]
#: The architecture each stage asks for (autograder.checks.models judges each).
Architecture = Literal["single_dense", "hidden_dense", "cnn", "augmented_cnn", "lenet5", "resnet"]
#: The judge families a check can use (autograder.checks.judges maps each to a function).
Judge = Literal[
    "data.load",
    "data.normalize",
    "data.flatten",
    "stage.structure",
    "stage.trained",
    "stage.accuracy",
    "stage.perturbed",
    "augmentation.layers",
    "augmentation.behaviour",
    "tuning.search",
    "tuning.validation",
    "tuning.reproduced",
]
#: Judge families that measure one stage's model (they need ``Check.stage``).
STAGE_JUDGES = frozenset(j for j in get_args(Judge) if j.startswith("stage."))
_CHECK_ID_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.")


#: The names ``(X_train, y_train), (X_test, y_test) = load_mnist()`` defines, in its order.
LOADED = ("X_train", "y_train", "X_test", "y_test")


class SpecError(ValueError):
    """An assignment spec contradicts itself; the message names the assignment and the part."""


@dataclass(frozen=True)
class Export:
    """One name the student's notebook must define, and how the sandbox exports it."""

    name: str
    kind: ExportKind


@dataclass(frozen=True)
class StageSpec:
    """One model the assignment trains: its builder, its variable and what it reads.

    ``defaults`` are its course.yaml settings when the file leaves them out: title,
    min_test_accuracy, epochs, batch_size, learning_rate, learning_rate_decay and, for a
    stage judged on the perturbed test set, min_perturbed_accuracy."""

    id: str
    builder: str
    variable: str
    inputs: InputKind
    architecture: Architecture
    defaults: Mapping[str, Any] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (784,) if self.inputs == "vectors" else (28, 28, 1)


@dataclass(frozen=True)
class Check:
    """One graded check: ``judge`` gives the verdict, course.yaml may change ``points``.

    ``title`` may name ``{title}``, the stage's title from course.yaml. ``reads`` are the
    notebook names the check reads, in the order its notebook judge takes them."""

    id: str
    title: str
    points: float
    judge: Judge
    reads: tuple[str, ...]
    visibility: Visibility = "visible"
    stage: str | None = None


@dataclass(frozen=True)
class AssignmentSpec:
    """Everything the kit knows about one assignment, checked for consistency."""

    id: str
    title: str
    notebook: str
    exports: tuple[Export, ...]
    stages: tuple[StageSpec, ...]
    checks: tuple[Check, ...]
    #: Defaults of the assignment's other course.yaml sections (``tuning``), by section.
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = list(_problems(self))
        if problems:
            raise SpecError(f"assignment spec {self.id!r}: " + "; ".join(problems))

    def export(self, name: str) -> Export:
        return next(export for export in self.exports if export.name == name)

    def names(self, kind: ExportKind) -> tuple[str, ...]:
        """The notebook names exported as ``kind``, in declaration order."""
        return tuple(export.name for export in self.exports if export.kind == kind)

    def stage(self, stage_id: str) -> StageSpec:
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        valid = ", ".join(stage.id for stage in self.stages)
        raise KeyError(f"assignment {self.id!r} has no stage {stage_id!r}; its stages: {valid}")

    def check(self, check_id: str) -> Check:
        for check in self.checks:
            if check.id == check_id:
                return check
        valid = ", ".join(check.id for check in self.checks)
        raise ValueError(
            f"unknown check id {check_id!r} in assignment {self.id!r}; expected one of: {valid}"
        )

    def checks_of(self, stage: str) -> tuple[Check, ...]:
        """The checks of ``stage``, in order."""
        return tuple(check for check in self.checks if check.stage == stage)


def _problems(spec: AssignmentSpec) -> list[str]:
    """Every inconsistency of ``spec``, said so that its author knows what to change."""
    problems = []
    if not spec.id or not set(spec.id) <= _CHECK_ID_CHARACTERS - {"."}:
        problems.append("the id must be lower-case letters, digits and underscores")
    names = [export.name for export in spec.exports]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        problems.append(f"exports {duplicates} are declared twice")
    kinds = {export.name: export.kind for export in spec.exports}
    for export in spec.exports:
        if export.kind not in get_args(ExportKind):
            problems.append(f"export {export.name!r} has unknown kind {export.kind!r}")
        if not export.name.isidentifier():
            problems.append(f"export {export.name!r} is not a Python name")
    stage_ids = [stage.id for stage in spec.stages]
    if len(set(stage_ids)) != len(stage_ids):
        problems.append(f"stage ids {stage_ids} repeat")
    for stage in spec.stages:
        if kinds.get(stage.builder) != "builder":
            problems.append(f"stage {stage.id!r}: {stage.builder!r} is not a builder export")
        if kinds.get(stage.variable) != "model":
            problems.append(f"stage {stage.id!r}: {stage.variable!r} is not a model export")
        if stage.inputs not in get_args(InputKind):
            problems.append(f"stage {stage.id!r}: unknown input kind {stage.inputs!r}")
        if stage.architecture not in get_args(Architecture):
            problems.append(f"stage {stage.id!r}: unknown architecture {stage.architecture!r}")
    check_ids = [check.id for check in spec.checks]
    if len(set(check_ids)) != len(check_ids):
        repeated = sorted({check_id for check_id in check_ids if check_ids.count(check_id) > 1})
        problems.append(f"check ids {repeated} repeat")
    if not spec.checks:
        problems.append("it has no checks")
    for check in spec.checks:
        where = f"check {check.id!r}"
        if not set(check.id) <= _CHECK_ID_CHARACTERS or "." not in check.id:
            problems.append(f"{where}: ids are 'part.kind', lower case (like 'cnn.accuracy')")
        if check.judge not in get_args(Judge):
            problems.append(f"{where}: unknown judge {check.judge!r}")
        if (check.judge in STAGE_JUDGES) != (check.stage is not None):
            problems.append(f"{where}: a stage judge needs stage=, other judges must not set it")
        if check.stage is not None and check.stage not in stage_ids:
            problems.append(f"{where}: stage {check.stage!r} is not one of {stage_ids}")
        undeclared = [name for name in check.reads if name not in kinds]
        if undeclared:
            problems.append(f"{where}: reads {undeclared}, which are not exports")
        if check.points < 0:
            problems.append(f"{where}: negative points")
        if check.visibility not in get_args(Visibility):
            problems.append(f"{where}: unknown visibility {check.visibility!r}")
    return problems


def loaded_exports() -> tuple[Export, ...]:
    """The four arrays every notebook loads, ``(X_train, y_train), (X_test, y_test) =
    load_mnist()``, which the grader compares with its own canonical copy."""
    return tuple(Export(name, "loaded") for name in LOADED)


def stage_exports(stages: tuple[StageSpec, ...]) -> tuple[Export, ...]:
    """Each stage's builder and its trained model, as the sandbox exports them (the
    builders first, in the stages' order, then the models)."""
    builders = tuple(Export(stage.builder, "builder") for stage in stages)
    return builders + tuple(Export(stage.variable, "model") for stage in stages)


def stage_checks(
    stage: StageSpec,
    *,
    structure: float = 1,
    trained: float = 1,
    accuracy: float = 2,
    perturbed: float | None = None,
) -> tuple[Check, ...]:
    """A stage's usual checks: its architecture (from its builder), trained well above
    chance, its test-accuracy bar (hidden) and, with ``perturbed`` points, its bar on the
    grader's perturbed test set (hidden)."""
    measured = (stage.variable, "X_test", "y_test")
    checks = [
        Check(
            f"{stage.id}.structure",
            "{title}: architecture",
            structure,
            "stage.structure",
            (stage.builder,),
            stage=stage.id,
        ),
        Check(
            f"{stage.id}.trained",
            "{title}: trained well above chance",
            trained,
            "stage.trained",
            measured,
            stage=stage.id,
        ),
        Check(
            f"{stage.id}.accuracy",
            "{title}: test accuracy reaches the bar",
            accuracy,
            "stage.accuracy",
            measured,
            "hidden",
            stage=stage.id,
        ),
    ]
    if perturbed is not None:
        checks.append(
            Check(
                f"{stage.id}.perturbed",
                "{title}: accuracy on rotated, shifted and zoomed digits",
                perturbed,
                "stage.perturbed",
                measured,
                "hidden",
                stage=stage.id,
            )
        )
    return tuple(checks)
