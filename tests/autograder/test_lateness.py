"""Late work: the arithmetic at its boundaries, each key from each source (course.yaml,
extensions CSV and YAML, times from timestamp.txt, a CSV and mtime), and what grade-all's
class files and the class report carry."""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from autograder import analytics, batch, cli, commands, lateness
from autograder.grader import GradingError
from autograder.reports import GradeReport
from mnist_course.config import ConfigError, LatePolicy, load_config, parse_config
from mnist_course.results import CheckResult

DUE = datetime(2026, 3, 1, 23, 59, tzinfo=timezone(timedelta(hours=1)))
SECOND = timedelta(seconds=1)
HEAD = "student,assignment,due\n"


def _late(after: timedelta, policy: LatePolicy, raw: float = 8.0, maximum: float = 10.0):
    return lateness.assess(raw, maximum, due=DUE, submitted=DUE + after, policy=policy)


@pytest.mark.parametrize("per, period", [("hour", timedelta(hours=1)), ("day", timedelta(days=1))])
def test_on_time_costs_nothing_and_one_second_late_is_one_started_period(per, period) -> None:
    policy = LatePolicy(per=per, penalty=0.1)
    on_time = _late(timedelta(0), policy)
    assert (on_time.seconds_late, on_time.penalty, on_time.final_score) == (0.0, 0.0, 8.0)
    assert _late(-SECOND, policy).final_score == 8.0
    one_second = _late(SECOND, policy)
    assert (one_second.seconds_late, one_second.periods) == (1.0, 1)
    assert (one_second.penalty, one_second.final_score) == (1.0, 7.0)  # 10% of the maximum
    assert _late(period, policy).periods == 1
    assert _late(period + SECOND, policy).periods == 2


def test_the_cap_holds_and_the_score_never_goes_below_zero() -> None:
    policy = LatePolicy(per="day", penalty=0.2, max_penalty=0.5)
    assert _late(timedelta(days=2), policy).final_score == 4.0  # 2 x 20% of 10
    past_cap = _late(timedelta(days=9), policy)
    assert (past_cap.penalty, past_cap.final_score) == (5.0, 3.0)  # capped at 50% of 10
    low = _late(timedelta(days=9), policy, raw=2.0)
    assert (low.penalty, low.final_score) == (2.0, 0.0)


def test_past_the_cutoff_scores_zero_at_the_cutoff_not_yet() -> None:
    policy = LatePolicy(per="hour", penalty=0.0, zero_after_hours=48)
    at_cutoff = _late(timedelta(hours=48), policy)
    assert (at_cutoff.zeroed, at_cutoff.final_score) == (False, 8.0)
    past = _late(timedelta(hours=48) + SECOND, policy)
    assert (past.zeroed, past.penalty, past.final_score) == (True, 8.0, 0.0)


def test_no_due_time_or_no_submission_time_is_never_late_and_naive_times_are_refused() -> None:
    policy = LatePolicy(penalty=1.0)
    assert lateness.assess(5, 10, due=None, submitted=DUE, policy=policy).final_score == 5
    assert lateness.assess(5, 10, due=DUE, submitted=None, policy=policy).final_score == 5
    with pytest.raises(ValueError, match="no time zone"):
        lateness.assess(5, 10, due=DUE, submitted=datetime(2026, 3, 2), policy=policy)


def _course(tmp_path: Path, text: str):
    (tmp_path / "course.yaml").write_text(text, encoding="utf-8")
    return load_config(tmp_path / "course.yaml")


def test_course_yaml_keys_and_their_errors_name_file_and_key(tmp_path: Path) -> None:
    config = _course(
        tmp_path,
        "assignments:\n  mnist_digits:\n    due: 2026-03-01T23:59:00+01:00\n"
        "    late_policy: {per: hour, penalty: 0.05}\n  mnist_extensions: {}\n"
        "late_work:\n  policy: {per: day, penalty: 0.25, max_penalty: 0.5, zero_after_hours: 72}\n"
        "  extensions: ext.csv\n",
    )
    assert config.assignments["mnist_digits"].due == DUE
    assert config.late_policy("mnist_digits") == LatePolicy(per="hour", penalty=0.05)
    assert config.late_policy("mnist_extensions").zero_after_hours == 72
    assert config.course_path(config.late_work.extensions) == tmp_path / "ext.csv"
    assert parse_config({}).assignments["mnist_digits"].due is None  # the default: no deadline
    for text, key in (
        ("assignments:\n  mnist_digits:\n    due: 2026-03-01T23:59:00\n", "mnist_digits.due"),
        ("late_work:\n  policy: {per: week}\n", "late_work.policy.per"),
        ("late_work:\n  policy: {penalty: 2}\n", "late_work.policy.penalty"),
        ("late_work:\n  deadline: 3\n", "late_work.deadline"),
    ):
        with pytest.raises(ConfigError) as error:
            _course(tmp_path, text)
        assert str(tmp_path / "course.yaml") in str(error.value) and key in str(error.value)


