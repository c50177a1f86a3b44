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
    """A graded test cell worth ``points``: full marks unless it raises.

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
