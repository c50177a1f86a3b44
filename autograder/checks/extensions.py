"""Checks of the ``mnist_extensions`` parts that are not one model's stage checks: the
augmentation block and the hyperparameter search.

Like every check they judge values: the trusted grader passes what the sandbox exported
(a reloaded model, the trials as data, the first rows of the validation arrays) and the
notebook passes the live objects, and both get the same verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from autograder import fit_evidence
from autograder.checks.architectures import AUGMENTATION_LAYERS, augmentation_missing, layer_names
from autograder.checks.hints import Advice, advise
from mnist_course import tuning
from mnist_course.config import AssignmentConfig
from mnist_course.results import CheckResult, spec_for

if TYPE_CHECKING:
    import keras

#: Below this mean change a training-mode augmentation changed nothing.
MIN_CHANGE = 1e-3
#: Inference output this far from the input means the block was not the identity.
IDENTITY_TOLERANCE = 1e-5
RANGE_TOLERANCE = 1e-4
#: How close a reported validation accuracy must be to a trial's score to count as that
#: score copied.
SAME_SCORE = 1e-6


def augmentation_images(test_images: np.ndarray) -> np.ndarray:
    """What the augmentation checks feed the block: 16 test digits scaled to [0, 1], with
    the channel axis a CNN reads."""
    return (np.asarray(test_images[:16], dtype="float32") / 255.0)[..., None]


def _missing_block(problem: str | None) -> tuple[str, Advice]:
    """Message and hint when there is no augmentation block to judge."""
    if problem is None:
        return "build_augmentation is not defined.", advise(
            "not_written_yet", function="build_augmentation"
        )
    if problem.startswith("build_augmentation() raised NotImplementedError"):
        return problem, advise("not_written_yet", function="build_augmentation")
    return problem, advise("object_unusable", name="build_augmentation")


def check_augmentation_layers(
    block: keras.Model | None, *, config: AssignmentConfig, problem: str | None = None
) -> CheckResult:
    """build_augmentation() returns Keras' random rotation, zoom and translation layers."""
    spec = spec_for("augmentation.layers", config)
    if block is None:
        return spec.failed(*_missing_block(problem))
    names = layer_names(block) or [type(block).__name__]
    missing = augmentation_missing(block)
    if missing:
        return spec.failed(
            f"The block has {', '.join(names)}; it lacks {', '.join(missing)}.",
            advise("augmentation_layers_missing", missing=", ".join(missing)),
        )
    return spec.passed(f"The block has {', '.join(AUGMENTATION_LAYERS)}.")


def check_augmentation_behaviour(
    block: keras.Model | None,
    images: np.ndarray,
    *,
    config: AssignmentConfig,
    problem: str | None = None,
) -> CheckResult:
    """The block is the identity at inference, changes images in training, and keeps them
    in [0, 1]. ``images`` are normalized digits (see :func:`augmentation_images`)."""
    spec = spec_for("augmentation.behaviour", config)
    if block is None:
        return spec.failed(*_missing_block(problem))
    try:
        at_inference = np.asarray(block(images, training=False), dtype="float64")
        in_training = np.asarray(block(images, training=True), dtype="float64")
    except Exception as exc:  # the student's block may fail on real images
        return spec.failed(
            f"The block could not augment 28x28x1 images: {type(exc).__name__}: {exc}"[:500],
            advise("augmentation_layers_missing", missing="layers that accept images"),
        )
    if at_inference.shape != images.shape or in_training.shape != images.shape:
        return spec.failed(
            f"The block turns images of shape {images.shape[1:]} into {in_training.shape[1:]}; "
            "augmentation must keep the shape.",
            advise("augmentation_out_of_range"),
        )
    if np.max(np.abs(at_inference - images)) > IDENTITY_TOLERANCE:
        return spec.failed(
            "At inference (training=False) the block changed the images; it must pass them "
            "through unchanged.",
            advise("augmentation_at_inference"),
        )
    if float(np.mean(np.abs(in_training - images))) < MIN_CHANGE:
        return spec.failed(
            "In training (training=True) the block left the images unchanged.",
            advise("augmentation_no_change"),
        )
    low, high = float(in_training.min()), float(in_training.max())
    if low < -RANGE_TOLERANCE or high > 1 + RANGE_TOLERANCE:
        return spec.failed(
            f"Augmented images range over [{low:.3g}, {high:.3g}], outside [0, 1].",
            advise("augmentation_out_of_range"),
        )
    return spec.passed("The block changes images only in training and keeps them in [0, 1].")


