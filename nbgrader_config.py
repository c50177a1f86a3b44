"""nbgrader settings for this course, all read from course.yaml (the one source of truth).

nbgrader loads this file from the course directory it runs in. The course id,
where the source notebooks live and the time a notebook cell may run come from
course.yaml ($COURSE_CONFIG, else the course.yaml beside this file, else the
nearest one above it).
"""

import atexit
import shutil
import sys
import tempfile
from pathlib import Path

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import GetGrades

from authoring import feedback
from mnist_course.config import ConfigError, find_config_file, load_config
from mnist_course.results import check_specs, grade_id_of

HERE = Path(__file__).resolve().parent
try:
    course = load_config(find_config_file(HERE))
except ConfigError as error:
    # traitlets would log a traceback and go on with nbgrader's defaults (wrong course
    # id and folders); stop instead, with the message that says what to fix.
    print(f"nbgrader_config.py: {error}", file=sys.stderr)
    raise SystemExit(2) from None

c = get_config()  # noqa: F821 (nbgrader provides it)

c.CourseDirectory.root = str(HERE)
c.CourseDirectory.course_id = course.course.id
c.CourseDirectory.source_directory = course.course.source_directory

# Autograding runs each notebook in the kernel students use, cell by cell.
c.Execute.timeout = course.grading.cell_timeout_s
c.Execute.kernel_name = "python3"

# What a student sees in place of a solution.
c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE\n"
    'raise NotImplementedError("Replace this line with your code (instructions above).")'
}

# Feedback shows grades and messages, never hidden test code, and names each test cell by
# the title of its check (a copy of nbgrader's template that shows it, made per run).
c.GenerateFeedback.preprocessors = [
    GetGrades,
    feedback.RedactHiddenTests,
    feedback.NameTestCells,
    CSSHTMLHeaderPreprocessor,
]
c.NameTestCells.titles = {
    grade_id_of(spec.id): spec.title
    for assignment in course.assignments
    for spec in check_specs(course.assignment(assignment))
}
_templates = Path(tempfile.mkdtemp(prefix="autograder-feedback-template-"))
atexit.register(shutil.rmtree, _templates, True)
c.HTMLExporter.template_name = feedback.TEMPLATE_NAME
c.HTMLExporter.extra_template_basedirs = [str(feedback.feedback_template(_templates))]
