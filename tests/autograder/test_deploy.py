"""Deployment recipes: the Gradescope zip's run_autograder in a simulated /autograder
(a fake grader command instead of TensorFlow, a fake cgroup folder and /proc/meminfo for
the container's memory and CPUs), the Autograder Settings derived from course.yaml, and
the Classroom workflow's wiring."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import jsonschema
import pytest
import yaml

from autograder import deploy
from mnist_course.config import ConfigError, load_config, parse_config
from mnist_course.data import MNIST_FILES

SCHEMA = json.loads(
    (Path(__file__).parent / "formats" / "gradescope_results.schema.json").read_text()
)
#: A stand-in for the kit's command: writes a known result where --gradescope says, or
#: fails as FAKE_MODE asks; records its arguments and environment.
FAKE_GRADER = """#!{python}
import json, os, sys
from pathlib import Path
args = sys.argv[1:]
Path(os.environ["FAKE_LOG"]).write_text(json.dumps(
    {{"args": args, "cwd": os.getcwd(), "mnist": os.environ.get("MNIST_DATA")}}))
mode = os.environ.get("FAKE_MODE", "ok")
if mode == "killed":
    os.kill(os.getpid(), 9)
if mode == "oom":  # the kernel killed a process for the container's limit, then "ok"
    Path(os.environ["AUTOGRADER_CGROUP"], "memory.events.local").write_text("oom 1\\noom_kill 1\\n")
    mode = "ok"
if mode == "crash":
    print("Traceback ...", file=sys.stderr)
    print("GradingError: MNIST data for grading is unavailable", file=sys.stderr)
    sys.exit(2)
if mode == "ok":
    target = Path(args[args.index("--gradescope") + 1])
    target.write_text(json.dumps({{"score": 15, "max_score": 15, "tests": [
        {{"name": "Data loaded", "score": 1, "max_score": 1, "status": "passed"}}]}}))
"""


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Four tiny stand-ins for the MNIST files (the recipe copies, never decodes them)."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    for spec in MNIST_FILES:
        (folder / f"{spec.stem}.gz").write_bytes(spec.stem.encode())
    return folder


@pytest.fixture
def built(tmp_path: Path, data_dir: Path) -> Path:
    return deploy.gradescope(
        tmp_path / "autograder.zip",
        config=parse_config({}),
        data_dir=data_dir,
        assignment="mnist_digits",
    )


@pytest.fixture
def cgroup(tmp_path: Path, monkeypatch) -> Path:
    """The container's cgroup (v2) and /proc/meminfo, as run_autograder reads them: 16 GiB
    and no CPU quota, whatever the machine running the tests has."""
    folder = tmp_path / "cgroup"
    folder.mkdir()
    (folder / "memory.max").write_text(f"{16 * 2**30}\n")
    (folder / "cpu.max").write_text("max 100000\n")
    (folder / "memory.events.local").write_text("oom 0\noom_kill 0\n")
    meminfo = tmp_path / "meminfo"
    meminfo.write_text(f"MemTotal:       {32 * 2**20} kB\nMemFree:        1000 kB\n")
    monkeypatch.setenv("AUTOGRADER_CGROUP", str(folder))
    monkeypatch.setenv("AUTOGRADER_MEMINFO", str(meminfo))
    return folder


@pytest.fixture
def layout(tmp_path: Path, built: Path, cgroup: Path, monkeypatch) -> Path:
    """/autograder as Gradescope lays it out: the zip in source/, the student's files in
    submission/, and a fake grader command."""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(built) as archive:
        archive.extractall(root / "source")
    (root / "submission").mkdir()
    fake = tmp_path / "fake-autograder"
    fake.write_text(FAKE_GRADER.format(python=sys.executable))
    fake.chmod(0o755)
    monkeypatch.setenv("AUTOGRADER_ROOT", str(root))
    monkeypatch.setenv("AUTOGRADER_COMMAND", str(fake))
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "fake.json"))
    return root


def _run(root: Path, mode: str = "ok") -> tuple[int, dict]:
    done = subprocess.run(
        [sys.executable, str(root / "source" / "run_autograder")],
        env={**os.environ, "FAKE_MODE": mode},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    results = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    return done.returncode, results


def test_zip_holds_scripts_settings_data_and_kit_but_no_solutions(built):
    with zipfile.ZipFile(built) as archive:
        names = archive.namelist()
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        kit = tomllib.loads(archive.read("kit/pyproject.toml").decode())
        course = yaml.safe_load(archive.read("course.yaml"))
        setup = archive.read("setup.sh").decode()
    assert {"setup.sh", "run_autograder", "deploy.json", "course.yaml"} <= set(names)
    assert all(modes[name] & stat.S_IXUSR for name in ("setup.sh", "run_autograder"))
    assert {f"mnist/{spec.stem}.gz" for spec in MNIST_FILES} <= set(names)
    assert "kit/autograder/grader.py" in names and "kit/autograder/formats/html.py" in names
    assert (
        "kit/mnist_course/config.py" in names
        and "kit/mnist_course/assignments/__init__.py" in names
    )
    hidden = {"reference", "authoring", "tests"}
    assert not [n for n in names if hidden & set(n.split("/"))]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert kit["project"]["scripts"]["autograder"] == "autograder.cli:main"
    assert course["data"]["mnist_dir"] == "mnist"
    assert "pip install /autograder/source/kit" in setup and "venv" in setup


def test_the_zipped_kit_builds_into_the_grader_and_its_core(layout, tmp_path):
    """What setup.sh pip-installs: a wheel of the grader and the core package it imports."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path / "wheel"), str(layout / "source" / "kit")],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {"autograder/grader.py", "mnist_course/config.py", "mnist_course/spec.py"} <= set(names)
    assert "mnist_course/assignments/mnist_extensions.py" in names
    assert not [n for n in names if n.startswith(("reference/", "authoring/"))]


