"""Checks of the three models: architecture, trained at all, and the accuracy bar."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from autograder.checks.evaluation import Measurement, input_shape
from autograder.checks.result import CheckResult, spec_for
from autograder.config import STAGES, CourseConfig

if TYPE_CHECKING:
    import keras

#: The notebook variable holding each stage's trained model, and its builder.
MODEL_NAMES = {
    "baseline": "baseline_model",
    "hidden_layer": "hidden_layer_model",
    "cnn": "cnn_model",
}
BUILDER_NAMES = {
    "baseline": "build_baseline_ann",
    "hidden_layer": "build_hidden_layer_ann",
    "cnn": "build_cnn",
}
CHANCE = 0.1


@dataclass(frozen=True)
class TrainingEvidence:
    """Untrusted clues from the student process, used only to choose a hint."""

    optimizer_steps: int | None = None
    loss: str | None = None
    labels_one_hot: bool = False
    errors: tuple[str, ...] = ()


def training_evidence(
    info: Mapping[str, Any], manifest: Mapping[str, Any], errors: tuple[str, ...]
) -> TrainingEvidence:
    """The clues the sandbox exported about one model (``info``, its manifest entry),
    validated field by field: student code may have written any of them."""
    steps = info.get("optimizer_steps")
    return TrainingEvidence(
        optimizer_steps=steps if isinstance(steps, int) else None,
        loss=str(info.get("loss"))[:200] if info.get("loss") is not None else None,
        labels_one_hot=manifest.get("labels_one_hot") is True,
        errors=errors,
    )


def _check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")


def layer_names(model: keras.Model) -> list[str]:
    """Class names of every layer, nested models unrolled."""

    def walk(container: object) -> Iterator[str]:
        for layer in getattr(container, "layers", []):
            if getattr(layer, "layers", None) is not None and hasattr(layer, "inputs"):
                yield from walk(layer)
            else:
                yield type(layer).__name__

    return list(walk(model))


def _dense_units(model: keras.Model) -> list[int]:
    units = []
    stack = list(getattr(model, "layers", []))
    while stack:
        layer = stack.pop(0)
        if getattr(layer, "layers", None) is not None and hasattr(layer, "inputs"):
            stack[:0] = list(layer.layers)
        elif type(layer).__name__ == "Dense":
            units.append(int(layer.units))
    return units


def _missing(stage: str, problem: str | None) -> tuple[str, str]:
    variable, builder = MODEL_NAMES[stage], BUILDER_NAMES[stage]
    message = problem or f"{variable} is not defined."
    hint = (
        f"Define `{builder}()` returning a new compiled keras.Model, then create and train "
        f"`{variable} = {builder}()` with `{variable}.fit(...)`; every cell must run without "
        "errors from top to bottom."
    )
    return message, hint


def check_structure(
    stage: str, model: keras.Model | None, *, config: CourseConfig, problem: str | None = None
) -> CheckResult:
    """The architecture the stage asks for (``problem`` says why ``model`` is None)."""
    _check_stage(stage)
    spec = spec_for(f"{stage}.structure", config)
    if model is None:
        return spec.failed(*_missing(stage, problem))
    try:
        shape = input_shape(model)[1:]
    except ValueError as exc:
        return spec.failed(f"{MODEL_NAMES[stage]}: {exc}.", "Add a keras.Input layer.")
    names = layer_names(model)
    dense = _dense_units(model)
    convs = [n for n in names if n.startswith("Conv")]
    outputs = [int(out.shape[-1]) for out in getattr(model, "outputs", [])]
    described = " -> ".join(names) or "no layers"
    if outputs != [10]:
        return spec.failed(
            f"The model has outputs {outputs} ({described}); it needs one output of 10 scores.",
            "End with `keras.layers.Dense(10, activation='softmax')`: one score per digit.",
        )
    if stage == "baseline":
        if len(dense) > 1 or convs:
            return spec.failed(
                f"The baseline has a hidden layer: {described}.",
                "The baseline is a single Dense(10) on the 784 inputs with no hidden layer. "
                "Move extra layers to build_hidden_layer_ann().",
            )
        if tuple(shape) != (784,):
            return spec.failed(
                f"The baseline takes inputs of shape {tuple(shape)}.",
                "The baseline takes flattened images: start with keras.Input(shape=(784,)).",
            )
        return spec.passed("Baseline: a single Dense(10) on 784 inputs.")
    if stage == "hidden_layer":
        if len(dense) < 2:
            return spec.failed(
                f"The hidden-layer ANN has no hidden Dense layer: {described}.",
                "Add at least one hidden layer before the output, e.g. "
                "`keras.layers.Dense(128, activation='relu')`.",
            )
        if tuple(shape) != (784,):
            return spec.failed(
                f"The hidden-layer ANN takes inputs of shape {tuple(shape)}.",
                "ANNs take flattened images: start with keras.Input(shape=(784,)).",
            )
        return spec.passed(f"Hidden-layer ANN: {len(dense) - 1} hidden Dense layer(s).")
    missing = [
        label
        for label, present in (
            ("Conv2D", "Conv2D" in names),
            ("MaxPooling2D", "MaxPooling2D" in names),
            ("Flatten", "Flatten" in names),
        )
        if not present
    ]
    if "Conv2D" in missing:
        return spec.failed(
            f"The CNN has no Conv2D layer: {described}.",
            "A CNN needs convolutions: add `keras.layers.Conv2D(32, (3, 3), activation='relu')` "
            "on keras.Input(shape=(28, 28, 1)), then MaxPooling2D, Flatten and Dense(10).",
        )
    if missing:
        return spec.failed(
            f"The CNN is missing {', '.join(missing)}: {described}.",
            "Follow Conv2D with keras.layers.MaxPooling2D((2, 2)), then keras.layers.Flatten() "
            "before the Dense output layer.",
        )
    if tuple(shape) not in {(28, 28, 1), (28, 28)}:
        return spec.failed(
            f"The CNN takes inputs of shape {tuple(shape)}.",
            "The CNN takes images, not vectors: start with keras.Input(shape=(28, 28, 1)).",
        )
    return spec.passed("CNN: Conv2D, MaxPooling2D and Flatten present.")


def _training_hint(stage: str, evidence: TrainingEvidence) -> str:
    variable = MODEL_NAMES[stage]
    loss = (evidence.loss or "").lower()
    shape_error = any(
        "shape" in error.lower() and ("incompatible" in error.lower() or "same" in error.lower())
        for error in evidence.errors
    )
    if evidence.labels_one_hot and "sparse" in loss or ("sparse" in loss and shape_error):
        return (
            "The labels are one-hot but the loss is sparse_categorical_crossentropy, so fit() "
            "failed or learnt nothing. Keep the integer labels from load_mnist() (or use "
            "categorical_crossentropy with one-hot labels, but not both)."
        )
    if evidence.optimizer_steps == 0:
        return (
            f"The model never trained: its optimizer took 0 steps. Call "
            f"`{variable}.fit(X_train_..., y_train, epochs=..., batch_size=...)` after building "
            "it, and make sure that cell runs without errors."
        )
    return (
        f"Train `{variable}` with fit() on the normalized training images and the integer "
        "labels; check the training cell ran without errors and the loss went down."
    )


def check_trained(
    stage: str,
    measurement: Measurement | None,
    *,
    config: CourseConfig,
    problem: str | None = None,
    evidence: TrainingEvidence | None = None,
) -> CheckResult:
    """Accuracy far above chance: the model learnt something."""
    _check_stage(stage)
    spec = spec_for(f"{stage}.trained", config)
    if measurement is None:
        return spec.failed(*_missing(stage, problem))
    floor = config.grading.trained_min_accuracy
    if measurement.accuracy >= floor:
        return spec.passed(f"Trained: test accuracy is far above chance ({CHANCE:.0%}).")
    evidence = evidence or TrainingEvidence()
    hint = _training_hint(stage, evidence)
    unscaled = measurement.unscaled_accuracy
    if unscaled is not None and unscaled >= floor:
        hint = (
            "The model works on raw 0-255 pixels but not on pixels divided by 255: it was "
            "trained without normalize(). Train it on normalized images."
        )
    return spec.failed(
        f"Test accuracy {measurement.accuracy:.1%} is close to chance ({CHANCE:.0%}); a trained "
        f"model reaches at least {floor:.0%}.",
        hint,
    )


def check_accuracy(
    stage: str,
    measurement: Measurement | None,
    *,
    config: CourseConfig,
    problem: str | None = None,
) -> CheckResult:
    """Test accuracy measured by the grader reaches the stage's bar in course.yaml."""
    _check_stage(stage)
    spec = spec_for(f"{stage}.accuracy", config)
    if measurement is None:
        return spec.failed(*_missing(stage, problem))
    bar = config.stages[stage].min_test_accuracy
    how = (
        "after re-training your architecture from scratch on the training data"
        if measurement.retrained
        else "as measured by the grader"
    )
    measured = f"Test accuracy {measurement.accuracy:.2%} on {measurement.images} images ({how})"
    if measurement.accuracy >= bar:
        return spec.passed(f"{measured} reaches the bar of {bar:.2%}.")
    gap = bar - measurement.accuracy
    hint = (
        f"Raise it by at least {gap * 100:.2f} percentage points: check the inputs are "
        "normalized, train for the course's number of epochs, "
    )
    hint += (
        "and add capacity (more filters or a dense layer after Flatten)."
        if stage == "cnn"
        else "and use the course's architecture."
    )
    unscaled = measurement.unscaled_accuracy
    if unscaled is not None and unscaled > measurement.accuracy + 0.05:
        hint = (
            f"It is {gap * 100:.2f} points below the bar. The model does better on raw 0-255 "
            "pixels: it was trained without normalize(). Train on normalized images."
        )
    return spec.failed(f"{measured} is {gap * 100:.2f} points below the bar of {bar:.2%}.", hint)
