"""Clues about how each model was trained, recorded inside the sandbox for hints only.

The harness wraps ``keras.Model.fit`` and ``evaluate`` before student code runs;
every call records the shapes, dtypes and value ranges of the arrays passed in, the
loss, the error it raised, if any, and the accuracy ``evaluate`` reported. Student
code can undo the wrapper or forge the records, so the trusted side uses them only to
choose a hint, never for points.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

MAX_CALLS = 8
#: The Model methods whose calls are recorded.
WRAPPED = ("fit", "evaluate")
MAX_TEXT = 300
_ATTRIBUTE = "_autograder_fit_calls"
#: Rows of each fit's validation data that are fingerprinted, and fits remembered.
VALIDATION_ROWS = 8
MAX_VALIDATION_FITS = 64
#: Fingerprints of the first validation rows of every fit() in the process (a tuner's
#: trials included): what a search chose on, for the "tuned on the test set" hint.
_validation_fingerprints: list[list[str]] = []

#: Taken now, before any student code runs.
_getattr = getattr
_setattr = setattr
_id = id


def _describe_array(value: Any) -> dict[str, Any] | None:
    """Shape, dtype and value range of an array-like, or None for anything else."""
    import numpy as np

    try:
        array = np.asarray(value)
    except Exception:  # a dataset, a generator or a broken object: no clue
        return None
    if array.dtype == object:
        return None
    described: dict[str, Any] = {"shape": [int(size) for size in array.shape]}
    described["dtype"] = str(array.dtype)
    if array.size and (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        described["min"] = float(array.min())
        described["max"] = float(array.max())
    return described


def _input_shape(model: Any) -> list[int | None] | None:
    """The model's keras.Input shape, None when it has none yet (built by fit)."""
    try:
        shape = model.inputs[0].shape
    except Exception:  # noqa: BLE001 - an unbuilt model has no inputs
        return None
    return [None if size is None else int(size) for size in shape]


def _loss_name(model: Any) -> str:
    loss = _getattr(model, "loss", None)
    name = _getattr(loss, "__name__", None) or _getattr(loss, "name", None) or loss
    return str(name)[:MAX_TEXT]


def _accuracy(result: Any) -> float | None:
    """The accuracy in what ``evaluate`` returned ([loss, accuracy] or a dict), if any."""
    if isinstance(result, dict):
        values = [value for key, value in result.items() if "acc" in str(key)]
    elif isinstance(result, list | tuple) and len(result) >= 2:
        values = [result[1]]
    else:
        values = []
    try:
        return float(values[0]) if values else None
    except (TypeError, ValueError):
        return None


def image_fingerprints(rows: Any) -> list[str]:
    """A digest of each row as the raw 0-255 image it shows (normalized rows scaled back),
    so the trusted side can look it up among the training and test images."""
    import hashlib

    import numpy as np

    values = np.asarray(rows, dtype="float64")
    if values.ndim < 2 or values[0].size != 784:
        return []
    values = values.reshape(len(values), 784)
    scale = 255.0 if values.size and values.max() <= 1.0 else 1.0
    images = np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)
    return [hashlib.sha256(image.tobytes()).hexdigest()[:32] for image in images]


def _record_validation(kwargs: dict[str, Any]) -> None:
    data = kwargs.get("validation_data")
    if not isinstance(data, tuple | list) or not data:
        return
    if len(_validation_fingerprints) < MAX_VALIDATION_FITS:
        rows = data[0][:VALIDATION_ROWS]
        _validation_fingerprints.append(image_fingerprints(rows))


def validation_fingerprints() -> list[list[str]]:
    """What :func:`_record_validation` saw, one list per fit() with validation data."""
    return [list(entry) for entry in _validation_fingerprints if isinstance(entry, list)]


def _wrap(keras: Any, method: str) -> None:
    """Replace ``keras.Model.<method>`` by a wrapper that records each call on the model."""
    original = _getattr(keras.Model, method)
    if _getattr(original, "_autograder_wrapped", False):
        return

    def wrapper(self: Any, x: Any = None, y: Any = None, *args: Any, **kwargs: Any) -> Any:
        record: dict[str, Any] = {"kind": method, "loss": _loss_name(self)}
        try:
            if method == "fit":
                _record_validation(kwargs)
            record["x"] = _describe_array(x)
            record["y"] = _describe_array(y)
            record["input_shape"] = _input_shape(self)
        except Exception:  # noqa: BLE001 - clues only
            pass
        calls = _getattr(self, _ATTRIBUTE, None)
        if not isinstance(calls, list):
            calls = []
            with contextlib.suppress(Exception):
                object.__setattr__(self, _ATTRIBUTE, calls)
        if len(calls) < MAX_CALLS:
            calls.append(record)
        try:
            result = original(self, x, y, *args, **kwargs)
        except BaseException as exc:
            record["error_type"] = type(exc).__name__
            record["error"] = str(exc)[:MAX_TEXT]
            raise
        if method == "evaluate":
            record["accuracy"] = _accuracy(result)
        return result

    wrapper._autograder_wrapped = True  # type: ignore[attr-defined]
    wrapper.__doc__ = original.__doc__
    wrapper.__wrapped__ = original  # type: ignore[attr-defined]
    _setattr(keras.Model, method, wrapper)


def install() -> bool:
    """Wrap ``keras.Model.fit`` and ``evaluate`` when Keras is imported; returns whether
    it was."""
    keras = sys.modules.get("keras")
    if keras is None:
        return False
    for method in WRAPPED:
        _wrap(keras, method)
    return True


def records(model: Any) -> list[dict[str, Any]]:
    """The fit/evaluate calls recorded on ``model`` (empty when none or when tampered)."""
    calls = _getattr(model, _ATTRIBUTE, None)
    if not isinstance(calls, list):
        return []
    return [call for call in calls[:MAX_CALLS] if isinstance(call, dict)]
