"""Stage 4: measure a trained model on the test set."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

NUM_CLASSES = 10


@dataclass(frozen=True)
class Evaluation:
    """Test-set figures for one model."""

    loss: float
    accuracy: float
    predictions: np.ndarray  # predicted class per test image


def predict_classes(model: keras.Model, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """The most probable digit for each image."""
    probabilities = model.predict(images, batch_size=batch_size, verbose=0)
    return np.argmax(probabilities, axis=1)


def evaluate_model(model: keras.Model, images: np.ndarray, labels: np.ndarray) -> Evaluation:
    """Loss and accuracy as Keras reports them, plus the predicted classes."""
    loss, accuracy = model.evaluate(images, labels, batch_size=1024, verbose=0)
    return Evaluation(
        loss=float(loss), accuracy=float(accuracy), predictions=predict_classes(model, images)
    )


def misclassified_indices(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """Indices where the prediction differs from the true label."""
    return np.flatnonzero(np.asarray(labels) != np.asarray(predictions))


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """10x10 counts: row = true digit, column = predicted digit."""
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    if labels.shape != predictions.shape:
        raise ValueError(
            f"labels {labels.shape} and predictions {predictions.shape} must have the same shape"
        )
    flat = labels * NUM_CLASSES + predictions
    return np.bincount(flat, minlength=NUM_CLASSES * NUM_CLASSES).reshape(NUM_CLASSES, NUM_CLASSES)
