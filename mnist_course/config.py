"""course.yaml: the one place a course is configured.

The YAML is read here and nowhere else. It becomes one frozen, validated
:class:`CourseConfig`; every other module receives that object. Errors name the
file, the key and what was expected, and surface as :class:`ConfigError` so
command lines can print them without a traceback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mnist_course.assignments import all_specs, get_spec
from mnist_course.spec import NOTEBOOK_METADATA_KEY, AssignmentSpec

#: Environment variable naming the course.yaml to use (wins over the search).
CONFIG_ENV = "COURSE_CONFIG"
CONFIG_FILENAME = "course.yaml"

GradescopeVisibility = Literal["visible", "hidden", "after_due_date", "after_published"]

Accuracy = Annotated[float, Field(ge=0.0, le=1.0)]
Points = Annotated[float, Field(ge=0.0)]
PositiveInt = Annotated[int, Field(gt=0)]
#: A share of a check's points below its bar (the bar itself gives all of them).
Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]
#: The judge families whose checks measure an accuracy against a bar: the only ones
#: partial credit applies to (grading.partial_credit, by check id or by kind).
PARTIAL_CREDIT_JUDGES = ("stage.accuracy", "stage.perturbed")


class ConfigError(ValueError):
    """course.yaml could not be read or is invalid; the message says where and why."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CourseInfo(_Section):
    id: str = Field("mnist-digits", min_length=1, description="Course id, used by nbgrader.")
    title: str = Field(
        "Handwritten digits with deep learning", min_length=1, description="Human title."
    )
    source_directory: str = Field(
        "assignments",
        min_length=1,
        description="nbgrader's folder of source notebooks, relative to the course directory.",
    )


class DataSettings(_Section):
    mnist_dir: Path | None = Field(
        None,
        description=(
            "Folder with the four MNIST IDX files (.gz or plain), relative to course.yaml. "
            "Unset: the MNIST_DATA environment variable, then Keras' cache or download."
        ),
    )
    verify_checksums: bool = Field(
        True, description="Check the published sha256 of every file before using it."
    )


class Stage(_Section):
    """One model stage: its bar and its training budget (its points are under ``points``).
    Its defaults are the assignment spec's (``StageSpec.defaults``), merged in before
    validation, so no default is written here as well."""

    title: str = Field(..., description="Name shown to students and in reports.")
    min_test_accuracy: Accuracy = Field(..., description="Bar on the 10,000-image test set.")
    min_perturbed_accuracy: Accuracy | None = Field(
        None,
        description=(
            "Bar on the grader's perturbed test set (the test digits rotated, shifted and "
            "zoomed); only for stages judged on it."
        ),
    )
    expected_parameters: PositiveInt | None = Field(
        None,
        description="Parameter count the architecture should have (a classic network's).",
    )
    parameter_tolerance: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.05, description="How far, as a fraction, the count may be from expected_parameters."
    )
    epochs: PositiveInt = Field(..., description="Training epochs (the course budget).")
    batch_size: PositiveInt = Field(..., description="Training batch size.")
    learning_rate: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        ..., description="Adam learning rate of the first epoch."
    )
    learning_rate_decay: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        ...,
        description="Factor applied to the learning rate after each epoch (1 keeps it constant).",
    )


class Tuning(_Section):
    """The hyperparameter search's budget and how close a re-measurement must come. The
    defaults are the assignment spec's (its ``sections``), merged in before validation."""

    max_trials: PositiveInt = Field(..., description="Trials the KerasTuner search may run.")
    epochs: PositiveInt = Field(..., description="Epochs of each trial, and of the re-training.")
    train_images: PositiveInt = Field(
        ..., description="Training images each trial fits on (taken from the training set)."
    )
    validation_images: PositiveInt = Field(
        ..., description="Validation images carved from the training set (never the test set)."
    )
    tolerance: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        ...,
        description=(
            "How far the grader's re-trained validation accuracy of the chosen configuration "
            "may fall below the one the notebook reported."
        ),
    )


class LatePolicy(_Section):
    """What a late submission loses: a share of the assignment's maximum score for every
    started hour or day after the due time, up to a cap, and everything after a cutoff."""

    per: Literal["hour", "day"] = Field(
        "day", description="The period a penalty is charged for; a started period counts whole."
    )
    penalty: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.0, description="Fraction of the maximum score lost per started period (0: none)."
    )
    max_penalty: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        1.0, description="Cap on the penalty, as a fraction of the maximum score."
    )
    zero_after_hours: Annotated[float, Field(gt=0.0)] | None = Field(
        None,
        description=(
            "Hours after the (extended) due time past which a submission scores zero; "
            "unset: no cutoff."
        ),
    )


