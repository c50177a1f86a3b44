"""Reading submissions: what is run, what is skipped, what cannot be graded."""

from __future__ import annotations

import json

import nbformat
import pytest

from autograder.checks.result import is_test_cell
from autograder.grader import GradingError, SubmissionUnreadable, grade_submission, read_cells


def _write(path, cells, **extra):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = cells
    text = json.loads(nbformat.writes(notebook))
    for cell, more in zip(text["cells"], extra.get("cell_extras", []), strict=False):
        cell.update(more)
    path.write_text(json.dumps(text))
    return path


def test_nbgrader_test_cells_are_skipped_and_markdown_ignored(tmp_path):
    test_cell = nbformat.v4.new_code_cell("check_data(X_train, y_train, X_test, y_test)")
    test_cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "t",
                                      "points": 1, "locked": True, "schema_version": 3}  # fmt: skip
    cells, warnings = read_cells(
        _write(
            tmp_path / "n.ipynb",
            [
                nbformat.v4.new_markdown_cell("# Title"),
                nbformat.v4.new_code_cell("x = 1"),
                test_cell,
            ],
        )  # fmt: skip
    )
    assert [(c["index"], c["skip"]) for c in cells] == [(1, False), (2, True)]
    assert warnings == []


def test_small_schema_breaks_are_graded_with_a_warning(tmp_path):
    path = _write(tmp_path / "n.ipynb", [nbformat.v4.new_code_cell("x = 1")],
                  cell_extras=[{"bogus": True}])  # fmt: skip
    cells, warnings = read_cells(path)
    assert cells[0]["source"] == "x = 1"
    assert warnings and "schema" in warnings[0]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ({"metadata": {"nbgrader": {"grade": True, "solution": False}}}, True),
        ({"metadata": {"nbgrader": {"grade": True, "solution": True}}}, False),  # answer cell
        ({"metadata": {"nbgrader": {"solution": True}}}, False),
        ({"metadata": {"nbgrader": "grade"}}, False),
        ({"metadata": ["nbgrader"]}, False),
        ({}, False),
        ("not a cell", False),
    ],
)
def test_test_cells_are_told_from_any_metadata(cell, expected):
    assert is_test_cell(cell) is expected


def test_notebooks_without_code_cannot_be_graded(tmp_path):
    with pytest.raises(SubmissionUnreadable, match="no code cells"):
        read_cells(_write(tmp_path / "n.ipynb", [nbformat.v4.new_markdown_cell("hi")]))


def test_bad_arguments_are_grading_errors(tmp_path, helpers):
    with pytest.raises(GradingError, match="submission not found"):
        grade_submission(tmp_path / "missing.ipynb")
    submission = helpers.submissions / "submission-missing-functions.ipynb"
    with pytest.raises(GradingError, match="does not exist"):
        grade_submission(submission, config=helpers.course_config(), workdir=tmp_path / "no")
    (tmp_path / "course.yaml").write_text(
        "assignments: {mnist_digits: {stages: {cnn: {epochs: -1}}}}\n"
    )
    with pytest.raises(GradingError, match="epochs"):
        grade_submission(submission, config_path=tmp_path / "course.yaml")


def test_plain_text_drops_terminal_escapes():
    from autograder.grader import plain_text

    keras_style = "\x1b[1mValueError\x1b[0m: Input \x1b[31m0\x1b[0m is wrong\n\ttab kept"
    assert plain_text(keras_style) == "ValueError: Input 0 is wrong\n\ttab kept"
    assert plain_text("\x1b]8;;http://x\x07link\x1b]8;;\x07 \x00\x7f") == "link "
