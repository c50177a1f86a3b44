"""The feedback page is self-contained, escaped, named by check, and draws the trusted
evaluation; ModelEvaluation round-trips and refuses malformed data."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from autograder.checks.confusion import MAX_MISTAKES, ModelEvaluation
from autograder.formats import html
from autograder.reports import GradeReport
from mnist_course.config import parse_config
from mnist_course.results import CheckResult

GOLDEN = Path(__file__).parents[1] / "golden" / "submission-no-normalization.json"
PNG = b"\x89PNG\r\n\x1a\n"


class _Page(HTMLParser):
    """Collects what a browser would fetch or run, and the page's text."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.sources += [value or "" for name, value in attrs if name in ("src", "href")]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


@pytest.fixture
def config():
    return parse_config({})


@pytest.fixture
def golden() -> GradeReport:
    return GradeReport.from_dict(json.loads(GOLDEN.read_text(encoding="utf-8")))


def _evaluation(stage: str, accuracy_wrong: int = 3) -> ModelEvaluation:
    labels = np.arange(100) % 10
    predicted = labels.copy()
    predicted[:accuracy_wrong] = (labels[:accuracy_wrong] + 1) % 10
    return ModelEvaluation.from_predictions(stage, predicted, labels)


def test_from_predictions_counts_confusions_and_keeps_first_mistakes():
    labels = np.array([0, 1, 2, 3, 3, 9])
    predicted = np.array([0, 7, 2, 8, 3, 9])
    evaluation = ModelEvaluation.from_predictions("cnn", predicted, labels)
    assert evaluation.accuracy == pytest.approx(4 / 6)
    assert evaluation.confusion[1][7] == 1 and evaluation.confusion[3][8] == 1
    assert evaluation.confusion[3][3] == 1 and sum(map(sum, evaluation.confusion)) == 6
    assert [(m.index, m.label, m.predicted) for m in evaluation.mistakes] == [(1, 1, 7), (3, 3, 8)]
    many = ModelEvaluation.from_predictions("cnn", np.zeros(100, int), np.ones(100, int))
    assert len(many.mistakes) == MAX_MISTAKES and many.mistakes[0].index == 0


def test_from_predictions_refuses_bad_inputs():
    with pytest.raises(ValueError, match="as many predictions"):
        ModelEvaluation.from_predictions("cnn", [1, 2], [1])
    with pytest.raises(ValueError, match="digits 0-9"):
        ModelEvaluation.from_predictions("cnn", [10], [1])


def test_evaluation_round_trips_through_json():
    evaluation = _evaluation("baseline")
    data = json.loads(json.dumps(evaluation.to_dict()))
    assert ModelEvaluation.from_dict(data) == evaluation


FINGERPRINT = {
    "predictions": "7210414959",
    "weights_sha256": "ab" * 32,
    "architecture_sha256": "0c" * 32,
    "architecture": "Flatten > Dense(10, softmax)",
}


def test_a_fingerprint_round_trips_through_json():
    data = {**_evaluation("cnn").to_dict(), "fingerprint": FINGERPRINT}
    evaluation = ModelEvaluation.from_dict(json.loads(json.dumps(data)))
    assert evaluation.fingerprint is not None
    assert evaluation.fingerprint.predictions == "7210414959"
    assert ModelEvaluation.from_dict(evaluation.to_dict()) == evaluation


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"predictions": "72a0"}, "string of digits"),
        ({"predictions": ""}, "string of digits"),
        ({"weights_sha256": "AB" * 32}, "weights_sha256"),
        ({"architecture_sha256": "0c" * 31}, "architecture_sha256"),
        ({"architecture": "x" * 2001}, "architecture must be text"),
    ],
)
def test_a_fingerprint_from_dict_names_what_is_wrong(change, message):
    data = {**_evaluation("cnn").to_dict(), "fingerprint": {**FINGERPRINT, **change}}
    with pytest.raises(ValueError, match=message):
        ModelEvaluation.from_dict(data)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"stage": "two words"}, "stage"),
        ({"accuracy": 1.5}, "accuracy"),
        ({"accuracy": True}, "accuracy"),
        ({"confusion": [[0] * 10] * 9}, "confusion"),
        ({"confusion": [[-1] * 10] * 10}, "confusion"),
        ({"mistakes": [{"index": 1, "label": 10, "predicted": 1}]}, "misclassified"),
        ({"mistakes": [{"index": 0, "label": 1, "predicted": 2}] * 25}, "at most"),
    ],
)
def test_evaluation_from_dict_names_what_is_wrong(change, message):
    data = {**_evaluation("cnn").to_dict(), **change}
    with pytest.raises(ValueError, match=message):
        ModelEvaluation.from_dict(data)


def test_page_names_checks_with_lost_points_hints_and_bars(golden, config):
    text = html.render(golden, config=config)
    page = _parse(text)
    words = " ".join(page.text)
    assert "Test cell" not in words
    for result in golden.results:
        assert result.title in words
    assert "Pixels were not divided by 255" in words and "(−1 points)" in words
    for _, stage in config.assignment("mnist_digits").stages.items():
        assert f"{stage.min_test_accuracy:.2%}" in words
    assert "2 / 15 points" in words
    assert "img" not in page.tags  # no evaluations: no pictures


def test_page_is_self_contained_with_inline_pngs(golden, config):
    images = np.random.default_rng(0).integers(0, 255, (100, 28, 28), dtype=np.uint8)
    report = GradeReport(
        golden.submission,
        golden.results,
        golden.notes,
        evaluations=(_evaluation("cnn"),),
        assignment="mnist_digits",
    )
    text = html.render(report, config=config, test_images=images)
    page = _parse(text)
    assert page.sources and all(s.startswith("data:image/png;base64,") for s in page.sources)
    for source in page.sources:
        assert base64.b64decode(source.partition(",")[2]).startswith(PNG)
    assert page.tags.count("img") == 3  # accuracies against bars, confusion, mistakes grid
    assert "link" not in page.tags and "script" not in page.tags
    assert "99.00%" not in text and "97.00%" in text
    without_images = _parse(html.render(report, config=config))
    assert without_images.tags.count("img") == 2  # no test images: no grid


def test_page_escapes_student_text(config):
    forged = '<script>alert(1)</script><img src="http://x/y.png">'
    check = CheckResult("data.load", "Data loaded", False, 0.0, 1.0, forged, forged)
    report = GradeReport(forged, (check,), (forged,))
    page = _parse(html.render(report, config=config))
    assert "script" not in page.tags and page.sources == []
    assert forged in " ".join(page.text)


def test_page_of_a_failed_grading_says_so_without_a_score(config):
    report = GradeReport("s.ipynb", (), error="the sandbox could not start")
    words = " ".join(_parse(html.render(report, config=config)).text)
    assert "could not be graded" in words and "sandbox could not start" in words
    assert "points" not in words


def test_page_before_publication_hides_hidden_checks(golden, config):
    words = " ".join(_parse(html.render(golden, config=config, show_hidden=False)).text)
    assert "test accuracy reaches the bar" not in words and "2 / 9 points" in words


def test_page_says_how_partial_points_were_computed(partly_scored, config):
    report, explanation = partly_scored
    words = " ".join(" ".join(_parse(html.render(report, config=config)).text).split())
    assert "1.9 / 2 ◐ partial credit" in words  # the score table's row
    assert "(−0.1 points)" in words and explanation in words  # lost points: how computed
    assert "◐ below the bar: 1.9 / 2 points of partial credit" in words  # the models table
