"""What the trusted evaluation saw of one model: its confusion matrix and some mistakes.

The judge builds a :class:`ModelEvaluation` from the predictions it computed itself on
the canonical test set; feedback pages and class analytics draw from it. Reports are
JSON that travels through files, so :meth:`ModelEvaluation.from_dict` validates every
value instead of trusting it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from mnist_course.config import Integrity


CLASSES = 10
#: Misclassified test images kept per model (enough for one grid on a feedback page).
MAX_MISTAKES = 24
#: Most predictions a fingerprint may carry (the canonical test set has 10,000 images).
MAX_PREDICTIONS = 100_000
_SHA256_LENGTH = 64
#: Longest architecture summary kept (a few dozen layers' names and sizes).
MAX_ARCHITECTURE_CHARS = 2000


@dataclass(frozen=True)
class Fingerprint:
    """What the trusted judge computed of one model to compare it with a classmate's.

    ``predictions`` is the predicted digit for every canonical test image, in test-set
    order, as one string of digits (two honestly trained models disagree on a few hundred
    images; a copied model on none). ``weights_sha256`` hashes every weight array with its
    shape, in layer order; ``architecture_sha256`` hashes the layer configuration without
    layer names; ``architecture`` is a one-line summary a person can read."""

    predictions: str
    weights_sha256: str
    architecture_sha256: str
    architecture: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "predictions": self.predictions,
            "weights_sha256": self.weights_sha256,
            "architecture_sha256": self.architecture_sha256,
            "architecture": self.architecture,
        }

    @classmethod
    def from_dict(cls, data: Any, *, stage: str = "model") -> Fingerprint:
        """The fingerprint stored in a report; ValueError says which value is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"{stage}: a fingerprint must be a mapping")
        predictions = data.get("predictions")
        if (
            not isinstance(predictions, str)
            or not 0 < len(predictions) <= MAX_PREDICTIONS
            or not predictions.isascii()
            or not predictions.isdigit()
        ):
            raise ValueError(f"{stage}: fingerprint predictions must be a string of digits")
        digests = {key: data.get(key) for key in ("weights_sha256", "architecture_sha256")}
        for key, digest in digests.items():
            if not (
                isinstance(digest, str)
                and len(digest) == _SHA256_LENGTH
                and all(char in "0123456789abcdef" for char in digest)
            ):
                raise ValueError(f"{stage}: fingerprint {key} must be a SHA-256 hex digest")
        architecture = data.get("architecture")
        if not isinstance(architecture, str) or len(architecture) > MAX_ARCHITECTURE_CHARS:
            raise ValueError(
                f"{stage}: fingerprint architecture must be text of at most "
                f"{MAX_ARCHITECTURE_CHARS} characters"
            )
        return cls(predictions, *digests.values(), architecture)


@dataclass(frozen=True)
class Mistake:
    """One misclassified test image: its index in the canonical test set and both labels."""

    index: int
    label: int
    predicted: int


