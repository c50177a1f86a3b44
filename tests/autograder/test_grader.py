"""Reading submissions: what is run, what is skipped, what cannot be graded."""

from __future__ import annotations

import json

import nbformat
import pytest

from autograder.grader import GradingError, SubmissionUnreadable, grade_submission, read_cells
from mnist_course.config import ConfigError, find_assignment
from mnist_course.results import is_test_cell


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


def test_the_assignment_comes_from_the_flag_the_metadata_the_folder_or_not_at_all(
    tmp_path, helpers
):
    config = helpers.course_config()
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["autograder"] = {"assignment": "mnist_extensions"}
    tagged = _write(tmp_path / "anything.ipynb", [nbformat.v4.new_code_cell("1")])
    nbformat.write(notebook, tagged)
    assert find_assignment(tagged, config) == "mnist_extensions"
    assert find_assignment(tagged, config, "mnist_digits") == "mnist_digits"  # the flag wins
    folder = tmp_path / "alice" / "mnist_digits"
    folder.mkdir(parents=True)
    (folder / "work.ipynb").write_text("not even JSON")
    assert find_assignment(folder / "work.ipynb", config) == "mnist_digits"
    loose = tmp_path / "loose.ipynb"
    loose.write_text("not even JSON")
    with pytest.raises(ConfigError, match="pass --assignment"):
        find_assignment(loose, config)
    with pytest.raises(GradingError, match="pass --assignment"):
        grade_submission(loose, config=config, workdir=tmp_path)
    with pytest.raises(ConfigError, match="not an assignment of this course"):
        find_assignment(loose, config, "mnist_letters")
