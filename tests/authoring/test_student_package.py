"""authoring.student_package: students get the core package, the student side of autograder
and the course settings, never reference or authoring."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import nbformat
import pytest
import yaml
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

from authoring.student_package import build_student_wheel

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The sandbox, the batch grader and the instructor's commands: never in students' hands.
KIT_ONLY = ("executor", "sandbox_init", "harness", "judge", "grader", "batch", "pool",
            "gradebook", "cli", "commands", "__main__")  # fmt: skip
#: Kit modules the shipped code may name only behind a check that they are installed.
GUARDED = {"autograder.grader"}
#: The kit's packages that a student may have: the core and the grader's student side.
KIT_PACKAGES = ("mnist_course", "autograder")
STUB = 'raise NotImplementedError("Replace this line with your code (instructions above).")'


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
    assert "mnist_course/data.py" in names
    assert "mnist_course/course.yaml" in names and "mnist_course/assignments/__init__.py" in names
    assert not [name for name in names if name.startswith(("reference", "authoring"))]
    metadata = (
        zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    )
    assert "Requires-Dist: tensorflow" in metadata
    assert "nbgrader" not in metadata


def test_packaged_course_yaml_keeps_settings_but_not_the_data_folder(wheel: Path) -> None:
    packaged = yaml.safe_load(zipfile.ZipFile(wheel).read("mnist_course/course.yaml"))
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
            "import autograder, mnist_course.config as c; cfg = c.load_config(); "
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
            "authoring.student_package",
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


def test_wheel_ships_no_sandbox_grader_or_solutions(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for module in KIT_ONLY:
        assert f"autograder/{module}.py" not in names, module
    assert "autograder/student.py" in names and "autograder/pytest_plugin.py" in names
    assert "autograder/checks/hints.py" in names


def _imported_kit_modules(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(KIT_PACKAGES):
            found |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith(KIT_PACKAGES)}
    return found


def test_shipped_modules_import_only_what_is_shipped(wheel: Path) -> None:
    """Every kit module a shipped file imports, even lazily, is in the wheel."""
    archive = zipfile.ZipFile(wheel)
    sources = [n for n in archive.namelist() if n.startswith(KIT_PACKAGES) and n.endswith(".py")]
    shipped = {n.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for n in sources}
    assert {"mnist_course", "mnist_course.config", "autograder", "autograder.notebook"} <= shipped
    for name in sources:
        for module in _imported_kit_modules(archive.read(name).decode()):
            if module.rsplit(".", 1)[0] in GUARDED or module in GUARDED:
                continue
            # "from autograder.checks import data" names a module; "... import advise" not
            parent = module.rsplit(".", 1)[0]
            assert module in shipped or parent in shipped, f"{name} imports {module}"


def test_wheel_registers_the_command_and_the_pytest_plugin(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    entry_points = archive.read(
        next(n for n in archive.namelist() if n.endswith("entry_points.txt"))
    ).decode()
    assert "[console_scripts]\nautograder = autograder.student:main" in entry_points
    assert "[pytest11]\nautograder = autograder.pytest_plugin" in entry_points
    metadata = archive.read(next(n for n in archive.namelist() if n.endswith("METADATA")))
    assert b"Requires-Dist: pytest" in metadata and b"distributed" not in metadata


def _released(source: Path) -> nbformat.NotebookNode:
    """The notebook as students receive it (nbgrader's own preprocessors, in process)."""
    notebook = nbformat.read(source, as_version=4)
    notebook, _ = ClearSolutions(code_stub={"python": f"# YOUR CODE HERE\n{STUB}"}).preprocess(
        notebook, {}
    )
    return ClearHiddenTests().preprocess(notebook, {})[0]


@pytest.fixture(scope="module")
def student_env(wheel: Path, tmp_path_factory) -> Path:
    """A fresh venv with only the student wheel of the kit; its third-party packages come
    from this environment through a .pth file (no downloads, and the kit's editable
    install is not activated there)."""
    home = tmp_path_factory.mktemp("student-venv") / "venv"
    venv.create(home, with_pip=False)
    python = home / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(purelib, "kit-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--prefix", str(home),
         str(wheel)],
        check=True,
    )  # fmt: skip
    return home


def _student_run(home: Path, *args: str, cwd: Path, mnist_dir: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("COURSE_CONFIG", "PYTHONPATH")}
    env.update(MNIST_DATA=str(mnist_dir), PATH=f"{home / 'bin'}{os.pathsep}{env['PATH']}")
    return subprocess.run(
        [str(home / "bin" / args[0]), *args[1:]],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_student_env_has_the_wheel_and_not_the_grader(student_env, tmp_path, mnist_dir):
    probe = ("import autograder, importlib.util as u; print(autograder.__file__); "
             "print(u.find_spec('autograder.grader'), u.find_spec('reference'))")  # fmt: skip
    done = _student_run(student_env, "python", "-c", probe, cwd=tmp_path, mnist_dir=mnist_dir)
    module_file, specs = done.stdout.strip().splitlines()
    assert module_file.startswith(str(student_env)), done.stderr
    assert specs == "None None"


def test_student_command_and_pytest_plugin_are_installed(student_env, tmp_path, mnist_dir):
    done = _student_run(student_env, "autograder", "check", "--help", cwd=tmp_path,
                        mnist_dir=mnist_dir)  # fmt: skip
    assert done.returncode == 0 and "notebook" in done.stdout and "--config" in done.stdout
    done = _student_run(student_env, "python", "-m", "pytest", "--help", cwd=tmp_path,
                        mnist_dir=mnist_dir)  # fmt: skip
    assert "--submission=PATH" in done.stdout, done.stderr
    done = _student_run(student_env, "python", "-m", "pytest", "--submission=missing.ipynb",
                        cwd=tmp_path, mnist_dir=mnist_dir)  # fmt: skip
    assert done.returncode != 0
    assert "missing.ipynb: notebook not found" in done.stderr + done.stdout


def test_student_check_runs_the_release_in_a_fresh_kernel(student_env, tmp_path, mnist_dir):
    """The untouched release, checked with nothing but the wheel: every check says what
    is left to write, with its hint, and the exit status says some failed."""
    nbformat.write(_released(REPO_ROOT / "assignments/mnist_digits/mnist_digits.ipynb"),
                   tmp_path / "mnist_digits.ipynb")  # fmt: skip
    done = _student_run(student_env, "autograder", "check", "mnist_digits.ipynb", cwd=tmp_path,
                        mnist_dir=mnist_dir)  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "score: 0 / 15" in done.stdout
    assert done.stdout.count("FAIL") == 12 and "Traceback" not in done.stdout + done.stderr
    assert "Not written yet: X_train, y_train, X_test and y_test are not defined" in done.stdout
    assert "build_cnn() is not written yet" in done.stdout and "hint: " in done.stdout
