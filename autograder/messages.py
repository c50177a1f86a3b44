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

    def encode(self) -> str:
        fields = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        return json.dumps({"kind": self.KIND, "version": self.VERSION, **fields})

    @classmethod
    def decode(cls, text: str | bytes) -> Self:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise MessageError(f"{cls.KIND} message is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise MessageError(f"{cls.KIND} message is not a JSON object")
        kind, version = data.pop("kind", None), data.pop("version", None)
        if kind != cls.KIND:
            raise MessageError(f"expected a {cls.KIND} message, got {kind!r}")
        if version != cls.VERSION:
            raise MessageError(
                f"{cls.KIND} message of version {version!r}, but this kit reads version "
                f"{cls.VERSION}: the two processes run different versions of the kit"
            )
        hints = typing.get_type_hints(cls)
        names = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        missing = [name for name in names if name not in data]
        if unknown or missing:
            raise MessageError(
                f"{cls.KIND} message: unknown fields {unknown}, missing fields {missing}"
            )
        for name in names:
            if not _has_type(data[name], hints[name]):
                raise MessageError(
                    f"{cls.KIND} message: {name} must be {hints[name]}, got {data[name]!r:.80}"
                )
        return cls(**data)


def _has_type(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a field's type (str, int, bool, None, and lists and
    dicts of those)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_has_type(value, option) for option in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_has_type(entry, item) for entry in value)
    if origin is dict:
        key, item = typing.get_args(hint)
        return isinstance(value, dict) and all(
            _has_type(k, key) and _has_type(v, item) for k, v in value.items()
        )
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
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