class LateWork(_Section):
    """Course-wide rules for late work; each assignment's due time is its own key."""

    policy: LatePolicy = Field(
        default_factory=LatePolicy,
        description="Late policy of every assignment without a late_policy of its own.",
    )
    extensions: Path | None = Field(
        None,
        description=(
            "CSV or YAML file of per-student extensions (student, assignment, due), relative "
            "to course.yaml."
        ),
    )
    submission_times: Path | None = Field(
        None,
        description=(
            "CSV of submission times (student, submitted, optional assignment), relative to "
            "course.yaml; grade-all --submission-times overrides it."
        ),
    )


class Deadline(_Section):
    """An assignment's due time and late policy (mixed into its settings)."""

    due: AwareDatetime | None = Field(
        None,
        description=(
            "Due time, ISO 8601 with a time zone (2026-03-01T23:59:00+01:00); unset: no "
            "deadline, nothing is late."
        ),
    )
    late_policy: LatePolicy | None = Field(
        None, description="This assignment's late policy (late_work.policy otherwise)."
    )


#: Keys of an assignment's settings that say when it is due, not what is graded.
DEADLINE_KEYS = frozenset(Deadline.model_fields)


class AssignmentSettings(Deadline):
    """One assignment's own settings; validated against its spec (mnist_course.assignments)."""

    notebook: str = Field(..., min_length=1, description="Notebook file inside the folder.")
    points: dict[str, Points] = Field(
        default_factory=dict, description="Points by check id (the spec's defaults otherwise)."
    )
    stages: dict[str, Stage] = Field(
        default_factory=dict, description="Bars and budgets by stage id."
    )
    tuning: Tuning | None = Field(None, description="The search budget (tuning checks only).")


def _spec_defaults(spec: AssignmentSpec) -> dict[str, Any]:
    """An assignment's settings when course.yaml says nothing about it."""
    defaults: dict[str, Any] = {
        "notebook": spec.notebook,
        "stages": {stage.id: dict(stage.defaults) for stage in spec.stages},
    }
    for section, values in spec.sections.items():
        defaults[section] = dict(values)
    return defaults


class StageTable(Mapping[str, Stage]):
    """An assignment's stages by id, in the spec's order."""

    def __init__(self, stages: dict[str, Stage], order: tuple[str, ...]) -> None:
        self._stages = stages
        self._order = order

    def __getitem__(self, name: str) -> Stage:
        if name not in self._stages:
            raise KeyError(f"unknown stage {name!r}; expected one of {', '.join(self._order)}")
        return self._stages[name]

    def __iter__(self):  # noqa: ANN204 - Mapping's protocol
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)


class PartialCredit(_Section):
    """How a check that measures an accuracy against a bar scores below the bar: on a
    scale from the floor (no points) to the bar (all of them), instead of all or nothing.
    mnist_course.credit computes the points, for the grader and the notebook alike."""

    scale: Literal["linear", "steps"] = Field(
        "linear",
        description=(
            "linear: points in proportion to how far the accuracy is from the floor to the "
            "bar; steps: the share of the points of the highest step reached."
        ),
    )
    steps: tuple[tuple[Accuracy, Fraction], ...] = Field(
        (),
        description=(
            "For scale steps: [accuracy, share of the points] pairs, accuracies and shares "
            "increasing, shares below 1 (the bar gives all the points), e.g. "
            "[[0.9, 0.25], [0.91, 0.5]]."
        ),
    )
    floor: Accuracy | None = Field(
        None,
        description=(
            "Accuracy at or below which the check gives no points; unset: "
            "grading.trained_min_accuracy."
        ),
    )

    @model_validator(mode="after")
    def _steps_fit_the_scale(self) -> PartialCredit:
        if self.scale == "linear" and self.steps:
            raise ValueError("steps are only read with scale: steps (remove them, or say so)")
        if self.scale == "steps" and not self.steps:
            raise ValueError("scale steps needs steps: [[accuracy, share of the points], ...]")
        accuracies = [accuracy for accuracy, _ in self.steps]
        shares = [share for _, share in self.steps]
        for name, values in (("accuracies", accuracies), ("shares", shares)):
            if any(later <= earlier for earlier, later in zip(values, values[1:], strict=False)):
                raise ValueError(f"the steps' {name} must increase from one step to the next")
        return self


