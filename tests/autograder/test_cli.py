"""``autograder grade``: exit 0 whenever graded, 2 when grading cannot be done."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import pytest

from autograder import cli


def test_missing_submission_is_an_error_exit(tmp_path, capsys):
    assert cli.main(["grade", str(tmp_path / "nope.ipynb")]) == cli.EXIT_ERROR
    assert "submission not found" in capsys.readouterr().err


def test_missing_data_is_an_error_exit(tmp_path, capsys, monkeypatch, helpers):
    monkeypatch.setenv("MNIST_DATA", str(tmp_path / "no-mnist"))
    submission = helpers.submissions / "submission-missing-functions.ipynb"
    assert cli.main(["grade", str(submission)]) == cli.EXIT_ERROR
    assert "MNIST data for grading is unavailable" in capsys.readouterr().err


def test_bad_arguments_exit_non_zero():
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["grade"])
    assert exit_info.value.code != 0


def test_release_notebook_scores_zero_and_exits_zero(tmp_path, monkeypatch, helpers, mnist_dir,
                                                     capsys):  # fmt: skip
    monkeypatch.setenv("MNIST_DATA", str(mnist_dir))
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    submission = helpers.submissions / "submission-release-untouched.ipynb"
    code = cli.main([
        "grade", str(submission), "--quiet", "--config", str(helpers.repo_root / "course.yaml"),
        "--json", str(tmp_path / "r.json"), "--junit", str(tmp_path / "r.xml"),
        "--gradescope", str(tmp_path / "gs.json"), "--github",
    ])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "score: 0 / 15" in out
    assert json.loads((tmp_path / "r.json").read_text())["score"] == 0
    assert json.loads((tmp_path / "gs.json").read_text())["max_score"] == 15
    assert ElementTree.parse(tmp_path / "r.xml").getroot().get("failures") == "12"
    line = next(line for line in out.splitlines() if line.startswith("result="))
    assert json.loads(base64.b64decode(line.removeprefix("result=")))["status"] == "fail"


def test_console_script_is_installed():
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", "--help"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and "--gradescope" in done.stdout


def test_allow_unsandboxed_is_an_explicit_opt_in():
    plain = vars(cli.build_parser().parse_args(["grade", "s.ipynb"]))
    assert "allow_unsandboxed" not in plain  # so grade()'s default (False) applies
    args = cli.build_parser().parse_args(["grade-all", "folder", "--allow-unsandboxed"])
    assert args.allow_unsandboxed is True


def test_grading_options_travel_as_one_record(monkeypatch):
    seen = {}
    monkeypatch.setattr(cli.commands, "grade", lambda submission, **kwargs: seen.update(kwargs))
    assert cli.main(["grade", "s.ipynb", "--retrain", "--cell-timeout", "9"]) == 0
    assert seen["options"] == cli.GradingOptions(retrain=True, cell_timeout_s=9.0)
    assert not {"retrain", "cell_timeout_s", "allow_unsandboxed"} & seen.keys()
    assert cli.main(["grade", "s.ipynb"]) == 0
    assert seen["options"] == cli.GradingOptions()  # its defaults: course.yaml's values


def test_grade_all_options_are_forwarded_only_when_given():
    plain = vars(cli.build_parser().parse_args(["grade-all", "folder"]))
    assert plain == {"command": "grade-all", "folder": "folder"}  # commands' defaults apply
    given = cli.build_parser().parse_args(
        ["grade-all", "folder", "--workers", "3", "--scheduler", "tcp://10.0.0.1:8786",
         "--force", "--gradebook"]
    )  # fmt: skip
    assert (given.workers, given.scheduler, given.force, given.gradebook) == (
        3, "tcp://10.0.0.1:8786", True, True,
    )  # fmt: skip


def test_a_submission_the_grader_could_not_grade_is_an_error_exit(monkeypatch, tmp_path):
    from autograder import batch

    submission = batch.Submission("bob", "mnist_digits", tmp_path / "bob.ipynb")
    failed = batch.Result(submission, "error", None, "the grading process was killed", "", "")
    monkeypatch.setattr(cli.commands, "grade_all", lambda folder, **options: [failed])
    assert cli.main(["grade-all", str(tmp_path)]) == cli.EXIT_ERROR


def test_a_grading_failure_writes_error_results_not_a_zero(tmp_path, capsys, monkeypatch, helpers):
    monkeypatch.setenv("MNIST_DATA", str(tmp_path / "no-mnist"))
    output = tmp_path / "github-output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    submission = helpers.submissions / "submission-missing-functions.ipynb"
    code = cli.main([
        "grade", str(submission), "--quiet", "--json", str(tmp_path / "r.json"),
        "--junit", str(tmp_path / "r.xml"), "--gradescope", str(tmp_path / "gs.json"),
        "--html", str(tmp_path / "r.html"), "--github",
    ])  # fmt: skip
    assert code == cli.EXIT_ERROR
    assert "MNIST data for grading is unavailable" in capsys.readouterr().err
    report = json.loads((tmp_path / "r.json").read_text())
    assert "MNIST" in report["error"] and report["results"] == []
    gradescope = json.loads((tmp_path / "gs.json").read_text())
    assert "score" not in gradescope and gradescope["tests"] == []
    suite = ElementTree.parse(tmp_path / "r.xml").getroot()
    assert suite.iter("error") and next(suite.iter("error")).get("message")
    line = output.read_text().strip()
    assert json.loads(base64.b64decode(line.removeprefix("result=")))["status"] == "error"
    assert "could not be graded" in (tmp_path / "r.html").read_text()


def test_report_and_deploy_are_commands(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(cli.analytics, "report", lambda folder, **kw: calls.append(folder) or
                        type("W", (), {"page": "p", "csv": "c", "json": "j"})())  # fmt: skip
    monkeypatch.setattr(cli.deploy, "github", lambda **kw: calls.append(kw) or tmp_path / "w.yml")
    assert cli.main(["report", str(tmp_path)]) == 0
    assert cli.main(["deploy", "github", "--kit", "mnist-course-kit==0.1.0"]) == 0
    assert calls == [str(tmp_path), {"kit_requirement": "mnist-course-kit==0.1.0"}]
    assert "class page: p" in capsys.readouterr().out


def test_gradescope_visibility_comes_from_course_yaml(tmp_path, monkeypatch, helpers, mnist_dir):
    monkeypatch.setenv("MNIST_DATA", str(mnist_dir))
    course = tmp_path / "course.yaml"
    course.write_text("grading:\n  gradescope_visibility:\n    accuracy: hidden\n")
    submission = helpers.submissions / "submission-missing-functions.ipynb"
    code = cli.main(["grade", str(submission), "--quiet", "--config", str(course),
                     "--gradescope", str(tmp_path / "gs.json")])  # fmt: skip
    assert code == 0
    tests = json.loads((tmp_path / "gs.json").read_text())["tests"]
    seen = {test["extra_data"]["id"]: test["visibility"] for test in tests}
    assert {seen[f"{stage}.accuracy"] for stage in ("baseline", "hidden_layer", "cnn")} == {
        "hidden"
    }
    assert seen["data.load"] == "visible"


def test_grade_all_prints_student_folder_names_on_one_line(monkeypatch, tmp_path, capsys):
    from autograder import batch

    student = "::set-output name=result::x\nscore: 15 / 15"
    submission = batch.Submission(student, "mnist_digits", tmp_path / "s.ipynb")
    failed = batch.Result(submission, "error", None, "killed\n::error::forged", "", "")
    monkeypatch.setattr(cli.commands.batch, "grade_all", lambda *args, **kwargs: [failed])
    assert cli.main(["grade-all", str(tmp_path), "--quiet"]) == cli.EXIT_ERROR
    lines = capsys.readouterr().out.splitlines()
    assert not [line for line in lines if line.lstrip().startswith(("::", "score:"))]
    assert lines[0].startswith(": :set-output name=result::x score: 15 / 15")


def test_config_prints_the_courses_choices_and_the_defaults_in_force(tmp_path, capsys):
    import yaml

    from mnist_course.assignments import all_specs
    from mnist_course.config import load_config

    chosen = tmp_path / "course.yaml"
    chosen.write_text(
        "assignments:\n  mnist_digits:\n    notebook: mnist_digits.ipynb\n"
        "    points: {cnn.accuracy: 5}\n    stages: {cnn: {min_test_accuracy: 0.97}}\n"
    )
    assert cli.main(["config", "--config", str(chosen)]) == 0
    printed = capsys.readouterr().out
    shown = yaml.safe_load(printed)["assignments"]["mnist_digits"]
    assert shown["stages"]["cnn"]["min_test_accuracy"] == 0.97  # the course's choice
    spec = all_specs()["mnist_digits"]
    default = spec.stage("baseline").defaults["min_test_accuracy"]
    assert shown["stages"]["baseline"]["min_test_accuracy"] == default  # the kit's default
    assert shown["points"]["cnn.accuracy"] == 5 and shown["points"]["data.load"] == 1
    assert set(shown["points"]) == {check.id for check in spec.checks}
    assert printed.startswith(f"# every setting in force: {chosen}")
    copy = tmp_path / "printed.yaml"
    copy.write_text(printed)  # what it prints is a course.yaml that says the same
    again, original = (load_config(path).assignment("mnist_digits") for path in (copy, chosen))
    assert again.stages == original.stages and again.total_points() == original.total_points()