def test_extensions_from_csv_and_yaml(tmp_path: Path) -> None:
    config = parse_config({}, tmp_path / "course.yaml")
    (tmp_path / "ext.csv").write_text(
        "student,assignment,due\nalice,mnist_digits,2026-03-03T12:00:00Z\n", encoding="utf-8"
    )
    (tmp_path / "ext.yaml").write_text(
        "- {student: alice, assignment: mnist_digits, due: 2026-03-03T12:00:00+00:00}\n",
        encoding="utf-8",
    )
    expected = {("alice", "mnist_digits"): datetime(2026, 3, 3, 12, tzinfo=UTC)}
    assert lateness.read_extensions(tmp_path / "ext.csv", config) == expected
    assert lateness.read_extensions(tmp_path / "ext.yaml", config) == expected


@pytest.mark.parametrize(
    "name, text, where",
    [
        ("bad.csv", f"{HEAD}bob,mnist_digits,2026-03-03 12:00\n", "row 2: key 'due'"),
        ("bad.csv", "student,due\nbob,2026-03-03T12:00Z\n", "row 2: key 'assignment'"),
        ("bad.csv", f"{HEAD}bob,nope,2026-03-03T12:00Z\n", "no assignment 'nope'"),
        (
            "bad.csv",
            "student,assignment,due\nbob,mnist_digits,2026-03-03T12:00Z\n"
            "bob,mnist_digits,2026-03-04T12:00Z\n",
            "two extensions",
        ),
        ("bad.yaml", "- {student: bob, assignment: a, due: 2026-03-03}\n", "entry 1: key 'due'"),
        ("bad.yaml", "student: bob\n", "expected a list"),
        ("bad.txt", "", "must be .csv, .yaml or .yml"),
    ],
)  # fmt: skip
def test_a_bad_extensions_file_names_the_file_and_the_row(tmp_path, name, text, where) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        lateness.read_extensions(tmp_path / name, parse_config({}))
    assert str(tmp_path / name) in str(error.value) and where in str(error.value)


def _notebook(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}", encoding="utf-8")
    return path


