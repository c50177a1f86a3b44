"""What the notebook's test cells call, inside the student's own kernel.

Each test cell runs ``check("<check id>")``: the same check the trusted grader runs,
on the names the notebook defined. A pass shows a ✓ box; a failure raises
:class:`CheckFailed`, which IPython renders as a ✗ box with the message and the hint
(no traceback through this module), and which nbgrader records as the cell's error,
so it deducts that cell's points. A check with partial credit (course.yaml's
``grading.partial_credit``) runs as ``check("<check id>", partial=True).points``: a
partly-scored result shows a ◐ box instead of raising, and the cell's value, the points,
is what nbgrader records (an autograded cell whose output is a number scores that).
A name that is not defined yet (its cell still raises NotImplementedError, or has not
run) is "not written yet", never a NameError.
This is feedback, not the grade of record: ``autograder grade`` re-checks everything
in a separate process.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import os
import re
import sys
import textwrap
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from autograder import families
from autograder.checks import models
from autograder.checks.hints import advise
from autograder.families.base import NotebookContext
from mnist_course.config import AssignmentConfig, CourseConfig, load_config
from mnist_course.results import CheckResult, spec_for

if TYPE_CHECKING:
    import keras

#: Width the result boxes wrap their text to, so no hint runs off the page.
BOX_WIDTH = 88
_COLOURS = {"pass": "\x1b[1;32m", "partial": "\x1b[1;33m", "fail": "\x1b[1;31m"}
_MARKS = {"pass": "✓", "partial": "◐", "fail": "✗"}
#: Border and background of each verdict's HTML box.
_BOX_STYLES = {"pass": ("#2a7", "#eefaf2"), "partial": ("#c80", "#fff8e6")}
_RESET = "\x1b[0m"
#: What TensorFlow's C++ start-up lines look like (CUDA probing, oneDNN and CPU notices,
#: absl's header and its I/W/E0000 prefixes): what start_tensorflow() keeps out of outputs.
TENSORFLOW_START_UP = re.compile(
    r"cuInit|oneDNN|cpu_feature_guard|cudart_stub|absl::InitializeLog|^[IWE]\d{4} ", re.M
)
#: Export kinds that are functions the student writes: a missing one is "not written yet".
FUNCTION_KINDS = ("function", "builder", "built")
#: The assignment this notebook is (set by start_notebook; None: found from the check id).
_assignment: dict[str, str | None] = {"id": None}


@functools.cache
def _course() -> CourseConfig:
    return load_config()


def _config() -> AssignmentConfig:
    """This notebook's assignment, with the course's settings."""
    return _course().assignment(_assignment["id"])


def _find_assignment(check_id: str) -> None:
    """A notebook that did not say its assignment: the course's one that has ``check_id``."""
    if _assignment["id"] is not None or len(_course().assignments) == 1:
        return
    for assignment_id in _course().assignments:
        if any(check.id == check_id for check in _course().assignment(assignment_id).spec.checks):
            _assignment["id"] = assignment_id
            return


def _context() -> NotebookContext:
    """This kernel's context for the families' notebook judges: the assignment's settings
    and the kit's copy of MNIST, loaded once per course file and assignment."""
    course, assignment = _course(), _assignment["id"]
    kept = _contexts.get(assignment)
    if kept is None or kept[0] is not course:  # course.yaml was read again
        kept = _contexts[assignment] = (course, NotebookContext(course.assignment(assignment)))
    return kept[1]


_contexts: dict[str | None, tuple[CourseConfig, NotebookContext]] = {}


def start_notebook(assignment: str | None = None) -> None:
    """What the notebook's first cell runs: which assignment it is (whose checks its test
    cells run), TensorFlow without its start-up noise, and "not written yet" instead of a
    traceback where a cell uses a name that is missing."""
    _assignment["id"] = assignment
    _explain_missing_names()
    start_tensorflow()


def _not_written_lines(error: BaseException) -> list[str]:
    """The "not written yet" box of a stub's error or of a name an unfinished cell lacks."""
    if isinstance(error, NotImplementedError):
        message = (
            "Not written yet: replace the `raise NotImplementedError(...)` line of this cell "
            "with your code, then run it again."
        )
    else:
        message = (
            f"Not written yet: {error.name} is not defined. The cell above that defines it has "
            "not run or failed (a `raise NotImplementedError` line still in it, for example): "
            "write it, then run the cells in order (Kernel > Restart & Run All). If this cell "
            "is meant to define it, check the spelling."
        )
    wrapped = textwrap.wrap(message, BOX_WIDTH, subsequent_indent="  ")
    return [f"{_COLOURS['fail']}✗ {wrapped[0]}{_RESET}", *wrapped[1:]]


