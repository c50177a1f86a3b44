"""Benchmark of the solved assignment notebooks: wall time per section, top to bottom.

Run with ``make bench`` (or ``.venv/bin/python bench/notebook.py [--assignment ID]``).
Executes each assignment's source notebook (solutions in place, hidden tests included)
in a fresh Jupyter kernel, in a scratch copy, and prints how long each numbered section
took. The budgets (the first notebook well under 2 minutes, the extensions notebook at
most 4 minutes on 2 CPU cores) are measured here, never in a timed test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

from mnist_course.config import load_config  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]


def section_of(cell: nbformat.NotebookNode, current: str) -> str:
    """Markdown cells that start with '## ' open a new section."""
    if cell.cell_type == "markdown" and cell.source.startswith("## "):
        return cell.source.splitlines()[0][3:].strip()
    return current


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", help="only this assignment (default: every one)")
    parser.add_argument("--notebook", help="a notebook to run instead of the source notebooks")
    args = parser.parse_args(argv)
    course = load_config(REPO_ROOT / "course.yaml")
    if args.notebook:
        paths = [Path(args.notebook)]
    else:
        ids = [args.assignment] if args.assignment else list(course.assignments)
        folder = REPO_ROOT / course.course.source_directory
        paths = [folder / i / course.assignment(i).notebook for i in ids]
    for path in paths:
        run(path)
    return 0


def run(path: Path) -> None:
    """Run the notebook at ``path`` and print its table of seconds per section."""
    notebook = nbformat.read(path, as_version=4)
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-notebook-") as scratch:
        shutil.copy(REPO_ROOT / "course.yaml", Path(scratch) / "course.yaml")
        client = NotebookClient(
            notebook,
            timeout=600,
            kernel_name="python3",
            resources={"metadata": {"path": scratch}},
        )
        started = time.perf_counter()
        with client.setup_kernel():
            section = "setup"
            for index, cell in enumerate(notebook.cells):
                section = section_of(cell, section)
                if cell.cell_type != "code":
                    continue
                print(f"  running cell {index} ({section}) ...", file=sys.stderr, flush=True)
                cell_started = time.perf_counter()
                client.execute_cell(cell, index)
                timings[section] = timings.get(section, 0.0) + time.perf_counter() - cell_started
        total = time.perf_counter() - started

    print(f"\nSolved notebook {path.name}, {os.cpu_count()} CPU cores\n")
    print("| section | seconds |")
    print("|---|---|")
    for section, seconds in timings.items():
        print(f"| {section} | {seconds:.1f} |")
    print(f"| **total, kernel start included** | **{total:.1f}** |")


if __name__ == "__main__":
    sys.exit(main())
