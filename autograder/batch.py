"""Grading a whole class: every submission in a folder, one result file each, one CSV.

Each submission is graded in its own sandbox by its own grading process
(:mod:`autograder.pool`), several at once or on a Dask cluster. Every result is written
as soon as it is graded, atomically, with the hash of the notebook it judged, so a batch
run again after an interruption grades only what is missing, failed or changed.
grades.csv and class.json are always rebuilt from those per-submission files; each
notebook's own code cells are kept in ``code/`` for ``autograder similarity``. A
submission the grader could not grade is an ``error`` result with its cause (regraded
next time), never a zero that blames the student.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from autograder import lateness, pool
from autograder.formats import html
from autograder.formats.text import one_line
from autograder.grader import GradingError, GradingOptions
from autograder.progress import LineTracker, Tracker
from autograder.reports import GradeReport, Outcome, Result, Submission
from autograder.similarity import CODE_DIR
from autograder.similarity import code as student_code
from mnist_course.config import ConfigError, CourseConfig, find_assignment, load_config

GRADES_FILE = "grades.csv"
CLASS_FILE = "class.json"
SAFE_NAME = re.compile(r"[^A-Za-z0-9_.@-]+")


#: The suffix of the folder ``gh classroom clone student-repos`` clones an assignment's
#: repositories into: ``<assignment-slug>-submissions/<assignment-slug>-<login>/``.
CLASSROOM_SUFFIX = "-submissions"


@dataclass(frozen=True)
class Found:
    """What a submissions folder holds: its submissions, sorted by student, and one line
    for each folder or copy that was not graded, saying why (for the instructor)."""

    submissions: list[Submission]
    notices: list[str]


def find_submissions(folder: Path, config: CourseConfig) -> Found:
    """The submissions under ``folder``, in any of three layouts:

    - nbgrader's ``<student>/<assignment>/<notebook>`` (``submitted/`` of a course);
    - a folder per student with the notebook at its top, ``<student>/<notebook>``: GitHub
      Classroom's clone (``<slug>-submissions/<slug>-<login>/``), where the student is
      the folder's name less the prefix the repositories share (:func:`student_names`);
    - a flat folder of ``<student>.ipynb`` files (an LMS download).

    A student folder with both of the first two for one assignment is graded from
    nbgrader's, with a notice. The same student and assignment from two folders or files
    is a :class:`GradingError` naming both: which one counts is the instructor's call.
    """
    if not folder.is_dir():
        raise GradingError(f"{folder}: submissions folder does not exist")
    found: list[Submission] = []
    notices: list[str] = []
    at_top: list[tuple[Path, str, Path]] = []  # (student folder, assignment, notebook)
    for student_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        if student_dir.name.startswith("."):  # .git, .ipynb_checkpoints
            continue
        nbgrader = _nbgrader_layout(student_dir, config)
        top, unknown = _top_layout(student_dir, config)
        notices += unknown
        found += [Submission(student_dir.name, id_, path) for id_, path in nbgrader.items()]
        for assignment_id, notebook in top.items():
            if assignment_id in nbgrader:
                notices.append(
                    f"{student_dir.name}/: graded {nbgrader[assignment_id].relative_to(folder)}"
                    f" (nbgrader's layout), not {notebook.relative_to(folder)}"
                )
            elif student_dir.name in config.assignments:
                notices.append(
                    f"{student_dir.name}/ is named like an assignment: it looks like one "
                    "student's nbgrader folder, not a student's; grade the folder that holds "
                    "the students' folders"
                )
            else:
                at_top.append((student_dir, assignment_id, notebook))
        if not nbgrader and not top and not unknown:
            notices.append(f"{student_dir.name}/: nothing to grade ({_expected(config)})")
    names = student_names(folder.resolve().name, sorted({path.name for path, _, _ in at_top}))
    found += [Submission(names[path.name], id_, notebook) for path, id_, notebook in at_top]
    for notebook in sorted(folder.glob("*.ipynb")):
        try:  # a flat folder: the notebook's metadata (or the course's only assignment)
            assignment_id = find_assignment(notebook, config)
        except ConfigError as exc:
            raise GradingError(str(exc)) from None
        found.append(Submission(notebook.stem, assignment_id, notebook))
    return Found(_one_each(found), notices)


def _nbgrader_layout(student_dir: Path, config: CourseConfig) -> dict[str, Path]:
    """``<student>/<assignment>/<notebook>``: assignment -> notebook."""
    paths = {
        id_: student_dir / id_ / settings.notebook for id_, settings in config.assignments.items()
    }
    return {id_: path for id_, path in paths.items() if path.is_file()}


def _top_layout(student_dir: Path, config: CourseConfig) -> tuple[dict[str, Path], list[str]]:
    """``<student>/<notebook>``: assignment -> notebook, and a notice for each notebook
    that several assignments share the name of and whose own metadata does not say."""
    by_name: dict[str, list[str]] = {}
    for id_, settings in config.assignments.items():
        by_name.setdefault(settings.notebook, []).append(id_)
    found: dict[str, Path] = {}
    unknown: list[str] = []
    for name, ids in by_name.items():
        notebook = student_dir / name
        if not notebook.is_file():
            continue
        try:
            found[ids[0] if len(ids) == 1 else find_assignment(notebook, config)] = notebook
        except ConfigError as exc:
            unknown.append(f"{student_dir.name}/: not graded: {exc}")
    return found, unknown


def _expected(config: CourseConfig) -> str:
    notebooks = sorted({settings.notebook for settings in config.assignments.values()})
    return f"no {' or '.join(notebooks)} in it, nor in <assignment>/ beneath it"


def student_names(folder_name: str, repositories: list[str]) -> dict[str, str]:
    """Each ``<student>/<notebook>`` folder's student: its name, less the ``<prefix>-``
    all of them share, so GitHub Classroom's ``<slug>-<login>`` is the login. In a folder
    named ``<slug>-submissions`` (as ``gh classroom clone`` names it) the prefix is
    ``<slug>-``; elsewhere it is the longest ``<prefix>-`` that two or more folders and
    every one of them start with, and none (the names as they are) when they share none."""
    slug = folder_name.removesuffix(CLASSROOM_SUFFIX) + "-"
    if not (folder_name.endswith(CLASSROOM_SUFFIX) and _all_longer(repositories, slug)):
        shared = os.path.commonprefix(repositories) if len(repositories) > 1 else ""
        slug = shared[: shared.rfind("-") + 1]
        if not _all_longer(repositories, slug):
            slug = ""
    return {name: name.removeprefix(slug) for name in repositories}


def _all_longer(names: list[str], prefix: str) -> bool:
    return all(name.startswith(prefix) and len(name) > len(prefix) for name in names)


def _one_each(found: list[Submission]) -> list[Submission]:
    """``found`` sorted by student and assignment; GradingError when two are one."""
    by_key: dict[tuple[str, str], Submission] = {}
    for submission in found:
        key = (submission.student, submission.assignment)
        if key in by_key:
            raise GradingError(
                f"two submissions of {submission.student} for {submission.assignment}: "
                f"{by_key[key].path} and {submission.path}; keep one of them in the folder"
            )
        by_key[key] = submission
    return [by_key[key] for key in sorted(by_key)]


def _report_name(submission: Submission) -> str:
    return SAFE_NAME.sub("_", f"{submission.student}--{submission.assignment}") + ".json"


#: Keys that say when work was due, not how it is graded: changing them rewrites grades.csv
#: and class.json on the next run but regrades nothing.
_NOT_GRADED_KEYS = {"late_work": True, "assignments": {"__all__": {"due", "late_policy"}}}


def feedback_page(target: Path, student: str, assignment: str) -> Path:
    """Where grade-all writes a submission's feedback page in ``target``."""
    return (target / _report_name(Submission(student, assignment, Path()))).with_suffix(".html")


