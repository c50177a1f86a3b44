"""Runs untrusted notebook cells in a separate, locked-down process.

The grading process never imports or executes student code: it writes the cells into
the scratch folder's inputs, starts :mod:`autograder.harness` through
:mod:`autograder.sandbox_init` (namespaces, as root or inside a user namespace; a
filesystem built from an empty root with a fixed-size scratch tmpfs; no capabilities;
cgroups and rlimits, as far as the machine allows), follows the harness's progress
over a pipe, checking every line, hands it the probe images over another pipe only
when it announces the export step, watches the wall clock of the whole run and of
each cell, and kills everything on overrun or on a forged progress line.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.util
import io
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autograder import messages
from mnist_course.config import CONFIG_FILENAME, CourseConfig

#: Each run gets its own unused uid (and gid) from this range: per-uid limits such as
#: RLIMIT_NPROC then count this run only, and concurrent runs cannot signal each other.
SANDBOX_UIDS = (200_000, 2**31 - 2)
UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"
NAMESPACE_FLAGS = ("--net", "--pid", "--fork", "--kill-child", "--mount-proc", "--ipc", "--uts")
#: Without root: the same namespaces inside a user namespace of the run's own.
USER_NAMESPACE_FLAGS = ("--user", "--map-root-user")
#: How student code is isolated (``isolation_mode()``): as root, plain namespaces and a
#: uid of its own; otherwise a user namespace.
ROOT_NAMESPACES = "as root, with a uid of its own"
USER_NAMESPACE = "in a user namespace of its own"
#: Seconds a cell may overrun its limit before the hard kill (the harness interrupts first).
GRACE_S = 15.0
POLL_S = 0.1
MAX_FILE_BYTES = 512 * 2**20
MAX_OPEN_FILES = 1024
OUTPUT_TAIL = 4000
#: The harness writes a short line per cell over its progress pipe; more than this is
#: student code writing there, which stops the run.
MAX_PROGRESS_BYTES = 2**20
#: The scratch folder is a tmpfs of this size and number of files: the course's arrays,
#: models and caches need well under a tenth of it, and a notebook that fills it only
#: fills its own memory-backed folder, never the grader's disk.
SCRATCH_BYTES = 512 * 2**20
SCRATCH_INODES = 16_384
#: What the sandbox's init copies out of the export folder (regular files only): three
#: course models and a few arrays take a few MB.
EXPORT_MAX_FILES = 32
EXPORT_MAX_BYTES = 256 * 2**20
EXPORT = ".out"
#: The scratch folder's read-only folder of the grader's inputs (cells, exports, data).
INPUTS = ".grader"
#: The harness's job in the inputs folder (messages.HarnessJob).
HARNESS_JOB = "job.json"
#: Folders the harness needs in scratch: TMPDIR and the export folder.
SCRATCH_FOLDERS = ("tmp", EXPORT)
#: Forwarded from the grader's environment when set, so a batch grader running several
#: sandboxes side by side can size TensorFlow's thread pools.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
CGROUP_ROOT = Path("/sys/fs/cgroup")
SITE_FOLDERS = ("site-packages", "dist-packages")
#: The kit's packages the sandbox runs: the harness and the core package it imports.
#: Never reference/ or authoring/, which sit beside them.
KIT_PACKAGES = ("mnist_course", "autograder")
PACKAGES = tuple(Path(importlib.util.find_spec(name).origin).parent for name in KIT_PACKAGES)
#: The folders these packages were imported from. Every process the grader starts (the
#: grading process, the model judge, the sandbox) puts them first on its sys.path, so it
#: runs the same copy of the kit as its parent, wherever the venv's install points.
KIT_ROOTS = tuple(dict.fromkeys(str(package.parent) for package in PACKAGES))
_RUN_KIT_MODULE = (
    "import os, runpy, sys; roots, module, *args = sys.argv[1:]; "
    "sys.path[:0] = [root for root in roots.split(os.pathsep) if root not in sys.path]; "
    "sys.argv = [module, *args]; runpy.run_module(module, run_name='__main__', alter_sys=True)"
)
#: What the sandbox sees of the machine besides Python, the package, the data and its
#: scratch: the shared libraries Python and TensorFlow load and the /etc files they read.
SYSTEM_PATHS = (
    "/usr/lib",
    "/usr/lib64",
    "/usr/lib32",
    "/lib",
    "/lib64",
    "/lib32",
    "/libx32",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/mime.types",
)


def kit_command(module: str, *, isolated: bool = False) -> list[str]:
    """The command that runs ``module`` of the kit imported here (``python -m`` would
    find whichever copy the child's working folder or the venv's install points at).
    ``isolated``: Python's -I, which ignores the environment and the user's site."""
    flags = ["-I"] if isolated else []
    return [sys.executable, *flags, "-c", _RUN_KIT_MODULE, os.pathsep.join(KIT_ROOTS), module]


def exposed_paths(data_dir: Path, scratch: Path) -> list[str]:
    """Everything bound (read-only) into the sandbox's empty root, besides its scratch
    tmpfs and the grader's inputs inside it."""
    paths = [*SYSTEM_PATHS, sys.base_prefix, sys.prefix, sys.exec_prefix]
    paths += [str(package) for package in PACKAGES]
    # Site folders a .pth file added (a venv built on another one's packages), never
    # other folders on sys.path (a test runner puts the kit's tests there).
    paths += [entry for entry in sys.path if Path(entry).name in SITE_FOLDERS]
    if not Path(data_dir).resolve().is_relative_to(scratch.resolve()):
        paths.append(str(data_dir))
    return paths


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


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the sandbox's first process, before exec: SIGKILL when the grading process
    dies, so a grading process killed by a batch takes its sandbox with it (its own
    session is out of reach of the group kill)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class SandboxError(RuntimeError):
    """The sandbox could not run the notebook at all: the grader's failure, not the
    student's (no cell had started)."""


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


