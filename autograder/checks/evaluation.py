"""Measuring a model the trusted way: canonical inputs, our own test set, numpy maths.

Numbers a notebook prints are never used; accuracy is always recomputed here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from autograder.checks.confusion import MAX_ARCHITECTURE_CHARS, Fingerprint
from mnist_course.config import AssignmentConfig

if TYPE_CHECKING:
    import keras

PREDICT_BATCH = 1000
#: Activation values one prediction batch may hold (about 400 MB of float32): a large
#: model gets smaller batches.
MAX_BATCH_VALUES = 100_000_000
#: Images used to test whether a failing model was trained on unscaled pixels.
DIAGNOSTIC_IMAGES = 1000
#: With retrain on: a submitted model this far above what its own architecture reaches
#: when re-trained on the training data was most likely fitted to the test set.
NOT_REPRODUCED_MARGIN = 0.05
NOT_REPRODUCED_NOTE = (
    "{variable}: its submitted weights score {measured:.2%} on the test set, but the same "
    "architecture re-trained from scratch on the training data reaches {retrained:.2%}; "
    "the accuracy was not reproduced by re-training (weights fitted to the test set?). "
    "The re-trained accuracy is the one graded."
)
#: Config keys a re-trained copy gets from Keras' defaults, never from the submission:
#: weights set by hand (initializers), penalties, and frozen or odd number types.
_RESET_SUFFIXES = ("_initializer", "_regularizer", "_constraint")
_RESET_KEYS = {"dtype", "dtype_policy", "seed"}


@dataclass(frozen=True)
class Measurement:
    """Test accuracy measured by the grader, and how it was obtained."""

    accuracy: float
    images: int
    unscaled_accuracy: float | None = None  # on raw 0-255 pixels, to diagnose scaling
    retrained: bool = False
    #: The predicted digit of every image (for confusion matrices); not part of equality.
    predicted: np.ndarray | None = field(default=None, compare=False, repr=False)


def input_shape(model: keras.Model) -> tuple[int | None, ...]:
    """The model's input shape; ValueError when it has none (never built)."""
    try:
        shape = model.inputs[0].shape
    except (AttributeError, IndexError, TypeError, ValueError):
        shape = None
    if shape is None:
        raise ValueError(
            "the model has no input shape (it was never built); start it with "
            "keras.Input(shape=(784,)) for an ANN or keras.Input(shape=(28, 28, 1)) for a CNN"
        )
    return tuple(shape)


def prepare_images(model: keras.Model, images: np.ndarray, *, scale: bool = True) -> np.ndarray:
    """Canonical inputs for ``model``: pixels / 255, reshaped to its input shape."""
    images = np.asarray(images)
    values = images.astype("float32") / 255.0 if scale else images.astype("float32")
    shape = input_shape(model)[1:]
    accepted = {(784,), (28, 28), (28, 28, 1)}
    if tuple(shape) not in accepted:
        raise ValueError(
            f"the model expects inputs of shape {tuple(shape)}; the course's models take "
            "(784,) flattened vectors (ANNs) or (28, 28, 1) images (CNN)"
        )
    return values.reshape((len(values), *shape))


