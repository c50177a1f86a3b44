"""Build what students install: the core package and the student side of ``autograder``.

Students need the kit in their Jupyter environment (the notebook loads MNIST with
``mnist_course.data`` and its test cells call ``autograder.notebook``), but they must
never receive :mod:`reference` or :mod:`authoring`, nor the sandbox or the batch grader
(what a course grades with is not theirs to study). Installing this repository would
ship all of it, so instructors hand out this wheel instead, which holds the core package
(:data:`CORE_PACKAGE`, whole), only the grader modules in :data:`STUDENT_MODULES`, the
``autograder check`` command
(:func:`autograder.student.main`) and the pytest plugin (``pytest --submission``)::

    python -m authoring.student_package            # writes dist/mnist_course_kit_student-*.whl

The wheel carries a copy of course.yaml (so the notebook trains with the course's
budgets), without ``data.mnist_dir``: a folder on the instructor's machine means
nothing on a student's, where ``MNIST_DATA`` or Keras' cache is used instead.
Its metadata (version, dependencies) is taken from the kit's pyproject.toml, less
the instructor-only tools.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from mnist_course.config import CONFIG_FILENAME, ConfigError, course_yaml_text, load_config

REPO_ROOT = Path(__file__).resolve().parents[1]
#: What every side needs (course.yaml, data, specs, result records, training): shipped whole.
CORE_PACKAGE = "mnist_course"
PACKAGE = "autograder"
DISTRIBUTION = "mnist-course-kit-student"
#: Dependencies only instructors need (grading through nbgrader, batches on Dask).
INSTRUCTOR_ONLY = ("nbgrader", "distributed")
#: Development tools students need too: pytest runs ``pytest --submission=NOTEBOOK``.
STUDENT_TOOLS = ("pytest",)
#: What students get of the grader package: the checks and what runs them in their own
#: kernel. A module added to the grader stays out until named here.
STUDENT_MODULES = (
    "__init__.py",
    "arrays.py",
    "artifacts.py",
    "messages.py",
    "model_screening.py",
    "checks",
    "families",
    "formats/__init__.py",
    "formats/text.py",
    "notebook.py",
    "pytest_plugin.py",
    "reports.py",
    "student.py",
)
#: The student command and the pytest plugin, as entry points of the wheel.
ENTRY_POINTS = {
    "project.scripts": {"autograder": f"{PACKAGE}.student:main"},
    "project.entry-points.pytest11": {"autograder": f"{PACKAGE}.pytest_plugin"},
}


def student_course_yaml(config_path: Path) -> str:
    """course.yaml as students get it: the validated settings, without the data folder."""
    return course_yaml_text(
        load_config(config_path),
        header="course.yaml packaged for students by python -m authoring.student_package",
    )


def _project(repo_root: Path) -> dict:
    return tomllib.loads((repo_root / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _entry_point_lines() -> list[str]:
    lines = []
    for table, entries in ENTRY_POINTS.items():
        lines.append(f"[{table}]")
        lines += [f'{name} = "{target}"' for name, target in entries.items()]
        lines.append("")
    return lines


def pyproject_text(repo_root: Path) -> str:
    """The student distribution's pyproject.toml, derived from the kit's."""
    project = _project(repo_root)
    dependencies = [
        dep
        for dep in project["dependencies"]
        if not any(dep.startswith(name) for name in INSTRUCTOR_ONLY)
    ]
    dependencies += [
        dep
        for dep in project.get("optional-dependencies", {}).get("dev", [])
        if re.split(r"[<>=!~\[ ;]", dep, maxsplit=1)[0] in STUDENT_TOOLS
    ]
    lines = [
        "[build-system]",
        'requires = ["setuptools>=61"]',
        'build-backend = "setuptools.build_meta"',
        "",
        "[project]",
        f'name = "{DISTRIBUTION}"',
        f'version = "{project["version"]}"',
        'description = "Student side of the MNIST course kit: data loader, self-checks, '
        '`autograder check`"',
        f'requires-python = "{project["requires-python"]}"',
        "dependencies = [",
        *(f'    "{dep}",' for dep in dependencies),
        "]",
        "",
        *_entry_point_lines(),
        "[tool.setuptools.packages.find]",
        f'include = ["{CORE_PACKAGE}", "{CORE_PACKAGE}.*", "{PACKAGE}", "{PACKAGE}.*"]',
        "",
        "[tool.setuptools.package-data]",
        f'{CORE_PACKAGE} = ["{CONFIG_FILENAME}"]',
        "",
    ]
    return "\n".join(lines)


def build_student_wheel(
    output_dir: Path = REPO_ROOT / "dist",
    *,
    config_path: Path = REPO_ROOT / CONFIG_FILENAME,
    repo_root: Path = REPO_ROOT,
) -> Path:
    """Write the wheel into ``output_dir`` and return its path."""
    output_dir = output_dir.resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="student-package-") as scratch:
        source = Path(scratch)
        shipped = [CORE_PACKAGE, *(f"{PACKAGE}/{name}" for name in STUDENT_MODULES)]
        for name in shipped:
            origin, target = repo_root / name, source / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if origin.is_dir():
                shutil.copytree(
                    origin, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
                )
            else:
                shutil.copy(origin, target)
        (source / CORE_PACKAGE / CONFIG_FILENAME).write_text(
            student_course_yaml(config_path), encoding="utf-8"
        )
        (source / "pyproject.toml").write_text(pyproject_text(repo_root), encoding="utf-8")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-deps",
                "--no-build-isolation",
                "--wheel-dir",
                str(output_dir),
                str(source),
            ],
            check=True,
        )
    stem = DISTRIBUTION.replace("-", "_")
    return output_dir / f"{stem}-{_project(repo_root)['version']}-py3-none-any.whl"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m authoring.student_package", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--output", default=str(REPO_ROOT / "dist"), help="folder for the wheel")
    parser.add_argument("--config", default=str(REPO_ROOT / CONFIG_FILENAME), help="course.yaml")
    args = parser.parse_args(argv)
    try:
        wheel = build_student_wheel(Path(args.output), config_path=Path(args.config))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"error: building the wheel failed ({exc})", file=sys.stderr)
        return 1
    print(f"wrote {wheel}  (students: pip install {wheel.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