def test_submission_times_from_timestamp_txt_then_the_csv_then_mtime(tmp_path: Path) -> None:
    nbgrader = _notebook(tmp_path / "submitted" / "alice" / "mnist_digits" / "mnist_digits.ipynb")
    (nbgrader.parent / "timestamp.txt").write_text("2026-03-02 10:30:00.000000 UTC\n")
    flat = _notebook(tmp_path / "lms" / "bob.ipynb")
    os.utime(flat, (0, datetime(2026, 3, 5, tzinfo=UTC).timestamp()))
    (tmp_path / "times.csv").write_text(
        "student,submitted,assignment\nalice,2026-03-01T00:00:00Z,mnist_digits\n"
        "carol,2026-03-02T08:00:00+02:00,\n",
        encoding="utf-8",
    )
    times = lateness.read_submission_times(tmp_path / "times.csv")
    alice = batch.Submission("alice", "mnist_digits", nbgrader)
    bob = batch.Submission("bob", "mnist_digits", flat)
    carol = batch.Submission("carol", "mnist_digits", _notebook(tmp_path / "lms" / "carol.ipynb"))
    assert lateness.submission_time(alice, times) == (
        datetime(2026, 3, 2, 10, 30, tzinfo=UTC),
        "timestamp.txt",
    )  # nbgrader's own record wins over the CSV
    assert lateness.submission_time(carol, times) == (
        datetime(2026, 3, 2, 6, tzinfo=UTC),
        "csv",
    )
    assert lateness.submission_time(bob, times) == (datetime(2026, 3, 5, tzinfo=UTC), "mtime")
    (tmp_path / "lms" / "timestamp.txt").write_text("2020-01-01 00:00:00 UTC")
    assert lateness.submission_time(bob, times)[1] == "mtime"  # a flat folder's is nobody's
    (tmp_path / "bad.csv").write_text("student,submitted\nbob,yesterday\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="row 2: key 'submitted'"):
        lateness.read_submission_times(tmp_path / "bad.csv")


def _result(submission: batch.Submission, points: float) -> batch.Result:
    checks = (
        CheckResult("data.load", "Load", points > 0, points, 4.0, "loaded"),
        CheckResult("cnn.accuracy", "CNN", False, 0.0, 6.0, "too low"),
    )
    report = GradeReport(str(submission.path), checks, assignment=submission.assignment)
    return batch.Result(submission, "graded", report, "", "0" * 64, "0" * 64)


@pytest.fixture
def late_class(tmp_path: Path) -> tuple[Path, list[batch.Result], object]:
    """Three graded submissions of a course due at DUE, 10% a day off: on time, 1 s late
    (1 point), and 3 days late but within her extension; plus one that was not graded."""
    (tmp_path / "ext.yaml").write_text(
        "- {student: carol, assignment: mnist_digits, due: 2026-03-10T00:00:00Z}\n"
    )
    config = _course(
        tmp_path,
        "assignments:\n  mnist_digits:\n    due: 2026-03-01T23:59:00+01:00\n"
        "late_work:\n  policy: {per: day, penalty: 0.1}\n  extensions: ext.yaml\n",
    )
    times = {"alice": DUE, "bob": DUE + SECOND, "carol": DUE + timedelta(days=3), "dave": DUE}
    results = []
    for student, moment in times.items():
        folder = tmp_path / "submitted" / student / "mnist_digits"
        notebook = _notebook(folder / "mnist_digits.ipynb")
        (folder / "timestamp.txt").write_text(
            moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        )
        submission = batch.Submission(student, "mnist_digits", notebook)
        results.append(
            _result(submission, 4.0)
            if student != "dave"
            else batch.Result(submission, "error", None, "MNIST missing", "0" * 64, "0" * 64)
        )
    out = tmp_path / "graded"
    out.mkdir()
    for result in results:
        stem = f"{result.submission.student}--mnist_digits"
        (out / f"{stem}.json").write_text(json.dumps(result.to_dict()))
        (out / f"{stem}.html").write_text(f"<p>feedback of {result.submission.student}</p>")
    batch.write_class_files(out, results, config)
    return out, results, config


def test_grades_csv_and_class_json_carry_raw_lateness_penalty_and_final(late_class) -> None:
    out, _, _ = late_class
    rows = {row["student"]: row for row in csv.DictReader((out / batch.GRADES_FILE).open())}
    assert [rows[s]["score"] for s in ("alice", "bob", "carol")] == ["4.0", "4.0", "4.0"]
    assert (rows["alice"]["late_seconds"], rows["alice"]["final_score"]) == ("0", "4.0")
    assert (rows["bob"]["late_seconds"], rows["bob"]["penalty"], rows["bob"]["final_score"]) == (
        "1",
        "1.0",
        "3.0",
    )
    assert rows["bob"]["time_source"] == "timestamp.txt"
    assert (rows["carol"]["penalty"], rows["carol"]["due"]) == ("0.0", "2026-03-10T00:00:00+00:00")
    assert rows["dave"]["final_score"] == "" and rows["dave"]["error"] == "MNIST missing"
    whole = json.loads((out / batch.CLASS_FILE).read_text())
    late = {item["student"]: item["late"] for item in whole["results"]}
    assert late["bob"]["final_score"] == 3.0 and late["carol"]["extended"] is True
    assert late["dave"] is None


def test_the_grade_all_table_marks_late_rows_as_the_class_files_do(late_class, monkeypatch):
    out, results, config = late_class
    monkeypatch.setattr(commands, "load_config", lambda path: config)
    monkeypatch.setattr(commands.batch, "grade_all", lambda *args, **kwargs: results)
    stream = io.StringIO()
    commands.grade_all("submitted", output=out, quiet=True, stream=stream)
    rows = {line.split()[0]: line for line in stream.getvalue().splitlines() if line.strip()}
    assert rows["bob"].endswith("4/10 (late 1 s: -1 = 3)"), rows["bob"]
    assert rows["alice"].endswith("4/10") and rows["carol"].endswith("4/10")  # extension
    assert "NOT GRADED" in rows["dave"]


def test_a_new_deadline_changes_no_grading_hash() -> None:
    plain = parse_config({})
    dated = parse_config(
        {"assignments": {"mnist_digits": {"due": "2026-03-01T00:00:00Z"}, "mnist_extensions": {}},
         "late_work": {"policy": {"penalty": 0.5}}}
    )  # fmt: skip
    assert batch._config_hash(plain) == batch._config_hash(dated)
    rebarred = parse_config({"assignments": {"mnist_digits": {"points": {"data.load": 5}}}})
    assert batch._config_hash(plain) != batch._config_hash(rebarred)


def test_the_class_report_scores_after_penalties(late_class) -> None:
    out, _, config = late_class
    written = analytics.report(out, config=config)
    assert written.summary["score"]["min"] == 3.0  # bob's final score, not his raw 4
    assert written.summary["late"] == {"submissions": 1, "penalised": 1, "points_lost": 1.0}
    rows = {row["student"]: row for row in csv.DictReader(written.csv.open())}
    assert (rows["bob"]["score"], rows["bob"]["penalty"], rows["bob"]["final_score"]) == (
        "4.0",
        "1.0",
        "3.0",
    )
    assert "after late penalties (1 late, 1 points lost in all)" in written.page.read_text()


def test_grade_all_refuses_a_bad_extensions_file_before_grading(tmp_path: Path) -> None:
    (tmp_path / "ext.csv").write_text(f"{HEAD}bob,mnist_digits,tomorrow\n", encoding="utf-8")
    config = _course(tmp_path, "late_work:\n  extensions: ext.csv\n")
    _notebook(tmp_path / "submitted" / "bob" / "mnist_digits" / "mnist_digits.ipynb")
    with pytest.raises(GradingError, match=r"ext\.csv: invalid extensions file\n  row 2"):
        batch.grade_all(tmp_path / "submitted", tmp_path / "out", config=config)
    assert not list((tmp_path / "out").glob("*.json"))  # nothing graded


def test_the_command_line_forwards_submission_times() -> None:
    given = cli.build_parser().parse_args(["grade-all", "sub", "--submission-times", "t.csv"])
    assert given.submission_times == "t.csv"
    assert "submission_times" not in vars(cli.build_parser().parse_args(["grade-all", "sub"]))
