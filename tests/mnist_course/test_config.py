"""course.yaml loading: defaults, every key from the file, and every class of bad value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mnist_course import config as course_config
from mnist_course.assignments import all_specs
from mnist_course.config import ConfigError, load_config

REPO_ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, document: object, name: str = "course.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


DIGITS = "mnist_digits"
PREFIX = f"assignments.{DIGITS}."


def digits(**settings: object) -> dict:
    """A course.yaml document that sets ``settings`` of the first assignment."""
    return {"assignments": {DIGITS: settings}}


def test_repository_course_yaml_is_valid_and_matches_the_documented_bars() -> None:
    config = load_config(REPO_ROOT / "course.yaml").assignment(DIGITS)
    assert config.stages["baseline"].min_test_accuracy == 0.92
    assert config.stages["hidden_layer"].min_test_accuracy == 0.95
    assert config.stages["cnn"].min_test_accuracy == 0.98
    assert list(config.course.assignments) == [DIGITS, "mnist_extensions"]


def test_empty_file_gives_all_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, {}))
    assert config.seed == 42
    assert config.course.id == "mnist-digits"
    assert config.mnist_dir is None
    assert config.grading.retrain is False
    assert set(config.assignments) == set(all_specs())  # every assignment the kit has
    assert config.assignment(DIGITS).total_points() == 15


def test_every_key_is_read_from_the_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "mnist"
    data_dir.mkdir()
    stage = {
        "title": "T",
        "min_test_accuracy": 0.5,
        "min_perturbed_accuracy": None,
        "expected_parameters": None,
        "parameter_tolerance": 0.05,
        "epochs": 7,
        "batch_size": 64,
        "learning_rate": 0.01,
        "learning_rate_decay": 0.5,
    }
    document = {
        "course": {"id": "c1", "title": "Course one", "source_directory": "src"},
        "data": {"mnist_dir": "mnist", "verify_checksums": False},
        "seed": 7,
        "assignments": {
            DIGITS: {
                "due": "2026-03-01T23:59:00+01:00",
                "late_policy": {
                    "per": "hour",
                    "penalty": 0.01,
                    "max_penalty": 0.3,
                    "zero_after_hours": 48.0,
                },
                "notebook": "a1.ipynb",
                "points": {"data.load": 2.0, "data.normalize": 3.0, "cnn.accuracy": 4.0},
                "stages": {"baseline": stage, "hidden_layer": stage, "cnn": stage},
                "tuning": None,
            }
        },
        "grading": {
            "submission_timeout_s": 10,
            "cell_timeout_s": 5,
            "memory_mb": 100,
            "max_processes": 3,
            "trained_min_accuracy": 0.3,
            "retrain": True,
            "gradescope_visibility": {"cnn.accuracy": "hidden", "trained": "after_due_date"},
            "partial_credit": {
                "accuracy": {"scale": "linear", "steps": [], "floor": None},
                "cnn.accuracy": {"scale": "steps", "steps": [[0.6, 0.5]], "floor": 0.4},
            },
        },
        "late_work": {
            "policy": {"per": "day", "penalty": 0.2, "max_penalty": 0.6, "zero_after_hours": None},
            "extensions": "extensions.yaml",
            "submission_times": "times.csv",
        },
        "similarity": {
            "code_threshold": 0.5,
            "min_code_tokens": 150,
            "mistakes_threshold": 0.8,
            "agreement_threshold": 0.99,
            "common_share": 0.3,
            "min_class_size": 5,
            "noise_tokens": 20,
            "guarantee_tokens": 24,
            "pairs_shown": 5,
        },
        "integrity": {
            "max_honest_gap": 0.02,
            "max_honest_error_ratio": 1.5,
            "train_sample_images": 500,
            "costs_points": True,
        },
    }
    config = load_config(write(tmp_path, document))
    dumped = config.model_dump(mode="json")
    dumped["data"]["mnist_dir"] = "mnist"
    assert dumped == document
    assert config.mnist_dir == data_dir.resolve()  # relative to course.yaml, not the cwd
    assert config.assignment(DIGITS).total_points() == 2 + 3 + 1 + 3 * (1 + 1) + 2 * 2 + 4


@pytest.mark.parametrize(
    ("document", "key", "expected"),
    [
        ({"sede": 1}, "sede", "unknown key"),
        ({"course": {"name": "x"}}, "course.name", "unknown key"),
        (digits(stages={"cnn": {"min_accuracy": 0.9}}), PREFIX + "stages.cnn", "unknown key"),
        ({"grading": {"timeout": 3}}, "grading.timeout", "unknown key"),
        (
            digits(stages={"baseline": {"min_test_accuracy": 1.5}}),
            PREFIX + "stages.baseline.min_test_accuracy",
            "less than or equal to 1",
        ),
        (
            digits(stages={"cnn": {"min_test_accuracy": -0.1}}),
            PREFIX + "stages.cnn.min_test_accuracy",
            "greater than or equal to 0",
        ),
        (digits(stages={"cnn": {"epochs": -2}}), PREFIX + "stages.cnn.epochs", "greater than 0"),
        (
            digits(stages={"cnn": {"batch_size": 0}}),
            PREFIX + "stages.cnn.batch_size",
            "greater than 0",
        ),
        (digits(stages={"cnn": {"points": 1}}), PREFIX + "stages.cnn.points", "unknown key"),
        (
            {"grading": {"submission_timeout_s": 0}},
            "grading.submission_timeout_s",
            "greater than 0",
        ),
        (
            digits(stages={"cnn": {"learning_rate_decay": 0}}),
            PREFIX + "stages.cnn.learning_rate_decay",
            "greater than 0",
        ),
        ({"grading": {"memory_mb": -5}}, "grading.memory_mb", "greater than 0"),
        (
            {"grading": {"gradescope_visibility": {"accuracy": "later"}}},
            "grading.gradescope_visibility.accuracy",
            "after_published",
        ),
        ({"grading": {"trained_min_accuracy": 2}}, "grading.trained_min_accuracy", "less than"),
        ({"seed": "abc"}, "seed", "valid integer"),
        ({"seed": -1}, "seed", "greater than or equal to 0"),
        ({"assignments": {}}, "assignments", "at least 1"),
        ({"assignments": [{"id": "a"}]}, "assignments", "the list form of older kits is gone"),
        ({"assignments": {"mnist_letters": {}}}, "assignments.mnist_letters", "unknown assignment"),
        (digits(points={"data.load": -1}), PREFIX + "points.data.load", "greater than or equal"),
        (digits(points={"data.lode": 1}), PREFIX + "points.data.lode", "unknown check id"),
        (digits(stages={"rnn": {"epochs": 1}}), PREFIX + "stages.rnn", "unknown stage"),
        (digits(stages={"cnn": "fast"}), PREFIX + "stages.cnn", "valid dictionary"),
        (digits(tuning={"max_trials": 3}), PREFIX + "tuning", "has no tuning checks"),
        ({"stages": {"cnn": {"epochs": 1}}}, "stages", "moved to assignments.<id>.stages"),
        ({"data_points": {"load": 1}}, "data_points", "moved to assignments.<id>.points"),
    ],
)
def test_bad_values_name_the_file_and_the_key(
    tmp_path: Path, document: dict, key: str, expected: str
) -> None:
    path = write(tmp_path, document)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    text = str(error.value)
    assert str(path) in text
    assert f"'{key}" in text
    assert expected in text


def test_one_stage_key_can_be_set_alone(tmp_path: Path) -> None:
    document = digits(stages={"cnn": {"min_test_accuracy": 0.99}})
    config = load_config(write(tmp_path, document)).assignment(DIGITS)
    assert config.stages["cnn"].min_test_accuracy == 0.99
    defaults = load_config(write(tmp_path, {}, name="defaults.yaml")).assignment(DIGITS)
    assert config.stages["cnn"].epochs == defaults.stages["cnn"].epochs  # default kept
    assert config.stages["baseline"].min_test_accuracy == 0.92


def test_missing_data_folder_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, {"data": {"mnist_dir": "no/such/folder"}})
    with pytest.raises(ConfigError, match=r"data\.mnist_dir.*does not exist"):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "expected"), [("seed: [1,", "not valid YAML"), ("- 1\n- 2\n", "mapping")]
)
def test_unparseable_or_non_mapping_file(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "course.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=expected):
        load_config(path)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.yaml")


def test_course_config_env_wins_over_the_search(tmp_path: Path, monkeypatch) -> None:
    chosen = write(tmp_path, {"seed": 11}, name="chosen.yaml")
    nearby = tmp_path / "work"
    nearby.mkdir()
    write(nearby, {"seed": 22})
    monkeypatch.chdir(nearby)
    assert load_config().seed == 22  # nearest course.yaml at or above the cwd
    monkeypatch.setenv(course_config.CONFIG_ENV, str(chosen))
    assert load_config().seed == 11


def test_search_walks_up_from_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path, {"seed": 33})
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.delenv(course_config.CONFIG_ENV, raising=False)
    monkeypatch.chdir(deep)
    assert load_config().seed == 33


def test_config_is_frozen(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, {}))
    with pytest.raises(ValueError):
        config.seed = 3  # type: ignore[misc]


def test_command_line_reports_bad_config_without_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, digits(stages={"cnn": {"min_test_accuracy": 7}}))
    result = subprocess.run(
        [sys.executable, "-m", "reference", "--config", str(path), "--output", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert PREFIX + "stages.cnn.min_test_accuracy" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()
