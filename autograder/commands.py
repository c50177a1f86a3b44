"""What each CLI command does; the keyword defaults here are the only defaults."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from autograder import batch, lateness, progress
from autograder import gradebook as nbgrader_gradebook
from autograder.formats import github, gradescope, html, junit, table
from autograder.formats import json as json_format
from autograder.formats.text import one_line
from autograder.grader import GradingError, GradingOptions, grade_submission
from autograder.reports import GradeReport
from autograder.similarity import report as similarity_report
from mnist_course.config import (
    ConfigError,
    CourseConfig,
    course_yaml_text,
    find_config_file,
    load_config,
)
from mnist_course.data import MnistDataError


def _write(path: str | os.PathLike[str], text: str) -> None:
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise GradingError(f"{target}: cannot write the report ({exc.strerror})") from None


def _progress_printer(quiet: bool) -> Callable[[str], None]:
    """Progress lines go to stderr, so stdout holds only the result."""

    def progress(message: str) -> None:
        if not quiet:
            print(f"autograder: {message}", file=sys.stderr, flush=True)

    return progress


def _reports(report: GradeReport, config: CourseConfig | None) -> dict[str, Callable[[], str]]:
    """How each report file is rendered, by the keyword that asks for it."""
    visibility = config.grading.gradescope_visibility if config else gradescope.DEFAULT_VISIBILITY
    return {
        "json_path": lambda: json_format.render(report),
        "junit_path": lambda: junit.render(report, config=config),
        "gradescope_path": lambda: gradescope.render(report, visibility=visibility),
        "html_path": lambda: html.render(
            report, config=config or CourseConfig(), test_images=html.canonical_test_images(config)
        ),
    }


def grade(
    submission: str | os.PathLike[str],
    *,
    config_path: str | os.PathLike[str] | None = None,
    json_path: str | os.PathLike[str] | None = None,
    junit_path: str | os.PathLike[str] | None = None,
    gradescope_path: str | os.PathLike[str] | None = None,
    html_path: str | os.PathLike[str] | None = None,
    github_output: bool = False,
    options: GradingOptions = GradingOptions(),
    quiet: bool = False,
    stream: TextIO | None = None,
    assignment: str | None = None,
) -> GradeReport:
    """Grade one notebook (with ``assignment``'s checks, else the one it is found to be),
    print the table and write the requested report files.

    ``github_output`` appends GitHub Classroom's ``result=...`` line to
    $GITHUB_OUTPUT when set (else prints it). When grading itself fails, every requested
    report still gets written, as an error result that gives the cause and no score (never
    a zero), and the :class:`GradingError` is raised again for a non-zero exit.
    """
    out = stream or sys.stdout
    progress = _progress_printer(quiet)
    config = None
    failure: GradingError | None = None
    try:
        config = load_config(config_path)
        report = grade_submission(
            submission,
            config=config,
            options=options,
            progress=progress,
            assignment=assignment,
        )
    except (GradingError, ConfigError, MnistDataError) as exc:
        failure = exc if isinstance(exc, GradingError) else GradingError(str(exc))
        report = GradeReport(str(submission), (), error=str(exc), assignment=assignment)
    if failure is None:
        out.write(table.render(report))
    requested = {
        "json_path": json_path,
        "junit_path": junit_path,
        "gradescope_path": gradescope_path,
        "html_path": html_path,
    }
    for key, render in _reports(report, config).items():
        if requested[key] is not None:
            _write(requested[key], render())
    if github_output:
        line = github.render(report)
        target = os.environ.get("GITHUB_OUTPUT")
        if target:
            with open(target, "a", encoding="utf-8") as handle:
                handle.write(line)
        else:
            out.write(line)
    if failure is not None:
        raise failure
    return report


def _late_scores(
    results: list[batch.Result],
    config: CourseConfig,
    submission_times: str | os.PathLike[str] | None,
) -> dict[batch.Submission, str]:
    """ " (late 3 h: -1.5 = 10.5)" for each late submission, worked out as the class files
    were (the same function, the same files)."""
    from autograder.exports import describe_late

    late = lateness.assess_class(results, config, submission_times=submission_times)
    return {
        submission: f" (late {describe_late(record.seconds_late)}: -{record.penalty:g}"
        f" = {record.final_score:g})"
        for submission, record in late.items()
        if record.seconds_late > 0
    }


def grade_all(
    folder: str | os.PathLike[str],
    *,
    output: str | os.PathLike[str] = "graded",
    config_path: str | os.PathLike[str] | None = None,
    options: GradingOptions = GradingOptions(),
    quiet: bool = False,
    stream: TextIO | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
    gradebook: bool = False,
    submission_times: str | os.PathLike[str] | None = None,
) -> list[batch.Result]:
    """Grade every submission in ``folder`` (only what changed since the last run unless
    ``force``); print a score table; write reports, grades.csv and class.json; with
    ``gradebook``, also the scores into the nbgrader course (the current folder)."""
    out = stream or sys.stdout
    tracker = None
    if not quiet:
        tracker = progress.BarTracker() if sys.stderr.isatty() else _progress_printer(quiet)
    config = load_config(config_path)
    results = batch.grade_all(
        folder,
        output,
        config=config,
        options=options,
        progress=tracker,
        workers=workers,
        scheduler=scheduler,
        force=force,
        submission_times=submission_times,
    )
    names = [one_line(result.submission.student) for result in results]  # from the folder
    width = max(len(name) for name in names)
    late = _late_scores(results, config, submission_times)
    for name, result in zip(names, results, strict=True):
        score = (
            f"{result.report.score:g}/{result.report.max_score:g}" + late.get(result.submission, "")
            if result.graded
            else f"NOT GRADED: {one_line(result.error)[:300]}"
        )
        out.write(f"{name:<{width}}  {result.submission.assignment}  {score}\n")
    errors = sum(not result.graded for result in results)
    out.write(
        f"\n{len(results) - errors} submissions graded"
        + (f", {errors} not graded (run again to retry)" if errors else "")
        + f"; reports, {batch.GRADES_FILE} and {batch.CLASS_FILE} in {output}/\n"
    )
    if gradebook:
        written = nbgrader_gradebook.write_scores(
            results, Path.cwd(), config, submission_times=submission_times
        )
        out.write(f"{written} submissions written to {nbgrader_gradebook.GRADEBOOK_FILE}\n")
    return results


def export(
    format: str,
    results_dir: str | os.PathLike[str],
    *,
    grades_of: str | None = None,
    output: str | os.PathLike[str] | None = None,
    course: int | None = None,
    assignment: int | None = None,
    url: str | None = None,
    match: str = "sis",
    post: bool = False,
    attach: bool = True,
    item: str | None = None,
    identifier: str = "username",
    title: str | None = None,
    canvas_assignment: int | None = None,
    stream: TextIO | None = None,
) -> None:
    """Final scores of ``grades_of`` in ``results_dir`` out to an LMS: ``canvas`` (the
    API; a dry run unless ``post``), ``moodle-csv`` or ``canvas-csv`` (import files)."""
    from autograder.exports import canvas, lms_csv

    out = stream or sys.stdout
    if format == "canvas":
        if course is None or assignment is None:
            raise GradingError("export canvas needs --course ID and --assignment ID")
        summary = canvas.export(
            results_dir,
            course=course,
            assignment=assignment,
            grades_of=grades_of,
            url=url,
            match=match,  # type: ignore[arg-type]
            post=post,
            attach=attach,
            stream=out,
        )
        if summary.unknown_students:
            out.write("check --match, or add these students to the Canvas course\n")
        return
    if format == "moodle-csv":
        path, grades = lms_csv.moodle_csv(
            results_dir,
            output=output,
            grades_of=grades_of,
            item=item,
            identifier=identifier,  # type: ignore[arg-type]
        )
    elif format == "canvas-csv":
        path, grades = lms_csv.canvas_csv(
            results_dir,
            output=output,
            grades_of=grades_of,
            title=title,
            canvas_assignment=canvas_assignment,
            match=match,  # type: ignore[arg-type]
        )
    else:
        raise GradingError(f"unknown export format {format!r}")
    out.write(f"wrote {path}: {len(grades.rows)} final scores of {grades.assignment}\n")
    if grades.not_graded:
        out.write(f"not graded, left out: {', '.join(s for s, _ in grades.not_graded)}\n")


def similarity(
    results_dir: str | os.PathLike[str],
    *,
    config_path: str | os.PathLike[str] | None = None,
    quiet: bool = False,
    stream: TextIO | None = None,
) -> similarity_report.Written:
    """Compare every pair of submissions grade-all graded into ``results_dir`` (their code
    and their models); write similarity.html, .csv and .json there and print the pairs to
    look at."""
    out = stream or sys.stdout
    written = similarity_report.similarity(
        results_dir, config=load_config(config_path), progress=_progress_printer(quiet)
    )
    listed = [pair for pair in written.found.pairs if pair.flags]
    for pair in listed:
        reasons = ", ".join(
            f"{item.signal}{f' ({item.stage})' if item.stage else ''} {item.value:g}"
            for item in pair.flags
        )
        out.write(
            f"{one_line(pair.first)} / {one_line(pair.second)}  {pair.assignment}  {reasons}\n"
        )
    out.write(
        f"\n{len(listed)} pairs to look at (evidence, not verdicts) of {len(written.found.pairs)} "
        f"listed; {written.page}, {written.csv.name} and {written.json.name}\n"
    )
    return written


def show_config(config_path: str | os.PathLike[str] | None = None) -> str:
    """Every setting in force, as a course.yaml: the file's choices and the kit's defaults
    for what it leaves out (course.yaml itself holds only the course's choices)."""
    found = Path(config_path).expanduser().resolve() if config_path else find_config_file()
    config = load_config(found)
    where = found if found is not None else "no course.yaml (the kit's defaults)"
    mnist_dir = config.data.mnist_dir
    text = course_yaml_text(
        config,
        header=f"every setting in force: {where}, the kit's defaults for the rest",
        mnist_dir=str(mnist_dir) if mnist_dir is not None else None,
    )
    print(text, end="")
    return text
