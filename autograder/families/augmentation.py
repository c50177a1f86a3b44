"""The augmentation family: the student's ``build_augmentation()`` block has the layers
the assignment asks for, and changes digits in training but not at inference.

The sandbox saves the block as a model file, so the trusted verdicts run in the model
judge's child; the notebook builds the block itself and judges the live object.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from autograder.checks import extensions
from autograder.families.base import (
    ChildContext,
    Family,
    Judge,
    LoadedCheck,
    NotebookContext,
    one_model_per_check,
)
from mnist_course.results import CheckResult
from mnist_course.spec import Check

if TYPE_CHECKING:
    pass


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


def _notebook_layers(
    context: NotebookContext, check: Check, values: Sequence[object]
) -> CheckResult:
    block, problem = _build_block(values[0])
    return extensions.check_augmentation_layers(block, config=context.config, problem=problem)


def _notebook_behaviour(
    context: NotebookContext, check: Check, values: Sequence[object]
) -> CheckResult:
    block, problem = _build_block(values[0])
    images = extensions.augmentation_images(context.test_set[0])
    return extensions.check_augmentation_behaviour(
        block, images, config=context.config, problem=problem
    )


def _child_layers(context: ChildContext, loaded: LoadedCheck) -> CheckResult:
    return extensions.check_augmentation_layers(
        loaded.model, config=context.config, problem=loaded.problem
    )


def _child_behaviour(context: ChildContext, loaded: LoadedCheck) -> CheckResult:
    images = extensions.augmentation_images(context.canon["x_test"])
    return extensions.check_augmentation_behaviour(
        loaded.model, images, config=context.config, problem=loaded.problem
    )


FAMILY = Family(
    "augmentation",
    {"layers": Judge(_notebook_layers), "behaviour": Judge(_notebook_behaviour)},
    one_model_per_check("augmentation", {"layers": _child_layers, "behaviour": _child_behaviour}),
)
