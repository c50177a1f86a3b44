"""What the notebook's test cells call, inside the student's own kernel.

Each test cell runs ``check("<check id>")``: the same check the trusted grader runs,
on the names the notebook defined. A pass shows a ✓ box; a failure raises
:class:`CheckFailed`, which IPython renders as a ✗ box with the message and the hint
(no traceback through this module), and which nbgrader records as the cell's error,
so it deducts that cell's points. A check with partial credit (course.yaml's
``grading.partial_credit``) runs as ``check("<check id>", partial=True).points``: a
partly-scored result shows a ◐ box instead of raising, and the cell's value, the points,
is what nbgrader records (an autograded cell whose output is a number scores that).
A name that is not defined yet (its cell still raises NotImplementedError, or has not
run) is "not written yet", never a NameError.
This is feedback, not the grade of record: ``autograder grade`` re-checks everything
in a separate process.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import os
import re
import sys
import textwrap
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from autograder.arrays import HEAD_ROWS, ArraySummary
from autograder.checks import data as data_checks
from autograder.checks import evaluation, extensions, models
from autograder.checks.hints import advise
from mnist_course import tuning
from mnist_course.config import AssignmentConfig, CourseConfig, load_config
from mnist_course.data import load_mnist
from mnist_course.results import CheckResult, spec_for

if TYPE_CHECKING:
    import keras

#: Width the result boxes wrap their text to, so no hint runs off the page.
BOX_WIDTH = 88
_COLOURS = {"pass": "\x1b[1;32m", "partial": "\x1b[1;33m", "fail": "\x1b[1;31m"}
_MARKS = {"pass": "✓", "partial": "◐", "fail": "✗"}
#: Border and background of each verdict's HTML box.
_BOX_STYLES = {"pass": ("#2a7", "#eefaf2"), "partial": ("#c80", "#fff8e6")}
_RESET = "\x1b[0m"
#: What TensorFlow's C++ start-up lines look like (CUDA probing, oneDNN and CPU notices,
#: absl's header and its I/W/E0000 prefixes): what start_tensorflow() keeps out of outputs.
TENSORFLOW_START_UP = re.compile(
    r"cuInit|oneDNN|cpu_feature_guard|cudart_stub|absl::InitializeLog|^[IWE]\d{4} ", re.M
)
#: Export kinds that are functions the student writes: a missing one is "not written yet".
FUNCTION_KINDS = ("function", "builder", "built")
#: The assignment this notebook is (set by start_notebook; None: found from the check id).
_assignment: dict[str, str | None] = {"id": None}


@functools.cache
def _course() -> CourseConfig:
    return load_config()


def _config() -> AssignmentConfig:
    """This notebook's assignment, with the course's settings."""
    return _course().assignment(_assignment["id"])


def _find_assignment(check_id: str) -> None:
    """A notebook that did not say its assignment: the course's one that has ``check_id``."""
    if _assignment["id"] is not None or len(_course().assignments) == 1:
        return
    for assignment_id in _course().assignments:
        if any(check.id == check_id for check in _course().assignment(assignment_id).spec.checks):
            _assignment["id"] = assignment_id
            return


@functools.cache
def _canonical_test_set() -> tuple[np.ndarray, np.ndarray]:
    (_, _), (x_test, y_test) = load_mnist(config=_config())
    return x_test, y_test


@functools.cache
def _canonical_heads() -> dict[str, np.ndarray]:
    (x_train, _), (x_test, _) = load_mnist(config=_config())
    train, test = data_checks.flattened_names(_config())
    return {train: x_train[:HEAD_ROWS], test: x_test[:HEAD_ROWS]}


def start_notebook(assignment: str | None = None) -> None:
    """What the notebook's first cell runs: which assignment it is (whose checks its test
    cells run), TensorFlow without its start-up noise, and "not written yet" instead of a
    traceback where a cell uses a name that is missing."""
    _assignment["id"] = assignment
    _explain_missing_names()
    start_tensorflow()


def _not_written_lines(error: BaseException) -> list[str]:
    """The "not written yet" box of a stub's error or of a name an unfinished cell lacks."""
    if isinstance(error, NotImplementedError):
        message = (
            "Not written yet: replace the `raise NotImplementedError(...)` line of this cell "
            "with your code, then run it again."
        )
    else:
        message = (
            f"Not written yet: {error.name} is not defined. The cell above that defines it has "
            "not run or failed (a `raise NotImplementedError` line still in it, for example): "
            "write it, then run the cells in order (Kernel > Restart & Run All). If this cell "
            "is meant to define it, check the spelling."
        )
    wrapped = textwrap.wrap(message, BOX_WIDTH, subsequent_indent="  ")
    return [f"{_COLOURS['fail']}✗ {wrapped[0]}{_RESET}", *wrapped[1:]]


