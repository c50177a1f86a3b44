"""grade-all --gradebook: the trusted scores land in nbgrader's gradebook.db, one grade per
test cell, and ``nbgrader export`` shows them."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from nbgrader.api import Gradebook

from autograder import commands, executor
from autograder.grader import GradingOptions
from mnist_course.config import load_config

REPO_ROOT = Path(__file__).resolve().parents[2]
SUBMISSIONS = REPO_ROOT / "tests" / "autograder" / "submissions"
CONFIG = load_config(REPO_ROOT / "course.yaml")
ASSIGNMENT = "mnist_digits"
DIGITS = CONFIG.assignment(ASSIGNMENT)
NOTEBOOK = DIGITS.notebook


def _nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "nbgrader"), *args],
        cwd=course,
        capture_output=True,
        text=True,
        timeout=300,
        env={
            **os.environ,
            "COURSE_CONFIG": str(course / "course.yaml"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        },
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_scores_go_into_the_gradebook_and_nbgrader_export(
    tmp_path: Path, mnist_dir: Path, monkeypatch
) -> None:
    if os.geteuid() == 0 and not executor.namespaces_available():
        pytest.skip("as root, the grader runs student code only inside namespaces")
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(REPO_ROOT / "nbgrader_config.py", course)
    settings = yaml.safe_load((REPO_ROOT / "course.yaml").read_text(encoding="utf-8"))
    settings["assignments"][ASSIGNMENT]["due"] = "2026-03-01T12:00:00+00:00"
    settings["late_work"] = {"policy": {"per": "day", "penalty": 0.1}}  # 1.5 of 15 a day
    (course / "course.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    shutil.copytree(REPO_ROOT / "assignments", course / "assignments")
    monkeypatch.setenv("MNIST_DATA", str(mnist_dir))
    _nbgrader(course, "generate_assignment", ASSIGNMENT)
    for student, scenario in (("untouched", "release-untouched"), ("sys-exit", "sys-exit")):
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        shutil.copy(SUBMISSIONS / f"submission-{scenario}.ipynb", folder / NOTEBOOK)
        (folder / "timestamp.txt").write_text("2026-03-01 12:00:01.000000 UTC")  # 1 s late

    monkeypatch.chdir(course)
    commands.grade_all(
        "submitted",
        output="graded",
        config_path=course / "course.yaml",
        options=GradingOptions(cell_timeout_s=20, submission_timeout_s=120),
        quiet=True,
        stream=io.StringIO(),
        gradebook=True,
    )

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(
            NOTEBOOK.removesuffix(".ipynb"), ASSIGNMENT, "sys-exit"
        )
        grades = {grade.name: grade.score for grade in notebook.grades}
    assert len(grades) == len(DIGITS.spec.checks)  # one per test cell
    assert grades["check-load"] == DIGITS.points("data.load")
    assert grades["check-flatten"] == DIGITS.points("data.flatten")
    assert grades["check-cnn-accuracy"] == 0

    _nbgrader(course, "export")
    with open(course / "grades.csv", newline="") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert float(rows["sys-exit"]["raw_score"]) == 3
    assert float(rows["sys-exit"]["late_submission_penalty"]) == 1.5  # 1 s late: one day
    assert float(rows["sys-exit"]["score"]) == 1.5  # nbgrader's final, as in the kit's CSV
    assert rows["sys-exit"]["timestamp"].startswith("2026-03-01 12:00:01")
    assert float(rows["untouched"]["late_submission_penalty"]) == 0  # nothing to take
    assert float(rows["untouched"]["score"]) == 0
    assert float(rows["sys-exit"]["max_score"]) == DIGITS.total_points()
