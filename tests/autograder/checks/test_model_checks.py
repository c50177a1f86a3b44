"""Model checks on tiny models trained for one epoch on a small slice of MNIST."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from autograder.checks import evaluation
from autograder.checks.models import (
    TrainingEvidence,
    check_accuracy,
    check_structure,
    check_trained,
)
from autograder.families.stage import check_stage
from mnist_course.config import PartialCredit, parse_config

SEED = 42


@pytest.fixture(scope="module")
def config(helpers):
    return helpers.assignment_config()


@pytest.fixture(scope="module")
def trained_baseline(small_mnist, helpers):
    (x_train, y_train), _ = small_mnist
    keras.utils.set_random_seed(SEED)
    model = helpers.baseline()
    model.fit(x_train.reshape(-1, 784) / 255.0, y_train, epochs=1, batch_size=64, verbose=0)
    return model


@pytest.mark.parametrize("stage", ["baseline", "hidden_layer", "cnn"])
def test_structure_passes_for_the_course_architectures(stage, config, helpers):
    result = check_structure(stage, getattr(helpers, stage)(), config=config)
    assert result.passed, result.explain()
    assert result.id == f"{stage}.structure" and result.visibility == "visible"


def test_structure_hint_for_a_hidden_layer_in_the_baseline(config, helpers):
    result = check_structure("baseline", helpers.hidden_layer(), config=config)
    assert not result.passed and "hidden layer" in result.message
    assert "build_hidden_layer_ann" in result.hint


def test_structure_needs_a_hidden_layer_in_the_hidden_layer_ann(config, helpers):
    result = check_structure("hidden_layer", helpers.baseline(), config=config)
    assert not result.passed and "no hidden Dense layer" in result.message


def test_structure_hint_for_no_conv2d_in_the_cnn(config, helpers):
    result = check_structure("cnn", helpers.cnn(conv=False), config=config)
    assert not result.passed and "no Conv2D" in result.message and "Conv2D(" in result.hint


def test_structure_needs_pooling_in_the_cnn(config, helpers):
    result = check_structure("cnn", helpers.cnn(pool=False), config=config)
    assert not result.passed and "MaxPooling2D" in result.message


def test_structure_needs_ten_outputs(config, helpers):
    model = helpers.compiled([keras.Input(shape=(784,)), keras.layers.Dense(2)])
    result = check_structure("baseline", model, config=config)
    assert not result.passed and "Dense(10" in result.hint


def test_structure_of_a_missing_model_says_what_to_define(config):
    result = check_structure("cnn", None, config=config)
    assert not result.passed and "cnn_model is not defined" in result.message
    assert "build_cnn()" in result.hint


def test_unknown_stage_is_a_clear_value_error(config):
    with pytest.raises(ValueError, match="has no stage 'mlp'"):
        check_structure("mlp", None, config=config)


def test_trained_model_passes_and_accuracy_is_measured_with_numpy(trained_baseline, small_mnist,
                                                                  config):  # fmt: skip
    _, (x_test, y_test) = small_mnist
    measurement = evaluation.measure(trained_baseline, x_test, y_test, bar=0.92)
    predicted = trained_baseline.predict(x_test.reshape(-1, 784) / 255.0, verbose=0).argmax(1)
    assert measurement.accuracy == pytest.approx(np.mean(predicted == y_test))
    assert check_trained("baseline", measurement, config=config).passed


def test_never_trained_hint(small_mnist, config, helpers):
    _, (x_test, y_test) = small_mnist
    keras.utils.set_random_seed(SEED)
    model = helpers.baseline()
    measurement = evaluation.measure(model, x_test, y_test, bar=0.92)
    evidence = TrainingEvidence(optimizer_steps=int(model.optimizer.iterations))
    result = check_trained("baseline", measurement, config=config, evidence=evidence)
    assert not result.passed and "never trained" in result.hint and "fit(" in result.hint
    assert result.hint_category == "never_trained"


def test_one_hot_labels_with_sparse_loss_hint(small_mnist, config, helpers):
    (x_train, y_train), (x_test, y_test) = small_mnist
    model = helpers.baseline()
    one_hot = keras.utils.to_categorical(y_train, 10)
    with pytest.raises(ValueError):
        model.fit(x_train.reshape(-1, 784) / 255.0, one_hot, epochs=1, verbose=0)
    evidence = TrainingEvidence(optimizer_steps=0, loss=str(model.loss), labels_one_hot=True)
    measurement = evaluation.measure(model, x_test, y_test, bar=0.92)
    result = check_trained("baseline", measurement, config=config, evidence=evidence)
    assert not result.passed and "one-hot" in result.hint and "sparse" in result.hint
    assert result.hint_category == "one_hot_sparse_loss"


def test_unnormalized_training_hint(trained_baseline, small_mnist, config):
    _, (x_test, y_test) = small_mnist
    measurement = evaluation.measure(trained_baseline, x_test, y_test, bar=1.0)
    assert measurement.unscaled_accuracy is not None  # measured only below the bar
    raw_trained = evaluation.Measurement(accuracy=0.3, images=10000, unscaled_accuracy=0.9)
    for check in (check_trained, check_accuracy):
        result = check("baseline", raw_trained, config=config)
        assert not result.passed and "normalize()" in result.hint


def test_accuracy_below_the_bar_says_by_how_much(config):
    measurement = evaluation.Measurement(accuracy=0.9, images=10000)
    result = check_accuracy("baseline", measurement, config=config)
    assert not result.passed and result.visibility == "hidden"
    assert "2.00 percentage points below the bar of 92.00%" in result.message
    assert "2.00 percentage points" in result.hint


def test_accuracy_at_the_bar_passes_with_points_from_course_yaml(config):
    result = check_accuracy("cnn", evaluation.Measurement(0.98, 10000), config=config)
    assert result.passed and result.points == config.points("cnn.accuracy") == 2


def test_retrain_uses_the_architecture_not_the_weights(trained_baseline, small_mnist, config):
    (x_train, y_train), (x_test, y_test) = small_mnist
    raw = {"assignments": {"mnist_digits": {"stages": {"baseline": {"epochs": 4}}}}}
    small = parse_config(raw).assignment("mnist_digits")
    fresh = evaluation.retrain(trained_baseline, x_train, y_train, stage="baseline", config=small)
    assert fresh is not trained_baseline
    assert not np.allclose(fresh.get_weights()[0], trained_baseline.get_weights()[0])
    measurement = evaluation.measure(fresh, x_test, y_test, bar=0.0, retrained=True)
    assert measurement.retrained and measurement.accuracy > 0.5
    message = check_accuracy("baseline", measurement, config=config).message
    assert "re-training" in message


def test_prepare_images_rejects_an_unsupported_input_shape(helpers):
    model = helpers.compiled([keras.Input(shape=(100,)), keras.layers.Dense(10)])
    with pytest.raises(ValueError, match=r"expects inputs of shape \(100,\)"):
        evaluation.prepare_images(model, np.zeros((2, 28, 28), dtype=np.uint8))


def _partial(helpers, assignment: str = "mnist_digits", **rules: PartialCredit):
    return helpers.assignment_config(assignment, partial_credit=rules)


def test_accuracy_below_the_bar_scores_partial_credit_when_course_yaml_says_so(helpers):
    config = _partial(helpers, accuracy=PartialCredit(scale="linear"))
    result = check_accuracy("baseline", evaluation.Measurement(0.9, 10000), config=config)
    assert not result.passed and result.partial  # partial points are not a pass
    assert result.points == 1.9 and result.max_points == 2  # 40/42 of the way from 50% to 92%
    assert (
        "2.00 percentage points below the bar of 92.00%. Partial credit: 1.9 / 2 points on "
        "a linear scale: 90.00% is 95.2% of the way from the floor of 50.00%" in result.message
    )
    assert result.hint_category == "below_bar"  # the advice is still the student's


def test_partial_credit_by_check_id_leaves_the_other_stages_all_or_nothing(helpers):
    config = _partial(
        helpers, **{"cnn.accuracy": PartialCredit(scale="steps", steps=((0.97, 0.5),))}
    )
    cnn = check_accuracy("cnn", evaluation.Measurement(0.975, 10000), config=config)
    assert cnn.points == 1.0 and "reaches the step at 97.00%" in cnn.message
    baseline = check_accuracy("baseline", evaluation.Measurement(0.9, 10000), config=config)
    assert baseline.points == 0.0 and "Partial credit" not in baseline.message


def test_partial_credit_gives_nothing_at_the_floor_or_without_a_measurement(helpers):
    config = _partial(helpers, accuracy=PartialCredit(scale="linear"))
    at_floor = check_accuracy("baseline", evaluation.Measurement(0.5, 10000), config=config)
    assert at_floor.points == 0.0 and not at_floor.partial
    assert "at or below the floor of 50.00%" in at_floor.message
    missing = check_accuracy("baseline", None, config=config)
    assert missing.points == 0.0 and "Partial credit" not in missing.message


def test_a_pass_with_partial_credit_on_is_unchanged(helpers, config):
    on = _partial(helpers, accuracy=PartialCredit(scale="linear"))
    measurement = evaluation.Measurement(0.95, 10000)
    assert check_accuracy("baseline", measurement, config=on) == check_accuracy(
        "baseline", measurement, config=config
    )


def test_check_stage_scores_the_retrained_measurement_and_the_perturbed_one(helpers):
    rules = {"accuracy": PartialCredit(scale="linear"), "perturbed": PartialCredit(scale="linear")}
    config = _partial(helpers, "mnist_extensions", **rules)
    results = {
        result.id: result
        for result in check_stage(
            "augmented_cnn",
            helpers.cnn(),
            evaluation.Measurement(0.99, 10000),
            config=config,
            graded=evaluation.Measurement(0.7425, 10000, retrained=True),
            perturbed=evaluation.Measurement(0.71, 10000),
        )
    }
    accuracy, perturbed = results["augmented_cnn.accuracy"], results["augmented_cnn.perturbed"]
    assert accuracy.points == 1.0 and "re-training" in accuracy.message  # halfway to 98.5%
    assert perturbed.points == 1.0 and "50.0% of the way" in perturbed.message  # 71% of 92%
    assert not accuracy.passed and not perturbed.passed
    assert results["augmented_cnn.trained"].points == results["augmented_cnn.trained"].max_points
