"""Records that cross a process boundary, each with one encoder and one decoder that both
sides use, so a field is named in one place and never by string on either side.

Every message travels as one JSON object with its ``kind`` and ``version`` beside the
record's fields. A reader refuses a message of another kind or version with an error that
says so (two processes of different kit versions, not a corrupt submission), and refuses
missing, unknown or mistyped fields, naming the field. Standard library only: the sandbox's
init imports this before it locks itself down.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, ClassVar, Self


class MessageError(ValueError):
    """A message is not the record its reader expects; says which part is wrong."""


@dataclasses.dataclass(frozen=True)
class Message:
    """Base of every cross-process record: subclasses set ``KIND`` and ``VERSION``."""

    KIND: ClassVar[str] = ""
    VERSION: ClassVar[int] = 0

    def to_data(self) -> dict[str, Any]:
        """The message as the JSON object it travels as (nested records become objects)."""
        return {"kind": self.KIND, "version": self.VERSION, **dataclasses.asdict(self)}

    def encode(self) -> str:
        return json.dumps(self.to_data())

    @classmethod
    def decode(cls, text: str | bytes) -> Self:
        return cls.from_data(_parse(cls.KIND, text))

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Self:
        """The record from a parsed message, its kind and version checked first."""
        data = dict(data)
        kind, version = data.pop("kind", None), data.pop("version", None)
        if kind != cls.KIND:
            raise MessageError(f"expected a {cls.KIND} message, got {kind!r}")
        if version != cls.VERSION:
            raise MessageError(
                f"{cls.KIND} message of version {version!r}, but this kit reads version "
                f"{cls.VERSION}: the two processes run different versions of the kit"
            )
        return _record(cls, data, cls.KIND)


def _parse(kind: str, text: str | bytes) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise MessageError(f"{kind} message is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MessageError(f"{kind} message is not a JSON object")
    return data


def decode_any(text: str | bytes, kinds: tuple[type[Message], ...]) -> Message:
    """One message of any of ``kinds``, chosen by its ``kind`` (a reader of a stream of
    several kinds of record)."""
    data = _parse(" or ".join(kind.KIND for kind in kinds), text)
    for kind in kinds:
        if data.get("kind") == kind.KIND:
            return kind.from_data(data)
    expected = ", ".join(kind.KIND for kind in kinds)
    raise MessageError(f"expected one of {expected}, got a message of kind {data.get('kind')!r}")


def _record(cls: type, data: dict[str, Any], where: str) -> Any:
    """``cls`` (a dataclass) from JSON ``data``: every field present, none unknown, each of
    its type; nested records and tuples rebuilt from their JSON objects and lists."""
    hints = typing.get_type_hints(cls)
    names = [field.name for field in dataclasses.fields(cls) if field.init]
    unknown = sorted(set(data) - set(names))
    missing = [name for name in names if name not in data]
    if unknown or missing:
        raise MessageError(f"{where} message: unknown fields {unknown}, missing fields {missing}")
    values = {}
    for name in names:
        hint = hints[name]
        if dataclasses.is_dataclass(hint) and isinstance(hint, type):
            if not isinstance(data[name], dict):
                raise MessageError(f"{where} message: {name} must be a {hint.__name__} object")
            values[name] = _record(hint, data[name], f"{where} {name}")
            continue
        item = _record_items(hint)
        if item is not None:
            if not isinstance(data[name], list) or not all(isinstance(v, dict) for v in data[name]):
                raise MessageError(f"{where} message: {name} must be a list of objects")
            values[name] = [_record(item, v, f"{where} {name}") for v in data[name]]
            continue
        if not _has_type(data[name], hint):
            raise MessageError(f"{where} message: {name} must be {hint}, got {data[name]!r:.80}")
        values[name] = tuple(data[name]) if typing.get_origin(hint) is tuple else data[name]
    return cls(**values)


def _record_items(hint: Any) -> type | None:
    """The record type of a ``list[Record]`` field, or None."""
    if typing.get_origin(hint) is not list:
        return None
    (item,) = typing.get_args(hint)
    return item if dataclasses.is_dataclass(item) and isinstance(item, type) else None


def _has_type(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a field's type (str, int, bool, None, and lists and
    dicts of those)."""
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_has_type(value, option) for option in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is list or origin is tuple:  # a tuple[X, ...] travels as a JSON list
        item = typing.get_args(hint)[0]
        return isinstance(value, list) and all(_has_type(entry, item) for entry in value)
    if origin is dict:
        key, item = typing.get_args(hint)
        return isinstance(value, dict) and all(
            _has_type(k, key) and _has_type(v, item) for k, v in value.items()
        )
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:  # JSON writes a whole float as an int
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, hint)


