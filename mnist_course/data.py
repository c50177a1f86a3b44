"""MNIST data layer shared by the reference solution, the grader and the notebooks.

Where the data comes from, first match wins:

1. the ``folder`` argument;
2. the ``MNIST_DATA`` environment variable;
3. ``data.mnist_dir`` in course.yaml;
4. Keras' cached ``mnist.npz`` (``$KERAS_HOME`` or ``~/.keras``/datasets);
5. ``keras.datasets.mnist.load_data()``, which downloads (machines with internet only).

Whatever the source, the arrays are checked against the published checksums, so
a truncated, corrupt or wrong file is reported by name instead of surfacing later
as a numpy error or a silently wrong grade.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from mnist_course.config import CourseConfig

DATA_ENV = "MNIST_DATA"
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
IMAGE_SIDE = 28

MnistSplits = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


class MnistDataError(RuntimeError):
    """The MNIST data is missing, unreadable or not the canonical data."""


@dataclass(frozen=True)
class IdxFile:
    """One of the four canonical files and what its content must be."""

    stem: str
    magic: int
    count: int
    sha256: str  # of the uncompressed IDX content, as published

    @property
    def shape(self) -> tuple[int, ...]:
        if self.magic == IMAGES_MAGIC:
            return (self.count, IMAGE_SIDE, IMAGE_SIDE)
        return (self.count,)


TRAIN_IMAGES = IdxFile(
    "train-images-idx3-ubyte",
    IMAGES_MAGIC,
    60000,
    "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
)
TRAIN_LABELS = IdxFile(
    "train-labels-idx1-ubyte",
    LABELS_MAGIC,
    60000,
    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
)
TEST_IMAGES = IdxFile(
    "t10k-images-idx3-ubyte",
    IMAGES_MAGIC,
    10000,
    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
)
TEST_LABELS = IdxFile(
    "t10k-labels-idx1-ubyte",
    LABELS_MAGIC,
    10000,
    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
)
MNIST_FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)


def idx_header(magic: int, shape: tuple[int, ...]) -> bytes:
    """The big-endian IDX header for an array of ``shape``."""
    return struct.pack(f">I{len(shape)}I", magic, *shape)


def encode_idx(array: np.ndarray, magic: int) -> bytes:
    """IDX bytes of a uint8 array (used to hash arrays and to write test fixtures)."""
    return idx_header(magic, array.shape) + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise MnistDataError(
            f"{path}: cannot be read ({exc}); the file is truncated or corrupt. "
            "Copy it again from the canonical MNIST folder."
        ) from None


def decode_idx(raw: bytes, spec: IdxFile, *, name: str, verify: bool = True) -> np.ndarray:
    """Turn the uncompressed bytes of ``spec``'s file into a uint8 array, checking it."""
    dims = len(spec.shape)
    header_size = 4 * (1 + dims)
    if len(raw) < header_size:
        raise MnistDataError(f"{name}: only {len(raw)} bytes, too short for an IDX header")
    magic = struct.unpack(">I", raw[:4])[0]
    if magic != spec.magic:
        raise MnistDataError(
            f"{name}: IDX magic number {magic:#010x}, expected {spec.magic:#010x} "
            f"({'images' if spec.magic == IMAGES_MAGIC else 'labels'}); "
            "is this the right file?"
        )
    shape = struct.unpack(f">{dims}I", raw[4:header_size])
    if tuple(shape) != spec.shape:
        raise MnistDataError(f"{name}: header says shape {tuple(shape)}, expected {spec.shape}")
    expected_size = header_size + int(np.prod(spec.shape))
    if len(raw) != expected_size:
        raise MnistDataError(
            f"{name}: {len(raw)} bytes, expected {expected_size}; the file is truncated or padded"
        )
    if verify and hashlib.sha256(raw).hexdigest() != spec.sha256:
        raise MnistDataError(
            f"{name}: content does not match the published MNIST checksum "
            f"(sha256 {spec.sha256[:12]}...); the file is corrupt or not canonical MNIST"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(spec.shape)


def _find_file(folder: Path, spec: IdxFile) -> Path:
    for candidate in (folder / f"{spec.stem}.gz", folder / spec.stem):
        if candidate.is_file():
            return candidate
    raise MnistDataError(
        f"{folder}: missing {spec.stem}.gz (or the uncompressed {spec.stem}); "
        "the folder needs all four MNIST IDX files"
    )


def load_idx_folder(folder: Path, *, verify: bool = True) -> MnistSplits:
    """Read the four IDX files from ``folder``."""
    if not folder.is_dir():
        raise MnistDataError(f"{folder}: MNIST folder does not exist")
    arrays = []
    for spec in MNIST_FILES:
        path = _find_file(folder, spec)
        arrays.append(decode_idx(_read_bytes(path), spec, name=str(path), verify=verify))
    return (arrays[0], arrays[1]), (arrays[2], arrays[3])


def verify_arrays(splits: MnistSplits, *, name: str) -> None:
    """Check arrays from any source against the canonical checksums."""
    arrays = (splits[0][0], splits[0][1], splits[1][0], splits[1][1])
    for array, spec in zip(arrays, MNIST_FILES, strict=True):
        label = f"{name} ({spec.stem})"
        if array.dtype != np.uint8 or array.shape != spec.shape:
            raise MnistDataError(
                f"{label}: dtype {array.dtype} shape {array.shape}, expected uint8 {spec.shape}"
            )
        if hashlib.sha256(encode_idx(array, spec.magic)).hexdigest() != spec.sha256:
            raise MnistDataError(f"{label}: does not match the published MNIST checksum")


def keras_cache_file() -> Path:
    """Where ``keras.datasets.mnist.load_data()`` keeps its download."""
    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    return home / "datasets" / "mnist.npz"


def _load_keras_cache(path: Path) -> MnistSplits:
    try:
        with np.load(path, allow_pickle=False) as npz:
            splits = (npz["x_train"], npz["y_train"]), (npz["x_test"], npz["y_test"])
    except (OSError, KeyError, ValueError, zlib.error) as exc:
        raise MnistDataError(f"{path}: not a readable Keras MNIST cache ({exc})") from None
    return splits


def _download_with_keras() -> MnistSplits:
    try:
        from keras.datasets import mnist

        return mnist.load_data()
    except Exception as exc:  # network errors come in many types
        raise MnistDataError(
            "MNIST not found: no folder configured and the Keras download failed "
            f"({type(exc).__name__}: {exc}). Set {DATA_ENV}=/path/to/mnist (the folder with "
            "the four IDX .gz files) or data.mnist_dir in course.yaml."
        ) from None


def resolve_folder(
    folder: str | os.PathLike[str] | None, config: CourseConfig | None
) -> Path | None:
    """The IDX folder to read, following the documented order, or None for Keras."""
    if folder is not None:
        return Path(folder).expanduser().resolve()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser().resolve()
    if config is not None:
        return config.mnist_dir
    return None


_memo: dict[tuple[str, bool], MnistSplits] = {}


def load_mnist(
    folder: str | os.PathLike[str] | None = None,
    *,
    config: CourseConfig | None = None,
    verify: bool | None = None,
) -> MnistSplits:
    """``(X_train, y_train), (X_test, y_test)`` exactly as Keras returns them.

    uint8 arrays of shapes (60000, 28, 28), (60000,), (10000, 28, 28), (10000,).
    Each call returns fresh, writable copies, so a caller that edits them in place
    (as students do) cannot change what the next caller sees.
    """
    if verify is None:
        verify = config.data.verify_checksums if config is not None else True
    source = resolve_folder(folder, config)
    key = (str(source) if source else "keras", verify)
    if key not in _memo:
        _memo[key] = _load_uncached(source, verify)
    (x_train, y_train), (x_test, y_test) = _memo[key]
    return (x_train.copy(), y_train.copy()), (x_test.copy(), y_test.copy())


def _load_uncached(source: Path | None, verify: bool) -> MnistSplits:
    if source is not None:
        splits = load_idx_folder(source, verify=verify)
    else:
        cache = keras_cache_file()
        if cache.is_file():
            splits = _load_keras_cache(cache)
            name = str(cache)
        else:
            splits = _download_with_keras()
            name = "keras.datasets.mnist download"
        if verify:
            verify_arrays(splits, name=name)
    return splits
