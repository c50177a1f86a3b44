"""The trusted model judge: hostile models cost only their own checks, in a child process
with limits, and a judge that cannot start is the grader's error, not a student's zero."""

from __future__ import annotations

import os
from dataclasses import asdict
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from autograder import judge
from autograder.checks import evaluation, models
from autograder.grader import GradingError
from autograder.messages import ModelUnit


def checks(report) -> dict:
    return {result.id: result for result in report.results}


def stage_failed(report, stage: str, words: str) -> None:
    found = checks(report)
    for part in ("structure", "trained", "accuracy"):
        assert not found[f"{stage}.{part}"].passed
    assert words in found[f"{stage}.structure"].message, found[f"{stage}.structure"].message


def test_a_lookup_model_of_constant_test_images_is_refused(grade):
    report = grade("constant-lookup-model")
    stage_failed(report, "baseline", "Constant initializer holding an array")
    assert checks(report)["data.normalize"].passed  # the rest is graded as usual


def test_a_reused_dense_layer_is_refused_before_it_runs(grade):
    report = grade("reused-dense", training=True)
    stage_failed(report, "baseline", "used 200 times")


def test_a_reused_upsampling_layer_is_refused(grade):
    stage_failed(grade("reused-upsampling"), "baseline", "used 6 times")


def test_a_huge_config_is_refused_unread(grade):
    report = grade("huge-config")
    stage_failed(report, "baseline", "it was not read")
    assert "The model, not the grader, caused this" in checks(report)["baseline.structure"].message


@pytest.fixture()
def canon(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    return SimpleNamespace(
        x_train=x_train[:200], y_train=y_train[:200], x_test=x_test[:2000], y_test=y_test[:2000]
    )


def _stage_unit(config, stage: str) -> ModelUnit:
    """The unit the stage family plans for a model with no training clues."""
    job = {"evidence": asdict(models.TrainingEvidence())}
    ids = tuple(check.id for check in config.spec.checks_of(stage))
    return ModelUnit(f"stage:{stage}", "stage", config.spec.stage(stage).variable, ids, job)


def _judge(tmp_path, canon, helpers, stages, **kwargs):
    folder = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    said: list[str] = []
    try:
        return judge.judge_models(
            [_stage_unit(helpers.assignment_config(), stage) for stage in stages],
            folder=folder,
            canon=canon,
            config=helpers.assignment_config(),
            retrain=kwargs.get("retrain", False),
            workdir=work,
            progress=said.append,
        ), said
    finally:
        os.close(folder)


def test_a_model_over_the_time_limit_costs_only_its_own_checks(
    tmp_path, canon, helpers, monkeypatch
):
    slow = keras.Sequential([
        keras.Input(shape=(28, 28, 1)), keras.layers.Conv2D(512, 3, padding="same"),
        keras.layers.Conv2D(512, 3, padding="same"), keras.layers.Conv2D(512, 3, padding="same"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10, activation="softmax"),
    ])  # fmt: skip
    slow.save(tmp_path / "baseline_model.keras")
    hidden_model = helpers.hidden_layer()
    hidden_model.save(tmp_path / "hidden_layer_model.keras")
    monkeypatch.setattr(judge, "MEASURE_TIMEOUT_S", 2)
    verdicts, said = _judge(tmp_path, canon, helpers, ["baseline", "hidden_layer"])
    assert verdicts["stage:baseline"].results == (), verdicts["stage:baseline"].results[0].message
    assert "(time limit)" in verdicts["stage:baseline"].stopped
    assert "The model, not the grader, was the cause" in verdicts["stage:baseline"].stopped
    hidden = {result.id: result for result in verdicts["stage:hidden_layer"].results}
    assert hidden["hidden_layer.structure"].passed  # judged by a fresh child
    predicted = evaluation.predict_digits(hidden_model, canon.x_test)
    expected = evaluation.fingerprint(hidden_model, predicted)  # of the submitted model
    assert verdicts["stage:hidden_layer"].evaluation.fingerprint == expected
    assert "checking hidden_layer_model" in said


def test_a_judge_that_cannot_start_is_a_grading_error(tmp_path, canon, helpers, monkeypatch):
    helpers.baseline().save(tmp_path / "baseline_model.keras")
    monkeypatch.setattr(judge, "JUDGE_MEMORY_BYTES", 200 * 2**20)  # Python + Keras need more
    with pytest.raises(judge.JudgeError, match="could not start"):
        _judge(tmp_path, canon, helpers, ["baseline"])
    assert issubclass(GradingError, RuntimeError)


def test_retrain_rebuilds_layers_with_default_settings_all_trainable():
    frozen = keras.Sequential([
        keras.Input(shape=(784,)),
        keras.layers.Dense(10, kernel_initializer=keras.initializers.Constant(0.5),
                           kernel_regularizer="l2", trainable=False),
    ])  # fmt: skip
    fresh = evaluation.fresh_copy(frozen)
    dense = fresh.layers[0]
    assert dense.trainable and dense.kernel_regularizer is None
    assert len(np.unique(dense.kernel.numpy())) > 1  # not the constant any more


def test_an_accuracy_retraining_does_not_reproduce_gets_a_note():
    measured = evaluation.Measurement(0.99, 10000)
    close = evaluation.Measurement(0.99 - evaluation.NOT_REPRODUCED_MARGIN + 0.001, 10000)
    far = evaluation.Measurement(0.80, 10000, retrained=True)
    assert evaluation.not_reproduced_note("baseline_model", measured, close) is None
    note = evaluation.not_reproduced_note("baseline_model", measured, far)
    assert note is not None and "not reproduced by re-training" in note
    assert "99.00%" in note and "80.00%" in note
