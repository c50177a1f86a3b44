"""One lesson per assignment: ``lessons/<assignment id>.py`` defines ``lesson_cells(config)``,
the assignment's cells in the order students meet them."""

from __future__ import annotations

import importlib

from nbformat import NotebookNode

from mnist_course.config import AssignmentConfig


def lesson_cells(config: AssignmentConfig) -> list[NotebookNode]:
    """Every cell of ``config``'s source notebook, from its lesson module."""
    try:
        lesson = importlib.import_module(f"{__name__}.{config.id}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{config.id}":
            raise
        raise ValueError(
            f"assignment {config.id!r} has no lesson: write {__name__}.{config.id} "
            "(a module with lesson_cells(config))"
        ) from None
    return lesson.lesson_cells(config)
