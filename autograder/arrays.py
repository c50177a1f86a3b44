"""Small, pickle-free descriptions of arrays that cross the trust boundary.

The student process exports :class:`ArraySummary` records as JSON; the trusted
process rebuilds them with :meth:`ArraySummary.from_dict`, which rejects anything
that is not exactly the expected shape of data.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mnist_course.data import IMAGES_MAGIC, LABELS_MAGIC, idx_header

#: Rows of the flattened arrays exported for comparison with the canonical images.
HEAD_ROWS = 16


@dataclass(frozen=True)
class ArraySummary:
    """Shape, dtype, value range and (for uint8 data) the IDX checksum of one array."""

    shape: tuple[int, ...]
    dtype: str
    minimum: float | None = None
    maximum: float | None = None
    idx_sha256: str | None = None

    @classmethod
    def of(cls, value: Any) -> ArraySummary:
        """Describe ``value`` (anything numpy can turn into an array)."""
        array = np.asarray(value)
        minimum = maximum = None
        if array.size and (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
            minimum = float(np.min(array))
            maximum = float(np.max(array))
        digest = None
        if array.dtype == np.uint8 and array.ndim in (1, 3):
            magic = IMAGES_MAGIC if array.ndim == 3 else LABELS_MAGIC
            hasher = hashlib.sha256(idx_header(magic, array.shape))
            hasher.update(np.ascontiguousarray(array).data)
            digest = hasher.hexdigest()
        return cls(tuple(int(n) for n in array.shape), str(array.dtype), minimum, maximum, digest)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, raw: Any) -> ArraySummary:
        """Rebuild a summary from untrusted JSON, raising ValueError on anything odd."""
        if not isinstance(raw, dict) or set(raw) != set(cls.__dataclass_fields__):
            raise ValueError(f"not an array summary: {str(raw)[:200]}")
        shape = raw["shape"]
        if not isinstance(shape, list) or len(shape) > 8:
            raise ValueError("array summary: shape must be a list of at most 8 sizes")
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
            raise ValueError("array summary: shape sizes must be non-negative integers")
        if not isinstance(raw["dtype"], str) or len(raw["dtype"]) > 64:
            raise ValueError("array summary: dtype must be a short string")
        bounds = []
        for key in ("minimum", "maximum"):
            number = raw[key]
            if number is not None and (
                isinstance(number, bool)
                or not isinstance(number, int | float)
                or not math.isfinite(number)
            ):
                number = float("nan") if isinstance(number, float) else None
            bounds.append(None if number is None else float(number))
        digest = raw["idx_sha256"]
        if digest is not None and (not isinstance(digest, str) or len(digest) != 64):
            raise ValueError("array summary: idx_sha256 must be 64 hex digits")
        return cls(tuple(shape), raw["dtype"], bounds[0], bounds[1], digest)

    @property
    def is_float(self) -> bool:
        return self.dtype.startswith(("float", "bfloat"))

    @property
    def is_integer(self) -> bool:
        return self.dtype.startswith(("int", "uint"))
