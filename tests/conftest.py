"""Shared fixtures: where MNIST is, small slices of it, the one test seed, and tiny courses
(the repository's course.yaml with short budgets, for the nbgrader, browser and grader
cycles: they check wiring, not the models; reaching the real bars is tests/reference's)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

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


def write_tiny_course(
    root: Path,
    assignment: str,
    stage: dict[str, Any],
    *,
    stages: dict[str, dict[str, Any]] | None = None,
    **sections: dict[str, Any],
) -> Path:
    """Write ``root/course.yaml``: every stage of ``assignment`` updated with ``stage``, then
    the named ``stages`` with their own values, and each other section (``tuning``) updated."""
    from mnist_course.assignments import all_specs

    raw = yaml.safe_load((REPO_ROOT / "course.yaml").read_text(encoding="utf-8"))
    settings = raw["assignments"][assignment]
    written = settings.setdefault("stages", {})
    for spec_stage in all_specs()[assignment].stages:  # course.yaml may leave some out
        values = written.setdefault(spec_stage.id, {}) or {}
        values.update(stage)
        values.update((stages or {}).get(spec_stage.id, {}))
        written[spec_stage.id] = values
    for section, values in sections.items():
        settings.setdefault(section, {}).update(values)
    path = root / "course.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_course():
    """:func:`write_tiny_course`, for the module fixtures that build a course."""
    return write_tiny_course


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with full-data trainings first: on two workers the longest tests start at once
    instead of last, when the other worker would be idle. Every file keeps its order."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)
