"""A tiny course for the nbgrader cycles: the repository's course.yaml with one short epoch
per stage and bars to match, so a cycle checks nbgrader's wiring, not the models (reaching
the real bars is tests/reference's business)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]


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
    raw = yaml.safe_load((REPO_ROOT / "course.yaml").read_text(encoding="utf-8"))
    settings = raw["assignments"][assignment]
    for name, values in settings["stages"].items():
        values.update(stage)
        values.update((stages or {}).get(name, {}))
    for section, values in sections.items():
        settings[section].update(values)
    path = root / "course.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_course():
    """:func:`write_tiny_course`, for the module fixtures that build a course."""
    return write_tiny_course
