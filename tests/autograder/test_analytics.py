"""Class analytics from a results folder as grade-all leaves it (golden reports, no
grading): counts, mistakes by hint category, accuracies, limits, unreadable files."""

from __future__ import annotations

import csv
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from autograder import analytics
from autograder.checks.confusion import ModelEvaluation
from autograder.checks.hints import HINTS
from mnist_course.config import parse_config

GOLDEN = Path(__file__).parent / "golden"


def _golden(name: str, **categories: str) -> dict:
    """A golden report, with hint categories given to the checks named (by id, dots as
    double underscores) as the grader now sets them."""
    report = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    wanted = {key.replace("__", "."): value for key, value in categories.items()}
    for result in report["results"]:
        result["hint_category"] = wanted.get(result["id"], "")
    return report


def _result(student: str, report: dict | None, status: str = "graded", error: str = "") -> dict:
    """A per-submission file as batch.Result.to_dict writes it."""
    return {"format": 1, "student": student, "assignment": "mnist_digits", "status": status,
            "error": error, "notebook_sha256": "0" * 64, "config_sha256": "0" * 64,
            "seconds": 1.0, "report": report}  # fmt: skip


def _evaluation(stage: str, wrong: int) -> dict:
    labels = np.arange(100) % 10
    predicted = labels.copy()
    predicted[:wrong] = (labels[:wrong] + 1) % 10
    return ModelEvaluation.from_predictions(stage, predicted, labels).to_dict()


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "graded"
    folder.mkdir()
    no_norm = _golden("submission-no-normalization", data__normalize="not_divided_by_255")
    evaluated = {**no_norm, "evaluations": [_evaluation("cnn", 1), _evaluation("baseline", 30)]}
    stopped = _golden("submission-release-untouched")
    stopped["notes"] = ["the notebook did not finish within the submission limit of 900 s"]
    files = {
        "ada--mnist_digits.json": _result("ada", evaluated),
        "bob--mnist_digits.json": _result(
            "bob", _golden("submission-missing-functions", cnn__structure="model_too_large")
        ),
        "cy--mnist_digits.json": _result("cy", stopped),
        "dee--mnist_digits.json": _result("dee", None, "error", "MNIST missing on the worker"),
        "eve.json": no_norm,  # a bare report, as grade --json writes it
        "class.json": {"submissions": 5, "results": []},
    }
    for name, data in files.items():
        (folder / name).write_text(json.dumps(data), encoding="utf-8")
    (folder / "broken--mnist_digits.json").write_text("{not json", encoding="utf-8")
    (folder / "forged--mnist_digits.json").write_text(
        json.dumps(_result("forged", {**no_norm, "evaluations": [{"stage": "cnn"}]})), "utf-8"
    )
    return folder


def test_summary_counts_checks_mistakes_and_accuracies(results_dir):
    written = analytics.report(results_dir, config=parse_config({}))
    summary = written.summary
    assert (summary["submissions"], summary["graded"]) == (5, 4)
    assert [item["file"] for item in summary["skipped"]] == [
        "broken--mnist_digits.json", "forged--mnist_digits.json"
    ]  # fmt: skip
    assert summary["not_graded"] == [
        {"file": "dee--mnist_digits.json", "error": "MNIST missing on the worker"}
    ]
    load = next(check for check in summary["checks"] if check["id"] == "data.load")
    normalize = next(check for check in summary["checks"] if check["id"] == "data.normalize")
    assert (load["graded"], normalize["passed"]) == (4, 0)
    mistakes = {m["category"]: m for m in summary["mistakes"]}
    assert mistakes["not_divided_by_255"]["submissions"] == 2
    assert mistakes["not_divided_by_255"]["mistake"] == HINTS["not_divided_by_255"].mistake
    assert set(summary["accuracy"]) == {"baseline", "cnn"}  # hidden_layer: no evaluation
    assert summary["accuracy"]["cnn"]["median"] == pytest.approx(0.99)
    assert summary["accuracy"]["baseline"]["below_bar"] == 1
    assert [item["student"] for item in summary["limits"]] == ["bob", "cy"]
    assert summary["limits"][0]["reason"].startswith("cnn.structure: ")


def test_outputs_page_csv_and_json_side_by_side(results_dir, tmp_path):
    written = analytics.report(
        results_dir, output=tmp_path / "out" / "class.html", config=parse_config({})
    )
    assert written.csv == tmp_path / "out" / "class.csv"
    assert json.loads(written.json.read_text()) == json.loads(json.dumps(written.summary))
    rows = list(csv.DictReader(written.csv.open(encoding="utf-8")))
    assert [row["student"] for row in rows] == ["ada", "bob", "cy", "submission-no-normalization"]
    assert "not_divided_by_255" in rows[0]["mistakes"] and rows[2]["limit"]

    class Sources(HTMLParser):
        sources: list[str] = []

        def handle_starttag(self, tag, attrs):
            self.sources += [value for name, value in attrs if name in ("src", "href")]

    parser = Sources()
    parser.feed(written.page.read_text(encoding="utf-8"))
    assert len(parser.sources) == 3  # scores, pass rates, accuracies
    assert all(source.startswith("data:image/png;base64,") for source in parser.sources)
    text = written.page.read_text(encoding="utf-8")
    assert HINTS["not_divided_by_255"].mistake in text and "look at these by hand" in text


def test_a_second_run_does_not_read_its_own_summary(results_dir):
    first = analytics.report(results_dir, config=parse_config({}))
    second = analytics.report(results_dir, config=parse_config({}))
    assert second.summary == first.summary


def test_without_evaluations_the_accuracy_section_is_left_out(tmp_path):
    folder = tmp_path / "graded"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps(_result("a", _golden("submission-no-normalization"))))
    written = analytics.report(folder, config=parse_config({}))
    assert written.summary["accuracy"] == {} and written.summary["limits"] == []
    assert "Accuracy per model" not in written.page.read_text(encoding="utf-8")


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="run grade-all first"):
        analytics.report(tmp_path / "nothing", config=parse_config({}))
