"""Grading one submission: run it in the sandbox, then judge its artifacts here.

:func:`grade_submission` is what the CLI, the pytest plugin and batch scripts call.
Its keyword defaults are the single source of truth for every option. It raises
:class:`GradingError` only when grading itself cannot be done (bad arguments, no
data, bad course.yaml); any problem of the submission becomes a graded result.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from autograder import artifacts, executor, judge
from autograder.arrays import ArraySummary
from autograder.checks import data as data_checks
from autograder.checks import models
from autograder.checks.confusion import ModelEvaluation
from autograder.checks.hints import advise
from autograder.checks.result import CheckResult, fail_all, is_test_cell
from autograder.config import STAGES, ConfigError, CourseConfig, load_config
from autograder.data import MNIST_FILES, MnistDataError, encode_idx, load_mnist, resolve_folder

MAX_NOTEBOOK_BYTES = 50 * 2**20
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
class GradeReport:
    """Every check's result for one submission, plus what happened while running it."""

    submission: str
    results: tuple[CheckResult, ...]
    notes: tuple[str, ...] = ()
    sandbox: tuple[str, ...] = field(default=(), compare=False)
    #: Why the grader could not grade it (its own failure, not the student's), else None.
    error: str | None = None
    #: The trusted evaluation of each model that could be measured.
    evaluations: tuple[ModelEvaluation, ...] = ()
    #: Wall-clock seconds grading took (not part of equality).
    seconds: float | None = field(default=None, compare=False)

    @property
    def score(self) -> float:
        return sum(result.points for result in self.results)

    @property
    def max_score(self) -> float:
        return sum(result.max_points for result in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "submission": self.submission,
            "score": self.score,
            "max_score": self.max_score,
            "results": [result.to_dict() for result in self.results],
            "notes": list(self.notes),
            "sandbox": list(self.sandbox),
            "error": self.error,
            "evaluations": [evaluation.to_dict() for evaluation in self.evaluations],
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GradeReport:
        """A report read back from its JSON (as written by :meth:`to_dict`); ValueError
        when it is not one."""
        try:
            results = tuple(CheckResult(**result) for result in data["results"])
            evaluations = tuple(
                ModelEvaluation.from_dict(raw) for raw in data.get("evaluations") or ()
            )
            seconds = data.get("seconds")
            return cls(
                str(data["submission"]),
                results,
                tuple(str(note) for note in data.get("notes") or ()),
                tuple(str(line) for line in data.get("sandbox") or ()),
                error=None if data.get("error") is None else str(data["error"]),
                evaluations=evaluations,
                seconds=float(seconds) if isinstance(seconds, int | float) else None,
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a grade report ({type(exc).__name__}: {exc})") from None


@dataclass(frozen=True)
class Canon:
    """The grader's own copy of MNIST."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


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


def _load_canon(config: CourseConfig) -> Canon:
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


def _summary(raw: Any) -> ArraySummary | None:
    try:
        return ArraySummary.from_dict(raw)
    except ValueError:
        return None


def _judge(
    manifest: dict[str, Any],
    out: int,
    probe: np.ndarray,
    canon: Canon,
    config: CourseConfig,
    retrain: bool,
    workdir: Path,
    progress: Callable[[str], None],
    notes: list[str],
    evaluations: list[ModelEvaluation],
) -> list[CheckResult]:
    """All checks from the exported artifacts (every read validated); report notes are
    appended to ``notes``, the trusted evaluations of the models to ``evaluations``.

    ``out`` is a descriptor of the export folder; file names are the grader's own, never
    names from the manifest (which student code can forge). The models are judged in the
    judge's child process (see :mod:`autograder.judge`)."""
    files = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
    cell_errors = tuple(note.partition(": ")[2] for note in _cell_notes(manifest.get("cells", [])))
    first_error = f" The first failing cell said: {cell_errors[0]}" if cell_errors else ""

    loaded_raw = manifest.get("loaded") if isinstance(manifest.get("loaded"), dict) else {}
    loaded = {name: _summary(loaded_raw.get(name)) for name in data_checks.LOADED}
    results = [data_checks.check_load(loaded, config=config)]

    functions = manifest.get("functions") if isinstance(manifest.get("functions"), dict) else {}
    outputs: dict[str, tuple[np.ndarray | None, str | None]] = {}
    for name in ("normalize", "flatten"):
        error = functions.get(name, "it was not called")
        output = None
        if error is None:
            try:
                output = artifacts.read_array(Path(f"{name}.npy"), folder=out)
            except artifacts.ArtifactError as exc:
                error = str(exc)
        outputs[name] = (output, None if error is None else str(error)[:500])
    results.append(
        data_checks.check_normalize(
            probe, outputs["normalize"][0], error=outputs["normalize"][1], config=config
        )
    )
    flattened_raw = manifest.get("flattened")
    flattened_raw = flattened_raw if isinstance(flattened_raw, dict) else {}
    flattened: dict[str, data_checks.ArrayEvidence | None] = {}
    for name in data_checks.FLATTENED:
        entry = flattened_raw.get(name)
        summary = _summary(entry.get("summary")) if isinstance(entry, dict) else None
        head = None
        if summary is not None:
            try:
                head = artifacts.read_array(Path(f"{name}_head.npy"), folder=out)
            except artifacts.ArtifactError:
                head = None
        flattened[name] = data_checks.ArrayEvidence(summary, head) if summary else None
    heads = {
        "X_train_flattened": canon.x_train[: data_checks.HEAD_ROWS],
        "X_test_flattened": canon.x_test[: data_checks.HEAD_ROWS],
    }
    results.append(
        data_checks.check_flatten(
            probe,
            outputs["flatten"][0],
            error=outputs["flatten"][1],
            flattened=flattened,
            expected_heads=heads,
            config=config,
        )
    )

    model_info = manifest.get("models") if isinstance(manifest.get("models"), dict) else {}
    problems: dict[str, models.ModelProblem] = {}
    jobs: dict[str, dict[str, Any]] = {}
    evidence = {}
    for stage in STAGES:
        info = model_info.get(stage) if isinstance(model_info.get(stage), dict) else {}
        variable = models.MODEL_NAMES[stage]
        evidence[stage] = models.training_evidence(info, manifest)
        if info.get("error"):
            problems[stage] = models.ModelProblem("unusable", f"{str(info['error'])[:400]}.")
        elif stage not in files:
            problems[stage] = models.ModelProblem(
                "missing", f"{variable} is not defined after running the notebook.{first_error}"
            )
        else:
            jobs[stage] = asdict(evidence[stage])
    try:
        verdicts = judge.judge_models(
            jobs,
            folder=out,
            canon=canon,
            config=config,
            retrain=retrain,
            workdir=workdir,
            progress=progress,
        )
    except judge.JudgeError as exc:
        raise GradingError(f"{exc}; the submission was not graded") from None
    for stage in STAGES:
        verdict = verdicts.get(stage)
        if verdict is not None and verdict.results:
            results += verdict.results
            notes += verdict.notes
            evaluations += [verdict.evaluation] if verdict.evaluation else []
            continue
        problem = (
            models.ModelProblem("too_large", verdict.stopped)
            if verdict is not None and verdict.stopped
            else problems[stage]
        )
        results += models.check_stage(
            stage, None, None, config=config, problem=problem, evidence=evidence[stage]
        )
    return results


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
        cells_run = manifest.get("cells", [])
        notes += _cell_notes(cells_run if isinstance(cells_run, list) else [])
        return results
    finally:
        os.close(folder)


def grade_submission(
    submission: str | os.PathLike[str],
    *,
    config: CourseConfig | None = None,
    config_path: str | os.PathLike[str] | None = None,
    retrain: bool | None = None,
    submission_timeout_s: float | None = None,
    cell_timeout_s: float | None = None,
    workdir: str | os.PathLike[str] | None = None,
    progress: Callable[[str], None] | None = None,
    allow_unsandboxed: bool = False,
) -> GradeReport:
    """Grade one notebook. Options left None come from course.yaml (``config`` or the
    file at ``config_path``, else the usual search). ``workdir`` is where the scratch
    folder is made (default: the system temp folder). Student code runs only inside
    namespaces (as root, or in a user namespace) unless ``allow_unsandboxed`` says
    otherwise."""
    say = progress or (lambda message: None)
    started = time.monotonic()
    if not allow_unsandboxed and not executor.isolation_available():
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
    retrain = config.grading.retrain if retrain is None else retrain
    limits = executor.Limits.from_config(config)
    limits = replace(
        limits,
        submission_timeout_s=submission_timeout_s or limits.submission_timeout_s,
        cell_timeout_s=cell_timeout_s or limits.cell_timeout_s,
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
        )
    # A fresh draw each run: a notebook cannot precompute what its functions must return.
    probe = data_checks.probe_images(canon.x_test, np.random.default_rng())
    hide = tuple(
        folder for folder in (Path(__file__).resolve().parents[1] / "reference",) if folder.is_dir()
    )
    with tempfile.TemporaryDirectory(prefix="autograder-trusted-") as trusted_name:
        trusted = Path(trusted_name)
        scratch_parent = Path(tempfile.mkdtemp(prefix="autograder-", dir=workdir))
        scratch = scratch_parent / "work"
        try:
            scratch.mkdir()
            inputs = scratch / ".grader"
            inputs.mkdir(mode=0o755)
            data_dir = _student_data_dir(config, canon, inputs)
            say(f"running {path.name} in the sandbox")
            try:
                execution = executor.run_cells(
                    cells,
                    probe,
                    scratch=scratch,
                    trusted=trusted,
                    data_dir=data_dir,
                    limits=limits,
                    seed=config.seed,
                    hide=hide,
                    config_file=(
                        config.source if config.source and config.source.is_file() else None
                    ),
                )
            except executor.SandboxError as exc:
                raise GradingError(f"{exc}; the submission was not graded") from None
            say("checking the exported results")
            notes: list[str] = list(warnings)
            evaluations: list[ModelEvaluation] = []
            results = _collect(
                scratch / ".out",
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
    )


def report_to_json(report: GradeReport) -> str:
    """The report as stable, pretty JSON."""
    return json.dumps(report.to_dict(), indent=2, sort_keys=False)
