"""nbgrader_config.py takes every course setting from course.yaml."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

REPO_ROOT = Path(__file__).resolve().parents[2]


def _course_yaml(
    folder: Path, course_id: str, cell_timeout_s: int, source_directory: str = "assignments"
) -> Path:
    raw = yaml.safe_load((REPO_ROOT / "course.yaml").read_text())
    raw["course"]["id"] = course_id
    raw["course"]["source_directory"] = source_directory
    raw.setdefault("grading", {})["cell_timeout_s"] = cell_timeout_s
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "course.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _nbgrader_config(folder: Path) -> Config:
    """Load nbgrader_config.py with the loader nbgrader uses."""
    return PyFileConfigLoader("nbgrader_config.py", path=str(folder)).load_config()


@pytest.fixture
def course_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("COURSE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    shutil.copy(REPO_ROOT / "nbgrader_config.py", tmp_path)
    return tmp_path


def test_settings_come_from_the_course_yaml_beside_it(course_dir):
    _course_yaml(course_dir, "digits-2027", 123, source_directory="notebooks")
    config = _nbgrader_config(course_dir)
    assert config.CourseDirectory.course_id == "digits-2027"
    assert config.CourseDirectory.root == str(course_dir.resolve())
    assert config.CourseDirectory.source_directory == "notebooks"
    assert config.Execute.timeout == 123


def test_course_config_variable_wins(course_dir, monkeypatch):
    _course_yaml(course_dir, "beside", 100)
    elsewhere = _course_yaml(course_dir / "elsewhere", "from-env", 77)
    monkeypatch.setenv("COURSE_CONFIG", str(elsewhere))
    config = _nbgrader_config(course_dir)
    assert config.CourseDirectory.course_id == "from-env"
    assert config.Execute.timeout == 77


def test_kit_course_yaml_gives_the_documented_defaults(monkeypatch):
    monkeypatch.delenv("COURSE_CONFIG", raising=False)
    from mnist_course.config import load_config

    course = load_config(REPO_ROOT / "course.yaml")
    config = _nbgrader_config(REPO_ROOT)
    assert config.CourseDirectory.course_id == course.course.id
    assert config.Execute.timeout == course.grading.cell_timeout_s


def test_feedback_hides_hidden_tests():
    config = _nbgrader_config(REPO_ROOT)
    names = [cls.__name__ for cls in config.GenerateFeedback.preprocessors]
    assert names.index("GetGrades") < names.index("RedactHiddenTests")
    assert 'raise NotImplementedError("' in config.ClearSolutions.code_stub["python"]


def test_invalid_course_yaml_stops_nbgrader_with_the_message(course_dir):
    """traitlets would log a traceback and carry on with nbgrader's defaults."""
    import subprocess
    import sys

    (course_dir / "course.yaml").write_text(
        "assignments:\n  mnist_digits:\n    stages:\n      cnn:\n        min_test_accuracy: 1.5\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", "list"],
        cwd=course_dir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "assignments.mnist_digits.stages.cnn.min_test_accuracy" in result.stderr
    assert "Traceback" not in result.stderr
