"""reference.extensions and mnist_course.perturbation: the mnist_extensions assignment."""

from __future__ import annotations

import keras
import keras_tuner
import numpy as np
import pytest

from mnist_course import perturbation
from reference import data, extensions, training

# LeNet-5 adapted to 28x28: C1 6*(5*5+1) + C3 16*(6*5*5+1) + C5 (400+1)*120 + F6 (120+1)*84
# + output (84+1)*10; parameter-free pooling instead of the paper's trainable subsampling.
LENET5_PARAMETERS = 156 + 2_416 + 48_120 + 10_164 + 850


def layer_types(model: keras.Model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


def grids(images: np.ndarray) -> np.ndarray:
    return data.normalize(images).reshape(-1, 28, 28, 1)


@pytest.fixture(scope="module")
def digits(small_mnist) -> np.ndarray:
    """64 real training digits as the models read them: (64, 28, 28, 1) in [0, 1]."""
    (x_train, _), _ = small_mnist
    return grids(x_train[:64])


# --- augmentation -----------------------------------------------------------------------


def test_augmentation_is_the_identity_at_inference(digits) -> None:
    augmentation = extensions.build_augmentation()
    assert augmentation.name == "augmentation"
    assert layer_types(augmentation) == ["RandomRotation", "RandomZoom", "RandomTranslation"]
    output = keras.ops.convert_to_numpy(augmentation(digits, training=False))
    np.testing.assert_array_equal(output, digits)


def test_augmentation_changes_training_images_and_stays_in_range(digits, seed) -> None:
    training.set_seed(seed)
    augmentation = extensions.build_augmentation()
    output = keras.ops.convert_to_numpy(augmentation(digits, training=True))
    assert output.shape == digits.shape
    changed = np.abs(output - digits).reshape(len(digits), -1).max(axis=1) > 0.1
    assert changed.mean() > 0.9  # nearly every digit moved
    assert output.min() >= 0.0
    assert output.max() <= 1.0 + 1e-6  # bilinear interpolation does not overshoot
    # Moved and resized a little, not cut off or smeared: the ink is about the same.
    assert abs(output.sum() / digits.sum() - 1.0) < 0.15
    for layer in augmentation.layers:  # new border pixels are black background
        assert (layer.fill_mode, layer.fill_value) == ("constant", 0.0), layer.name


def test_augmented_cnn_starts_with_the_augmentation_block() -> None:
    model = extensions.build_augmented_cnn()
    assert model.layers[0].name == "augmentation"
    assert layer_types(model.layers[0]) == ["RandomRotation", "RandomZoom", "RandomTranslation"]
    kinds = layer_types(model)
    assert kinds.index("Conv2D") < kinds.index("Flatten")
    assert model.input_shape == (None, 28, 28, 1)
    assert model.output_shape == (None, 10)


# --- LeNet-5 ----------------------------------------------------------------------------


def test_lenet5_has_the_classic_layers() -> None:
    model = extensions.build_lenet5()
    assert layer_types(model) == [
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "MaxPooling2D",
        "Flatten",
        "Dense",
        "Dense",
        "Dense",
    ]
    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [layer.filters for layer in convolutions] == [6, 16]
    assert [layer.kernel_size for layer in convolutions] == [(5, 5), (5, 5)]
    assert [layer.output.shape[1:] for layer in convolutions] == [(28, 28, 6), (10, 10, 16)]
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [120, 84, 10]
    assert model.count_params() == LENET5_PARAMETERS == 61_706


# --- ResNet -----------------------------------------------------------------------------


def producer(tensor: keras.KerasTensor) -> keras.layers.Layer:
    return tensor._keras_history.operation


def first_input(layer: keras.layers.Layer) -> keras.KerasTensor:
    return layer._inbound_nodes[0].input_tensors[0]


def path_back(tensor: keras.KerasTensor, stop: set[int]) -> list[keras.layers.Layer]:
    """The layers from ``tensor`` back to the first tensor whose id is in ``stop``."""
    layers = []
    while id(tensor) not in stop:
        layer = producer(tensor)
        if isinstance(layer, keras.layers.InputLayer):
            raise AssertionError("walked back to the input without meeting the other path")
        layers.append(layer)
        tensor = first_input(layer)
    return layers


def ancestors(tensor: keras.KerasTensor) -> set[int]:
    seen = set()
    pending = [tensor]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        layer = producer(current)
        if not isinstance(layer, keras.layers.InputLayer):
            pending.extend(layer._inbound_nodes[0].input_tensors)
    return seen


def convolutions(layers: list[keras.layers.Layer]) -> list[keras.layers.Conv2D]:
    return [layer for layer in layers if isinstance(layer, keras.layers.Conv2D)]


def test_resnet_adds_a_skip_path_to_a_convolution_path() -> None:
    model = extensions.build_resnet()
    adds = [layer for layer in model.layers if isinstance(layer, keras.layers.Add)]
    assert len(adds) >= 2
    projections = 0
    for add in adds:
        left, right = add._inbound_nodes[0].input_tensors
        # Each path walks back to the block's input, where the two paths split.
        left_path = path_back(left, ancestors(right))
        right_path = path_back(right, ancestors(left))
        main, skip = sorted((left_path, right_path), key=lambda p: len(convolutions(p)))[::-1]
        assert len(convolutions(main)) >= 2, add.name  # the block's own convolutions
        skip_convolutions = convolutions(skip)
        assert len(skip_convolutions) <= 1, add.name  # identity, or one projection
        block_input = first_input(main[-1])
        changes_shape = tuple(block_input.shape) != tuple(add.output.shape)
        if skip_convolutions:
            (projection,) = skip_convolutions
            assert projection.kernel_size == (1, 1)
            assert changes_shape, "a projection only where the shape changes"
            projections += 1
        else:
            assert not changes_shape, "an identity skip cannot change the shape"
    assert projections >= 1


def test_resnet_reads_grids_and_outputs_ten_probabilities(digits) -> None:
    model = extensions.build_resnet()
    assert model.input_shape == (None, 28, 28, 1)
    probabilities = model.predict(digits[:4], verbose=0)
    assert probabilities.shape == (4, 10)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    "builder",
    [extensions.build_augmented_cnn, extensions.build_lenet5, extensions.build_resnet],
)
def test_builders_return_new_models_compiled_with_the_learning_rate(builder) -> None:
    first, second = builder(learning_rate=0.0123), builder(learning_rate=0.0123)
    assert first is not second
    assert isinstance(first.optimizer, keras.optimizers.Adam)
    assert float(first.optimizer.learning_rate) == pytest.approx(0.0123)
    assert first.loss == training.LOSS


