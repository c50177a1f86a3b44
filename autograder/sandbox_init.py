"""First process inside the sandbox: locks it down, then starts the harness.

Started by :mod:`autograder.executor`, as root inside fresh namespaces where the
machine allows (network, pid, mount, ipc, uts). It covers the kit's folder and the
shared temporary and home folders with empty tmpfs mounts, binds back only what the
harness needs (Python, the autograder package, MNIST, scratch), makes the whole
filesystem read-only except the scratch folder, joins
the cgroups, sets rlimits, drops to an unprivileged uid and forks the harness.
It stays behind as the namespace's init: it reaps orphans and, when the harness
ends, exits, which makes the kernel kill every process left in the namespace.

It writes what it managed to enforce to the report descriptor named in the spec, before
any student code runs. ``python -I -m autograder.sandbox_init SPEC.json``.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import sys
from pathlib import Path
from typing import Any

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
PR_SET_NO_NEW_PRIVS = 38
RLIMITS = {
    "AS": resource.RLIMIT_AS,
    "CPU": resource.RLIMIT_CPU,
    "FSIZE": resource.RLIMIT_FSIZE,
    "CORE": resource.RLIMIT_CORE,
    "NPROC": resource.RLIMIT_NPROC,
    "NOFILE": resource.RLIMIT_NOFILE,
}

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    def encode(text: str | None) -> bytes | None:
        return None if text is None else text.encode()

    if _libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {target}: {os.strerror(errno)}")


def _under(path: str, folders: list[str]) -> bool:
    return any(path == folder or path.startswith(folder.rstrip("/") + "/") for folder in folders)


def _blocking_ancestor(path: Path) -> Path | None:
    """Topmost folder above ``path`` that other users cannot enter."""
    for folder in reversed(path.parents):
        if folder != Path("/") and not folder.stat().st_mode & 0o001:
            return folder
    return None


def expose(paths: list[str], covers: list[str] = ()) -> None:
    """Show the sandbox only ``paths`` inside ``covers``: each cover (and each private
    folder above a path, e.g. /root) gets an empty tmpfs, and ``paths`` under it are bound
    back in. Folders are resolved first, so a link cannot widen what is shown."""
    shown = [os.path.realpath(raw) for raw in paths if os.path.exists(raw)]
    hidden = {os.path.realpath(raw) for raw in covers if os.path.isdir(raw)}
    for path in shown:
        if (blocker := _blocking_ancestor(Path(path))) is not None:
            hidden.add(str(blocker))
    tops: list[str] = []
    for folder in sorted(hidden, key=len):  # a cover inside another one is already empty
        if not _under(folder, tops):
            tops.append(folder)
    inside = [path for path in sorted(set(shown), key=len) if _under(path, tops)]
    handles = {path: os.open(path, os.O_PATH) for path in inside}
    for folder in tops:
        _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=1m")
    for path, handle in handles.items():
        Path(path).mkdir(parents=True, exist_ok=True)
        _mount(f"/proc/self/fd/{handle}", path, None, MS_BIND | MS_REC)
        os.close(handle)


def make_read_only(writable: list[str]) -> list[str]:
    """Remount every mount read-only except ``writable`` (bound to themselves first)
    and /proc; returns mount points that refused."""
    for folder in writable:
        _mount(folder, folder, None, MS_BIND | MS_REC)
    refused = []
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    for line in lines:
        fields = line.split()
        mount_point = fields[4].replace("\\040", " ")
        options = fields[5].split(",")
        if _under(mount_point, writable) or _under(mount_point, ["/proc"]):
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID
        flags |= MS_NODEV if "nodev" in options else 0
        flags |= MS_NOEXEC if "noexec" in options else 0
        try:
            _mount(None, mount_point, None, flags)
        except OSError as exc:
            refused.append(f"{mount_point} ({exc.strerror})")
    return refused


def lock_down(spec: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Apply every protection the machine allows; (enforced, not enforced) descriptions."""
    enforced: list[str] = []
    missing: list[str] = []
    for procs in spec.get("cgroup_procs", []):
        try:
            Path(procs).write_text(str(os.getpid()))
            enforced.append(f"cgroup {Path(procs).parent}")
        except OSError as exc:
            missing.append(f"cgroup {Path(procs).parent} ({exc.strerror})")
    if spec.get("namespaces"):
        enforced.append("network, pid, ipc and mount namespaces (no network)")
        try:
            _mount(None, "/", None, MS_REC | MS_PRIVATE)
            expose(spec["expose"], spec.get("cover", []))
            for folder in spec.get("hide", []):
                if Path(folder).is_dir():
                    _mount("tmpfs", folder, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k")
            refused = make_read_only(spec["writable"])
            if refused:
                missing.append(f"read-only remount refused for {', '.join(refused)}")
            enforced.append("read-only filesystem except the scratch folder")
        except OSError as exc:
            missing.append(f"read-only filesystem ({exc})")
    else:
        missing.append("namespaces (network stays reachable; filesystem as writable as the uid)")
    for name, value in spec.get("rlimits", {}).items():
        try:
            resource.setrlimit(RLIMITS[name], (value, value))
            enforced.append(f"RLIMIT_{name}={value}")
        except (ValueError, OSError) as exc:
            missing.append(f"RLIMIT_{name} ({exc})")
    return enforced, missing


def drop_privileges(spec: dict[str, Any]) -> None:
    """Become the sandbox uid (when started as root) with no way back."""
    uid, gid = spec.get("uid"), spec.get("gid")
    if uid is not None and os.geteuid() == 0:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -I -m autograder.sandbox_init SPEC.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    # Opened by the grader outside our mount namespace: a file opened for writing here
    # would keep the filesystem busy and stop the read-only remount.
    report = os.fdopen(spec["report_fd"], "w", encoding="utf-8")
    enforced, missing = lock_down(spec)
    will_drop = spec.get("uid") is not None and os.geteuid() == 0
    if will_drop:
        enforced.append(f"unprivileged uid {spec['uid']} of its own")
    elif os.geteuid() == 0:
        missing.append("unprivileged uid (Python is not reachable by it without namespaces)")
    else:
        missing.append("unprivileged uid (the grader does not run as root)")
    with report:
        report.write(json.dumps({"enforced": enforced, "missing": missing}))
    child = os.fork()
    if child == 0:
        try:
            drop_privileges(spec)
            os.chdir(spec["cwd"])
            os.execve(spec["argv"][0], spec["argv"], spec["env"])
        except BaseException as exc:  # noqa: BLE001 - report and leave
            print(f"sandbox: could not start the harness: {exc}", file=sys.stderr)
        os._exit(127)
    while True:  # init: reap every orphan until the harness itself ends
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 127
        if pid == child:
            if os.WIFSIGNALED(status):
                return 128 + os.WTERMSIG(status)
            return os.WEXITSTATUS(status)


if __name__ == "__main__":
    sys.exit(main())