def _explain_missing_names() -> None:
    """In IPython, a stub's NotImplementedError, or a NameError, raised by a cell's own line
    (not inside a function, where the traceback helps) shows as a "not written yet" box: in
    this notebook a missing name almost always means an earlier cell is unfinished. It stays
    an error, so the cell still fails and nbgrader still counts it."""
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: nothing to render
        return
    shell = get_ipython()
    if shell is None:
        return

    def render(shell, etype, value, tb, tb_offset=None) -> list[str]:  # noqa: ANN001 - IPython's
        innermost = tb
        while innermost is not None and innermost.tb_next is not None:
            innermost = innermost.tb_next
        code = innermost.tb_frame.f_code if innermost is not None else None
        in_cell = (
            code is not None
            and code.co_name == "<module>"
            and ("ipykernel_" in code.co_filename or code.co_filename.startswith("<ipython-input"))
        )
        if in_cell and (isinstance(value, NotImplementedError) or getattr(value, "name", None)):
            stb = _not_written_lines(value)
        else:
            stb = shell.InteractiveTB.structured_traceback(etype, value, tb, tb_offset)
        shell._showtraceback(etype, value, stb)
        return stb

    shell.set_custom_exc((NameError, NotImplementedError), render)


def start_tensorflow() -> None:
    """Start TensorFlow without its C++ start-up lines in the notebook.

    It logs them (CUDA probing, with an "E... failed call to cuInit" line that reads as a
    failure; oneDNN and CPU-instruction notices) straight to the process's stderr, before
    ``TF_CPP_MIN_LOG_LEVEL`` applies, and ipykernel forwards that descriptor into the cell
    output. So the descriptor points at /dev/null while TensorFlow loads and runs its first
    operation (when it probes the devices); later C++ messages are cut to fatal ones.
    """
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if "tensorflow" in sys.modules:
        return  # already started: its start-up lines are out already
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow

            tensorflow.zeros(1)
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _verdict(result: CheckResult) -> str:
    return "pass" if result.passed else "partial" if result.partial else "fail"


def box_lines(result: CheckResult, *, colour: bool = False) -> list[str]:
    """A result as a student reads it: verdict, title and points, the message, the hint."""
    verdict = _verdict(result)
    head = f"{_MARKS[verdict]} {result.title} ({result.points:g}/{result.max_points:g})"
    lines = [f"{_COLOURS[verdict]}{head}{_RESET}" if colour else head]
    lines += textwrap.wrap(result.message, BOX_WIDTH, initial_indent="  ", subsequent_indent="  ")
    if result.hint:
        lines += textwrap.wrap(
            result.hint, BOX_WIDTH, initial_indent="  Hint: ", subsequent_indent="        "
        )
    return lines


class CheckFailed(AssertionError):
    """A self-check did not pass: its text is the message and the hint.

    IPython asks an exception how to render itself (``_render_traceback_``), so the
    cell shows the ✗ box instead of a traceback through the kit; nbgrader still sees
    an error and deducts the cell's points.
    """

    def __init__(self, result: CheckResult) -> None:
        super().__init__(result.explain())
        self.result = result

    def _render_traceback_(self) -> list[str]:
        return box_lines(self.result, colour=True)


@dataclasses.dataclass(frozen=True)
class ResultBox:
    """The ✓ box of a passed check, or the ◐ box of a partly-scored one: HTML in Jupyter,
    plain text elsewhere."""

    result: CheckResult

    def __str__(self) -> str:
        return "\n".join(box_lines(self.result))

    def _repr_html_(self) -> str:
        head, *rest = box_lines(self.result)
        body = "".join(f"<div>{html.escape(line.strip())}</div>" for line in rest)
        verdict = _verdict(self.result)
        border, background = _BOX_STYLES[verdict]
        return (
            f'<div class="autograder-check autograder-{verdict}" style="border:1px solid '
            f"{border};border-left:6px solid {border};background:{background};"
            'padding:4px 10px;margin:2px 0">'
            f"<b>{html.escape(head)}</b>{body}</div>"
        )