def _unshare_works(*flags: str) -> bool:
    if not Path(UNSHARE).exists():
        return False
    try:
        done = subprocess.run(
            [UNSHARE, *flags, "true"], capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@functools.cache
def namespaces_available() -> bool:
    """Whether this machine lets us start processes in fresh namespaces as root."""
    return os.geteuid() == 0 and _unshare_works(*NAMESPACE_FLAGS)


@functools.cache
def user_namespaces_available() -> bool:
    """Whether the same namespaces can be had inside an unprivileged user namespace."""
    return _unshare_works(*USER_NAMESPACE_FLAGS, *NAMESPACE_FLAGS)


def isolation_mode() -> str | None:
    """How student code will be isolated here (None: not at all)."""
    if namespaces_available():
        return ROOT_NAMESPACES
    if user_namespaces_available():
        return USER_NAMESPACE
    return None


def isolation_available() -> bool:
    """Whether student code can be run isolated (the grader refuses otherwise, unless
    told to accept the risk)."""
    return isolation_mode() is not None


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


class OutputTail(threading.Thread):
    """Drains the sandbox's stdout and stderr, keeping only the last ``OUTPUT_TAIL``
    bytes: what a notebook prints never lands on the grader's disk."""

    def __init__(self, handle: int) -> None:
        super().__init__(daemon=True)
        self.handle = handle
        self.tail = b""

    def run(self) -> None:
        while chunk := os.read(self.handle, 65536):
            self.tail = (self.tail + chunk)[-OUTPUT_TAIL:]
        os.close(self.handle)

    def text(self) -> str:
        self.join(timeout=5)
        return self.tail.decode("utf-8", "replace")


class Progress:
    """What the harness reports over its progress pipe, checked line by line against
    the cells it was given: the cells in order, then ``export`` and ``done``. Student
    code shares the harness's process and can write there too, so anything else (too
    much, not JSON, out of order) is a violation that stops the run."""

    def __init__(self, handle: int, cells: list[messages.HarnessCell]) -> None:
        self.handle = handle
        self.expected: list[object] = [cell.index for cell in cells] + ["export", "done"]
        self.seen = 0
        self.received = 0
        self.pending = b""
        self.violation: str | None = None

    @property
    def cell(self) -> str:
        """The step the harness last announced ("" before the first cell)."""
        return str(self.expected[self.seen - 1]) if self.seen else ""

    def read(self) -> bool:
        """Take what arrived; whether a new step was announced."""
        before = self.seen
        while self.violation is None:
            try:
                chunk = os.read(self.handle, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            self.received += len(chunk)
            if self.received > MAX_PROGRESS_BYTES:
                self.violation = (
                    f"more than {MAX_PROGRESS_BYTES} bytes arrived on the grader's progress "
                    f"channel during cell {self.cell or 'start-up'} (only the grader writes "
                    "there; the notebook wrote to it), so the run was stopped"
                )
                break
            *lines, self.pending = (self.pending + chunk).split(b"\n")
            for line in lines:
                self._take(line)
        return self.seen != before

    def _take(self, line: bytes) -> None:
        if self.violation is not None:
            return
        try:
            step = messages.HarnessProgress.decode(line).cell
        except (messages.MessageError, RecursionError):
            step = None
        if self.seen < len(self.expected) and step == self.expected[self.seen]:
            self.seen += 1
            return
        self.violation = (
            f"the grader's progress channel received a line that is not the next step "
            f"after cell {self.cell or 'start-up'} (only the grader writes there; the "
            "notebook wrote to it), so the run was stopped"
        )


def sandbox_environment(
    scratch: Path, data_dir: Path, seed: int, config_file: Path | None = None
) -> dict[str, str]:
    """The whole environment of student code: no secrets, everything inside scratch."""
    course = {"COURSE_CONFIG": str(config_file)} if config_file else {}
    threads = {name: os.environ[name] for name in THREAD_VARIABLES if name in os.environ}
    return {
        **course,
        **threads,
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


def _prepare_scratch(scratch: Path, owner: int | None, isolated: bool) -> Path:
    """The grader's inputs folder; without isolation also the folders the harness
    writes (isolated, those live in the sandbox's scratch tmpfs)."""
    inputs = scratch / INPUTS
    scratch.mkdir(exist_ok=True)
    for name in () if isolated else SCRATCH_FOLDERS:
        (scratch / name).mkdir(exist_ok=True)
        if owner is not None:
            os.chown(scratch / name, owner, owner)
    if owner is not None and not isolated:
        os.chown(scratch, owner, owner)
    inputs.mkdir(mode=0o755, exist_ok=True)
    inputs.chmod(0o755)
    scratch.chmod(0o700)
    return inputs


def _pipe(*, reader_blocks: bool) -> tuple[int, int]:
    """A pipe whose grader end does not block the watch loop."""
    read, write = os.pipe()
    os.set_blocking(write if reader_blocks else read, False)
    return read, write


def run_cells(
    cells: list[dict[str, object]],
    probe: np.ndarray,
    *,
    exports: Sequence[Mapping[str, str]] = (),
    scratch: Path,
    trusted: Path,
    data_dir: Path,
    limits: Limits,
    seed: int,
    hide: tuple[Path, ...] = (),
    course_yaml: str | None = None,
) -> Execution:
    """Run ``cells`` in the sandbox with ``scratch`` as working folder; artifacts land
    in ``scratch/.out``. ``trusted`` is a folder the sandbox cannot see. The probe
    images reach the harness over a pipe only once it announces the export step.
    ``exports`` is the assignment's contract (name and kind of each export);
    ``course_yaml`` the text of the course.yaml student code loads (the folder around the
    grader's own stays hidden)."""
    mode = isolation_mode()
    as_root = os.geteuid() == 0
    # Without a mount namespace, private folders (e.g. a Python under /root) cannot be
    # exposed to another uid, so the run keeps our uid (and says so).
    owner = None
    if as_root and (mode == ROOT_NAMESPACES or (mode is None and _open_to_others(sys.executable))):
        owner = SANDBOX_UIDS[0] + secrets.randbelow(SANDBOX_UIDS[1] - SANDBOX_UIDS[0])
    inputs = _prepare_scratch(scratch, owner, mode is not None)
    out = scratch / EXPORT
    job = messages.HarnessJob(
        cells=[
            messages.HarnessCell(int(cell["index"]), str(cell["source"]), bool(cell.get("skip")))
            for cell in cells
        ],
        exports=[messages.HarnessExport(export["name"], export["kind"]) for export in exports],
    )
    (inputs / HARNESS_JOB).write_text(job.encode(), encoding="utf-8")
    config_file = None
    if course_yaml is not None:
        config_file = inputs / CONFIG_FILENAME
        config_file.write_text(course_yaml, encoding="utf-8")
    for path in (inputs / HARNESS_JOB, config_file):
        if path is not None:
            path.chmod(0o644)
    progress_read, progress_write = _pipe(reader_blocks=False)
    probe_read, probe_write = _pipe(reader_blocks=True)
    output_read, output_write = os.pipe()
    sandbox_fds = (progress_write, probe_read)

    memory = limits.memory_mb * 2**20
    cgroups = Cgroups(memory, limits.max_processes)
    report_path = trusted / "protections.json"
    report_fd = os.open(report_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    spec = messages.SandboxSpec(
        mode=mode,
        root=str(trusted / "root"),
        expose=exposed_paths(data_dir, scratch),
        hide=[str(path) for path in hide],
        scratch=str(scratch),
        scratch_tmpfs=f"size={SCRATCH_BYTES},nr_inodes={SCRATCH_INODES}",
        scratch_folders=list(SCRATCH_FOLDERS),
        inputs=str(inputs),
        export=EXPORT,
        export_max_files=EXPORT_MAX_FILES,
        export_max_bytes=EXPORT_MAX_BYTES,
        pass_fds=list(sandbox_fds),
        cgroup_procs=list(cgroups.procs_files),
        rlimits={
            "AS": memory,
            "CPU": int(limits.submission_timeout_s * max(1, os.cpu_count() or 1)) + 60,
            "FSIZE": MAX_FILE_BYTES,
            "CORE": 0,
            "NPROC": limits.max_processes,
            "NOFILE": MAX_OPEN_FILES,
        },
        uid=owner,
        gid=owner,
        cwd=str(scratch),
        env=sandbox_environment(scratch, data_dir, seed, config_file),
        report_fd=report_fd,
        argv=[
            *kit_command("autograder.harness", isolated=True),
            "--job", str(inputs / HARNESS_JOB),
            "--progress-fd", str(progress_write),
            "--probe-fd", str(probe_read),
            "--out", str(out),
            "--cell-timeout", str(limits.cell_timeout_s),
            "--seed", str(seed),
            *(["--kill-strays"] if mode else []),
        ],
    )  # fmt: skip
    (trusted / "spec.json").write_text(spec.encode(), encoding="utf-8")
    command = [*kit_command("autograder.sandbox_init", isolated=True), str(trusted / "spec.json")]
    if mode == ROOT_NAMESPACES:
        command = [UNSHARE, *NAMESPACE_FLAGS, "--", *command]
    elif mode == USER_NAMESPACE:
        command = [UNSHARE, *USER_NAMESPACE_FLAGS, *NAMESPACE_FLAGS, "--", *command]
    start = time.monotonic()
    reason = None
    progress = Progress(progress_read, job.cells)
    sender = ProbeSender(probe_write, probe)
    output = OutputTail(output_read)
    try:
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output_write,
                stderr=subprocess.STDOUT,
                cwd=trusted,
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                start_new_session=True,
                pass_fds=(report_fd, *sandbox_fds),
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - async-signal-safe prctl only
            )
        finally:
            for handle in (report_fd, output_write, *sandbox_fds):
                os.close(handle)
        output.start()
        reason = _watch(process, progress, sender, limits, start)
    finally:
        os.close(progress_read)
        sender.close()
        cgroups_oom = cgroups.out_of_memory()
        cgroups.close()
    wall = time.monotonic() - start
    code = process.returncode
    if mode is not None and not os.path.lexists(out):  # stopped before its init copied out
        out.mkdir()
    if reason is None and cgroups_oom:
        reason = f"the notebook ran out of memory (limit {limits.memory_mb} MB) and was killed"
    last_cell = progress.cell
    if not last_cell and progress.violation is None:
        # No cell ever started, so no student code ran: the grader could not start it.
        tail = " | ".join(output.text().strip().splitlines()[-3:])[-600:]
        raise SandboxError(
            f"the sandbox could not start the notebook ({reason or f'exit status {code}'}); "
            f"its last output: {tail or '(none)'}"
        )
    if reason is None and code not in (0, None):
        reason = _exit_reason(code, limits, last_cell)
    if reason is None and last_cell != "done":
        reason = (
            f"the notebook process ended during cell {last_cell or 'start-up'} (os._exit, "
            "os.kill or a crash?) before the grader could collect its results"
        )
    written = _read_capped(report_path, 2**20)
    report = (
        messages.Protections.decode(written)
        if written
        else messages.Protections(enforced=[], missing=["sandbox did not start"])
    )
    return Execution(
        code,
        reason,
        wall,
        tuple(report.enforced),
        tuple(report.missing)
        + (() if cgroups.folders else ("cgroups (memory and processes limited by rlimits only)",)),
        output.text(),
        last_cell,
    )


class ProbeSender:
    """The grader's end of the probe pipe: the images are written once, at the export
    step, and the pipe closed (the harness reads to its end)."""

    def __init__(self, handle: int, probe: np.ndarray) -> None:
        self.handle: int | None = handle
        buffer = io.BytesIO()
        np.save(buffer, probe, allow_pickle=False)
        self.data = buffer.getvalue()

    def send(self) -> None:
        if self.handle is not None:
            with contextlib.suppress(OSError):  # the harness may be gone already
                os.write(self.handle, self.data)
            self.close()

    def close(self) -> None:
        if self.handle is not None:
            os.close(self.handle)
            self.handle = None


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
    process: subprocess.Popen[bytes],
    progress: Progress,
    probe: ProbeSender,
    limits: Limits,
    start: float,
) -> str | None:
    """Wait for ``process``, handing over the probe when the export step is announced;
    kill its whole group on a timeout or a progress violation and say why."""
    since = start
    while process.poll() is None:
        now = time.monotonic()
        if progress.read():
            since = now
        if progress.seen >= len(progress.expected) - 1:  # "export" announced
            probe.send()
        cell = progress.cell
        reason = progress.violation
        if reason is None and now - start > limits.submission_timeout_s:
            reason = (
                f"the notebook did not finish within the submission limit of "
                f"{limits.submission_timeout_s:g} s (stopped in cell {cell or 'start-up'})"
            )
        elif reason is None and progress.seen and now - since > limits.cell_timeout_s + GRACE_S:
            reason = (
                f"cell {cell} ran past the per-cell limit of {limits.cell_timeout_s:g} s and "
                "could not be interrupted (an endless loop?)"
            )
        if reason:
            _kill(process)
            return reason
        time.sleep(POLL_S)
    _kill(process)  # anything the run left behind in its session
    progress.read()
    return progress.violation


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
