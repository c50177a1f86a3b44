#!/usr/bin/env python3
"""Gradescope's entry point: grade the submitted notebook, always leave a results.json.

Gradescope runs this as /autograder/run_autograder after copying the student's files to
/autograder/submission. It uses only the standard library of the image's own Python,
so it still writes a result when installing the kit failed. If grading itself fails
(the command is missing, crashes, exits non-zero or writes no valid results), the result
is an error without a score, with the cause, never a zero, and the exit status is 1.

Before grading it checks the container against the Autograder Settings deploy.json
records (memory and CPUs, read from the container's cgroup, else /proc/meminfo and the
CPUs it may run on): too small, and the result is an error naming the setting to raise
and by how much. Gradescope tells an autograder nothing about its timeout, so that one is
printed, not checked; the grader is stopped early enough to report in time. A grading the
kernel killed for memory, or during which the container's memory limit was hit, ends as
an error naming the memory setting, not as the student's failure.

AUTOGRADER_ROOT (default /autograder), AUTOGRADER_COMMAND (default the kit's
``autograder`` in /autograder/venv), AUTOGRADER_CGROUP (default /sys/fs/cgroup) and
AUTOGRADER_MEMINFO (default /proc/meminfo) exist so the kit's tests can run this script in
a simulated layout.
"""

import html
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(os.environ.get("AUTOGRADER_ROOT", "/autograder"))
SOURCE = ROOT / "source"
RESULTS = ROOT / "results" / "results.json"
COMMAND = os.environ.get("AUTOGRADER_COMMAND") or str(ROOT / "venv" / "bin" / "autograder")
CGROUP = Path(os.environ.get("AUTOGRADER_CGROUP", "/sys/fs/cgroup"))
MEMINFO = Path(os.environ.get("AUTOGRADER_MEMINFO", "/proc/meminfo"))
CAUSE = "{cause}"
MIB = 2**20
SETTINGS = "the assignment's Autograder Settings on Gradescope"


class GradingFailed(Exception):
    """Grading could not be done; the message is the cause shown to the instructor."""


def find_notebook(folder, name):
    """The submitted notebook: the one named as the assignment's, else the only one."""
    found = sorted(
        path
        for path in folder.rglob("*.ipynb")
        if ".ipynb_checkpoints" not in path.parts and path.is_file()
    )
    named = [path for path in found if path.name == name]
    if named:
        return named[0]
    if len(found) == 1:
        return found[0]
    if not found:
        raise GradingFailed(f"no .ipynb notebook was submitted (expected {name})")
    listed = ", ".join(str(path.relative_to(folder)) for path in found)
    raise GradingFailed(f"several notebooks were submitted and none is named {name}: {listed}")


def _read(path):
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None


def memory_mb():
    """MiB this container may use: its cgroup's limit (v2, then v1), at most MemTotal."""
    found = []
    for path in (CGROUP / "memory.max", CGROUP / "memory" / "memory.limit_in_bytes"):
        text = _read(path)
        if text and text.isdigit():
            found.append(int(text) / MIB)
    for line in (_read(MEMINFO) or "").splitlines():
        name, _, value = line.partition(":")
        if name == "MemTotal" and value.split() and value.split()[0].isdigit():
            found.append(int(value.split()[0]) / 1024)
    return min(found) if found else None


def cpus():
    """CPUs this container may use: its cgroup's quota (v2, then v1), at most its CPUs."""
    found = [float(len(os.sched_getaffinity(0)))]
    quota = (_read(CGROUP / "cpu.max") or "").split()
    if len(quota) == 2 and quota[0].isdigit() and quota[1].isdigit() and int(quota[1]):
        found.append(int(quota[0]) / int(quota[1]))
    v1 = [_read(CGROUP / "cpu" / name) for name in ("cpu.cfs_quota_us", "cpu.cfs_period_us")]
    if all(text and text.isdigit() for text in v1) and int(v1[1]):
        found.append(int(v1[0]) / int(v1[1]))  # an unlimited quota reads -1: not digits
    return min(found)


