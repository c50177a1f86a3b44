"""Checks of the three models: architecture, trained at all, and the accuracy bar."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from autograder.checks import architectures
from autograder.checks.evaluation import Measurement, input_shape
from autograder.checks.hints import PROBLEM_HINTS, Advice, ProblemKind, advise
from mnist_course import credit
from mnist_course.config import AssignmentConfig
from mnist_course.results import CheckResult, spec_for
from mnist_course.spec import StageSpec

if TYPE_CHECKING:
    import keras

CHANCE = 0.1


#: Pixel values above this in what fit() was given mean the images were not divided by 255.
RAW_PIXELS_ABOVE = 1.5
#: A model better on raw pixels than on scaled ones by this much was trained unscaled.
UNSCALED_MARGIN = 0.05
#: The notebook's own evaluate() above the grader's measurement by more than this is
#: explained in the hint.
OWN_EVALUATION_MARGIN = 0.01


@dataclass(frozen=True)
class ModelProblem:
    """Why a stage's model could not be judged; ``kind`` chooses the hint."""

    kind: ProblemKind
    message: str


def _shape(raw: Any) -> tuple[int | None, ...] | None:
    if not isinstance(raw, list | tuple) or len(raw) > 8:
        return None
    if not all(size is None or (isinstance(size, int) and size >= 0) for size in raw):
        return None
    return tuple(raw)


def _number(raw: Any) -> float | None:
    return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None


def _short(raw: Any) -> str | None:
    return str(raw)[:200] if isinstance(raw, str) else None


@dataclass(frozen=True)
class FitCall:
    """One call of ``fit`` or ``evaluate`` as the sandbox recorded it (see
    autograder.fit_evidence)."""

    kind: Literal["fit", "evaluate"] = "fit"
    x_shape: tuple[int | None, ...] | None = None
    x_max: float | None = None
    y_shape: tuple[int | None, ...] | None = None
    loss: str = ""
    input_shape: tuple[int | None, ...] | None = None
    error_type: str | None = None
    error: str | None = None
    accuracy: float | None = None  # what evaluate() reported

    @classmethod
    def from_record(cls, raw: Any) -> FitCall | None:
        """A validated record, or None when ``raw`` is not one (student code can write it)."""
        if not isinstance(raw, Mapping):
            return None
        x = raw.get("x") if isinstance(raw.get("x"), Mapping) else {}
        y = raw.get("y") if isinstance(raw.get("y"), Mapping) else {}
        return cls(
            kind="evaluate" if raw.get("kind") == "evaluate" else "fit",
            x_shape=_shape(x.get("shape")),
            x_max=_number(x.get("max")),
            y_shape=_shape(y.get("shape")),
            loss=_short(raw.get("loss")) or "",
            input_shape=_shape(raw.get("input_shape")),
            error_type=_short(raw.get("error_type")),
            error=_short(raw.get("error")),
            accuracy=_number(raw.get("accuracy")),
        )

    @property
    def sparse_loss(self) -> bool:
        return "sparse" in self.loss.lower()

    @property
    def one_hot_labels(self) -> bool:
        return self.y_shape is not None and len(self.y_shape) == 2 and self.y_shape[1] == 10

    @property
    def wrong_input_shape(self) -> bool:
        """The inputs' per-example shape differs from the model's keras.Input."""
        if self.x_shape is None or self.input_shape is None:
            return False
        return self.x_shape[1:] != self.input_shape[1:]


@dataclass(frozen=True)
class TrainingEvidence:
    """Untrusted clues from the student process, used only to choose a hint."""

    optimizer_steps: int | None = None
    loss: str | None = None
    labels_one_hot: bool = False
    fits: tuple[FitCall, ...] = ()

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> TrainingEvidence:
        """Rebuilt from ``dataclasses.asdict`` after a JSON round trip (trusted data: the
        grader made it; untrusted clues go through :func:`training_evidence`)."""

        def tuples(value: Any) -> Any:
            return tuple(tuples(item) for item in value) if isinstance(value, list) else value

        fits = tuple(
            FitCall(**{key: tuples(value) for key, value in call.items()})
            for call in raw.get("fits", ())
        )
        return cls(
            optimizer_steps=raw.get("optimizer_steps"),
            loss=raw.get("loss"),
            labels_one_hot=bool(raw.get("labels_one_hot")),
            fits=fits,
        )


