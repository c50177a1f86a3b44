"""The README's course.yaml keys table against the defaults it documents: the spec for
each stage's settings, the config models for every other key, so the two cannot drift."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from mnist_course.assignments import all_specs
from mnist_course.config import CourseConfig

README = Path(__file__).resolve().parents[1] / "README.md"
#: Stage settings the table gives per model, in spec order, one assignment per ';' part.
STAGE_KEYS = ("min_test_accuracy", "epochs", "batch_size", "learning_rate", "learning_rate_decay")
#: Sections whose keys are documented per assignment and stage rather than as paths.
PER_ASSIGNMENT = {"assignments"}


def _rows() -> dict[str, str]:
    """The keys table: each row's key cell (backticks kept) -> its default cell."""
    text = README.read_text(encoding="utf-8")
    table = text.split("## course.yaml keys", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`"):
            rows[cells[0]] = cells[1]
    return rows


def _numbers(cell: str) -> list[list[float]]:
    """'`4` / `5` / `3`; `3` / `5` / `4`' -> [[4, 5, 3], [3, 5, 4]]."""
    return [
        [float(value) for value in re.findall(r"`([0-9.]+)`", part)] for part in cell.split(";")
    ]


@pytest.mark.parametrize("key", STAGE_KEYS)
def test_each_stage_default_in_the_readme_is_the_specs(key):
    (row,) = (cell for name, cell in _rows().items() if name == f"`…stages.<model>.{key}`")
    documented = _numbers(row)
    specs = list(all_specs().values())
    assert len(documented) == len(specs), row
    for spec, values in zip(specs, documented, strict=True):
        expected = [float(stage.defaults[key]) for stage in spec.stages]
        if len(values) == 1:  # one value written for every stage of the assignment
            values = values * len(expected)
        assert values == expected, f"{spec.id} {key}: README {values}, spec {expected}"


def _scalar_keys(model: type[BaseModel], prefix: str = "") -> dict[str, Any]:
    """Every key of ``model`` that holds one value, with its default (nested sections
    walked), e.g. {'grading.retrain': False}."""
    found: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        if (not prefix and name in PER_ASSIGNMENT) or field.exclude:
            continue
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found.update(_scalar_keys(annotation, f"{key}."))
        else:
            found[key] = field.get_default(call_default_factory=True)
    return found


def _written(value: Any) -> str | None:
    """How the table writes a default, or None where it describes it in words."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int | float | str):
        return f"`{value}`"
    return None


def test_every_course_yaml_key_is_in_the_readme_with_its_default():
    rows = _rows()
    missing, wrong = [], []
    for key, default in _scalar_keys(CourseConfig).items():
        cell = rows.get(f"`{key}`")
        if cell is None:
            missing.append(key)
        elif (written := _written(default)) is not None and cell != written:
            wrong.append(f"{key}: README {cell}, default {written}")
    assert not missing, f"keys missing from the README's course.yaml keys table: {missing}"
    assert not wrong, wrong


def test_the_table_reader_sees_a_wrong_default(monkeypatch, tmp_path):
    """The checks above can fail: a README with one changed default is caught."""
    changed = README.read_text(encoding="utf-8").replace(
        "| `grading.cell_timeout_s` | `300` |", "| `grading.cell_timeout_s` | `301` |"
    )
    fake = tmp_path / "README.md"
    fake.write_text(changed, encoding="utf-8")
    monkeypatch.setitem(globals(), "README", fake)
    with pytest.raises(AssertionError, match="cell_timeout_s"):
        test_every_course_yaml_key_is_in_the_readme_with_its_default()
