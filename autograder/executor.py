"""Runs untrusted notebook cells in a separate, locked-down process.

The grading process never imports or executes student code: it writes the cells
and the probe images into a fresh scratch folder, starts :mod:`autograder.harness`
there through :mod:`autograder.sandbox_init` (namespaces, read-only filesystem,
unprivileged uid, cgroups and rlimits, as far as the machine allows), watches the
wall clock of the whole run and of each cell, and kills everything on overrun.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autograder.config import CourseConfig

#: Each run gets its own unused uid (and gid) from this range: per-uid limits such as
#: RLIMIT_NPROC then count this run only, and concurrent runs cannot signal each other.
SANDBOX_UIDS = (200_000, 2**31 - 2)
UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"
NAMESPACE_FLAGS = ("--net", "--pid", "--fork", "--kill-child", "--mount-proc", "--ipc", "--uts")
#: Seconds a cell may overrun its limit before the hard kill (the harness interrupts first).
GRACE_S = 15.0
POLL_S = 0.1
MAX_FILE_BYTES = 512 * 2**20
MAX_OPEN_FILES = 1024
OUTPUT_TAIL = 4000
CGROUP_ROOT = Path("/sys/fs/cgroup")
#: Shared folders the sandbox sees empty (other submissions' scratch folders, home
#: folders); the kit's own folder is covered too. Only what the harness needs is bound
#: back in: Python, the autograder package, MNIST and the run's scratch folder.
COVERED = ("/tmp", "/var/tmp", "/dev/shm", "/home", "/root")
PACKAGE = Path(__file__).resolve().parent
KIT = PACKAGE.parent
#: Folders too general to cover when the kit sits directly in one of them.
SYSTEM_FOLDERS = ("/", "/usr", "/usr/local", "/opt", "/srv", "/var", "/mnt", "/media")


def covered_folders() -> list[str]:
    """What the sandbox sees empty: the shared folders above, the kit, and the folder
    the kit is in (other checkouts of the course, with their solutions, live there)."""
    covers = [*COVERED, str(KIT)]
    if str(KIT.parent) not in SYSTEM_FOLDERS:
        covers.append(str(KIT.parent))
    return covers


@dataclass(frozen=True)
class Limits:
    """Budgets for one submission (from course.yaml's grading section)."""

    submission_timeout_s: float
    cell_timeout_s: float
    memory_mb: int
    max_processes: int

    @classmethod
    def from_config(cls, config: CourseConfig) -> Limits:
        grading = config.grading
        return cls(
            grading.submission_timeout_s,
            grading.cell_timeout_s,
            grading.memory_mb,
            grading.max_processes,
        )


@dataclass(frozen=True)
class Execution:
    """How the sandboxed run ended; ``reason`` is None when the harness finished."""

    returncode: int | None
    reason: str | None
    wall_s: float
    enforced: tuple[str, ...]
    missing: tuple[str, ...]
    output_tail: str
    last_cell: str = ""


@functools.cache
def namespaces_available() -> bool:
    """Whether this machine lets us start processes in fresh namespaces (root, unshare)."""
    if os.geteuid() != 0 or not Path(UNSHARE).exists():
        return False
    try:
        done = subprocess.run(
            [UNSHARE, *NAMESPACE_FLAGS, "true"], capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


class Cgroups:
    """Memory and process-count cgroups (v1 or v2) for one run, where we may create them."""

    def __init__(self, memory_bytes: int, max_processes: int) -> None:
        self.folders: list[Path] = []
        self.name = f"autograder-{uuid.uuid4().hex[:12]}"
        if os.geteuid() != 0:
            return
        if (CGROUP_ROOT / "cgroup.controllers").exists():
            self._make(CGROUP_ROOT, {"memory.max": memory_bytes, "pids.max": max_processes})
        else:
            self._make(CGROUP_ROOT / "memory", {"memory.limit_in_bytes": memory_bytes})
            self._make(CGROUP_ROOT / "pids", {"pids.max": max_processes})

    def _make(self, parent: Path, settings: dict[str, int]) -> None:
        if not parent.is_dir():
            return
        folder = parent / self.name
        try:
            folder.mkdir()
        except OSError:
            return
        try:
            for key, value in settings.items():
                (folder / key).write_text(str(value))
        except OSError:
            folder.rmdir()
            return
        self.folders.append(folder)

    @property
    def procs_files(self) -> list[str]:
        return [str(folder / "cgroup.procs") for folder in self.folders]

    def out_of_memory(self) -> bool:
        """Whether the kernel had to kill or refuse memory in this run's cgroup."""
        for folder in self.folders:
            for name in ("memory.events", "memory.oom_control"):
                path = folder / name
                if path.is_file():
                    for line in path.read_text().splitlines():
                        key, _, value = line.partition(" ")
                        if key == "oom_kill" and value.strip() not in ("", "0"):
                            return True
        return False

    def close(self) -> None:
        """Kill whatever is left in our cgroups and remove them."""
        for folder in self.folders:
            for _ in range(50):
                try:
                    pids = [int(p) for p in (folder / "cgroup.procs").read_text().split()]
                except OSError:
                    pids = []
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                try:
                    folder.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)


def _open_to_others(path: str) -> bool:
    """Whether another uid can reach ``path`` (every folder above it is o+x)."""
    target = Path(path).resolve()
    return all(folder.stat().st_mode & 0o001 for folder in target.parents)


def _read_capped(path: Path, limit: int) -> bytes | None:
    """Bytes of a regular file written by the sandbox, or None (missing, odd, too big).

    Neither the file nor the folder it is in may be a link."""
    flags = os.O_RDONLY | os.O_NOFOLLOW
    try:
        folder = os.open(path.parent, flags | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        handle = os.open(path.name, flags | os.O_NONBLOCK, dir_fd=folder)
    except OSError:
        return None
    finally:
        os.close(folder)
    info = os.fstat(handle)
    if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
        os.close(handle)
        return None
    with os.fdopen(handle, "rb") as file:
        return file.read(limit)


def _last_progress(path: Path) -> tuple[int, str]:
    """Number of progress lines and the cell the last one names."""
    raw = _read_capped(path, 2**20) or b""
    lines = raw.decode("utf-8", "replace").splitlines()
    if not lines:
        return 0, ""
    try:
        cell = json.loads(lines[-1]).get("cell", "")
    except (ValueError, AttributeError, RecursionError):  # written by student code too
        cell = ""
    return len(lines), str(cell if isinstance(cell, str | int) else "")[:100]


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as file:
            file.seek(max(0, path.stat().st_size - OUTPUT_TAIL))
            return file.read().decode("utf-8", "replace")
    except OSError:
        return ""


def sandbox_environment(
    scratch: Path, data_dir: Path, seed: int, config_file: Path | None = None
) -> dict[str, str]:
    """The whole environment of student code: no secrets, everything inside scratch."""
    course = {"COURSE_CONFIG": str(config_file)} if config_file else {}
    return {
        **course,
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(scratch),
        "TMPDIR": str(scratch / "tmp"),
        "MNIST_DATA": str(data_dir),
        "KERAS_HOME": str(scratch / ".keras"),
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(scratch / ".config" / "matplotlib"),
        "IPYTHONDIR": str(scratch / ".ipython"),
        "PYTHONHASHSEED": str(seed),
        "PYTHONDONTWRITEBYTECODE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "TF_DETERMINISTIC_OPS": "1",
        "LANG": "C.UTF-8",
        "USER": "student",  # the run's uid has no passwd entry; getpass.getuser() reads these
        "LOGNAME": "student",
    }


def _prepare_scratch(scratch: Path, owner: int | None) -> tuple[Path, Path]:
    inputs, out = scratch / ".grader", scratch / ".out"
    for folder in (scratch, scratch / "tmp", out):
        folder.mkdir(exist_ok=True)
        if owner is not None:
            os.chown(folder, owner, owner)
    inputs.mkdir(mode=0o755, exist_ok=True)
    scratch.chmod(0o700)
    return inputs, out


def run_cells(
    cells: list[dict[str, object]],
    probe: np.ndarray,
    *,
    scratch: Path,
    trusted: Path,
    data_dir: Path,
    limits: Limits,
    seed: int,
    hide: tuple[Path, ...] = (),
    config_file: Path | None = None,
) -> Execution:
    """Run ``cells`` in the sandbox with ``scratch`` as working folder; artifacts land
    in ``scratch/.out``. ``trusted`` is a folder the sandbox cannot write."""
    isolated = namespaces_available()
    as_root = os.geteuid() == 0
    # Without a mount namespace, private folders (e.g. a Python under /root) cannot be
    # exposed to another uid, so the run keeps our uid (and says so).
    owner = None
    if as_root and (isolated or _open_to_others(sys.executable)):
        owner = SANDBOX_UIDS[0] + secrets.randbelow(SANDBOX_UIDS[1] - SANDBOX_UIDS[0])
    inputs, out = _prepare_scratch(scratch, owner)
    (inputs / "cells.json").write_text(json.dumps(cells), encoding="utf-8")
    np.save(inputs / "probe.npy", probe, allow_pickle=False)
    if config_file is not None:  # a copy: the folder around course.yaml stays hidden
        shutil.copyfile(config_file, inputs / "course.yaml")
        config_file = inputs / "course.yaml"
    for path in (inputs / "cells.json", inputs / "probe.npy", config_file):
        if path is not None:
            path.chmod(0o644)

    memory = limits.memory_mb * 2**20
    cgroups = Cgroups(memory, limits.max_processes)
    spec = {
        "namespaces": isolated,
        "cover": covered_folders(),
        "expose": [
            sys.base_prefix, sys.prefix, sys.exec_prefix, str(PACKAGE), str(data_dir),
            str(scratch),
        ],
        "hide": [str(path) for path in hide],
        "writable": [str(scratch)],
        "cgroup_procs": cgroups.procs_files,
        "rlimits": {
            "AS": memory,
            "CPU": int(limits.submission_timeout_s * max(1, os.cpu_count() or 1)) + 60,
            "FSIZE": MAX_FILE_BYTES,
            "CORE": 0,
            "NPROC": limits.max_processes,
            "NOFILE": MAX_OPEN_FILES,
        },
        "uid": owner,
        "gid": owner,
        "cwd": str(scratch),
        "env": sandbox_environment(scratch, data_dir, seed, config_file),
        "report_fd": None,
        "argv": [
            sys.executable, "-I", "-m", "autograder.harness",
            "--cells", str(inputs / "cells.json"),
            "--probe", str(inputs / "probe.npy"),
            "--out", str(out),
            "--cell-timeout", str(limits.cell_timeout_s),
            "--seed", str(seed),
            *(["--kill-strays"] if isolated else []),
        ],
    }  # fmt: skip
    report_path = trusted / "protections.json"
    report_fd = os.open(report_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    spec["report_fd"] = report_fd
    (trusted / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    command = [sys.executable, "-I", "-m", "autograder.sandbox_init", str(trusted / "spec.json")]
    if isolated:
        command = [UNSHARE, *NAMESPACE_FLAGS, "--", *command]
    log = trusted / "output.log"
    start = time.monotonic()
    reason = None
    try:
        with open(log, "wb") as output:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=trusted,
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                start_new_session=True,
                pass_fds=(report_fd,),
            )
            reason = _watch(process, out / "progress.jsonl", limits, start)
    finally:
        os.close(report_fd)
        cgroups_oom = cgroups.out_of_memory()
        cgroups.close()
    wall = time.monotonic() - start
    code = process.returncode
    if reason is None and cgroups_oom:
        reason = f"the notebook ran out of memory (limit {limits.memory_mb} MB) and was killed"
    last_cell = _last_progress(out / "progress.jsonl")[1]
    if reason is None and code not in (0, None):
        reason = _exit_reason(code, limits, last_cell)
    if reason is None and last_cell != "done":
        reason = (
            f"the notebook process ended during cell {last_cell or 'start-up'} (os._exit, "
            "os.kill or a crash?) before the grader could collect its results"
        )
    report = json.loads(_read_capped(report_path, 2**20) or b"{}")
    return Execution(
        code,
        reason,
        wall,
        tuple(report.get("enforced", [])),
        tuple(report.get("missing", ["sandbox did not start"]))
        + (() if cgroups.folders else ("cgroups (memory and processes limited by rlimits only)",)),
        _tail(log),
        last_cell,
    )


def _exit_reason(code: int, limits: Limits, cell: str) -> str:
    where = f"during cell {cell or 'start-up'}"
    number = -code if code < 0 else code - 128 if code > 128 else None
    if number == signal.SIGKILL:
        return (
            f"the notebook process was killed {where} (it exceeded the memory limit of "
            f"{limits.memory_mb} MB or killed itself)"
        )
    if number == signal.SIGXCPU:
        return f"the notebook process ran out of CPU time {where}"
    if number is not None:
        return f"the notebook process died of signal {number} {where}"
    return (
        f"the notebook process ended {where} with exit status {code} (sys.exit, os._exit or "
        "os.kill in a cell?) before the grader could collect its results"
    )


def _watch(
    process: subprocess.Popen[bytes], progress: Path, limits: Limits, start: float
) -> str | None:
    """Wait for ``process``; kill its whole group on a timeout and say why."""
    seen, cell, since = 0, "", start
    while process.poll() is None:
        now = time.monotonic()
        count, last = _last_progress(progress)
        if count != seen:
            seen, cell, since = count, last, now
        reason = None
        if now - start > limits.submission_timeout_s:
            reason = (
                f"the notebook did not finish within the submission limit of "
                f"{limits.submission_timeout_s:g} s (stopped in cell {cell or 'start-up'})"
            )
        elif seen and now - since > limits.cell_timeout_s + GRACE_S:
            reason = (
                f"cell {cell} ran past the per-cell limit of {limits.cell_timeout_s:g} s and "
                "could not be interrupted (an endless loop?)"
            )
        if reason:
            _kill(process)
            return reason
        time.sleep(POLL_S)
    _kill(process)  # anything the run left behind in its session
    return None


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
