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
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from autograder import artifacts, executor, judge
from autograder.arrays import ArraySummary
from autograder.checks import data as data_checks
from autograder.checks import extensions, models
from autograder.checks.confusion import ModelEvaluation
from autograder.checks.hints import advise
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
from mnist_course.results import CheckResult, fail_all, is_test_cell, spec_for
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


def _summary(raw: Any) -> ArraySummary | None:
    try:
        return ArraySummary.from_dict(raw)
    except ValueError:
        return None


@dataclass(frozen=True)
class _Exported:
    """What the sandbox exported, read without trusting it: ``entry(name)`` is always a
    dict, ``folder`` a descriptor of the export folder, whose file names are the grader's
    own (from the spec), never names from the manifest."""

    manifest: Mapping[str, Any]
    folder: int
    probe: np.ndarray
    canon: Canon
    config: AssignmentConfig

    def entry(self, name: str) -> dict[str, Any]:
        exports = self.manifest.get("exports")
        value = exports.get(name) if isinstance(exports, dict) else None
        return value if isinstance(value, dict) else {}

    def summary(self, name: str) -> ArraySummary | None:
        return _summary(self.entry(name).get("summary"))

    def function_output(self, name: str) -> tuple[np.ndarray | None, str | None]:
        """What function ``name`` returned for the probe images, or why there is nothing."""
        entry = self.entry(name)
        error = entry.get("error") if entry else "it was not called"
        output = None
        if error is None:
            try:
                output = artifacts.read_array(Path(f"{name}.npy"), folder=self.folder)
            except artifacts.ArtifactError as exc:
                error = str(exc)
        return output, None if error is None else str(error)[:500]

    def array(self, name: str) -> data_checks.ArrayEvidence | None:
        summary = self.summary(name)
        if summary is None:
            return None
        try:
            head = artifacts.read_array(Path(f"{name}_head.npy"), folder=self.folder)
        except artifacts.ArtifactError:
            head = None
        return data_checks.ArrayEvidence(summary, head)


def _trusted_load(check: Check, exported: _Exported) -> CheckResult:
    loaded = {name: exported.summary(name) for name in check.reads}
    return data_checks.check_load(loaded, config=exported.config, check_id=check.id)


def _trusted_normalize(check: Check, exported: _Exported) -> CheckResult:
    output, error = exported.function_output(check.reads[0])
    return data_checks.check_normalize(
        exported.probe, output, error=error, config=exported.config, check_id=check.id
    )


def _trusted_flatten(check: Check, exported: _Exported) -> CheckResult:
    output, error = exported.function_output(check.reads[0])
    train, test = check.reads[1:]
    canon = exported.canon
    return data_checks.check_flatten(
        exported.probe,
        output,
        error=error,
        flattened={name: exported.array(name) for name in (train, test)},
        expected_heads={
            train: canon.x_train[: data_checks.HEAD_ROWS],
            test: canon.x_test[: data_checks.HEAD_ROWS],
        },
        config=exported.config,
        check_id=check.id,
    )


def _trusted_search(check: Check, exported: _Exported) -> CheckResult:
    search = extensions.Search.from_export(exported.entry(check.reads[0]))
    return extensions.check_tuning_search(search, config=exported.config)


def _trusted_validation(check: Check, exported: _Exported) -> CheckResult:
    heads = [exported.array(name) for name in check.reads]
    problem = next(
        (f"{name} is not defined." for name, head in zip(check.reads, heads, strict=True)
         if head is None),
        None,
    )  # fmt: skip
    x_head, y_head = (None if head is None else head.head for head in heads)
    canon = exported.canon
    searched = tuple(
        fingerprint
        for name in exported.config.spec.names("tuner")
        for fingerprint in extensions.Search.from_export(exported.entry(name)).validation
    )
    return extensions.check_tuning_validation(
        x_head,
        y_head,
        index=extensions.ImageIndex(canon.x_train, canon.x_test),
        train_labels=canon.y_train,
        config=exported.config,
        problem=problem,
        searched=searched,
    )


