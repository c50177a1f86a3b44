"""The reference solution, wired into a plain notebook that follows the contract,
earns full marks when graded in the sandbox (on a tiny course: one epoch per model, bars
to match; the course's own bars are tests/reference's)."""

from __future__ import annotations

import inspect

import nbformat
import pytest

from autograder.grader import grade_submission
from mnist_course.assignments import get_spec

LOAD = """\
from mnist_course.config import load_config
from mnist_course.data import load_mnist

config = load_config().assignment("mnist_digits")
(X_train, y_train), (X_test, y_test) = load_mnist()"""

FLATTENED = """\
X_train_flattened = flatten(normalize(X_train))
X_test_flattened = flatten(normalize(X_test))
X_train_images = normalize(X_train).reshape(-1, 28, 28, 1)"""

TRAIN = """\
budget = config.stages["{stage}"]
{variable} = {builder}(budget.learning_rate)
train_model({variable}, {inputs}, y_train, epochs=budget.epochs, batch_size=budget.batch_size,
            seed=config.seed, learning_rate_decay=budget.learning_rate_decay, verbose=0)"""


def _module_source(module) -> str:
    """A reference module as one cell; its imports of other reference modules are dropped
    (the sandbox hides reference/, and the earlier cells define those names)."""
    lines = inspect.getsource(module).splitlines()
    return "\n".join(
        line for line in lines if not line.startswith(("from reference", "import reference"))
    )


def reference_notebook() -> nbformat.NotebookNode:
    """The contract filled in with the reference modules' own source."""
    import reference.data
    import reference.models
    import reference.training

    cells = [
        LOAD,
        _module_source(reference.data),
        FLATTENED,
        _module_source(reference.training),
        _module_source(reference.models),
    ]
    inputs = {"vectors": "X_train_flattened", "images": "X_train_images"}
    for stage in get_spec("mnist_digits").stages:
        cells.append(
            TRAIN.format(
                stage=stage.id,
                variable=stage.variable,
                builder=stage.builder,
                inputs=inputs[stage.inputs],
            )
        )
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    return nb


def test_reference_submission_earns_full_marks(tmp_path, helpers, mnist_dir):
    path = tmp_path / "reference-submission.ipynb"
    nbformat.write(reference_notebook(), path)
    config = helpers.course_config(cell_timeout_s=900, submission_timeout_s=1800)
    for stage in get_spec("mnist_digits").stages:  # the reference reaches 91-98% in one epoch
        config = helpers.with_stage(config, stage.id, epochs=1, min_test_accuracy=0.85)
    report = grade_submission(path, config=config, workdir=tmp_path, assignment="mnist_digits")
    failed = [result.explain() for result in report.results if not result.passed]
    assert report.score == report.max_score, (failed, report.notes)
    # Grading twice gives the same results (test_submissions.py, on a subset), and the
    # released assignment with the solutions filled in gets full marks, and the same
    # accuracies as under nbgrader (tests/assignments/test_nbgrader_workflow.py).


def _assignment(helpers):
    path = helpers.repo_root / "assignments" / "mnist_digits" / "mnist_digits.ipynb"
    if not path.is_file():
        pytest.skip("the assignment notebook has not been generated")
    return path


def test_released_assignment_scores_zero(tmp_path, helpers, mnist_dir):
    """nbgrader's release of the real assignment: solutions cleared, nothing earned."""
    from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions

    notebook, resources = nbformat.read(_assignment(helpers), as_version=4), {}
    for step in (ClearSolutions(), ClearHiddenTests(), ClearOutput()):
        notebook, resources = step.preprocess(notebook, resources)
    path = tmp_path / "release.ipynb"
    nbformat.write(notebook, path)
    report = grade_submission(path, config=helpers.course_config(), workdir=tmp_path)
    assert report.score == 0 and report.max_score == 15
