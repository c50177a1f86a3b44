"""The course's assignment specs: every module of this package defines one ``SPEC``.

Adding an assignment adds one module here (and its reference module, its lesson and its
course.yaml entry); nothing else lists assignments.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from mnist_course.spec import AssignmentSpec, SpecError


@cache
def all_specs() -> dict[str, AssignmentSpec]:
    """Every assignment spec of the kit, by id, in module-name order."""
    specs: dict[str, AssignmentSpec] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        spec = getattr(module, "SPEC", None)
        if not isinstance(spec, AssignmentSpec):
            raise SpecError(f"{module.__name__} defines no SPEC (an AssignmentSpec)")
        if spec.id in specs:
            raise SpecError(f"{module.__name__}: assignment id {spec.id!r} is declared twice")
        specs[spec.id] = spec
    return specs


def get_spec(assignment_id: str) -> AssignmentSpec:
    """The spec of ``assignment_id``; KeyError names the known ones."""
    specs = all_specs()
    if assignment_id not in specs:
        raise KeyError(
            f"unknown assignment {assignment_id!r}; the kit has: {', '.join(specs) or 'none'}"
        )
    return specs[assignment_id]