def _report(result: CheckResult, *, partial: bool = False) -> CheckResult:
    """Show ``result``: a box, or CheckFailed for a failure. With ``partial`` (the cell
    records the points it returns) a partly-scored result is a box too; without, it
    raises, so a cell that does not return its points never gets all of them."""
    if not (result.passed or (partial and result.partial)):
        raise CheckFailed(result)
    from IPython.display import display  # outside IPython it prints the plain text

    display(ResultBox(result))
    return result


def arguments(check_id: str) -> tuple[str, ...]:
    """The notebook names check ``check_id`` reads, in the order its function takes them."""
    return _config().spec.check(check_id).reads


def _judge(check_id: str, values: list[object]) -> CheckResult:
    """The check's verdict on ``values`` (None where a name is missing)."""
    check = _config().spec.check(check_id)
    judge = NOTEBOOK_JUDGES[check.judge]
    return judge(check.stage, *values) if check.stage is not None else judge(*values)


def _required(check_id: str) -> tuple[str, ...]:
    """The names without which ``check_id`` is "not written yet". The model checks also
    read ``X_test, y_test`` but measure on the kit's own copy, so those are optional."""
    check = _config().spec.check(check_id)
    measured = check.stage is not None and check.judge != "stage.structure"
    return check.reads[:1] if measured else check.reads


def _not_written(result: CheckResult, missing: list[str]) -> CheckResult:
    """``result`` of a check that lacked ``missing``, said as work still to do."""
    names = " and ".join([", ".join(missing[:-1]), missing[-1]] if len(missing) > 1 else missing)
    verb = "is" if len(missing) == 1 else "are"
    message = (
        f"Not written yet: {names} {verb} not defined. Write the cells above this one and "
        "run them in order (their `raise NotImplementedError` lines must be gone)."
    )
    spec = _config().spec
    functions = [name for name in missing if spec.export(name).kind in FUNCTION_KINDS]
    hint = advise("not_written_yet", function=functions[0]) if functions else None
    return dataclasses.replace(
        result,
        message=message,
        hint=hint.text if hint else result.hint,
        hint_category=hint.category if hint else result.hint_category,
    )


def run_check(check_id: str, namespace: Mapping[str, object]) -> CheckResult:
    """The verdict of ``check_id`` on the names in ``namespace``, without reporting it."""
    _find_assignment(check_id)
    spec_for(check_id, _config())  # a ValueError naming the valid ids
    names = arguments(check_id)
    missing = [name for name in _required(check_id) if name not in namespace]
    result = _judge(check_id, [namespace.get(name) for name in names])
    return _not_written(result, missing) if missing and not result.passed else result


def check(
    check_id: str, namespace: Mapping[str, object] | None = None, *, partial: bool = False
) -> CheckResult:
    """Run one self-check on the notebook's names (the caller's globals by default).
    ``partial``: the cell ends with the result's ``.points`` (nbgrader's partial credit),
    so a partly-scored result is shown, not raised."""
    if namespace is None:
        namespace = sys._getframe(1).f_globals
    return _report(run_check(check_id, namespace), partial=partial)


def _judge_data(*arrays: object) -> CheckResult:
    names = data_checks.loaded_names(_config())
    summaries = {name: None if value is None else ArraySummary.of(value)
                 for name, value in zip(names, arrays, strict=True)}  # fmt: skip
    return data_checks.check_load(summaries, config=_config())


def check_data(X_train, y_train, X_test, y_test) -> CheckResult:  # noqa: N803 - contract names
    """The four arrays are MNIST exactly as load_mnist() returns it."""
    return _report(_judge_data(X_train, y_train, X_test, y_test))


def _call(function: Callable[[np.ndarray], object], probe: np.ndarray
          ) -> tuple[object, str | None]:  # fmt: skip
    if not callable(function):
        return None, "it is not a function"
    try:
        return function(probe.copy()), None
    except Exception as exc:  # the student's function may raise anything
        return None, f"{type(exc).__name__}: {exc}"


def _judge_normalize(normalize: Callable[[np.ndarray], object]) -> CheckResult:
    probe = data_checks.probe_images(_canonical_test_set()[0])
    output, error = _call(normalize, probe)
    return data_checks.check_normalize(probe, output, error=error, config=_config())


def check_normalize(normalize: Callable[[np.ndarray], object]) -> CheckResult:
    """normalize() on images the grader chooses returns them divided by 255."""
    return _report(_judge_normalize(normalize))


