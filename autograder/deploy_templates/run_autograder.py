#!/usr/bin/env python3
"""Gradescope's entry point: grade the submitted notebook, always leave a results.json.

Gradescope runs this as /autograder/run_autograder after copying the student's files to
/autograder/submission. It uses only the standard library of the image's own Python,
so it still writes a result when installing the kit failed. If grading itself fails
(the command is missing, crashes, exits non-zero or writes no valid results), the result
is an error without a score, with the cause, never a zero, and the exit status is 1.

AUTOGRADER_ROOT (default /autograder) and AUTOGRADER_COMMAND (default the kit's
``autograder`` in /autograder/venv) exist so the kit's tests can run this script in a
simulated layout.
"""

import html
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(os.environ.get("AUTOGRADER_ROOT", "/autograder"))
SOURCE = ROOT / "source"
RESULTS = ROOT / "results" / "results.json"
COMMAND = os.environ.get("AUTOGRADER_COMMAND") or str(ROOT / "venv" / "bin" / "autograder")
CAUSE = "{cause}"


class GradingFailed(Exception):
    """Grading could not be done; the message is the cause shown to the instructor."""


def find_notebook(folder, name):
    """The submitted notebook: the one named as the assignment's, else the only one."""
    found = sorted(
        path
        for path in folder.rglob("*.ipynb")
        if ".ipynb_checkpoints" not in path.parts and path.is_file()
    )
    named = [path for path in found if path.name == name]
    if named:
        return named[0]
    if len(found) == 1:
        return found[0]
    if not found:
        raise GradingFailed(f"no .ipynb notebook was submitted (expected {name})")
    listed = ", ".join(str(path.relative_to(folder)) for path in found)
    raise GradingFailed(f"several notebooks were submitted and none is named {name}: {listed}")


def grade(settings, notebook):
    """Run the kit's grader on ``notebook``; it writes RESULTS itself."""
    command = [
        COMMAND,
        "grade",
        str(notebook),
        "--gradescope",
        str(RESULTS),
        "--config",
        str(SOURCE / "course.yaml"),
        "--quiet",
        *settings["grade_args"],
    ]
    environment = {**os.environ, "MNIST_DATA": str(SOURCE / "mnist")}
    # A fresh folder: nothing in the working folder can shadow the installed kit.
    with tempfile.TemporaryDirectory(prefix="grading-") as scratch:
        try:
            done = subprocess.run(
                command,
                cwd=scratch,
                env=environment,
                capture_output=True,
                text=True,
                timeout=settings["timeout_s"],
                check=False,
            )
        except FileNotFoundError:
            raise GradingFailed(
                f"the grader {COMMAND} is not installed (did setup.sh fail?)"
            ) from None
        except subprocess.TimeoutExpired:
            raise GradingFailed(
                f"the grader did not finish within {settings['timeout_s']} s"
            ) from None
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise GradingFailed(f"the grader exited with status {done.returncode}: {last}")
    try:
        results = json.loads(RESULTS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise GradingFailed("the grader finished but wrote no valid results.json") from None
    if not isinstance(results, dict) or not isinstance(results.get("tests"), list):
        raise GradingFailed("the grader's results.json has no tests")


def error_result(settings, cause, seconds):
    """The kit's own error result (its template travels in deploy.json) for ``cause``."""
    result = json.loads(json.dumps(settings["error_result"]))
    result["output"] = result["output"].replace(CAUSE, html.escape(cause, quote=False))
    result["extra_data"] = {"error": cause}
    result["execution_time"] = max(0, round(seconds))
    return result


def main():
    start = time.monotonic()
    settings = json.loads((SOURCE / "deploy.json").read_text(encoding="utf-8"))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if RESULTS.exists():
        RESULTS.unlink()  # a stale file must never pass for this run's result
    try:
        grade(settings, find_notebook(ROOT / "submission", settings["notebook"]))
    except GradingFailed as exc:
        cause = str(exc)
        print(f"run_autograder: grading failed: {cause}", file=sys.stderr)
        result = error_result(settings, cause, time.monotonic() - start)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
