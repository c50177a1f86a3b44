"""The kit's packages follow their roles: the core imports none of the others, the
reference solution only the core, the grader never the solution or the authoring tools."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
KIT_PACKAGES = ("mnist_course", "reference", "autograder", "authoring")
#: The kit packages each one may import (lazily too); every other is a role broken.
MAY_IMPORT = {
    "mnist_course": set(),
    "reference": {"mnist_course"},
    "autograder": {"mnist_course"},
    "authoring": {"mnist_course", "reference", "autograder"},
}


def _kit_imports(source: Path) -> set[str]:
    """Top-level kit packages that ``source`` imports, anywhere in the file."""
    found = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
    return found & set(KIT_PACKAGES)


@pytest.mark.parametrize("package", KIT_PACKAGES)
def test_each_package_imports_only_what_its_role_allows(package: str) -> None:
    broken = {
        str(path.relative_to(REPO_ROOT)): sorted(imported - MAY_IMPORT[package] - {package})
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
        if (imported := _kit_imports(path)) - MAY_IMPORT[package] - {package}
    }
    assert not broken, f"{package} may import only {sorted(MAY_IMPORT[package])}: {broken}"


def test_the_rule_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from autograder.grader import grade_submission\n")
    assert _kit_imports(module) == {"autograder"}