@dataclasses.dataclass(frozen=True)
class SandboxSpec(Message):
    """What the grader's executor tells the sandbox's init to build, limit and run."""

    KIND: ClassVar[str] = "sandbox-spec"
    VERSION: ClassVar[int] = 1

    mode: str | None  # the isolation mode, None when the machine has no namespaces
    root: str  # the empty folder the new root is built in
    expose: list[str]  # bound in read-only at their own paths
    hide: list[str]  # folders inside those that stay out of sight
    scratch: str  # the submission's working folder (a tmpfs inside the root)
    scratch_tmpfs: str  # its mount options (size and inode caps)
    scratch_folders: list[str]
    inputs: str  # the grader's inputs inside the scratch folder (read-only)
    export: str  # the folder the harness exports into, copied out at the end
    export_max_files: int
    export_max_bytes: int
    pass_fds: list[int]  # the harness's descriptors, closed in the init after the fork
    cgroup_procs: list[str]  # cgroup files the init joins
    rlimits: dict[str, int]  # resource name (AS, CPU, ...) -> limit
    uid: int | None  # the unprivileged uid the harness runs as, if any
    gid: int | None
    cwd: str
    env: dict[str, str]
    report_fd: int  # where the init writes its Protections
    argv: list[str]  # the harness's command


@dataclasses.dataclass(frozen=True)
class Protections(Message):
    """What the sandbox's init enforced, and what this machine could not give it."""

    KIND: ClassVar[str] = "sandbox-protections"
    VERSION: ClassVar[int] = 1

    enforced: list[str]
    missing: list[str]


@dataclasses.dataclass(frozen=True)
class HarnessCell:
    """One code cell the harness runs (``skip``: an nbgrader test cell, not run)."""

    index: int
    source: str
    skip: bool


@dataclasses.dataclass(frozen=True)
class HarnessExport:
    """One name of the assignment's contract and how the harness exports it."""

    name: str
    kind: str  # mnist_course.spec.ExportKind


@dataclasses.dataclass(frozen=True)
class HarnessJob(Message):
    """What the grader asks of the sandbox's harness: the cells to run and the names to
    export (the grader's inputs folder, read-only to student code)."""

    KIND: ClassVar[str] = "harness-job"
    VERSION: ClassVar[int] = 1

    cells: list[HarnessCell]
    exports: list[HarnessExport]


@dataclasses.dataclass(frozen=True)
class HarnessProgress(Message):
    """One step the harness announces over its progress pipe: a cell's index as it
    starts, then "export" and "done". Student code shares the harness's process, so the
    executor treats a line that does not decode as the next step as a violation."""

    KIND: ClassVar[str] = "harness-progress"
    VERSION: ClassVar[int] = 1

    cell: int | str
    started: float


