"""Runs a submission's cells inside the sandbox and exports declared artifacts only.

This module is the one piece of the autograder that shares a process with student
code, so it trusts nothing after the first cell runs: references it needs are taken
before, and everything it writes is re-validated by the trusted side
(:mod:`autograder.artifacts`). It writes JSON, ``.npy`` without pickle and
``.keras`` files into the output folder, nothing else.

It announces each cell, the export step and the end over the progress pipe, and reads
the grader's probe images from the probe pipe only at the export step, after every
cell has run (the grader sends them then), so no cell can see them in advance.

What it runs and exports comes in its job (``--job``, an
:class:`autograder.messages.HarnessJob`): the cells, and the assignment's contract
(mnist_course.spec) as names and kinds; this module names no notebook variable.

Run as ``python -I -m autograder.harness --job JOB --progress-fd N --probe-fd M --out OUT``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from autograder import fit_evidence, messages
from autograder.arrays import HEAD_ROWS, ArraySummary
from mnist_course import determinism, tf_data, tuning

MAX_TEXT = 2000
#: Trials of a tuner exported at most (the course's searches run a handful).
MAX_TRIALS = 64
MANIFEST = "manifest.json"
#: Room kept in the export folder from the start and freed at the export step, so a
#: notebook that fills its scratch folder (bytes or files) still gets its results
#: exported: the course's models and arrays take well under a megabyte.
EXPORT_RESERVE_BYTES = 16 * 2**20
EXPORT_RESERVE_FILES = 16
RESERVE = ".reserve-{}"

# Taken before any student code runs, so monkeypatching these cannot change the export.
_save_array = np.save
_load_array = np.load
_bytes_io = io.BytesIO
_read = os.read
_close = os.close
_asarray = np.asarray
_json_dumps = json.dumps
_replace = os.replace
_getpid = os.getpid
_unlink = os.unlink
_exit = os._exit
_trials_of = tuning.trials_of
_validation_fingerprints = fit_evidence.validation_fingerprints


class CellTimeout(BaseException):
    """Raised inside a cell that ran past the per-cell wall clock."""


_strays = {"kill": False}
#: How many times kill_strays() signals every other process at most.
KILL_ROUNDS = 50


def kill_strays() -> None:
    """Kill every other process of the sandbox (fork bombs, leftover children).

    Only in our own pid namespace, where kill(-1) reaches nothing outside it. A copy that
    was forking while one round went by survives it, so rounds repeat (reaping our own
    children) until no other process is left, or a bounded number of times."""
    if not _strays["kill"]:
        return
    for _ in range(KILL_ROUNDS):
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:  # ESRCH: there is no other process left
            return
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass


def _on_alarm(signum: int, frame: object) -> None:
    kill_strays()
    raise CellTimeout("the cell ran past the per-cell time limit")


def _text(value: object) -> str:
    text = str(value)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


def _describe(exc: BaseException) -> str:
    return _text(f"{type(exc).__name__}: {exc}")


class Runner:
    """Runs source cells in one namespace, IPython when available (magics, ``!`` lines)."""

    def __init__(self) -> None:
        self.shell = None
        try:
            from IPython.core.interactiveshell import InteractiveShell

            self.shell = InteractiveShell.instance(colors="nocolor")
            self.namespace: dict[str, Any] = self.shell.user_ns
        except Exception:  # plain exec is a fine fallback
            self.namespace = {"__name__": "__main__"}

    def run(self, source: str) -> BaseException | None:
        if self.shell is not None:
            result = self.shell.run_cell(source, store_history=False, silent=False)
            return result.error_before_exec or result.error_in_exec
        try:
            exec(compile(source, "<cell>", "exec"), self.namespace)
        except BaseException as exc:  # noqa: BLE001 - every student error is recorded
            traceback.print_exc()
            return exc
        return None


class Timer:
    """Per-cell wall clock via SIGALRM (the trusted side also kills on a hard limit)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        signal.signal(signal.SIGALRM, _on_alarm)

    def __enter__(self) -> Timer:
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _seed(seed: int, sources: list[str]) -> None:
    """Fix every seed before student code runs so grading twice gives the same scores,
    and the same as the notebook's own run (see mnist_course.determinism)."""
    uses_tensorflow = any(word in source for source in sources for word in ("keras", "tensorflow"))
    try:
        determinism.fix_seeds(seed, tensorflow=uses_tensorflow)
    except Exception:  # the notebook will report its own import problems
        determinism.fix_seeds(seed, tensorflow=False)


