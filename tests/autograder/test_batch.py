"""autograder.batch: a whole class graded, one report each and one CSV, whatever breaks."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import batch, executor, pool
from autograder.grader import GradingError
from mnist_course.spec import NOTEBOOK_METADATA_KEY

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _data(mnist_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("MNIST_DATA", str(mnist_dir))


@pytest.fixture
def class_folder(tmp_path: Path, helpers) -> Path:
    """nbgrader's submitted/ layout for three students, plus one flat LMS-style file."""
    submitted = tmp_path / "submitted"
    for student, scenario in (
        ("alice", "release-untouched"),
        ("bob", "corrupt-json"),
        ("carol", "sys-exit"),
    ):
        folder = submitted / student / "mnist_digits"
        folder.mkdir(parents=True)
        shutil.copy(
            helpers.submissions / f"submission-{scenario}.ipynb", folder / "mnist_digits.ipynb"
        )
    (submitted / "empty-student").mkdir()  # collected nothing: not a submission
    shutil.copy(helpers.submissions / "submission-syntax-error.ipynb", submitted / "dave.ipynb")
    return submitted


def test_finds_both_layouts(class_folder: Path, helpers) -> None:
    found = batch.find_submissions(class_folder, helpers.course_config())
    assert [(s.student, s.assignment) for s in found.submissions] == [
        ("alice", "mnist_digits"),
        ("bob", "mnist_digits"),
        ("carol", "mnist_digits"),
        ("dave", "mnist_digits"),
    ]
    assert found.notices == [
        "empty-student/: nothing to grade (no mnist_digits.ipynb or mnist_extensions.ipynb "
        "in it, nor in <assignment>/ beneath it)"
    ]


# The layouts find_submissions reads, on files only (nothing is graded here).


def _notebook(path: Path, assignment: str | None = None) -> Path:
    """An empty notebook at ``path``, tagged with ``assignment`` as the generator tags it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {NOTEBOOK_METADATA_KEY: {"assignment": assignment}} if assignment else {}
    nbformat.write(nbformat.v4.new_notebook(metadata=metadata), path)
    return path


def _found(folder: Path, config) -> list[tuple[str, str, str]]:
    """(student, assignment, path under ``folder``) of each submission found."""
    return [
        (s.student, s.assignment, s.path.relative_to(folder).as_posix())
        for s in batch.find_submissions(folder, config).submissions
    ]


def test_finds_nbgrader_layout_for_each_assignment(tmp_path: Path, helpers) -> None:
    _notebook(tmp_path / "s-001" / "mnist_digits" / "mnist_digits.ipynb")
    _notebook(tmp_path / "s-002" / "mnist_extensions" / "mnist_extensions.ipynb")
    assert _found(tmp_path, helpers.course_config()) == [  # names kept: no prefix stripped
        ("s-001", "mnist_digits", "s-001/mnist_digits/mnist_digits.ipynb"),
        ("s-002", "mnist_extensions", "s-002/mnist_extensions/mnist_extensions.ipynb"),
    ]


def test_finds_a_flat_folder_by_metadata(tmp_path: Path, helpers) -> None:
    _notebook(tmp_path / "erin.ipynb", "mnist_extensions")
    _notebook(tmp_path / "frank.ipynb", "mnist_digits")
    assert _found(tmp_path, helpers.course_config()) == [
        ("erin", "mnist_extensions", "erin.ipynb"),
        ("frank", "mnist_digits", "frank.ipynb"),
    ]


def test_finds_github_classrooms_clone_and_names_students_by_login(tmp_path: Path, helpers) -> None:
    """``gh classroom clone student-repos``: <slug>-submissions/<slug>-<login>/<notebook>;
    the logins may share a start of their own (mary-...), the slug is the folder's."""
    clone = tmp_path / "mnist-digits-submissions"
    for login in ("alice", "mary-ann", "mary-jane"):
        _notebook(clone / f"mnist-digits-{login}" / "mnist_digits.ipynb")
    (clone / "mnist-digits-carol").mkdir()  # accepted, never pushed the notebook
    (clone / "mnist-digits-carol" / "README.md").write_text("hello")
    found = batch.find_submissions(clone, helpers.course_config())
    assert [(s.student, s.assignment) for s in found.submissions] == [
        ("alice", "mnist_digits"),
        ("mary-ann", "mnist_digits"),
        ("mary-jane", "mnist_digits"),
    ]
    assert found.submissions[0].path == clone / "mnist-digits-alice" / "mnist_digits.ipynb"
    assert [notice.split(":")[0] for notice in found.notices] == ["mnist-digits-carol/"]
    assert "nothing to grade" in found.notices[0]


