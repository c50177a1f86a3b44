"""The data family: MNIST loaded as the kit loads it, normalize() and flatten().

Every verdict is computed in the grader's process (arrays and JSON only): the sandbox
exports the loaded arrays' summaries and what the student's functions returned for the
grader's probe images; the notebook passes the live arrays and calls the functions on
the same probe images.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from autograder.arrays import ArraySummary
from autograder.checks import data as data_checks
from autograder.families.base import ExportContext, Family, Judge, NotebookContext
from mnist_course.results import CheckResult
from mnist_course.spec import Check


def _call(function: object, probe: np.ndarray) -> tuple[object, str | None]:
    """What the student's ``function`` returns for a copy of ``probe``, or why nothing."""
    if not callable(function):
        return None, "it is not a function"
    try:
        return function(probe.copy()), None
    except Exception as exc:  # the student's function may raise anything
        return None, f"{type(exc).__name__}: {exc}"


def _notebook_load(context: NotebookContext, check: Check, values: Sequence[object]) -> CheckResult:
    summaries = {
        name: None if value is None else ArraySummary.of(value)
        for name, value in zip(check.reads, values, strict=True)
    }
    return data_checks.check_load(summaries, config=context.config, check_id=check.id)


def _trusted_load(exported: ExportContext, check: Check) -> CheckResult:
    loaded = {name: exported.summary(name) for name in check.reads}
    return data_checks.check_load(loaded, config=exported.config, check_id=check.id)


def _notebook_normalize(
    context: NotebookContext, check: Check, values: Sequence[object]
) -> CheckResult:
    output, error = _call(values[0], context.probe)
    return data_checks.check_normalize(
        context.probe, output, error=error, config=context.config, check_id=check.id
    )


def _trusted_normalize(exported: ExportContext, check: Check) -> CheckResult:
    output, error = exported.function_output(check.reads[0])
    return data_checks.check_normalize(
        exported.probe, output, error=error, config=exported.config, check_id=check.id
    )


def _notebook_flatten(
    context: NotebookContext, check: Check, values: Sequence[object]
) -> CheckResult:
    flatten, *arrays = values
    output, error = _call(flatten, context.probe)
    names = check.reads[1:]
    flattened = {
        name: None if value is None else data_checks.ArrayEvidence.of(value)
        for name, value in zip(names, arrays, strict=True)
    }
    return data_checks.check_flatten(
        context.probe,
        output,
        error=error,
        flattened=flattened,
        expected_heads=context.heads(*names),
        config=context.config,
        check_id=check.id,
    )


def _trusted_flatten(exported: ExportContext, check: Check) -> CheckResult:
    output, error = exported.function_output(check.reads[0])
    train, test = check.reads[1:]
    canon = exported.canon
    return data_checks.check_flatten(
        exported.probe,
        output,
        error=error,
        flattened={name: exported.array(name) for name in (train, test)},
        expected_heads={
            train: canon.x_train[: data_checks.HEAD_ROWS],
            test: canon.x_test[: data_checks.HEAD_ROWS],
        },
        config=exported.config,
        check_id=check.id,
    )


FAMILY = Family(
    "data",
    {
        "load": Judge(_notebook_load, _trusted_load),
        "normalize": Judge(_notebook_normalize, _trusted_normalize),
        "flatten": Judge(_notebook_flatten, _trusted_flatten),
    },
)
