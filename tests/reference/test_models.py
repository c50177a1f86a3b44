"""reference.models: the three architectures and how they are compiled."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from reference import models, training


def layer_types(model: keras.Model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


def test_baseline_is_a_single_dense_layer_on_784_inputs() -> None:
    model = models.build_baseline_ann()
    assert layer_types(model) == ["Dense"]
    assert model.input_shape == (None, 784)
    assert model.output_shape == (None, 10)
    assert model.count_params() == 784 * 10 + 10


def test_hidden_layer_ann_has_a_hidden_dense_layer() -> None:
    model = models.build_hidden_layer_ann()
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert len(dense) >= 2
    assert model.input_shape == (None, 784)
    assert model.output_shape == (None, 10)


def test_cnn_has_conv_pool_flatten_dense() -> None:
    model = models.build_cnn()
    kinds = layer_types(model)
    for required in ("Conv2D", "MaxPooling2D", "Flatten", "Dense"):
        assert required in kinds
    assert kinds.index("Conv2D") < kinds.index("MaxPooling2D") < kinds.index("Flatten")
    assert model.input_shape == (None, 28, 28, 1)
    assert model.output_shape == (None, 10)


@pytest.mark.parametrize(
    "builder", [models.build_baseline_ann, models.build_hidden_layer_ann, models.build_cnn]
)
def test_builders_return_new_compiled_models(builder) -> None:
    first, second = builder(), builder()
    assert first is not second
    assert isinstance(first.optimizer, keras.optimizers.Adam)
    assert first.loss == training.LOSS
    outputs = first.predict(np.zeros((2, *first.input_shape[1:]), "float32"), verbose=0)
    assert np.allclose(outputs.sum(axis=1), 1.0, atol=1e-5)  # softmax probabilities


def test_learning_rate_is_passed_to_adam() -> None:
    model = models.build_baseline_ann(learning_rate=0.0123)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.0123)


def test_builder_defaults_are_the_specs() -> None:
    """Every reference builder's learning-rate default, both assignments, is the spec's
    (a student calling build_cnn() gets the course's budget)."""
    import inspect

    from mnist_course.assignments import all_specs
    from reference import extensions

    for spec in all_specs().values():
        for stage in spec.stages:
            builder = getattr(models, stage.builder, None) or getattr(extensions, stage.builder)
            default = inspect.signature(builder).parameters["learning_rate"].default
            assert default == stage.defaults["learning_rate"], (spec.id, stage.id)


def test_grader_prepares_inputs_as_the_reference_does(small_mnist) -> None:
    """The grader's own preprocessing and the reference's must not drift apart."""
    import numpy as np

    from autograder.checks.evaluation import prepare_images
    from mnist_course.config import parse_config
    from reference.data import normalize
    from reference.pipeline import builder_of, model_inputs

    config = parse_config({}).assignment("mnist_digits")
    _, (x_test, _) = small_mnist
    for stage in config.stages:
        expected = model_inputs(stage, normalize(x_test[:50]), config)
        assert np.allclose(prepare_images(builder_of(stage, config)(), x_test[:50]), expected)