def test_a_single_repository_in_the_clone_folder_is_named_by_its_login(
    tmp_path: Path, helpers
) -> None:
    clone = tmp_path / "hw1-submissions"
    _notebook(clone / "hw1-dana" / "mnist_digits.ipynb")
    assert _found(clone, helpers.course_config())[0][0] == "dana"


def test_student_folders_elsewhere_lose_only_a_prefix_they_all_share(
    tmp_path: Path, helpers
) -> None:
    config = helpers.course_config()
    renamed = tmp_path / "repos"  # not named <slug>-submissions: the shared prefix is the slug
    for repo in ("mnist-digits-alice", "mnist-digits-bob"):
        _notebook(renamed / repo / "mnist_digits.ipynb")
    assert [student for student, _, _ in _found(renamed, config)] == ["alice", "bob"]
    own = tmp_path / "own"  # no prefix shared by all: the names as they are
    for student in ("alice", "bob-smith"):
        _notebook(own / student / "mnist_extensions.ipynb")
    assert [(student, a) for student, a, _ in _found(own, config)] == [
        ("alice", "mnist_extensions"),
        ("bob-smith", "mnist_extensions"),
    ]
    single = tmp_path / "single"  # one folder shares a prefix with no other: kept
    _notebook(single / "hw-erin" / "mnist_digits.ipynb")
    assert _found(single, config)[0][0] == "hw-erin"


def test_student_names_lose_a_shared_prefix_only_when_each_keeps_a_rest() -> None:
    assert batch.student_names("hw-submissions", ["hw-a-b", "hw-a-c"]) == {
        "hw-a-b": "a-b",
        "hw-a-c": "a-c",
    }
    assert batch.student_names("x", ["hw-a-b", "hw-a-c"]) == {"hw-a-b": "b", "hw-a-c": "c"}
    assert batch.student_names("hw-submissions", ["hw-a", "bob"]) == {"hw-a": "hw-a", "bob": "bob"}
    assert batch.student_names("x", ["hw-", "hw-a"]) == {"hw-": "hw-", "hw-a": "hw-a"}


def test_finds_every_layout_in_one_folder(tmp_path: Path, helpers) -> None:
    _notebook(tmp_path / "alice" / "mnist_digits" / "mnist_digits.ipynb")
    _notebook(tmp_path / "bob" / "mnist_digits.ipynb")
    _notebook(tmp_path / "bob" / "mnist_extensions.ipynb")
    _notebook(tmp_path / "carol.ipynb", "mnist_digits")
    assert _found(tmp_path, helpers.course_config()) == [
        ("alice", "mnist_digits", "alice/mnist_digits/mnist_digits.ipynb"),
        ("bob", "mnist_digits", "bob/mnist_digits.ipynb"),
        ("bob", "mnist_extensions", "bob/mnist_extensions.ipynb"),
        ("carol", "mnist_digits", "carol.ipynb"),
    ]


def test_a_folder_with_both_layouts_counts_once_from_nbgraders(tmp_path: Path, helpers) -> None:
    _notebook(tmp_path / "alice" / "mnist_digits" / "mnist_digits.ipynb")
    _notebook(tmp_path / "alice" / "mnist_digits.ipynb")
    found = batch.find_submissions(tmp_path, helpers.course_config())
    assert [s.path.relative_to(tmp_path).as_posix() for s in found.submissions] == [
        "alice/mnist_digits/mnist_digits.ipynb"
    ]
    assert found.notices == [
        "alice/: graded alice/mnist_digits/mnist_digits.ipynb (nbgrader's layout), "
        "not alice/mnist_digits.ipynb"
    ]


def test_one_student_twice_from_two_layouts_is_an_error_naming_both(
    tmp_path: Path, helpers
) -> None:
    _notebook(tmp_path / "alice" / "mnist_digits" / "mnist_digits.ipynb")
    _notebook(tmp_path / "alice.ipynb", "mnist_digits")
    with pytest.raises(GradingError, match="two submissions of alice for mnist_digits") as error:
        batch.find_submissions(tmp_path, helpers.course_config())
    assert "alice.ipynb" in str(error.value) and "mnist_digits.ipynb" in str(error.value)


