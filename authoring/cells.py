"""Notebook cells with the nbgrader metadata each role needs.

nbgrader reads a cell's role from ``metadata.nbgrader`` (schema version 3):
solution cells are cleared to a stub in the release, grade cells carry points and
are restored from the source notebook at autograde time, locked cells cannot be
changed by students. Cell ids are fixed names, so generating twice gives the same
file byte for byte (the drift test relies on it).
"""

from __future__ import annotations

import nbformat
from nbformat import NotebookNode

from mnist_course import credit
from mnist_course.config import AssignmentConfig
from mnist_course.results import check_specs, grade_id_of, spec_for

SCHEMA_VERSION = 3
BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN_TESTS = "### BEGIN HIDDEN TESTS"
END_HIDDEN_TESTS = "### END HIDDEN TESTS"


def _nbgrader(
    cell_id: str, *, solution: bool, grade: bool, locked: bool, points: float | None = None
) -> dict:
    meta: dict = {
        "grade": grade,
        "grade_id": cell_id,
        "locked": locked,
        "schema_version": SCHEMA_VERSION,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return meta


def markdown(cell_id: str, text: str) -> NotebookNode:
    """Teaching text; students may annotate it, nbgrader ignores it."""
    cell = nbformat.v4.new_markdown_cell(text.strip("\n"))
    cell.id = cell_id
    return cell


def code(cell_id: str, source: str) -> NotebookNode:
    """Code students run and may change freely (exploration, plots)."""
    cell = nbformat.v4.new_code_cell(source.strip("\n"))
    cell.id = cell_id
    return cell


def provided(cell_id: str, source: str) -> NotebookNode:
    """Code the course provides; locked so the graded cells can rely on it."""
    cell = code(cell_id, source)
    cell.metadata["nbgrader"] = _nbgrader(cell_id, solution=False, grade=False, locked=True)
    cell.metadata["editable"] = False
    cell.metadata["deletable"] = False
    return cell


def solution(cell_id: str, before: str, body: str, after: str = "") -> NotebookNode:
    """A student cell: ``body`` is the solution, replaced by a stub in the release.

    ``before`` (instructions, a ``def`` line and docstring) and ``after`` stay
    visible. The markers are indented like the first line of ``body``, so a stub
    inside a function stays inside it.
    """
    body = body.strip("\n")
    indent = body[: len(body) - len(body.lstrip())]
    parts = [before.strip("\n")] if before.strip() else []
    parts += [f"{indent}{BEGIN_SOLUTION}", body, f"{indent}{END_SOLUTION}"]
    if after.strip():
        parts.append(after.strip("\n"))
    cell = code(cell_id, "\n".join(parts))
    cell.metadata["nbgrader"] = _nbgrader(cell_id, solution=True, grade=False, locked=False)
    return cell


def test(cell_id: str, source: str, points: float, *, hidden: str = "") -> NotebookNode:
    """A graded test cell worth ``points``: full marks unless it raises, or the number
    its last line evaluates to (nbgrader's partial credit).

    ``hidden`` is code nbgrader removes from the release and puts back when it
    autogrades; ``source`` stays visible above it.
    """
    lines = [source.strip("\n")] if source.strip() else []
    if hidden.strip():
        lines += [BEGIN_HIDDEN_TESTS, hidden.strip("\n"), END_HIDDEN_TESTS]
    cell = code(cell_id, "\n".join(lines))
    cell.metadata["nbgrader"] = _nbgrader(
        cell_id, solution=False, grade=True, locked=True, points=points
    )
    cell.metadata["editable"] = False
    cell.metadata["deletable"] = False
    return cell


def _points(value: float) -> str:
    return f"{value:g} point" + ("" if value == 1 else "s")


def _partial(config: AssignmentConfig, check_id: str) -> bool:
    return credit.rule_for(config, check_id) is not None


def _check_call(config: AssignmentConfig, check_id: str) -> str:
    """The one line a test cell runs: the shared check, on the notebook's own names. With
    partial credit the cell's value is the points (nbgrader scores a cell whose output is
    a number with that number), so a partly-scored result is shown instead of raised."""
    if _partial(config, check_id):
        return f'check("{check_id}", partial=True).points'
    return f'check("{check_id}");'


def _worth(config: AssignmentConfig, check_id: str, points: float) -> str:
    """How much a test cell is worth, as its first comment says it."""
    if _partial(config, check_id):
        return f"up to {_points(points)}, partial credit below the bar"
    return _points(points)


def self_check(config: AssignmentConfig, check_id: str, what: str) -> NotebookNode:
    """A visible test cell: what it checks (and the names it reads), then the call."""
    names = ", ".join(config.spec.check(check_id).reads)
    points = config.points(check_id)
    return test(
        grade_id_of(check_id),
        f"# Self-check ({_worth(config, check_id, points)}): {what} (reads {names}).\n"
        + _check_call(config, check_id),
        points,
    )


def hidden_check(config: AssignmentConfig, check_id: str, what: str = "") -> NotebookNode:
    """A test cell whose call nbgrader hides from students: it says what it checks (the
    check's title unless ``what`` says more)."""
    spec = spec_for(check_id, config)
    return test(
        grade_id_of(check_id),
        f"# Hidden test ({_worth(config, check_id, spec.max_points)}): {what or spec.title}.",
        spec.max_points,
        hidden=_check_call(config, check_id),
    )


def points_table(config: AssignmentConfig) -> str:
    """Every check of the assignment with its points, from the spec and course.yaml."""
    lines = ["| Check | Points | Test |", "|---|---|---|"]
    lines += [
        f"| {check.title} | {check.max_points:g}"
        + (" (partial credit)" if _partial(config, check.id) else "")
        + f" | {check.visibility} |"
        for check in check_specs(config)
    ]
    lines.append(f"| **Total** | **{config.total_points():g}** | |")
    return "\n".join(lines)


def setup(
    config: AssignmentConfig, *, libraries: tuple[str, ...] = (), kit: tuple[str, ...] = ()
) -> NotebookNode:
    """The first code cell of every assignment: its id (whose checks the test cells run),
    TensorFlow started quietly, the imports, this assignment's settings and the seeds.
    ``libraries`` and ``kit`` are extra import lines, standard or third-party and the kit's."""
    third_party = sorted({"import keras", "import matplotlib.pyplot as plt",
                          "import numpy as np", *libraries})  # fmt: skip
    own = sorted({"from mnist_course.config import load_config",
                  "from mnist_course.data import load_mnist",
                  "from mnist_course.determinism import fix_seeds", *kit})  # fmt: skip
    return provided(
        "setup",
        "from autograder.notebook import check, start_notebook\n\n"
        f'start_notebook("{config.id}")  # before keras: keeps TensorFlow\'s start-up noise out'
        "\n\n" + "\n".join(third_party) + "\n\n" + "\n".join(own) + "\n\n"
        f'config = load_config().assignment("{config.id}")  # budgets, bars and points\n'
        "fix_seeds(config.seed)  # the same seeds and deterministic ops as the course's grader",
    )
