"""Shared fixtures: where MNIST is, small slices of it, and the one test seed."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED = 42  # the one seed the tests use

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _mnist_folder() -> Path | None:
    env = os.environ.get("MNIST_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared" / "data" / "mnist")
    for folder in candidates:
        if (folder / "train-images-idx3-ubyte.gz").is_file():
            return folder.resolve()
    return None


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The canonical MNIST IDX folder; CI always has it, so it fails there when missing."""
    folder = _mnist_folder()
    if folder is None:
        message = "MNIST IDX folder not found: set MNIST_DATA (see README 'Data')"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return folder


@pytest.fixture(scope="session")
def mnist(mnist_dir: Path):
    from mnist_course.data import load_mnist

    return load_mnist(mnist_dir)


@pytest.fixture(scope="session")
def small_mnist(mnist):
    """2,000 training and 500 test images: enough to train a model for one quick epoch."""
    (x_train, y_train), (x_test, y_test) = mnist
    return (x_train[:2000], y_train[:2000]), (x_test[:500], y_test[:500])


@pytest.fixture
def seed() -> int:
    return SEED


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(SEED)
