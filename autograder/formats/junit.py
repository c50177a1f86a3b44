"""JUnit XML: one testcase per check, points as properties (CI dashboards read it)."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from autograder.grader import GradeReport


def render(report: GradeReport) -> str:
    failures = sum(not result.passed for result in report.results)
    suite = ElementTree.Element(
        "testsuite",
        name="autograder",
        tests=str(len(report.results)),
        failures=str(failures),
        errors="0",
    )
    properties = ElementTree.SubElement(suite, "properties")
    for key, value in (("score", report.score), ("max_score", report.max_score)):
        ElementTree.SubElement(properties, "property", name=key, value=f"{value:g}")
    for result in report.results:
        case = ElementTree.SubElement(
            suite, "testcase", classname=result.id.split(".")[0], name=result.id
        )
        props = ElementTree.SubElement(case, "properties")
        for key, value in (
            ("points", f"{result.points:g}"),
            ("max_points", f"{result.max_points:g}"),
            ("visibility", result.visibility),
        ):
            ElementTree.SubElement(props, "property", name=key, value=value)
        if not result.passed:
            failure = ElementTree.SubElement(case, "failure", message=result.message)
            failure.text = result.explain()
    ElementTree.indent(suite)
    return ElementTree.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