@dataclass(frozen=True)
class Search:
    """What is known of the notebook's search: its trials, its objective, or why not."""

    trials: tuple[tuning.Trial, ...] = ()
    objective: str = ""
    error: str | None = None
    defined: bool = True
    #: Fingerprints of the validation images each fit() of the search was given (clues).
    validation: tuple[str, ...] = ()

    @classmethod
    def from_export(cls, info: Mapping[str, object]) -> Search:
        """From the sandbox's export of the ``tuner`` name (untrusted)."""
        if not info or not info.get("defined"):
            return cls(defined=False)
        error = info.get("error")
        objective = info.get("objective")
        raw = info.get("validation_fingerprints")
        fingerprints = tuple(
            str(item)[:64]
            for entry in (raw if isinstance(raw, list) else [])[:64]
            if isinstance(entry, list)
            for item in entry[:16]
        )
        return cls(
            tuning.trials_from_export(info.get("trials")),
            str(objective)[:100] if isinstance(objective, str) else "",
            str(error)[:400] if error is not None else None,
            validation=fingerprints,
        )


def check_tuning_search(search: Search, *, config: AssignmentConfig) -> CheckResult:
    """A KerasTuner search ran within the trial budget, on validation accuracy, and every
    trial chose batch size, learning rate and optimizer."""
    spec = spec_for("tuning.search", config)
    if not search.defined:
        return spec.failed("tuner is not defined.", advise("tuner_not_keras_tuner"))
    if search.error is not None:
        category = "tuner_not_keras_tuner" if "not a KerasTuner" in search.error else "other"
        hint = advise(category) if category != "other" else search.error
        return spec.failed(f"{search.error}.", hint)
    if not search.trials:
        return spec.failed("The tuner has no finished trials.", advise("tuning_not_searched"))
    budget = config.tuning.max_trials
    if len(search.trials) > budget:
        return spec.failed(
            f"The search ran {len(search.trials)} trials; the course's budget is {budget}.",
            advise("tuning_too_many_trials", budget=budget),
        )
    if search.objective and not search.objective.startswith("val_"):
        return spec.failed(
            f"The tuner chose by {search.objective}, a score on the training data.",
            advise("tuning_objective", objective=search.objective),
        )
    missing = sorted(
        {name for trial in search.trials for name in tuning.SEARCHED}
        - set.intersection(*(set(trial.hyperparameters) for trial in search.trials))
    )
    if missing:
        return spec.failed(
            f"Trials do not choose {', '.join(missing)}.",
            advise("tuning_space", missing=", ".join(missing)),
        )
    if not all(0.0 <= trial.score <= 1.0 for trial in search.trials):
        return spec.failed(
            "Trial scores are not accuracies in [0, 1].",
            advise("tuning_objective", objective=search.objective or "another score"),
        )
    best = tuning.best(search.trials)
    assert best is not None
    return spec.passed(
        f"{len(search.trials)} KerasTuner trials; the best scored {best.score:.2%} on "
        "validation data."
    )