class Exporter:
    """Writes the declared artifacts; each one independently, failures recorded."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.files: dict[str, str] = {}

    def array(self, name: str, value: object) -> str | None:
        """Save ``value`` as ``name``.npy; returns an error text or None."""
        try:
            array = _asarray(value)
            if array.dtype == object or not (
                np.issubdtype(array.dtype, np.number) or array.dtype == bool
            ):
                return f"returned {type(value).__name__} of dtype {array.dtype}, not numbers"
            path = self.out / f"{name}.npy"
            _save_array(path, array, allow_pickle=False)
            self.files[name] = path.name
        except BaseException as exc:  # noqa: BLE001
            return _describe(exc)
        return None


def _summary(value: object) -> dict[str, Any] | None:
    try:
        return ArraySummary.of(value).to_dict()
    except BaseException:  # noqa: BLE001 - a non-array is reported as missing
        return None


def _call(function: object, probe: np.ndarray, timer: Timer) -> tuple[object, str | None]:
    if not callable(function):
        return None, "it is not defined as a function"
    try:
        with timer:
            return function(probe.copy()), None
    except BaseException as exc:  # noqa: BLE001
        return None, _describe(exc)


def _export_model(
    variable: str, namespace: dict[str, Any], exporter: Exporter, timer: Timer
) -> dict[str, Any]:
    value = namespace.get(variable)
    info: dict[str, Any] = {"variable": variable, "defined": variable in namespace}
    if value is None:
        return info
    keras = sys.modules.get("keras")
    if keras is None or not isinstance(value, keras.Model):
        info["error"] = f"{variable} is a {type(value).__name__}, not a keras.Model"
        return info
    try:
        info["loss"] = _text(getattr(value, "loss", None))
        optimizer = getattr(value, "optimizer", None)
        steps = getattr(optimizer, "iterations", None)
        info["optimizer_steps"] = int(_asarray(steps)) if steps is not None else None
        info["fits"] = fit_evidence.records(value)
    except BaseException:  # noqa: BLE001 - clues only
        pass
    _save_model(variable, value, exporter, timer, info)
    return info


def _save_model(
    name: str, value: Any, exporter: Exporter, timer: Timer, info: dict[str, Any]
) -> None:
    try:
        path = exporter.out / f"{name}.keras"
        with timer:
            value.save(path)
        exporter.files[name] = path.name
    except BaseException as exc:  # noqa: BLE001
        info["error"] = f"{name} could not be saved as a .keras file: {_describe(exc)}"


def _export_built(
    name: str, namespace: dict[str, Any], exporter: Exporter, timer: Timer
) -> dict[str, Any]:
    """A function that builds a model: called here, without arguments, and its model saved."""
    function = namespace.get(name)
    info: dict[str, Any] = {"defined": name in namespace}
    if not callable(function):
        if name in namespace:
            info["error"] = f"{name} is a {type(function).__name__}, not a function"
        return info
    try:
        with timer:
            value = function()
    except BaseException as exc:  # noqa: BLE001
        info["error"] = f"{name}() raised {_describe(exc)}"
        return info
    keras = sys.modules.get("keras")
    if keras is None or not isinstance(value, keras.Model | keras.layers.Layer):
        info["error"] = f"{name}() returned a {type(value).__name__}, not a Keras model or layer"
        return info
    if not isinstance(value, keras.Model):
        try:
            value = keras.Sequential([value])
        except BaseException as exc:  # noqa: BLE001
            info["error"] = f"{name}() returned a layer that cannot be saved: {_describe(exc)}"
            return info
    _save_model(name, value, exporter, timer, info)
    return info


def _plain(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON-ready numbers, strings, lists and dicts (others as text)."""
    if depth > 4:
        return None
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, dict):
        return {str(key)[:100]: _plain(item, depth + 1) for key, item in list(value.items())[:32]}
    if isinstance(value, list | tuple):
        return [_plain(item, depth + 1) for item in list(value)[:32]]
    try:
        return float(_asarray(value))
    except BaseException:  # noqa: BLE001
        return _text(value)[:200]