def oom_kills():
    """Processes the kernel killed for this container's own memory limit so far (cgroup v2
    memory.events.local, else v1 memory.oom_control; the sandbox's own cgroups not counted
    in v2)."""
    for path in (CGROUP / "memory.events.local", CGROUP / "memory" / "memory.oom_control"):
        for line in (_read(path) or "").splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill" and value.strip().isdigit():
                return int(value)
    return 0


def memory_cause(limits, available):
    """The memory setting to raise, with the figures."""
    have = f"{available:.0f} MB" if available is not None else "an unknown amount of memory"
    return (
        f"grading needs {limits['needed_memory_mb']} MB of memory and this container has "
        f"{have}: raise Memory in {SETTINGS} to at least {limits['memory_gb']:g} GB"
    )


def check_resources(limits):
    """Refuse to grade in a container too small for the course (an error, not a zero)."""
    available = memory_mb()
    if available is not None and available < limits["needed_memory_mb"]:
        raise GradingFailed(memory_cause(limits, available))
    have = cpus()
    if have + 0.01 < limits["min_cpus"]:
        raise GradingFailed(
            f"a solved notebook needs {limits['min_cpus']:g} CPUs to finish within the "
            f"course's time limit and this container has {have:g}: raise CPU in {SETTINGS} "
            f"to {limits['cpus']}"
        )


def grade(settings, notebook):
    """Run the kit's grader on ``notebook``; it writes RESULTS itself."""
    command = [
        COMMAND,
        "grade",
        str(notebook),
        "--gradescope",
        str(RESULTS),
        "--config",
        str(SOURCE / "course.yaml"),
        "--quiet",
        *settings["grade_args"],
    ]
    limits = settings["gradescope"]
    timeout = limits["grading_timeout_s"]
    environment = {**os.environ, "MNIST_DATA": str(SOURCE / "mnist")}
    kills = oom_kills()
    # A fresh folder: nothing in the working folder can shadow the installed kit.
    with tempfile.TemporaryDirectory(prefix="grading-") as scratch:
        try:
            done = subprocess.run(
                command,
                cwd=scratch,
                env=environment,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError:
            raise GradingFailed(
                f"the grader {COMMAND} is not installed (did setup.sh fail?)"
            ) from None
        except subprocess.TimeoutExpired:
            raise GradingFailed(f"the grader did not finish within {timeout} s") from None
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    hit = oom_kills() > kills
    if hit or done.returncode == -signal.SIGKILL:
        # The container's limit, not the sandbox's: whatever the grader made of it, the
        # submission was not judged on its own memory use.
        how = "was hit" if hit else "was probably hit (the kernel killed the grader)"
        raise GradingFailed(
            f"this container's memory limit {how} during grading; "
            + memory_cause(limits, memory_mb())
        )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise GradingFailed(f"the grader exited with status {done.returncode}: {last}")
    try:
        results = json.loads(RESULTS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise GradingFailed("the grader finished but wrote no valid results.json") from None
    if not isinstance(results, dict) or not isinstance(results.get("tests"), list):
        raise GradingFailed("the grader's results.json has no tests")


def error_result(settings, cause, seconds):
    """The kit's own error result (its template travels in deploy.json) for ``cause``."""
    result = json.loads(json.dumps(settings["error_result"]))
    result["output"] = result["output"].replace(CAUSE, html.escape(cause, quote=False))
    result["extra_data"] = {"error": cause}
    result["execution_time"] = max(0, round(seconds))
    return result


def main():
    start = time.monotonic()
    settings = json.loads((SOURCE / "deploy.json").read_text(encoding="utf-8"))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if RESULTS.exists():
        RESULTS.unlink()  # a stale file must never pass for this run's result
    limits = settings["gradescope"]
    print(
        f"run_autograder: {SETTINGS} need Memory >= {limits['memory_gb']:g} GB, "
        f"CPU >= {limits['cpus']}, Timeout >= {limits['timeout_min']} minutes "
        "(Gradescope does not tell an autograder its timeout: a shorter one records a zero)"
    )
    try:
        check_resources(limits)
        grade(settings, find_notebook(ROOT / "submission", settings["notebook"]))
    except GradingFailed as exc:
        cause = str(exc)
        print(f"run_autograder: grading failed: {cause}", file=sys.stderr)
        result = error_result(settings, cause, time.monotonic() - start)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
