"""reference.student_package: students get autograder and the course settings, never reference."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from reference.student_package import build_student_wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("course")
    config = folder / "course.yaml"
    config.write_text(
        "course: {id: c9, title: Nine}\ndata: {mnist_dir: data}\nseed: 9\n", encoding="utf-8"
    )
    (folder / "data").mkdir()
    return build_student_wheel(folder / "dist", config_path=config)


def test_wheel_holds_the_autograder_and_no_reference(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "autograder/notebook.py" in names
    assert "autograder/data.py" in names
    assert "autograder/course.yaml" in names
    assert not [name for name in names if name.startswith("reference")]
    metadata = (
        zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    )
    assert "Requires-Dist: tensorflow" in metadata
    assert "nbgrader" not in metadata


def test_packaged_course_yaml_keeps_settings_but_not_the_data_folder(wheel: Path) -> None:
    packaged = yaml.safe_load(zipfile.ZipFile(wheel).read("autograder/course.yaml"))
    assert packaged["seed"] == 9
    assert packaged["course"]["id"] == "c9"
    assert "mnist_dir" not in packaged["data"]


def test_installed_wheel_finds_its_course_yaml(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    elsewhere = tmp_path / "student-home"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "COURSE_CONFIG"}
    env["PYTHONPATH"] = str(target)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import autograder, autograder.config as c; cfg = c.load_config(); "
            "print(autograder.__file__); print(cfg.seed, cfg.course.id)",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    module_file, settings = result.stdout.strip().splitlines()
    assert module_file.startswith(str(target))
    assert settings == "9 c9"


def test_invalid_course_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "course.yaml"
    config.write_text("seed: -3\n", encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "reference.student_package",
            "--config",
            str(config),
            "--output",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "seed" in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.whl"))
