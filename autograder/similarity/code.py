"""Each student's own code: kept by grade-all, compared pairwise with copydetect.

grade-all writes ``code/<student>--<assignment>.json`` beside each result: the notebook's
code cells that are not nbgrader test cells, size-capped, with the hash of the notebook
they came from (so a rerun rewrites only what changed). :func:`read_code` reads one back
without trusting it (no links followed, size caps, every value checked). Comparison is
copydetect's: code tokenised (names become V, F or O, comments and spacing dropped),
k-grams winnowed, every k-gram of the released notebook removed as boilerplate, then the
share of each notebook's remaining tokens found in the other's. Renamed variables,
reordered cells and rewritten comments leave that share unchanged.
"""

from __future__ import annotations

import io
import json
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnist_course.config import MAX_NOTEBOOK_BYTES, CourseConfig, SimilaritySettings
from mnist_course.results import is_test_cell

CODE_FORMAT = 1
#: Most characters of code kept per submission (a solved notebook holds about 10,000).
MAX_CODE_CHARS = 200_000
#: Most cells kept per submission.
MAX_CELLS = 500
#: Largest code file read back (the characters above, JSON-escaped, with room to spare).
MAX_CODE_FILE_BYTES = 4 * MAX_CODE_CHARS + 65_536
#: What nbgrader puts in place of a solution (its default, and this kit's, see
#: nbgrader_config.py): boilerplate too, so unsolved cells do not match each other.
STUBS = (
    "# YOUR CODE HERE\nraise NotImplementedError()",
    '# YOUR CODE HERE\nraise NotImplementedError("Replace this line with your code.")',
)


@dataclass(frozen=True)
class Cell:
    """One code cell the student could write: its position in the notebook and its text."""

    index: int
    source: str


@dataclass(frozen=True)
class StudentCode:
    """What grade-all kept of one submission's code."""

    student: str
    assignment: str
    notebook_sha256: str
    cells: tuple[Cell, ...]
    #: Why cells are missing or cut ("" when the notebook was kept whole).
    note: str = ""

    @property
    def text(self) -> str:
        """The cells as one Python file, each after a comment naming it (comments do not
        count in the comparison, so the headers never match anything)."""
        return "".join(f"# In [{cell.index}]:\n{cell.source}\n\n" for cell in self.cells)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": CODE_FORMAT,
            "student": self.student,
            "assignment": self.assignment,
            "notebook_sha256": self.notebook_sha256,
            "cells": [{"index": cell.index, "source": cell.source} for cell in self.cells],
            "note": self.note,
        }


def code_cells(notebook: bytes) -> tuple[tuple[Cell, ...], str]:
    """The student's code cells of a notebook file (test cells left out), capped at
    :data:`MAX_CODE_CHARS`, and a note on what could not be kept. Never raises on a
    broken or hostile file: it is a student's file."""
    if len(notebook) > MAX_NOTEBOOK_BYTES:
        return (), f"the notebook is {len(notebook)} bytes, over the grader's size limit"
    try:
        document = json.loads(notebook.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return (), f"the notebook is not readable JSON ({type(exc).__name__})"
    raw_cells = document.get("cells") if isinstance(document, dict) else None
    if not isinstance(raw_cells, list):
        return (), "the notebook has no list of cells"
    cells: list[Cell] = []
    kept = 0
    for index, raw in enumerate(raw_cells):
        if not isinstance(raw, dict) or raw.get("cell_type") != "code" or is_test_cell(raw):
            continue
        source = raw.get("source", "")
        if isinstance(source, list) and all(isinstance(line, str) for line in source):
            source = "".join(source)
        if not isinstance(source, str) or not source.strip():
            continue
        if len(cells) == MAX_CELLS or kept + len(source) > MAX_CODE_CHARS:
            return tuple(cells), f"only the first {kept} characters of code were kept"
        cells.append(Cell(index, source))
        kept += len(source)
    return tuple(cells), ""


def _existing_sha(path: Path) -> str | None:
    try:
        return read_code(path).notebook_sha256
    except (OSError, ValueError):
        return None


def keep_code(
    path: Path, student: str, assignment: str, notebook: bytes, notebook_sha256: str
) -> None:
    """Write the submission's code file (atomically), unless it holds this notebook's
    already: grade-all calls it for every submission, graded this run or before."""
    if _existing_sha(path) == notebook_sha256:
        return
    cells, note = code_cells(notebook)
    record = StudentCode(student, assignment, notebook_sha256, cells, note)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(record.to_dict(), ensure_ascii=False), encoding="utf-8")
    os.replace(temporary, path)


