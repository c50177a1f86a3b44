"""Checks of the data-preparation stage: loading, normalize() and flatten().

They judge values, never code: the trusted grader feeds them what the sandbox
exported, the notebook feeds them the live objects, and both get the same answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from autograder.arrays import HEAD_ROWS, ArraySummary
from autograder.checks.hints import Advice, advise
from mnist_course.config import AssignmentConfig
from mnist_course.data import TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS
from mnist_course.results import CheckResult, spec_for

PIXELS = 28 * 28
#: The canonical file each loaded array must equal, in the order a load check reads them
#: (``X_train, y_train, X_test, y_test`` in the first assignment's spec).
CANONICAL_LOADED = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)
#: Rows of the two flattened arrays a flatten check reads after the function (train, test).
FLATTENED_ROWS = (TRAIN_IMAGES.count, TEST_IMAGES.count)


def loaded_names(config: AssignmentConfig, check_id: str = "data.load") -> tuple[str, ...]:
    """The notebook names of the four loaded arrays, from the assignment's spec."""
    return config.spec.check(check_id).reads


def flattened_names(config: AssignmentConfig, check_id: str = "data.flatten") -> tuple[str, ...]:
    """The notebook names of the flattened train and test arrays, from the spec."""
    return config.spec.check(check_id).reads[1:]


TOLERANCE = 1e-5


@dataclass(frozen=True)
class ArrayEvidence:
    """What is known about one of the student's arrays: its summary and its first rows."""

    summary: ArraySummary
    head: np.ndarray | None = None

    @classmethod
    def of(cls, value: object) -> ArrayEvidence:
        array = np.asarray(value)
        head = array[:HEAD_ROWS] if array.ndim else None
        return cls(ArraySummary.of(array), head)