def _explain_missing_names() -> None:
    """In IPython, a stub's NotImplementedError, or a NameError, raised by a cell's own line
    (not inside a function, where the traceback helps) shows as a "not written yet" box: in
    this notebook a missing name almost always means an earlier cell is unfinished. It stays
    an error, so the cell still fails and nbgrader still counts it."""
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: nothing to render
        return
    shell = get_ipython()
    if shell is None:
        return

    def render(shell, etype, value, tb, tb_offset=None) -> list[str]:  # noqa: ANN001 - IPython's
        innermost = tb
        while innermost is not None and innermost.tb_next is not None:
            innermost = innermost.tb_next
        code = innermost.tb_frame.f_code if innermost is not None else None
        in_cell = (
            code is not None
            and code.co_name == "<module>"
            and ("ipykernel_" in code.co_filename or code.co_filename.startswith("<ipython-input"))
        )
        if in_cell and (isinstance(value, NotImplementedError) or getattr(value, "name", None)):
            stb = _not_written_lines(value)
        else:
            stb = shell.InteractiveTB.structured_traceback(etype, value, tb, tb_offset)
        shell._showtraceback(etype, value, stb)
        return stb

    shell.set_custom_exc((NameError, NotImplementedError), render)


def start_tensorflow() -> None:
    """Start TensorFlow without its C++ start-up lines in the notebook.

    It logs them (CUDA probing, with an "E... failed call to cuInit" line that reads as a
    failure; oneDNN and CPU-instruction notices) straight to the process's stderr, before
    ``TF_CPP_MIN_LOG_LEVEL`` applies, and ipykernel forwards that descriptor into the cell
    output. So the descriptor points at /dev/null while TensorFlow loads and runs its first
    operation (when it probes the devices); later C++ messages are cut to fatal ones.
    """
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if "tensorflow" in sys.modules:
        return  # already started: its start-up lines are out already
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow

            tensorflow.zeros(1)
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _verdict(result: CheckResult) -> str:
    return "pass" if result.passed else "partial" if result.partial else "fail"


def box_lines(result: CheckResult, *, colour: bool = False) -> list[str]:
    """A result as a student reads it: verdict, title and points, the message, the hint."""
    verdict = _verdict(result)
    head = f"{_MARKS[verdict]} {result.title} ({result.points:g}/{result.max_points:g})"
    lines = [f"{_COLOURS[verdict]}{head}{_RESET}" if colour else head]
    lines += textwrap.wrap(result.message, BOX_WIDTH, initial_indent="  ", subsequent_indent="  ")
    if result.hint:
        lines += textwrap.wrap(
            result.hint, BOX_WIDTH, initial_indent="  Hint: ", subsequent_indent="        "
        )
    return lines


class CheckFailed(AssertionError):
    """A self-check did not pass: its text is the message and the hint.

    IPython asks an exception how to render itself (``_render_traceback_``), so the
    cell shows the ✗ box instead of a traceback through the kit; nbgrader still sees
    an error and deducts the cell's points.
    """

    def __init__(self, result: CheckResult) -> None:
        super().__init__(result.explain())
        self.result = result

    def _render_traceback_(self) -> list[str]:
        return box_lines(self.result, colour=True)


@dataclasses.dataclass(frozen=True, repr=False)
class ResultBox:
    """The ✓ box of a passed check, or the ◐ box of a partly-scored one: HTML in Jupyter,
    plain text elsewhere (IPython's text/plain is the repr, so the repr is the box too)."""

    result: CheckResult

    def __str__(self) -> str:
        return "\n".join(box_lines(self.result))

    __repr__ = __str__

    def _repr_html_(self) -> str:
        head, *rest = box_lines(self.result)
        body = "".join(f"<div>{html.escape(line.strip())}</div>" for line in rest)
        verdict = _verdict(self.result)
        border, background = _BOX_STYLES[verdict]
        return (
            f'<div class="autograder-check autograder-{verdict}" style="border:1px solid '
            f"{border};border-left:6px solid {border};background:{background};"
            'padding:4px 10px;margin:2px 0">'
            f"<b>{html.escape(head)}</b>{body}</div>"
        )


