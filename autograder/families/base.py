"""The one interface every check family implements, and the contexts its judges take.

A check's verdict is computed in three places: in the student's kernel (the notebook's
self-check, on live objects), in the trusted grader (on what the sandbox exported, no
Keras), and in the model judge's child process (on reloaded .keras files, with memory and
time limits). A family says, once, how each of its judges does that: :class:`Judge` for
one check, :class:`ModelWork` for the family's checks that need Keras. The judges take a
context (:class:`NotebookContext`, :class:`ExportContext`, :class:`ChildContext`) instead
of reaching into the notebook's or the grader's module state.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from autograder import artifacts, model_screening
from autograder.arrays import HEAD_ROWS, ArraySummary
from autograder.checks import data as data_checks
from autograder.checks import evaluation, extensions, models
from autograder.checks.confusion import ModelEvaluation
from autograder.checks.hints import advise
from autograder.messages import ExportManifest, ModelUnit
from mnist_course.config import AssignmentConfig
from mnist_course.data import load_mnist
from mnist_course.results import CheckResult, spec_for
from mnist_course.spec import Check

if TYPE_CHECKING:
    import keras

#: The grader's arrays a model judge's child may read (``ChildContext.canon``): the
#: canonical MNIST and the fixed training sample every model is also measured on.
CANON_ARRAYS = ("x_train", "y_train", "x_test", "y_test")
TRAIN_SAMPLE = ("x_train_sample", "y_train_sample")
#: Where a judge's trusted verdict is computed: in the grader's own process (it reads
#: only arrays and JSON), or in the model judge's child (it loads Keras models).
RunsIn = Literal["grader", "model_judge"]


@dataclass(frozen=True)
class Canon:
    """The grader's own copy of MNIST."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


class NotebookContext:
    """What a notebook-side judge may use in the student's kernel: the assignment's
    settings and the kit's own copy of MNIST (loaded once, never the student's arrays)."""

    def __init__(self, config: AssignmentConfig) -> None:
        self.config = config

    @functools.cached_property
    def _mnist(self) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        return load_mnist(config=self.config)

    @property
    def test_set(self) -> tuple[np.ndarray, np.ndarray]:
        return self._mnist[1]

    @property
    def training_set(self) -> tuple[np.ndarray, np.ndarray]:
        return self._mnist[0]

    @functools.cached_property
    def probe(self) -> np.ndarray:
        """The images the data checks call the student's functions on."""
        return data_checks.probe_images(self.test_set[0])

    @functools.cached_property
    def image_index(self) -> extensions.ImageIndex:
        return extensions.ImageIndex(self.training_set[0], self.test_set[0])

    @functools.cached_property
    def perturbed_test_set(self) -> np.ndarray:
        from mnist_course import perturbation

        return perturbation.perturbed_test_set(self.test_set[0], seed=self.config.seed)

    def heads(self, train: str, test: str) -> dict[str, np.ndarray]:
        """The first rows of the canonical training and test images, under the names the
        notebook flattens them to."""
        return {train: self.training_set[0][:HEAD_ROWS], test: self.test_set[0][:HEAD_ROWS]}

    def measure(
        self, stage: str, model: keras.Model, *, perturbed: bool = False
    ) -> evaluation.Measurement:
        """Accuracy on the kit's own copy of the test set (``perturbed``: on the grader's
        rotated, shifted and zoomed copy of it, against that bar).

        The test cells name the notebook's ``X_test, y_test`` so they read naturally, but
        those are the student's variables: a notebook that trimmed or relabelled them must
        not be able to raise its own score, so they are not used here."""
        settings = self.config.stages[stage]
        x_test, y_test = self.test_set
        if perturbed:
            bar = settings.min_perturbed_accuracy or 0.0
            return evaluation.measure(model, self.perturbed_test_set, y_test, bar=bar)
        return evaluation.measure(model, x_test, y_test, bar=settings.min_test_accuracy)


def _summary(raw: Any) -> ArraySummary | None:
    try:
        return ArraySummary.from_dict(raw)
    except ValueError:
        return None