def _export_tuner(name: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """A KerasTuner tuner after its search: every trial's hyperparameters and score."""
    tuner = namespace.get(name)
    info: dict[str, Any] = {"defined": name in namespace}
    if tuner is None:
        return info
    keras_tuner = sys.modules.get("keras_tuner")
    if keras_tuner is None or not isinstance(tuner, keras_tuner.Tuner):
        info["error"] = f"{name} is a {type(tuner).__name__}, not a KerasTuner tuner"
        return info
    try:
        info["trials"] = [_plain(trial) for trial in _trials_of(tuner)[:MAX_TRIALS]]
        info["objective"] = _text(getattr(tuner.oracle.objective, "name", ""))[:100]
        info["validation_fingerprints"] = _validation_fingerprints()
    except BaseException as exc:  # noqa: BLE001
        info["error"] = f"the trials of {name} could not be read: {_describe(exc)}"
    return info


def _export_number(name: str, namespace: dict[str, Any]) -> dict[str, Any]:
    value = namespace.get(name)
    info: dict[str, Any] = {"defined": name in namespace}
    if name in namespace:
        number = _plain(value)
        if isinstance(number, int | float) and not isinstance(number, bool):
            info["value"] = float(number)
        else:
            info["error"] = f"{name} is a {type(value).__name__}, not a number"
    return info


def _export_array(name: str, namespace: dict[str, Any], exporter: Exporter) -> dict[str, Any]:
    """An array's summary and its first rows (enough to check its order, little to copy)."""
    if name not in namespace or (summary := _summary(namespace[name])) is None:
        return {"defined": name in namespace, "summary": None}
    try:
        head_error = exporter.array(f"{name}_head", _asarray(namespace[name])[:HEAD_ROWS])
    except BaseException as exc:  # noqa: BLE001 - a 0-d value has no rows
        head_error = _describe(exc)
    return {"defined": True, "summary": summary, "head_error": head_error}


def _receive_probe(handle: int, timer: Timer) -> tuple[np.ndarray | None, str | None]:
    """The probe images, sent by the grader once the export step is announced."""
    chunks = []
    try:
        with timer:
            while chunk := _read(handle, 65536):
                chunks.append(chunk)
        _close(handle)
        return _load_array(_bytes_io(b"".join(chunks)), allow_pickle=False), None
    except BaseException as exc:  # noqa: BLE001 - student code may have taken the pipe
        return None, f"the grader's probe images did not arrive ({_describe(exc)})"


def _reserve(out: Path) -> None:
    """Keep room (bytes and inodes) for the export; see EXPORT_RESERVE_BYTES."""
    with contextlib.suppress(OSError):  # no room to keep: the export may still fit
        for number in range(EXPORT_RESERVE_FILES):
            with open(out / RESERVE.format(number), "wb") as file:
                if number == 0:
                    os.posix_fallocate(file.fileno(), 0, EXPORT_RESERVE_BYTES)


def _announce(progress: Any, step: int | str) -> None:
    """Tell the grader over the progress pipe that ``step`` starts."""
    line = messages.HarnessProgress(step, time.time()).to_data()
    progress.write(_json_dumps(line) + "\n")


def _release(out: Path) -> None:
    for number in range(EXPORT_RESERVE_FILES):
        with contextlib.suppress(OSError):
            _unlink(out / RESERVE.format(number))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--job", type=Path, required=True)
    parser.add_argument("--progress-fd", type=int, required=True)
    parser.add_argument("--probe-fd", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cell-timeout", type=float, default=300)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--kill-strays", action="store_true", help="own pid namespace only")
    args = parser.parse_args(argv)
    _strays["kill"] = args.kill_strays

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large file is an error, not a kill
    me = _getpid()
    job = messages.HarnessJob.decode(args.job.read_text(encoding="utf-8"))
    cells = job.cells
    exports = [(export.name, export.kind) for export in job.exports]
    out = args.out
    progress = open(args.progress_fd, "w", buffering=1, encoding="utf-8")  # noqa: SIM115
    _reserve(out)
    sources = [cell.source for cell in cells]
    tf_data.install_import_hook()  # no tf.data autotune stall between epochs (same batches)
    _seed(args.seed, sources)
    fit_evidence.install()  # clues for hints: what each model's fit() was given
    runner = Runner()
    timer = Timer(args.cell_timeout)
    namespace = runner.namespace
    outcomes: list[dict[str, Any]] = []
    snapshots: dict[str, dict[str, Any] | None] = {}

    loaded = [name for name, kind in exports if kind == "loaded"]
    for cell in cells:
        _announce(progress, cell.index)
        if cell.skip:
            outcomes.append({"index": cell.index, "status": "skipped"})
            continue
        try:
            with timer:
                error = runner.run(cell.source)
        except BaseException as exc:  # noqa: BLE001 - a timeout between statements
            error = exc
        if _getpid() != me:  # a forked copy of this process must not go on grading
            _exit(0)
        outcome: dict[str, Any] = {"index": cell.index, "status": "ok"}
        if error is not None:
            kill_strays()
            outcome["status"] = "timeout" if isinstance(error, CellTimeout) else "error"
            outcome["error"] = _describe(error)
        outcomes.append(outcome)
        # The data as it was right after loading, like an nbgrader test cell sees it.
        if loaded and not snapshots and all(name in namespace for name in loaded):
            for name in loaded:
                snapshots[name] = _summary(namespace[name])
    _announce(progress, "export")
    kill_strays()
    _release(out)

    exporter = Exporter(out)
    keras_imported = "keras" in sys.modules
    probe, probe_error = _receive_probe(args.probe_fd, timer)
    exported: dict[str, Any] = {}
    for name, kind in exports:
        if kind == "loaded":
            summary = None
            if name in snapshots:
                summary = snapshots[name]
            elif name in namespace:
                summary = _summary(namespace[name])
            exported[name] = {"defined": name in namespace, "summary": summary}
        elif kind == "function":
            output, error = (
                (None, probe_error) if probe is None else _call(namespace.get(name), probe, timer)
            )
            exported[name] = {"error": error if error is not None else exporter.array(name, output)}
        elif kind == "array":
            exported[name] = _export_array(name, namespace, exporter)
        elif kind == "builder":
            exported[name] = {"defined": callable(namespace.get(name))}
        elif kind == "model":
            exported[name] = _export_model(name, namespace, exporter, timer)
        elif kind == "built":
            exported[name] = _export_built(name, namespace, exporter, timer)
        elif kind == "tuner":
            exported[name] = _export_tuner(name, namespace)
        elif kind == "number":
            exported[name] = _export_number(name, namespace)
    # A clue for hints: labels given as one-hot rows (n, 10) instead of digits.
    labels_one_hot = any(
        isinstance(snapshot, dict) and len(snapshot.get("shape") or ()) == 2
        and (snapshot.get("shape") or (0, 0))[1] == 10
        for snapshot in (exported[name]["summary"] for name in loaded)
    )  # fmt: skip
    manifest = messages.ExportManifest(
        cells=outcomes,
        keras_imported=keras_imported,
        exports=exported,
        labels_one_hot=labels_one_hot,
        files=exporter.files,
    )
    if _getpid() != me:
        _exit(0)
    partial = out / (MANIFEST + ".part")
    partial.write_text(_json_dumps(manifest.to_data()), encoding="utf-8")
    _replace(partial, out / MANIFEST)
    _announce(progress, "done")
    progress.close()
    sys.stdout.flush()
    _exit(0)  # skip interpreter shutdown: student atexit hooks and threads cannot interfere


if __name__ == "__main__":
    sys.exit(main())