def training_evidence(info: Mapping[str, Any], *, labels_one_hot: bool = False) -> TrainingEvidence:
    """The clues the sandbox exported about one model (``info``, its manifest entry, and
    the manifest's ``labels_one_hot``), validated field by field: student code may have
    written any of them."""
    steps = info.get("optimizer_steps")
    fits = info.get("fits") if isinstance(info.get("fits"), list) else []
    calls = (FitCall.from_record(raw) for raw in fits[:8])
    return TrainingEvidence(
        optimizer_steps=steps if isinstance(steps, int) and not isinstance(steps, bool) else None,
        loss=str(info.get("loss"))[:200] if info.get("loss") is not None else None,
        labels_one_hot=labels_one_hot is True,
        fits=tuple(call for call in calls if call is not None),
    )


def stage_spec(config: AssignmentConfig, stage: str) -> StageSpec:
    """The spec of ``stage``; ValueError names the assignment's stages."""
    try:
        return config.spec.stage(stage)
    except KeyError as exc:
        raise ValueError(exc.args[0]) from None


def _names(stage: StageSpec) -> dict[str, str]:
    return {"variable": stage.variable, "builder": stage.builder}


def _problem(stage: StageSpec, problem: ModelProblem | str | None) -> tuple[str, Advice]:
    """Message and hint for a model that could not be judged."""
    if problem is None:
        problem = ModelProblem("missing", f"{stage.variable} is not defined.")
    elif isinstance(problem, str):  # a reason without a kind: the generic advice
        problem = ModelProblem("missing", problem)
    return problem.message, advise(PROBLEM_HINTS[problem.kind], **_names(stage))


def check_structure(
    stage: str,
    model: keras.Model | None,
    *,
    config: AssignmentConfig,
    problem: ModelProblem | str | None = None,
) -> CheckResult:
    """The architecture the stage asks for (``problem`` says why ``model`` is None)."""
    spec_of_stage = stage_spec(config, stage)
    spec = spec_for(f"{stage}.structure", config)
    if model is None:
        return spec.failed(*_problem(spec_of_stage, problem))
    try:
        shape = tuple(input_shape(model)[1:])
    except ValueError as exc:
        return spec.failed(
            f"{spec_of_stage.variable}: {exc}.",
            advise("no_input_shape", input_shape=spec_of_stage.input_shape),
        )
    outputs = [int(out.shape[-1]) for out in getattr(model, "outputs", [])]
    if outputs != [10]:
        described = " -> ".join(architectures.layer_names(model)) or "no layers"
        return spec.failed(
            f"The model has outputs {outputs} ({described}); it needs one output of 10 scores.",
            advise("output_units", outputs=outputs),
        )
    judge = architectures.ARCHITECTURES[spec_of_stage.architecture]
    verdict = judge(model, shape, config.stages[stage])
    if verdict.passed:
        return spec.passed(verdict.message)
    return spec.failed(verdict.message, verdict.advice)


def _input_advice(given: tuple[int | None, ...], expected: tuple[int | None, ...]) -> str:
    if expected == (784,) and len(given) >= 2:
        return "Pass the flattened images (X_train_flattened): flatten() must return (n, 784)."
    if len(expected) >= 2 and len(given) == 1:
        return "The CNN takes images: pass normalize(X_train).reshape(-1, 28, 28, 1)."
    return "Pass arrays whose shape after the first axis matches the model's keras.Input."


