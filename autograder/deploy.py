"""Deployment recipes, generated from the course's settings: Gradescope and GitHub Classroom.

:func:`gradescope` builds the autograder zip Gradescope asks for (setup.sh, run_autograder,
the course's course.yaml, the MNIST files and the kit's source, never ``reference/`` or
the tests); :func:`github` writes the GitHub Classroom workflow that grades a pushed
notebook and hands the result to GitHub's reporter.
"""

from __future__ import annotations

import json
import os
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import yaml

from autograder import deploy_templates
from autograder.executor import KIT_PACKAGES
from autograder.formats import gradescope as gradescope_format
from mnist_course.config import CONFIG_FILENAME, CourseConfig, course_yaml_text, load_config
from mnist_course.data import MNIST_FILES, resolve_folder

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
KIT = "kit"
MNIST_FOLDER = "mnist"
#: Gradescope's base image is Ubuntu 22.04, whose own python3 (3.10) is too old for the kit.
PYTHON = "python3.11"
SETUP_SH = f"""#!/usr/bin/env bash
# Gradescope runs this once, as root, while building the autograder image (Ubuntu 22.04).
# It installs Python 3.11 and the grading kit (from the zip's {KIT}/ folder) into
# /autograder/venv; unshare (util-linux) gives the grader its sandbox namespaces.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends {PYTHON} {PYTHON}-venv util-linux ca-certificates
{PYTHON} -m venv /autograder/venv
/autograder/venv/bin/python -m pip install --upgrade pip
/autograder/venv/bin/python -m pip install /autograder/source/{KIT}
"""
#: Seconds run_autograder allows the whole grading beyond the submission's own limit.
GRADING_MARGIN_S = 300
GITHUB_REPORTER = "education/autograding-grading-reporter@v1"
GRADE_STEP = "grade"


class DeployError(ValueError):
    """A recipe cannot be built; the message says what is missing."""


def _config(config: CourseConfig | None, config_path: str | os.PathLike[str] | None):
    return config if config is not None else load_config(config_path)