def test_one_students_nbgrader_folder_is_not_read_as_a_repository(tmp_path: Path, helpers) -> None:
    """grade-all pointed at submitted/alice/: its <assignment>/<notebook> is nbgrader's,
    never a student named mnist_digits."""
    alice = tmp_path / "submitted" / "alice"
    _notebook(alice / "mnist_digits" / "mnist_digits.ipynb")
    found = batch.find_submissions(alice, helpers.course_config())
    assert found.submissions == []
    assert "mnist_digits/ is named like an assignment" in found.notices[0]
    with pytest.raises(GradingError, match="no submissions found.*named like an assignment"):
        batch.grade_all(alice, tmp_path / "out", config=helpers.course_config())
    assert _found(tmp_path / "submitted", helpers.course_config()) == [
        ("alice", "mnist_digits", "alice/mnist_digits/mnist_digits.ipynb")
    ]


def test_a_repository_without_the_notebook_is_nothing_to_grade(tmp_path: Path, helpers) -> None:
    clone = tmp_path / "hw-submissions"
    _notebook(clone / "hw-alice" / "solution" / "mnist_digits.ipynb")  # not at its top
    _notebook(clone / "hw-alice" / "notes.ipynb")  # another notebook
    (clone / ".git").mkdir()  # hidden folders are not students
    with pytest.raises(GradingError, match="no submissions found") as error:
        batch.grade_all(clone, tmp_path / "out", config=helpers.course_config())
    assert "Classroom" in str(error.value) and "hw-alice/: nothing to grade" in str(error.value)
    assert ".git" not in str(error.value)


def test_a_shared_notebook_name_is_told_apart_by_its_metadata(tmp_path: Path, helpers) -> None:
    config = helpers.course_config()
    same = {
        id_: settings.model_copy(update={"notebook": "work.ipynb"})
        for id_, settings in config.assignments.items()
    }
    config = config.model_copy(update={"assignments": same})
    _notebook(tmp_path / "alice" / "work.ipynb", "mnist_extensions")
    _notebook(tmp_path / "bob" / "work.ipynb")  # untagged: cannot tell
    found = batch.find_submissions(tmp_path, config)
    assert [(s.student, s.assignment) for s in found.submissions] == [("alice", "mnist_extensions")]
    assert found.notices[0].startswith("bob/: not graded:")
    assert "cannot tell which assignment" in found.notices[0]


def test_grades_everyone_and_writes_reports_and_csv(
    class_folder: Path, tmp_path: Path, helpers, monkeypatch
) -> None:
    config = helpers.course_config(cell_timeout_s=20, submission_timeout_s=120)
    messages: list[str] = []
    results = batch.grade_all(
        class_folder, tmp_path / "out", config=config, progress=messages.append, workers=2
    )
    assert all(result.graded and result.fresh for result in results)
    scores = {result.submission.student: result.report.score for result in results}
    assert scores["alice"] == 0  # the untouched release
    assert scores["bob"] == 0  # not JSON: graded zero with the reason
    assert scores["carol"] == 3  # sys.exit after the data stages
    assert scores["dave"] == config.assignment("mnist_digits").points(
        "data.load"
    )  # a syntax error after loading

    rows = list(csv.DictReader((tmp_path / "out" / batch.GRADES_FILE).open()))
    assert [row["student"] for row in rows] == ["alice", "bob", "carol", "dave"]
    assert (
        float(rows[2]["score"]) == 3
        and float(rows[2]["max_score"]) == config.assignment("mnist_digits").total_points()
    )
    assert float(rows[2]["data.load"]) == config.assignment("mnist_digits").points("data.load")
    assert {row["status"] for row in rows} == {"graded"}
    bob = json.loads((tmp_path / "out" / "bob--mnist_digits.json").read_text())
    assert "not valid .ipynb JSON" in json.dumps(bob)
    assert (
        bob["notebook_sha256"]
        == hashlib.sha256(
            (class_folder / "bob" / "mnist_digits" / "mnist_digits.ipynb").read_bytes()
        ).hexdigest()
    )
    whole_class = json.loads((tmp_path / "out" / batch.CLASS_FILE).read_text())
    assert (whole_class["graded"], whole_class["errors"]) == (4, 0)
    assert messages[0].startswith("note: empty-student/: nothing to grade")
    assert sorted(message.split("]")[0] for message in messages[1:]) == [
        f"[{done}/4" for done in range(1, 5)
    ]


