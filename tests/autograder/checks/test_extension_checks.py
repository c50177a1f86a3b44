"""The extensions assignment's judges on crafted models and data: each typical mistake
gets its own hint, and the neighbouring mistakes do not trigger it."""

from __future__ import annotations

import keras
import pytest

from autograder import fit_evidence
from autograder.checks import extensions, models
from autograder.checks.evaluation import Measurement
from mnist_course import tuning
from mnist_course.config import parse_config

EXTENSIONS = "mnist_extensions"


@pytest.fixture(scope="module")
def config():
    return parse_config({}).assignment(EXTENSIONS)


def augmentation(*, rotation: float = 0.05, layers: tuple[str, ...] = ("rot", "zoom", "shift")):
    parts = {
        "rot": keras.layers.RandomRotation(rotation, fill_mode="constant"),
        "zoom": keras.layers.RandomZoom(0.1, fill_mode="constant"),
        "shift": keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant"),
    }
    return keras.Sequential([keras.Input(shape=(28, 28, 1)), *(parts[p] for p in layers)])


def lenet(kernel: int = 5, *, pool: bool = True, first_padding: str = "same") -> keras.Model:
    layers = [
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(6, kernel, padding=first_padding, activation="tanh"),
    ]
    layers += [keras.layers.MaxPooling2D()] if pool else []
    layers += [keras.layers.Conv2D(16, kernel, activation="tanh")]
    layers += [keras.layers.MaxPooling2D()] if pool else []
    layers += [keras.layers.Flatten(), keras.layers.Dense(120, activation="tanh"),
               keras.layers.Dense(84, activation="tanh"),
               keras.layers.Dense(10, activation="softmax")]  # fmt: skip
    return keras.Sequential(layers)


def resnet(*, skip: str = "identity", blocks: int = 2) -> keras.Model:
    inputs = keras.Input(shape=(28, 28, 1))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    for _ in range(blocks):
        y = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
        y = keras.layers.Conv2D(8, 3, padding="same")(y)
        if skip == "identity":
            x = keras.layers.Add()([y, x])
        elif skip == "projection":
            x = keras.layers.Add()([y, keras.layers.Conv2D(8, 1)(x)])
        else:  # "the same path twice": no skip at all
            x = keras.layers.Add()([y, y])
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(x))
    return keras.Model(inputs, outputs)


def test_the_reference_like_augmentation_passes(config, mnist):
    images = extensions.augmentation_images(mnist[1][0])
    block = augmentation()
    assert extensions.check_augmentation_layers(block, config=config).passed
    assert extensions.check_augmentation_behaviour(block, images, config=config).passed


def test_missing_layers_and_a_block_that_changes_nothing(config, mnist):
    images = extensions.augmentation_images(mnist[1][0])
    result = extensions.check_augmentation_layers(augmentation(layers=("rot",)), config=config)
    assert result.hint_category == "augmentation_layers_missing"
    assert "RandomZoom, RandomTranslation" in result.message
    still = keras.Sequential([keras.Input(shape=(28, 28, 1)), keras.layers.Identity()])
    result = extensions.check_augmentation_behaviour(still, images, config=config)
    assert result.hint_category == "augmentation_no_change"


class AlwaysRotate(keras.layers.RandomRotation):
    """Keras 3 ignores training=True given when a model is wired, so augmenting at
    inference takes a layer that forces it on: the mistake, in the form Keras allows."""

    def call(self, inputs, training=True):
        return super().call(inputs, training=True)


def small_cnn(block: keras.Model) -> keras.Model:
    inputs = keras.Input(shape=(28, 28, 1))
    x = keras.layers.MaxPooling2D()(keras.layers.Conv2D(4, 3, activation="relu")(block(inputs)))
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(x))
    return keras.Model(inputs, outputs)


def test_augmentation_active_at_inference_is_named(config, mnist, helpers):
    forced = keras.Sequential(
        [keras.Input(shape=(28, 28, 1)), AlwaysRotate(0.1, fill_mode="constant"),
         keras.layers.RandomZoom(0.1), keras.layers.RandomTranslation(0.1, 0.1)]
    )  # fmt: skip
    images = extensions.augmentation_images(mnist[1][0])
    result = extensions.check_augmentation_behaviour(forced, images, config=config)
    assert result.hint_category == "augmentation_at_inference"
    result = models.check_structure("augmented_cnn", small_cnn(forced), config=config)
    assert result.hint_category == "augmentation_at_inference"
    assert models.check_structure("augmented_cnn", small_cnn(augmentation()), config=config).passed
    result = models.check_structure("augmented_cnn", helpers.cnn(), config=config)
    assert result.hint_category == "augmentation_not_in_model"


