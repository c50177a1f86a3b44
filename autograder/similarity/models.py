"""Pairs of models compared on what the trusted judge measured of each.

For one stage, every model's fingerprint (:class:`~autograder.checks.confusion.Fingerprint`:
its predicted digit for every canonical test image, hashes of its weights and of its
architecture) becomes one row of a matrix, and every pair is compared at once with
matrix products: the Jaccard overlap of the two sets of misclassified test images, the
share of test images both label alike, identical weights, identical architecture. A
class of 500 is 124,750 pairs per stage, a few seconds of numpy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from autograder.checks.confusion import CLASSES, Fingerprint


@dataclass(frozen=True)
class ModelPairs:
    """Every pair of one stage's models: each matrix is symmetric, indexed like ``owners``."""

    stage: str
    #: Who each row's model belongs to (an index into the caller's list of submissions).
    owners: tuple[int, ...]
    fingerprints: tuple[Fingerprint, ...]
    #: |mistakes of i and of j| / |mistakes of i or of j| (NaN when neither makes any).
    jaccard: np.ndarray
    #: Share of test images i and j label alike.
    agreement: np.ndarray
    same_weights: np.ndarray
    same_architecture: np.ndarray
    #: Misclassified test images of each model.
    mistakes: np.ndarray

    def weight_groups(self) -> Counter[str]:
        """How many of this stage's models share each weights hash."""
        return Counter(fingerprint.weights_sha256 for fingerprint in self.fingerprints)


def predictions_matrix(fingerprints: Sequence[Fingerprint]) -> np.ndarray:
    """The predicted digits of every model as an (n models, n images) uint8 matrix."""
    rows = [np.frombuffer(f.predictions.encode("ascii"), dtype=np.uint8) for f in fingerprints]
    return np.stack(rows) - ord("0")


def _equal(values: Sequence[str]) -> np.ndarray:
    """``result[i, j]``: whether values i and j are the same (by their group number)."""
    codes = {value: number for number, value in enumerate(dict.fromkeys(values))}
    numbers = np.array([codes[value] for value in values])
    return numbers[:, None] == numbers[None, :]


def compare(
    stage: str,
    owners: Sequence[int],
    fingerprints: Sequence[Fingerprint],
    labels: np.ndarray,
) -> ModelPairs:
    """Every pair of ``fingerprints`` (each with one prediction per ``labels`` entry)."""
    if not fingerprints:
        raise ValueError(f"{stage}: no fingerprints to compare")
    predictions = predictions_matrix(fingerprints)
    if predictions.shape[1] != len(labels):
        raise ValueError(
            f"{stage}: fingerprints hold {predictions.shape[1]} predictions for "
            f"{len(labels)} test labels"
        )
    wrong = (predictions != np.asarray(labels, dtype=np.uint8)[None, :]).astype(np.float32)
    shared = wrong @ wrong.T  # exact: counts below 2**24
    counts = wrong.sum(axis=1)
    union = counts[:, None] + counts[None, :] - shared
    with np.errstate(invalid="ignore", divide="ignore"):
        jaccard = np.where(union > 0, shared / union, np.nan)
    alike = np.zeros_like(shared)
    for digit in range(CLASSES):
        chose = (predictions == digit).astype(np.float32)
        alike += chose @ chose.T
    agreement = alike / predictions.shape[1]
    return ModelPairs(
        stage,
        tuple(owners),
        tuple(fingerprints),
        jaccard,
        agreement,
        _equal([f.weights_sha256 for f in fingerprints]),
        _equal([f.architecture_sha256 for f in fingerprints]),
        counts.astype(np.int64),
    )
