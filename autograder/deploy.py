"""Deployment recipes, generated from the course's settings: Gradescope and GitHub Classroom.

:func:`gradescope` builds the autograder zip Gradescope asks for (setup.sh, run_autograder,
the course's course.yaml, the MNIST files and the kit's source, never ``reference/`` or
the tests); :func:`github` writes the GitHub Classroom workflow that grades a pushed
notebook and hands the result to GitHub's reporter.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tomllib
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from autograder import deploy_templates, pool
from autograder.executor import KIT_PACKAGES, SCRATCH_BYTES
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
#: Gradescope's own figures (its troubleshooting page): an assignment starts with 768 MB,
#: half a CPU and a 10-minute timeout, and the timeout can be raised to 40 minutes at most.
GRADESCOPE_DEFAULTS = "768 MB of memory, 0.5 CPU, a 10-minute timeout"
GRADESCOPE_MAX_TIMEOUT_S = 40 * 60
#: Peak resident memory (MiB) measured by bench/memory.py (README) for a solved notebook of
#: each assignment: the grading process (TensorFlow, MNIST, the checks; the sandbox's start
#: included) and the model judge, which runs once the notebook has ended.
MEASURED_GRADER_MB = 300  # 271 + 12 for the sandbox's start
MEASURED_JUDGE_MB = 1450  # 1429, mnist_extensions
#: Headroom on the measured figures (allocator and TensorFlow versions, other models).
MEASURED_MARGIN = 1.5
#: The memory setting is rounded up to this step (half a decimal GB).
MEMORY_STEP_BYTES = 500_000_000
#: Wall seconds of the slowest solved notebook's grading, measured on this many cores
#: (bench/memory.py): CPU seconds that more CPUs spread out.
MEASURED_GRADING_S = 451  # mnist_extensions, on 2 busy shared cores
MEASURED_CORES = 2
#: Share of submission_timeout_s a solved notebook may use, so that a slower but correct
#: one still finishes.
CPU_TIME_SHARE = 0.5
#: Seconds run_autograder keeps, after it stops a grader that ran too long, to write its
#: error result before Gradescope's own timeout (which records a zero) strikes.
RESULT_MARGIN_S = 60
ZIP_README = """\
# Gradescope autograder for {notebook}

Built by `autograder deploy gradescope` from the course's course.yaml (packaged here).
Upload this zip as the assignment's autograder, then set its Autograder Settings:

```
{settings}
```

The figures follow course.yaml's `grading` section: the memory is what student code may
hold (`grading.memory_mb` and its memory-backed scratch folder) plus what the grader and
the model judge need (measured, with headroom); lowering `grading.memory_mb` lowers it.
The timeout is `grading.submission_timeout_s` plus the grader's margin and the time
run_autograder needs to report.

## What a submission gets

- Graded: the score, and one test per check with its message and hint.
- Not graded: an error result with no score and no tests whose output says the autograder
  could not grade the submission, that this is not the student's score, and why; the
  cause is also in `extra_data.error`, and run_autograder exits with status 1. The
  result carries no grade for Gradescope to record (no score, no tests), never a zero
  that blames the student. This happens when the container has less than
  {needed_memory_mb} MB of memory or too few CPUs (checked before grading, the output
  names the setting to raise), when its memory limit is hit during grading (the
  kernel's out-of-memory kill), when the grader crashes or writes no results, or when
  it runs past {grading_timeout_s} s (then run_autograder stops it and keeps
  {result_margin_s} s to report). Fix the cause and use Gradescope's "Regrade all
  submissions".
- Gradescope's own timeout is the one limit run_autograder cannot see (Gradescope passes
  none to the autograder): if it is shorter than the setting above, Gradescope stops the
  grading itself and the student gets a zero.

## Files

