"""One-mistake notebooks, graded in the sandbox: each failed check carries exactly the
hint category of its mistake, and no other hint appears anywhere in the report."""

from __future__ import annotations

import pytest

from autograder.reports import GradeReport
from mnist_course.assignments import get_spec

STAGES = tuple(stage.id for stage in get_spec("mnist_digits").stages)
PARTS = ("structure", "trained", "accuracy")
DATA_PASS = {"data.load": "", "data.normalize": "", "data.flatten": ""}


def every(stage: str, category: str) -> dict[str, str]:
    return {f"{stage}.{part}": category for part in PARTS}


def categories(report: GradeReport) -> dict[str, str]:
    """Check id -> hint category ("" for a passed check)."""
    return {result.id: result.hint_category for result in report.results}


#: Every check's expected hint category; "" means the check passes. Models trained on a
#: few thousand images stay below the course bars, hence "below_bar" where nothing is
#: wrong but the budget.
EXPECTED: dict[str, dict[str, str]] = {
    "mistake-per-stage": {
        **DATA_PASS,
        "baseline.structure": "",
        "baseline.trained": "",  # a linear model still ranks digits on scaled pixels
        "baseline.accuracy": "trained_on_raw_pixels",
        "hidden_layer.structure": "",
        "hidden_layer.trained": "one_hot_sparse_loss",
        "hidden_layer.accuracy": "one_hot_sparse_loss",
        **every("cnn", "custom_layer"),
    },
    "flatten-keeps-image-shape": {
        "data.load": "",
        "data.normalize": "",
        "data.flatten": "not_flattened",
        "baseline.structure": "",
        "baseline.trained": "fit_input_shape",
        "baseline.accuracy": "fit_input_shape",
        "hidden_layer.structure": "",
        "hidden_layer.trained": "fit_input_shape",
        "hidden_layer.accuracy": "fit_input_shape",
        "cnn.structure": "",
        "cnn.trained": "",
        "cnn.accuracy": "below_bar",
    },
    "baseline-nine-outputs": {
        **DATA_PASS,
        **every("baseline", "output_units"),
        **every("hidden_layer", "model_missing"),
        **every("cnn", "model_missing"),
    },
    "one-hot-sparse-loss": {
        **DATA_PASS,  # the loaded arrays are judged as loaded, before the one-hot cell
        "baseline.structure": "",
        "baseline.trained": "one_hot_sparse_loss",
        "baseline.accuracy": "one_hot_sparse_loss",
        **every("hidden_layer", "model_missing"),
        **every("cnn", "model_missing"),
    },
    "lambda-layer": {
        **DATA_PASS,
        **every("baseline", "custom_layer"),
        **every("hidden_layer", "model_missing"),
        **every("cnn", "model_missing"),
    },
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_mistake_gets_its_hint_and_no_other(grade, name):
    report = grade(name, training=True)
    assert categories(report) == EXPECTED[name], report.notes


def test_the_input_shape_hint_names_what_fit_was_given(grade):
    report = grade("flatten-keeps-image-shape", training=True)
    trained = next(r for r in report.results if r.id == "baseline.trained")
    assert "(4000, 28, 28)" in trained.hint and "(784,)" in trained.hint
    assert "one-hot" not in trained.hint


def test_one_hot_labels_passed_straight_to_fit_are_named(grade):
    report = grade("mistake-per-stage", training=True)
    trained = next(r for r in report.results if r.id == "hidden_layer.trained")
    assert "(1000, 10)" in trained.hint and "never trained" not in trained.hint


def test_a_lambda_layer_is_told_to_use_built_in_layers(grade):
    report = grade("mistake-per-stage", training=True)
    for part in PARTS:
        result = next(r for r in report.results if r.id == f"cnn.{part}")
        assert "Lambda" in result.hint and "Define" not in result.hint
