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
    from autograder.grader import GradeReport

CLASSES = 10
#: Misclassified test images kept per model (enough for one grid on a feedback page).
MAX_MISTAKES = 24


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
        return cls(stage, float(accuracy), confusion, tuple(mistakes))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def evaluations_of(report: GradeReport) -> dict[str, ModelEvaluation]:
    """The evaluations a report carries, by stage."""
    return {evaluation.stage: evaluation for evaluation in report.evaluations}
