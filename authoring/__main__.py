"""``python -m authoring [--config course.yaml] [--assignment ID] [--check]``:
every assignment's source notebook, or one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from authoring.build import drift, source_notebook_path, write_notebook
from mnist_course.config import ConfigError, load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m authoring",
        description="Generate the nbgrader source notebooks from reference/ and course.yaml.",
    )
    parser.add_argument("--config", type=Path, help="course.yaml (default: the usual search)")
    parser.add_argument("--assignment", help="only this assignment (default: every one)")
    parser.add_argument(
        "--output", type=Path, help="notebook path, with --assignment (default: assignments/...)"
    )
    parser.add_argument(
        "--check", action="store_true", help="only report whether the notebook is up to date"
    )
    args = parser.parse_args(argv)
    try:
        course = load_config(args.config)
        ids = [args.assignment] if args.assignment else list(course.assignments)
        assignments = [course.assignment(assignment_id) for assignment_id in ids]
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.output and len(assignments) != 1:
        print("--output needs --assignment (the course has several notebooks)", file=sys.stderr)
        return 2
    status = 0
    for config in assignments:
        path = args.output or source_notebook_path(config)
        if args.check:
            problem = drift(config, path)
            print(problem or f"{path} is up to date", file=sys.stderr if problem else sys.stdout)
            status = max(status, 1 if problem else 0)
        else:
            print(f"wrote {write_notebook(config, path)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