def test_a_rerun_grades_only_what_is_missing_changed_or_forced(tmp_path: Path, helpers) -> None:
    folder = tmp_path / "lms"
    folder.mkdir()
    for student in ("erin", "frank", "grace"):
        shutil.copy(
            helpers.submissions / "submission-syntax-error.ipynb", folder / f"{student}.ipynb"
        )
    out = tmp_path / "out"
    config = helpers.course_config(cell_timeout_s=20, submission_timeout_s=120)
    first = batch.grade_all(folder, out, config=config, workers=2)
    assert [result.fresh for result in first] == [True, True, True]

    (out / "frank--mnist_digits.json").unlink()  # never written: killed before the rename
    shutil.copy(helpers.submissions / "submission-sys-exit.ipynb", folder / "grace.ipynb")
    second = batch.grade_all(folder, out, config=config, workers=2)
    assert {r.submission.student: r.fresh for r in second} == {
        "erin": False,
        "frank": True,
        "grace": True,
    }
    assert {r.submission.student: r.report.score for r in second}["grace"] == 3
    rows = list(csv.DictReader((out / batch.GRADES_FILE).open()))
    assert [(row["student"], float(row["score"])) for row in rows] == [
        ("erin", 1.0),
        ("frank", 1.0),
        ("grace", 3.0),
    ]
    forced = batch.grade_all(folder, out, config=config, workers=2, force=True)
    assert all(result.fresh for result in forced)


def test_grades_a_classroom_clone_by_login(tmp_path: Path, helpers) -> None:
    clone = tmp_path / "mnist-digits-submissions"
    for login in ("erin", "frank"):
        (clone / f"mnist-digits-{login}").mkdir(parents=True)
        shutil.copy(
            helpers.submissions / "submission-syntax-error.ipynb",
            clone / f"mnist-digits-{login}" / "mnist_digits.ipynb",
        )
    (clone / "mnist-digits-grace").mkdir()  # accepted the assignment, pushed nothing
    messages: list[str] = []
    config = helpers.course_config(cell_timeout_s=20, submission_timeout_s=120)
    batch.grade_all(clone, tmp_path / "out", config=config, progress=messages.append, workers=2)
    rows = list(csv.DictReader((tmp_path / "out" / batch.GRADES_FILE).open()))
    assert [(row["student"], row["status"]) for row in rows] == [
        ("erin", "graded"),
        ("frank", "graded"),
    ]
    assert (tmp_path / "out" / "erin--mnist_digits.html").is_file()
    assert messages[0].startswith("note: mnist-digits-grace/: nothing to grade")


@pytest.fixture
def crashing_grader(tmp_path: Path, monkeypatch) -> None:
    """Grading processes that die for bob (killed: what the OOM killer does) and hang for
    carol; everyone else's runs the real grading process."""
    script = tmp_path / "crashing_grader.py"
    script.write_text(
        "import os, runpy, signal, sys, time\n"
        "from pathlib import Path\n"
        "job = (Path(sys.argv[1]) / 'job.pickle').read_bytes()\n"
        "if b'bob' in job:\n"
        "    print('simulated grader crash', file=sys.stderr, flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "if b'carol' in job:\n"
        "    time.sleep(600)\n"
        "runpy.run_module('autograder.pool', run_name='__main__')\n"
    )
    monkeypatch.setattr(pool, "CHILD_COMMAND", (sys.executable, str(script)))
    monkeypatch.setattr(pool, "JUDGE_MARGIN_S", 15.0)


