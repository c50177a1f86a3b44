"""Turn reference functions into notebook cells, so the two cannot drift apart.

The notebook must not import :mod:`reference` (students never see it), so the
generator copies the code: a function's signature and docstring become the
visible part of a solution cell, its body the solution nbgrader clears.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class FunctionSource:
    """A function's source split where the solution region starts."""

    head: str  # the ``def`` line(s) and the docstring
    body: str  # the statements after the docstring

    @property
    def full(self) -> str:
        return f"{self.head}\n{self.body}"


def split_function(function: Callable) -> FunctionSource:
    """Split ``function``'s source into ``def`` + docstring and the rest."""
    source = textwrap.dedent(inspect.getsource(function)).rstrip("\n")
    node = ast.parse(source).body[0]
    if not isinstance(node, ast.FunctionDef):
        raise ValueError(f"{function.__qualname__} is not a plain function; cannot make a cell")
    statements = node.body
    if ast.get_docstring(node) is not None:
        statements = statements[1:]
    if not statements:
        raise ValueError(f"{function.__qualname__} has no body after its docstring")
    lines = source.split("\n")
    first = statements[0].lineno - 1
    return FunctionSource(head="\n".join(lines[:first]), body="\n".join(lines[first:]))


def module_constants(function: Callable) -> str:
    """Assignments for the UPPER_CASE module constants ``function`` reads.

    A function copied into the notebook still needs the constants it names
    (``LOSS``, ``METRICS``); they are written out with their current values.
    """
    names = [name for name in function.__code__.co_names if name.isupper()]
    values = function.__globals__
    missing = [name for name in names if name not in values]
    if missing:
        raise ValueError(f"{function.__qualname__} reads undefined names {missing}")
    return "\n".join(f"{name} = {values[name]!r}" for name in names)


def body_lines(function: Callable) -> list[str]:
    """The distinctive code lines of ``function``'s body (for scanning a release)."""
    lines = (line.strip() for line in split_function(function).body.split("\n"))
    return [line for line in lines if len(line) >= 10 and any(ch.isalpha() for ch in line)]


def class_source(cls: type) -> str:
    """A class's source, for a provided cell (a KerasTuner hypermodel, say)."""
    return textwrap.dedent(inspect.getsource(cls)).rstrip("\n")