@dataclass(frozen=True)
class ModelEvaluation:
    """One model measured on the canonical test set.

    ``confusion[true][predicted]`` counts test images; ``mistakes`` are the first
    misclassified images in test-set order (deterministic, so two runs agree)."""

    stage: str
    accuracy: float
    confusion: tuple[tuple[int, ...], ...]
    mistakes: tuple[Mistake, ...] = ()
    #: What a class-wide similarity report compares (None in reports from before it).
    fingerprint: Fingerprint | None = None
    #: Accuracy on the judge's fixed sample of training images (None in reports from
    #: before it): a model fitted on the test set scores lower there than on the test.
    train_sample_accuracy: float | None = None

    def fitted_on_test(self, integrity: Integrity) -> bool:
        """Whether the judge's measurements say this model was fitted on the test images
        (see :func:`fitted_on_test`)."""
        return fitted_on_test(self.accuracy, self.train_sample_accuracy, integrity)

    @classmethod
    def from_predictions(
        cls,
        stage: str,
        predicted: Sequence[int] | np.ndarray,
        labels: Sequence[int] | np.ndarray,
        *,
        max_mistakes: int = MAX_MISTAKES,
    ) -> ModelEvaluation:
        """The evaluation of ``predicted`` digits against the true ``labels``."""
        predicted = np.asarray(predicted).astype(np.int64, copy=False).ravel()
        labels = np.asarray(labels).astype(np.int64, copy=False).ravel()
        if predicted.shape != labels.shape or not len(labels):
            raise ValueError(
                f"need as many predictions as labels, at least one (got {predicted.shape} "
                f"predictions for {labels.shape} labels)"
            )
        for name, values in (("predictions", predicted), ("labels", labels)):
            if values.min() < 0 or values.max() >= CLASSES:
                raise ValueError(f"{name} must be digits 0-{CLASSES - 1}")
        matrix = np.zeros((CLASSES, CLASSES), dtype=np.int64)
        np.add.at(matrix, (labels, predicted), 1)
        wrong = np.flatnonzero(predicted != labels)[:max_mistakes]
        return cls(
            stage,
            float(np.mean(predicted == labels)),
            tuple(tuple(int(count) for count in row) for row in matrix),
            tuple(Mistake(int(i), int(labels[i]), int(predicted[i])) for i in wrong),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "accuracy": self.accuracy,
            "confusion": [list(row) for row in self.confusion],
            "mistakes": [
                {"index": m.index, "label": m.label, "predicted": m.predicted}
                for m in self.mistakes
            ],
            "fingerprint": self.fingerprint.to_dict() if self.fingerprint else None,
            "train_sample_accuracy": self.train_sample_accuracy,
        }

    @classmethod
    def from_dict(cls, data: Any) -> ModelEvaluation:
        """The evaluation stored in a report; ValueError says which value is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"an evaluation must be a mapping, got {type(data).__name__}")
        stage = data.get("stage")
        if not isinstance(stage, str) or not stage.isidentifier():
            raise ValueError(f"evaluation stage {stage!r} is not a stage id")
        accuracy = data.get("accuracy")
        if not _is_number(accuracy) or not 0.0 <= accuracy <= 1.0:
            raise ValueError(f"{stage}: accuracy must be a number in [0, 1], got {accuracy!r}")
        rows = data.get("confusion")
        if (
            not isinstance(rows, list)
            or len(rows) != CLASSES
            or not all(isinstance(row, list) and len(row) == CLASSES for row in rows)
            or not all(_is_count(count) for row in rows for count in row)
        ):
            raise ValueError(f"{stage}: confusion must be {CLASSES}x{CLASSES} counts >= 0")
        raw_mistakes = data.get("mistakes", [])
        if not isinstance(raw_mistakes, list) or len(raw_mistakes) > MAX_MISTAKES:
            raise ValueError(f"{stage}: mistakes must be a list of at most {MAX_MISTAKES}")
        mistakes = []
        for entry in raw_mistakes:
            fields = entry if isinstance(entry, dict) else {}
            index, label, predicted = (fields.get(key) for key in ("index", "label", "predicted"))
            if not (
                _is_count(index)
                and _is_count(label)
                and _is_count(predicted)
                and label < CLASSES
                and predicted < CLASSES
            ):
                raise ValueError(f"{stage}: bad misclassified-image entry {entry!r}")
            mistakes.append(Mistake(index, label, predicted))
        confusion = tuple(tuple(row) for row in rows)
        raw_fingerprint = data.get("fingerprint")
        fingerprint = (
            None if raw_fingerprint is None else Fingerprint.from_dict(raw_fingerprint, stage=stage)
        )
        sample = data.get("train_sample_accuracy")
        if sample is not None and (not _is_number(sample) or not 0.0 <= sample <= 1.0):
            raise ValueError(
                f"{stage}: train_sample_accuracy must be a number in [0, 1], got {sample!r}"
            )
        return cls(
            stage,
            float(accuracy),
            confusion,
            tuple(mistakes),
            fingerprint,
            None if sample is None else float(sample),
        )


def fitted_on_test(
    test_accuracy: float, train_sample_accuracy: float | None, integrity: Integrity
) -> bool:
    """The test-set-fitting signal (bench/test_set_fitting.py measured it): a model fitted
    on the test images scores points higher there than on training images. An honest one
    scores lower (it saw some of the sample), or, trained on few images, up to about a
    point higher with about a tenth more errors on the sample (the test images are a
    little easier), so both the gap and the ratio of errors must exceed the course's
    margins. None (not measured) is no evidence."""
    if train_sample_accuracy is None:
        return False
    test_error, sample_error = 1.0 - test_accuracy, 1.0 - train_sample_accuracy
    return (
        test_accuracy - train_sample_accuracy > integrity.max_honest_gap
        and sample_error > integrity.max_honest_error_ratio * test_error
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
