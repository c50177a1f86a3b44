"""Every report format renders the same GradeReport faithfully."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ElementTree

import pytest

from autograder.checks.result import CheckResult
from autograder.formats import github, gradescope, junit, table
from autograder.formats import json as json_format
from autograder.grader import GradeReport


@pytest.fixture
def report() -> GradeReport:
    return GradeReport(
        "submission.ipynb",
        (
            CheckResult("data.load", "Data loaded", True, 1.0, 1.0, "ok"),
            CheckResult(
                "data.normalize",
                "normalize()",
                False,
                0.0,
                1.0,
                "unchanged",
                "Pixels were not divided by 255",
            ),
            CheckResult(
                "cnn.accuracy", "CNN accuracy", False, 0.0, 2.0, "97.00%", "train more", "hidden"
            ),
        ),  # fmt: skip
        ("cell 3: NameError: x",),
    )


def test_table_lists_each_check_with_points_and_hint(report):
    text = table.render(report)
    assert "data.normalize" in text and "0/1" in text and "FAIL" in text
    assert "Pixels were not divided by 255" in text
    assert "score: 1 / 4" in text and "note: cell 3" in text


def test_table_can_hide_hidden_checks(report):
    text = table.render(report, show_hidden=False)
    assert "97.00%" not in text and "hidden" in text


def test_json_holds_every_field(report):
    data = json.loads(json_format.render(report))
    assert data["score"] == 1 and data["max_score"] == 4
    assert data["results"][1]["hint"] == "Pixels were not divided by 255"
    assert data["results"][2]["visibility"] == "hidden"


def test_junit_has_one_testcase_per_check(report):
    suite = ElementTree.fromstring(junit.render(report).split("?>", 1)[1])
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == ["data.load", "data.normalize", "cnn.accuracy"]
    assert suite.get("failures") == "2" and cases[0].find("failure") is None
    assert "not divided" in cases[1].find("failure").text
    points = {p.get("name"): p.get("value") for p in cases[2].iter("property")}
    assert points == {"points": "0", "max_points": "2", "visibility": "hidden"}


def test_gradescope_results_schema(report):
    data = json.loads(gradescope.render(report))
    assert data["score"] == 1 and data["max_score"] == 4
    assert set(data["tests"][0]) == {"name", "score", "max_score", "status", "output",
                                     "visibility"}  # fmt: skip
    assert [t["status"] for t in data["tests"]] == ["passed", "failed", "failed"]
    assert data["tests"][2]["visibility"] == "hidden"


def test_github_classroom_result_is_base64_json(report):
    line = github.render(report)
    assert line.startswith("result=")
    data = json.loads(base64.b64decode(line.strip().removeprefix("result=")))
    assert data["version"] == 1 and data["status"] == "fail" and data["max_score"] == 4
    assert [t["status"] for t in data["tests"]] == ["pass", "fail", "fail"]
    assert sum(t["score"] for t in data["tests"]) == 1


def test_student_text_cannot_forge_lines_or_ci_commands():
    forged = "oops\nscore: 15 / 15\n::notice title=x::y\r\n::set-output name=result::e30="
    report = GradeReport(
        "::error::sub\nmission.ipynb",
        (CheckResult("data.load", "Data loaded", False, 0.0, 1.0, forged, forged),),
        (forged, "\u2028::warning::x"),
    )
    lines = table.render(report).splitlines()
    assert [line for line in lines if line.startswith("score:")] == [
        "score: 0 / 1   (: :error::sub mission.ipynb)"
    ]
    assert not [line for line in lines if line.lstrip().startswith("::")]
    assert "note: oops score: 15 / 15 ::notice title=x::y ::set-output" in table.render(report)
    assert "note: : :warning::x" in lines
