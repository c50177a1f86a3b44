"""Grading one submission: run it in the sandbox, then judge its artifacts here.

:func:`grade_submission` is what the CLI, the pytest plugin and batch scripts call.
Its keyword defaults are the single source of truth for every option. It raises
:class:`GradingError` only when grading itself cannot be done (bad arguments, no
data, bad course.yaml); any problem of the submission becomes a graded result.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from autograder import artifacts, executor, families, judge
from autograder.checks import data as data_checks
from autograder.checks.confusion import ModelEvaluation
from autograder.checks.hints import advise
from autograder.families.base import Canon, ExportContext
from autograder.messages import ExportManifest
from autograder.reports import GradeReport
from mnist_course.config import (
    MAX_NOTEBOOK_BYTES,
    AssignmentConfig,
    ConfigError,
    CourseConfig,
    course_yaml_text,
    find_assignment,
    load_config,
)
from mnist_course.data import MNIST_FILES, MnistDataError, encode_idx, load_mnist, resolve_folder
from mnist_course.results import CheckResult, fail_all, is_test_cell
from mnist_course.spec import Check

MAX_NOTES = 8
#: Terminal escape sequences (Keras bolds parts of its errors) and other control
#: characters, removed from every text that goes into a report.
_ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-_])")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def plain_text(text: str) -> str:
    """``text`` without terminal escape sequences or control characters."""
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


class GradingError(RuntimeError):
    """Grading could not be done at all; the message says what to fix."""


@dataclass(frozen=True)
class GradingOptions:
    """How to grade beyond what course.yaml says, as one record from the command line or
    the Python API to the grading process (a batch's jobs carry it). None: course.yaml's
    value."""

    #: Re-train each submitted architecture before measuring it.
    retrain: bool | None = None
    submission_timeout_s: float | None = None
    cell_timeout_s: float | None = None
    #: As root on a machine without Linux namespaces, run student code anyway.
    allow_unsandboxed: bool = False


class SubmissionUnreadable(ValueError):
    """The notebook file cannot be parsed; graded as zero with this reason."""


def read_cells(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Code cells to run, in order, and warnings about the file.

    nbgrader's autograder test cells are marked skip (the trusted checks replace
    them). A notebook that is valid JSON but breaks the .ipynb schema in small ways is
    still graded, with a warning; one that is not JSON at all is not.
    """
    import nbformat

    raw = path.read_bytes()
    if len(raw) > MAX_NOTEBOOK_BYTES:
        raise SubmissionUnreadable(f"the notebook is {len(raw)} bytes, over the size limit")
    try:
        notebook = nbformat.reads(raw.decode("utf-8"), as_version=4)
    except Exception as exc:  # nbformat raises JSON, decoding and version errors
        raise SubmissionUnreadable(
            f"the notebook is not valid .ipynb JSON ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None
    warnings = []
    try:
        nbformat.validate(notebook)
    except nbformat.ValidationError as exc:
        first_line = str(exc).splitlines()[0][:200]
        warnings.append(f"the notebook does not follow the .ipynb schema ({first_line})")
    cells = []
    for index, cell in enumerate(notebook.get("cells") or []):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        if not isinstance(source, str):
            warnings.append(f"cell {index} has no readable source and was skipped")
            continue
        cells.append({"index": index, "source": source, "skip": is_test_cell(cell)})
    if not cells:
        raise SubmissionUnreadable("the notebook has no code cells")
    return cells, warnings


def _load_canon(config: CourseConfig | AssignmentConfig) -> Canon:
    try:
        (x_train, y_train), (x_test, y_test) = load_mnist(config=config)
    except MnistDataError as exc:
        raise GradingError(f"MNIST data for grading is unavailable: {exc}") from None
    return Canon(x_train, y_train, x_test, y_test)


def _student_data_dir(config: CourseConfig, canon: Canon, scratch_inputs: Path) -> Path:
    folder = resolve_folder(None, config)
    if folder is not None and folder.is_dir():
        return folder
    target = scratch_inputs / "mnist"
    target.mkdir(parents=True, exist_ok=True)
    arrays = (canon.x_train, canon.y_train, canon.x_test, canon.y_test)
    for array, spec in zip(arrays, MNIST_FILES, strict=True):
        (target / spec.stem).write_bytes(encode_idx(array, spec.magic))
        (target / spec.stem).chmod(0o644)
    target.chmod(0o755)
    return target


def _cell_notes(cells: list[dict[str, Any]]) -> list[str]:
    notes = []
    for outcome in cells:
        if isinstance(outcome, dict) and outcome.get("status") in ("error", "timeout"):
            notes.append(f"cell {outcome.get('index')}: {str(outcome.get('error', ''))[:300]}")
    return notes


def _judge(
    manifest: ExportManifest,
    out: int,
    probe: np.ndarray,
    canon: Canon,
    config: AssignmentConfig,
    retrain: bool,
    workdir: Path,
    progress: Callable[[str], None],
    notes: list[str],
    evaluations: list[ModelEvaluation],
) -> list[CheckResult]:
    """All checks from the exported artifacts (every read validated), in the spec's order;
    report notes are appended to ``notes``, the trusted evaluations of the models to
    ``evaluations``. Each check's family judges it: here, or in the model judge's child
    process (see :mod:`autograder.judge`)."""
    cell_errors = tuple(note.partition(": ")[2] for note in _cell_notes(manifest.cells))
    first_error = f" The first failing cell said: {cell_errors[0]}" if cell_errors else ""
    exported = ExportContext(manifest, out, probe, canon, config, first_error)
    by_id: dict[str, CheckResult] = {}
    keras_checks: dict[str, list[Check]] = {}
    for check in config.spec.checks:
        judge_of_check = families.judge_of(check)
        if judge_of_check.trusted is not None:
            by_id[check.id] = judge_of_check.trusted(exported, check)
        else:
            keras_checks.setdefault(families.family_of(check).name, []).append(check)
    work = {name: families.families()[name].model_work for name in keras_checks}
    units = [
        unit for name, checks in keras_checks.items() for unit in work[name].plan(exported, checks)
    ]
    try:
        verdicts = judge.judge_models(
            [unit for unit in units if unit.job is not None],
            folder=out,
            canon=canon,
            config=config,
            retrain=retrain,
            workdir=workdir,
            progress=progress,
        )
    except judge.JudgeError as exc:
        raise GradingError(f"{exc}; the submission was not graded") from None
    for unit in units:
        verdict = verdicts.get(unit.key)
        if verdict is not None and verdict.results:
            results = verdict.results
            notes += verdict.notes
            evaluations += [verdict.evaluation] if verdict.evaluation else []
        else:
            stopped = verdict.stopped if verdict is not None else None
            results = work[unit.family].unjudged(exported, unit, stopped)
        by_id.update((result.id, result) for result in results)
    return [by_id[check.id] for check in config.spec.checks]


def _collect(
    out_path: Path,
    execution: executor.Execution,
    probe: np.ndarray,
    canon: Canon,
    config: CourseConfig,
    retrain: bool,
    workdir: Path,
    say: Callable[[str], None],
    notes: list[str],
    evaluations: list[ModelEvaluation],
) -> list[CheckResult]:
    """Every check from what the finished sandbox left in ``out_path`` (its processes are
    all dead by now, so nothing changes under our feet); notes are appended to ``notes``
    and the models' trusted evaluations to ``evaluations``."""
    hint = advise("notebook_stopped")
    try:
        folder = artifacts.open_folder(out_path)
    except artifacts.ArtifactError as exc:
        reason = f"{exc}" + (f" ({execution.reason})" if execution.reason else "")
        return list(fail_all(config, f"Grading stopped: {reason}.", hint))
    try:
        try:
            manifest = artifacts.read_manifest(Path("manifest.json"), folder=folder)
        except artifacts.ArtifactError as exc:
            reason = execution.reason or "the notebook process exported no results"
            if "was not exported" not in str(exc):
                reason = f"{reason} ({exc})" if execution.reason else str(exc)
            return list(fail_all(config, f"Grading stopped: {reason}.", hint))
        if execution.reason:
            notes.append(execution.reason)
        try:
            results = _judge(
                manifest, folder, probe, canon, config, retrain, workdir, say, notes, evaluations
            )
        except GradingError:
            raise
        except Exception as exc:  # noqa: BLE001 - a hostile artifact must not stop a batch
            message = f"the exported results could not be checked ({type(exc).__name__}: {exc})"
            return list(fail_all(config, f"Grading stopped: {message[:500]}.", hint))
        notes += _cell_notes(manifest.cells)
        return results
    finally:
        os.close(folder)


def grade_submission(
    submission: str | os.PathLike[str],
    *,
    config: CourseConfig | None = None,
    config_path: str | os.PathLike[str] | None = None,
    options: GradingOptions = GradingOptions(),
    workdir: str | os.PathLike[str] | None = None,
    progress: Callable[[str], None] | None = None,
    assignment: str | None = None,
) -> GradeReport:
    """Grade one notebook with its assignment's checks (``assignment``, else found by
    :func:`find_assignment`). Options left None come from course.yaml (``config`` or the
    file at ``config_path``, else the usual search). ``workdir`` is where the scratch
    folder is made (default: the system temp folder). Student code runs only inside
    namespaces (as root, or in a user namespace) unless ``options.allow_unsandboxed``
    says otherwise."""
    say = progress or (lambda message: None)
    started = time.monotonic()
    if not options.allow_unsandboxed and not executor.isolation_available():
        raise GradingError(
            "refusing to run student code without Linux namespaces (neither as root with "
            "unshare nor in an unprivileged user namespace), where it could read and change "
            "every file this user can; grade in a container or VM that allows namespaces, "
            "or pass --allow-unsandboxed (allow_unsandboxed=True) to accept that risk"
        )
    path = Path(submission)
    if not path.is_file():
        raise GradingError(f"{path}: submission not found (expected a .ipynb file)")
    if config is None:
        try:
            config = load_config(config_path)
        except ConfigError as exc:
            raise GradingError(str(exc)) from None
    course = config
    try:
        config = course.assignment(find_assignment(path, course, assignment))
    except ConfigError as exc:
        raise GradingError(str(exc)) from None
    retrain = config.grading.retrain if options.retrain is None else options.retrain
    limits = executor.Limits.from_config(config)
    limits = replace(
        limits,
        submission_timeout_s=options.submission_timeout_s or limits.submission_timeout_s,
        cell_timeout_s=options.cell_timeout_s or limits.cell_timeout_s,
    )
    if workdir is not None and not Path(workdir).is_dir():
        raise GradingError(f"{workdir}: working folder for scratch folders does not exist")
    canon = _load_canon(config)
    name = str(path)
    try:
        cells, warnings = read_cells(path)
    except SubmissionUnreadable as exc:
        return GradeReport(
            name,
            fail_all(
                config,
                f"The submission could not be read: {exc}.",
                advise("notebook_unreadable"),
            ),
            assignment=config.id,
        )
    # A fresh draw each run: a notebook cannot precompute what its functions must return.
    probe = data_checks.probe_images(canon.x_test, np.random.default_rng())
    kit = Path(__file__).resolve().parents[1]
    # The solution and the tools that copy it into notebooks stay out of the sandbox.
    hide = tuple(folder for folder in (kit / "reference", kit / "authoring") if folder.is_dir())
    with tempfile.TemporaryDirectory(prefix="autograder-trusted-") as trusted_name:
        trusted = Path(trusted_name)
        scratch_parent = Path(tempfile.mkdtemp(prefix="autograder-", dir=workdir))
        scratch = scratch_parent / "work"
        try:
            scratch.mkdir()
            inputs = scratch / executor.INPUTS
            inputs.mkdir(mode=0o755)
            data_dir = _student_data_dir(config, canon, inputs)
            say(f"running {path.name} in the sandbox")
            try:
                execution = executor.run_cells(
                    cells,
                    probe,
                    exports=[
                        {"name": export.name, "kind": export.kind} for export in config.spec.exports
                    ],
                    scratch=scratch,
                    trusted=trusted,
                    data_dir=data_dir,
                    limits=limits,
                    seed=config.seed,
                    hide=hide,
                    course_yaml=course_yaml_text(
                        config.course, header="course.yaml as the grader judges with it"
                    ),
                )
            except executor.SandboxError as exc:
                raise GradingError(f"{exc}; the submission was not graded") from None
            say("checking the exported results")
            notes: list[str] = list(warnings)
            evaluations: list[ModelEvaluation] = []
            results = _collect(
                scratch / executor.EXPORT,
                execution,
                probe,
                canon,
                config,
                retrain,
                trusted,
                say,
                notes,
                evaluations,
            )
        finally:
            artifacts.remove_tree(scratch_parent)
    if len(notes) > MAX_NOTES:
        notes = [*notes[:MAX_NOTES], f"... and {len(notes) - MAX_NOTES} more cell errors"]
    sandbox = tuple(execution.enforced) + tuple(f"not enforced: {m}" for m in execution.missing)
    results = [
        replace(result, message=plain_text(result.message), hint=plain_text(result.hint))
        for result in results
    ]
    return GradeReport(
        name,
        tuple(results),
        tuple(plain_text(note) for note in notes),
        sandbox,
        evaluations=tuple(evaluations),
        seconds=time.monotonic() - started,
        assignment=config.id,
    )
