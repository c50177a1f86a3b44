"""First process inside the sandbox: builds its filesystem, then starts the harness.

Started by :mod:`autograder.executor` inside fresh namespaces (network, pid, mount, ipc,
uts; as root, or as the root of a new user namespace when the grader is not root). It
builds the sandbox's filesystem from an empty root: a small tmpfs into which it binds,
read-only, only what the harness needs (Python, the shared libraries and the few /etc
files it loads, the kit's autograder and mnist_course packages, MNIST and the grader's
inputs), a fresh /proc, a minimal /dev and, as the only writable place, a scratch tmpfs
of fixed size and inode count at the scratch folder's path; then it pivots into that
root and detaches the old one, so nothing else of the machine exists in there. It joins
the cgroups, sets rlimits and forks the harness, which drops every capability (and, as
root, becomes an unprivileged uid of its own), gets a fresh session keyring and
``no_new_privs`` before it executes.

It stays behind as the namespace's init (trusted code: student code can neither signal
nor trace it): it reaps orphans and, when the harness ends, kills every other process
of the namespace, copies the regular files of the export folder out of the scratch
tmpfs into the real scratch folder without following links, and exits, which ends the
namespace. What it enforced goes to the report descriptor named in the spec, before
any student code runs. ``python -I -m autograder.sandbox_init SPEC.json``.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import resource
import signal
import stat
import sys
from pathlib import Path

from autograder.messages import Protections, SandboxSpec

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2
#: Per-mount options that a bind or read-only remount must keep (the kernel refuses to
#: clear the ones a user namespace inherited locked).
KEPT_OPTIONS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
    "strictatime": MS_STRICTATIME,
}
PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
#: SECBIT_NOROOT, SECBIT_NO_CAP_AMBIENT_RAISE and the locks on every securebit: uid 0
#: (the user namespace's root) gains no capability from execve, ever again.
SECUREBITS = 0b1110_1011
CAPABILITY_VERSION_3 = 0x20080522
KEYCTL_JOIN_SESSION_KEYRING = 1
#: The system call numbers this module needs that glibc does not wrap, and the audit
#: architecture a seccomp filter checks first.
SYSCALLS = {
    "x86_64": {"pivot_root": 155, "add_key": 248, "request_key": 249, "keyctl": 250},
    "aarch64": {"pivot_root": 41, "add_key": 217, "request_key": 218, "keyctl": 219},
}
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
#: The kernel keyring is shared by every process of a uid (and a user namespace's root
#: is the grader's uid): student code gets no keyring system call at all.
REFUSED_SYSCALLS = ("add_key", "request_key", "keyctl")
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_KILL = 0
X32_SYSCALL_BIT = 0x40000000
#: Sizes of the in-memory folders the init makes (the scratch size comes from the spec).
ROOT_TMPFS = "mode=755,size=4m,nr_inodes=4096"
DEV_TMPFS = "mode=755,size=64k,nr_inodes=64"
DEV_SHM_TMPFS = "mode=1777,size=64m,nr_inodes=1024"
DEVICES = ("null", "zero", "full", "random", "urandom")
DEV_LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
             "stderr": "/proc/self/fd/2"}  # fmt: skip
RLIMITS = {
    "AS": resource.RLIMIT_AS,
    "CPU": resource.RLIMIT_CPU,
    "FSIZE": resource.RLIMIT_FSIZE,
    "CORE": resource.RLIMIT_CORE,
    "NPROC": resource.RLIMIT_NPROC,
    "NOFILE": resource.RLIMIT_NOFILE,
}

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{what}: {os.strerror(number)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    def encode(text: str | None) -> bytes | None:
        return None if text is None else text.encode()

    result = _libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data))
    _check(result, f"mount {target}")


def _syscall(name: str, *args: int | bytes | None) -> int:
    number = SYSCALLS.get(os.uname().machine, {}).get(name)
    if number is None:
        raise OSError(0, f"{name}: unknown system call number on {os.uname().machine}")
    _libc.syscall.restype = ctypes.c_long
    return int(_libc.syscall(ctypes.c_long(number), *args))


def _under(path: str, folders: list[str]) -> bool:
    return any(path == folder or path.startswith(folder.rstrip("/") + "/") for folder in folders)


def _links_along(path: str) -> list[tuple[str, str]]:
    """The links met while resolving ``path`` (where each is, what it says), so the same
    path still leads to the same place inside the new root."""
    links, current = [], "/"
    for part in Path(path).parts[1:]:
        current = os.path.join(current, part)
        if os.path.islink(current):
            links.append((current, os.readlink(current)))
            current = os.path.realpath(current)
    return links


def _make_target(root: str, path: str, source_is_folder: bool) -> str:
    target = root + path
    if source_is_folder:
        os.makedirs(target, mode=0o755, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
        if not os.path.lexists(target):
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o644))
    return target


def bind_into(root: str, paths: list[str]) -> None:
    """Bind each of ``paths`` (that exists) at the same place under ``root``; links on
    the way are recreated as links, targets are resolved first, so a link cannot widen
    what is shown."""
    for raw in paths:
        if not os.path.lexists(raw):
            continue
        for link, target in _links_along(raw):
            with contextlib.suppress(FileExistsError):
                os.makedirs(os.path.dirname(root + link), mode=0o755, exist_ok=True)
                os.symlink(target, root + link)
        real = os.path.realpath(raw)
        if not os.path.exists(real):
            continue
        handle = os.open(real, os.O_PATH)
        try:
            target = _make_target(root, real, stat.S_ISDIR(os.fstat(handle).st_mode))
            _mount(f"/proc/self/fd/{handle}", target, None, MS_BIND | MS_REC)
        finally:
            os.close(handle)


def _build_dev(root: str) -> None:
    dev = root + "/dev"
    os.makedirs(dev, mode=0o755, exist_ok=True)
    _mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, DEV_TMPFS)
    for name in DEVICES:
        if os.path.exists(f"/dev/{name}"):
            os.close(os.open(f"{dev}/{name}", os.O_WRONLY | os.O_CREAT, 0o666))
            _mount(f"/dev/{name}", f"{dev}/{name}", None, MS_BIND)
    for name, target in DEV_LINKS.items():
        os.symlink(target, f"{dev}/{name}")
    os.mkdir(f"{dev}/shm", 0o1777)
    _mount("tmpfs", f"{dev}/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, DEV_SHM_TMPFS)


def _build_scratch(root: str, spec: SandboxSpec) -> None:
    """The scratch tmpfs at the scratch folder's own path, with the grader's inputs
    bound in read-only and the folders the harness writes."""
    scratch = spec.scratch
    target = _make_target(root, scratch, True)
    owner = 0 if spec.uid is None else spec.uid
    options = f"mode=700,uid={owner},gid={owner},{spec.scratch_tmpfs}"
    _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, options)
    for name in spec.scratch_folders:
        os.mkdir(f"{target}/{name}", 0o700)
        os.chown(f"{target}/{name}", owner, owner)
    inputs = spec.inputs
    os.mkdir(root + inputs, 0o755)
    _mount(inputs, root + inputs, None, MS_BIND | MS_REC)


def _pivot(root: str) -> None:
    """Make ``root`` the filesystem's root and detach the old one entirely."""
    os.chdir(root)
    _check(_syscall("pivot_root", b".", b"."), "pivot_root")
    _check(_libc.umount2(b".", MNT_DETACH), "detach the old root")
    os.chdir("/")