# --- hyperparameter tuning --------------------------------------------------------------


def test_tuning_compares_trials_on_a_split_of_the_training_images(
    small_mnist, tmp_path, monkeypatch, seed
) -> None:
    (x_train, y_train), _ = small_mnist
    images, labels = grids(x_train), y_train
    seen = {}
    original_search = keras_tuner.RandomSearch.search

    def recording_search(self, x, y, **kwargs):
        seen["fit"], seen["validation"] = x, kwargs["validation_data"][0]
        return original_search(self, x, y, **kwargs)

    monkeypatch.setattr(keras_tuner.RandomSearch, "search", recording_search)
    result = extensions.tune_hyperparameters(
        images,
        labels,
        trials=2,
        epochs=1,
        seed=seed,
        directory=tmp_path,
        validation_fraction=0.2,
    )

    assert len(result.trials) == 2
    for trial in result.trials:
        assert trial["learning_rate"] in extensions.TUNING_LEARNING_RATES
        assert trial["optimizer"] in extensions.TUNING_OPTIMIZERS
        assert trial["batch_size"] in extensions.TUNING_BATCH_SIZES
        assert 0.0 <= trial["val_accuracy"] <= 1.0
    assert result.best_val_accuracy == max(trial["val_accuracy"] for trial in result.trials)
    assert set(result.best) == {"learning_rate", "optimizer", "batch_size"}
    # The validation split is a fifth of the training images, and not trained on.
    indices = result.validation_indices
    assert len(indices) == len(np.unique(indices)) == 400
    assert indices.min() >= 0 and indices.max() < len(images)
    np.testing.assert_array_equal(seen["validation"], images[indices])
    assert len(seen["fit"]) + len(seen["validation"]) == len(images)
    fit_rows = {row.tobytes() for row in seen["fit"]}
    assert not any(row.tobytes() in fit_rows for row in seen["validation"])
    # KerasTuner wrote its trial records where it was told, nowhere else.
    assert (tmp_path / extensions.TUNING_PROJECT).is_dir()


