"""The data-preparation checks, on the canonical probe and hand-made mistakes."""

from __future__ import annotations

import numpy as np
import pytest

from autograder.arrays import ArraySummary
from autograder.checks.data import (
    HEAD_ROWS,
    ArrayEvidence,
    check_flatten,
    check_load,
    check_normalize,
    probe_images,
)
from mnist_course.config import parse_config


@pytest.fixture(scope="module")
def config(helpers):
    return helpers.assignment_config()


@pytest.fixture(scope="module")
def probe(mnist):
    return probe_images(mnist[1][0])


@pytest.fixture(scope="module")
def loaded(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    arrays = {"X_train": x_train, "y_train": y_train, "X_test": x_test, "y_test": y_test}
    return {name: ArraySummary.of(value) for name, value in arrays.items()}


@pytest.fixture(scope="module")
def flattened(mnist):
    (x_train, _), (x_test, _) = mnist
    evidence = {
        "X_train_flattened": ArrayEvidence.of(x_train.reshape(-1, 784) / 255.0),
        "X_test_flattened": ArrayEvidence.of(x_test.reshape(-1, 784) / 255.0),
    }
    heads = {"X_train_flattened": x_train[:HEAD_ROWS], "X_test_flattened": x_test[:HEAD_ROWS]}
    return evidence, heads


def test_load_passes_on_the_arrays_load_mnist_returns(loaded, config):
    result = check_load(loaded, config=config)
    assert result.passed and result.points == result.max_points == 1
    assert result.id == "data.load" and result.visibility == "visible"


def test_load_names_a_missing_array(loaded, config):
    result = check_load({**loaded, "y_test": None}, config=config)
    assert not result.passed and result.points == 0
    assert "y_test is not defined" in result.message and "load_mnist()" in result.hint


def test_load_spots_images_normalized_in_place(mnist, loaded, config):
    scaled = ArraySummary.of(mnist[0][0][:10].astype("float32") / 255)
    scaled = ArraySummary((60000, 28, 28), "float32", scaled.minimum, scaled.maximum)
    result = check_load({**loaded, "X_train": scaled}, config=config)
    assert not result.passed and "already normalized" in result.hint


def test_load_spots_one_hot_labels(loaded, config):
    result = check_load({**loaded, "y_train": ArraySummary((60000, 10), "float32", 0, 1)},
                        config=config)  # fmt: skip
    assert not result.passed and "one-hot" in result.hint


def test_load_spots_shuffled_data(mnist, loaded, config):
    shuffled = ArraySummary.of(mnist[1][1][::-1].copy())
    result = check_load({**loaded, "y_test": shuffled}, config=config)
    assert not result.passed and "not the MNIST values" in result.message


def test_normalize_passes_on_division_by_255(probe, config):
    assert check_normalize(probe, probe / 255.0, config=config).passed


def test_normalize_hint_for_pixels_not_divided(probe, config):
    result = check_normalize(probe, probe, config=config)
    assert not result.passed and "not divided by 255" in result.hint


def test_normalize_hint_for_dividing_twice(probe, config):
    result = check_normalize(probe, probe / 255.0 / 255.0, config=config)
    assert not result.passed and "twice" in result.message


def test_normalize_hint_for_integer_division(probe, config):
    result = check_normalize(probe, probe // 255, config=config)
    assert not result.passed and "true division" in result.hint


def test_normalize_hint_for_other_scaling(probe, config):
    output = (probe - probe.mean()) / probe.std()  # standardized, not divided by 255
    result = check_normalize(probe, output, config=config)
    assert not result.passed and "not the pixels divided by 255" in result.message


def test_normalize_must_keep_the_shape(probe, config):
    result = check_normalize(probe, probe.reshape(len(probe), -1) / 255.0, config=config)
    assert not result.passed and "changed the shape" in result.message


def test_normalize_reports_errors_and_missing_return(probe, config):
    result = check_normalize(probe, None, error="NameError: np", config=config)
    assert not result.passed and "NameError" in result.message
    result = check_normalize(probe, None, config=config)
    assert not result.passed and "forget `return`" in result.hint


def test_flatten_passes_on_reshape(probe, flattened, config):
    evidence, heads = flattened
    result = check_flatten(probe, probe.reshape(len(probe), 784), flattened=evidence,
                           expected_heads=heads, config=config)  # fmt: skip
    assert result.passed, result.explain()


@pytest.mark.parametrize(
    ("shape_of", "needle"),
    [
        (lambda probe: probe.reshape(-1), "one long vector"),
        (lambda probe: probe.reshape(len(probe), 784).T, "transposed"),
        (lambda probe: probe, "not flattened"),
    ],
    ids=["one-long-vector", "transposed", "not-flattened"],
)
def test_flatten_hint_for_the_wrong_shape(probe, flattened, config, shape_of, needle):
    evidence, heads = flattened
    result = check_flatten(probe, shape_of(probe), flattened=evidence, expected_heads=heads,
                           config=config)  # fmt: skip
    assert not result.passed and needle in result.hint


def test_flatten_hint_for_a_typed_in_image_count(probe, flattened, config):
    evidence, heads = flattened
    error = "ValueError: cannot reshape array of size 5488 into shape (60000,784)"
    result = check_flatten(probe, None, error=error, flattened=evidence, expected_heads=heads,
                           config=config)  # fmt: skip
    assert not result.passed and "len(images)" in result.hint


def test_flatten_checks_the_flattened_arrays(mnist, probe, flattened, config):
    evidence, heads = flattened
    good = probe.reshape(len(probe), 784)
    missing = {**evidence, "X_test_flattened": None}
    result = check_flatten(probe, good, flattened=missing, expected_heads=heads, config=config)
    assert not result.passed and "X_test_flattened is not defined" in result.message
    shuffled = ArrayEvidence.of(mnist[0][0][::-1].reshape(-1, 784) / 255.0)
    wrong = {**evidence, "X_train_flattened": shuffled}
    result = check_flatten(probe, good, flattened=wrong, expected_heads=heads, config=config)
    assert not result.passed and "not the images in order" in result.message


def test_points_come_from_course_yaml(probe):
    raw = {"assignments": {"mnist_digits": {"points": {"data.normalize": 3}}}}
    config = parse_config(raw).assignment("mnist_digits")
    result = check_normalize(probe, probe / 255.0, config=config)
    assert result.points == result.max_points == 3


def test_check_results_are_frozen(probe, config):
    result = check_normalize(probe, probe / 255.0, config=config)
    with pytest.raises(AttributeError):
        result.passed = False  # type: ignore[misc]
    assert np.isclose(result.points, 1.0)


def test_untouched_stubs_are_called_not_written_not_a_mistake(probe, flattened, config):
    evidence, heads = flattened
    error = "NotImplementedError: Replace this line with your code (instructions above)."
    normalized = check_normalize(probe, None, error=error, config=config)
    flattened_result = check_flatten(
        probe, None, error=error, flattened=evidence, expected_heads=heads, config=config
    )
    for name, result in (("normalize", normalized), ("flatten", flattened_result)):
        assert not result.passed
        assert f"{name}() is not written yet" in result.hint
        assert "wrong shape" not in result.hint