class GradingLimits(_Section):
    submission_timeout_s: PositiveInt = Field(900, description="Wall clock per submission.")
    cell_timeout_s: PositiveInt = Field(300, description="Wall clock per notebook cell.")
    memory_mb: PositiveInt = Field(6144, description="Address-space limit of student code.")
    max_processes: PositiveInt = Field(256, description="Process/thread limit of student code.")
    trained_min_accuracy: Accuracy = Field(
        0.5, description="Accuracy that proves a model was trained (chance is 0.1)."
    )
    retrain: bool = Field(
        False,
        description=(
            "Re-train each submitted architecture from scratch on the training data with the "
            "course budget before measuring accuracy (defeats models fitted on the test set)."
        ),
    )
    gradescope_visibility: dict[str, GradescopeVisibility] = Field(
        default_factory=lambda: {"accuracy": "after_published"},
        description=(
            "Who sees which check on Gradescope, by check id (cnn.accuracy) or kind "
            "(accuracy): visible, hidden, after_due_date or after_published. Checks not named "
            "are visible when the kit shows them to students, else after publishing."
        ),
    )
    partial_credit: dict[str, PartialCredit] = Field(
        default_factory=dict,
        description=(
            "Partial credit below the bar, by check id (cnn.accuracy) or kind (accuracy, "
            "perturbed); checks not named are all or nothing."
        ),
    )

    @field_validator("partial_credit")
    @classmethod
    def _partial_credit_applies(
        cls, rules: dict[str, PartialCredit], info: ValidationInfo
    ) -> dict[str, PartialCredit]:
        """Only checks measured against an accuracy bar can score part of their points,
        and a step at or below the floor could never count."""
        checks = [check for spec in all_specs().values() for check in spec.checks]
        ids = sorted({check.id for check in checks if check.judge in PARTIAL_CREDIT_JUDGES})
        kinds = [judge.removeprefix("stage.") for judge in PARTIAL_CREDIT_JUDGES]
        for name, rule in rules.items():
            if name not in kinds and name not in ids:
                raise ValueError(
                    f"{name!r} is not a check measured against an accuracy bar: name a kind "
                    f"({', '.join(kinds)}) or a check id ({', '.join(ids)})"
                )
            floor = rule.floor if rule.floor is not None else info.data.get("trained_min_accuracy")
            low = [
                accuracy for accuracy, _ in rule.steps if floor is not None and accuracy <= floor
            ]
            if low:
                raise ValueError(
                    f"{name}: the step at {low[0]:g} is not above the floor {floor:g} (below it "
                    "a check gives no points), so it could never count"
                )
        return rules


class SimilaritySettings(_Section):
    """What ``autograder similarity`` calls unusual enough to look at (it never accuses)."""

    code_threshold: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.6,
        description=(
            "Share of one notebook's own code (the release's cells left out) that copydetect "
            "finds in the other's, from which a pair is listed to look at."
        ),
    )
    min_code_tokens: PositiveInt = Field(
        200,
        description=(
            "Characters of tokenised code two notebooks must have in common before their "
            "code score lists them (a few dictated lines make a small notebook match anyone)."
        ),
    )
    mistakes_threshold: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.9,
        description=(
            "Jaccard overlap of two models' misclassified test images from which a pair is "
            "listed (independently trained models share far fewer)."
        ),
    )
    agreement_threshold: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.999,
        description="Share of test images two models label alike from which a pair is listed.",
    )
    common_share: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.2,
        description=(
            "Identical weights shared by more than this share of a stage's models are the "
            "course's common outcome (a dictated architecture trained with the course's seed), "
            "reported but not listed; only in classes of at least min_class_size models."
        ),
    )
    min_class_size: PositiveInt = Field(
        10,
        description=(
            "Models (or notebooks) a class needs before its distribution (robust z-score, "
            "percentile, common outcomes) says what is unusual."
        ),
    )
    noise_tokens: PositiveInt = Field(
        25,
        description=(
            "copydetect's noise threshold: shortest run of matching characters of tokenised "
            "code (names made V, F or O, comments dropped) that counts."
        ),
    )
    guarantee_tokens: PositiveInt = Field(
        30,
        description=(
            "copydetect's guarantee threshold: runs this long always count (>= noise_tokens; "
            "larger is faster, with the winnowing window guarantee - noise + 1)."
        ),
    )
    pairs_shown: PositiveInt = Field(
        20, description="Code pairs the page shows side by side, highest score first."
    )

    @model_validator(mode="after")
    def _guarantee_covers_noise(self) -> SimilaritySettings:
        if self.guarantee_tokens < self.noise_tokens:
            raise ValueError(
                f"guarantee_tokens ({self.guarantee_tokens}) must be at least noise_tokens "
                f"({self.noise_tokens})"
            )
        return self