`setup.sh` (installs Python 3.11 and the kit into /autograder/venv), `run_autograder`,
`deploy.json` (the assignment, the grader's options and these settings), `course.yaml`,
`mnist/` (the four MNIST files), `kit/` (the grader's source; no solutions).
"""
WORKFLOW_HEADER = """\
# GitHub Classroom autograding, generated by: autograder deploy github
# Students can edit this file in their own repository (GitHub Classroom cannot prevent it),
# so the score it reports is feedback, not the grade of record. For the grade, clone the
# collected repositories and grade them yourself, e.g.:
#   gh classroom clone student-repos -a ASSIGNMENT_ID --per-page 100
#   autograder grade-all SLUG-submissions/    # each repository's {notebook}, by login
"""
GITHUB_REPORTER = "education/autograding-grading-reporter@v1"
GRADE_STEP = "grade"


class DeployError(ValueError):
    """A recipe cannot be built; the message says what is missing."""


def _config(config: CourseConfig | None, config_path: str | os.PathLike[str] | None):
    return config if config is not None else load_config(config_path)


@dataclass(frozen=True)
class GradescopeSettings:
    """What to choose in the assignment's Autograder Settings on Gradescope, what
    run_autograder checks before grading, and the time it gives the grader; derived from
    course.yaml by :func:`gradescope_settings` and recorded in deploy.json."""

    memory_gb: float  #: the Memory setting (enough whether Gradescope means GB or GiB)
    needed_memory_mb: int  #: MiB the container must have; run_autograder checks it
    cpus: int  #: the CPU setting
    min_cpus: float  #: below this, a solved notebook runs out of time; checked
    timeout_min: int  #: the Timeout setting
    grading_timeout_s: int  #: when run_autograder stops the grader and reports an error

    def describe(self) -> str:
        """The settings as the instructor reads them (printed, and in the zip's README)."""
        return "\n".join(
            [
                "Set these in the assignment's Autograder Settings on Gradescope (a new",
                f"assignment starts with {GRADESCOPE_DEFAULTS}):",
                f"  Memory:  at least {self.memory_gb:g} GB",
                f"  CPU:     {self.cpus} (a solved notebook needs {self.min_cpus:g} to finish "
                "in time; more grade faster)",
                f"  Timeout: at least {self.timeout_min} minutes",
                "Where Gradescope offers fixed choices, take the smallest one at least this",
                "large. run_autograder checks memory and CPUs before grading and, when they",
                "are too small, writes an error result (no score) naming the setting to raise.",
                "It cannot see the timeout: a shorter one lets Gradescope stop the grading",
                "and record a zero.",
            ]
        )


def gradescope_settings(config: CourseConfig) -> GradescopeSettings:
    """Memory, CPUs and timeout a Gradescope container needs for ``config``'s limits.

    Memory: the notebook's address-space limit (grading.memory_mb) and its memory-backed
    scratch folder, or the judge's measured need if larger (the two never run together),
    plus the grading process's measured need, with headroom; the setting is rounded up to
    half a GB (decimal, so that it is enough whichever unit Gradescope means). CPUs: the
    slowest solved notebook's measured CPU time must fit in CPU_TIME_SHARE of
    grading.submission_timeout_s (the trainings are wall-clock limited, so too few CPUs
    would time out correct notebooks). Timeout: the grader's own limit (the submission's
    limit, twice with grading.retrain, plus the margin grade-all gives a grading process)
    plus the time run_autograder needs to report, in whole minutes.
    """
    grading = config.grading
    student_mb = grading.memory_mb + SCRATCH_BYTES // 2**20
    needed_mb = max(student_mb, MEASURED_JUDGE_MB * MEASURED_MARGIN)
    needed_mb = math.ceil(needed_mb + MEASURED_GRADER_MB * MEASURED_MARGIN)
    memory_gb = math.ceil(needed_mb * 2**20 / MEMORY_STEP_BYTES) * MEMORY_STEP_BYTES / 1e9
    core_seconds = MEASURED_GRADING_S * MEASURED_CORES
    min_cpus = math.ceil(100 * core_seconds / grading.submission_timeout_s) / 100
    cpus = max(1, math.ceil(min_cpus / CPU_TIME_SHARE))
    # Re-training repeats the notebook's trainings in the judge: as much time again.
    trainings = 2 if grading.retrain else 1
    grading_timeout_s = math.ceil(trainings * grading.submission_timeout_s + pool.JUDGE_MARGIN_S)
    timeout_min = math.ceil((grading_timeout_s + RESULT_MARGIN_S) / 60)
    if timeout_min * 60 > GRADESCOPE_MAX_TIMEOUT_S:
        most = (GRADESCOPE_MAX_TIMEOUT_S - RESULT_MARGIN_S - pool.JUDGE_MARGIN_S) // trainings
        raise DeployError(
            f"grading.submission_timeout_s = {grading.submission_timeout_s}"
            + (" with grading.retrain" if grading.retrain else "")
            + f" needs a Gradescope timeout of {timeout_min} minutes, above Gradescope's "
            f"maximum of {GRADESCOPE_MAX_TIMEOUT_S // 60}: set it to at most {most:g} s "
            "in course.yaml"
        )
    return GradescopeSettings(memory_gb, needed_mb, cpus, min_cpus, timeout_min, grading_timeout_s)


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
    config: CourseConfig,
    assignment: str | None,
    allow_unsandboxed: bool,
    gradescope_limits: GradescopeSettings,
) -> dict[str, Any]:
    """deploy.json: what run_autograder needs to know about the course and the assignment
    (a Gradescope assignment has its own autograder)."""
    chosen = config.assignment(assignment)
    return {
        "notebook": chosen.notebook,
        "grade_args": ["--assignment", chosen.id]
        + (["--allow-unsandboxed"] if allow_unsandboxed else []),
        "gradescope": asdict(gradescope_limits),
        "error_result": gradescope_format.error_dict("{cause}"),
    }


def _zip_readme(notebook: str, limits: GradescopeSettings) -> str:
    return ZIP_README.format(
        notebook=notebook,
        settings=limits.describe(),
        needed_memory_mb=limits.needed_memory_mb,
        grading_timeout_s=limits.grading_timeout_s,
        result_margin_s=RESULT_MARGIN_S,
    )


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
    stream: TextIO | None = None,
) -> Path:
    """Build Gradescope's autograder zip for ``assignment`` (None: the course's only one);
    MNIST from ``data_dir``, else $MNIST_DATA, else course.yaml's data.mnist_dir.
    ``allow_unsandboxed`` makes the grader run student code even where Gradescope's
    container allows no namespaces (see the README). Prints the Autograder Settings the
    zip needs to ``stream`` (default stdout) and writes them into the zip's README.md."""
    config = _config(config, config_path)
    folder = resolve_folder(data_dir, config)
    if folder is None or not folder.is_dir():
        raise DeployError(
            "the zip must carry the MNIST files: pass --data DIR, set MNIST_DATA or set "
            "data.mnist_dir in course.yaml"
        )
    mnist = _mnist_files(folder)
    limits = gradescope_settings(config)
    settings = _settings(config, assignment, allow_unsandboxed, limits)
    root = Path(repo_root)
    target = Path(output_zip)
    target.parent.mkdir(parents=True, exist_ok=True)
    template = Path(deploy_templates.__file__).with_name("run_autograder.py")
    with zipfile.ZipFile(target, "w") as archive:
        _add(archive, "setup.sh", SETUP_SH.encode(), executable=True)
        _add(archive, "run_autograder", template.read_bytes(), executable=True)
        _add(archive, "deploy.json", (json.dumps(settings, indent=2) + "\n").encode())
        _add(archive, "README.md", _zip_readme(settings["notebook"], limits).encode())
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
    print(f"{limits.describe()}\n(also in the zip's README.md)", file=stream or sys.stdout)
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
    header = WORKFLOW_HEADER.format(notebook=config.assignment(assignment).notebook)
    target.write_text(header + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return target