def test_tuning_is_repeatable_with_its_seed(small_mnist, tmp_path, seed) -> None:
    (x_train, y_train), _ = small_mnist
    images, labels = grids(x_train[:1000]), y_train[:1000]
    first, again = (
        extensions.tune_hyperparameters(
            images, labels, trials=2, epochs=1, seed=seed, directory=tmp_path / name
        )
        for name in ("first", "again")
    )
    np.testing.assert_array_equal(first.validation_indices, again.validation_indices)
    assert first.trials == again.trials  # the same draws, weights and batches


def test_tuned_model_uses_the_chosen_hyperparameters() -> None:
    best = {"learning_rate": 0.003, "optimizer": "rmsprop", "batch_size": 64}
    model = extensions.build_tuned_model(best)
    assert isinstance(model.optimizer, keras.optimizers.RMSprop)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.003)
    assert model.count_params() == LENET5_PARAMETERS


def test_tuning_rejects_a_validation_fraction_outside_zero_to_one(tmp_path) -> None:
    images = np.zeros((10, 28, 28, 1), "float32")
    with pytest.raises(ValueError, match="validation_fraction"):
        extensions.tune_hyperparameters(
            images,
            np.zeros(10),
            trials=1,
            epochs=1,
            seed=0,
            directory=tmp_path,
            validation_fraction=1.0,
        )


# --- perturbed test set -----------------------------------------------------------------


@pytest.fixture(scope="module")
def test_digits(small_mnist) -> np.ndarray:
    _, (x_test, _) = small_mnist
    return x_test


def test_perturbed_set_is_fixed_by_its_seed(test_digits) -> None:
    first = perturbation.perturbed_test_set(test_digits, seed=42)
    again = perturbation.perturbed_test_set(test_digits, seed=42)
    other = perturbation.perturbed_test_set(test_digits, seed=43)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_perturbed_set_looks_like_mnist_but_moved(test_digits) -> None:
    original = test_digits.copy()
    perturbed = perturbation.perturbed_test_set(test_digits, seed=42)
    np.testing.assert_array_equal(test_digits, original)  # the input is left alone
    assert perturbed.dtype == np.uint8
    assert perturbed.shape == test_digits.shape
    difference = np.abs(perturbed.astype(int) - test_digits.astype(int))
    assert (difference.reshape(len(difference), -1).max(axis=1) > 100).mean() > 0.95
    # Zoom changes the ink by its square (0.72..1.32); on average it is kept, and the
    # digits stay inside the frame: almost no ink on the outermost rows and columns.
    ink = perturbed.reshape(len(perturbed), -1).sum(axis=1).astype(float)
    ratio = ink / test_digits.reshape(len(test_digits), -1).sum(axis=1)
    assert 0.9 < np.median(ratio) < 1.1
    assert ratio.min() > 0.5
    border = perturbed[:, [0, -1], :].sum() + perturbed[:, 1:-1, [0, -1]].sum()
    assert border / ink.sum() < 0.02


@pytest.mark.parametrize(
    "images",
    [np.zeros((2, 28, 28), "float32"), np.zeros((2, 784), "uint8"), np.zeros((28, 28), "uint8")],
)
def test_perturbed_set_rejects_what_is_not_mnist_images(images) -> None:
    with pytest.raises(ValueError, match="expected"):
        perturbation.perturbed_test_set(images, seed=0)