def test_lenet_kernel_size_pooling_and_parameters(config):
    assert models.check_structure("lenet5", lenet(), config=config).passed
    assert lenet().count_params() == 61706
    result = models.check_structure("lenet5", lenet(kernel=3), config=config)
    assert result.hint_category == "lenet_kernel_size"
    result = models.check_structure("lenet5", lenet(pool=False), config=config)
    assert result.hint_category == "lenet_pooling"
    result = models.check_structure("lenet5", lenet(first_padding="valid"), config=config)
    assert result.hint_category == "lenet_parameters"


def test_residual_blocks_need_a_real_skip(config):
    assert models.check_structure("resnet", resnet(), config=config).passed
    assert models.check_structure("resnet", resnet(skip="projection"), config=config).passed
    result = models.check_structure("resnet", resnet(skip="same-path"), config=config)
    assert result.hint_category == "residual_without_skip"
    result = models.check_structure("resnet", resnet(blocks=1), config=config)
    assert result.hint_category == "too_few_blocks"
    assert models.check_structure("resnet", lenet(), config=config).hint_category == (
        "no_skip_connection"
    )


def test_the_perturbed_bar_and_its_hint(config):
    bar = config.stages["augmented_cnn"].min_perturbed_accuracy
    above = models.check_perturbed("augmented_cnn", Measurement(bar, 10000), config=config)
    assert above.passed and above.visibility == "hidden"
    below = models.check_perturbed("augmented_cnn", Measurement(bar - 0.05, 10000), config=config)
    assert below.hint_category == "not_robust"


def _search(**changes) -> extensions.Search:
    trial = {"batch_size": 128, "learning_rate": 0.001, "optimizer": "adam"}
    trials = (tuning.Trial(trial, 0.97), tuning.Trial({**trial, "optimizer": "sgd"}, 0.9))
    return extensions.Search(**{"trials": trials, "objective": "val_accuracy", **changes})


def test_the_search_checks(config):
    assert extensions.check_tuning_search(_search(), config=config).passed
    cases = {
        "tuner_not_keras_tuner": _search(error="tuner is a dict, not a KerasTuner tuner"),
        "tuning_not_searched": _search(trials=()),
        "tuning_objective": _search(objective="accuracy"),
        "tuning_space": _search(trials=(tuning.Trial({"learning_rate": 0.01}, 0.9),)),
        "tuning_too_many_trials": _search(trials=_search().trials * 3),
    }
    for category, search in cases.items():
        assert extensions.check_tuning_search(search, config=config).hint_category == category


def test_validation_from_the_test_set_is_named(config, mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    index = extensions.ImageIndex(x_train, x_test)
    _, _, x_val, y_val = tuning.split_validation(
        x_train / 255.0, y_train, train_images=100, validation_images=16, seed=1
    )
    good = extensions.check_tuning_validation(
        x_val, y_val, index=index, train_labels=y_train, config=config
    )
    assert good.passed, good.message
    leaked = extensions.check_tuning_validation(
        x_test[:16] / 255.0, y_test[:16], index=index, train_labels=y_train, config=config
    )
    assert leaked.hint_category == "tuned_on_test_set"
    searched = fit_evidence.image_fingerprints(x_test[:8] / 255.0)  # what fit() was given
    result = extensions.check_tuning_validation(
        x_val, y_val, index=index, train_labels=y_train, config=config, searched=searched
    )
    assert result.hint_category == "tuned_on_test_set"
    honest = fit_evidence.image_fingerprints(x_val[:8])
    assert extensions.check_tuning_validation(
        x_val, y_val, index=index, train_labels=y_train, config=config, searched=honest
    ).passed
    shuffled = extensions.check_tuning_validation(
        x_val, y_val[::-1], index=index, train_labels=y_train, config=config
    )
    assert shuffled.hint_category == "validation_not_training_images"


def test_reported_accuracy_is_compared_with_the_graders_retraining(config):
    trials = _search().trials
    check = extensions.check_tuning_reproduced
    assert check(0.95, 0.96, trials, config=config).passed
    copied = check(0.97, 0.90, trials, config=config)  # the best trial's score, unmeasured
    assert copied.hint_category == "best_trial_score_reported"
    other = check(0.99, 0.90, trials, config=config)
    assert other.hint_category == "tuning_not_reproduced"
