"""JUnit XML: one testcase per check, as strict JUnit consumers (Jenkins, GitLab) read it.

The layout follows the common JUnit schema (Jenkins' junit-10.xsd): a ``<testsuites>``
root, one ``<testsuite>`` whose properties hold the score, testcases with only
``<failure>``, ``<error>`` and ``<system-out>`` children (the points go in system-out).
classname is the assignment and name the check id, so dashboards show
``mnist_digits.data.load``. A grading error, of the whole submission or of one check
(hint category ``grader_failed``), is an ``<error>``, never a student's ``<failure>``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from datetime import UTC, datetime

from autograder.checks.hints import GRADER_FAILED
from autograder.reports import GradeReport
from mnist_course.config import CourseConfig
from mnist_course.results import CheckResult

#: Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: str) -> str:
    return _NOT_XML.sub("", value)


def _seconds(value: float) -> str:
    return f"{max(0.0, value):.3f}"


def _is_error(result: CheckResult) -> bool:
    return result.hint_category == GRADER_FAILED


def _case(parent: ElementTree.Element, classname: str, name: str) -> ElementTree.Element:
    return ElementTree.SubElement(
        parent, "testcase", classname=classname, name=_text(name), time=_seconds(0)
    )


def render(
    report: GradeReport,
    *,
    config: CourseConfig | None = None,
    seconds: float | None = None,
    timestamp: datetime | None = None,
) -> str:
    """The XML document; ``seconds`` is the grading time (default: the report's own
    ``seconds``, else 0). Checks have no time of their own, so testcases say 0."""
    classname = report.assignment or "autograder"
    suite_name = config.course.id if config else "autograder"
    if seconds is None:
        seconds = float(report.seconds or 0.0)
    error = report.error or None
    results = () if error is not None else report.results
    errors = sum(_is_error(result) for result in results) + (error is not None)
    failures = sum(not result.passed and not _is_error(result) for result in results)
    root = ElementTree.Element(
        "testsuites",
        name=suite_name,
        tests=str(len(results) or 1),
        failures=str(failures),
        errors=str(errors),
        time=_seconds(seconds),
    )
    suite = ElementTree.SubElement(
        root,
        "testsuite",
        name=_text(f"{suite_name}: {report.submission}"),
        tests=str(len(results) or 1),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
        time=_seconds(seconds),
        timestamp=(timestamp or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S"),
    )
    properties = ElementTree.SubElement(suite, "properties")
    for key, value in (("score", report.score), ("max_score", report.max_score)):
        shown = "" if error is not None else f"{value:g}"
        ElementTree.SubElement(properties, "property", name=key, value=shown)
    if error is not None:
        case = _case(suite, classname, "grading")
        element = ElementTree.SubElement(case, "error", message=_text(error[:500]))
        element.set("type", "GradingError")
        element.text = _text(error)
    for result in results:
        case = _case(suite, classname, result.id)
        if not result.passed:
            kind = "error" if _is_error(result) else "failure"
            element = ElementTree.SubElement(case, kind, message=_text(result.message))
            element.set("type", result.hint_category or "check")
            element.text = _text(result.explain())
        out = ElementTree.SubElement(case, "system-out")
        out.text = _text(
            f"{result.title}\npoints: {result.points:g} / {result.max_points:g}\n"
            f"visibility: {result.visibility}\n"
        )
    for note in report.notes:
        ElementTree.SubElement(suite, "system-out").text = _text(note)
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
