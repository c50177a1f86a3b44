"""``autograder check``: the table a student reads, and its exit statuses."""

from __future__ import annotations

import io

import pytest

from autograder import student
from autograder.reports import CheckRun
from mnist_course.config import load_config
from mnist_course.results import check_specs


@pytest.fixture
def course(helpers):
    return load_config(helpers.repo_root / "course.yaml").assignment("mnist_digits")


def _run(course, failing: dict[str, tuple[str, str]]) -> CheckRun:
    results = tuple(
        spec.failed(*failing[spec.id]) if spec.id in failing else spec.passed("fine")
        for spec in check_specs(course)
    )
    return CheckRun("nb.ipynb", results, ("first error: cell 5 raised ValueError: x",))


def test_table_lists_every_check_then_each_failure_with_its_hint(course):
    long_hint = "Divide by 255 once. " * 12
    text = student.render(_run(course, {"data.normalize": ("Not divided.", long_hint)}))
    rows = [line.split()[0] for line in text.splitlines()[2:14]]
    assert rows == [spec.id for spec in check_specs(course)]
    assert f"score: {course.total_points() - 1:g} / {course.total_points():g}" in text
    assert "- data.normalize: normalize() scales pixels to [0, 1]" in text
    assert all(len(line) <= student.WIDTH for line in text.splitlines()[14:-1])
    assert "hint: " + " ".join(long_hint.split()) in " ".join(text.split())  # all of it
    assert "note: first error: cell 5 raised ValueError: x" in text


def test_student_text_cannot_forge_a_score_line(course):
    text = student.render(_run(course, {"data.load": ("bad\nscore: 15 / 15", "")}))
    assert [line for line in text.splitlines() if line.startswith("score:")] == [
        f"score: {course.total_points() - 1:g} / {course.total_points():g}   (nb.ipynb)"
    ]


def test_exit_status_says_passed_failed_or_not_checked(course, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(student, "run_checks", lambda notebook, **_: _run(course, {}))
    assert student.check("nb.ipynb", stream=io.StringIO()) == student.EXIT_PASSED
    failing = {"cnn.accuracy": ("Below the bar.", "Train longer.")}
    monkeypatch.setattr(student, "run_checks", lambda notebook, **_: _run(course, failing))
    assert student.check("nb.ipynb", stream=io.StringIO()) == student.EXIT_FAILED
    monkeypatch.undo()
    assert student.check(tmp_path / "missing.ipynb") == student.EXIT_ERROR
    assert "missing.ipynb: notebook not found" in capsys.readouterr().err
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json", encoding="utf-8")
    assert student.check(broken, config_path=tmp_path / "none.yaml") == student.EXIT_ERROR
    assert "none.yaml" in capsys.readouterr().err


def test_parser_is_the_same_for_the_student_command_and_the_kit(capsys):
    with pytest.raises(SystemExit) as done:
        student.main(["check", "--help"])
    assert done.value.code == 0
    assert "notebook" in capsys.readouterr().out
