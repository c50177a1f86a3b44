"""autograder.batch: a whole class graded, one report each and one CSV, whatever breaks."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import batch
from autograder.grader import GradeReport, GradingError

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _data(mnist_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("MNIST_DATA", str(mnist_dir))


@pytest.fixture
def class_folder(tmp_path: Path, helpers) -> Path:
    """nbgrader's submitted/ layout for three students, plus one flat LMS-style file."""
    submitted = tmp_path / "submitted"
    for student, scenario in (
        ("alice", "release-untouched"),
        ("bob", "corrupt-json"),
        ("carol", "sys-exit"),
    ):
        folder = submitted / student / "mnist_digits"
        folder.mkdir(parents=True)
        shutil.copy(
            helpers.submissions / f"submission-{scenario}.ipynb", folder / "mnist_digits.ipynb"
        )
    (submitted / "empty-student").mkdir()  # collected nothing: not a submission
    shutil.copy(helpers.submissions / "submission-syntax-error.ipynb", submitted / "dave.ipynb")
    return submitted


def test_finds_both_layouts(class_folder: Path, helpers) -> None:
    found = batch.find_submissions(class_folder, helpers.course_config())
    assert [(s.student, s.assignment) for s in found] == [
        ("alice", "mnist_digits"),
        ("bob", "mnist_digits"),
        ("carol", "mnist_digits"),
        ("dave", "mnist_digits"),
    ]


def test_grades_everyone_and_writes_reports_and_csv(
    class_folder: Path, tmp_path: Path, helpers, monkeypatch
) -> None:
    config = helpers.course_config(cell_timeout_s=20, submission_timeout_s=120)
    messages: list[str] = []
    graded = batch.grade_all(
        class_folder, tmp_path / "out", config=config, progress=messages.append
    )
    scores = {submission.student: report.score for submission, report in graded}
    assert scores["alice"] == 0  # the untouched release
    assert scores["bob"] == 0  # not JSON: graded zero with the reason
    assert scores["carol"] == 3  # sys.exit after the data stages
    assert scores["dave"] == config.data_points.load  # a syntax error after loading

    rows = list(csv.DictReader((tmp_path / "out" / batch.GRADES_FILE).open()))
    assert [row["student"] for row in rows] == ["alice", "bob", "carol", "dave"]
    assert float(rows[2]["score"]) == 3 and float(rows[2]["max_score"]) == config.total_points()
    assert float(rows[2]["data.load"]) == config.data_points.load
    bob = json.loads((tmp_path / "out" / "bob--mnist_digits.json").read_text())
    assert "not valid .ipynb JSON" in json.dumps(bob)
    assert any("[4/4] dave" in message for message in messages)


def test_a_grader_crash_on_one_submission_does_not_stop_the_batch(
    class_folder: Path, tmp_path: Path, helpers, monkeypatch
) -> None:
    real = batch.grade_submission

    def flaky(path, **options) -> GradeReport:
        if "bob" in str(path):
            raise RuntimeError("simulated grader bug")
        return real(path, **options)

    monkeypatch.setattr(batch, "grade_submission", flaky)
    config = helpers.course_config(cell_timeout_s=20, submission_timeout_s=120)
    graded = batch.grade_all(class_folder, tmp_path / "out", config=config)
    assert len(graded) == 4
    bob = dict((s.student, r) for s, r in graded)["bob"]
    assert bob.score == 0
    assert "simulated grader bug" in bob.results[0].message


def test_missing_data_stops_the_batch_with_a_clear_error(
    class_folder: Path, tmp_path: Path, helpers, monkeypatch
) -> None:
    def no_data(path, **options) -> GradeReport:
        raise GradingError("MNIST not found")

    monkeypatch.setattr(batch, "grade_submission", no_data)
    with pytest.raises(GradingError, match="MNIST not found"):
        batch.grade_all(class_folder, tmp_path / "out", config=helpers.course_config())


def test_empty_or_missing_folder_is_an_error(tmp_path: Path, helpers) -> None:
    with pytest.raises(GradingError, match="does not exist"):
        batch.grade_all(tmp_path / "nowhere", tmp_path / "out", config=helpers.course_config())
    (tmp_path / "empty").mkdir()
    with pytest.raises(GradingError, match="no submissions found"):
        batch.grade_all(tmp_path / "empty", tmp_path / "out", config=helpers.course_config())


def test_command_line(class_folder: Path, tmp_path: Path, mnist_dir: Path) -> None:
    for scenario in ("bob", "carol", "dave"):
        shutil.rmtree(class_folder / scenario, ignore_errors=True)
        (class_folder / f"{scenario}.ipynb").unlink(missing_ok=True)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder",
            "grade-all",
            str(class_folder),
            "--output",
            str(tmp_path / "graded"),
            "--config",
            str(REPO_ROOT / "course.yaml"),
            "--cell-timeout",
            "30",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MNIST_DATA": str(mnist_dir)},
    )
    assert result.returncode == 0, result.stderr
    assert "alice" in result.stdout and "0/15" in result.stdout
    assert "[1/1] alice" in result.stderr
    assert (tmp_path / "graded" / "grades.csv").is_file()