def test_packaged_course_yaml_finds_the_packaged_mnist(layout):
    config = load_config(layout / "source" / "course.yaml")
    assert config.mnist_dir == (layout / "source" / "mnist").resolve()


def test_run_autograder_grades_the_submitted_notebook(layout, tmp_path):
    (layout / "submission" / "mnist_digits.ipynb").write_text("{}")
    (layout / "submission" / "scratch.ipynb").write_text("{}")
    code, results = _run(layout)
    assert code == 0 and results["score"] == 15
    log = json.loads((tmp_path / "fake.json").read_text())
    assert log["args"][:2] == ["grade", str(layout / "submission" / "mnist_digits.ipynb")]
    assert log["args"][log["args"].index("--config") + 1] == str(layout / "source/course.yaml")
    assert "--allow-unsandboxed" not in log["args"]
    assert log["mnist"] == str(layout / "source" / "mnist")
    assert not Path(log["cwd"]).is_relative_to(layout / "source")  # nothing to shadow the kit


def test_a_crashing_grader_gives_an_error_result_not_a_zero(layout):
    (layout / "submission" / "mine.ipynb").write_text("{}")
    code, results = _run(layout, "crash")
    assert code == 1 and "score" not in results and results["tests"] == []
    assert "MNIST data for grading is unavailable" in results["extra_data"]["error"]
    assert "not your score" in results["output"]


def test_a_grader_that_writes_nothing_leaves_no_stale_result(layout):
    (layout / "submission" / "mine.ipynb").write_text("{}")
    (layout / "results").mkdir()
    (layout / "results" / "results.json").write_text('{"score": 15, "tests": []}')
    code, results = _run(layout, "silent")
    assert code == 1 and "no valid results.json" in results["extra_data"]["error"]


@pytest.mark.parametrize(
    ("files", "cause"),
    [((), "no .ipynb notebook"), (("a.ipynb", "b.ipynb"), "several notebooks")],
)
def test_no_or_ambiguous_notebook_is_an_error(layout, files, cause):
    for name in files:
        (layout / "submission" / name).write_text("{}")
    code, results = _run(layout)
    assert code == 1 and cause in results["extra_data"]["error"]


def test_missing_grader_command_is_an_error(layout, monkeypatch):
    (layout / "submission" / "mnist_digits.ipynb").write_text("{}")
    monkeypatch.setenv("AUTOGRADER_COMMAND", str(layout / "venv" / "bin" / "autograder"))
    code, results = _run(layout)
    assert code == 1 and "not installed" in results["extra_data"]["error"]