def _report(result: CheckResult, *, partial: bool = False) -> CheckResult:
    """Show ``result``: a box, or CheckFailed for a failure. With ``partial`` (the cell
    records the points it returns) a partly-scored result is a box too; without, it
    raises, so a cell that does not return its points never gets all of them."""
    if not (result.passed or (partial and result.partial)):
        raise CheckFailed(result)
    from IPython.display import display  # outside IPython it prints the plain text

    display(ResultBox(result))
    return result


def arguments(check_id: str) -> tuple[str, ...]:
    """The notebook names check ``check_id`` reads, in the order its function takes them."""
    return _config().spec.check(check_id).reads


def _judge(check_id: str, values: list[object]) -> CheckResult:
    """The check's verdict on ``values`` (None where a name is missing), by its family."""
    check = _config().spec.check(check_id)
    return families.judge_of(check).notebook(_context(), check, values)


def _required(check_id: str) -> tuple[str, ...]:
    """The names without which ``check_id`` is "not written yet" (a model check also
    reads ``X_test, y_test``, but measures on the kit's own copy: those are optional)."""
    check = _config().spec.check(check_id)
    return check.reads[: families.judge_of(check).required]


def _not_written(result: CheckResult, missing: list[str]) -> CheckResult:
    """``result`` of a check that lacked ``missing``, said as work still to do."""
    names = " and ".join([", ".join(missing[:-1]), missing[-1]] if len(missing) > 1 else missing)
    verb = "is" if len(missing) == 1 else "are"
    message = (
        f"Not written yet: {names} {verb} not defined. Write the cells above this one and "
        "run them in order (their `raise NotImplementedError` lines must be gone)."
    )
    spec = _config().spec
    functions = [name for name in missing if spec.export(name).kind in FUNCTION_KINDS]
    hint = advise("not_written_yet", function=functions[0]) if functions else None
    return dataclasses.replace(
        result,
        message=message,
        hint=hint.text if hint else result.hint,
        hint_category=hint.category if hint else result.hint_category,
    )


def run_check(check_id: str, namespace: Mapping[str, object]) -> CheckResult:
    """The verdict of ``check_id`` on the names in ``namespace``, without reporting it."""
    _find_assignment(check_id)
    spec_for(check_id, _config())  # a ValueError naming the valid ids
    names = arguments(check_id)
    missing = [name for name in _required(check_id) if name not in namespace]
    result = _judge(check_id, [namespace.get(name) for name in names])
    return _not_written(result, missing) if missing and not result.passed else result


def check(
    check_id: str, namespace: Mapping[str, object] | None = None, *, partial: bool = False
) -> CheckResult:
    """Run one self-check on the notebook's names (the caller's globals by default).
    ``partial``: the cell ends with the result's ``.points`` (nbgrader's partial credit),
    so a partly-scored result is shown, not raised."""
    if namespace is None:
        namespace = sys._getframe(1).f_globals
    return _report(run_check(check_id, namespace), partial=partial)


def _checked(check_id: str, *values: object) -> CheckResult:
    """Report ``check_id``'s verdict on ``values``, the names it reads in their order."""
    _find_assignment(check_id)
    return _report(_judge(check_id, list(values)))


# What the test cells of earlier releases call, by name (today's call check("<id>")).


def check_data(X_train, y_train, X_test, y_test) -> CheckResult:  # noqa: N803 - contract names
    """The four arrays are MNIST exactly as load_mnist() returns it."""
    return _checked("data.load", X_train, y_train, X_test, y_test)


def check_normalize(normalize: Callable[[np.ndarray], object]) -> CheckResult:
    """normalize() on images the grader chooses returns them divided by 255."""
    return _checked("data.normalize", normalize)


def check_flatten(
    flatten: Callable[[np.ndarray], object],
    X_train_flattened: np.ndarray,  # noqa: N803 - contract names
    X_test_flattened: np.ndarray,  # noqa: N803
) -> CheckResult:
    """flatten() and the two flattened arrays have one 784-value row per image."""
    return _checked("data.flatten", flatten, X_train_flattened, X_test_flattened)


def check_model_structure(stage: str, model: keras.Model) -> CheckResult:
    """The model has the architecture ``stage`` asks for."""
    return _report(models.check_structure(stage, model, config=_config()))


def check_model_trained(stage: str, model: keras.Model, X_test, y_test) -> CheckResult:  # noqa: N803
    """The model classifies the test images far better than chance."""
    return _checked(f"{stage}.trained", model, X_test, y_test)


def check_accuracy(stage: str, model: keras.Model, X_test, y_test) -> CheckResult:  # noqa: N803
    """Test accuracy, computed from the raw test images the canonical way, reaches the bar."""
    return _checked(f"{stage}.accuracy", model, X_test, y_test)
