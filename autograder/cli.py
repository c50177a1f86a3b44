"""``autograder`` command line: parses arguments, forwards to autograder.commands.

Only flags the user gives are forwarded, so defaults live in one place.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from typing import Any

from autograder import analytics, commands, deploy, student
from autograder.grader import GradingError, GradingOptions
from mnist_course.config import ConfigError
from mnist_course.data import MnistDataError

EXIT_ERROR = 2


def _add_grading_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by every grading command."""
    parser.add_argument("--config", dest="config_path", help="course.yaml to use")
    parser.add_argument(
        "--retrain",
        action=argparse.BooleanOptionalAction,
        help="re-train submitted architectures before measuring (overrides course.yaml)",
    )
    parser.add_argument(
        "--timeout", dest="submission_timeout_s", type=float, help="seconds per submission"
    )
    parser.add_argument("--cell-timeout", dest="cell_timeout_s", type=float, help="seconds/cell")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument(
        "--allow-unsandboxed",
        action="store_true",
        help="as root on a machine without Linux namespaces, run student code anyway",
    )


def _grading_options(args: dict[str, Any]) -> GradingOptions:
    """The grading options the user gave among the parsed ``args`` (taken out of them), as
    one record whose own defaults stand for the rest."""
    names = [field.name for field in dataclasses.fields(GradingOptions) if field.name in args]
    return GradingOptions(**{name: args.pop(name) for name in names})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autograder", description="Grade MNIST course notebooks in a sandbox."
    )
    commands_ = parser.add_subparsers(dest="command", required=True)
    grade = commands_.add_parser(
        "grade",
        help="grade one notebook and print a table",
        argument_default=argparse.SUPPRESS,
    )
    grade.add_argument("submission", help="the .ipynb to grade")
    grade.add_argument(
        "--assignment",
        metavar="ID",
        help="the assignment whose checks to run (default: from the notebook's metadata, "
        "its folder or file name, or the course's only assignment)",
    )
    grade.add_argument("--json", dest="json_path", metavar="FILE", help="write JSON report")
    grade.add_argument("--junit", dest="junit_path", metavar="FILE", help="write JUnit XML")
    grade.add_argument(
        "--gradescope", dest="gradescope_path", metavar="FILE", help="write Gradescope results"
    )
    grade.add_argument(
        "--html", dest="html_path", metavar="FILE", help="write the feedback page (self-contained)"
    )
    grade.add_argument(
        "--github",
        dest="github_output",
        action="store_true",
        help="emit GitHub Classroom's grader result (to $GITHUB_OUTPUT when set)",
    )
    _add_grading_options(grade)

    grade_all = commands_.add_parser(
        "grade-all",
        help="grade every submission in a folder; write one JSON report each and grades.csv",
        argument_default=argparse.SUPPRESS,
    )
    grade_all.add_argument(
        "folder",
        help="nbgrader's submitted/ (<student>/<assignment>/<notebook>), a GitHub Classroom "
        "clone (<slug>-submissions/<slug>-<login>/<notebook>) or <student>.ipynb files",
    )
    grade_all.add_argument("--output", metavar="DIR", help="where reports go (default: graded)")
    grade_all.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="submissions graded at once on this machine (default: one per core, as memory allows)",
    )
    grade_all.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="grade on this Dask distributed cluster instead, one task per submission",
    )
    grade_all.add_argument(
        "--force",
        action="store_true",
        help="regrade every submission, also those graded before and unchanged since",
    )
    grade_all.add_argument(
        "--submission-times",
        metavar="CSV",
        help="when each student handed in (student,submitted[,assignment]; ISO times with a "
        "zone); nbgrader's timestamp.txt wins, a file's mtime is the last resort",
    )
    grade_all.add_argument(
        "--gradebook",
        action="store_true",
        help="also write the scores into gradebook.db of the nbgrader course (current folder)",
    )
    _add_grading_options(grade_all)

    report = commands_.add_parser(
        "report",
        help="write the class page (scores, pass rates, common mistakes) from grade-all's output",
        argument_default=argparse.SUPPRESS,
    )
    report.add_argument("results_dir", help="the folder grade-all wrote its results to")
    report.add_argument("--output", metavar="FILE", help="the page (default: in RESULTS_DIR)")
    report.add_argument("--config", dest="config_path", help="course.yaml to use")

    show = commands_.add_parser(
        "config",
        help="print every setting in force: course.yaml's choices and the kit's defaults",
        argument_default=argparse.SUPPRESS,
    )
    show.add_argument("--config", dest="config_path", help="course.yaml to use")

    similar = commands_.add_parser(
        "similarity",
        help="pairs of submissions to look at: code in common and models alike (never a verdict)",
        argument_default=argparse.SUPPRESS,
    )
    similar.add_argument("results_dir", help="the folder grade-all wrote its results to")
    similar.add_argument("--config", dest="config_path", help="course.yaml to use")
    similar.add_argument("--quiet", action="store_true", help="no progress on stderr")

    deploy_parser = commands_.add_parser(
        "deploy", help="build what Gradescope or GitHub Classroom needs to run the grader"
    )
    targets = deploy_parser.add_subparsers(dest="target", required=True)
    to_gradescope = targets.add_parser(
        "gradescope", help="the autograder zip to upload", argument_default=argparse.SUPPRESS
    )
    to_gradescope.add_argument("--output", dest="output_zip", metavar="ZIP")
    to_gradescope.add_argument("--data", dest="data_dir", metavar="MNIST_DIR")
    to_github = targets.add_parser(
        "github", help="the GitHub Classroom workflow", argument_default=argparse.SUPPRESS
    )
    to_github.add_argument("--output", dest="output_path", metavar="YAML")
    to_github.add_argument("--kit", dest="kit_requirement", metavar="PIP_REQUIREMENT")
    to_github.add_argument("--python", dest="python_version", metavar="VERSION")
    for target in (to_gradescope, to_github):
        target.add_argument("--config", dest="config_path", help="course.yaml to use")
        target.add_argument(
            "--assignment", metavar="ID", help="which assignment (needed when there are several)"
        )
        target.add_argument(
            "--allow-unsandboxed",
            action="store_true",
            help="let the grader run student code where no namespaces exist (see README)",
        )

    _add_export_commands(commands_)
    student.add_check_command(commands_)
    return parser


