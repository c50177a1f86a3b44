"""The sandbox's walls, one test each: what it shows of the machine, the keyring, host
sockets, a full scratch folder, daemons, forged data-stage results and a forged
progress channel; and the same walls without root, in a user namespace."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest

from autograder import executor, sandbox_init
from autograder.grader import grade_submission, read_cells
from mnist_course.data import resolve_folder

isolated = pytest.mark.skipif(
    not executor.isolation_available(), reason="needs Linux namespaces (unshare)"
)
ABSTRACT_SOCKET = b"\0autograder-sandbox-test"
#: What every sandbox has at its root besides the folders it binds in.
OWN_FOLDERS = {"proc", "dev", "tmp", "etc"}


def _errors(report) -> dict[str, str]:
    """The notes of failing cells, by the word each scenario cell starts its error with."""
    found = {}
    for note in report.notes:
        _, _, error = note.partition(": RuntimeError: ")
        word, _, rest = error.partition(" ")
        if word:
            found[word] = rest
    return found


def _names_on_the_way(folder: str, paths: list[str]) -> set[str]:
    """The entries of ``folder`` that lead to one of ``paths`` (as given or resolved)."""
    names = set()
    for raw in paths:
        for path in {raw, os.path.realpath(raw)}:
            relative = os.path.relpath(path, folder)
            if relative != "." and not relative.startswith(".."):
                names.add(relative.split("/")[0])
    return names


@isolated
def test_the_sandbox_shows_only_what_it_binds_in(grade, outside, helpers):
    (outside / "autograder-sibling" / "work" / ".grader").mkdir(parents=True, exist_ok=True)
    report = grade("look-around")
    seen = {word: json.loads(text) for word, text in _errors(report).items()}
    data = str(resolve_folder(None, helpers.course_config()))
    bound = [*executor.exposed_paths(Path(data), outside), str(outside / "x")]
    kit = str(helpers.repo_root)
    assert set(seen["root"]) <= _names_on_the_way("/", bound) | OWN_FOLDERS
    assert {"proc", "dev", "tmp"} <= set(seen["root"])
    assert set(seen["tmp"]) <= _names_on_the_way("/tmp", bound)  # wherever the kit lives
    assert set(seen["kit"]) <= _names_on_the_way(kit, bound)
    assert {"autograder", "mnist_course"} <= set(seen["kit"])
    assert not {"reference", "authoring"} & set(seen["kit"])
    assert set(seen["around-kit"]) <= _names_on_the_way(str(Path(kit).parent), bound)
    # The grader's folder: its own scratch folder only (no sibling, sentinel or decoy).
    assert len(seen["outside"]) == 1 and seen["outside"][0].startswith("autograder-")
    assert seen["outside"][0] != "autograder-sibling"
    assert seen["kit-found"] == []


@isolated
def test_host_unix_sockets_are_unreachable(grade, outside):
    connections = []
    listeners = []
    for address in (str(outside / "host.sock"), ABSTRACT_SOCKET):
        listener = socket.socket(socket.AF_UNIX)
        try:
            listener.bind(address)
        except OSError as exc:
            pytest.skip(f"cannot listen on {address!r}: {exc}")
        if isinstance(address, str):
            os.chmod(address, 0o777)  # world-writable, like a socket under /run
        listener.listen()
        listener.settimeout(0.2)
        listeners.append(listener)

    def accept(listener: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while True:
                with contextlib.suppress(TimeoutError):
                    connections.append(listener.accept())

    threads = [threading.Thread(target=accept, args=(item,), daemon=True) for item in listeners]
    for thread in threads:
        thread.start()
    try:
        report = grade("host-sockets")
    finally:
        for listener in listeners:
            listener.close()
    errors = [note for note in report.notes if note.startswith(("cell 1", "cell 2"))]
    assert "FileNotFoundError" in errors[0]  # the path does not exist in the sandbox
    assert "ConnectionRefusedError" in errors[1]  # its own network namespace
    assert connections == []


KEYCTL_READ = 11
KEY_SPEC_SESSION_KEYRING = -3
KEY_SPEC_USER_KEYRING = -4


def _add_key(description: bytes, payload: bytes, keyring: int) -> int:
    numbers = sandbox_init.SYSCALLS.get(os.uname().machine)
    if numbers is None:
        pytest.skip("keyring system call numbers unknown on this machine")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    key = libc.syscall(
        ctypes.c_long(numbers["add_key"]), b"user", description, payload,
        ctypes.c_size_t(len(payload)), ctypes.c_int(keyring),
    )  # fmt: skip
    if key < 0:
        pytest.skip(f"this machine has no usable keyring: {os.strerror(ctypes.get_errno())}")
    return int(key)


#: Notebook code: read a key by id and add keys to the session and user keyrings;
#: every outcome is raised as the cell's error.
KEYRING_CELL = """\
import ctypes, os
from autograder.sandbox_init import SYSCALLS
numbers = SYSCALLS[os.uname().machine]
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def outcome(result):
    return 'ok' if result >= 0 else os.strerror(ctypes.get_errno())
