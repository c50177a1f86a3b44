"""Assignment specs: every part of the kit loops over them, so a malformed one must fail
at import with a message naming the assignment and the part, and a new assignment must
need nothing but its own spec (and reference, lesson and course.yaml entry)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from autograder import families, harness
from autograder.checks import architectures
from autograder.families.base import Family, Judge
from mnist_course import spec
from mnist_course.assignments import all_specs
from mnist_course.config import ConfigError, parse_config
from mnist_course.results import check_specs, grade_id_of

STAGE = spec.StageSpec("mlp", "build_mlp", "mlp_model", "vectors", "hidden_dense",
                       {"title": "MLP", "min_test_accuracy": 0.9, "epochs": 1})  # fmt: skip


def tiny(**changes: object) -> spec.AssignmentSpec:
    """A throwaway one-model assignment, built from a spec alone."""
    fields = {
        "id": "tiny",
        "title": "Tiny",
        "notebook": "tiny.ipynb",
        "exports": (
            spec.Export("X_test", "loaded"),
            spec.Export("y_test", "loaded"),
            spec.Export("build_mlp", "builder"),
            spec.Export("mlp_model", "model"),
        ),
        "stages": (STAGE,),
        "checks": spec.stage_checks(STAGE),
    }
    return spec.AssignmentSpec(**{**fields, **changes})


def test_a_tiny_assignment_is_a_spec_and_its_checks_come_from_it():
    assignment = tiny()
    assert [check.id for check in assignment.checks] == [
        "mlp.structure",
        "mlp.trained",
        "mlp.accuracy",
    ]
    assert assignment.check("mlp.accuracy").visibility == "hidden"
    assert assignment.stage("mlp").input_shape == (784,)
    assert grade_id_of("mlp.accuracy") == "check-mlp-accuracy"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": "Tiny One"}, "lower-case"),
        ({"exports": (spec.Export("X_test", "loaded"),) * 2}, "declared twice"),
        ({"exports": (spec.Export("mlp_model", "model"),)}, "'build_mlp' is not a builder"),
        ({"checks": ()}, "no checks"),
        ({"checks": (spec.Check("mlp.accuracy", "t", 1, "stage.accuracy", ("m",)),)}, "stage="),
        (
            {"checks": (spec.Check("x.y", "t", 1, "data.load", ("nothing_here",)),)},
            "reads ['nothing_here'], which are not exports",
        ),
        ({"checks": (spec.Check("x.y", "t", 1, "no.such", ()),)}, "unknown judge"),
        ({"checks": spec.stage_checks(STAGE) * 2}, "repeat"),
    ],
)
def test_a_malformed_spec_fails_when_made_with_what_is_wrong(changes, message):
    with pytest.raises(spec.SpecError, match="assignment spec") as error:
        tiny(**changes)
    assert message in str(error.value)


def test_every_judge_the_spec_names_has_a_family_module_with_both_sides():
    named = set(spec.Judge.__args__)
    declared = {
        f"{name}.{kind}": judge
        for name, family in families.families().items()
        for kind, judge in family.judges.items()
    }
    assert set(declared) == named
    for judge_name, judge in declared.items():
        assert callable(judge.notebook), judge_name
        if judge.runs_in == "model_judge":  # its family says how the child judges it
            assert families.families()[judge_name.partition(".")[0]].model_work is not None
    assert set(architectures.ARCHITECTURES) == set(spec.Architecture.__args__)


def test_a_family_whose_keras_judges_have_no_model_work_is_refused():
    def notebook(context, check, values):
        return None

    with pytest.raises(ValueError, match="needs the family's model_work"):
        Family("odd", {"kind": Judge(notebook)})


def test_the_harness_names_no_notebook_variable():
    source = Path(harness.__file__).read_text(encoding="utf-8")
    kinds = set(spec.ExportKind.__args__)  # "tuner" is a kind as well as a name
    for assignment in all_specs().values():
        for export in assignment.exports:
            if export.name not in kinds:
                assert f'"{export.name}"' not in source, export.name


def test_course_yaml_is_validated_against_each_spec():
    config = parse_config({}).assignment("mnist_extensions")
    assert config.tuning.max_trials >= 2
    assert config.stages["augmented_cnn"].min_perturbed_accuracy is not None
    titles = {result.id: result.title for result in check_specs(config)}
    assert titles["lenet5.structure"] == "LeNet-5: architecture"
    with pytest.raises(ConfigError, match="assignments.mnist_digits.tuning"):
        parse_config({"assignments": {"mnist_digits": {"tuning": {"max_trials": 2}}}})
    with pytest.raises(ConfigError, match="say which one"):
        parse_config({}).assignment()


def test_specs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        tiny().id = "other"  # type: ignore[misc]
