"""The test-set-fitting signal: the rule, the record that carries the measurement, the
judge's note (and its re-grading when the course says it costs points), the feedback
page's warning and the class report's flag."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import asdict, replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from autograder import analytics, judge
from autograder.checks import evaluation, models
from autograder.checks.confusion import ModelEvaluation, fitted_on_test
from autograder.formats import html
from autograder.messages import ModelUnit
from autograder.reports import GradeReport
from mnist_course.config import ConfigError, Integrity, parse_config

GOLDEN = Path(__file__).parent / "golden" / "submission-no-normalization.json"
RULE = Integrity()


@pytest.mark.parametrize(
    ("test", "sample", "flagged"),
    [
        (0.9220, 0.8952, True),  # the baseline fitted on the test set (bench)
        (0.9826, 0.9630, True),  # the CNN fitted on the test set
        (0.9920, 0.9956, False),  # the honest reference CNN: better on what it saw
        (0.9085, 0.8992, False),  # an honest ANN on 6,000 images: +0.9 points, 1.10x errors
        (0.9758, 0.9728, False),  # an honest CNN on 10,000 images: 1.12x errors, +0.3 points
        (0.9064, 0.8984, False),  # all 70,000 images: the test images are a seventh
        (0.5000, None, False),  # not measured: no evidence
    ],
)
def test_the_rule_needs_both_the_gap_and_the_ratio_of_errors(test, sample, flagged):
    assert fitted_on_test(test, sample, RULE) is flagged


def test_the_margins_come_from_the_course():
    strict = Integrity(max_honest_gap=0.002, max_honest_error_ratio=1.05)
    assert fitted_on_test(0.9085, 0.8992, strict) and not fitted_on_test(0.9085, 0.8992, RULE)


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"max_honest_error_ratio": 0.5}, "integrity.max_honest_error_ratio"),
        ({"max_honest_gap": 2}, "integrity.max_honest_gap"),
        ({"train_sample_images": 60001}, "integrity.train_sample_images"),
        ({"costs_point": True}, "integrity.costs_point': unknown key"),
    ],
)
def test_a_bad_integrity_setting_names_the_file_and_key(section, key):
    with pytest.raises(ConfigError, match="course.yaml") as error:
        parse_config({"integrity": section}, Path("course.yaml"))
    assert key in str(error.value)


def _record(stage: str = "baseline", sample: float | None = 0.85) -> ModelEvaluation:
    labels = np.arange(100) % 10
    predicted = labels.copy()
    predicted[:5] = (labels[:5] + 1) % 10  # 95% on the "test set"
    return replace(
        ModelEvaluation.from_predictions(stage, predicted, labels), train_sample_accuracy=sample
    )


def test_the_training_sample_accuracy_round_trips_and_is_validated():
    record = _record()
    assert ModelEvaluation.from_dict(json.loads(json.dumps(record.to_dict()))) == record
    old = record.to_dict()
    del old["train_sample_accuracy"]  # a report from before the field
    assert ModelEvaluation.from_dict(old).train_sample_accuracy is None
    for bad in (1.5, "0.9", True):
        with pytest.raises(ValueError, match="train_sample_accuracy must be a number"):
            ModelEvaluation.from_dict({**record.to_dict(), "train_sample_accuracy": bad})


def test_the_judges_sample_is_fixed_and_from_the_training_set():
    images, labels = np.arange(1000).reshape(1000, 1), np.arange(1000) % 10
    first = evaluation.train_sample(images, labels, size=100, seed=42)
    again = evaluation.train_sample(images, labels, size=100, seed=42)
    assert np.array_equal(first[0], again[0]) and len(set(first[0].ravel())) == 100
    assert np.array_equal(first[1], first[0].ravel() % 10)  # labels stay with their images
    assert len(evaluation.train_sample(images, labels, size=5000, seed=42)[0]) == 1000


def test_the_feedback_page_warns_of_a_model_fitted_on_the_test_set():
    config = parse_config({})
    report = GradeReport.from_dict(json.loads(GOLDEN.read_text(encoding="utf-8")))
    flagged = html.render(report, config=config, evaluations={"baseline": _record()})
    assert "was fitted on the test images" in flagged and "85.00% on training images" in flagged
    for honest in (_record(sample=0.97), _record(sample=None)):
        page = html.render(report, config=config, evaluations={"baseline": honest})
        assert "fitted on the test images" not in page


def test_the_class_report_lists_and_marks_submissions_fitted_on_the_test_set(tmp_path):
    folder = tmp_path / "graded"
    folder.mkdir()
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    for student, records in {
        "ada": [_record("baseline"), _record("cnn", 0.96)],
        "bob": [_record("baseline", 0.97), _record("cnn", None)],
    }.items():
        report = {**golden, "evaluations": [record.to_dict() for record in records]}
        result = {"format": 1, "student": student, "assignment": "mnist_digits",
                  "status": "graded", "error": "", "notebook_sha256": "0" * 64,
                  "config_sha256": "0" * 64, "seconds": 1.0, "report": report}  # fmt: skip
        (folder / f"{student}--mnist_digits.json").write_text(json.dumps(result))
    written = analytics.report(folder, config=parse_config({}))
    assert written.summary["fitted_on_test"] == [
        {"student": "ada", "assignment": "mnist_digits", "models": "baseline"}
    ]
    rows = {row["student"]: row for row in csv.DictReader(written.csv.open(encoding="utf-8"))}
    assert rows["ada"]["fitted_on_test"] == "baseline" and rows["bob"]["fitted_on_test"] == ""
    assert "Fitted on the test images" in written.page.read_text(encoding="utf-8")


@pytest.fixture()
def canon(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    return SimpleNamespace(
        x_train=x_train[:600], y_train=y_train[:600], x_test=x_test[:1000], y_test=y_test[:1000]
    )


@pytest.mark.parametrize("costs_points", [False, True])
def test_the_judge_notes_a_model_fitted_on_the_test_set(tmp_path, canon, helpers, costs_points):
    import keras

    keras.utils.set_random_seed(0)
    cheat, honest = helpers.hidden_layer(), helpers.hidden_layer()
    flat = {name: getattr(canon, name).reshape(-1, 784) / 255.0 for name in ("x_train", "x_test")}
    cheat.fit(flat["x_test"], canon.y_test, epochs=8, batch_size=32, verbose=0)
    honest.fit(flat["x_train"], canon.y_train, epochs=8, batch_size=32, verbose=0)
    cheat.save(tmp_path / "hidden_layer_model.keras")
    config = helpers.course_config()
    config = config.model_copy(
        update={"integrity": config.integrity.model_copy(update={"costs_points": costs_points})}
    )
    job = {"evidence": asdict(models.TrainingEvidence())}
    ids = tuple(c.id for c in config.assignment("mnist_digits").spec.checks_of("hidden_layer"))
    folder = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    work = tmp_path / "work"
    work.mkdir()
    try:
        verdicts = judge.judge_models(
            [ModelUnit("stage:hidden_layer", "stage", "hidden_layer_model", ids, job)],
            folder=folder, canon=canon, config=config.assignment("mnist_digits"),
            retrain=False, workdir=work, progress=lambda text: None,
        )  # fmt: skip
    finally:
        os.close(folder)
    verdict = verdicts["stage:hidden_layer"]
    record = verdict.evaluation
    assert record.train_sample_accuracy is not None
    assert record.accuracy - record.train_sample_accuracy > 0.05, record
    note = verdict.notes[0]  # re-graded, the re-training's own note may follow
    assert note.startswith("hidden_layer_model: Your model was fitted on the test images")
    accuracy = next(r for r in verdict.results if r.id == "hidden_layer.accuracy")
    regraded = "after re-training your architecture" in accuracy.message
    assert regraded is costs_points
    assert ("re-trained on the training images" in note) is costs_points
    # the honest model, judged the same way, is not flagged
    honest_record = evaluation.measure(honest, canon.x_test, canon.y_test, bar=0.0)
    sample = evaluation.train_sample(
        canon.x_train, canon.y_train, size=config.integrity.train_sample_images, seed=config.seed
    )
    assert not fitted_on_test(honest_record.accuracy, evaluation.accuracy(honest, *sample), RULE)