class Integrity(_Section):
    """The judge's test-set-fitting signal (bench/test_set_fitting.py measured it)."""

    max_honest_gap: Accuracy = Field(
        0.005,
        description=(
            "Test minus training-sample accuracy an honest model may show; a model above "
            "it and above max_honest_error_ratio was fitted on the test images."
        ),
    )
    max_honest_error_ratio: Annotated[float, Field(ge=1.0)] = Field(
        1.2,
        description=(
            "Training-sample error over test error an honest model may show (the test "
            "images are a little easier for weak models); see max_honest_gap."
        ),
    )
    train_sample_images: Annotated[int, Field(gt=0, le=60000)] = Field(
        10000, description="Training images the judge also measures each model on (fixed)."
    )
    costs_points: bool = Field(
        False,
        description=(
            "A flagged model's accuracy checks are graded on its architecture re-trained "
            "on the training data (as grading.retrain does); false: a note and a hint only."
        ),
    )


class CourseConfig(_Section):
    """Everything a course sets, with defaults for every key."""

    course: CourseInfo = Field(default_factory=CourseInfo)
    data: DataSettings = Field(default_factory=DataSettings)
    seed: Annotated[int, Field(ge=0)] = Field(42, description="Seed for every random choice.")
    assignments: dict[str, AssignmentSettings] = Field(
        default_factory=lambda: {
            spec.id: AssignmentSettings.model_validate(_spec_defaults(spec))
            for spec in all_specs().values()
        },
        min_length=1,
        description="The course's assignments by id, each with its own settings.",
    )
    grading: GradingLimits = Field(default_factory=GradingLimits)
    late_work: LateWork = Field(default_factory=LateWork)
    similarity: SimilaritySettings = Field(default_factory=SimilaritySettings)
    integrity: Integrity = Field(default_factory=Integrity)
    #: Where the file was read from (None for built-in defaults); not a YAML key.
    source: Path | None = Field(None, exclude=True)

    @property
    def root(self) -> Path:
        """Folder that relative paths in course.yaml are resolved against."""
        return self.source.parent if self.source else Path.cwd()

    @property
    def mnist_dir(self) -> Path | None:
        """The configured MNIST folder as an absolute path, or None."""
        if self.data.mnist_dir is None:
            return None
        path = self.data.mnist_dir.expanduser()
        return path if path.is_absolute() else (self.root / path).resolve()

    def course_path(self, path: Path | None) -> Path | None:
        """A path from course.yaml, absolute (relative ones are relative to course.yaml)."""
        if path is None:
            return None
        path = path.expanduser()
        return path if path.is_absolute() else (self.root / path).resolve()

    def late_policy(self, assignment_id: str) -> LatePolicy:
        """The assignment's late policy, else the course's."""
        return self.assignments[assignment_id].late_policy or self.late_work.policy

    def assignment(self, assignment_id: str | None = None) -> AssignmentConfig:
        """One assignment's settings with the course's (None: the only assignment)."""
        if assignment_id is None:
            if len(self.assignments) != 1:
                raise ConfigError(
                    f"{self.source or 'course configuration'}: the course has "
                    f"{len(self.assignments)} assignments ({', '.join(self.assignments)}); "
                    "say which one (--assignment ID)"
                )
            assignment_id = next(iter(self.assignments))
        if assignment_id not in self.assignments:
            raise ConfigError(
                f"{self.source or 'course configuration'}: no assignment {assignment_id!r} "
                f"under 'assignments' (the course has: {', '.join(self.assignments)})"
            )
        return AssignmentConfig(self, get_spec(assignment_id))