buffer = ctypes.create_string_buffer(64)
results = [outcome(libc.syscall(ctypes.c_long(numbers['keyctl']), {read}, key, buffer, 64))
           for key in {keys}]
for keyring in (-3, -4):
    added = libc.syscall(ctypes.c_long(numbers['add_key']), b'user', b'left-behind', b'x',
                         ctypes.c_size_t(1), ctypes.c_int(keyring))
    results.append(added)
raise RuntimeError(repr(results))
"""


def _cells(*sources: str) -> list[dict[str, object]]:
    return [{"index": i, "source": source, "skip": False} for i, source in enumerate(sources)]


@pytest.fixture
def run(tmp_path, mnist_dir):
    """Run cells in the sandbox; returns the execution and the exported manifest."""
    count = iter(range(100))

    def run_cells(*sources: str) -> tuple[executor.Execution, dict]:
        folder = tmp_path / f"run-{next(count)}"
        (folder / "trusted").mkdir(parents=True)
        limits = executor.Limits(60, 10, 6144, 256)
        execution = executor.run_cells(
            _cells(*sources), np.zeros((7, 28, 28), np.uint8), scratch=folder / "scratch",
            trusted=folder / "trusted", data_dir=mnist_dir, limits=limits, seed=42,
        )  # fmt: skip
        manifest = folder / "scratch" / ".out" / "manifest.json"
        return execution, json.loads(manifest.read_text()) if manifest.is_file() else {}

    return run_cells


def _cell_error(manifest: dict, index: int) -> str:
    return next(cell for cell in manifest["cells"] if cell["index"] == index).get("error", "")


@isolated
def test_the_graders_keyring_is_out_of_reach(run):
    secret = _add_key(b"autograder-test-secret", b"do-not-leak", KEY_SPEC_SESSION_KEYRING)
    execution, manifest = run(KEYRING_CELL.format(read=KEYCTL_READ, keys=[secret]))
    assert execution.reason is None, execution.output_tail
    read, *added = eval(_cell_error(manifest, 0).partition(": ")[2])  # noqa: S307 - our own repr
    assert read != "ok"  # the grader's session key
    # Whatever one submission could add, the next one cannot read it.
    _, manifest = run(KEYRING_CELL.format(read=KEYCTL_READ, keys=[key for key in added if key > 0]))
    assert all(result != "ok" for result in eval(_cell_error(manifest, 0).partition(": ")[2]))  # noqa: S307
    assert added == [-1, -1]  # seccomp refuses the keyring system calls outright


@isolated
def test_a_full_scratch_folder_still_gets_graded(grade):
    # What the sandbox guarantees is a full disk, not how fast it fills: writing 512 MiB
    # can outlast the 5 s test cell limit on a busy machine, so these cells get the
    # training limit.
    report = grade("fill-scratch", training=True)
    errors = _errors(report)
    assert {"wrote", "made"} <= errors.keys(), report.notes
    written = int(errors["wrote"].split()[0])
    made = int(errors["made"].split()[0])
    assert written <= executor.SCRATCH_BYTES and "No space left" in errors["wrote"]
    assert made < executor.SCRATCH_INODES and "No space left" in errors["made"]
    checks = {result.id: result for result in report.results}
    for check_id in ("data.load", "data.normalize", "data.flatten"):
        assert checks[check_id].passed, checks[check_id].explain()


@isolated
def test_a_full_scratch_folder_never_reaches_the_grader_disk(tmp_path, mnist_dir, helpers):
    cells, _ = read_cells(helpers.submissions / "submission-fill-scratch.ipynb")
    scratch = tmp_path / "scratch"
    (tmp_path / "trusted").mkdir()
    execution = executor.run_cells(
        cells, np.zeros((7, 28, 28), np.uint8), scratch=scratch, trusted=tmp_path / "trusted",
        data_dir=mnist_dir, limits=executor.Limits(120, 30, 6144, 256), seed=42,
    )  # fmt: skip
    assert execution.reason is None, execution.output_tail
    assert sorted(path.name for path in scratch.iterdir()) == [".grader", ".out"]
    written = sum(path.stat().st_size for path in scratch.rglob("*") if path.is_file())
    assert written < 2**20  # the inputs and the exported arrays only
    assert len(list(scratch.rglob("*"))) < 20


def _processes_named(name: str) -> list[int]:
    pids = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):
            if comm.read_text().strip() == name:
                pids.append(int(comm.parent.name))
    return pids


@isolated
def test_a_daemon_dies_with_its_submission(grade, outside, helpers):
    report = grade("daemon")
    checks = {result.id: result for result in report.results}
    assert checks["data.normalize"].passed, checks["data.normalize"].explain()
    assert _processes_named("ag-daemon") == []
    config = helpers.course_config(cell_timeout_s=5, submission_timeout_s=240)
    path = helpers.submissions / "submission-syntax-error.ipynb"
    after = grade_submission(path, config=config, workdir=outside)
    assert after.results == grade("syntax-error").results


@isolated
def test_a_forged_data_stage_scores_nothing(grade):
    report = grade("forged-data-stage")
    checks = {result.id: result for result in report.results}
    assert not checks["data.normalize"].passed
    assert not checks["data.flatten"].passed
    assert report.score <= 1  # at most data.load, which it really did


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("progress-flood", f"more than {executor.MAX_PROGRESS_BYTES} bytes arrived on the "
                           "grader's progress channel during cell 1"),
        ("progress-forged", "received a line that is not the next step after cell 1"),
    ],
)  # fmt: skip
def test_writing_to_the_progress_channel_stops_the_run(grade, name, reason):
    report = grade(name)
    assert report.score == 0
    message = report.results[0].message
    assert message.startswith("Grading stopped:") and reason in message, message


CAPABILITIES_CELL = """\
import os
status = dict(line.split(':', 1) for line in open('/proc/self/status'))
assert int(status['CapEff'], 16) == 0 and int(status['CapBnd'], 16) == 0, status
assert status['NoNewPrivs'].strip() == '1' and status['Seccomp'].strip() == '2', status
try:
    open('/etc/autograder-escape', 'w')
