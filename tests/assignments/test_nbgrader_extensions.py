"""The second assignment through real nbgrader on a tiny budget: generate, release,
autograde a reference-solved and a tuned-on-the-test-set submission, and grade the same
notebook with the kit's trusted grader. Bars are low (the budget is one short epoch); the
full budget's bars are the reference's business (tests/reference)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from nbgrader.api import Gradebook

from autograder import executor
from mnist_course.results import grade_id_of
from mnist_course.config import load_config
from autograder.grader import grade_submission

REPO_ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = "mnist_extensions"
MARKER = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")
TINY_STAGE = {"epochs": 1, "batch_size": 512, "min_test_accuracy": 0.5, "learning_rate": 0.003}
TINY_TUNING = {"max_trials": 2, "epochs": 1, "train_images": 2000, "validation_images": 1000,
               "tolerance": 0.1}  # fmt: skip


def _tiny_course(root: Path) -> Path:
    raw = yaml.safe_load((REPO_ROOT / "course.yaml").read_text())
    settings = raw["assignments"][ASSIGNMENT]
    for stage in settings["stages"].values():
        stage.update(TINY_STAGE)
    settings["stages"]["augmented_cnn"]["min_perturbed_accuracy"] = 0.2
    settings["tuning"].update(TINY_TUNING)
    path = root / "course.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _meta(cell: nbformat.NotebookNode) -> dict:
    return cell.metadata.get("nbgrader", {})


def _nbgrader(root: Path, env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "nbgrader"), *args],
        cwd=root, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, f"nbgrader {' '.join(args)}:\n{done.stderr[-4000:]}"


@pytest.fixture(scope="module")
def course(tmp_path_factory, mnist_dir):
    root = tmp_path_factory.mktemp("extensions-course")
    shutil.copy(REPO_ROOT / "nbgrader_config.py", root)
    config_path = _tiny_course(root)
    from authoring.build import source_notebook_path, write_notebook

    config = load_config(config_path)
    source = write_notebook(
        config.assignment(ASSIGNMENT), source_notebook_path(config.assignment(ASSIGNMENT))
    )
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "COURSE_CONFIG": str(config_path),
        "MNIST_DATA": str(mnist_dir),
    }
    _nbgrader(root, env, "generate_assignment", ASSIGNMENT)
    release = nbformat.read(root / "release" / ASSIGNMENT / source.name, 4)
    solutions = {
        _meta(cell)["grade_id"]: "\n".join(
            line for line in cell.source.split("\n") if not MARKER.match(line)
        )
        for cell in nbformat.read(source, 4).cells
        if _meta(cell).get("solution")
    }
    solved = nbformat.from_dict(release)
    for cell in solved.cells:
        if _meta(cell).get("solution"):
            cell.source = solutions[_meta(cell)["grade_id"]]
    leaked = nbformat.from_dict(solved)
    for cell in leaked.cells:  # the typical mistake: tune on the test set
        if _meta(cell).get("grade_id") == "search":
            cell.source = cell.source.replace("(X_val, y_val)", "(X_test_images, y_test)")
    for student, notebook in (("solved", solved), ("leaked", leaked)):
        _nbgrader(root, env, "db", "student", "add", student)
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(notebook, folder / source.name)
    _nbgrader(root, env, "autograde", ASSIGNMENT)
    return root, config, release, source.name


def _grades(root: Path, notebook: str, student: str) -> dict[str, float]:
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        found = gradebook.find_submission_notebook(
            notebook.removesuffix(".ipynb"), ASSIGNMENT, student
        )
        return {grade.name: grade.score for grade in found.grades}


def test_the_release_has_stubs_and_no_hidden_test_code(course):
    _, _, release, _ = course
    text = "\n".join(cell.source for cell in release.cells)
    assert "raise NotImplementedError" in text
    assert 'check("tuning.reproduced")' not in text and 'check("lenet5.accuracy")' not in text
    assert "RandomRotation(" not in text  # the solution of build_augmentation is cleared


def test_nbgrader_gives_the_solved_notebook_every_point(course):
    root, config, _, notebook = course
    assignment = config.assignment(ASSIGNMENT)
    grades = _grades(root, notebook, "solved")
    expected = {
        grade_id_of(check.id): assignment.points(check.id) for check in assignment.spec.checks
    }
    assert grades == expected


def test_tuning_on_the_test_set_loses_the_validation_points_only(course):
    root, config, _, notebook = course
    grades = _grades(root, notebook, "leaked")
    solved = _grades(root, notebook, "solved")
    lost = sorted(cell for cell in grades if grades[cell] != solved[cell])
    assert lost == []  # nbgrader's visible check reads X_val, which is still training data


@pytest.mark.skipif(not executor.isolation_available(), reason="needs namespaces")
def test_the_kit_grader_agrees_and_names_the_leak(course, tmp_path):
    root, config, _, notebook = course
    solved = grade_submission(
        root / "submitted" / "solved" / ASSIGNMENT / notebook, config=config, workdir=tmp_path
    )
    assert solved.assignment == ASSIGNMENT
    assert solved.score == solved.max_score, [r for r in solved.results if not r.passed]
    leaked = grade_submission(
        root / "submitted" / "leaked" / ASSIGNMENT / notebook, config=config, workdir=tmp_path
    )
    failed = {r.id: r.hint_category for r in leaked.results if not r.passed}
    assert failed == {"tuning.validation": "tuned_on_test_set"}