def test_settings_follow_course_yaml_and_reach_the_printout_the_readme_and_the_check(
    tmp_path, data_dir, capsys
):
    default = deploy.gradescope_settings(parse_config({}))
    lowered = deploy.gradescope_settings(parse_config({"grading": {"memory_mb": 2048}}))
    assert lowered.needed_memory_mb < default.needed_memory_mb - 4000
    assert lowered.memory_gb < default.memory_gb
    # Enough in whichever unit Gradescope means by GB, and more than student code may hold.
    assert default.memory_gb * 1e9 >= default.needed_memory_mb * 2**20 > 6144 * 2**20
    assert default.cpus >= 1 and default.min_cpus <= default.cpus
    longer = deploy.gradescope_settings(parse_config({"grading": {"submission_timeout_s": 1500}}))
    assert longer.grading_timeout_s - default.grading_timeout_s == 600
    assert longer.timeout_min * 60 >= longer.grading_timeout_s + deploy.RESULT_MARGIN_S
    capsys.readouterr()
    path = deploy.gradescope(
        tmp_path / "z.zip",
        config=parse_config({"grading": {"memory_mb": 2048}}),
        data_dir=data_dir,
        assignment="mnist_digits",
    )
    printed = capsys.readouterr().out
    with zipfile.ZipFile(path) as archive:
        readme = archive.read("README.md").decode()
        recorded = json.loads(archive.read("deploy.json"))["gradescope"]
    assert lowered.describe() in printed and lowered.describe() in readme
    assert f"Memory:  at least {lowered.memory_gb:g} GB" in printed
    assert recorded == {
        "memory_gb": lowered.memory_gb,
        "needed_memory_mb": lowered.needed_memory_mb,
        "cpus": lowered.cpus,
        "min_cpus": lowered.min_cpus,
        "timeout_min": lowered.timeout_min,
        "grading_timeout_s": lowered.grading_timeout_s,
    }


def test_a_timeout_above_gradescopes_maximum_is_refused_naming_the_key():
    with pytest.raises(deploy.DeployError, match=r"grading.submission_timeout_s.*40"):
        deploy.gradescope_settings(parse_config({"grading": {"submission_timeout_s": 2300}}))


def test_nonsense_memory_in_course_yaml_names_file_and_key(tmp_path, data_dir):
    course = tmp_path / "course.yaml"
    course.write_text("grading:\n  memory_mb: lots\n")
    with pytest.raises(ConfigError, match=r"(?s)course.yaml.*grading.memory_mb.*integer"):
        deploy.gradescope(tmp_path / "z.zip", config_path=course, data_dir=data_dir)


@pytest.mark.parametrize(
    ("files", "memory"),
    [
        ({"memory.max": f"{768 * 2**20}"}, 768),  # Gradescope's default, cgroup v2
        ({"memory.max": "max"}, 2048),  # no cgroup limit: the machine's MemTotal
        ({"memory/memory.limit_in_bytes": f"{3 * 2**30}"}, 2048),  # cgroup v1, MemTotal lower
        ({"memory/memory.limit_in_bytes": f"{3 * 2**30}", "meminfo": 2**24}, 3072),
    ],
)
def test_too_little_memory_is_an_error_naming_the_setting(layout, cgroup, tmp_path, files, memory):
    (cgroup / "memory.max").unlink()
    (tmp_path / "meminfo").write_text(f"MemTotal: {files.pop('meminfo', 2**21)} kB\n")
    for name, text in files.items():
        (cgroup / name).parent.mkdir(exist_ok=True)
        (cgroup / name).write_text(text + "\n")
    (layout / "submission" / "mnist_digits.ipynb").write_text("{}")
    code, results = _run(layout)
    needed = deploy.gradescope_settings(parse_config({}))
    error = results["extra_data"]["error"]
    assert code == 1 and "score" not in results and results["tests"] == []
    assert f"this container has {memory} MB" in error
    assert f"Autograder Settings on Gradescope to at least {needed.memory_gb:g} GB" in error
    assert "raise Memory in the assignment's" in error
    assert "not your score" in results["output"]
    assert not (tmp_path / "fake.json").exists()  # the grader never started