class ImageIndex:
    """Finds raw MNIST images by their pixels, to tell training from test images."""

    def __init__(self, train: np.ndarray, test: np.ndarray) -> None:
        self.train = {image.tobytes(): i for i, image in enumerate(np.asarray(train, np.uint8))}
        self.test = {image.tobytes(): i for i, image in enumerate(np.asarray(test, np.uint8))}
        self.test_fingerprints = set(fit_evidence.image_fingerprints(np.asarray(test)))

    @staticmethod
    def raw(rows: np.ndarray) -> np.ndarray | None:
        """Normalized rows (any shape of 784 values each) back as uint8 28x28 images."""
        rows = np.asarray(rows, dtype="float64")
        if rows.ndim < 2 or rows[0].size != 784:
            return None
        scaled = rows.reshape(len(rows), 28, 28) * (255.0 if rows.max() <= 1.0 else 1.0)
        return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def check_tuning_validation(
    x_head: np.ndarray | None,
    y_head: np.ndarray | None,
    *,
    index: ImageIndex,
    train_labels: np.ndarray,
    config: AssignmentConfig,
    problem: str | None = None,
    searched: Sequence[str] = (),
) -> CheckResult:
    """The first rows of X_val, y_val are training images with their labels, none of them
    a test image, and the search's fit() calls were given no test images as validation
    data (``searched``: their fingerprints, see autograder.fit_evidence): the search chose
    on data carved from the training set."""
    spec = spec_for("tuning.validation", config)
    if any(fingerprint in index.test_fingerprints for fingerprint in searched):
        return spec.failed(
            "The search's trials were scored on test images (validation_data held test "
            "digits): the configuration was chosen on the test set.",
            advise("tuned_on_test_set"),
        )
    if x_head is None or y_head is None:
        return spec.failed(
            problem or "X_val and y_val are not both defined.",
            advise("validation_not_training_images"),
        )
    images = ImageIndex.raw(x_head)
    if images is None:
        return spec.failed(
            f"X_val has rows of shape {np.asarray(x_head).shape[1:]}, not 28x28 images.",
            advise("validation_not_training_images"),
        )
    in_test = [index.test.get(image.tobytes()) for image in images]
    in_train = [index.train.get(image.tobytes()) for image in images]
    if any(found is not None for found in in_test) and not all(
        found is not None for found in in_train
    ):
        return spec.failed(
            "X_val holds test images: the search chose its configuration on the test set.",
            advise("tuned_on_test_set"),
        )
    if not all(found is not None for found in in_train):
        return spec.failed(
            "X_val's first rows are not (normalized) training images.",
            advise("validation_not_training_images"),
        )
    labels = np.asarray(y_head).reshape(len(images), -1)
    labels = labels.argmax(axis=1) if labels.shape[1] == 10 else labels[:, 0]
    expected = np.asarray(train_labels)[[found for found in in_train if found is not None]]
    if not np.array_equal(labels.astype(np.int64), expected.astype(np.int64)):
        return spec.failed(
            "y_val does not hold the labels of X_val's images.",
            advise("validation_not_training_images"),
        )
    return spec.passed("X_val and y_val are training images with their labels.")


def check_tuning_reproduced(
    reported: float | None,
    measured: float | None,
    trials: Sequence[tuning.Trial],
    *,
    config: AssignmentConfig,
    problem: str | None = None,
) -> CheckResult:
    """The grader's re-training of the chosen configuration reaches, within the course's
    tolerance, the validation accuracy the notebook reported."""
    spec = spec_for("tuning.reproduced", config)
    if problem is not None or measured is None:
        return spec.failed(
            problem or "The chosen configuration could not be re-trained.",
            advise("tuning_not_reproduced"),
        )
    if reported is None:
        return spec.failed(
            "tuned_validation_accuracy is not defined (or not a number).",
            advise("tuning_not_reproduced"),
        )
    tolerance = config.tuning.tolerance
    said = (
        f"The grader re-trained the chosen configuration: {measured:.2%} validation accuracy; "
        f"you reported {reported:.2%}"
    )
    if abs(measured - reported) <= tolerance:
        return spec.passed(f"{said} (within {tolerance:.0%}).")
    copied = any(abs(trial.score - reported) <= SAME_SCORE for trial in trials)
    category = "best_trial_score_reported" if copied and reported > measured else ""
    return spec.failed(
        f"{said}, {abs(measured - reported) * 100:.1f} points apart (more than {tolerance:.0%}).",
        advise(category or "tuning_not_reproduced"),
    )


#: Why there is nothing to re-train when the search finished no trial.
NO_TRIALS = "The tuner has no finished trials, so no configuration was chosen."


def judge_reproduced(
    model: keras.Model | None,
    reported: float | None,
    trials: Sequence[tuning.Trial],
    images: np.ndarray,
    labels: np.ndarray,
    *,
    config: AssignmentConfig,
    problem: str | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> CheckResult:
    """Re-train the search's chosen configuration on the training ``images`` (the
    grader's child and the notebook both call this) and check it against ``reported``."""
    from autograder.checks import evaluation

    chosen = tuning.best(trials)
    measured = None
    if problem is None and model is not None and chosen is not None:
        progress("re-training the tuned configuration")
        measured = evaluation.tuned_validation_accuracy(
            model, chosen.hyperparameters, images, labels, config=config
        )
    elif problem is None and model is not None:
        problem = NO_TRIALS
    return check_tuning_reproduced(reported, measured, trials, config=config, problem=problem)
