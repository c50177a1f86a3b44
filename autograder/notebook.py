"""What the notebook's test cells call, inside the student's own kernel.

Each function runs the same check the trusted grader runs, prints a one-line
"✓ ..." on success and raises AssertionError with the message and the hint on
failure, so nbgrader shows the student why and deducts that cell's points. This is
feedback, not the grade of record: ``autograder grade`` re-checks everything in a
separate process.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from autograder.arrays import HEAD_ROWS, ArraySummary
from autograder.checks import data as data_checks
from autograder.checks import evaluation, models
from autograder.checks.result import CheckResult
from autograder.config import CourseConfig, load_config
from autograder.data import load_mnist

if TYPE_CHECKING:
    import keras


@functools.cache
def _config() -> CourseConfig:
    return load_config()


@functools.cache
def _canonical_test_set() -> tuple[np.ndarray, np.ndarray]:
    (_, _), (x_test, y_test) = load_mnist(config=_config())
    return x_test, y_test


@functools.cache
def _canonical_heads() -> dict[str, np.ndarray]:
    (x_train, _), (x_test, _) = load_mnist(config=_config())
    return {"X_train_flattened": x_train[:HEAD_ROWS], "X_test_flattened": x_test[:HEAD_ROWS]}


def _report(result: CheckResult) -> CheckResult:
    if not result.passed:
        raise AssertionError(result.explain())
    print(f"✓ {result.message}")
    return result


def check_data(X_train, y_train, X_test, y_test) -> CheckResult:  # noqa: N803 - contract names
    """The four arrays are MNIST exactly as load_mnist() returns it."""
    arrays = {"X_train": X_train, "y_train": y_train, "X_test": X_test, "y_test": y_test}
    summaries = {name: None if value is None else ArraySummary.of(value)
                 for name, value in arrays.items()}  # fmt: skip
    return _report(data_checks.check_load(summaries, config=_config()))


def _call(function: Callable[[np.ndarray], object], probe: np.ndarray
          ) -> tuple[object, str | None]:  # fmt: skip
    if not callable(function):
        return None, "it is not a function"
    try:
        return function(probe.copy()), None
    except Exception as exc:  # the student's function may raise anything
        return None, f"{type(exc).__name__}: {exc}"


def check_normalize(normalize: Callable[[np.ndarray], object]) -> CheckResult:
    """normalize() on images the grader chooses returns them divided by 255."""
    probe = data_checks.probe_images(_canonical_test_set()[0])
    output, error = _call(normalize, probe)
    return _report(data_checks.check_normalize(probe, output, error=error, config=_config()))


def check_flatten(
    flatten: Callable[[np.ndarray], object],
    X_train_flattened: np.ndarray,  # noqa: N803 - contract names
    X_test_flattened: np.ndarray,  # noqa: N803
) -> CheckResult:
    """flatten() and the two flattened arrays have one 784-value row per image."""
    probe = data_checks.probe_images(_canonical_test_set()[0])
    output, error = _call(flatten, probe)
    flattened = {
        name: None if value is None else data_checks.ArrayEvidence.of(value)
        for name, value in (
            ("X_train_flattened", X_train_flattened),
            ("X_test_flattened", X_test_flattened),
        )
    }
    return _report(
        data_checks.check_flatten(
            probe, output, error=error, flattened=flattened,
            expected_heads=_canonical_heads(), config=_config(),
        )
    )  # fmt: skip


def _measure(stage: str, model: keras.Model) -> evaluation.Measurement:
    """Accuracy on the kit's own copy of the test set.

    The test cells pass the notebook's ``X_test, y_test`` so they read naturally,
    but those are the student's variables: a notebook that trimmed or relabelled
    them must not be able to raise its own score, so they are not used here.
    """
    bar = _config().stages[stage].min_test_accuracy
    x_test, y_test = _canonical_test_set()
    return evaluation.measure(model, x_test, y_test, bar=bar)


def check_model_structure(stage: str, model: keras.Model) -> CheckResult:
    """The model has the architecture ``stage`` asks for."""
    return _report(models.check_structure(stage, model, config=_config()))


def _judged(stage: str, model: keras.Model, y_test: object) -> dict[str, object]:
    """Measurement, problem and architecture verdict of a live model, for the checks."""
    try:
        measurement, problem = _measure(stage, model), None
    except ValueError as exc:
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


def check_model_trained(stage: str, model: keras.Model, X_test, y_test) -> CheckResult:  # noqa: N803
    """The model classifies the test images far better than chance."""
    judged = _judged(stage, model, y_test)
    measurement = judged.pop("measurement")
    return _report(models.check_trained(stage, measurement, config=_config(), **judged))


def check_accuracy(stage: str, model: keras.Model, X_test, y_test) -> CheckResult:  # noqa: N803
    """Test accuracy, computed from the raw test images the canonical way, reaches the bar."""
    judged = _judged(stage, model, y_test)
    measurement = judged.pop("measurement")
    return _report(models.check_accuracy(stage, measurement, config=_config(), **judged))
