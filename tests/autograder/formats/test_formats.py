"""Every report format renders the same GradeReport faithfully, as its consumer reads it."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import junitparser
import pytest
import xmlschema

from autograder.formats import github, gradescope, junit, table
from autograder.formats import json as json_format
from autograder.reports import GradeReport
from mnist_course.config import parse_config
from mnist_course.results import CheckResult

HERE = Path(__file__).parent
GRADESCOPE_SCHEMA = json.loads((HERE / "gradescope_results.schema.json").read_text())
JUNIT_SCHEMA = xmlschema.XMLSchema(HERE / "junit.xsd")


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
                "unchanged <b>",
                "Pixels were not divided by 255",
                hint_category="not_divided_by_255",
            ),
            CheckResult(
                "cnn.accuracy",
                "CNN accuracy",
                False,
                0.0,
                2.0,
                "97.00%",
                "train more",
                "hidden",
                "below_bar",
            ),
        ),  # fmt: skip
        ("cell 3: NameError: x",),
        assignment="mnist_digits",
    )


@pytest.fixture
def errored() -> GradeReport:
    return GradeReport("submission.ipynb", (), error="the sandbox could not start")


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


def test_the_json_report_says_whether_grading_failed(report, errored):
    assert json.loads(json_format.render(report))["error"] is None
    assert json.loads(json_format.render(errored))["error"] == "the sandbox could not start"


def _junit(report: GradeReport, **options) -> str:
    text = junit.render(report, config=parse_config({}), **options)
    JUNIT_SCHEMA.validate(text.encode("utf-8"))
    return text


def test_junit_validates_and_junitparser_reads_names_points_and_times(report, tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text(_junit(report, seconds=12.5), encoding="utf-8")
    suites = junitparser.JUnitXml.fromfile(str(path))
    (suite,) = list(suites)
    cases = list(suite)
    assert [(case.classname, case.name) for case in cases] == [
        ("mnist_digits", "data.load"),
        ("mnist_digits", "data.normalize"),
        ("mnist_digits", "cnn.accuracy"),
    ]
    assert (suite.tests, suite.failures, suite.errors, suite.time) == (3, 2, 0, 12.5)
    assert cases[0].is_passed and isinstance(cases[1].result[0], junitparser.Failure)
    assert "not divided" in cases[1].result[0].text
    assert "points: 0 / 2" in cases[2].system_out
    assert {p.name: p.value for p in suite.properties()} == {"score": "1", "max_score": "4"}
    assert all(case.time == 0 for case in cases)


def test_junit_per_testcase_properties_break_the_schema(report):
    """The XSD is strict enough to catch what the old writer did."""
    text = _junit(report).replace(
        "<system-out>Data loaded", '<properties><property name="a" value="1"/></properties>'
        "<system-out>Data loaded",
    )  # fmt: skip
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        JUNIT_SCHEMA.validate(text.encode("utf-8"))


def test_junit_grading_errors_are_errors_not_failures(report, errored, tmp_path):
    path = tmp_path / "error.xml"
    path.write_text(_junit(errored), encoding="utf-8")
    (suite,) = list(junitparser.JUnitXml.fromfile(str(path)))
    (case,) = list(suite)
    assert (suite.errors, suite.failures) == (1, 0)
    assert isinstance(case.result[0], junitparser.Error)
    assert "sandbox could not start" in case.result[0].message

    broken = CheckResult(
        "data.load", "Data loaded", False, 0.0, 1.0, "judge died", hint_category="grader_failed"
    )
    path.write_text(_junit(GradeReport("s.ipynb", (broken,))), encoding="utf-8")
    (suite,) = list(junitparser.JUnitXml.fromfile(str(path)))
    assert (suite.errors, suite.failures) == (1, 0)


def test_junit_drops_characters_xml_cannot_carry():
    forged = CheckResult("data.load", "Data\x00 loaded", False, 0.0, 1.0, "bad \x0b\ufffe byte")
    text = _junit(GradeReport("s.ipynb", (forged,)), timestamp=datetime(2024, 1, 2, tzinfo=UTC))
    assert "bad  byte" in text and 'timestamp="2024-01-02T00:00:00"' in text


def test_gradescope_results_follow_the_spec(report):
    data = gradescope.to_dict(report, execution_time=41.6)
    jsonschema.validate(data, GRADESCOPE_SCHEMA)
    assert (data["score"], data["max_score"], data["execution_time"]) == (1, 4, 42)
    assert data["output_format"] == data["test_output_format"] == "md"
    assert data["stdout_visibility"] == "hidden"
    first, normalize, accuracy = data["tests"]
    assert [t["number"] for t in data["tests"]] == ["1", "2", "3"]
    assert set(first) == set(GRADESCOPE_SCHEMA["properties"]["tests"]["items"]["properties"])
    assert normalize["name"] == "normalize()" and normalize["status"] == "failed"
    assert normalize["tags"] == ["not_divided_by_255", "data"]
    assert normalize["output"] == "unchanged &lt;b&gt;\n\n**Hint:** Pixels were not divided by 255"
    assert [t["visibility"] for t in data["tests"]] == ["visible", "visible", "after_published"]


def test_gradescope_visibility_mapping_by_id_or_kind(report):
    visibility = {"data.normalize": "after_due_date", "accuracy": "visible"}
    data = gradescope.to_dict(report, visibility=visibility)
    assert [t["visibility"] for t in data["tests"]] == ["visible", "after_due_date", "visible"]
    with pytest.raises(ValueError, match="not one of"):
        gradescope.to_dict(report, visibility={"load": "students"})


def test_gradescope_error_result_has_no_score(errored):
    for data in (gradescope.to_dict(errored), json.loads(gradescope.render_error("no MNIST"))):
        jsonschema.validate(data, GRADESCOPE_SCHEMA)
        assert "score" not in data and data["tests"] == []
        assert "not your score" in data["output"] and data["extra_data"]["error"]


def test_gradescope_schema_rejects_unknown_keys_and_values(report):
    data = gradescope.to_dict(report)
    data["tests"][0]["visibility"] = "students"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, GRADESCOPE_SCHEMA)


def _decode(line: str) -> dict:
    """What autograding-grading-reporter does with a runner's result: base64 -> JSON."""
    assert line.startswith("result=") and line.endswith("\n") and line.count("\n") == 1
    return json.loads(base64.b64decode(line.strip().removeprefix("result=")))


