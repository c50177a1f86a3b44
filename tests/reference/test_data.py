"""reference.data: normalize and flatten."""

from __future__ import annotations

import numpy as np
import pytest

from reference.data import flatten, normalize


def test_normalize_maps_0_255_to_0_1_as_float(small_mnist) -> None:
    (x_train, _), _ = small_mnist
    result = normalize(x_train)
    assert result.shape == x_train.shape
    assert np.issubdtype(result.dtype, np.floating)
    assert result.min() == 0.0 and result.max() == 1.0
    assert np.allclose(result * 255, x_train)


def test_normalize_does_not_change_its_input(small_mnist) -> None:
    (x_train, _), _ = small_mnist
    before = x_train.copy()
    normalize(x_train)
    assert np.array_equal(before, x_train)


@pytest.mark.parametrize("count", [1, 7, 2000])
def test_flatten_gives_784_columns_in_row_major_order(small_mnist, count: int) -> None:
    (x_train, _), _ = small_mnist
    result = flatten(x_train[:count])
    assert result.shape == (count, 784)
    assert np.array_equal(result[0, 28:56], x_train[0, 1])


def test_flatten_of_nothing_is_empty() -> None:
    assert flatten(np.zeros((0, 28, 28))).shape == (0, 784)
