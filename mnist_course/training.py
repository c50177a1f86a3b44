"""Compile and train, seeded, with a budget from course.yaml: the one compile/fit the
reference solution and the grader's re-training share (and the notebooks copy
``compile_model`` and ``shrink_learning_rate`` from)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import keras
import numpy as np

from mnist_course import tf_data

OPTIMIZER = "adam"
LOSS = "sparse_categorical_crossentropy"
METRICS = ("accuracy",)


def compile_model(model: keras.Model, learning_rate: float = 0.001) -> keras.Model:
    """Adam, sparse categorical cross-entropy (integer labels 0..9), accuracy."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=LOSS,
        metrics=list(METRICS),
    )
    return model


def shrink_learning_rate(decay: float) -> keras.callbacks.Callback:
    """Multiply the learning rate by ``decay`` after every epoch (1 keeps it constant)."""
    return keras.callbacks.LearningRateScheduler(
        lambda epoch, rate: rate if epoch == 0 else rate * decay
    )


def set_seed(seed: int) -> None:
    """Seed Python, numpy and the backend so a run can be repeated."""
    keras.utils.set_random_seed(seed)


@dataclass
class TrainingRun:
    """What one call to :func:`train_model` did."""

    history: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    epochs: int = 0
    batch_size: int = 0


def train_model(
    model: keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    learning_rate_decay: float = 1.0,
    validation_data: tuple[np.ndarray, np.ndarray] | None = None,
    verbose: int | str = "auto",
) -> TrainingRun:
    """Fit ``model`` and time it; the data order is fixed by ``seed``.

    With ``learning_rate_decay`` below 1 the learning rate shrinks after every
    epoch: big steps early to learn fast, small steps late to settle.
    """
    set_seed(seed)
    # fit() wraps numpy arrays in a tf.data pipeline and drops its iterator at every epoch
    # end, which waits for tf.data's autotune thread to wake (seconds, most boundaries).
    # Autotune off for those datasets: the same batches in the same order, no waits.
    tf_data.disable_numpy_autotune()
    callbacks = [] if learning_rate_decay == 1.0 else [shrink_learning_rate(learning_rate_decay)]
    start = time.perf_counter()
    history = model.fit(
        images,
        labels,
        epochs=epochs,
        batch_size=batch_size,
        validation_data=validation_data,
        callbacks=callbacks,
        verbose=verbose,
    )
    seconds = time.perf_counter() - start
    return TrainingRun(
        history={key: [float(v) for v in values] for key, values in history.history.items()},
        seconds=seconds,
        epochs=epochs,
        batch_size=batch_size,
    )
