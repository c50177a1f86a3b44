"""What each stage's architecture must look like, one judge per kind of network.

A stage's spec names its architecture (mnist_course.spec.Architecture); the structure
check has already made sure the model has an input shape and one output of 10 scores.
Each judge reads only layer types, sizes and wiring, never weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from autograder.checks.hints import Advice, advise

if TYPE_CHECKING:
    import keras

    from mnist_course.config import Stage

Shape = tuple[int | None, ...]


@dataclass(frozen=True)
class Verdict:
    """A judge's answer: passed or not, what was found, and the hint when it failed."""

    passed: bool
    message: str
    advice: Advice | None = None


def passed(message: str) -> Verdict:
    return Verdict(True, message)


def failed(message: str, advice: Advice) -> Verdict:
    return Verdict(False, message, advice)


def _is_model(layer: object) -> bool:
    return getattr(layer, "layers", None) is not None and hasattr(layer, "inputs")


def flat_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer, nested models unrolled, in order."""

    def walk(container: object) -> Iterator[keras.layers.Layer]:
        for layer in getattr(container, "layers", []):
            if _is_model(layer):
                yield from walk(layer)
            else:
                yield layer

    return list(walk(model))


def layer_names(model: keras.Model) -> list[str]:
    """Class names of every layer, nested models unrolled."""
    return [type(layer).__name__ for layer in flat_layers(model)]


def dense_units(model: keras.Model) -> list[int]:
    return [int(layer.units) for layer in flat_layers(model) if type(layer).__name__ == "Dense"]


def _described(model: keras.Model) -> str:
    return " -> ".join(layer_names(model)) or "no layers"


def single_dense(model: keras.Model, shape: Shape, settings: Stage) -> Verdict:
    """The baseline: one Dense(10) on 784 inputs, no hidden layer."""
    names = layer_names(model)
    if len(dense_units(model)) > 1 or any(name.startswith("Conv") for name in names):
        return failed(
            f"The baseline has a hidden layer: {_described(model)}.",
            advise("baseline_hidden_layer"),
        )
    if shape != (784,):
        return failed(f"The baseline takes inputs of shape {shape}.", advise("ann_input_shape"))
    return passed("Baseline: a single Dense(10) on 784 inputs.")


def hidden_dense(model: keras.Model, shape: Shape, settings: Stage) -> Verdict:
    """An ANN with at least one hidden Dense layer on 784 inputs."""
    dense = dense_units(model)
    if len(dense) < 2:
        return failed(
            f"The hidden-layer ANN has no hidden Dense layer: {_described(model)}.",
            advise("no_hidden_layer"),
        )
    if shape != (784,):
        return failed(
            f"The hidden-layer ANN takes inputs of shape {shape}.", advise("ann_input_shape")
        )
    return passed(f"Hidden-layer ANN: {len(dense) - 1} hidden Dense layer(s).")


def cnn(model: keras.Model, shape: Shape, settings: Stage) -> Verdict:
    """Convolution, pooling and Flatten on 28x28 images."""
    names = layer_names(model)
    missing = [label for label in ("Conv2D", "MaxPooling2D", "Flatten") if label not in names]
    if "Conv2D" in missing:
        return failed(f"The CNN has no Conv2D layer: {_described(model)}.", advise("no_conv2d"))
    if missing:
        return failed(
            f"The CNN is missing {', '.join(missing)}: {_described(model)}.",
            advise("cnn_pooling_flatten"),
        )
    if shape not in {(28, 28, 1), (28, 28)}:
        return failed(f"The CNN takes inputs of shape {shape}.", advise("cnn_input_shape"))
    return passed("CNN: Conv2D, MaxPooling2D and Flatten present.")


#: The layers data augmentation is built from (Keras' random preprocessing layers).
AUGMENTATION_LAYERS = ("RandomRotation", "RandomZoom", "RandomTranslation")
#: Images used to see whether a model gives the same answer twice at inference.
_INFERENCE_PROBE = 32


def augmentation_missing(model: keras.Model) -> list[str]:
    """The augmentation layers ``model`` lacks (a subclass of one counts as that layer)."""
    present = {cls.__name__ for layer in flat_layers(model) for cls in type(layer).__mro__}
    return [name for name in AUGMENTATION_LAYERS if name not in present]


def augmentation_at_inference(model: keras.Model) -> bool:
    """Whether ``model`` answers differently twice for the same images at inference: its
    random layers were forced on (called with ``training=True``)."""
    rng = np.random.default_rng(0)
    shape = tuple(model.inputs[0].shape[1:])
    images = rng.random((_INFERENCE_PROBE, *shape)).astype("float32")
    first = np.asarray(model(images, training=False))
    second = np.asarray(model(images, training=False))
    return not np.allclose(first, second, atol=1e-6)


def augmented_cnn(model: keras.Model, shape: Shape, settings: Stage) -> Verdict:
    """A CNN whose first layers augment the images (and only while training)."""
    missing = augmentation_missing(model)
    if missing:
        return failed(
            f"The augmented CNN has no {', '.join(missing)} layer: {_described(model)}.",
            advise("augmentation_not_in_model", missing=", ".join(missing)),
        )
    verdict = cnn(model, shape, settings)
    if not verdict.passed:
        return verdict
    if augmentation_at_inference(model):
        return failed(
            "The augmented CNN gives different answers twice for the same images at inference.",
            advise("augmentation_at_inference"),
        )
    return passed("Augmented CNN: random rotation, zoom and translation before the convolutions.")


def _significant(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers that shape a LeNet: convolutions, pooling, Flatten and Dense."""
    kinds = ("Conv2D", "MaxPooling2D", "AveragePooling2D", "Flatten", "Dense")
    return [layer for layer in flat_layers(model) if type(layer).__name__ in kinds]


