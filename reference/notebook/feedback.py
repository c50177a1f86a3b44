"""Keep hidden tests out of the feedback students receive.

``nbgrader autograde`` restores hidden tests into the graded notebook, and
``nbgrader generate_feedback`` renders that notebook as it is: the hidden test
code, and the traceback of a failing hidden test (which quotes that code), would
reach the student. This preprocessor runs before the HTML export: it removes
the hidden-test region of each cell and shortens that cell's error output to
the error's message, which says what was missed (the checks write it for
students).
"""

from __future__ import annotations

from nbconvert.exporters.exporter import ResourcesDict
from nbformat import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests


class RedactHiddenTests(ClearHiddenTests):
    """Remove hidden tests from a graded notebook and keep only their verdicts."""

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, cell_index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        had_hidden = self.begin_test_delimeter in cell.source
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if had_hidden:
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources
