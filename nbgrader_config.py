"""nbgrader settings for this course, all read from course.yaml (the one source of truth).

nbgrader loads this file from the course directory it runs in. The course id,
where the source notebooks live and the time a notebook cell may run come from
course.yaml ($COURSE_CONFIG, else the course.yaml beside this file, else the
nearest one above it).
"""

import sys
from pathlib import Path

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import GetGrades

from autograder.config import ConfigError, find_config_file, load_config
from reference.notebook.feedback import RedactHiddenTests

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

# Feedback shows grades and messages, never hidden test code.
c.GenerateFeedback.preprocessors = [GetGrades, RedactHiddenTests, CSSHTMLHeaderPreprocessor]