def lenet5(model: keras.Model, shape: Shape, settings: Stage) -> Verdict:
    """LeNet-5 on 28x28: conv 6@5x5, pool, conv 16@5x5, pool, dense 120, 84, 10."""
    layers = _significant(model)
    kinds = ["pool" if "Pooling" in type(layer).__name__ else type(layer).__name__
             for layer in layers]  # fmt: skip
    wanted = ["Conv2D", "pool", "Conv2D", "pool", "Flatten", "Dense", "Dense", "Dense"]
    described = _described(model)
    if kinds.count("pool") < 2 and kinds.count("Conv2D") >= 2:
        return failed(
            f"LeNet-5 pools after each convolution: {described}.", advise("lenet_pooling")
        )
    if kinds != wanted:
        return failed(
            f"The layers are {described}; LeNet-5 is Conv2D, pooling, Conv2D, pooling, "
            "Flatten, Dense(120), Dense(84), Dense(10).",
            advise("lenet_layers"),
        )
    convs = [layers[0], layers[2]]
    filters = [int(layer.filters) for layer in convs]
    kernels = [tuple(int(k) for k in layer.kernel_size) for layer in convs]
    if kernels != [(5, 5), (5, 5)]:
        return failed(
            f"LeNet-5's convolutions use 5x5 kernels; yours use {kernels[0]} and {kernels[1]}.",
            advise("lenet_kernel_size", kernels=kernels),
        )
    units = [int(layer.units) for layer in layers[5:]]
    if filters != [6, 16] or units != [120, 84, 10]:
        return failed(
            f"LeNet-5 has 6 and 16 filters and dense layers of 120, 84 and 10 units; yours "
            f"has {filters} filters and {units} units.",
            advise("lenet_sizes", filters=filters, units=units),
        )
    count = int(model.count_params())
    expected = settings.expected_parameters
    if expected is not None and abs(count - expected) > settings.parameter_tolerance * expected:
        return failed(
            f"It has {count:,} parameters; LeNet-5 on 28x28 images has about {expected:,}.",
            advise("lenet_parameters", count=count, expected=expected),
        )
    return passed(f"LeNet-5: 6@5x5 and 16@5x5 convolutions, 120-84-10 dense, {count:,} parameters.")


def _producer(tensor: object) -> object | None:
    history = getattr(tensor, "_keras_history", None)
    return getattr(history, "operation", None) if history is not None else None


def _inputs_of(layer: object) -> list[object]:
    nodes = getattr(layer, "_inbound_nodes", None) or []
    return list(getattr(nodes[0], "input_tensors", ())) if nodes else []


def _ancestors(layer: object) -> set[int]:
    """ids of every layer ``layer``'s output is computed from (not itself)."""
    seen: set[int] = set()
    stack = [_producer(tensor) for tensor in _inputs_of(layer)]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        stack += [_producer(tensor) for tensor in _inputs_of(current)]
    return seen


def _is_projection(layer: object) -> bool:
    return type(layer).__name__ == "Conv2D" and tuple(layer.kernel_size) == (1, 1)


def _skip_joins(add: object) -> bool:
    """Whether ``add`` joins a main path with a skip path: one input is (a 1x1 projection
    of) a layer the other input was computed from, through at least one convolution."""
    inputs = [_producer(tensor) for tensor in _inputs_of(add)]
    if len(inputs) != 2 or None in inputs or inputs[0] is inputs[1]:
        return False
    for skip, main in (inputs, inputs[::-1]):
        before_main = _ancestors(main)
        source = skip
        while type(source).__name__ in ("BatchNormalization", "Activation", "ReLU"):
            source = _producer(_inputs_of(source)[0]) if _inputs_of(source) else None
        if _is_projection(source):
            projected = [_producer(tensor) for tensor in _inputs_of(source)]
            source = projected[0] if projected else None
        if source is not None and id(source) in before_main:
            return True
    return False


def resnet(model: keras.Model, shape: Shape, settings: Stage) -> Verdict:
    """At least two residual blocks: Add layers that join a skip path to a main path."""
    adds = [layer for layer in getattr(model, "layers", []) if type(layer).__name__ == "Add"]
    joins = [layer for layer in adds if _skip_joins(layer)]
    if not adds:
        return failed(
            f"The network has no Add layer, so no skip connection: {_described(model)}.",
            advise("no_skip_connection"),
        )
    if len(joins) < 2:
        return failed(
            f"{len(adds)} Add layer(s), {len(joins)} of them joining a skip path to a main path; "
            "a residual network needs at least two residual blocks.",
            advise("residual_without_skip" if len(joins) < len(adds) else "too_few_blocks"),
        )
    if shape not in {(28, 28, 1), (28, 28)}:
        return failed(f"The network takes inputs of shape {shape}.", advise("cnn_input_shape"))
    return passed(f"Residual network: {len(joins)} residual blocks joined by Add.")


ARCHITECTURES: dict[str, Callable[[keras.Model, Shape, Stage], Verdict]] = {
    "single_dense": single_dense,
    "hidden_dense": hidden_dense,
    "cnn": cnn,
    "augmented_cnn": augmented_cnn,
    "lenet5": lenet5,
    "resnet": resnet,
}
