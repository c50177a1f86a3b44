"""The second assignment through real nbgrader on a tiny budget: generate, release,
autograde the reference-solved notebook, and grade the same notebook with the kit's
trusted grader. Bars are low (the budget is one short epoch); the full budget's bars are
the reference's business (tests/reference), and each typical mistake, tuning on the test
set included, is graded in the sandbox by tests/autograder/test_extension_scenarios.py."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder import executor
from autograder.grader import grade_submission
from mnist_course.config import load_config
from mnist_course.results import grade_id_of

REPO_ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = "mnist_extensions"
MARKER = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")
TINY_STAGE = {"epochs": 1, "batch_size": 128, "min_test_accuracy": 0.5, "learning_rate": 0.003}
#: The solved notebook fits each model on the first 15,000 training images, as a student
#: trying things out might: 118 batches of 128 (as many steps as a whole epoch of 512, which
#: batch normalization needs to settle) at a quarter of the cost.
FIT_ALL = "    X_train_images,\n    y_train,\n"
FIT_SOME = "    X_train_images[:15000],\n    y_train[:15000],\n"
TINY_TUNING = {"max_trials": 2, "epochs": 1, "train_images": 2000, "validation_images": 1000,
               "tolerance": 0.1}  # fmt: skip


def _meta(cell: nbformat.NotebookNode) -> dict:
    return cell.metadata.get("nbgrader", {})


def _nbgrader(root: Path, env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "nbgrader"), *args],
        cwd=root, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, f"nbgrader {' '.join(args)}:\n{done.stderr[-4000:]}"


@pytest.fixture(scope="module")
def course(tmp_path_factory, mnist_dir, tiny_course):
    root = tmp_path_factory.mktemp("extensions-course")
    shutil.copy(REPO_ROOT / "nbgrader_config.py", root)
    config_path = tiny_course(
        root,
        ASSIGNMENT,
        TINY_STAGE,
        stages={"augmented_cnn": {"min_perturbed_accuracy": 0.2}},
        tuning=TINY_TUNING,
    )
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
            cell.source = solutions[_meta(cell)["grade_id"]].replace(FIT_ALL, FIT_SOME)
    assert sum(FIT_SOME in cell.source for cell in solved.cells) == 3
    _nbgrader(root, env, "db", "student", "add", "solved")
    folder = root / "submitted" / "solved" / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(solved, folder / source.name)
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


@pytest.mark.skipif(not executor.isolation_available(), reason="needs namespaces")
def test_the_kit_grader_agrees(course, tmp_path):
    root, config, _, notebook = course
    solved = grade_submission(
        root / "submitted" / "solved" / ASSIGNMENT / notebook, config=config, workdir=tmp_path
    )
    assert solved.assignment == ASSIGNMENT
    assert solved.score == solved.max_score, [r for r in solved.results if not r.passed]