def _add_export_commands(commands_: argparse._SubParsersAction) -> None:
    """``export canvas | moodle-csv | canvas-csv``: grade-all's final scores into an LMS."""
    export = commands_.add_parser(
        "export", help="grade-all's final scores (after late penalties) into Canvas or Moodle"
    )
    formats = export.add_subparsers(dest="format", required=True)
    canvas = formats.add_parser(
        "canvas",
        help="post to Canvas through its API (a dry run unless --post; token: $CANVAS_API_TOKEN)",
        argument_default=argparse.SUPPRESS,
    )
    canvas.add_argument("--course", type=int, required=True, metavar="ID", help="Canvas course")
    canvas.add_argument(
        "--assignment", type=int, required=True, metavar="ID", help="Canvas assignment"
    )
    canvas.add_argument("--url", metavar="URL", help="the Canvas (default: $CANVAS_URL)")
    canvas.add_argument(
        "--post", action="store_true", help="post (default: show what would be posted)"
    )
    canvas.add_argument(
        "--no-attach",
        dest="attach",
        action="store_false",
        help="do not attach the feedback page as a comment file",
    )
    moodle = formats.add_parser(
        "moodle-csv", help="Moodle's grade-import CSV", argument_default=argparse.SUPPRESS
    )
    moodle.add_argument("--item", metavar="NAME", help="the grade item's name (default: the id)")
    moodle.add_argument(
        "--identifier",
        choices=("username", "idnumber", "email"),
        help="the Moodle user field the student names are (default: username)",
    )
    canvas_file = formats.add_parser(
        "canvas-csv", help="Canvas's gradebook-import CSV", argument_default=argparse.SUPPRESS
    )
    canvas_file.add_argument("--title", metavar="NAME", help="Canvas assignment name")
    canvas_file.add_argument(
        "--canvas-assignment", type=int, metavar="ID", help="Canvas assignment id"
    )
    for parser in (canvas, canvas_file):
        parser.add_argument(
            "--match",
            choices=("sis", "login"),
            help="student names are Canvas SIS user ids or login ids (default: sis)",
        )
    for parser in (moodle, canvas_file):
        parser.add_argument("--output", metavar="CSV", help="the file (default: in RESULTS_DIR)")
    for parser in (canvas, moodle, canvas_file):
        parser.add_argument("results_dir", help="the folder grade-all wrote its results to")
        parser.add_argument(
            "--grades-of",
            metavar="ID",
            help="which of the course's assignments (default: the only one in the results)",
        )


def main(argv: list[str] | None = None) -> int:
    """Exit 0 when graded (whatever the score); 2 when grading could not be done, also for
    one submission of a batch (its row says why; the next run retries it)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep the table readable
    args = vars(build_parser().parse_args(argv))
    command = args.pop("command")
    try:
        if command == "grade":
            commands.grade(args.pop("submission"), options=_grading_options(args), **args)
        elif command == "grade-all":
            results = commands.grade_all(args.pop("folder"), options=_grading_options(args), **args)
            if not all(result.graded for result in results):
                return EXIT_ERROR  # the grader failed on some: not the students' zero
        elif command == "report":
            written = analytics.report(args.pop("results_dir"), **args)
            print(f"class page: {written.page}\nsummary: {written.csv}, {written.json}")
        elif command == "config":
            commands.show_config(**args)
        elif command == "similarity":
            commands.similarity(args.pop("results_dir"), **args)
        elif command == "deploy":
            target = args.pop("target")
            path = deploy.gradescope(**args) if target == "gradescope" else deploy.github(**args)
            print(f"wrote {path}")
        elif command == "export":
            commands.export(args.pop("format"), args.pop("results_dir"), **args)
        elif command == "check":
            return student.check(args.pop("notebook"), **args)

    except (GradingError, ConfigError, MnistDataError, ValueError) as exc:
        print(f"autograder: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