def test_github_classroom_result_is_base64_json(report):
    data = _decode(github.render(report))
    assert data["version"] == 1 and data["status"] == "fail" and data["max_score"] == 4
    assert [t["status"] for t in data["tests"]] == ["pass", "fail", "fail"]
    assert sum(t["score"] for t in data["tests"]) == 1


def test_github_classroom_status_error_when_grading_failed(errored):
    for data in (_decode(github.render(errored)), _decode(github.render_error("x", max_score=15))):
        assert data["status"] == "error" and sum(t["score"] for t in data["tests"]) == 0
        assert [t["status"] for t in data["tests"]] == ["error"]
    broken = CheckResult("data.load", "Data loaded", False, 0.0, 1.0, "x", "y", "visible",
                         "grader_failed")  # fmt: skip
    assert _decode(github.render(GradeReport("s", (broken,))))["status"] == "error"


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


def test_every_format_says_how_partial_points_were_computed(partly_scored):
    report, explanation = partly_scored
    assert explanation.startswith("1.9 / 2 points on a linear scale: 90.00% is 95.2%")
    text = table.render(report)
    assert "baseline.accuracy  1.9/2   part" in text
    assert "- baseline.accuracy: " in text and explanation in text
    (test,) = gradescope.to_dict(report)["tests"]
    assert test["score"] == 1.9 and explanation in test["output"]
    (test,) = _decode(github.render(report))["tests"]
    assert test["score"] == 1.9 and explanation in test["message"]
    assert explanation in _junit(report)