#: The trusted side of each judge family that needs no Keras (the stage judges, and those
#: in judge.CHECK_JUDGES, run in the model judge's child process, see autograder.judge).
TRUSTED_JUDGES: dict[str, Callable[[Check, _Exported], CheckResult]] = {
    "data.load": _trusted_load,
    "data.normalize": _trusted_normalize,
    "data.flatten": _trusted_flatten,
    "tuning.search": _trusted_search,
    "tuning.validation": _trusted_validation,
}


def _unit_context(check: Check, exported: _Exported, files: Mapping[str, Any]) -> dict[str, Any]:
    """What the judge's child needs for ``check`` besides the export folder: why its
    model file is missing, the trials and the reported number (all untrusted)."""
    name = check.reads[0]
    entry = exported.entry(name)
    context: dict[str, Any] = {}
    if entry.get("error"):
        context["problem"] = f"{str(entry['error'])[:400]}."
    elif name not in files:
        context["problem"] = f"{name} is not defined after running the notebook."
    if check.judge == "tuning.reproduced":
        reported = exported.entry(check.reads[1]).get("value")
        context["reported"] = (
            float(reported) if isinstance(reported, int | float) and reported == reported else None
        )
        trials = extensions.Search.from_export(exported.entry(check.reads[2])).trials
        context["trials"] = [
            {"hyperparameters": dict(trial.hyperparameters), "score": trial.score}
            for trial in trials
        ]
    return context


def _judge(
    manifest: dict[str, Any],
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
    ``evaluations``. The models are judged in the judge's child process (see
    :mod:`autograder.judge`)."""
    exported = _Exported(manifest, out, probe, canon, config)
    cell_errors = tuple(note.partition(": ")[2] for note in _cell_notes(manifest.get("cells", [])))
    first_error = f" The first failing cell said: {cell_errors[0]}" if cell_errors else ""
    by_id: dict[str, CheckResult] = {}
    for check in config.spec.checks:
        if check.judge in TRUSTED_JUDGES:
            by_id[check.id] = TRUSTED_JUDGES[check.judge](check, exported)

    files = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
    judged_stages = {check.stage for check in config.spec.checks if check.stage is not None}
    problems: dict[str, models.ModelProblem] = {}
    jobs: dict[str, dict[str, Any]] = {}
    evidence = {}
    for stage in config.spec.stages:
        if stage.id not in judged_stages:
            continue
        info = exported.entry(stage.variable)
        evidence[stage.id] = models.training_evidence(info, manifest)
        if info.get("error"):
            problems[stage.id] = models.ModelProblem("unusable", f"{str(info['error'])[:400]}.")
        elif stage.variable not in files:
            problems[stage.id] = models.ModelProblem(
                "missing",
                f"{stage.variable} is not defined after running the notebook.{first_error}",
            )
        else:
            jobs[stage.id] = asdict(evidence[stage.id])
    keras_checks = {
        check.id: _unit_context(check, exported, files)
        for check in config.spec.checks
        if check.judge in judge.CHECK_JUDGES
    }
    try:
        verdicts = judge.judge_models(
            jobs,
            checks=keras_checks,
            folder=out,
            canon=canon,
            config=config,
            retrain=retrain,
            workdir=workdir,
            progress=progress,
        )
    except judge.JudgeError as exc:
        raise GradingError(f"{exc}; the submission was not graded") from None
    for stage_id in evidence:
        verdict = verdicts.get(stage_id)
        if verdict is not None and verdict.results:
            stage_results = list(verdict.results)
            notes += verdict.notes
            evaluations += [verdict.evaluation] if verdict.evaluation else []
        else:
            problem = (
                models.ModelProblem("too_large", verdict.stopped)
                if verdict is not None and verdict.stopped
                else problems[stage_id]
            )
            stage_results = models.check_stage(
                stage_id, None, None, config=config, problem=problem, evidence=evidence[stage_id]
            )
        by_id.update((result.id, result) for result in stage_results)
    for check_id in keras_checks:
        verdict = verdicts.get(judge.CHECK_UNIT + check_id)
        if verdict is not None and verdict.results:
            by_id[check_id] = verdict.results[0]
        else:
            stopped = verdict.stopped if verdict is not None else "it was not judged"
            name = config.spec.check(check_id).reads[0]
            by_id[check_id] = spec_for(check_id, config).failed(
                stopped, advise("object_unusable", name=name)
            )
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
