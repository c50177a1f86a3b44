"""Memory a grading really takes: peak resident memory of the whole grading process tree.

Run with ``.venv/bin/python bench/memory.py [--assignment ID]``. Grades each assignment's
solved notebook (the source notebook with its solutions in place and its hidden tests
taken out, what a student who solved everything submits) with ``autograder grade`` and
course.yaml's budgets, samples every process of the grading tree (the grader, the
sandboxed notebook, the model judge) twice a second, and prints a Markdown table: peak
RSS per role, the peak of the tree's summed RSS and PSS (PSS shares each library page
among the processes mapping it, so it is what the tree costs a container's memory), the
notebook's peak address space (what grading.memory_mb limits), the wall time and the
CPU time of the whole tree. The figures set the margin of ``deploy.gradescope_settings`` (README
"Deploying: Gradescope and GitHub Classroom"); they are read here, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import nbformat  # noqa: E402
import psutil  # noqa: E402

from mnist_course.config import load_config  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
MIB = 2**20
SAMPLE_S = 0.5
HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.M | re.S)
SOLUTION_MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.M)
#: A process's role, from the module its command line runs (first match wins).
ROLES = (
    ("notebook", "autograder.harness"),
    ("sandbox start", "autograder.sandbox_init"),
    ("sandbox start", "unshare"),
    ("judge", "autograder.judge"),
)


def solved(source: Path) -> nbformat.NotebookNode:
    """The source notebook as a student who solved it submits it: no hidden tests, no
    solution markers."""
    notebook = nbformat.read(source, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.source = SOLUTION_MARKER.sub("", HIDDEN.sub("", cell.source))
    return notebook


def role_of(process: psutil.Process, root: int) -> str:
    if process.pid == root:
        return "grader"
    try:
        command = " ".join(process.cmdline())
    except psutil.Error:
        return "other"
    return next((role for role, needle in ROLES if needle in command), "other")


def _children_cpu_s() -> float:
    """CPU seconds of every ended descendant (each waited for by its parent, the
    sandbox's included): the work more CPUs would share."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _pss(process: psutil.Process) -> int:
    try:
        return process.memory_full_info().pss
    except (psutil.Error, AttributeError):
        return process.memory_info().rss


def measure(notebook: Path, assignment: str, config: Path) -> dict[str, float]:
    """Grade ``notebook`` and return peak MiB per role, of the tree, and the seconds."""
    command = [
        sys.executable, "-m", "autograder", "grade", str(notebook),
        "--assignment", assignment, "--config", str(config), "--quiet",
        "--json", str(notebook.with_suffix(".json")),
    ]  # fmt: skip
    started = time.perf_counter()
    cpu_before = _children_cpu_s()
    grading = subprocess.Popen(command, cwd=notebook.parent, stdout=subprocess.DEVNULL)
    root = psutil.Process(grading.pid)
    peaks: dict[str, float] = {}
    while grading.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            break
        rss_total = pss_total = 0
        for process in tree:
            try:
                rss = process.memory_info().rss
                pss = _pss(process)
            except psutil.Error:
                continue
            role = role_of(process, grading.pid)
            peaks[role] = max(peaks.get(role, 0.0), rss / MIB)
            if role == "notebook":  # what grading.memory_mb (an address-space limit) caps
                with contextlib.suppress(psutil.Error):
                    vms = process.memory_info().vms / MIB
                    peaks["notebook VMS"] = max(peaks.get("notebook VMS", 0.0), vms)
            rss_total += rss
            pss_total += pss
        peaks["tree RSS"] = max(peaks.get("tree RSS", 0.0), rss_total / MIB)
        peaks["tree PSS"] = max(peaks.get("tree PSS", 0.0), pss_total / MIB)
        time.sleep(SAMPLE_S)
    grading.wait()
    peaks["seconds"] = time.perf_counter() - started
    peaks["CPU s"] = _children_cpu_s() - cpu_before
    report = json.loads(notebook.with_suffix(".json").read_text(encoding="utf-8"))
    peaks["score"] = float(report.get("score") or 0)
    peaks["max score"] = float(report.get("max_score") or 0)
    return peaks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", help="only this assignment (default: every one)")
    args = parser.parse_args(argv)
    config_path = REPO_ROOT / "course.yaml"
    course = load_config(config_path)
    ids = [args.assignment] if args.assignment else list(course.assignments)
    rows = {}
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as scratch:
        for assignment in ids:
            name = course.assignment(assignment).notebook
            source = REPO_ROOT / course.course.source_directory / assignment / name
            target = Path(scratch) / assignment / name
            target.parent.mkdir()
            nbformat.write(solved(source), target)
            print(f"grading the solved {name} ...", file=sys.stderr, flush=True)
            rows[assignment] = measure(target, assignment, config_path)
    columns = sorted({key for row in rows.values() for key in row})
    order = ["grader", "notebook", "sandbox start", "judge", "other", "tree RSS", "tree PSS"]
    columns = [c for c in order if c in columns] + ["notebook VMS", "seconds", "CPU s", "score"]
    print(f"\nPeak resident memory (MiB) of one grading, {os.cpu_count()} CPU cores\n")
    print("| assignment | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for assignment, row in rows.items():
        cells = [
            f"{row['score']:g}/{row['max score']:g}" if c == "score" else f"{row.get(c, 0):.0f}"
            for c in columns
        ]
        print(f"| {assignment} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
