"""What the tuning part of ``mnist_extensions`` shares between the notebook, the reference
and the grader: the validation split carved from the training set, and the trials of a
search read as plain data.

The split is the kit's, so the grader can re-train a chosen configuration on exactly the
images the student's search saw and compare validation accuracies; it never touches the
test set. numpy only: the trusted side imports this without Keras.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: The hyperparameters every trial of the course's search chooses.
SEARCHED = ("batch_size", "learning_rate", "optimizer")
#: Optimizers the grader knows how to re-create by name when it re-trains.
OPTIMIZERS = ("adam", "sgd", "rmsprop")


def split_indices(
    count: int, *, train_images: int, validation_images: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the search and the validation part of ``count`` training images."""
    if train_images + validation_images > count:
        raise ValueError(f"cannot take {train_images} + {validation_images} images from {count}")
    order = np.random.default_rng(seed).permutation(count)
    return order[:train_images], order[train_images : train_images + validation_images]


def split_validation(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    train_images: int,
    validation_images: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(X_search, y_search, X_val, y_val)``: disjoint random parts of the *training*
    images, of the given sizes, the same for the same seed. Choosing hyperparameters on
    the test set would make its accuracy an optimistic estimate; this keeps it unseen."""
    images, labels = np.asarray(images), np.asarray(labels)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    search, validation = split_indices(
        len(images), train_images=train_images, validation_images=validation_images, seed=seed
    )
    return images[search], labels[search], images[validation], labels[validation]


@dataclass(frozen=True)
class Trial:
    """One finished trial of a search: its hyperparameters and its validation score."""

    hyperparameters: Mapping[str, Any]
    score: float


def trials_from_export(raw: object) -> tuple[Trial, ...]:
    """The finished trials in what the sandbox exported (untrusted: checked field by field)."""
    trials = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, Mapping):
            continue
        score = item.get("score")
        values = item.get("hyperparameters")
        if isinstance(score, bool) or not isinstance(score, int | float):
            continue
        if not np.isfinite(score) or not isinstance(values, Mapping):
            continue
        trials.append(Trial({str(k)[:100]: v for k, v in list(values.items())[:32]}, float(score)))
    return tuple(trials)


def trials_of(tuner: object) -> list[dict[str, Any]]:
    """A live KerasTuner tuner's trials as plain data (what the harness exports)."""
    return [
        {
            "id": str(trial.trial_id),
            "status": str(trial.status),
            "hyperparameters": dict(trial.hyperparameters.values),
            "score": None if trial.score is None else float(trial.score),
        }
        for trial in tuner.oracle.trials.values()
    ]


def best(trials: Sequence[Trial]) -> Trial | None:
    """The trial a search chooses: the highest validation score."""
    return max(trials, key=lambda trial: trial.score, default=None)