except OSError:
    pass
else:
    raise AssertionError('the root is writable')
assert 'home' not in os.listdir('/') and 'run' not in os.listdir('/')
open('written.txt', 'w').write('scratch is writable')
"""


@isolated
@pytest.mark.skipif(not executor.user_namespaces_available(), reason="no user namespaces")
def test_the_user_namespace_path_has_the_same_walls(run, monkeypatch):
    monkeypatch.setattr(executor, "isolation_mode", lambda: executor.USER_NAMESPACE)
    execution, manifest = run(CAPABILITIES_CELL, "assert os.getuid() == 0")
    assert execution.reason is None, execution.output_tail
    assert [cell["status"] for cell in manifest["cells"]] == ["ok", "ok"], manifest["cells"]
    assert any("user namespace" in line for line in execution.enforced)


def _reachable_python() -> str | None:
    """A Python interpreter an ordinary user may run (the venv's lives under /root)."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(candidate) and executor._open_to_others(candidate):
            return candidate
    return None


UNPRIVILEGED_GRADER = """\
import json, sys
from pathlib import Path
import numpy as np
from autograder import executor
folder = Path(sys.argv[1])
execution = executor.run_cells(
    [{"index": 0, "source": sys.argv[3], "skip": False}], np.zeros((7, 28, 28), np.uint8),
    scratch=folder / "scratch", trusted=folder / "trusted", data_dir=Path(sys.argv[2]),
    limits=executor.Limits(60, 10, 4096, 256), seed=1)
manifest = json.loads((folder / "scratch" / ".out" / "manifest.json").read_text())
print(json.dumps({"mode": executor.isolation_mode(), "reason": execution.reason,
                  "cells": manifest["cells"]}))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start an unprivileged grader")
@pytest.mark.skipif(not shutil.which("setpriv"), reason="needs setpriv")
def test_an_unprivileged_grader_runs_student_code_in_a_user_namespace(mnist_dir, helpers):
    python = _reachable_python()
    if python is None or not executor._open_to_others(str(helpers.repo_root / "autograder")):
        pytest.skip("no Python (or kit) an ordinary user can reach on this machine")
    folder = Path(tempfile.mkdtemp(prefix="autograder-unprivileged-"))
    try:
        venv = folder / "venv"
        made = subprocess.run([python, "-m", "venv", "--without-pip", str(venv)],
                              capture_output=True, check=False)  # fmt: skip
        sites = [entry for entry in sys.path if Path(entry).name == "site-packages"]
        if made.returncode != 0 or not sites:
            pytest.skip(f"cannot make a venv with {python}: {made.stderr[-200:]!r}")
        site = next(venv.glob("lib/python3*/site-packages"))
        (site / "kit.pth").write_text("".join(f"import site; site.addsitedir({entry!r})\n"
                                              for entry in sites))  # fmt: skip
        (folder / "trusted").mkdir()
        (folder / "grader.py").write_text(UNPRIVILEGED_GRADER)
        for path in (folder, folder / "trusted"):
            os.chown(path, 65534, 65534)
        folder.chmod(0o755)
        done = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             str(venv / "bin" / "python"), str(folder / "grader.py"), str(folder),
             str(mnist_dir), CAPABILITIES_CELL],
            capture_output=True, text=True, timeout=300, check=False, cwd=folder,
            env={"PATH": "/usr/bin:/bin", "HOME": str(folder)},
        )  # fmt: skip
        if done.returncode != 0 and "No module named" in done.stderr:
            pytest.skip(f"the kit does not import under {python}: {done.stderr[-300:]}")
        assert done.returncode == 0, done.stderr[-2000:]
        result = json.loads(done.stdout.splitlines()[-1])
        assert result["mode"] == executor.USER_NAMESPACE
        assert result["reason"] is None
        assert [cell["status"] for cell in result["cells"]] == ["ok"], result["cells"]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_thread_sizing_variables_reach_the_sandbox(monkeypatch, tmp_path):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setenv("TF_NUM_INTEROP_THREADS", "1")
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    monkeypatch.setenv("OTHER_VARIABLE", "1")
    environment = executor.sandbox_environment(tmp_path, tmp_path, 42)
    assert environment["OMP_NUM_THREADS"] == "2" and environment["TF_NUM_INTEROP_THREADS"] == "1"
    assert "TF_NUM_INTRAOP_THREADS" not in environment and "OTHER_VARIABLE" not in environment