def probe_images(test_images: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Images the grader feeds to normalize() and flatten(): five test digits, an
    all-black and an all-white one (7, an odd count, catches sizes typed in).

    With ``rng`` the five digits are drawn at random, so student code cannot know the
    probe in advance and write the expected outputs without a working function; the
    notebook's self-checks use the first five."""
    if rng is None:
        digits = np.asarray(test_images[:5], dtype=np.uint8)
    else:
        picked = np.sort(rng.choice(len(test_images), size=5, replace=False))
        digits = np.asarray(test_images[picked], dtype=np.uint8)
    black = np.zeros((1, 28, 28), dtype=np.uint8)
    white = np.full((1, 28, 28), 255, dtype=np.uint8)
    return np.concatenate([digits, black, white])


def _labels_hint(name: str, summary: ArraySummary) -> Advice | None:
    if len(summary.shape) == 2 and summary.shape[1] == 10:
        return advise("labels_one_hot", name=name, shape=summary.shape)
    return None


def check_load(
    arrays: Mapping[str, ArraySummary | None],
    *,
    config: AssignmentConfig,
    check_id: str = "data.load",
) -> CheckResult:
    """X_train, y_train, X_test, y_test are MNIST exactly as load_mnist() returns it."""
    spec = spec_for(check_id, config)
    names = loaded_names(config, check_id)
    for name, idx in zip(names, CANONICAL_LOADED, strict=True):
        summary = arrays.get(name)
        if summary is None:
            return spec.failed(f"{name} is not defined.", advise("load_missing"))
        if name.startswith("y") and (hint := _labels_hint(name, summary)):
            return spec.failed(f"{name} has shape {summary.shape}.", hint)
        if summary.shape != idx.shape:
            return spec.failed(
                f"{name} has shape {summary.shape}, expected {idx.shape}.",
                advise("loaded_arrays_reshaped"),
            )
        if summary.dtype != "uint8":
            scaled = summary.is_float and summary.maximum is not None and summary.maximum <= 1.0
            return spec.failed(
                f"{name} has dtype {summary.dtype}, expected uint8 (raw grey levels 0-255).",
                advise("loaded_arrays_normalized" if scaled else "loaded_arrays_converted"),
            )
        if summary.idx_sha256 != idx.sha256:
            return spec.failed(
                f"{name} has the right shape and dtype but not the MNIST values.",
                advise("loaded_arrays_modified"),
            )
    return spec.passed(f"{', '.join(names)} are the MNIST data, as loaded.")


def _scale_of(values: np.ndarray, raw: np.ndarray) -> float | None:
    """1 or 1/255 or 1/255^2 when ``values`` equals ``raw`` at that scale, else None."""
    if values.shape != raw.shape or not np.issubdtype(values.dtype, np.number):
        return None
    values = values.astype(np.float64)
    for scale in (1 / 255, 1.0, 1 / 255**2):
        if np.allclose(values, raw.astype(np.float64) * scale, atol=TOLERANCE * max(scale, 1e-3)):
            return scale
    return None


def _not_written_hint(function: str, error: str) -> Advice | None:
    """The release's stub raises NotImplementedError: say "not written yet", not a mistake."""
    if not error.startswith("NotImplementedError"):
        return None
    return advise("not_written_yet", function=function)


def check_normalize(
    probe: np.ndarray,
    output: object,
    *,
    error: str | None = None,
    config: AssignmentConfig,
    check_id: str = "data.normalize",
) -> CheckResult:
    """normalize(probe) returns floats in [0, 1]: the probe divided by 255, same shape."""
    spec = spec_for(check_id, config)
    if error is not None:
        return spec.failed(
            f"normalize() could not be checked: {error}",
            _not_written_hint("normalize", error) or advise("normalize_missing"),
        )
    try:
        values = np.asarray(output)
    except Exception as exc:  # any object can be returned
        values = None
        reason = f"{type(exc).__name__}: {exc}"
    else:
        reason = ""
    if values is None or not np.issubdtype(values.dtype, np.number):
        return spec.failed(
            f"normalize() returned {type(output).__name__} {reason}, not an array of numbers.",
            advise("normalize_no_array"),
        )
    if values.shape != probe.shape:
        return spec.failed(
            f"normalize() changed the shape: {probe.shape} in, {values.shape} out.",
            advise("normalize_changes_shape"),
        )
    scale = _scale_of(values, probe)
    if scale == 1.0:
        return spec.failed(
            "normalize() returned the pixels unchanged (values up to 255).",
            advise("not_divided_by_255"),
        )
    if scale is not None and scale < 1 / 255:
        return spec.failed(
            "normalize() returned values no larger than 1/255: the pixels were divided by 255 "
            "twice.",
            advise("divided_twice"),
        )
    if not np.issubdtype(values.dtype, np.floating):
        return spec.failed(
            f"normalize() returned {values.dtype} values, so the scaled pixels were rounded.",
            advise("integer_division"),
        )
    if scale is None:
        low, high = float(values.min()), float(values.max())
        return spec.failed(
            f"normalize() returned values in [{low:.3g}, {high:.3g}] that are not the pixels "
            "divided by 255.",
            advise("per_image_scaling"),
        )
    return spec.passed("normalize() scales pixels to [0, 1] by dividing by 255.")


def _flatten_hint(shape: tuple[int, ...], n: int) -> Advice:
    if shape == (n * PIXELS,):
        return advise("flatten_one_vector")
    if shape == (PIXELS, n):
        return advise("flatten_transposed")
    if len(shape) >= 3:
        return advise("not_flattened")
    return advise("flatten_wrong_shape")


def check_flatten(
    probe: np.ndarray,
    output: object,
    *,
    error: str | None = None,
    flattened: Mapping[str, ArrayEvidence | None],
    expected_heads: Mapping[str, np.ndarray],
    config: AssignmentConfig,
    check_id: str = "data.flatten",
) -> CheckResult:
    """flatten(probe) is (n, 784) with rows in image order, and X_*_flattened match it.

    ``expected_heads`` holds the first rows of the canonical train/test images for the
    two flattened arrays, keyed like ``flattened``.
    """
    spec = spec_for(check_id, config)
    n = len(probe)
    if error is not None:
        hint = _not_written_hint("flatten", error) or _flatten_hint((), n)
        if error.startswith("it is not"):
            hint = advise("flatten_missing")
        elif "reshape" in error and ("60000" in error or "10000" in error):
            hint = advise("flatten_fixed_count")
        return spec.failed(f"flatten() could not be checked: {error}", hint)
    try:
        values = np.asarray(output)
    except Exception:  # any object can be returned
        values = np.asarray(None)
    if not np.issubdtype(values.dtype, np.number):
        return spec.failed(
            f"flatten() returned {type(output).__name__}, not an array of numbers.",
            advise("flatten_no_array"),
        )
    if values.shape != (n, PIXELS):
        return spec.failed(
            f"flatten() returned shape {values.shape} for {n} images; expected ({n}, {PIXELS}).",
            _flatten_hint(values.shape, n),
        )
    if _scale_of(values, probe.reshape(n, PIXELS)) is None:
        return spec.failed(
            "flatten() returned the right shape but the pixels are in the wrong order or changed.",
            advise("flatten_reorders"),
        )
    for name, count in zip(flattened_names(config, check_id), FLATTENED_ROWS, strict=True):
        evidence = flattened.get(name)
        if evidence is None:
            return spec.failed(
                f"{name} is not defined.",
                advise(
                    "flattened_array_missing", name=name, images=name.removesuffix("_flattened")
                ),
            )
        shape = evidence.summary.shape
        if shape != (count, PIXELS):
            return spec.failed(
                f"{name} has shape {shape}; expected ({count}, {PIXELS}).",
                _flatten_hint(shape, count),
            )
        head = evidence.head
        rows = expected_heads[name].reshape(-1, PIXELS)
        if head is None or _scale_of(np.asarray(head)[: len(rows)], rows[: len(head)]) is None:
            return spec.failed(
                f"{name} has the right shape but its rows are not the images in order.",
                advise(
                    "flattened_rows_reordered", name=name, images=name.removesuffix("_flattened")
                ),
            )
    return spec.passed("flatten() and the flattened arrays have one 784-value row per image.")
