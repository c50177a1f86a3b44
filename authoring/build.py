"""Assemble the source notebook from the lesson and write or check it."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat import NotebookNode

from authoring.lessons import lesson_cells
from mnist_course.config import AssignmentConfig
from mnist_course.spec import NOTEBOOK_METADATA_KEY

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
REGENERATE = "python -m authoring"


def build_notebook(config: AssignmentConfig) -> NotebookNode:
    """The nbgrader source notebook of ``config``'s assignment: solutions and hidden tests
    included, and its id in the metadata (which nbgrader keeps), so the grader knows it."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = lesson_cells(config)
    notebook.metadata = {
        "kernelspec": dict(KERNELSPEC),
        "language_info": {"name": "python"},
        NOTEBOOK_METADATA_KEY: {"assignment": config.id},
    }
    nbformat.validate(notebook)
    return notebook


def notebook_text(config: AssignmentConfig) -> str:
    """The exact file content the generator writes."""
    return nbformat.writes(build_notebook(config)) + "\n"


def source_notebook_path(config: AssignmentConfig, assignments_dir: Path | None = None) -> Path:
    """``<source_directory>/<id>/<notebook>`` beside course.yaml (nbgrader's source folder)."""
    folder = assignments_dir or config.root / config.course.course.source_directory
    return folder / config.id / config.notebook


def _comparable(notebook: NotebookNode) -> list[tuple[str, str, str, dict]]:
    """What must match: cell ids, types, sources and metadata; outputs may differ."""
    return [
        (cell.get("id", ""), cell.cell_type, cell.source, dict(cell.metadata))
        for cell in notebook.cells
    ]


def drift(config: AssignmentConfig, path: Path) -> str | None:
    """Why ``path`` differs from what the generator makes now, or None if it does not."""
    if not path.is_file():
        return f"{path} does not exist; create it with `{REGENERATE}`"
    committed = nbformat.read(path, as_version=4)
    expected = build_notebook(config)
    have, want = _comparable(committed), _comparable(expected)
    if have == want:
        return None
    for index, (old, new) in enumerate(zip(have, want, strict=False)):
        if old != new:
            what = "source" if old[2] != new[2] else "id, type or metadata"
            return (
                f"{path}: cell {index} ({new[0]}) differs from the generator ({what}); "
                f"reference/ or course.yaml changed: run `{REGENERATE}` and commit the result"
            )
    return (
        f"{path}: has {len(have)} cells, the generator makes {len(want)}; "
        f"run `{REGENERATE}` and commit the result"
    )


def write_notebook(config: AssignmentConfig, path: Path) -> Path:
    """Write the generated source notebook to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(notebook_text(config), encoding="utf-8")
    return path