def _read_plain_file(path: Path, limit: int) -> bytes:
    """The bytes of a regular file that is not a link, at most ``limit`` of them."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > limit:
            raise ValueError(f"over {limit} bytes")
        with os.fdopen(os.dup(descriptor), "rb") as handle:
            return handle.read(limit + 1)[:limit]
    finally:
        os.close(descriptor)


def read_code(path: Path) -> StudentCode:
    """One code file as grade-all wrote it; ValueError (or OSError) says what is wrong."""
    try:
        data = json.loads(_read_plain_file(path, MAX_CODE_FILE_BYTES).decode("utf-8"))
    except OSError as exc:
        if exc.errno == 40:  # ELOOP: O_NOFOLLOW met a link
            raise ValueError("a link, not a file") from None
        raise
    except (UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"not UTF-8 JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != CODE_FORMAT:
        raise ValueError(f"not a code file of format {CODE_FORMAT}")
    texts = {key: data.get(key) for key in ("student", "assignment", "notebook_sha256", "note")}
    if not all(isinstance(value, str) for value in texts.values()):
        raise ValueError("student, assignment, notebook_sha256 and note must be text")
    raw_cells = data.get("cells")
    if not isinstance(raw_cells, list) or len(raw_cells) > MAX_CELLS:
        raise ValueError(f"cells must be a list of at most {MAX_CELLS}")
    cells = []
    for raw in raw_cells:
        index = raw.get("index") if isinstance(raw, dict) else None
        source = raw.get("source") if isinstance(raw, dict) else None
        if not (isinstance(index, int) and not isinstance(index, bool) and index >= 0):
            raise ValueError("a cell's index must be a count")
        if not isinstance(source, str):
            raise ValueError("a cell's source must be text")
        cells.append(Cell(index, source))
    if sum(len(cell.source) for cell in cells) > MAX_CODE_CHARS:
        raise ValueError(f"over {MAX_CODE_CHARS} characters of code")
    return StudentCode(
        texts["student"],
        texts["assignment"],
        texts["notebook_sha256"],
        tuple(cells),
        texts["note"],
    )


def released_code(config: CourseConfig, assignment: str) -> tuple[str, str]:
    """The code cells of the assignment's notebook as nbgrader releases it (solutions
    cleared by nbgrader's own ClearSolutions), and a note when it cannot be found: then
    starter code counts as shared code."""
    import nbformat
    from nbgrader.preprocessors import ClearSolutions

    settings = config.assignments[assignment]
    path = config.root / config.course.source_directory / assignment / settings.notebook
    if not path.is_file():
        return "", f"{path}: the source notebook is not there, so its code was not left out"
    try:
        notebook = nbformat.read(path, as_version=4)
        released, _ = ClearSolutions(enforce_metadata=False).preprocess(
            notebook, {"language": "python"}
        )
    except Exception as exc:  # nbformat and nbgrader raise several kinds
        return "", f"{path}: not a readable source notebook ({type(exc).__name__}: {exc})"
    sources = [cell.source for cell in released.cells if cell.cell_type == "code"]
    return "\n\n".join([*sources, *STUBS]) + "\n", ""


@dataclass(frozen=True)
class CodeComparison:
    """Every pair of one assignment's notebooks compared: ``shares[i, j]`` is the share of
    notebook i's own tokens found in notebook j's (not symmetric); ``tokens[i, j]`` how
    many tokens of i match."""

    codes: tuple[StudentCode, ...]
    fingerprints: tuple[Any, ...]
    shares: np.ndarray
    tokens: np.ndarray

    @property
    def scores(self) -> np.ndarray:
        """Each pair's score: the larger of its two shares (symmetric)."""
        return np.maximum(self.shares, self.shares.T)

    def marked(self, first: int, second: int) -> tuple[str, str]:
        """Both notebooks' code as escaped HTML, the matching regions in ``<mark>``."""
        from copydetect import compare_files
        from copydetect.utils import highlight_overlap
        from markupsafe import escape

        one, other = self.fingerprints[first], self.fingerprints[second]
        _, _, (slices_one, slices_other) = compare_files(one, other)
        pages = []
        for fingerprint, slices in ((one, slices_one), (other, slices_other)):
            if slices.size == 0:
                pages.append(str(escape(fingerprint.raw_code)))
                continue
            text, _ = highlight_overlap(
                fingerprint.raw_code,
                slices.astype(np.int64),
                "<mark>",
                "</mark>",
                escape_html=True,
            )
            pages.append(text)
        return pages[0], pages[1]


def compare(
    codes: Sequence[StudentCode],
    boilerplate: str,
    settings: SimilaritySettings,
    progress: Callable[[str], None] = lambda message: None,
) -> CodeComparison:
    """Every pair of ``codes`` compared with copydetect, ``boilerplate`` left out."""
    from copydetect import CodeFingerprint, compare_files

    def fingerprint(name: str, text: str, window: int, ignore: np.ndarray | None) -> Any:
        return CodeFingerprint(
            f"{name}.py", settings.noise_tokens, window, ignore, language="python",
            fp=io.StringIO(text),
        )  # fmt: skip

    common = fingerprint("boilerplate", boilerplate, 1, None).hashes
    ignore = np.unique(np.fromiter(common, dtype=np.int64, count=len(common)))
    window = settings.guarantee_tokens - settings.noise_tokens + 1
    prints = tuple(
        fingerprint(f"code{number}", code.text, window, ignore) for number, code in enumerate(codes)
    )
    count = len(codes)
    shares = np.zeros((count, count))
    tokens = np.zeros((count, count), dtype=np.int64)
    total, done, step = count * (count - 1) // 2, 0, max(1, count * (count - 1) // 20)
    for i in range(count):
        for j in range(i + 1, count):
            overlap, (share_i, share_j), (slices_i, slices_j) = compare_files(prints[i], prints[j])
            shares[i, j], shares[j, i] = share_i, share_j
            if overlap:
                tokens[i, j] = int(np.sum(slices_i[1] - slices_i[0]))
                tokens[j, i] = int(np.sum(slices_j[1] - slices_j[0]))
            done += 1
            if done % step == 0:
                progress(f"code: {done} of {total} pairs compared")
    return CodeComparison(tuple(codes), prints, shares, tokens)


def code_files(folder: Path) -> tuple[list[StudentCode], list[tuple[str, str]]]:
    """Every code file under ``folder`` (grade-all's ``code/``), and (file name, why) for
    those that could not be read."""
    found, unreadable = [], []
    if folder.is_symlink() or not folder.is_dir():
        return [], ([(folder.name, "a link, not a folder")] if folder.is_symlink() else [])
    for path in sorted(folder.glob("*.json")):
        try:
            found.append(read_code(path))
        except (OSError, ValueError) as exc:
            unreadable.append((f"{folder.name}/{path.name}", str(exc)[:300]))
    return found, unreadable
