"""The check families, one module each behind :mod:`autograder.families.base`'s interface.

The spec names the families (``Check.judge`` is ``"<family>.<kind>"``, see
:data:`mnist_course.spec.Judge`); this package finds each family's module by that name,
so a new family is one module here plus its spec entries. The notebook's self-checks, the
grader and the model judge's child all look a check's judge up here.
"""

from __future__ import annotations

import functools
import importlib
from typing import get_args

from autograder.families.base import Family, Judge
from mnist_course.spec import Check
from mnist_course.spec import Judge as JudgeName


def family_names() -> tuple[str, ...]:
    """The families the spec names, in the order it first names them."""
    return tuple(dict.fromkeys(name.partition(".")[0] for name in get_args(JudgeName)))


@functools.cache
def families() -> dict[str, Family]:
    """Every family, by name, each from its module ``autograder.families.<name>``."""
    found = {}
    for name in family_names():
        family = importlib.import_module(f"{__name__}.{name}").FAMILY
        if family.name != name:
            raise ValueError(f"autograder.families.{name} declares family {family.name!r}")
        found[name] = family
    return found


def family_of(check: Check) -> Family:
    return families()[check.judge.partition(".")[0]]


def judge_of(check: Check) -> Judge:
    """The judge of ``check``: how its verdict is reached in the notebook and the grader."""
    family, _, kind = check.judge.partition(".")
    return families()[family].judges[kind]