def _training_advice(
    stage: StageSpec, evidence: TrainingEvidence, measurement: Measurement
) -> Advice | None:
    """The mistake the evidence shows, most specific first; None when it shows none."""
    fits = [call for call in evidence.fits if call.kind == "fit"]
    failed = [call for call in fits if call.error_type]
    for call in failed or fits:
        if call.one_hot_labels and call.sparse_loss:
            return advise("one_hot_sparse_loss", labels=call.y_shape)
    sparse = "sparse" in (evidence.loss or "").lower()
    if evidence.labels_one_hot and sparse and (failed or evidence.optimizer_steps == 0):
        return advise("one_hot_sparse_loss", labels="(y_train is one-hot)")
    for call in failed:
        if call.wrong_input_shape:
            given, expected = call.x_shape or (), call.input_shape or ()
            return advise(
                "fit_input_shape",
                given=given,
                expected=expected[1:],
                advice=_input_advice(given[1:], expected[1:]),
            )
    if failed and len(failed) == len(fits):
        error = f"{failed[-1].error_type}: {(failed[-1].error or '').splitlines()[0][:150]}"
        return advise("fit_failed", error=error, **_names(stage))
    raw = [call.x_max for call in fits if not call.error_type and call.x_max is not None]
    if raw and max(raw) > RAW_PIXELS_ABOVE:
        seen = f"fit() got pixel values up to {max(raw):g}"
        own = [
            call.accuracy
            for call in evidence.fits
            if call.kind == "evaluate"
            and call.accuracy is not None
            and (call.x_max or 0) > RAW_PIXELS_ABOVE
        ]
        if own:
            seen += (
                f"; your own evaluate() reported {own[-1]:.2%} because it was given raw "
                f"test pixels too, while the grader measured {measurement.accuracy:.2%}"
            )
        return advise("trained_on_raw_pixels", evidence=seen)
    unscaled = measurement.unscaled_accuracy
    if unscaled is not None and unscaled > measurement.accuracy + UNSCALED_MARGIN:
        return advise(
            "trained_on_raw_pixels",
            evidence=f"it scores {unscaled:.1%} on raw pixels and {measurement.accuracy:.1%} "
            "on scaled ones",
        )
    if evidence.optimizer_steps == 0 and not fits:
        return advise("never_trained", **_names(stage))
    return _own_evaluation_advice(evidence, measurement)


def _own_evaluation_advice(evidence: TrainingEvidence, measurement: Measurement) -> Advice | None:
    """Why the notebook's own evaluate() reported more than the grader measured."""
    own = [c for c in evidence.fits if c.kind == "evaluate" and c.accuracy is not None]
    if not own or own[-1].accuracy <= measurement.accuracy + OWN_EVALUATION_MARGIN:
        return None
    call = own[-1]
    if call.x_max is not None and call.x_max > RAW_PIXELS_ABOVE:
        reason = f"it was given test images with values up to {call.x_max:g}, not normalized"
    elif call.x_shape and call.x_shape[0] != measurement.images:
        reason = f"it used {call.x_shape[0]} images, not the {measurement.images} test images"
    else:
        reason = "it was given other images or labels than the test set"
    return advise(
        "own_evaluation_differs",
        own=call.accuracy,
        measured=measurement.accuracy,
        images=measurement.images,
        reason=reason,
    )


def _unjudged(
    stage: StageSpec, problem: ModelProblem | str | None, structure: CheckResult | None
) -> tuple[str, Advice]:
    """Message and hint when there is no measurement: a failed architecture check that
    explains why (a model without 10 outputs cannot be scored) wins over the problem."""
    message, advice = _problem(stage, problem)
    if (
        structure is not None
        and not structure.passed
        and structure.hint_category not in PROBLEM_HINTS.values()
    ):
        advice = Advice(structure.hint_category, structure.hint)
    return message, advice


def check_trained(
    stage: str,
    measurement: Measurement | None,
    *,
    config: AssignmentConfig,
    problem: ModelProblem | str | None = None,
    evidence: TrainingEvidence | None = None,
    structure: CheckResult | None = None,
) -> CheckResult:
    """Accuracy far above chance: the model learnt something. ``structure`` is the
    stage's architecture verdict, which explains a model that could not be measured."""
    spec_of_stage = stage_spec(config, stage)
    spec = spec_for(f"{stage}.trained", config)
    if measurement is None:
        return spec.failed(*_unjudged(spec_of_stage, problem, structure))
    floor = config.grading.trained_min_accuracy
    if measurement.accuracy >= floor:
        return spec.passed(f"Trained: test accuracy is far above chance ({CHANCE:.0%}).")
    advice = _training_advice(spec_of_stage, evidence or TrainingEvidence(), measurement)
    return spec.failed(
        f"Test accuracy {measurement.accuracy:.1%} is close to chance ({CHANCE:.0%}); a trained "
        f"model reaches at least {floor:.0%}.",
        advice or advise("undertrained", **_names(spec_of_stage)),
    )


