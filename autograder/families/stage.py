"""The stage family: one model the assignment trains, judged on its architecture, on
being trained, on the test-accuracy bar and, where the spec asks, on perturbed digits.

The trusted verdicts need Keras, so they run in the model judge's child, one unit of work
per stage: the model is loaded once, measured once on the grader's own test set (and on
its training sample, for the test-set-fitting signal), re-trained when asked, and all the
stage's checks come from that. The notebook measures the live model the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np

from autograder import artifacts
from autograder.checks import evaluation, models
from autograder.checks.confusion import ModelEvaluation, fitted_on_test
from autograder.checks.hints import advise
from autograder.families.base import (
    TRAIN_SAMPLE,
    ChildContext,
    ExportContext,
    Family,
    Judge,
    ModelWork,
    NotebookContext,
    UnitVerdict,
)
from autograder.messages import ModelUnit
from mnist_course.config import AssignmentConfig
from mnist_course.results import CheckResult, spec_for
from mnist_course.spec import Check

if TYPE_CHECKING:
    import keras


def _verdict(
    check: Check,
    measurement: evaluation.Measurement | None,
    *,
    graded: evaluation.Measurement | None = None,
    perturbed: evaluation.Measurement | None = None,
    **judged: Any,
) -> CheckResult:
    """The verdict of one stage check from what was measured of its model; ``judged``
    holds the config, the problem, the training evidence and the architecture verdict."""
    stage, kind = check.stage or "", check.judge.partition(".")[2]
    if kind == "structure":
        return judged["structure"]
    if kind == "trained":
        return models.check_trained(stage, measurement, **judged)
    if kind == "accuracy":
        return models.check_accuracy(stage, graded or measurement, **judged)
    return models.check_perturbed(stage, perturbed, **judged)


def check_stage(
    stage: str,
    model: keras.Model | None,
    measurement: evaluation.Measurement | None,
    *,
    config: AssignmentConfig,
    graded: evaluation.Measurement | None = None,
    problem: models.ModelProblem | str | None = None,
    evidence: models.TrainingEvidence | None = None,
    perturbed: evaluation.Measurement | None = None,
) -> tuple[CheckResult, ...]:
    """A stage's checks, in the spec's order. ``graded`` is the measurement the bar applies
    to when it is not ``measurement`` (a re-trained copy's); the architecture verdict
    explains a model that could not be measured."""
    structure = models.check_structure(stage, model, config=config, problem=problem)
    judged = {"config": config, "problem": problem, "evidence": evidence, "structure": structure}
    return tuple(
        _verdict(check, measurement, graded=graded, perturbed=perturbed, **judged)
        for check in config.spec.checks_of(stage)
    )


# The notebook side: the live model, measured on the kit's own copy of the test set.


def _notebook_structure(
    context: NotebookContext, check: Check, values: Sequence[object]
) -> CheckResult:
    """The architecture of a new model from the stage's builder, which this calls itself,
    so a builder still raising the release's NotImplementedError is "not written yet"."""
    stage, config = check.stage or "", context.config
    (builder,) = values
    name = check.reads[0]
    if builder is None:
        return models.check_structure(stage, None, config=config)
    if not callable(builder):
        problem = models.ModelProblem("missing", f"{name} is not a function.")
        return models.check_structure(stage, None, config=config, problem=problem)
    try:
        model = builder()
    except NotImplementedError:
        advice = advise("not_written_yet", function=name)
        return spec_for(check.id, config).failed(f"{name}() is not written yet.", advice)
    except Exception as exc:  # the student's builder may raise anything
        problem = models.ModelProblem("unusable", f"{name}() raised {type(exc).__name__}: {exc}")
        return models.check_structure(stage, None, config=config, problem=problem)
    return models.check_structure(stage, model, config=config)


def _notebook_measured(
    context: NotebookContext, check: Check, values: Sequence[object]
) -> CheckResult:
    """A trained, accuracy or perturbed check of a live model (its ``X_test, y_test``
    are read only for a hint: the measurement uses the kit's own copy)."""
    model, _, y_test = values
    stage, config = check.stage or "", context.config
    perturbed = check.judge == "stage.perturbed"
    if model is None:
        return _verdict(check, None, config=config, problem=None, evidence=None, structure=None)
    try:
        measurement = context.measure(stage, model, perturbed=perturbed)
        problem = None
    except (ValueError, AttributeError, TypeError) as exc:
        measurement = None
        problem = models.ModelProblem("not_evaluable", f"The model could not be evaluated: {exc}.")
    steps = getattr(getattr(model, "optimizer", None), "iterations", None)
    evidence = models.TrainingEvidence(
        optimizer_steps=int(np.asarray(steps)) if steps is not None else None,
        loss=str(getattr(model, "loss", None)),
        labels_one_hot=np.asarray(y_test).ndim == 2,
    )
    return _verdict(
        check,
        measurement,
        perturbed=measurement if perturbed else None,
        config=config,
        problem=problem,
        evidence=evidence,
        structure=models.check_structure(stage, model, config=config),
    )


# The trusted side: units planned in the grader, judged in the model judge's child.


def _plan(exported: ExportContext, checks: Sequence[Check]) -> list[ModelUnit]:
    """One unit per judged stage, in the spec's order of stages."""
    judged = {check.stage for check in checks}
    units = []
    for stage in exported.config.spec.stages:
        if stage.id not in judged:
            continue
        evidence = exported.training_evidence(stage.variable)
        problem = exported.model_problem(stage.variable)
        job = None if problem else {"evidence": asdict(evidence)}
        ids = tuple(check.id for check in exported.config.spec.checks_of(stage.id))
        units.append(ModelUnit(f"stage:{stage.id}", "stage", stage.variable, ids, job))
    return units


def _unjudged(
    exported: ExportContext, unit: ModelUnit, stopped: str | None
) -> tuple[CheckResult, ...]:
    config = exported.config
    stage = config.spec.check(unit.checks[0]).stage or ""
    evidence = exported.training_evidence(unit.variable)
    problem = (
        models.ModelProblem("too_large", stopped)
        if stopped
        else exported.model_problem(unit.variable, first_error=True)
        or models.ModelProblem("missing", f"{unit.variable} was not judged.")
    )
    return check_stage(stage, None, None, config=config, problem=problem, evidence=evidence)


def fitted_on_test_note(
    variable: str, measured: float, sample: float, *, images: int, costs_points: bool
) -> str:
    """The report note (and the student's hint) for a model fitted on the test set."""
    consequence = (
        "Its accuracy was graded on its architecture re-trained on the training images."
        if costs_points
        else "It costs no points, but your instructor sees it."
    )
    advice = advise(
        "fitted_on_test", test=measured, train=sample, images=images, consequence=consequence
    )
    return f"{variable}: {advice.text}"


_perturbed_sets: dict[int, np.ndarray] = {}


def _perturbed(canon: Any, seed: int) -> np.ndarray:
    """The grader's perturbed test set (made once per child)."""
    from mnist_course import perturbation

    if seed not in _perturbed_sets:
        _perturbed_sets[seed] = perturbation.perturbed_test_set(canon["x_test"], seed=seed)
    return _perturbed_sets[seed]


def _judge(context: ChildContext, unit: ModelUnit) -> UnitVerdict:
    """In the child: one model's checks and notes."""
    config, canon, variable = context.config, context.canon, unit.variable
    stage = config.spec.check(unit.checks[0]).stage or ""
    retrain = context.retrain
    model, problem, measurement, retrained, perturbed = None, None, None, None, None
    retrained_model = None
    context.say(f"checking {variable}")
    try:
        model = context.load_model(variable)
    except artifacts.ArtifactError as exc:
        problem = models.ModelProblem(exc.kind, f"{variable}: {exc}.")
    notes: list[str] = []
    sample_accuracy = None
    if model is not None:
        bar = config.stages[stage].min_test_accuracy
        try:
            measurement = evaluation.measure(model, canon["x_test"], canon["y_test"], bar=bar)
            sample_accuracy = evaluation.accuracy(model, *(canon[name] for name in TRAIN_SAMPLE))
            integrity = config.integrity
            if fitted_on_test(measurement.accuracy, sample_accuracy, integrity):
                notes.append(
                    fitted_on_test_note(
                        variable,
                        measurement.accuracy,
                        sample_accuracy,
                        images=len(canon[TRAIN_SAMPLE[1]]),
                        costs_points=integrity.costs_points,
                    )
                )
                retrain = retrain or integrity.costs_points
            if retrain:
                context.say(f"re-training {variable}'s architecture")
                fresh = evaluation.retrain(
                    model, canon["x_train"], canon["y_train"], stage=stage, config=config
                )
                retrained_model = fresh
                retrained = evaluation.measure(
                    fresh, canon["x_test"], canon["y_test"], bar=bar, retrained=True
                )
                note = evaluation.not_reproduced_note(variable, measurement, retrained)
                notes += [note] if note else []
            if any(check.judge == "stage.perturbed" for check in config.spec.checks_of(stage)):
                context.say(f"measuring {variable} on rotated, shifted and zoomed digits")
                bar = config.stages[stage].min_perturbed_accuracy or 0.0
                perturbed = evaluation.measure(
                    retrained_model if retrain else model,
                    _perturbed(canon, config.seed),
                    canon["y_test"],
                    bar=bar,
                )
        except MemoryError:
            raise
        except Exception as exc:  # a loaded model can still fail on real inputs
            if type(exc).__name__ == "ResourceExhaustedError":  # TensorFlow's MemoryError
                raise MemoryError from exc
            problem = models.ModelProblem(
                "not_evaluable",
                f"{variable} could not be evaluated: {type(exc).__name__}: {exc}"[:500],
            )
            measurement = retrained = perturbed = sample_accuracy = None
            notes = []
    results = check_stage(
        stage,
        model,
        measurement,
        config=config,
        graded=retrained if retrain else None,
        problem=problem,
        evidence=models.TrainingEvidence.from_dict((unit.job or {}).get("evidence", {})),
        perturbed=perturbed,
    )
    record = None
    if model is not None and measurement is not None and measurement.predicted is not None:
        record = ModelEvaluation.from_predictions(stage, measurement.predicted, canon["y_test"])
        try:  # of the submitted model, never a re-trained one
            fingerprint = evaluation.fingerprint(model, measurement.predicted)
        except (TypeError, ValueError, AttributeError, KeyError):
            fingerprint = None  # an odd config costs the comparison, never the grade
        record = dataclasses.replace(
            record, fingerprint=fingerprint, train_sample_accuracy=sample_accuracy
        )
    return UnitVerdict(results, tuple(notes), evaluation=record)


FAMILY = Family(
    "stage",
    {
        "structure": Judge(_notebook_structure),
        "trained": Judge(_notebook_measured, required=1),
        "accuracy": Judge(_notebook_measured, required=1),
        "perturbed": Judge(_notebook_measured, required=1),
    },
    ModelWork(_plan, _judge, _unjudged),
)