def _judge_flatten(flatten: Callable[[np.ndarray], object], *arrays: object) -> CheckResult:
    probe = data_checks.probe_images(_canonical_test_set()[0])
    output, error = _call(flatten, probe)
    names = data_checks.flattened_names(_config())
    flattened = {
        name: None if value is None else data_checks.ArrayEvidence.of(value)
        for name, value in zip(names, arrays, strict=True)
    }
    return data_checks.check_flatten(
        probe, output, error=error, flattened=flattened,
        expected_heads=_canonical_heads(), config=_config(),
    )  # fmt: skip


def check_flatten(
    flatten: Callable[[np.ndarray], object],
    X_train_flattened: np.ndarray,  # noqa: N803 - contract names
    X_test_flattened: np.ndarray,  # noqa: N803
) -> CheckResult:
    """flatten() and the two flattened arrays have one 784-value row per image."""
    return _report(_judge_flatten(flatten, X_train_flattened, X_test_flattened))


def _measure(stage: str, model: keras.Model, *, perturbed: bool = False) -> evaluation.Measurement:
    """Accuracy on the kit's own copy of the test set (``perturbed``: on the grader's
    rotated, shifted and zoomed copy of it, against that bar).

    The test cells name the notebook's ``X_test, y_test`` so they read naturally,
    but those are the student's variables: a notebook that trimmed or relabelled
    them must not be able to raise its own score, so they are not used here.
    """
    settings = _config().stages[stage]
    x_test, y_test = _canonical_test_set()
    if perturbed:
        bar = settings.min_perturbed_accuracy or 0.0
        return evaluation.measure(model, _perturbed_test_set(_config().seed), y_test, bar=bar)
    return evaluation.measure(model, x_test, y_test, bar=settings.min_test_accuracy)


def check_model_structure(stage: str, model: keras.Model) -> CheckResult:
    """The model has the architecture ``stage`` asks for."""
    return _report(models.check_structure(stage, model, config=_config()))


def _judge_builder(stage: str, builder: Callable[[], keras.Model] | None) -> CheckResult:
    """The architecture of a new model from the stage's builder, which this calls itself,
    so a builder still raising the release's NotImplementedError is "not written yet"."""
    name = _config().spec.stage(stage).builder
    if builder is None:
        return models.check_structure(stage, None, config=_config())
    if not callable(builder):
        problem = models.ModelProblem("missing", f"{name} is not a function.")
        return models.check_structure(stage, None, config=_config(), problem=problem)
    try:
        model = builder()
    except NotImplementedError:
        spec = spec_for(f"{stage}.structure", _config())
        advice = advise("not_written_yet", function=name)
        return spec.failed(f"{name}() is not written yet.", advice)
    except Exception as exc:  # the student's builder may raise anything
        problem = models.ModelProblem("unusable", f"{name}() raised {type(exc).__name__}: {exc}")
        return models.check_structure(stage, None, config=_config(), problem=problem)
    return models.check_structure(stage, model, config=_config())


def _judged(
    stage: str, model: keras.Model | None, y_test: object, *, perturbed: bool = False
) -> dict[str, object]:
    """Measurement (``perturbed``: on the perturbed test set), problem and architecture
    verdict of a live model, for the checks."""
    if model is None:
        return {"measurement": None, "problem": None, "evidence": None, "structure": None}
    try:
        measurement, problem = _measure(stage, model, perturbed=perturbed), None
    except (ValueError, AttributeError, TypeError) as exc:
        measurement = None
        problem = models.ModelProblem("not_evaluable", f"The model could not be evaluated: {exc}.")
    steps = getattr(getattr(model, "optimizer", None), "iterations", None)
    evidence = models.TrainingEvidence(
        optimizer_steps=int(np.asarray(steps)) if steps is not None else None,
        loss=str(getattr(model, "loss", None)),
        labels_one_hot=np.asarray(y_test).ndim == 2,
    )
    structure = models.check_structure(stage, model, config=_config())
    return {
        "measurement": measurement,
        "problem": problem,
        "evidence": evidence,
        "structure": structure,
    }


def _judge_trained(stage: str, model: keras.Model | None, X_test, y_test) -> CheckResult:  # noqa: N803
    judged = _judged(stage, model, y_test)
    measurement = judged.pop("measurement")
    return models.check_trained(stage, measurement, config=_config(), **judged)


def _judge_accuracy(stage: str, model: keras.Model | None, X_test, y_test) -> CheckResult:  # noqa: N803
    judged = _judged(stage, model, y_test)
    measurement = judged.pop("measurement")
    return models.check_accuracy(stage, measurement, config=_config(), **judged)