def make_read_only(writable: list[str]) -> list[str]:
    """Remount every mount read-only except the mount points ``writable`` and /proc;
    returns the mount points that refused."""
    refused = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        mount_point = fields[4].replace("\\040", " ")
        if mount_point in writable or _under(mount_point, ["/proc"]):
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID
        for option in fields[5].split(","):
            flags |= KEPT_OPTIONS.get(option, 0)
        try:
            _mount(None, mount_point, None, flags)
        except OSError as exc:
            refused.append(f"{mount_point} ({exc.strerror})")
    return refused


def build_root(spec: SandboxSpec) -> list[str]:
    """The sandbox's whole filesystem (see the module's docstring); returns the mounts
    that refused to become read-only."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    root = spec.root
    os.makedirs(root, mode=0o755, exist_ok=True)
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, ROOT_TMPFS)
    for folder in ("tmp", "proc", "etc"):
        os.makedirs(f"{root}/{folder}", mode=0o755, exist_ok=True)
    bind_into(root, spec.expose)
    for folder in spec.hide:
        if os.path.isdir(root + folder):
            _mount("tmpfs", root + folder, "tmpfs", MS_NOSUID | MS_NODEV, "size=4k,mode=755")
    _build_scratch(root, spec)
    _build_dev(root)
    try:
        _mount("proc", f"{root}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError:  # a fresh proc needs a visible one; the one unshare mounted will do
        _mount("/proc", f"{root}/proc", None, MS_BIND | MS_REC)
    _pivot(root)
    return make_read_only([spec.scratch, "/dev/shm"])


def lock_down(spec: SandboxSpec) -> tuple[list[str], list[str]]:
    """Apply every protection the machine allows; (enforced, not enforced) descriptions."""
    enforced: list[str] = []
    missing: list[str] = []
    for procs in spec.cgroup_procs:
        try:
            Path(procs).write_text(str(os.getpid()))
            enforced.append(f"cgroup {Path(procs).parent}")
        except OSError as exc:
            missing.append(f"cgroup {Path(procs).parent} ({exc.strerror})")
    mode = spec.mode
    if mode:
        enforced.append(f"network, pid, ipc and mount namespaces (no network; {mode})")
        try:
            refused = build_root(spec)
            if refused:
                missing.append(f"read-only remount refused for {', '.join(refused)}")
            enforced.append(
                "filesystem built from an empty root: only Python, the kit's grader and core "
                "packages, the data and the grader's inputs, read-only"
            )
            scratch = spec.scratch_tmpfs
            enforced.append(f"read-only filesystem except the scratch tmpfs ({scratch})")
        except OSError as exc:
            raise SystemExit(f"sandbox: could not build the filesystem: {exc}") from None
    else:
        missing.append("namespaces (network stays reachable; filesystem as writable as the uid)")
    for name, value in spec.rlimits.items():
        try:
            resource.setrlimit(RLIMITS[name], (value, value))
            enforced.append(f"RLIMIT_{name}={value}")
        except (ValueError, OSError) as exc:
            missing.append(f"RLIMIT_{name} ({exc})")
    return enforced, missing


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]  # fmt: skip


def drop_privileges(spec: SandboxSpec) -> None:
    """Lose every way back to privilege before student code runs: the capability
    bounding set and securebits (while we may still change them), the uid (as root),
    every capability, the inherited session keyring, and setuid programs."""
    if spec.mode:
        last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
        for capability in range(last + 1):
            _check(_libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0), "drop a capability")
        _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "ambient")
        _check(_libc.prctl(PR_SET_SECUREBITS, SECUREBITS, 0, 0, 0), "securebits")
    uid, gid = spec.uid, spec.gid
    if uid is not None and os.geteuid() == 0:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    if spec.mode:
        header = _CapHeader(CAPABILITY_VERSION_3, 0)
        data = (_CapData * 2)()
        _check(_libc.capset(ctypes.byref(header), data), "capset")
    # A new, empty session keyring: the grader's keys are no longer possessed.
    with contextlib.suppress(OSError):
        if _syscall("keyctl", KEYCTL_JOIN_SESSION_KEYRING, None) < 0:
            raise OSError(ctypes.get_errno(), "keyctl")
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    if spec.mode:
        refuse_keyring_calls()


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]  # fmt: skip


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


def refuse_keyring_calls() -> None:
    """A seccomp filter: the keyring system calls (and every x32 call) fail with EPERM;
    a call from another architecture than the one the filter was written for is killed."""
    machine = os.uname().machine
    refused = [SYSCALLS[machine][name] for name in REFUSED_SYSCALLS]
    load, jump_eq, jump_ge, ret = 0x20, 0x15, 0x35, 0x06
    count = len(refused)
    program = [
        (load, 0, 0, 4),  # seccomp_data.arch
        (jump_eq, 1, 0, AUDIT_ARCH[machine]),
        (ret, 0, 0, SECCOMP_RET_KILL),
        (load, 0, 0, 0),  # seccomp_data.nr
        (jump_ge, count + 1, 0, X32_SYSCALL_BIT),
        *((jump_eq, count - index, 0, number) for index, number in enumerate(refused)),
        (ret, 0, 0, SECCOMP_RET_ALLOW),
        (ret, 0, 0, SECCOMP_RET_ERRNO | errno.EPERM),
    ]
    filters = (_SockFilter * len(program))(*program)
    fprog = _SockFprog(len(program), filters)
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "seccomp")


def copy_out(source: str, folder: int, name: str, max_files: int, max_bytes: int) -> None:
    """Copy the regular files of ``source`` (the export folder inside the sandbox; hidden
    ones, such as the harness's reserve, excepted) into
    a new folder ``name`` of the descriptor ``folder``, never following links. A link
    in place of the export folder becomes a link there, which the grader refuses."""
    try:
        handle = os.open(source, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        if os.path.islink(source):
            os.symlink("a-link-was-here", name, dir_fd=folder)
        return
    os.mkdir(name, 0o755, dir_fd=folder)
    target = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
    budget = max_bytes
    try:
        names = sorted(entry for entry in os.listdir(handle) if not entry.startswith("."))
        for entry in names[:max_files]:
            try:
                file = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=handle)
            except OSError:
                continue
            try:
                size = os.fstat(file).st_size
                if not stat.S_ISREG(os.fstat(file).st_mode) or size > budget:
                    continue
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                copy = os.open(entry, flags, 0o644, dir_fd=target)
                try:
                    sent = 0
                    while sent < size and (step := os.sendfile(copy, file, sent, size - sent)):
                        sent += step
                finally:
                    os.close(copy)
                budget -= size
            finally:
                os.close(file)
    finally:
        os.close(handle)
        os.close(target)


def _reap_all() -> None:
    """Kill every other process of the namespace and wait until all are gone."""
    with contextlib.suppress(OSError):
        os.kill(-1, signal.SIGKILL)
    while True:
        try:
            os.wait()
        except ChildProcessError:
            return
        except InterruptedError:
            continue


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -I -m autograder.sandbox_init SPEC.json", file=sys.stderr)
        return 2
    spec = SandboxSpec.decode(Path(argv[0]).read_bytes())
    os.umask(0o022)
    # Opened by the grader outside our mount namespace: a file opened for writing here
    # would keep the filesystem busy and stop the read-only remount.
    report = os.fdopen(spec.report_fd, "w", encoding="utf-8")
    # The real scratch folder, for the copy-out: it does not exist inside the new root.
    results = os.open(spec.scratch, os.O_RDONLY | os.O_DIRECTORY) if spec.mode else -1
    enforced, missing = lock_down(spec)
    will_drop = spec.uid is not None and os.geteuid() == 0
    if will_drop:
        enforced.append(f"unprivileged uid {spec.uid} of its own")
    elif spec.mode:
        enforced.append("unprivileged: uid 0 of a user namespace of its own (the grader's uid)")
    elif os.geteuid() == 0:
        missing.append("unprivileged uid (Python is not reachable by it without namespaces)")
    else:
        missing.append("unprivileged uid (the grader does not run as root)")
    if spec.mode:
        enforced.append(
            "no capabilities, no_new_privs; a fresh session keyring and no keyring system "
            "calls (seccomp)"
        )
    with report:
        report.write(Protections(enforced, missing).encode())
    child = os.fork()
    if child == 0:
        try:
            drop_privileges(spec)
            os.chdir(spec.cwd)
            os.execve(spec.argv[0], spec.argv, spec.env)
        except BaseException as exc:  # noqa: BLE001 - report and leave
            print(f"sandbox: could not start the harness: {exc}", file=sys.stderr)
        os._exit(127)
    for handle in spec.pass_fds:  # the harness's; the grader watches for EOF
        with contextlib.suppress(OSError):
            os.close(handle)
    code = 127
    while True:  # init: reap every orphan until the harness itself ends
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        if pid == child:
            code = 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            break
    if spec.mode:
        _reap_all()
        export = spec.export
        try:
            copy_out(f"{spec.scratch}/{export}", results, export, spec.export_max_files,
                     spec.export_max_bytes)  # fmt: skip
        except OSError as exc:  # the grader then finds no results and says the run ended
            print(f"sandbox: could not copy the results out: {exc}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