def _config_hash(config: CourseConfig) -> str:
    """Changing what is graded (points, bars, budgets) makes earlier results stale."""
    # When work was due and the similarity thresholds change no grade.
    excluded = {**_NOT_GRADED_KEYS, "similarity": True}
    return hashlib.sha256(config.model_dump_json(exclude=excluded).encode()).hexdigest()


def _read_result(path: Path, submission: Submission) -> Result | None:
    """The result stored by an earlier run, or None when missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        report = GradeReport.from_dict(data["report"]) if data.get("report") else None
        return Result(
            submission,
            data["status"],
            report,
            data.get("error", ""),
            data["notebook_sha256"],
            data["config_sha256"],
            data.get("seconds", 0.0),
            fresh=False,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


#: grades.csv's columns about late work, after max_score (score is the raw score).
LATE_COLUMNS = ("final_score", "penalty", "late_seconds", "submitted", "time_source", "due")


def _late_cells(late: lateness.Lateness | None) -> list[object]:
    if late is None:
        return [""] * len(LATE_COLUMNS)
    return [
        late.final_score,
        late.penalty,
        round(late.seconds_late),
        late.submitted.isoformat() if late.submitted else "",
        late.source,
        late.due.isoformat() if late.due else "",
    ]


def write_grades_csv(
    path: Path,
    results: list[Result],
    late: dict[Submission, lateness.Lateness] | None = None,
) -> None:
    """One row per submission: student, assignment, status, raw score, max score, final
    score after any late penalty with what it was computed from, each check's points, and
    why it was not graded (scores left empty then: it is not a zero)."""
    late = late or {}
    check_ids: list[str] = []
    for result in results:
        for check in result.report.results if result.graded else ():
            if check.id not in check_ids:
                check_ids.append(check.id)
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "student",
                "assignment",
                "status",
                "score",
                "max_score",
                *LATE_COLUMNS,
                *check_ids,
                "error",
            ]
        )
        for result in results:
            report = result.report if result.graded else None
            points = {check.id: check.points for check in report.results} if report else {}
            writer.writerow(
                [
                    result.submission.student,
                    result.submission.assignment,
                    result.status,
                    report.score if report else "",
                    report.max_score if report else "",
                    *_late_cells(late.get(result.submission) if report else None),
                    *(points.get(check, "") for check in check_ids),
                    result.error,
                ]
            )
    os.replace(temporary, path)


def write_class_json(
    path: Path,
    results: list[Result],
    late: dict[Submission, lateness.Lateness] | None = None,
) -> None:
    """Every submission's result in one file, for scripts, dashboards and the exports;
    each graded one with its ``late`` record (final score, penalty, how late, from what)."""
    late = late or {}
    graded = [result for result in results if result.graded]
    entries = []
    for result in results:
        entry = result.to_dict()
        record = late.get(result.submission) if result.graded else None
        entry["late"] = record.to_dict() if record else None
        entries.append(entry)
    summary = {
        "submissions": len(results),
        "graded": len(graded),
        "errors": len(results) - len(graded),
        "results": entries,
    }
    pool.write_atomically(path, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")


def write_class_files(
    target: Path,
    results: list[Result],
    config: CourseConfig,
    *,
    submission_times: str | os.PathLike[str] | None = None,
) -> None:
    """grades.csv and class.json of ``results``, with each graded one's lateness worked
    out now (so a new deadline or extension needs a re-run, not a regrade)."""
    late = lateness.assess_class(results, config, submission_times=submission_times)
    write_grades_csv(target / GRADES_FILE, results, late)
    write_class_json(target / CLASS_FILE, results, late)


def _jobs(
    pending: list[tuple[Submission, str]],
    config: CourseConfig,
    options: GradingOptions,
) -> list[pool.Job]:
    source = config.source
    config_text = source.read_text(encoding="utf-8") if source and source.is_file() else None
    return [
        pool.Job(
            key=f"grade-{submission.student}-{submission.assignment}-{sha[:12]}",
            name=str(submission.path),
            notebook=submission.path.read_bytes(),
            config=config,
            config_text=config_text,
            options=options,
            assignment=submission.assignment,
        )
        for submission, sha in pending
    ]


def grade_all(
    folder: str | os.PathLike[str],
    output: str | os.PathLike[str] = "graded",
    *,
    config: CourseConfig | None = None,
    config_path: str | os.PathLike[str] | None = None,
    options: GradingOptions = GradingOptions(),
    progress: Tracker | Callable[[str], None] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
    submission_times: str | os.PathLike[str] | None = None,
) -> list[Result]:
    """Grade every submission in ``folder`` that has no up-to-date result in ``output``
    (all of them with ``force``); write ``output``/<student>--<assignment>.json as each is
    graded, then ``output``/grades.csv and class.json for the whole class.

    ``workers`` grading processes run at once here (default: :func:`pool.default_workers`),
    or every submission is a task on the Dask cluster at ``scheduler``. Raises
    :class:`GradingError` only when nothing can be graded (no such folder, no submissions,
    bad course.yaml, MNIST or the sandbox missing here or on a worker).

    Late work (course.yaml's due times, late_work) is worked out when the class files
    are written; ``submission_times`` is a CSV of when each student handed in."""
    if progress is None or not hasattr(progress, "finished"):
        progress = LineTracker(progress or (lambda message: None))
    config = config or load_config(config_path)
    found = find_submissions(Path(folder), config)
    submissions = found.submissions
    if not submissions:
        raise GradingError(
            f"{folder}: no submissions found (expected <student>/<assignment>/<notebook> "
            "as in nbgrader's submitted/, <student>/<notebook> as GitHub Classroom's clone "
            "has them, or <student>.ipynb files)"
            + "".join(f"; {notice}" for notice in found.notices)
        )
    for notice in found.notices:  # folder names: one line each
        progress.note(one_line(notice))
    if workers is not None and workers < 1:
        raise GradingError(f"--workers must be at least 1 (got {workers})")
    target = Path(output)
    target.mkdir(parents=True, exist_ok=True)
    try:  # a bad extensions or times file stops the run before hours of grading
        lateness.assess_class((), config, submission_times=submission_times)
    except ConfigError as exc:
        raise GradingError(str(exc)) from None
    config_sha = _config_hash(config)

    pending: list[tuple[Submission, str]] = []
    for submission in submissions:
        notebook = submission.path.read_bytes()
        sha = hashlib.sha256(notebook).hexdigest()
        # The student's own code, for autograder similarity (also of results kept).
        student_code.keep_code(
            target / CODE_DIR / _report_name(submission),
            submission.student,
            submission.assignment,
            notebook,
            sha,
        )
        earlier = _read_result(target / _report_name(submission), submission)
        up_to_date = earlier is not None and (earlier.notebook_sha256, earlier.config_sha256) == (
            sha,
            config_sha,
        )
        if force or not up_to_date or not earlier.graded:
            pending.append((submission, sha))

    if pending and scheduler is None:
        problems = pool.readiness_problems(config, options.allow_unsandboxed)
        if problems:
            raise GradingError("this machine cannot grade: " + "; ".join(problems))
    jobs = _jobs(pending, config, options)
    by_key = {job.key: entry for job, entry in zip(jobs, pending, strict=True)}
    outcomes: Iterator[tuple[pool.Job, Outcome]] = (
        pool.grade_on_cluster(jobs, scheduler, allow_unsandboxed=options.allow_unsandboxed)
        if scheduler
        else pool.grade_locally(jobs, workers or pool.default_workers())
    )
    test_images = functools.cache(lambda: html.canonical_test_images(config))
    progress.begin(len(submissions), len(submissions) - len(pending))
    fresh: dict[Submission, Result] = {}
    try:
        for job, outcome in outcomes if jobs else ():
            submission, sha = by_key[job.key]
            report = GradeReport.from_dict(outcome.report) if outcome.report else None
            result = Result(
                submission, outcome.status, report, outcome.error, sha, config_sha, outcome.seconds
            )
            pool.write_atomically(
                target / _report_name(submission),
                json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n",
            )
            if report is not None:  # the student's feedback page beside it
                pool.write_atomically(
                    (target / _report_name(submission)).with_suffix(".html"),
                    html.render(report, config=config, test_images=test_images()),
                )
            fresh[submission] = result
            summary = (
                f"{report.score:g}/{report.max_score:g} in {outcome.seconds:.0f} s"
                if result.graded
                else f"not graded: {outcome.error[:200]}"
            )
            # Names come from the class folder and errors from the run: one line each.
            progress.finished(one_line(submission.student), one_line(summary), not result.graded)
    finally:  # also after Ctrl-C: the class files then hold what was graded so far
        progress.close()
        results = [
            result
            for submission in submissions
            if (
                result := fresh.get(submission)
                or _read_result(target / _report_name(submission), submission)
            )
        ]
        write_class_files(target, results, config, submission_times=submission_times)
    return results