def check_model_trained(stage: str, model: keras.Model, X_test, y_test) -> CheckResult:  # noqa: N803
    """The model classifies the test images far better than chance."""
    return _report(_judge_trained(stage, model, X_test, y_test))


def check_accuracy(stage: str, model: keras.Model, X_test, y_test) -> CheckResult:  # noqa: N803
    """Test accuracy, computed from the raw test images the canonical way, reaches the bar."""
    return _report(_judge_accuracy(stage, model, X_test, y_test))


def _build_block(builder: object) -> tuple[object | None, str | None]:
    """The augmentation block ``builder`` returns, or why there is none."""
    if builder is None:
        return None, None
    if not callable(builder):
        return None, f"build_augmentation is a {type(builder).__name__}, not a function."
    try:
        return builder(), None
    except Exception as exc:  # the student's function may raise anything
        return None, f"build_augmentation() raised {type(exc).__name__}: {exc}"


def _judge_augmentation_layers(builder: object) -> CheckResult:
    block, problem = _build_block(builder)
    return extensions.check_augmentation_layers(block, config=_config(), problem=problem)


def _judge_augmentation_behaviour(builder: object) -> CheckResult:
    block, problem = _build_block(builder)
    images = extensions.augmentation_images(_canonical_test_set()[0])
    return extensions.check_augmentation_behaviour(block, images, config=_config(), problem=problem)


@functools.cache
def _perturbed_test_set(seed: int) -> np.ndarray:
    from mnist_course import perturbation

    return perturbation.perturbed_test_set(_canonical_test_set()[0], seed=seed)


def _judge_perturbed(stage: str, model: keras.Model | None, X_test, y_test) -> CheckResult:  # noqa: N803
    judged = _judged(stage, model, y_test, perturbed=True)
    measurement = judged.pop("measurement")
    return models.check_perturbed(stage, measurement, config=_config(), **judged)


def _live_search(tuner: object) -> extensions.Search:
    if tuner is None:
        return extensions.Search(defined=False)
    keras_tuner = sys.modules.get("keras_tuner")
    if keras_tuner is None or not isinstance(tuner, keras_tuner.Tuner):
        return extensions.Search(error=f"tuner is a {type(tuner).__name__}, not a KerasTuner tuner")
    objective = getattr(tuner.oracle.objective, "name", "")
    trials = tuning.trials_from_export(tuning.trials_of(tuner))
    return extensions.Search(trials, str(objective))


def _judge_search(tuner: object) -> CheckResult:
    return extensions.check_tuning_search(_live_search(tuner), config=_config())


def _judge_validation(X_val: object, y_val: object) -> CheckResult:  # noqa: N803
    _, y_train = _canonical_training_set()
    heads = [None if value is None else np.asarray(value)[:HEAD_ROWS] for value in (X_val, y_val)]
    return extensions.check_tuning_validation(
        heads[0],
        heads[1],
        index=_image_index(),
        train_labels=y_train,
        config=_config(),
    )


@functools.cache
def _canonical_training_set() -> tuple[np.ndarray, np.ndarray]:
    """The kit's own training images and labels (loaded once per kernel)."""
    (x_train, y_train), _ = load_mnist(config=_config())
    return x_train, y_train


@functools.cache
def _image_index() -> extensions.ImageIndex:
    return extensions.ImageIndex(_canonical_training_set()[0], _canonical_test_set()[0])


def _judge_reproduced(model: keras.Model | None, reported: object, tuner: object) -> CheckResult:
    numeric = isinstance(reported, int | float) and not isinstance(reported, bool)
    x_train, y_train = _canonical_training_set()
    return extensions.judge_reproduced(
        model,
        float(reported) if numeric else None,
        _live_search(tuner).trials,
        x_train,
        y_train,
        config=_config(),
        problem="tuned_model is not defined." if model is None else None,
    )


#: The notebook side of each judge family: live objects in, the shared check's result out.
NOTEBOOK_JUDGES: dict[str, Callable[..., CheckResult]] = {
    "data.load": _judge_data,
    "data.normalize": _judge_normalize,
    "data.flatten": _judge_flatten,
    "stage.structure": _judge_builder,
    "stage.trained": _judge_trained,
    "stage.accuracy": _judge_accuracy,
    "stage.perturbed": _judge_perturbed,
    "augmentation.layers": _judge_augmentation_layers,
    "augmentation.behaviour": _judge_augmentation_behaviour,
    "tuning.search": _judge_search,
    "tuning.validation": _judge_validation,
    "tuning.reproduced": _judge_reproduced,
}
