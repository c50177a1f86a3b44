"""ArraySummary: what crosses the trust boundary about an array, validated on the way in."""

from __future__ import annotations

import numpy as np
import pytest

from autograder.arrays import ArraySummary
from mnist_course.data import TEST_LABELS


def test_summary_of_canonical_labels_matches_the_published_checksum(mnist):
    summary = ArraySummary.of(mnist[1][1])
    assert summary.shape == (10000,) and summary.dtype == "uint8"
    assert (summary.minimum, summary.maximum) == (0, 9)
    assert summary.idx_sha256 == TEST_LABELS.sha256


def test_round_trip_through_json_dict():
    summary = ArraySummary.of(np.linspace(0, 1, 12, dtype="float32").reshape(3, 4))
    assert ArraySummary.from_dict(summary.to_dict()) == summary


@pytest.mark.parametrize(
    "raw",
    [
        None,
        {"shape": [1]},
        {"shape": "big", "dtype": "uint8", "minimum": 0, "maximum": 1, "idx_sha256": None},
        {"shape": [-1], "dtype": "uint8", "minimum": 0, "maximum": 1, "idx_sha256": None},
        {"shape": [1], "dtype": "x" * 100, "minimum": 0, "maximum": 1, "idx_sha256": None},
        {"shape": [1], "dtype": "uint8", "minimum": 0, "maximum": 1, "idx_sha256": "short"},
    ],
    ids=["none", "missing-keys", "bad-shape", "negative", "long-dtype", "bad-digest"],
)
def test_from_dict_rejects_anything_odd(raw):
    with pytest.raises(ValueError, match="array summary|not an array summary"):
        ArraySummary.from_dict(raw)
