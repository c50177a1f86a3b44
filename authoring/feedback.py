"""Keep hidden tests out of the feedback students receive, and name its test cells.

``nbgrader autograde`` restores hidden tests into the graded notebook, and
``nbgrader generate_feedback`` renders that notebook as it is: the hidden test
code, and the traceback of a failing hidden test (which quotes that code), would
reach the student. This preprocessor runs before the HTML export: it removes
the hidden-test region of each cell and keeps, of that cell's error, only what
says what was missed: the ✗ box of a failed check (the checks write it for
students, and it quotes no code), else the error's message.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from nbconvert.exporters.exporter import ResourcesDict
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests
from traitlets import Bool, Dict

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


class NameTestCells(Preprocessor):
    """Give each test cell the title of the check it runs, so the feedback page lists
    "normalize() scales pixels to [0, 1]" where nbgrader's own template says "Test cell"
    (see :func:`feedback_template`)."""

    #: grade_id -> check title (nbgrader_config.py fills it from course.yaml).
    titles = Dict(default_value={}).tag(config=True)
    enabled = Bool(True).tag(config=True)  # nbconvert's preprocessors start disabled

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, cell_index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        grade_id = (cell.metadata.get("nbgrader") or {}).get("grade_id")
        if grade_id in self.titles:
            cell.metadata.setdefault(TITLE_KEY, {})["check_title"] = self.titles[grade_id]
        return cell, resources


TITLE_KEY = "autograder"
_TITLE = "{{ (cell.metadata.get('autograder') or {}).get('check_title') or %s | e }}"
#: The lines of nbgrader's feedback template that name a test cell, and what they become.
TEMPLATE_CHANGES = (
    ('">Test cell</a>', '">' + _TITLE % "'Test cell'" + "</a>"),
    (
        "Grade cell: <code>{{ cell.metadata.nbgrader.grade_id }}</code>",
        _TITLE % "('Grade cell: ' ~ cell.metadata.nbgrader.grade_id)",
    ),
)
TEMPLATE_NAME = "autograder_feedback"


def feedback_template(folder: Path) -> Path:
    """Write nbgrader's feedback template, with its test cells named by check title, as
    the template ``TEMPLATE_NAME`` under ``folder``; returns ``folder``. A line nbgrader
    no longer has is left as nbgrader writes it (the feedback then says "Test cell")."""
    import nbgrader

    source = Path(nbgrader.__file__).parent / "server_extensions/formgrader/templates/feedback"
    text = (source / "index.html.j2").read_text(encoding="utf-8")
    for old, new in TEMPLATE_CHANGES:
        text = text.replace(old, new)
    target = folder / TEMPLATE_NAME
    target.mkdir(parents=True, exist_ok=True)
    (target / "index.html.j2").write_text(text, encoding="utf-8")
    shutil.copyfile(source / "conf.json", target / "conf.json")
    return folder