def test_a_crashed_or_hung_grading_process_costs_only_its_own_result(
    class_folder: Path, tmp_path: Path, helpers, crashing_grader, monkeypatch
) -> None:
    config = helpers.course_config(cell_timeout_s=20, submission_timeout_s=20)
    results = batch.grade_all(class_folder, tmp_path / "out", config=config, workers=2)
    by_student = {result.submission.student: result for result in results}
    assert [s for s, r in by_student.items() if r.graded] == ["alice", "dave"]
    bob, carol = by_student["bob"], by_student["carol"]
    assert bob.status == "error" and bob.report is None  # not a zero: ungraded
    assert "killed by SIGKILL" in bob.error and "simulated grader crash" in bob.error
    assert carol.status == "error" and "did not finish within 35 s" in carol.error
    rows = {row["student"]: row for row in csv.DictReader((tmp_path / "out" / "grades.csv").open())}
    assert rows["bob"]["status"] == "error" and rows["bob"]["score"] == ""
    assert "SIGKILL" in rows["bob"]["error"]

    monkeypatch.setattr(pool, "CHILD_COMMAND", tuple(executor.kit_command("autograder.pool")))
    again = batch.grade_all(class_folder, tmp_path / "out", config=config, workers=2)
    assert {r.submission.student for r in again if r.fresh} == {"bob", "carol"}
    assert all(result.graded for result in again)


def test_missing_data_stops_the_batch_before_grading(
    class_folder: Path, tmp_path: Path, helpers, monkeypatch
) -> None:
    monkeypatch.setenv("MNIST_DATA", str(tmp_path / "no-mnist"))
    with pytest.raises(GradingError, match="MNIST data is unavailable"):
        batch.grade_all(class_folder, tmp_path / "out", config=helpers.course_config())
    assert not list((tmp_path / "out").glob("*--*.json"))


def test_empty_or_missing_folder_is_an_error(tmp_path: Path, helpers) -> None:
    with pytest.raises(GradingError, match="does not exist"):
        batch.grade_all(tmp_path / "nowhere", tmp_path / "out", config=helpers.course_config())
    (tmp_path / "empty").mkdir()
    with pytest.raises(GradingError, match="no submissions found"):
        batch.grade_all(tmp_path / "empty", tmp_path / "out", config=helpers.course_config())


def test_command_line(class_folder: Path, tmp_path: Path, mnist_dir: Path) -> None:
    for scenario in ("bob", "carol", "dave"):
        shutil.rmtree(class_folder / scenario, ignore_errors=True)
        (class_folder / f"{scenario}.ipynb").unlink(missing_ok=True)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder",
            "grade-all",
            str(class_folder),
            "--output",
            str(tmp_path / "graded"),
            "--config",
            str(REPO_ROOT / "course.yaml"),
            "--cell-timeout",
            "30",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MNIST_DATA": str(mnist_dir)},
    )
    assert result.returncode == 0, result.stderr
    assert "alice" in result.stdout and "0/15" in result.stdout
    assert "[1/1] alice: 0/15" in result.stderr
    assert (tmp_path / "graded" / "grades.csv").is_file()
    assert (tmp_path / "graded" / "class.json").is_file()


@pytest.mark.skipif(not executor.isolation_available(), reason="needs Linux namespaces (unshare)")
def test_grade_and_grade_all_run_the_copy_of_the_kit_they_were_started_from(
    tmp_path: Path, helpers, mnist_dir: Path
) -> None:
    """A checkout run with a venv installed from another checkout: every process the
    grader starts (grading process, judge, sandbox) must import this copy, not the
    install's, which the sandbox does not bind in."""
    kit = tmp_path / "other-checkout"
    for package in executor.KIT_PACKAGES:
        shutil.copytree(
            REPO_ROOT / package, kit / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(REPO_ROOT / "course.yaml", kit / "course.yaml")
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    shutil.copy(helpers.submissions / "submission-syntax-error.ipynb", submissions / "dave.ipynb")
    env = {**os.environ, "MNIST_DATA": str(mnist_dir)}
    env.pop("PYTHONPATH", None)
    for command in (
        ["grade", str(submissions / "dave.ipynb"), "--json", str(tmp_path / "dave.json")],
        ["grade-all", str(submissions), "--output", str(tmp_path / "graded")],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "autograder", *command, "--cell-timeout", "30"],
            capture_output=True, text=True, timeout=300, env=env, cwd=kit,
        )  # fmt: skip
        assert "No module named" not in result.stdout + result.stderr, result.stderr
    report = json.loads((tmp_path / "dave.json").read_text())
    assert report["error"] is None and report["max_score"] == 15
    (graded,) = (tmp_path / "graded").glob("dave*.json")
    result = json.loads(graded.read_text())
    assert result["status"] == "graded", result["error"]
