"""Scenario notebooks of test-set fitting, graded in the sandbox: models fitted on the
test images are flagged (also when fit() is called past the grader's record of it),
honest ones, and ones that only validate on the test images, are not; by default the
flag costs no points."""

from __future__ import annotations

import pytest

from autograder.reports import GradeReport
from mnist_course.assignments import get_spec

STAGES = {stage.id: stage.variable for stage in get_spec("mnist_digits").stages}
NOTE = "Your model was fitted on the test images"

#: Scenario -> the stages whose model must be flagged (every other one must not be).
FLAGGED: dict[str, set[str]] = {
    "fitted-on-test": {"baseline", "hidden_layer", "cnn"},  # hidden_layer via fit.__wrapped__
    # the hidden-layer ANN saw mostly test images; the baseline saw all 70,000 images, of
    # which the test images are a seventh: that the signal cannot tell (README)
    "fitted-on-train-plus-test": {"hidden_layer"},
    "validation-on-test": set(),
    "honest-variant": set(),
    "good-subset": set(),
}


def flagged(report: GradeReport) -> set[str]:
    """The stages the report's notes name as fitted on the test images."""
    return {
        stage
        for stage, variable in STAGES.items()
        if any(note.startswith(f"{variable}: {NOTE}") for note in report.notes)
    }


@pytest.mark.parametrize("name", sorted(FLAGGED))
def test_models_fitted_on_the_test_images_are_flagged_and_only_those(grade, name):
    report = grade(name, training=True)
    assert flagged(report) == FLAGGED[name], report.notes
    measured = {e.stage for e in report.evaluations if e.train_sample_accuracy is not None}
    assert measured == {e.stage for e in report.evaluations} and measured, report.evaluations


@pytest.mark.parametrize("name", ["fitted-on-test", "good-subset"])
def test_by_default_the_flag_costs_no_points(grade, name):
    report = grade(name, training=True)
    for stage in STAGES:
        accuracy = next(r for r in report.results if r.id == f"{stage}.accuracy")
        assert "as measured by the grader" in accuracy.message, accuracy.message
    assert all(r.hint_category != "fitted_on_test" for r in report.results)


def test_the_note_says_what_was_measured(grade):
    report = grade("fitted-on-test", training=True)
    note = next(note for note in report.notes if note.startswith("cnn_model:"))
    record = next(e for e in report.evaluations if e.stage == "cnn")
    assert f"{record.accuracy:.2%} on the test set" in note
    assert f"only {record.train_sample_accuracy:.2%} on 10,000 of the training images" in note
    assert "validation_data" in note and "costs no points" in note