def _with_partial_credit(
    result: CheckResult, accuracy: float, bar: float, config: AssignmentConfig
) -> CheckResult:
    """``result``, a measured accuracy below its bar, with the points course.yaml's
    grading.partial_credit gives it and how they were computed (unchanged when the
    check is all or nothing). It stays failed: partial points are not a pass."""
    if credit.rule_for(config, result.id) is None:
        return result
    scored = credit.check_credit(config, result.id, accuracy, bar=bar, max_points=result.max_points)
    return dataclasses.replace(
        result,
        points=scored.points,
        message=f"{result.message} Partial credit: {scored.explanation}",
    )


def check_accuracy(
    stage: str,
    measurement: Measurement | None,
    *,
    config: AssignmentConfig,
    problem: ModelProblem | str | None = None,
    evidence: TrainingEvidence | None = None,
    structure: CheckResult | None = None,
) -> CheckResult:
    """Test accuracy measured by the grader reaches the stage's bar in course.yaml."""
    spec_of_stage = stage_spec(config, stage)
    spec = spec_for(f"{stage}.accuracy", config)
    if measurement is None:
        return spec.failed(*_unjudged(spec_of_stage, problem, structure))
    bar = config.stages[stage].min_test_accuracy
    how = (
        "after re-training your architecture from scratch on the training data"
        if measurement.retrained
        else "as measured by the grader"
    )
    measured = f"Test accuracy {measurement.accuracy:.2%} on {measurement.images} images ({how})"
    if measurement.accuracy >= bar:
        return spec.passed(f"{measured} reaches the bar of {bar:.2%}.")
    gap = (bar - measurement.accuracy) * 100
    advice = (
        None
        if measurement.retrained
        else _training_advice(spec_of_stage, evidence or TrainingEvidence(), measurement)
    )
    capacity = (
        "add capacity (more filters or a dense layer after Flatten)"
        if spec_of_stage.architecture == "cnn"
        else "use the course's architecture"
    )
    failed = spec.failed(
        f"{measured} is {gap:.2f} percentage points below the bar of {bar:.2%}.",
        advice or advise("below_bar", gap=gap, capacity=capacity),
    )
    return _with_partial_credit(failed, measurement.accuracy, bar, config)


def check_perturbed(
    stage: str,
    measurement: Measurement | None,
    *,
    config: AssignmentConfig,
    problem: ModelProblem | str | None = None,
    evidence: TrainingEvidence | None = None,
    structure: CheckResult | None = None,
) -> CheckResult:
    """Accuracy on the grader's perturbed test set (rotated, shifted, zoomed digits)
    reaches the stage's min_perturbed_accuracy."""
    spec_of_stage = stage_spec(config, stage)
    spec = spec_for(f"{stage}.perturbed", config)
    if measurement is None:
        return spec.failed(*_unjudged(spec_of_stage, problem, structure))
    bar = config.stages[stage].min_perturbed_accuracy or 0.0
    measured = (
        f"Accuracy {measurement.accuracy:.2%} on {measurement.images} test digits the grader "
        "rotated, shifted and zoomed"
    )
    if measurement.accuracy >= bar:
        return spec.passed(f"{measured} reaches the bar of {bar:.2%}.")
    if structure is not None and not structure.passed:
        advice = Advice(structure.hint_category, structure.hint)
    else:
        advice = advise("not_robust")
    failed = spec.failed(f"{measured} is below the bar of {bar:.2%}.", advice)
    return _with_partial_credit(failed, measurement.accuracy, bar, config)
