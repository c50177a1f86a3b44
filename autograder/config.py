"""course.yaml: the one place a course is configured.

The YAML is read here and nowhere else. It becomes one frozen, validated
:class:`CourseConfig`; every other module receives that object. Errors name the
file, the key and what was expected, and surface as :class:`ConfigError` so
command lines can print them without a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

#: Environment variable naming the course.yaml to use (wins over the search).
CONFIG_ENV = "COURSE_CONFIG"
CONFIG_FILENAME = "course.yaml"

StageName = Literal["baseline", "hidden_layer", "cnn"]
GradescopeVisibility = Literal["visible", "hidden", "after_due_date", "after_published"]
STAGES: tuple[StageName, ...] = ("baseline", "hidden_layer", "cnn")

Accuracy = Annotated[float, Field(ge=0.0, le=1.0)]
Points = Annotated[float, Field(ge=0.0)]
PositiveInt = Annotated[int, Field(gt=0)]


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


class Assignment(_Section):
    id: str = Field(..., min_length=1, description="nbgrader assignment name (folder).")
    notebook: str = Field(..., min_length=1, description="Notebook file inside the folder.")


class Stage(_Section):
    """One model stage: its bar, its points and its training budget."""

    title: str = Field(..., description="Name shown to students and in reports.")
    min_test_accuracy: Accuracy = Field(..., description="Bar on the 10,000-image test set.")
    points: Points = Field(2, description="Points for reaching min_test_accuracy.")
    structure_points: Points = Field(1, description="Points for the required architecture.")
    trained_points: Points = Field(1, description="Points for a model trained well above chance.")
    epochs: PositiveInt = Field(..., description="Training epochs (the course budget).")
    batch_size: PositiveInt = Field(128, description="Training batch size.")
    learning_rate: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.001, description="Adam learning rate of the first epoch."
    )
    learning_rate_decay: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        1.0,
        description="Factor applied to the learning rate after each epoch (1 keeps it constant).",
    )


def _default_stages() -> dict[str, Stage]:
    return {
        "baseline": Stage(
            title="Baseline ANN (no hidden layer)",
            min_test_accuracy=0.92,
            epochs=4,
            batch_size=256,
            learning_rate=0.005,
        ),
        "hidden_layer": Stage(
            title="ANN with hidden layers",
            min_test_accuracy=0.95,
            epochs=5,
            batch_size=256,
            learning_rate=0.002,
        ),
        "cnn": Stage(
            title="Convolutional network",
            min_test_accuracy=0.98,
            epochs=3,
            batch_size=128,
            learning_rate=0.002,
            learning_rate_decay=0.5,
        ),
    }


class Stages(_Section):
    baseline: Stage
    hidden_layer: Stage
    cnn: Stage

    def __getitem__(self, name: str) -> Stage:
        if name not in STAGES:
            raise KeyError(f"unknown stage {name!r}; expected one of {', '.join(STAGES)}")
        return getattr(self, name)

    def items(self) -> list[tuple[str, Stage]]:
        return [(name, getattr(self, name)) for name in STAGES]


class DataPoints(_Section):
    load: Points = Field(1, description="Points for loading the data with the right shapes.")
    normalize: Points = Field(1, description="Points for normalize().")
    flatten: Points = Field(1, description="Points for flatten() and the flattened arrays.")


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


class CourseConfig(_Section):
    """Everything a course sets, with defaults for every key."""

    course: CourseInfo = Field(default_factory=CourseInfo)
    data: DataSettings = Field(default_factory=DataSettings)
    seed: Annotated[int, Field(ge=0)] = Field(42, description="Seed for every random choice.")
    assignments: list[Assignment] = Field(
        default_factory=lambda: [Assignment(id="mnist_digits", notebook="mnist_digits.ipynb")],
        min_length=1,
    )
    data_points: DataPoints = Field(default_factory=DataPoints)
    stages: Stages = Field(default_factory=lambda: Stages(**_default_stages()))
    grading: GradingLimits = Field(default_factory=GradingLimits)
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

    def total_points(self) -> float:
        stage_points = sum(
            s.points + s.structure_points + s.trained_points for _, s in self.stages.items()
        )
        return stage_points + sum(self.data_points.model_dump().values())


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


def _with_stage_defaults(raw: dict[str, Any]) -> dict[str, Any]:
    """Let a course set one key of one stage: the rest comes from the defaults."""
    stages = raw.get("stages")
    if not isinstance(stages, dict):
        return raw
    merged = {name: stage.model_dump() for name, stage in _default_stages().items()}
    for name, overrides in stages.items():
        if name in merged and isinstance(overrides, dict):
            merged[name] = {**merged[name], **overrides}
        else:
            merged[name] = overrides  # unknown stage names are reported by validation
    return {**raw, "stages": merged}


def parse_config(raw: Any, source: Path | None = None) -> CourseConfig:
    """Validate an already-parsed YAML document."""
    where = str(source) if source else "course configuration"
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{where}: expected a mapping of keys at the top level, got {type(raw).__name__}"
        )
    try:
        config = CourseConfig.model_validate({**_with_stage_defaults(raw), "source": source})
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
