"""Each hint is chosen from evidence of its mistake, and neighbouring mistakes do not
trigger it. The evidence is what the sandbox records (autograder.fit_evidence), built
here by hand so every case is exact."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from autograder import fit_evidence
from autograder.checks import hints
from autograder.checks.evaluation import Measurement
from autograder.checks.models import (
    FitCall,
    ModelProblem,
    TrainingEvidence,
    check_accuracy,
    check_structure,
    check_trained,
    training_evidence,
)
from mnist_course.config import load_config
from mnist_course.results import check_specs

CHANCE_LEVEL = Measurement(accuracy=0.1, images=10000)
BELOW_BAR = Measurement(accuracy=0.85, images=10000)
SPARSE = "sparse_categorical_crossentropy"
KERAS_RANK_ERROR = "Argument `output` must have rank (ndim) `target.ndim - 1`."
KERAS_SHAPE_ERROR = "Input 0 is incompatible with the layer: expected shape (None, 784)"


@pytest.fixture(scope="module")
def config(helpers):
    return helpers.assignment_config()


def call(*, x=(4000, 784), x_max=1.0, y=(4000,), loss=SPARSE, inputs=(None, 784), error=None):
    return FitCall(
        x_shape=x,
        x_max=x_max,
        y_shape=y,
        loss=loss,
        input_shape=inputs,
        error_type="ValueError" if error else None,
        error=error,
    )


def categories(evidence: TrainingEvidence, measurement: Measurement = CHANCE_LEVEL) -> set[str]:
    """The hint categories of the trained and accuracy checks for this evidence."""
    config = load_config(None).assignment("mnist_digits")
    trained = check_trained("baseline", measurement, config=config, evidence=evidence)
    accuracy = check_accuracy("baseline", measurement, config=config, evidence=evidence)
    return {trained.hint_category, accuracy.hint_category}


@pytest.mark.parametrize(
    ("evidence", "expected"),
    [
        # One-hot labels passed straight to fit() with a sparse loss (y_train untouched):
        # Keras' error names neither "one-hot" nor "incompatible".
        (TrainingEvidence(optimizer_steps=0, fits=(call(y=(4000, 10), error=KERAS_RANK_ERROR),)),
         "one_hot_sparse_loss"),
        # y_train itself one-hot and the loss sparse.
        (TrainingEvidence(optimizer_steps=0, loss=SPARSE, labels_one_hot=True),
         "one_hot_sparse_loss"),
        # flatten() kept the image shape: a shape error with a sparse loss is NOT one-hot.
        (TrainingEvidence(optimizer_steps=0, loss=SPARSE,
                          fits=(call(x=(4000, 28, 28), error=KERAS_SHAPE_ERROR),)),
         "fit_input_shape"),
        # Any other error in fit().
        (TrainingEvidence(optimizer_steps=0, fits=(call(error="out of memory"),)), "fit_failed"),
        # Trained on raw 0-255 pixels.
        (TrainingEvidence(optimizer_steps=63, fits=(call(x_max=255.0),)), "trained_on_raw_pixels"),
        # Built, compiled, never fitted.
        (TrainingEvidence(optimizer_steps=0), "never_trained"),
        # Trained properly but too little: no specific mistake to name.
        (TrainingEvidence(optimizer_steps=63, fits=(call(),)), None),
    ],
)  # fmt: skip
def test_each_training_mistake_gets_exactly_its_hint(evidence, expected):
    got = categories(evidence)
    assert got == ({expected} if expected else {"undertrained", "below_bar"})


def test_a_shape_error_with_a_sparse_loss_is_not_called_one_hot():
    evidence = TrainingEvidence(
        optimizer_steps=0, loss=SPARSE, fits=(call(error="shapes are incompatible"),)
    )
    assert "one_hot_sparse_loss" not in categories(evidence)


def test_a_failed_fit_followed_by_a_good_one_is_not_blamed():
    evidence = TrainingEvidence(optimizer_steps=63, fits=(call(error="typo"), call()))
    assert categories(evidence, BELOW_BAR) == {"", "below_bar"}  # trained passes: no hint


def test_raw_pixels_shown_by_the_measurement_alone():
    measurement = Measurement(accuracy=0.3, images=10000, unscaled_accuracy=0.9)
    assert categories(TrainingEvidence(), measurement) == {"trained_on_raw_pixels"}


def test_input_shape_hint_names_both_shapes(config):
    evidence = TrainingEvidence(fits=(call(x=(4000, 28, 28), error=KERAS_SHAPE_ERROR),))
    result = check_trained("baseline", CHANCE_LEVEL, config=config, evidence=evidence)
    assert "(4000, 28, 28)" in result.hint and "(784,)" in result.hint
    assert "X_train_flattened" in result.hint


def test_a_lambda_layer_is_not_told_to_define_its_builder(config):
    problem = ModelProblem("custom_layer", "cnn_model: the model uses a Lambda layer.")
    for check in (check_structure, check_trained, check_accuracy):
        arguments = {"problem": problem, "config": config}
        result = check("cnn", None, **arguments)
        assert result.hint_category == "custom_layer"
        assert "built-in Keras layers" in result.hint and "Define" not in result.hint


def test_a_model_without_ten_outputs_gets_the_output_hint_everywhere(config, helpers):
    model = helpers.compiled([keras.Input(shape=(784,)), keras.layers.Dense(9)])
    structure = check_structure("baseline", model, config=config)
    assert structure.hint_category == "output_units" and "[9]" in structure.hint
    problem = ModelProblem("not_evaluable", "baseline_model could not be evaluated")
    for check in (check_trained, check_accuracy):
        result = check("baseline", None, config=config, problem=problem, structure=structure)
        assert result.hint_category == "output_units"


def test_a_missing_model_is_told_what_to_define(config):
    result = check_trained("cnn", None, config=config)
    assert result.hint_category == "model_missing" and "build_cnn()" in result.hint


def test_retrained_accuracy_ignores_the_students_training_clues(config):
    retrained = Measurement(accuracy=0.85, images=10000, retrained=True)
    evidence = TrainingEvidence(fits=(call(x_max=255.0),))
    result = check_accuracy("baseline", retrained, config=config, evidence=evidence)
    assert result.hint_category == "below_bar"


def test_forged_records_are_ignored_field_by_field():
    info = {
        "optimizer_steps": True,
        "fits": [
            "not a record",
            {"x": {"shape": "big", "max": "255"}, "y": {"shape": [1, 10]}, "loss": 7},
            {"x": {"shape": [-1, 784]}, "input_shape": [None, 784], "error_type": ["x"]},
        ],
    }
    evidence = training_evidence(info, labels_one_hot="yes")
    assert evidence.optimizer_steps is None and not evidence.labels_one_hot
    first, second = evidence.fits
    assert first.x_shape is None and first.x_max is None and first.loss == ""
    assert first.one_hot_labels and not first.sparse_loss
    assert second.x_shape is None and second.error_type is None


def test_the_sandbox_records_what_fit_was_given(helpers):
    fit_evidence.install()
    model = helpers.baseline()
    with pytest.raises(ValueError):
        model.fit(np.zeros((8, 28, 28)), np.zeros(8), verbose=0)
    (record,) = fit_evidence.records(model)
    evidence = training_evidence({"fits": [record]})
    (recorded,) = evidence.fits
    assert recorded.x_shape == (8, 28, 28) and recorded.input_shape == (None, 784)
    assert recorded.wrong_input_shape and recorded.error_type == "ValueError"


def test_every_category_a_check_can_give_is_in_the_catalogue(config):
    assert set(hints.HINTS) >= {"one_hot_sparse_loss", "fit_input_shape", "custom_layer"}
    assert all(hint.mistake and hint.text for hint in hints.CATALOGUE)
    failed = [spec.failed("x", hints.advise("grader_failed")) for spec in check_specs(config)]
    assert {result.hint_category for result in failed} == {"grader_failed"}


def test_an_unknown_category_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown hint category 'typo'"):
        hints.advise("typo")


def evaluate_call(*, accuracy, x=(10000, 784), x_max=1.0):
    return FitCall(kind="evaluate", x_shape=x, x_max=x_max, y_shape=(x[0],), accuracy=accuracy)


@pytest.mark.parametrize(
    ("own", "expected", "reason"),
    [
        (evaluate_call(accuracy=0.97, x_max=255.0), "own_evaluation_differs", "not normalized"),
        (evaluate_call(accuracy=0.99, x=(500, 784)), "own_evaluation_differs", "500 images"),
        (evaluate_call(accuracy=0.97), "own_evaluation_differs", "other images or labels"),
        (evaluate_call(accuracy=0.853), "below_bar", None),  # the same number: nothing to say
    ],
)
def test_an_own_evaluation_that_differs_says_why(config, own, expected, reason):
    evidence = TrainingEvidence(optimizer_steps=63, fits=(call(), own))
    result = check_accuracy("baseline", BELOW_BAR, config=config, evidence=evidence)
    assert result.hint_category == expected
    if reason:
        assert reason in result.hint and f"{own.accuracy:.2%}" in result.hint


def test_raw_training_and_raw_evaluation_explain_the_printed_accuracy(config):
    evidence = TrainingEvidence(
        optimizer_steps=63,
        fits=(call(x_max=255.0), evaluate_call(accuracy=0.9862, x_max=255.0)),
    )
    result = check_accuracy("cnn", Measurement(0.9376, 10000), config=config, evidence=evidence)
    assert result.hint_category == "trained_on_raw_pixels"
    assert "98.62%" in result.hint and "93.76%" in result.hint


def test_the_sandbox_records_what_evaluate_reported(helpers):
    fit_evidence.install()
    model = helpers.baseline()
    model.evaluate(np.full((8, 784), 255.0), np.zeros(8), verbose=0)
    (record,) = fit_evidence.records(model)
    (recorded,) = training_evidence({"fits": [record]}).fits
    assert recorded.kind == "evaluate" and recorded.x_max == 255.0
    assert recorded.accuracy is not None and 0.0 <= recorded.accuracy <= 1.0
