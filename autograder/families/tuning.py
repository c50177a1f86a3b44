"""The tuning family: a KerasTuner search that really searched, on a validation split
carved from the training images, whose chosen configuration reproduces the accuracy
the notebook reports.

The search and the split are judged in the grader's process from the exported trials
and array heads; the reproduction re-trains the chosen configuration, so it runs in the
model judge's child.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from autograder.arrays import HEAD_ROWS
from autograder.checks import extensions
from autograder.families.base import (
    ChildContext,
    ExportContext,
    Family,
    Judge,
    LoadedCheck,
    NotebookContext,
    one_model_per_check,
)
from mnist_course import tuning
from mnist_course.results import CheckResult
from mnist_course.spec import Check

if TYPE_CHECKING:
    pass


def _live_search(tuner: object) -> extensions.Search:
    """What a live KerasTuner tuner searched, as the export would say it."""
    if tuner is None:
        return extensions.Search(defined=False)
    keras_tuner = sys.modules.get("keras_tuner")
    if keras_tuner is None or not isinstance(tuner, keras_tuner.Tuner):
        return extensions.Search(error=f"tuner is a {type(tuner).__name__}, not a KerasTuner tuner")
    objective = getattr(tuner.oracle.objective, "name", "")
    trials = tuning.trials_from_export(tuning.trials_of(tuner))
    return extensions.Search(trials, str(objective))


def _notebook_search(
    context: NotebookContext, check: Check, values: Sequence[object]
) -> CheckResult:
    return extensions.check_tuning_search(_live_search(values[0]), config=context.config)


def _trusted_search(exported: ExportContext, check: Check) -> CheckResult:
    search = extensions.Search.from_export(exported.entry(check.reads[0]))
    return extensions.check_tuning_search(search, config=exported.config)


def _notebook_validation(
    context: NotebookContext, check: Check, values: Sequence[object]
) -> CheckResult:
    heads = [None if value is None else np.asarray(value)[:HEAD_ROWS] for value in values]
    return extensions.check_tuning_validation(
        heads[0],
        heads[1],
        index=context.image_index,
        train_labels=context.training_set[1],
        config=context.config,
    )


def _trusted_validation(exported: ExportContext, check: Check) -> CheckResult:
    heads = [exported.array(name) for name in check.reads]
    problem = next(
        (f"{name} is not defined." for name, head in zip(check.reads, heads, strict=True)
         if head is None),
        None,
    )  # fmt: skip
    x_head, y_head = (None if head is None else head.head for head in heads)
    canon = exported.canon
    searched = tuple(
        fingerprint
        for name in exported.config.spec.names("tuner")
        for fingerprint in extensions.Search.from_export(exported.entry(name)).validation
    )
    return extensions.check_tuning_validation(
        x_head,
        y_head,
        index=extensions.ImageIndex(canon.x_train, canon.x_test),
        train_labels=canon.y_train,
        config=exported.config,
        problem=problem,
        searched=searched,
    )


def _notebook_reproduced(
    context: NotebookContext, check: Check, values: Sequence[object]
) -> CheckResult:
    model, reported, tuner = values
    numeric = isinstance(reported, int | float) and not isinstance(reported, bool)
    x_train, y_train = context.training_set
    return extensions.judge_reproduced(
        model,
        float(reported) if numeric else None,
        _live_search(tuner).trials,
        x_train,
        y_train,
        config=context.config,
        problem=f"{check.reads[0]} is not defined." if model is None else None,
    )


def _reproduction_job(exported: ExportContext, check: Check) -> dict[str, Any]:
    """The reported number and the trials (untrusted), which the child re-trains from."""
    reported = exported.entry(check.reads[1]).get("value")
    trials = extensions.Search.from_export(exported.entry(check.reads[2])).trials
    return {
        "reported": (
            float(reported) if isinstance(reported, int | float) and reported == reported else None
        ),
        "trials": [
            {"hyperparameters": dict(trial.hyperparameters), "score": trial.score}
            for trial in trials
        ],
    }


def _child_reproduced(context: ChildContext, loaded: LoadedCheck) -> CheckResult:
    return extensions.judge_reproduced(
        loaded.model,
        loaded.job.get("reported"),
        tuning.trials_from_export(loaded.job.get("trials")),
        context.canon["x_train"],
        context.canon["y_train"],
        config=context.config,
        problem=loaded.problem,
        progress=context.say,
    )


FAMILY = Family(
    "tuning",
    {
        "search": Judge(_notebook_search, _trusted_search),
        "validation": Judge(_notebook_validation, _trusted_validation),
        "reproduced": Judge(_notebook_reproduced),
    },
    one_model_per_check(
        "tuning", {"reproduced": _child_reproduced}, job=_reproduction_job, trains=True
    ),
)
