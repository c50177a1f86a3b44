"""The extensions reference reaches every course bar of mnist_extensions with margin, on
the full data with the course budget, and the first assignment's CNN (no augmentation)
misses the perturbed-set bar that the augmented CNN clears (slow: full trainings)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mnist_course.config import load_config
from mnist_course.perturbation import perturbed_test_set
from reference import data, evaluation
from reference.pipeline import train_stage

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Points of margin every bar must be cleared by (the README's promise).
MARGIN = 0.005


@pytest.mark.slow
def test_every_extension_bar_is_reached_with_margin(mnist_dir):
    course = load_config(REPO_ROOT / "course.yaml")
    config = course.assignment("mnist_extensions")
    (x_train, y_train), (x_test, y_test) = data.load_mnist(mnist_dir, config=config)
    train = (data.normalize(x_train), y_train)
    test = (data.normalize(x_test), y_test)
    moved = data.normalize(perturbed_test_set(x_test, seed=config.seed)).reshape(-1, 28, 28, 1)
    reached = {}
    for stage, settings in config.stages.items():
        model, result, _ = train_stage(stage, config, train, test, verbose=0)
        reached[stage] = result.test_accuracy
        assert result.test_accuracy >= settings.min_test_accuracy + MARGIN, (stage, result)
        if settings.min_perturbed_accuracy is not None:
            on_moved = evaluation.evaluate_model(model, moved, y_test).accuracy
            assert on_moved >= settings.min_perturbed_accuracy + MARGIN, (stage, on_moved)
            digits = course.assignment("mnist_digits")
            plain, _, _ = train_stage("cnn", digits, train, test, verbose=0)
            plain_moved = evaluation.evaluate_model(plain, moved, y_test).accuracy
            assert plain_moved < settings.min_perturbed_accuracy - MARGIN, plain_moved
    assert np.isfinite(list(reached.values())).all()