def _kit_pyproject(repo_root: Path) -> str:
    """The kit's pyproject.toml for the zip: same metadata, dependencies and commands,
    only the packages the grader runs (never the reference or the authoring tools)."""
    project = tomllib.loads((repo_root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = [
        "[build-system]",
        'requires = ["setuptools>=68"]',
        'build-backend = "setuptools.build_meta"',
        "",
        "[project]",
        f"name = {json.dumps(project['name'])}",
        f"version = {json.dumps(project['version'])}",
        f"requires-python = {json.dumps(project['requires-python'])}",
        f"dependencies = {json.dumps(project['dependencies'])}",
        "",
        "[project.scripts]",
        *(f"{name} = {json.dumps(target)}" for name, target in project["scripts"].items()),
        "",
        "[tool.setuptools.packages.find]",
        f"include = {json.dumps([*KIT_PACKAGES, *(f'{name}.*' for name in KIT_PACKAGES)])}",
        "",
    ]
    return "\n".join(lines)


def _settings(
    config: CourseConfig, assignment: str | None, allow_unsandboxed: bool
) -> dict[str, Any]:
    """deploy.json: what run_autograder needs to know about the course and the assignment
    (a Gradescope assignment has its own autograder)."""
    chosen = config.assignment(assignment)
    return {
        "notebook": chosen.notebook,
        "grade_args": ["--assignment", chosen.id]
        + (["--allow-unsandboxed"] if allow_unsandboxed else []),
        "timeout_s": config.grading.submission_timeout_s + GRADING_MARGIN_S,
        "error_result": gradescope_format.error_dict("{cause}"),
    }


def _add(archive: zipfile.ZipFile, name: str, data: bytes, *, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def _mnist_files(folder: Path) -> list[Path]:
    files = []
    for spec in MNIST_FILES:
        candidates = [folder / f"{spec.stem}.gz", folder / spec.stem]
        found = next((path for path in candidates if path.is_file()), None)
        if found is None:
            raise DeployError(f"{folder}: missing {spec.stem}.gz (or {spec.stem})")
        files.append(found)
    return files


def gradescope(
    output_zip: str | os.PathLike[str] = "gradescope-autograder.zip",
    *,
    config: CourseConfig | None = None,
    config_path: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    allow_unsandboxed: bool = False,
    repo_root: str | os.PathLike[str] = REPO_ROOT,
    assignment: str | None = None,
) -> Path:
    """Build Gradescope's autograder zip for ``assignment`` (None: the course's only one);
    MNIST from ``data_dir``, else $MNIST_DATA, else course.yaml's data.mnist_dir.
    ``allow_unsandboxed`` makes the grader run student code even where Gradescope's
    container allows no namespaces (see the README)."""
    config = _config(config, config_path)
    folder = resolve_folder(data_dir, config)
    if folder is None or not folder.is_dir():
        raise DeployError(
            "the zip must carry the MNIST files: pass --data DIR, set MNIST_DATA or set "
            "data.mnist_dir in course.yaml"
        )
    mnist = _mnist_files(folder)
    settings = json.dumps(_settings(config, assignment, allow_unsandboxed), indent=2) + "\n"
    root = Path(repo_root)
    target = Path(output_zip)
    target.parent.mkdir(parents=True, exist_ok=True)
    template = Path(deploy_templates.__file__).with_name("run_autograder.py")
    with zipfile.ZipFile(target, "w") as archive:
        _add(archive, "setup.sh", SETUP_SH.encode(), executable=True)
        _add(archive, "run_autograder", template.read_bytes(), executable=True)
        _add(archive, "deploy.json", settings.encode())
        course = course_yaml_text(
            config,
            header="course.yaml packaged by autograder deploy gradescope; MNIST in mnist/ here",
            mnist_dir=MNIST_FOLDER,
        )
        _add(archive, CONFIG_FILENAME, course.encode())
        for path in mnist:
            _add(archive, f"{MNIST_FOLDER}/{path.name}", path.read_bytes())
        _add(archive, f"{KIT}/pyproject.toml", _kit_pyproject(root).encode())
        for package in KIT_PACKAGES:
            for path in sorted((root / package).rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                    name = f"{KIT}/{path.relative_to(root).as_posix()}"
                    _add(archive, name, path.read_bytes())
    return target


def workflow(
    config: CourseConfig,
    *,
    kit_requirement: str,
    python_version: str = "3.11",
    allow_unsandboxed: bool = False,
    assignment: str | None = None,
) -> dict[str, Any]:
    """The GitHub Classroom workflow as data (what :func:`github` writes as YAML): a
    Classroom assignment is one repository, so it grades one assignment's notebook."""
    chosen = config.assignment(assignment)
    grade = f"autograder grade {chosen.notebook} --assignment {chosen.id} --github --quiet"
    if allow_unsandboxed:
        grade += " --allow-unsandboxed"
    return {
        "name": "Autograding",
        "on": ["push", "repository_dispatch", "workflow_dispatch"],
        "permissions": {"checks": "write", "actions": "read", "contents": "read"},
        "jobs": {
            "autograding": {
                "runs-on": "ubuntu-latest",
                "if": "github.actor != 'github-classroom[bot]'",
                "timeout-minutes": config.grading.submission_timeout_s // 60 + 15,
                "steps": [
                    {"name": "Check out the submission", "uses": "actions/checkout@v4"},
                    {
                        "name": "Set up Python",
                        "uses": "actions/setup-python@v5",
                        "with": {"python-version": python_version},
                    },
                    {
                        "name": "Install the grading kit",
                        "run": f"python -m pip install {json.dumps(kit_requirement)}",
                    },
                    {
                        # Ubuntu 24.04 runners forbid unprivileged user namespaces by default;
                        # the grader's sandbox needs them.
                        "name": "Allow the sandbox's user namespaces",
                        "run": "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 "
                        "|| true",
                    },
                    {"name": "Grade the notebook", "id": GRADE_STEP, "run": grade},
                    {
                        "name": "Report to GitHub Classroom",
                        "if": "always()",
                        "uses": GITHUB_REPORTER,
                        "env": {
                            f"{GRADE_STEP.upper()}_RESULTS": (
                                f"${{{{ steps.{GRADE_STEP}.outputs.result }}}}"
                            )
                        },
                        "with": {"runners": GRADE_STEP},
                    },
                ],
            }
        },
    }


def github(
    output_path: str | os.PathLike[str] = ".github/workflows/classroom.yml",
    *,
    config: CourseConfig | None = None,
    config_path: str | os.PathLike[str] | None = None,
    kit_requirement: str = "mnist-course-kit",
    python_version: str = "3.11",
    allow_unsandboxed: bool = False,
    assignment: str | None = None,
) -> Path:
    """Write the GitHub Classroom workflow for ``assignment``'s notebook (None: the course's
    only one); ``kit_requirement`` is what pip installs (a wheel URL, ``git+https://...``
    of the kit, or a package name)."""
    config = _config(config, config_path)
    data = workflow(
        config,
        kit_requirement=kit_requirement,
        python_version=python_version,
        allow_unsandboxed=allow_unsandboxed,
        assignment=assignment,
    )
    target = Path(output_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    header = "# GitHub Classroom autograding, generated by: autograder deploy github\n"
    target.write_text(header + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return target
