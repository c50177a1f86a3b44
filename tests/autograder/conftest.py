"""Tiny models, test configs and the fixture-notebook folder for the autograder tests."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import pytest

from autograder.config import CourseConfig, load_config

if TYPE_CHECKING:
    import keras

REPO_ROOT = Path(__file__).resolve().parents[2]
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"


def course_config(**grading: object) -> CourseConfig:
    """The kit's course.yaml with grading limits replaced for tests."""
    config = load_config(REPO_ROOT / "course.yaml")
    return config.model_copy(update={"grading": config.grading.model_copy(update=grading)})


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
        compiled=compiled,
        baseline=baseline,
        hidden_layer=hidden_layer,
        cnn=cnn,
        submissions=SUBMISSIONS,
        repo_root=REPO_ROOT,
    )
