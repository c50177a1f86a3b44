"""Class-scale throughput: one batch graded by nbgrader, by grade-all --workers 1, and by
grade-all with more workers, one after another; prints a table and extrapolates to a class.

The batch is made the way students make it: the released notebook with every stub filled
by the reference solution (``--solved`` copies) and with normalize() forgetting to divide
by 255 (``--mistakes`` copies). ``--epochs`` shortens every stage's training for a quick
run (the scores then fall, the relative speeds are what matter).

    .venv/bin/python bench/grading.py                    # 4 solved + 4 mistakes
    .venv/bin/python bench/grading.py --solved 1 --mistakes 1 --epochs 1 --workers 2
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import yaml

from autograder import pool
from mnist_course.assignments import all_specs

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MARKER = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")
CLASS_SIZES = (100, 500)


def _run(command: list[str], course: Path) -> float:
    """Seconds ``command`` took in ``course``; fails loudly, since a broken run has no speed."""
    env = {
        **os.environ,
        "COURSE_CONFIG": str(course / "course.yaml"),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    started = time.perf_counter()
    done = subprocess.run(command, cwd=course, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return seconds


def _course(root: Path, epochs: int | None) -> tuple[Path, str, str]:
    """A copy of the nbgrader course with the assignment generated; its id and notebook."""
    for name in ("nbgrader_config.py", "course.yaml"):
        shutil.copy(REPO_ROOT / name, root)
    shutil.copytree(REPO_ROOT / "assignments", root / "assignments")
    raw = yaml.safe_load((root / "course.yaml").read_text())
    assignment, settings = next(iter(raw["assignments"].items()))  # the course's first
    if epochs is not None:
        stages = settings.setdefault("stages", {})
        for stage in all_specs()[assignment].stages:  # stages course.yaml leaves out too
            stages[stage.id] = {**(stages.get(stage.id) or {}), "epochs": epochs}
    (root / "course.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    _run([str(BIN / "nbgrader"), "generate_assignment", assignment], root)
    return root, assignment, settings["notebook"]


def _solved(course: Path, assignment: str, notebook: str) -> nbformat.NotebookNode:
    """The release with every stub replaced by the source notebook's solution."""

    def meta(cell: nbformat.NotebookNode) -> dict:
        return cell.metadata.get("nbgrader", {})

    source = nbformat.read(course / "assignments" / assignment / notebook, 4)
    solutions = {
        meta(cell)["grade_id"]: "\n".join(
            line for line in cell.source.split("\n") if not MARKER.match(line)
        )
        for cell in source.cells
        if meta(cell).get("solution")
    }
    release = nbformat.read(course / "release" / assignment / notebook, 4)
    for cell in release.cells:
        if meta(cell).get("solution"):
            cell.source = solutions[meta(cell)["grade_id"]]
    return release


def _no_normalization(solved: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The typical mistake: normalize() returns the pixels as floats, not divided by 255."""
    notebook = nbformat.from_dict(solved)
    cell = next(
        c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "normalize"
    )
    head = cell.source.split('    """\n')[0]
    cell.source = f'{head}    """\n    return np.asarray(images, dtype="float32")'
    return notebook


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--solved", type=int, default=4, help="copies of the solved notebook")
    parser.add_argument("--mistakes", type=int, default=4, help="copies with a typical mistake")
    parser.add_argument("--workers", type=int, default=pool.default_workers(), help="the N to try")
    parser.add_argument("--epochs", type=int, help="epochs per stage (default: course.yaml's)")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-grading-") as name:
        course, assignment, notebook = _course(Path(name), options.epochs)
        solved = _solved(course, assignment, notebook)
        batch = [("solved", solved)] * options.solved
        batch += [("no-normalization", _no_normalization(solved))] * options.mistakes
        for number, (kind, submission) in enumerate(batch, start=1):
            student = f"{kind}-{number}"
            _run([str(BIN / "nbgrader"), "db", "student", "add", student], course)
            folder = course / "submitted" / student / assignment
            folder.mkdir(parents=True)
            nbformat.write(submission, folder / notebook)
        size = len(batch)
        epochs = options.epochs or "course.yaml's"
        print(
            f"{size} submissions ({options.solved} solved, {options.mistakes} with a mistake); "
            f"{pool.usable_cores()} cores; epochs per stage: {epochs}"
        )

        grade_all = [sys.executable, "-m", "autograder", "grade-all", "submitted", "--force"]
        ways = [("nbgrader autograde", [str(BIN / "nbgrader"), "autograde", assignment])]
        ways.append(("grade-all --workers 1", [*grade_all, "--workers", "1", "--output", "g1"]))
        if options.workers != 1:
            ways.append(
                (f"grade-all --workers {options.workers}",
                 [*grade_all, "--workers", str(options.workers), "--output", "gn"])
            )  # fmt: skip
        timings = []
        for label, command in ways:
            seconds = _run(command, course)
            timings.append((label, seconds))
            print(f"  {label}: {seconds:.1f} s", flush=True)

    baseline = timings[0][1]
    header = f"{'how':<24}{'wall s':>9}{'subm./h':>10}{'vs nbgrader':>13}"
    header += "".join(f"{f'class of {n}':>14}" for n in CLASS_SIZES)
    print(f"\n{header}\n{'-' * len(header)}")
    for label, seconds in timings:
        per_hour = size * 3600 / seconds
        row = f"{label:<24}{seconds:>9.1f}{per_hour:>10.0f}{baseline / seconds:>12.2f}x"
        row += "".join(f"{n * seconds / size / 60:>10.0f} min" for n in CLASS_SIZES)
        print(row)


if __name__ == "__main__":
    main()
