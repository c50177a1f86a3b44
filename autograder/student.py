"""``autograder check NOTEBOOK``: a student's own run of every check before submitting.

The notebook runs top to bottom in a fresh kernel, as nbgrader and the grader run
it, with its test cells left out; then every check of the course (the hidden
accuracy bars included) runs in that kernel on the names the notebook defined,
through :func:`autograder.notebook.run_check`, and a table with the hints is
printed. It needs only what the student wheel ships (no sandbox: it is feedback on
the student's own machine, not the grade).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any, TextIO

from autograder.checks.hints import Advice
from autograder.formats.text import one_line
from autograder.reports import CheckRun
from mnist_course.config import ConfigError, find_assignment, find_config_file, load_config
from mnist_course.results import CheckResult, check_specs, fail_all, is_test_cell

#: Exit statuses: every check passed, some failed, the notebook could not be checked.
EXIT_PASSED, EXIT_FAILED, EXIT_ERROR = 0, 1, 2
#: Environment of the student's kernel: TensorFlow's C++ logs cut to fatal ones.
KERNEL_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3"}
WIDTH = 88


class CheckError(Exception):
    """The notebook could not be checked at all (not the student's score)."""


def write_results(path: str, namespace: dict[str, Any]) -> None:
    """In the student's kernel: run every check on ``namespace``, write them to ``path``."""
    from autograder import notebook

    results = []
    for spec in check_specs(notebook._config()):
        try:
            result = notebook.run_check(spec.id, namespace)
        except Exception as exc:  # a student's object can break a check: that check fails
            result = spec.failed(f"The check could not run: {type(exc).__name__}: {exc}", "")
        results.append(result.to_dict())
    Path(path).write_text(json.dumps(results), encoding="utf-8")


def _cell_error(index: int, cell: Any) -> str | None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            first = str(output.get("evalue", "")).split("\n")[0]
            return f"cell {index + 1} raised {output.get('ename')}: {first}"
    return None


def run_checks(
    notebook: str | os.PathLike[str],
    *,
    config_path: str | os.PathLike[str] | None = None,
    cell_timeout_s: float | None = None,
) -> CheckRun:
    """Run ``notebook`` in a fresh kernel and every check on what it defined."""
    import nbclient
    import nbformat
    from nbclient.exceptions import DeadKernelError

    path = Path(notebook)
    if not path.is_file():
        raise CheckError(f"{path}: notebook not found (expected a .ipynb file)")
    config_file = Path(config_path) if config_path else find_config_file(path.resolve().parent)
    try:
        config = load_config(config_file)
        config = config.assignment(find_assignment(path, config))
    except ConfigError as exc:
        raise CheckError(str(exc)) from None
    try:
        document = nbformat.read(path, as_version=4)
    except Exception as exc:  # nbformat raises several kinds for a broken file
        raise CheckError(f"{path}: not a readable notebook ({exc})") from None
    env = {**os.environ, **KERNEL_ENV}
    if config_file is not None:
        env["COURSE_CONFIG"] = str(config_file.resolve())
    client = nbclient.NotebookClient(
        document,
        timeout=cell_timeout_s or config.grading.cell_timeout_s,
        allow_errors=True,
        interrupt_on_timeout=True,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.resolve().parent)}},
    )
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="autograder-check-") as scratch:
        results_file = Path(scratch) / "results.json"
        final = nbformat.v4.new_code_cell(
            "__import__('autograder.student').student.write_results("
            f"{str(results_file)!r}, globals())"
        )
        cells = list(document.cells)
        document.cells.append(final)
        index = 0
        # The kernel's own log (start-up warnings) is not the student's business; it is kept
        # to explain a kernel that does not start.
        with open(Path(scratch) / "kernel.log", "w+b") as kernel_log:
            try:
                with client.setup_kernel(env=env, stderr=kernel_log):
                    for index, cell in enumerate(cells):
                        if cell.cell_type == "code" and not is_test_cell(cell):
                            client.execute_cell(cell, index)
                            error = _cell_error(index, cell)
                            if error and not notes:  # later errors often follow from it
                                notes.append(f"first error: {one_line(error)}")
                    index = len(cells)
                    client.execute_cell(final, index)
            except DeadKernelError:
                reason = f"the kernel stopped while running cell {index + 1}"
                advice = Advice("other", "Remove sys.exit(), os._exit() or os.kill() from cells.")
                return CheckRun(str(path), fail_all(config, f"Not checked: {reason}.", advice))
            except RuntimeError as exc:  # the kernel would not start
                kernel_log.seek(0)
                log = kernel_log.read().decode(errors="replace")[-2000:]
                raise CheckError(f"{path}: could not start a Python kernel ({exc}) {log}") from None
        if not results_file.is_file():
            raise CheckError(f"{path}: the checks did not run: {_cell_error(index, final)}")
        raw = json.loads(results_file.read_text(encoding="utf-8"))
    return CheckRun(str(path), tuple(CheckResult(**item) for item in raw), tuple(notes))


def render(run: CheckRun) -> str:
    """One row per check, the score, then each failed check with its message and hint."""
    rows = [("check", "points", "result")]
    rows += [
        (r.id, f"{r.points:g}/{r.max_points:g}", "pass" if r.passed else "FAIL")
        for r in run.results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
             for row in rows]  # fmt: skip
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines += ["", f"score: {run.score:g} / {run.max_score:g}   ({one_line(run.notebook)})"]
    for result in run.results:
        if not result.passed:
            lines.append(f"- {result.id}: {result.title}")
            lines += textwrap.wrap(one_line(result.message), WIDTH, initial_indent="    ",
                                   subsequent_indent="    ")  # fmt: skip
            if result.hint:
                lines += textwrap.wrap(one_line(result.hint), WIDTH, initial_indent="    hint: ",
                                       subsequent_indent="          ")  # fmt: skip
    lines += [f"note: {note}" for note in run.notes]
    lines.append("This is a self-check on your machine; your grade comes from the course's grader.")
    return "\n".join(lines) + "\n"


def check(
    notebook: str | os.PathLike[str],
    *,
    config_path: str | os.PathLike[str] | None = None,
    stream: TextIO | None = None,
) -> int:
    """Check ``notebook``, print the table; 0 when all passed, 1 when some failed, 2 when
    it could not be checked (the reason goes to stderr)."""
    out = stream or sys.stdout
    print(f"autograder: running {notebook} in a fresh kernel...", file=sys.stderr, flush=True)
    try:
        run = run_checks(notebook, config_path=config_path)
    except (CheckError, ConfigError) as exc:
        print(f"autograder: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    out.write(render(run))
    return EXIT_PASSED if all(result.passed for result in run.results) else EXIT_FAILED


def add_check_command(commands: Any) -> argparse.ArgumentParser:
    """The ``check`` subcommand, for the student command and the kit's full CLI alike."""
    parser = commands.add_parser(
        "check",
        help="run every check on a notebook in a fresh kernel and print a table with hints",
        description=__doc__.splitlines()[0].strip("`"),
    )
    parser.add_argument("notebook", help="the .ipynb to check")
    parser.add_argument("--config", dest="config_path", help="course.yaml to use")
    return parser


def main(argv: list[str] | None = None) -> int:
    """The student wheel's ``autograder`` command (``check`` only)."""
    parser = argparse.ArgumentParser(prog="autograder", description="MNIST course self-checks.")
    add_check_command(parser.add_subparsers(dest="command", required=True))
    args = vars(parser.parse_args(argv))
    args.pop("command")
    return check(args.pop("notebook"), **args)


if __name__ == "__main__":
    sys.exit(main())