def test_too_few_cpus_is_an_error_naming_the_setting(layout, cgroup, tmp_path):
    (cgroup / "cpu.max").write_text("10000 100000\n")  # a tenth of a CPU
    (layout / "submission" / "mnist_digits.ipynb").write_text("{}")
    code, results = _run(layout)
    assert code == 1 and "score" not in results
    assert "has 0.1: raise CPU in the assignment's" in results["extra_data"]["error"]
    assert not (tmp_path / "fake.json").exists()


@pytest.mark.parametrize("mode", ["oom", "killed"])
def test_running_out_of_memory_during_grading_is_an_error_not_the_students_score(layout, mode):
    """The kernel killed a process for the container's limit (the grader then reported on
    what was left), or killed the grader itself."""
    (layout / "submission" / "mnist_digits.ipynb").write_text("{}")
    code, results = _run(layout, mode)
    error = results["extra_data"]["error"]
    assert code == 1 and "score" not in results and results["tests"] == []
    assert "memory limit" in error and "raise Memory" in error


def test_run_autograder_prints_the_settings_it_needs(layout):
    (layout / "submission" / "mnist_digits.ipynb").write_text("{}")
    done = subprocess.run(
        [sys.executable, str(layout / "source" / "run_autograder")],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    settings = deploy.gradescope_settings(parse_config({}))
    assert done.returncode == 0
    assert f"Timeout >= {settings.timeout_min} minutes" in done.stdout


def test_unsandboxed_deployment_passes_the_flag(tmp_path, data_dir):
    path = deploy.gradescope(
        tmp_path / "z.zip",
        config=parse_config({}),
        data_dir=data_dir,
        allow_unsandboxed=True,
        assignment="mnist_digits",
    )
    with zipfile.ZipFile(path) as archive:
        assert json.loads(archive.read("deploy.json"))["grade_args"] == [
            "--assignment",
            "mnist_digits",
            "--allow-unsandboxed",
        ]


def test_zip_without_mnist_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("MNIST_DATA", raising=False)
    with pytest.raises(deploy.DeployError, match="MNIST"):
        deploy.gradescope(tmp_path / "z.zip", config=parse_config({}))
    (tmp_path / "empty").mkdir()
    with pytest.raises(deploy.DeployError, match="missing train-images"):
        deploy.gradescope(tmp_path / "z.zip", config=parse_config({}), data_dir=tmp_path / "empty")


def test_classroom_workflow_wires_the_grader_output_to_the_reporter(tmp_path):
    path = deploy.github(
        tmp_path / ".github" / "workflows" / "classroom.yml",
        config=parse_config({}),
        kit_requirement="git+https://example.org/kit.git",
        assignment="mnist_digits",
    )
    workflow = yaml.safe_load(path.read_text())
    assert set(workflow["on"]) >= {"push", "repository_dispatch"}
    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@")
    install = next(step for step in steps if "pip install" in step.get("run", ""))
    assert "git+https://example.org/kit.git" in install["run"]
    grade = next(step for step in steps if step.get("run", "").startswith("autograder grade"))
    assert "mnist_digits.ipynb" in grade["run"] and "--github" in grade["run"]
    reporter = steps[-1]
    assert reporter["uses"] == "education/autograding-grading-reporter@v1"
    assert reporter["if"] == "always()"
    runners = reporter["with"]["runners"].split(",")
    assert runners == [grade["id"]]
    # The reporter reads each runner's result from the <RUNNER>_RESULTS variable.
    assert reporter["env"] == {
        f"{grade['id'].upper()}_RESULTS": f"${{{{ steps.{grade['id']}.outputs.result }}}}"
    }
    assert steps.index(install) < steps.index(grade) < steps.index(reporter)
    assert workflow["permissions"]["checks"] == "write"
    header = path.read_text().split("\nname:")[0]
    assert "Students can edit this file" in header
    assert "autograder grade-all SLUG-submissions/" in header and "mnist_digits.ipynb" in header
    assert "for repo in" not in header  # grade-all reads the clone as it is