@dataclass(frozen=True)
class AssignmentConfig:
    """What one assignment's checks, notebook and reference read: its spec, its settings
    from course.yaml and the course-wide ones (seed, data, grading)."""

    course: CourseConfig
    spec: AssignmentSpec

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def settings(self) -> AssignmentSettings:
        return self.course.assignments[self.spec.id]

    @property
    def notebook(self) -> str:
        return self.settings.notebook

    @property
    def stages(self) -> StageTable:
        return StageTable(self.settings.stages, tuple(stage.id for stage in self.spec.stages))

    @property
    def tuning(self) -> Tuning:
        if self.settings.tuning is None:
            raise KeyError(f"assignment {self.spec.id!r} has no tuning settings")
        return self.settings.tuning

    def points(self, check_id: str) -> float:
        """Points of ``check_id``: course.yaml's, else the spec's."""
        return float(self.settings.points.get(check_id, self.spec.check(check_id).points))

    def total_points(self) -> float:
        return sum(self.points(check.id) for check in self.spec.checks)

    @property
    def seed(self) -> int:
        return self.course.seed

    @property
    def grading(self) -> GradingLimits:
        return self.course.grading

    @property
    def integrity(self) -> Integrity:
        return self.course.integrity

    @property
    def data(self) -> DataSettings:
        return self.course.data

    @property
    def mnist_dir(self) -> Path | None:
        return self.course.mnist_dir

    @property
    def source(self) -> Path | None:
        return self.course.source

    @property
    def root(self) -> Path:
        return self.course.root


#: Notebooks larger than this are not read (the grader refuses them).
MAX_NOTEBOOK_BYTES = 50 * 2**20


def find_assignment(path: Path, config: CourseConfig, given: str | None = None) -> str:
    """Which of the course's assignments ``path`` is: ``given`` (``--assignment``), else
    the notebook's own metadata (written by the generator, kept by nbgrader), else a
    folder or file name that is an assignment's (nbgrader's ``<student>/<assignment>/``
    layout), else the course's only assignment. ConfigError when none of these says."""
    known = config.assignments
    if given is not None:
        if given not in known:
            raise ConfigError(
                f"--assignment {given!r}: not an assignment of this course "
                f"(course.yaml has: {', '.join(known)})"
            )
        return given
    try:
        if path.stat().st_size <= MAX_NOTEBOOK_BYTES:
            metadata = json.loads(path.read_bytes()).get("metadata", {})
            named = metadata.get(NOTEBOOK_METADATA_KEY, {}).get("assignment")
            if isinstance(named, str) and named in known:
                return named
    except (OSError, ValueError, AttributeError):
        pass  # an unreadable notebook is graded as such; the names below still tell
    for folder in path.resolve().parents[:3]:
        if folder.name in known:
            return folder.name
    by_file = [id_ for id_, settings in known.items() if settings.notebook == path.name]
    if len(by_file) == 1:
        return by_file[0]
    if len(known) == 1:
        return next(iter(known))
    raise ConfigError(
        f"{path}: cannot tell which assignment this notebook is (no autograder metadata, "
        f"and neither its folder nor its name is one of {', '.join(known)}); "
        "pass --assignment ID"
    )


def find_config_file(start: Path | None = None) -> Path | None:
    """course.yaml to use: $COURSE_CONFIG, else the nearest one at or above ``start``,
    else the kit's own (the repository this package was installed from, or the copy
    packaged into the student wheel)."""
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser().resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_FILENAME
        if candidate.is_file():
            return candidate
    package = Path(__file__).resolve().parent
    # The repository this package is installed from, else the copy a student wheel carries.
    for kit_default in (package.parent / CONFIG_FILENAME, package / CONFIG_FILENAME):
        if kit_default.is_file():
            return kit_default
    return None


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"key '{key}': unknown key (check the spelling; see README 'course.yaml keys')"
    if kind == "missing":
        return f"key '{key}': required but missing"
    given = error.get("input")
    return f"key '{key}': {error['msg']} (got {given!r})"


