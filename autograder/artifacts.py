"""Reading what the sandbox exported, trusting none of it.

Every file is opened without following links and must be a regular file under a size
cap; arrays load with ``allow_pickle=False``, the manifest field by field. Anything else
becomes an :class:`ArtifactError` whose message ends up in a failed check. Models are
screened and loaded by :mod:`autograder.model_screening`, on bytes read here.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np

from autograder import messages
from autograder.checks.hints import ProblemKind

MAX_MANIFEST_BYTES = 4 * 2**20
MAX_ARRAY_BYTES = 64 * 2**20
MAX_MODEL_BYTES = 256 * 2**20


class ArtifactError(ValueError):
    """An exported file is missing, odd or unsafe; the message says which and why, and
    ``kind`` what sort of problem it is (it chooses the student's hint)."""

    def __init__(self, message: str, kind: ProblemKind = "unusable") -> None:
        super().__init__(message)
        self.kind = kind


def open_folder(path: Path) -> int:
    """A descriptor of the sandbox's export folder, which must be a real folder: a link
    there would make the grader judge files from anywhere."""
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        kind = "a link" if path.is_symlink() else exc.strerror
        raise ArtifactError(
            f"the results folder {path.name} is not a plain folder ({kind}); the notebook "
            "must leave the grader's files alone"
        ) from None


def read_bytes(path: Path | str, limit: int, *, folder: int | None = None) -> bytes:
    """Content of a regular file written by the sandbox, at most ``limit`` bytes.

    With ``folder`` (from :func:`open_folder`), ``path`` is a bare file name inside it."""
    name = str(path) if folder is not None else path.name
    if folder is not None and (os.path.basename(name) != name or name in ("", ".", "..")):
        raise ArtifactError(f"{name!r} is not a plain file name")
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
    except OSError as exc:
        raise ArtifactError(f"{name} was not exported ({exc.strerror})") from None
    info = os.fstat(handle)
    if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
        os.close(handle)
        if not stat.S_ISREG(info.st_mode):
            raise ArtifactError(f"{name} is not a regular file")
        raise ArtifactError(f"{name} is {info.st_size} bytes, over the {limit} limit")
    with os.fdopen(handle, "rb") as file:
        return file.read(limit + 1)[:limit]


def read_manifest(path: Path, *, folder: int | None = None) -> messages.ExportManifest:
    """The harness's manifest, read without trusting it (ArtifactError when unusable)."""
    try:
        manifest = json.loads(read_bytes(path, MAX_MANIFEST_BYTES, folder=folder))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ArtifactError(
            f"the result manifest is not valid JSON ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None
    if not isinstance(manifest, dict):
        raise ArtifactError("the result manifest is not a JSON object")
    try:
        return messages.ExportManifest.read_untrusted(manifest)
    except messages.MessageError as exc:
        raise ArtifactError(str(exc)[:300]) from None


def read_array(path: Path, *, folder: int | None = None) -> np.ndarray:
    """A numeric .npy array, never unpickled."""
    name = Path(path).name
    try:
        data = read_bytes(path, MAX_ARRAY_BYTES, folder=folder)
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        if isinstance(exc, ArtifactError):
            raise
        raise ArtifactError(f"{name} is not a plain numeric .npy array ({exc})") from None
    if not isinstance(array, np.ndarray) or not (
        np.issubdtype(array.dtype, np.number) or array.dtype == bool
    ):
        raise ArtifactError(f"{name} does not hold numbers")
    return array


def remove_tree(path: Path) -> None:
    """Delete a scratch folder whatever its content (links are removed, not followed)."""
    shutil.rmtree(path, ignore_errors=True)
