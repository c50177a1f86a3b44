"""Keep hidden tests out of the feedback students receive.

``nbgrader autograde`` restores hidden tests into the graded notebook, and
``nbgrader generate_feedback`` renders that notebook as it is: the hidden test
code, and the traceback of a failing hidden test (which quotes that code), would
reach the student. This preprocessor runs before the HTML export: it removes
the hidden-test region of each cell and keeps, of that cell's error, only what
says what was missed: the ✗ box of a failed check (the checks write it for
students, and it quotes no code), else the error's message.
"""

from __future__ import annotations

from nbconvert.exporters.exporter import ResourcesDict
from nbformat import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests

#: The exception class of a failed self-check (autograder.notebook.CheckFailed), by name:
#: importing it here would load TensorFlow's dependencies into every nbgrader command.
CHECK_FAILED = "CheckFailed"


class RedactHiddenTests(ClearHiddenTests):
    """Remove hidden tests from a graded notebook and keep only their verdicts."""

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, cell_index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        had_hidden = self.begin_test_delimeter in cell.source
        source = cell.source
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if had_hidden:
            hidden = [line.strip() for line in source.split("\n") if line.strip()]
            hidden = [line for line in hidden if line not in cell.source]
            for output in cell.get("outputs", []):
                if output.output_type == "error" and not self._is_clean_box(output, hidden):
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources

    @staticmethod
    def _is_clean_box(output: NotebookNode, hidden: list[str]) -> bool:
        """A failed check's own rendering, which quotes none of the hidden lines."""
        shown = "\n".join(output.get("traceback", []))
        return output.ename == CHECK_FAILED and not any(line in shown for line in hidden)