def _with_assignment_defaults(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Let a course set one key of one stage: the rest comes from the assignment's spec.
    Also returns the errors only the specs can find (unknown assignments, stages and check
    ids), worded like validation errors."""
    assignments = raw.get("assignments")
    if assignments is None:
        return raw, []
    if not isinstance(assignments, dict):
        return raw, [
            "key 'assignments': expected a mapping of assignment id to its settings "
            f"(got {type(assignments).__name__}; the list form of older kits is gone)"
        ]
    specs = all_specs()
    merged: dict[str, Any] = {}
    errors = []
    for assignment_id, given in assignments.items():
        where = f"assignments.{assignment_id}"
        if assignment_id not in specs:
            errors.append(
                f"key '{where}': unknown assignment (the kit has specs for: {', '.join(specs)})"
            )
            continue
        spec = specs[assignment_id]
        given = {} if given is None else given
        if not isinstance(given, dict):
            errors.append(f"key '{where}': expected a mapping (got {type(given).__name__})")
            continue
        settings = {**_spec_defaults(spec), **given}
        stages = {stage.id: dict(stage.defaults) for stage in spec.stages}
        for stage_id, overrides in (given.get("stages") or {}).items():
            if stage_id not in stages:
                valid = ", ".join(stages)
                errors.append(f"key '{where}.stages.{stage_id}': unknown stage (expected {valid})")
            elif isinstance(overrides, dict):
                stages[stage_id] = {**stages[stage_id], **overrides}
            else:
                stages[stage_id] = overrides
        settings["stages"] = stages
        for section, defaults in spec.sections.items():
            if isinstance(given.get(section), dict):
                settings[section] = {**defaults, **given[section]}
        for section in _SECTIONS:
            if given.get(section) is not None and section not in spec.sections:
                errors.append(f"key '{where}.{section}': this assignment has no {section} checks")
        check_ids = [check.id for check in spec.checks]
        for check_id in given.get("points") or {}:
            if check_id not in check_ids:
                errors.append(
                    f"key '{where}.points.{check_id}': unknown check id (expected one of "
                    f"{', '.join(check_ids)})"
                )
        merged[assignment_id] = settings
    return {**raw, "assignments": merged}, errors


#: An assignment's optional sections, each for the checks of one part (tuning).
_SECTIONS = tuple(
    set(AssignmentSettings.model_fields) - {"notebook", "points", "stages"} - DEADLINE_KEYS
)
#: Keys of older kits and where they went, so an old course.yaml says what to change.
_MOVED = {
    "stages": "assignments.<id>.stages",
    "data_points": "assignments.<id>.points (by check id, like data.load)",
}


def parse_config(raw: Any, source: Path | None = None) -> CourseConfig:
    """Validate an already-parsed YAML document."""
    where = str(source) if source else "course configuration"
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{where}: expected a mapping of keys at the top level, got {type(raw).__name__}"
        )
    moved = [f"key '{key}': moved to {where}" for key, where in _MOVED.items() if key in raw]
    merged, spec_errors = _with_assignment_defaults(raw)
    if moved or spec_errors:
        lines = "\n  ".join(moved + spec_errors)
        raise ConfigError(f"{where}: invalid configuration\n  {lines}")
    try:
        config = CourseConfig.model_validate({**merged, "source": source})
    except ValidationError as exc:
        lines = "\n  ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"{where}: invalid configuration\n  {lines}") from None
    folder = config.mnist_dir
    if folder is not None and not folder.is_dir():
        raise ConfigError(
            f"{where}: key 'data.mnist_dir': folder {folder} does not exist "
            "(expected a folder holding the four MNIST IDX files, or remove the key to use "
            "$MNIST_DATA or Keras' cache)"
        )
    return config


def load_config(path: str | os.PathLike[str] | None = None) -> CourseConfig:
    """Load and validate course.yaml (see :func:`find_config_file` for which one)."""
    file = Path(path).expanduser().resolve() if path else find_config_file()
    if file is None:
        return parse_config({}, None)
    if not file.is_file():
        raise ConfigError(f"{file}: course configuration file not found")
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from None
    if isinstance(raw, dict) and "source" in raw:
        raise ConfigError(f"{file}: key 'source': unknown key (check the spelling)")
    return parse_config(raw, file)


def course_yaml_text(config: CourseConfig, *, header: str, mnist_dir: str | None = None) -> str:
    """``config`` written out as a course.yaml of its own, for a copy that lives elsewhere
    (the sandbox, the student wheel, the Gradescope zip): every validated setting, so the
    copy says what ``config`` says even where it was changed in memory; ``data.mnist_dir``
    is ``mnist_dir``, or left out (a folder on this machine means nothing there)."""
    document = config.model_dump(mode="json")
    for assignment_id, settings in document["assignments"].items():
        assignment = config.assignment(assignment_id)  # every check's points, spec's or not
        settings["points"] = {
            check.id: assignment.points(check.id) for check in assignment.spec.checks
        }
    document["data"].pop("mnist_dir", None)
    if mnist_dir is not None:
        document["data"]["mnist_dir"] = mnist_dir
    return f"# {header}\n" + yaml.safe_dump(document, sort_keys=False)