def predict_labels(model: keras.Model, inputs: np.ndarray) -> np.ndarray:
    """Predicted digit for every input, in fixed-size batches."""
    from autograder.model_screening import activations_per_image

    per_image = max(1, activations_per_image(model))
    batch = max(1, min(PREDICT_BATCH, MAX_BATCH_VALUES // per_image))
    predictions = []
    for start in range(0, len(inputs), batch):
        scores = np.asarray(model(inputs[start : start + batch], training=False))
        if scores.ndim != 2 or scores.shape[1] != 10:
            raise ValueError(
                f"the model outputs shape {scores.shape[1:]} per image; it must output 10 "
                "scores, one per digit (end with keras.layers.Dense(10, activation='softmax'))"
            )
        predictions.append(np.argmax(scores, axis=1))
    return np.concatenate(predictions) if predictions else np.zeros(0, dtype=np.int64)


def integer_labels(labels: np.ndarray) -> np.ndarray:
    """Labels 0-9 whether given as integers or one-hot rows."""
    labels = np.asarray(labels)
    return labels.argmax(axis=1) if labels.ndim == 2 else labels.astype(np.int64)


def predict_digits(model: keras.Model, images: np.ndarray, *, scale: bool = True) -> np.ndarray:
    """Predicted digit of each raw image, fed to the model the canonical way."""
    return predict_labels(model, prepare_images(model, images, scale=scale))


def accuracy(
    model: keras.Model, images: np.ndarray, labels: np.ndarray, *, scale: bool = True
) -> float:
    """Fraction of ``images`` the model classifies correctly, computed with numpy."""
    return float(np.mean(predict_digits(model, images, scale=scale) == integer_labels(labels)))


def measure(
    model: keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    bar: float,
    retrained: bool = False,
) -> Measurement:
    """Test accuracy; below ``bar`` also the accuracy on unscaled pixels (for the hint)."""
    predicted = predict_digits(model, images)
    value = float(np.mean(predicted == integer_labels(labels)))
    unscaled = None
    if value < bar:
        subset = slice(0, DIAGNOSTIC_IMAGES)
        unscaled = accuracy(model, images[subset], labels[subset], scale=False)
    return Measurement(value, len(images), unscaled, retrained, predicted)


def train_sample(
    images: np.ndarray, labels: np.ndarray, *, size: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The judge's fixed sample of training images (the same for every submission), in
    training-set order: a model fitted on the test set scores lower on it than on the
    test images, an honest one higher."""
    size = min(size, len(images))
    chosen = np.sort(np.random.default_rng(seed).choice(len(images), size, replace=False))
    return images[chosen], labels[chosen]


def not_reproduced_note(variable: str, measured: Measurement, retrained: Measurement) -> str | None:
    """The report note for a submitted accuracy that re-training does not come near."""
    if measured.accuracy - retrained.accuracy <= NOT_REPRODUCED_MARGIN:
        return None
    return NOT_REPRODUCED_NOTE.format(
        variable=variable, measured=measured.accuracy, retrained=retrained.accuracy
    )


#: Config keys whose values point at layers by name (functional wiring).
_WIRING_KEYS = {"keras_history", "input_layers", "output_layers"}
#: The layer settings a readable architecture summary shows, in this order.
_SUMMARY_KEYS = ("units", "filters", "kernel_size", "pool_size", "strides", "rate", "activation")


def fingerprint(model: keras.Model, predicted: np.ndarray) -> Fingerprint:
    """What a class-wide comparison needs of one model: its ``predicted`` digit for every
    canonical test image, hashes of its weights and of its architecture, and a summary."""
    digits = np.asarray(predicted).astype(np.uint8, copy=False).ravel() + ord("0")
    return Fingerprint(
        predictions=digits.tobytes().decode("ascii"),
        weights_sha256=weights_sha256(model),
        architecture_sha256=architecture_sha256(model),
        architecture=architecture_summary(model),
    )


def weights_sha256(model: keras.Model) -> str:
    """Every weight array's dtype, shape and bytes, in layer order: equal only for the
    same numbers in the same places."""
    digest = hashlib.sha256()
    for weight in model.weights:
        values = np.ascontiguousarray(np.asarray(weight))
        digest.update(f"{values.dtype.str}{values.shape};".encode())
        digest.update(values.tobytes())
    return digest.hexdigest()


def architecture_sha256(model: keras.Model) -> str:
    """The layer configuration without layer names and seeds (wiring kept, by layer
    position): the same architecture built twice hashes equal, another one does not."""
    config = model.get_config()
    names: dict[str, int] = {}
    for name in _layer_names(config):
        names.setdefault(name, len(names))
    text = json.dumps(_unnamed(config, names), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _layer_names(config: Any) -> Iterator[str]:
    """The names of the model and of every entry of a ``layers`` list (nested models
    included), in config order; a dtype policy's name is not a layer's."""
    if isinstance(config, dict):
        if isinstance(config.get("layers"), list):
            if isinstance(config.get("name"), str):
                yield config["name"]
            for entry in config["layers"]:
                for owner in (entry, entry.get("config") if isinstance(entry, dict) else None):
                    if isinstance(owner, dict) and isinstance(owner.get("name"), str):
                        yield owner["name"]
        for value in config.values():
            yield from _layer_names(value)
    elif isinstance(config, list | tuple):
        for value in config:
            yield from _layer_names(value)


def _unnamed(config: Any, names: Mapping[str, int], *, wiring: bool = False) -> Any:
    """``config`` without layer names and seeds; wiring by name becomes wiring by the
    layer's position."""
    if isinstance(config, list | tuple):  # Keras keeps some wiring as tuples
        return [_unnamed(value, names, wiring=wiring) for value in config]
    if isinstance(config, str) and wiring and config in names:
        return f"#layer{names[config]}"
    if not isinstance(config, dict):
        return config
    return {
        key: _unnamed(value, names, wiring=wiring or key in _WIRING_KEYS)
        for key, value in config.items()
        if not (key == "seed" or (key == "name" and isinstance(value, str) and value in names))
    }


def architecture_summary(model: keras.Model) -> str:
    """One line a person can read: each layer's type and main sizes, nested unrolled."""
    from autograder.checks.architectures import flat_layers

    parts = []
    for layer in flat_layers(model):
        settings = layer.get_config()
        shown = [
            f"{key}={_short(settings[key])}"
            for key in _SUMMARY_KEYS
            if settings.get(key) not in (None, "linear")
        ]
        parts.append(f"{type(layer).__name__}({', '.join(shown)})")
    text = " -> ".join(parts) or "no layers"
    if len(text) > MAX_ARCHITECTURE_CHARS:
        text = text[: MAX_ARCHITECTURE_CHARS - 3] + "..."
    return text


def _short(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "x".join(str(item) for item in value)
    return str(value)


def default_settings(config: object) -> object:
    """A layer config with initializers, regularizers, constraints and dtype policies
    left to Keras' defaults and every layer trainable: only types and sizes remain."""
    if isinstance(config, list):
        return [default_settings(value) for value in config]
    if not isinstance(config, dict):
        return config
    cleaned = {}
    for key, value in config.items():
        if key in _RESET_KEYS or key.endswith(_RESET_SUFFIXES):
            continue
        cleaned[key] = True if key == "trainable" else default_settings(value)
    return cleaned


def fresh_copy(model: keras.Model) -> keras.Model:
    """The submitted architecture rebuilt from layer types and sizes alone: a nested
    model is rebuilt layer by layer too, so nothing fitted or frozen survives."""
    import keras

    def rebuild(layer: keras.layers.Layer) -> keras.layers.Layer:
        if isinstance(layer, keras.layers.InputLayer):
            return layer
        config = default_settings(layer.get_config())
        return type(layer).from_config(config)

    fresh = keras.models.clone_model(model, clone_function=rebuild)
    stack: list[keras.layers.Layer] = [fresh]
    while stack:  # trainable=True on a model does not reach layers frozen inside it
        layer = stack.pop()
        layer.trainable = True
        stack += list(getattr(layer, "layers", []))
    return fresh


def retrain(
    model: keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    stage: str,
    config: AssignmentConfig,
) -> keras.Model:
    """A fresh copy of the submitted architecture trained with the course budget on
    ``images`` (the training set only), so weights fitted elsewhere do not count."""
    import keras

    from mnist_course import training

    budget = config.stages[stage]
    keras.utils.set_random_seed(config.seed)
    fresh = training.compile_model(fresh_copy(model), budget.learning_rate)
    training.train_model(  # the course's compile and fit, as the reference trains
        fresh,
        prepare_images(fresh, images),
        integer_labels(labels),
        epochs=budget.epochs,
        batch_size=budget.batch_size,
        seed=config.seed,
        learning_rate_decay=budget.learning_rate_decay,
        verbose=0,
    )
    return fresh


def _optimizer(name: str, learning_rate: float) -> object:
    """The optimizer a trial named, made by Keras from its name (only the course's)."""
    import keras

    from mnist_course.tuning import OPTIMIZERS

    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer {name!r} is not one of {', '.join(OPTIMIZERS)}")
    return keras.optimizers.get({"class_name": name, "config": {"learning_rate": learning_rate}})


def tuned_validation_accuracy(
    model: keras.Model,
    hyperparameters: Mapping[str, object],
    images: np.ndarray,
    labels: np.ndarray,
    *,
    config: AssignmentConfig,
) -> float:
    """The submitted architecture re-trained from scratch with the chosen
    ``hyperparameters`` on the kit's search split of the *training* ``images`` (the same
    split the notebook searched on), and its accuracy on the kit's validation split."""
    import keras

    from mnist_course import training, tuning

    settings = config.tuning
    try:
        batch_size = int(hyperparameters["batch_size"])
        learning_rate = float(hyperparameters["learning_rate"])
        optimizer = str(hyperparameters["optimizer"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"the chosen trial lacks a usable {exc}") from None
    if not 0 < learning_rate <= 1 or not 0 < batch_size <= 4096:
        raise ValueError(f"batch size {batch_size} or learning rate {learning_rate} is not usable")
    keras.utils.set_random_seed(config.seed)
    fresh = fresh_copy(model)
    x_search, y_search, x_val, y_val = tuning.split_validation(
        prepare_images(fresh, images),
        integer_labels(labels),
        train_images=settings.train_images,
        validation_images=settings.validation_images,
        seed=config.seed,
    )
    fresh.compile(
        optimizer=_optimizer(optimizer, learning_rate),
        loss=training.LOSS,
        metrics=list(training.METRICS),
    )
    # fit() directly, not training.train_model: that re-seeds before fitting, and the
    # notebook's re-training (seed, build, fit) draws its batch order without a re-seed.
    fresh.fit(x_search, y_search, epochs=settings.epochs, batch_size=batch_size, verbose=0)
    return float(np.mean(predict_labels(fresh, x_val) == y_val))