@dataclass(frozen=True)
class ExportContext:
    """What the sandbox exported, read without trusting it: ``entry(name)`` is always a
    dict, ``folder`` a descriptor of the export folder, whose file names are the grader's
    own (from the spec), never names from the manifest."""

    manifest: ExportManifest
    folder: int
    probe: np.ndarray
    canon: Canon
    config: AssignmentConfig
    #: The first failing cell's error, said after "X is not defined" (may be empty).
    first_error: str = ""

    def entry(self, name: str) -> dict[str, Any]:
        value = self.manifest.exports.get(name)
        return value if isinstance(value, dict) else {}

    def model_problem(self, name: str, *, first_error: bool = False) -> models.ModelProblem | None:
        """Why the exported model ``name`` cannot be judged at all (the harness could not
        save it, or there is no file), or None; ``first_error`` adds the first failing
        cell's error to "not defined"."""
        entry = self.entry(name)
        if entry.get("error"):
            return models.ModelProblem("unusable", f"{str(entry['error'])[:400]}.")
        if name not in self.manifest.files:
            said = self.first_error if first_error else ""
            return models.ModelProblem(
                "missing", f"{name} is not defined after running the notebook.{said}"
            )
        return None

    def training_evidence(self, name: str) -> models.TrainingEvidence:
        """The untrusted clues about how model ``name`` was trained, for hints."""
        return models.training_evidence(
            self.entry(name), labels_one_hot=self.manifest.labels_one_hot
        )

    def summary(self, name: str) -> ArraySummary | None:
        return _summary(self.entry(name).get("summary"))

    def function_output(self, name: str) -> tuple[np.ndarray | None, str | None]:
        """What function ``name`` returned for the probe images, or why there is nothing."""
        entry = self.entry(name)
        error = entry.get("error") if entry else "it was not called"
        output = None
        if error is None:
            try:
                output = artifacts.read_array(Path(f"{name}.npy"), folder=self.folder)
            except artifacts.ArtifactError as exc:
                error = str(exc)
        return output, None if error is None else str(error)[:500]

    def array(self, name: str) -> data_checks.ArrayEvidence | None:
        summary = self.summary(name)
        if summary is None:
            return None
        try:
            head = artifacts.read_array(Path(f"{name}_head.npy"), folder=self.folder)
        except artifacts.ArtifactError:
            head = None
        return data_checks.ArrayEvidence(summary, head)


@dataclass(frozen=True)
class ChildContext:
    """What a family's model work may use in the model judge's child process."""

    folder: int  # the export folder's descriptor
    canon: Mapping[str, np.ndarray]  # the grader's arrays the job named (see CANON_ARRAYS)
    config: AssignmentConfig
    workdir: Path
    retrain: bool
    say: Callable[[str], None]

    def load_model(self, name: str) -> keras.Model:
        """The exported model ``name``, loaded safely (artifacts.ArtifactError if not)."""
        return model_screening.load_model(Path(f"{name}.keras"), self.workdir, folder=self.folder)


@dataclass(frozen=True)
class Judge:
    """How checks of one judge kind (``"<family>.<kind>"`` in the spec) get their verdict.

    ``notebook`` judges the live objects the check ``reads`` (None where a name is
    missing). ``trusted`` judges the export in the grader's process; a judge without it
    runs in the model judge's child, through its family's :class:`ModelWork`.
    ``required`` is how many of the check's reads, from the first, must be defined for
    the check to count as written (None: all of them)."""

    notebook: Callable[[NotebookContext, Check, Sequence[object]], CheckResult]
    trusted: Callable[[ExportContext, Check], CheckResult] | None = None
    required: int | None = None

    @property
    def runs_in(self) -> RunsIn:
        return "grader" if self.trusted is not None else "model_judge"


@dataclass(frozen=True)
class UnitVerdict:
    """A unit's check results, report notes and trusted evaluation, or the limit that
    stopped the child on it."""

    results: tuple[CheckResult, ...] = ()
    notes: tuple[str, ...] = ()
    stopped: str | None = None  # a student-facing reason, when the child was stopped
    evaluation: ModelEvaluation | None = None  # the trusted measurement's details