@dataclasses.dataclass(frozen=True)
class ExportManifest(Message):
    """What the sandbox's harness exported of the notebook: how each cell ran, each spec
    name's entry (autograder.harness says what each export kind holds) and the files it
    wrote. Written by the student's own process, so the grader reads it with
    :meth:`read_untrusted`, never :meth:`decode`."""

    KIND: ClassVar[str] = "export-manifest"
    VERSION: ClassVar[int] = 1

    cells: list[Any]  # {"index", "status", "error"} per code cell run
    keras_imported: bool
    exports: dict[str, Any]  # spec name -> its entry
    labels_one_hot: bool  # a clue for hints: the loaded labels were (n, 10) rows
    files: dict[str, Any]  # spec name -> the file the harness wrote for it

    @classmethod
    def read_untrusted(cls, data: dict[str, Any]) -> Self:
        """The manifest from its parsed JSON, field by field: a field missing or of the
        wrong type reads as empty (a forged field costs only the checks that read it, as
        a missing export would). Another kind or version is refused."""
        if data.get("kind") != cls.KIND or data.get("version") != cls.VERSION:
            raise MessageError(
                f"the result manifest is a {data.get('kind')!r} message of version "
                f"{data.get('version')!r}, not this kit's {cls.KIND} version {cls.VERSION}"
            )
        hints = typing.get_type_hints(cls)
        values = {}
        for field in dataclasses.fields(cls):
            kind = typing.get_origin(hints[field.name]) or hints[field.name]
            value = data.get(field.name)
            values[field.name] = value if isinstance(value, kind) else kind()
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class ModelUnit:
    """One piece of model-judge work, as a check family planned it (see
    autograder.families.base.ModelWork): ``key`` is unique in a submission, ``variable``
    the notebook name a limit's message names, ``checks`` the ids it gives results for,
    ``job`` what the family's judge reads besides the export folder (None: nothing is
    sent, the grader alone fails it)."""

    key: str
    family: str
    variable: str
    checks: tuple[str, ...]
    job: dict[str, Any] | None = None


@dataclasses.dataclass(frozen=True)
class JudgeJob(Message):
    """What the grader asks of the model judge's child, on its stdin."""

    KIND: ClassVar[str] = "model-judge-job"
    VERSION: ClassVar[int] = 1

    config: dict[str, Any]  # the course's settings, as course.yaml's model dumps them
    assignment: str
    retrain: bool
    canon: dict[str, str]  # array name -> the .npy file the grader saved it to
    workdir: str
    folder: int  # the export folder's descriptor, inherited
    results: int  # the descriptor the child writes its messages to
    units: list[ModelUnit]


@dataclasses.dataclass(frozen=True)
class JudgeReady(Message):
    """The child imported Keras and read the arrays: judging starts."""

    KIND: ClassVar[str] = "model-judge-ready"
    VERSION: ClassVar[int] = 1


@dataclasses.dataclass(frozen=True)
class JudgeProgress(Message):
    """A progress line for the grader's output ("re-training baseline_model's ...")."""

    KIND: ClassVar[str] = "model-judge-progress"
    VERSION: ClassVar[int] = 1

    text: str


@dataclasses.dataclass(frozen=True)
class UnitReport(Message):
    """One unit's verdict: its check results (mnist_course.results.CheckResult fields),
    report notes and the model's trusted evaluation (ModelEvaluation.to_dict)."""

    KIND: ClassVar[str] = "model-judge-unit"
    VERSION: ClassVar[int] = 1

    unit: str
    results: list[dict[str, Any]]
    notes: list[str]
    evaluation: dict[str, Any] | None


@dataclasses.dataclass(frozen=True)
class GradingProcessResult(Message):
    """How a grading process (autograder.pool) ended: a report (GradeReport.to_dict) or
    the grader's own failure, never the student's zero."""

    KIND: ClassVar[str] = "grading-process-result"
    VERSION: ClassVar[int] = 1

    status: str  # "graded" or "error" (autograder.reports.Status)
    report: dict[str, Any] | None
    error: str


#: What the model judge's child writes to the grader, one JSON line each.
JUDGE_MESSAGES: tuple[type[Message], ...] = (JudgeReady, JudgeProgress, UnitReport)
