"""Tiny models, test configs and the fixture-notebook folder for the autograder tests."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np
import pytest

from autograder import executor
from autograder.grader import grade_submission
from autograder.reports import GradeReport
from mnist_course.config import AssignmentConfig, CourseConfig, load_config

if TYPE_CHECKING:
    import keras

REPO_ROOT = Path(__file__).resolve().parents[2]
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"


def course_config(**grading: object) -> CourseConfig:
    """The kit's course.yaml with grading limits replaced for tests."""
    config = load_config(REPO_ROOT / "course.yaml")
    return config.model_copy(update={"grading": config.grading.model_copy(update=grading)})


def assignment_config(assignment: str = "mnist_digits", **grading: object) -> AssignmentConfig:
    """One assignment's settings from the kit's course.yaml, grading limits replaced."""
    return course_config(**grading).assignment(assignment)


def with_stage(
    config: CourseConfig, stage: str, assignment: str = "mnist_digits", **changes: object
) -> CourseConfig:
    """``config`` with one stage's settings changed (a smaller budget for a test)."""
    settings = config.assignments[assignment]
    stages = {**settings.stages, stage: settings.stages[stage].model_copy(update=changes)}
    updated = settings.model_copy(update={"stages": stages})
    return config.model_copy(update={"assignments": {**config.assignments, assignment: updated}})


def compiled(layers: list[keras.layers.Layer], loss: str = "sparse_categorical_crossentropy"
             ) -> keras.Model:  # fmt: skip
    import keras

    model = keras.Sequential(layers)
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    return model


def baseline() -> keras.Model:
    import keras

    return compiled([keras.Input(shape=(784,)), keras.layers.Dense(10, activation="softmax")])


def hidden_layer() -> keras.Model:
    import keras

    return compiled(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def cnn(*, conv: bool = True, pool: bool = True) -> keras.Model:
    import keras

    layers: list[keras.layers.Layer] = [keras.Input(shape=(28, 28, 1))]
    if conv:
        layers.append(keras.layers.Conv2D(4, (3, 3), activation="relu"))
    if pool:
        layers.append(keras.layers.MaxPooling2D((2, 2)))
    layers += [keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")]
    return compiled(layers)


@pytest.fixture(scope="session")
def helpers() -> SimpleNamespace:
    """The helpers above, for test modules (conftest modules are not importable)."""
    return SimpleNamespace(
        course_config=course_config,
        assignment_config=assignment_config,
        with_stage=with_stage,
        compiled=compiled,
        baseline=baseline,
        hidden_layer=hidden_layer,
        cnn=cnn,
        submissions=SUBMISSIONS,
        repo_root=REPO_ROOT,
    )


#: Notebooks that train: a generous cell limit so a busy machine cannot fail them.
TRAINING = {"good-subset", "monkeypatch", "accuracy-by-hand", "lambda-layer",
            "one-hot-sparse-loss", "wrong-architectures"}  # fmt: skip


@pytest.fixture(scope="module")
def outside(tmp_path_factory) -> Path:
    """The folder the grader makes scratch folders in, with a sentinel file."""
    folder = tmp_path_factory.mktemp("grading")
    (folder / "sentinel.txt").write_text("must survive")
    (folder / "decoy-kit" / "autograder").mkdir(parents=True)
    (folder / "decoy-kit" / "course.yaml").write_text("seed: 1\n")
    (folder / "decoy-kit" / "autograder" / "grader.py").write_text("# must survive\n")
    return folder


@pytest.fixture(scope="module")
def planted(outside, helpers, mnist) -> Path:
    """What a notebook would like graded instead of its own work: a manifest, a correct
    normalize() output and a model with the right structure, outside its scratch folder."""
    from autograder.checks.data import probe_images

    folder = outside / "planted"
    folder.mkdir(exist_ok=True)
    np.save(folder / "normalize.npy", probe_images(mnist[1][0]).astype("float32") / 255.0)
    helpers.baseline().save(folder / "baseline_model.keras")
    manifest = {
        "cells": [],
        "exports": {
            "normalize": {"error": None},
            "baseline_model": {"variable": "baseline_model", "defined": True},
        },
        "files": {"normalize": "normalize.npy", "baseline_model": "baseline_model.keras"},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture(scope="module")
def grade(outside, helpers, mnist_dir):
    """Grade a fixture notebook once per module, with short test limits."""
    quick = helpers.course_config(cell_timeout_s=5, submission_timeout_s=240)
    training_config = helpers.course_config(cell_timeout_s=180, submission_timeout_s=400)
    cache: dict[str, GradeReport] = {}

    def run(name: str, *, training: bool | None = None) -> GradeReport:
        """``training``: the notebook trains models (default: whether it is in TRAINING)."""
        if not executor.isolation_available():
            pytest.skip("as root, the grader runs student code only inside namespaces")
        if name not in cache:
            path = helpers.submissions / f"submission-{name}.ipynb"
            trains = name in TRAINING if training is None else training
            config = training_config if trains else quick
            cache[name] = grade_submission(
                path, config=config, workdir=outside, assignment="mnist_digits"
            )
        return cache[name]

    return run