@dataclass(frozen=True)
class ModelWork:
    """How a family's checks that need Keras are judged: ``plan`` (in the grader) makes
    the units for them, ``judge`` (in the child) judges one, and ``unjudged`` (in the
    grader) gives the results of a unit the child returned none for, with the reason it
    was stopped (None: it was never sent)."""

    plan: Callable[[ExportContext, Sequence[Check]], list[ModelUnit]]
    judge: Callable[[ChildContext, ModelUnit], UnitVerdict]
    unjudged: Callable[[ExportContext, ModelUnit, str | None], tuple[CheckResult, ...]]
    #: Whether judging needs the full canonical training set in the child (re-training).
    trains: bool = False


@dataclass(frozen=True)
class Family:
    """One check family: its judges by kind, and its Keras work if it has any."""

    name: str
    judges: Mapping[str, Judge]
    model_work: ModelWork | None = None

    def __post_init__(self) -> None:
        keras_judges = [kind for kind, judge in self.judges.items() if judge.trusted is None]
        if keras_judges and self.model_work is None:
            raise ValueError(
                f"family {self.name!r}: {keras_judges} run in the model judge, "
                "which needs the family's model_work"
            )


@dataclass(frozen=True)
class LoadedCheck:
    """What the child's judge of a one-model check gets: the check, its model loaded
    (None when it could not be), why not, and the unit's job."""

    check: Check
    model: keras.Model | None
    problem: str | None
    job: Mapping[str, Any]


ModelCheckJudge = Callable[[ChildContext, LoadedCheck], CheckResult]


def one_model_per_check(
    family: str,
    judges: Mapping[str, ModelCheckJudge],
    *,
    job: Callable[[ExportContext, Check], dict[str, Any]] | None = None,
    trains: bool = False,
) -> ModelWork:
    """The model work of checks that each judge one exported model file, the first name
    the check reads: one unit per check, ``judges`` by kind, ``job`` what else the child
    needs of the export (untrusted: read with care)."""

    def plan(exported: ExportContext, checks: Sequence[Check]) -> list[ModelUnit]:
        units = []
        for check in checks:
            name = check.reads[0]
            problem = exported.model_problem(name)
            extra = job(exported, check) if job is not None else {}
            unit_job = {"problem": problem.message if problem else None, **extra}
            units.append(ModelUnit(f"{family}:{check.id}", family, name, (check.id,), unit_job))
        return units

    def judge(context: ChildContext, unit: ModelUnit) -> UnitVerdict:
        check = context.config.spec.check(unit.checks[0])
        kind = check.judge.partition(".")[2]
        name, job_of_unit = unit.variable, unit.job or {}
        model, problem = None, job_of_unit.get("problem")
        if problem is None:
            try:
                model = context.load_model(name)
            except artifacts.ArtifactError as exc:
                problem = f"{name}: {exc}."
        try:
            result = judges[kind](context, LoadedCheck(check, model, problem, job_of_unit))
        except MemoryError:
            raise
        except ValueError as exc:
            message = f"{name} could not be judged: {exc}"[:500]
            result = _unusable(check, name, context.config, message)
        except Exception as exc:  # a loaded model can still fail on real inputs
            if type(exc).__name__ == "ResourceExhaustedError":  # TensorFlow's MemoryError
                raise MemoryError from exc
            message = f"{name} could not be judged: {type(exc).__name__}: {exc}"[:500]
            result = _unusable(check, name, context.config, message)
        return UnitVerdict((result,))

    def unjudged(
        exported: ExportContext, unit: ModelUnit, stopped: str | None
    ) -> tuple[CheckResult, ...]:
        check = exported.config.spec.check(unit.checks[0])
        reason = stopped or "it was not judged"
        return (_unusable(check, unit.variable, exported.config, reason),)

    return ModelWork(plan, judge, unjudged, trains=trains)


def _unusable(check: Check, name: str, config: AssignmentConfig, message: str) -> CheckResult:
    """``check`` failed because the object ``name`` could not be used."""
    return spec_for(check.id, config).failed(message, advise("object_unusable", name=name))
