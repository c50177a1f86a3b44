"""Partial credit: the points function at its edges, and grading.partial_credit from
course.yaml (valid and invalid, and across the process boundaries the config crosses)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mnist_course import credit
from mnist_course.config import (
    ConfigError,
    CourseConfig,
    PartialCredit,
    course_yaml_text,
    load_config,
    parse_config,
)

LINEAR = PartialCredit(scale="linear")
STEPS = PartialCredit(scale="steps", steps=((0.9, 0.25), (0.91, 0.5)))


def points(accuracy: float, rule: PartialCredit | None, **kwargs: float) -> float:
    settings = {"bar": 0.92, "floor": 0.5, "max_points": 2.0, **kwargs}
    return credit.accuracy_credit(accuracy, rule=rule, **settings).points


@pytest.mark.parametrize("rule", [None, LINEAR, STEPS])
def test_at_or_above_the_bar_gives_all_points(rule):
    assert points(0.92, rule) == points(0.999, rule) == 2.0
    scored = credit.accuracy_credit(0.92, bar=0.92, floor=0.5, max_points=2.0, rule=rule)
    assert scored.explanation == "2 / 2 points: 92.00% reaches the bar." and not scored.partial


@pytest.mark.parametrize("rule", [LINEAR, STEPS])
def test_at_or_below_the_floor_gives_none(rule):
    assert points(0.5, rule) == points(0.3, rule) == 0.0
    scored = credit.accuracy_credit(0.5, bar=0.92, floor=0.5, max_points=2.0, rule=rule)
    assert "at or below the floor of 50.00%" in scored.explanation


def test_without_a_rule_below_the_bar_is_nothing():
    scored = credit.accuracy_credit(0.9199, bar=0.92, floor=0.5, max_points=2.0, rule=None)
    assert scored.points == 0.0 and "all or nothing" in scored.explanation


def test_linear_scale_is_the_share_of_the_way_from_floor_to_bar():
    assert points(0.71, LINEAR) == 1.0  # halfway from 50% to 92%
    scored = credit.accuracy_credit(0.915, bar=0.92, floor=0.5, max_points=2.0, rule=LINEAR)
    assert scored.points == 1.97 and scored.partial  # 1.976..., rounded down
    assert scored.explanation == (
        "1.97 / 2 points on a linear scale: 91.50% is 98.8% of the way from the floor of "
        "50.00% to the bar of 92.00%."
    )


def test_just_below_the_bar_is_never_all_points():
    scored = credit.accuracy_credit(0.91999, bar=0.92, floor=0.5, max_points=2.0, rule=LINEAR)
    assert scored.points == 1.99 and "99.9% of the way" in scored.explanation
    assert points(0.999999, LINEAR, bar=1.0, max_points=0.01) == 0.0


def test_rounding_down_survives_float_error():
    # 0.29 / 2 of the way gives 0.29 points, which float arithmetic makes 0.28999...
    assert points(0.5 + 0.145 * 0.42, LINEAR) == 0.29


@pytest.mark.parametrize(
    ("accuracy", "expected", "says"),
    [
        (0.8999, 0.0, "is below the first step"),
        (0.9, 0.5, "reaches the step at 90.00%"),
        (0.9099, 0.5, "reaches the step at 90.00%"),
        (0.91, 1.0, "reaches the step at 91.00%"),
        (0.9199, 1.0, "reaches the step at 91.00%"),
        (0.92, 2.0, "reaches the bar"),
    ],
)
def test_steps_edges(accuracy, expected, says):
    scored = credit.accuracy_credit(accuracy, bar=0.92, floor=0.5, max_points=2.0, rule=STEPS)
    assert scored.points == expected and says in scored.explanation
    if expected not in (0.0, 2.0):
        assert "from 90.00%: 25%, from 91.00%: 50% of the points" in scored.explanation


def test_a_rules_own_floor_wins_over_the_trained_floor():
    rule = PartialCredit(scale="linear", floor=0.8)
    assert points(0.8, rule) == 0.0 and points(0.86, rule) == 1.0


def test_a_floor_not_below_the_bar_gives_nothing_below_the_bar():
    assert points(0.9, LINEAR, floor=0.95) == 0.0


def _course(tmp_path: Path, partial_credit: object, **grading: object) -> Path:
    path = tmp_path / "course.yaml"
    document = {"grading": {"partial_credit": partial_credit, **grading}}
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_rules_are_read_from_course_yaml_by_id_then_kind(tmp_path):
    path = _course(
        tmp_path,
        {
            "accuracy": {"scale": "linear"},
            "cnn.accuracy": {"scale": "steps", "steps": [[0.95, 0.5]], "floor": 0.9},
            "perturbed": {},
        },
    )
    course = load_config(path)
    digits, extensions = course.assignment("mnist_digits"), course.assignment("mnist_extensions")
    assert credit.rule_for(digits, "baseline.accuracy") == LINEAR
    assert credit.rule_for(digits, "cnn.accuracy") == PartialCredit(
        scale="steps", steps=((0.95, 0.5),), floor=0.9
    )
    assert credit.rule_for(extensions, "augmented_cnn.perturbed") == LINEAR  # the default scale
    assert credit.rule_for(digits, "cnn.trained") is None  # not measured against a bar
    plain = load_config(_course(tmp_path, {})).assignment("mnist_digits")
    assert credit.rule_for(plain, "cnn.accuracy") is None


def test_default_is_all_or_nothing_everywhere():
    course = parse_config({})
    for assignment_id in course.assignments:
        config = course.assignment(assignment_id)
        assert all(credit.rule_for(config, check.id) is None for check in config.spec.checks)


def test_rules_survive_the_copies_the_sandbox_and_the_judge_read(tmp_path):
    rules = {"accuracy": {"scale": "steps", "steps": [[0.9, 0.25], [0.91, 0.5]]}}
    course = load_config(_course(tmp_path, rules))
    judged = CourseConfig.model_validate(course.model_dump(mode="json"))  # what the judge reads
    assert judged.grading == course.grading
    copy = tmp_path / "copy" / "course.yaml"
    copy.parent.mkdir()
    copy.write_text(course_yaml_text(course, header="copy"), encoding="utf-8")  # the sandbox
    assert load_config(copy).grading.partial_credit == course.grading.partial_credit


@pytest.mark.parametrize(
    ("rules", "key", "expected"),
    [
        ({"acuracy": {}}, "grading.partial_credit", "'acuracy' is not a check measured"),
        ({"cnn.trained": {}}, "grading.partial_credit", "name a kind (accuracy, perturbed)"),
        ({"accuracy": {"scale": "quadratic"}}, "grading.partial_credit.accuracy.scale", "'steps'"),
        ({"accuracy": {"scale": "steps"}}, "grading.partial_credit.accuracy", "needs steps"),
        ({"accuracy": {"steps": [[0.9, 0.5]]}}, "grading.partial_credit.accuracy", "only read"),
        (
            {"accuracy": {"scale": "steps", "steps": [[0.91, 0.5], [0.9, 0.6]]}},
            "grading.partial_credit.accuracy",
            "accuracies must increase",
        ),
        (
            {"accuracy": {"scale": "steps", "steps": [[0.9, 0.5], [0.91, 0.5]]}},
            "grading.partial_credit.accuracy",
            "shares must increase",
        ),
        (
            {"accuracy": {"scale": "steps", "steps": [[0.9, 1.0]]}},
            "grading.partial_credit.accuracy.steps.0.1",
            "less than 1",
        ),
        (
            {"accuracy": {"scale": "steps", "steps": [[1.2, 0.5]]}},
            "grading.partial_credit.accuracy.steps.0.0",
            "less than or equal to 1",
        ),
        (
            {"accuracy": {"scale": "steps", "steps": [[0.5, 0.5]]}},
            "grading.partial_credit",
            "the step at 0.5 is not above the floor 0.5",
        ),
        (
            {"accuracy": {"scale": "steps", "steps": [[0.85, 0.5]], "floor": 0.9}},
            "grading.partial_credit",
            "the step at 0.85 is not above the floor 0.9",
        ),
        ({"accuracy": {"scale": "linear", "bar": 0.9}}, "grading.partial_credit.accuracy.bar", ""),
        ({"accuracy": "linear"}, "grading.partial_credit.accuracy", "valid dictionary"),
    ],
)
def test_bad_rules_name_the_file_and_the_key(tmp_path, rules, key, expected):
    path = _course(tmp_path, rules)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    text = str(error.value)
    assert str(path) in text and f"key '{key}" in text and expected in text


def test_the_trained_floor_from_course_yaml_is_the_floor_steps_must_clear(tmp_path):
    rules = {"accuracy": {"scale": "steps", "steps": [[0.6, 0.5]]}}
    assert load_config(_course(tmp_path, rules)).grading.partial_credit  # above 0.5
    with pytest.raises(ConfigError, match="not above the floor 0.7"):
        load_config(_course(tmp_path, rules, trained_min_accuracy=0.7))
