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


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_imports(path: Path, modules: set[str]) -> set[str]:
    """Kit modules ``path`` imports when it is imported: at module level, type-checking
    blocks included (imports inside functions are deliberate late binding)."""
    found = set()
    body = list(ast.parse(path.read_text(encoding="utf-8")).body)
    while body:
        node = body.pop()
        if isinstance(node, ast.If | ast.Try):
            body += [*node.body, *getattr(node, "orelse", ()), *getattr(node, "handlers", ())]
        elif isinstance(node, ast.ExceptHandler):
            body += node.body
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                found.add(name if name in modules else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {name for name in found if name in modules}


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle in ``graph``, or [] when it has none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str]:
        state[module] = 1
        path.append(module)
        for imported in sorted(graph[module]):
            if state.get(imported) == 1:
                return [*path[path.index(imported) :], imported]
            if imported not in state and (found := visit(imported)):
                return found
        path.pop()
        state[module] = 2
        return []

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return []


def test_no_kit_module_imports_itself_through_others() -> None:
    paths = [path for package in KIT_PACKAGES for path in (REPO_ROOT / package).rglob("*.py")]
    modules = {_module_name(path) for path in paths}
    graph = {
        _module_name(path): _module_imports(path, modules) - {_module_name(path)} for path in paths
    }
    # A package's __init__ imports nothing of its own here, so edges into packages are
    # edges into their __init__ only.
    assert _cycle(graph) == []


def test_the_cycle_finder_sees_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []
