"""Grading many submissions at once: one grading process per submission, here or on Dask.

The grading process reads what student code exported and runs the submitted models, so a
submission can still hurt it (a model that exhausts memory, a TensorFlow crash, a hang).
Each submission therefore gets a fresh child process of its own (``python -m
autograder.pool FOLDER``): whatever happens to it costs that one result, which then says
why, and never the batch. The same :func:`grade_job` runs in a local thread pool (the
threads only wait on their children) or as one task per submission on a Dask cluster.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path

from autograder import executor, messages
from autograder.grader import GradingOptions
from autograder.reports import Outcome, Status
from mnist_course.config import CourseConfig

#: Seconds the grading process may run past the submission's own time limit (loading
#: MNIST and TensorFlow, judging the models) before it counts as hung.
JUDGE_MARGIN_S = 300.0
#: What starts a grading process; tests swap it to simulate a crashing grader.
CHILD_COMMAND: tuple[str, ...] = tuple(executor.kit_command("autograder.pool"))
JOB_FILE = "job.pickle"
RESULT_FILE = "result.json"
NOTEBOOK_FILE = "submission.ipynb"
CONFIG_FILE = "course.yaml"
STDERR_TAIL = 1500
PACKAGE = Path(__file__).resolve().parent
#: Memory one worker needs at most in practice (TensorFlow, MNIST twice, a CNN).
WORKER_MEMORY_BYTES = 3 * 2**30


@dataclass(frozen=True)
class Job:
    """Everything one submission's grading needs, so a worker needs no shared folder."""

    key: str
    name: str
    notebook: bytes
    config: CourseConfig
    config_text: str | None
    options: GradingOptions = GradingOptions()
    assignment: str | None = None
    threads: int | None = None


def usable_cores() -> int:
    """CPUs this process may run on (a container's or a SLURM job's share)."""
    return len(os.sched_getaffinity(0))


def default_workers() -> int:
    """One worker per core, as memory allows: measured fastest on 2 cores (README)."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return max(1, min(usable_cores(), memory // WORKER_MEMORY_BYTES))


def thread_environment(threads: int) -> dict[str, str]:
    """Thread-pool sizes for one worker's TensorFlow and OpenMP (forwarded into the sandbox),
    so that workers share the cores instead of each starting one thread per core."""
    from autograder.executor import THREAD_VARIABLES

    return dict.fromkeys(THREAD_VARIABLES, str(max(1, threads)))


def kit_fingerprint() -> str:
    """A hash of the kit's own code: a worker must grade with the same kit as the client."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def readiness_problems(
    config: CourseConfig, allow_unsandboxed: bool, fingerprint: str | None = None
) -> list[str]:
    """What this machine lacks to grade (empty when ready): run here and on every worker."""
    from autograder import executor
    from mnist_course.data import MnistDataError, load_mnist

    problems = []
    if fingerprint is not None and fingerprint != kit_fingerprint():
        problems.append(
            f"it runs another version of the kit (autograder {kit_fingerprint()}, "
            f"the client has {fingerprint}); install the same checkout on every worker"
        )
    if importlib.util.find_spec("tensorflow") is None:
        problems.append("TensorFlow is not installed")
    if not allow_unsandboxed and not executor.isolation_available():
        problems.append(
            "Linux namespaces are unavailable (unshare failed or is missing), so student code "
            "cannot be sandboxed; run the worker where unshare works (a privileged container "
            "or a VM), or pass --allow-unsandboxed to accept the risk"
        )
    try:
        load_mnist(config=config)
    except MnistDataError as exc:
        problems.append(f"MNIST data is unavailable ({exc}); set MNIST_DATA on the worker")
    return problems


_children: set[subprocess.Popen[bytes]] = set()
_children_lock = threading.Lock()


def stop_children() -> None:
    """Kill every grading process still running (after Ctrl-C); their sandboxes stop too."""
    with _children_lock:
        for process in _children:
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)


def _why_it_died(returncode: int, stderr: bytes) -> str:
    if returncode < 0:
        name = signal.Signals(-returncode).name
        cause = " (probably out of memory)" if -returncode == signal.SIGKILL else ""
        how = f"was killed by {name}{cause}"
    else:
        how = f"exited with status {returncode} without a result"
    tail = stderr.decode("utf-8", "replace").strip()[-STDERR_TAIL:]
    return f"the grading process {how}" + (f"; it said: {tail}" if tail else "")


def grade_job(job: Job) -> Outcome:
    """Grade one submission in a fresh grading process; never raises for the submission."""
    started = time.perf_counter()
    host = os.uname().nodename
    threads = job.threads or max(1, usable_cores() // _dask_threads())
    timeout = float(job.options.submission_timeout_s or job.config.grading.submission_timeout_s)
    with tempfile.TemporaryDirectory(prefix="autograder-job-") as name:
        folder = Path(name)
        (folder / NOTEBOOK_FILE).write_bytes(job.notebook)
        (folder / JOB_FILE).write_bytes(pickle.dumps(job))
        process = subprocess.Popen(
            [*CHILD_COMMAND, str(folder)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, **thread_environment(threads)},
            start_new_session=True,  # so the whole grading process group can be killed
        )
        with _children_lock:
            _children.add(process)
        try:
            _, stderr = process.communicate(timeout=timeout + JUDGE_MARGIN_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            return Outcome(
                "error",
                None,
                f"the grading process did not finish within {timeout + JUDGE_MARGIN_S:g} s "
                "and was killed",
                time.perf_counter() - started,
                host,
            )
        finally:
            with _children_lock:
                _children.discard(process)
        seconds = time.perf_counter() - started
        try:
            text = (folder / RESULT_FILE).read_text(encoding="utf-8")
        except OSError:
            return Outcome("error", None, _why_it_died(process.returncode, stderr), seconds, host)
    try:
        result = messages.GradingProcessResult.decode(text)
    except messages.MessageError as exc:
        return Outcome(
            "error", None, f"the grading process wrote a bad result: {exc}", seconds, host
        )
    report = result.report
    if report is not None:
        report["submission"] = job.name
    status: Status = "graded" if result.status == "graded" else "error"
    return Outcome(status, report, result.error, seconds, host)


def _dask_threads() -> int:
    """Tasks this Dask worker runs at once (1 outside Dask)."""
    try:
        from distributed import get_worker

        return max(1, get_worker().state.nthreads)
    except (ImportError, ValueError):
        return 1


def grade_locally(jobs: list[Job], workers: int) -> Iterator[tuple[Job, Outcome]]:
    """``workers`` grading processes at a time on this machine, results as they finish."""
    threads = max(1, usable_cores() // workers)
    sized = [replace(job, threads=threads) for job in jobs]
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grading")
    try:
        futures = {pool.submit(grade_job, job): job for job in sized}
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        stop_children()


def grade_on_cluster(
    jobs: list[Job], scheduler: str, *, allow_unsandboxed: bool
) -> Iterator[tuple[Job, Outcome]]:
    """One Dask task per submission on the cluster at ``scheduler``, results as they finish.

    Every worker is checked first; one that cannot grade stops the batch before anything
    is graded, with what it lacks."""
    from autograder.grader import GradingError

    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError:
        raise GradingError("--scheduler needs Dask: pip install distributed") from None
    try:
        client = Client(scheduler, timeout="30s")
    except (OSError, TimeoutError) as exc:
        raise GradingError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from None
    with client:
        answers = client.run(
            readiness_problems,
            jobs[0].config,
            allow_unsandboxed,
            kit_fingerprint(),
            on_error="return",
        )
        if not answers:
            raise GradingError(f"the Dask cluster at {scheduler} has no workers")
        refusals = []
        for worker, answer in sorted(answers.items()):
            if isinstance(answer, BaseException):
                lines = traceback.format_exception_only(answer)
                answer = [f"it cannot run the kit (is autograder installed?): {lines[-1].strip()}"]
            refusals += [f"worker {worker}: {problem}" for problem in answer]
        if refusals:
            raise GradingError("the Dask workers cannot grade:\n  " + "\n  ".join(refusals))
        futures = {
            client.submit(grade_job, job, key=job.key, pure=False, retries=1): job for job in jobs
        }
        for future in dask_completed(futures):
            job = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker costs only this task
                outcome = Outcome(
                    "error", None, f"the Dask task failed ({type(exc).__name__}: {exc})"
                )
            yield job, outcome


def write_atomically(path: Path, text: str) -> None:
    """Write, then rename: a kill at any moment leaves the old file or the new one."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _child(folder: Path) -> int:
    """Inside the grading process: grade the job in ``folder`` and leave ``result.json``."""
    from autograder.grader import GradingError, grade_submission

    job: Job = pickle.loads((folder / JOB_FILE).read_bytes())  # written by our own parent
    config = job.config
    if job.config_text is not None and not (config.source and config.source.is_file()):
        (folder / CONFIG_FILE).write_text(job.config_text, encoding="utf-8")
        config = config.model_copy(update={"source": folder / CONFIG_FILE})
    try:
        report = grade_submission(
            folder / NOTEBOOK_FILE, config=config, options=job.options, assignment=job.assignment
        )
    except GradingError as exc:
        result = messages.GradingProcessResult("error", None, str(exc))
    except Exception as exc:  # noqa: BLE001 - a grader bug is an error, not the student's zero
        why = f"the grader failed ({type(exc).__name__}: {exc}); "
        why += traceback.format_exc(limit=4)[-STDERR_TAIL:]
        result = messages.GradingProcessResult("error", None, why)
    else:
        result = messages.GradingProcessResult("graded", report.to_dict(), "")
    write_atomically(folder / RESULT_FILE, result.encode())
    return 0


if __name__ == "__main__":
    sys.exit(_child(Path(sys.argv[1])))
