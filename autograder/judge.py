"""The trusted model judge: loads, screens and evaluates the submitted models in a child
process with memory and wall-time limits.

A hostile model file can make Keras allocate or compute without end. In the child, such a
model ends only the child: the grader fails that model's checks with the limit that
stopped it and starts a fresh child for the models still to judge. Results stream back
one stage at a time, so a model costs only its own checks. A child that cannot even
start is the grader's failure (:class:`GradingError`), never a student's zero.

Run as ``python -m autograder.judge``: the job comes as JSON on stdin, results go as JSON
lines to the descriptor the job names.
"""

from __future__ import annotations

import contextlib
import os
import resource
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from autograder import families, messages
from autograder.checks.confusion import ModelEvaluation
from autograder.families.base import CANON_ARRAYS, TRAIN_SAMPLE, ChildContext, UnitVerdict
from autograder.messages import ModelUnit
from mnist_course.results import CheckResult

#: Address space of the judge's child (TensorFlow alone maps about 2 GiB); the course's
#: models, re-training included, need well under half of this.
JUDGE_MEMORY_BYTES = 6 * 2**30
JUDGE_MAX_PROCESSES = 512
#: Wall clock for the child to import Keras and read the test set (the grader's own
#: work: a child that misses it is a GradingError).
START_TIMEOUT_S = 180
#: Wall clock for one model to be loaded, screened and measured (the course's CNN needs
#: seconds), and extra when it is also re-trained with the course budget.
MEASURE_TIMEOUT_S = 300
RETRAIN_TIMEOUT_S = 1800
#: Exit status of a child that caught MemoryError.
_OUT_OF_MEMORY = 3

LIMIT_MESSAGES = {
    "time": "{variable} was stopped: loading{retraining} and measuring it took longer than "
    "the {seconds} s the grader gives one model (time limit)",
    "memory": "{variable} was stopped: it needed more than the {gib:g} GiB of memory the "
    "grader gives one model (memory limit)",
    "crash": "{variable} was stopped: it made the grader's model process end ({how})",
}
CAUSE = (
    " The model, not the grader, was the cause: the course's models need a small fraction "
    "of this. Build it from the layers the assignment asks for, each used once."
)


class JudgeError(RuntimeError):
    """The judge itself failed for a reason that is not the model."""


def limit_reason(limit: str, variable: str, *, retrain: bool, how: str = "") -> str:
    """The failed checks' message for a model that hit ``limit`` (time, memory, crash)."""
    seconds = MEASURE_TIMEOUT_S + (RETRAIN_TIMEOUT_S if retrain else 0)
    text = LIMIT_MESSAGES[limit].format(
        variable=variable,
        retraining=", re-training" if retrain else "",
        seconds=seconds,
        gib=JUDGE_MEMORY_BYTES / 2**30,
        how=how,
    )
    return f"{text}.{CAUSE}"


def _limit_resources() -> None:
    """In the child before it runs Python: an address-space limit and its own group."""
    resource.setrlimit(resource.RLIMIT_AS, (JUDGE_MEMORY_BYTES, JUDGE_MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class _Child:
    """One judge process and the pipe its results come back on."""

    def __init__(self, job: Callable[[int], messages.JudgeJob], folder: int, workdir: Path) -> None:
        """Start a child on ``job``, made with the descriptor its results come back on."""
        from autograder import executor

        read_end, write_end = os.pipe()
        self.cgroups = executor.Cgroups(JUDGE_MEMORY_BYTES, JUDGE_MAX_PROCESSES)
        self.stderr = open(workdir / "judge-stderr.txt", "wb")  # noqa: SIM115 - closed in close()
        try:
            self.process = subprocess.Popen(
                executor.kit_command("autograder.judge"),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=self.stderr,
                pass_fds=(folder, write_end),
                preexec_fn=_limit_resources,  # noqa: PLW1509 - no threads run the judge
                start_new_session=True,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"},
            )
        except OSError as exc:
            os.close(read_end)
            os.close(write_end)
            self.stderr.close()
            self.cgroups.close()
            raise JudgeError(f"the model judge could not start ({exc})") from None
        os.close(write_end)
        self.results = read_end
        self.buffer = b""
        for procs in self.cgroups.procs_files:  # before the job: nothing runs until then
            with contextlib.suppress(OSError):
                Path(procs).write_text(str(self.process.pid))
        assert self.process.stdin is not None
        payload = job(write_end).encode().encode()
        try:
            self.process.stdin.write(payload)
            self.process.stdin.close()
        except OSError:
            pass  # it died at once; next() says so

    def next(self, timeout: float) -> messages.Message | str:
        """The next message, or why none came: 'time' or 'ended'."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return "time"
            ready, _, _ = select.select([self.results], [], [], left)
            if ready:
                chunk = os.read(self.results, 65536)
                if not chunk:
                    return "ended"
                self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        try:
            return messages.decode_any(line, messages.JUDGE_MESSAGES)
        except messages.MessageError as exc:
            raise JudgeError(f"the model judge sent a malformed result ({exc})") from None

    def how_it_ended(self) -> str:
        """'memory' or a description of the exit, once the child has ended."""
        try:
            code = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            return "it stopped answering"
        if code == _OUT_OF_MEMORY or self.cgroups.out_of_memory():
            return "memory"
        if code < 0 and -code in (signal.SIGKILL, signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS):
            return "memory"  # what an allocation refused under the address-space limit does
        return f"exit status {code}"

    def stderr_tail(self) -> str:
        self.stderr.flush()
        try:
            text = (Path(self.stderr.name).read_bytes()[-2000:]).decode("utf-8", "replace")
        except OSError:
            return ""
        lines = [line for line in text.splitlines() if line.strip()]
        return " | ".join(lines[-3:])[:600]

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self.cgroups.close()
        os.close(self.results)
        self.stderr.close()


def judge_models(
    units: list[ModelUnit],
    *,
    folder: int,
    canon: Any,
    config: Any,
    retrain: bool,
    workdir: Path,
    progress: Callable[[str], None],
) -> dict[str, UnitVerdict]:
    """Verdicts for the model-judge ``units`` the check families planned, judged by their
    families in a child process from the .keras files in the export ``folder``, keyed by
    unit. A unit whose child hit a limit gets a verdict that says which, and a fresh child
    judges the rest. JudgeError when the judge cannot work at all."""
    if not units:
        return {}
    by_key = {unit.key: unit for unit in units}
    work = families.families()
    needs_training = (
        retrain
        or config.integrity.costs_points  # a model fitted on the test set is re-trained
        or any(work[unit.family].model_work.trains for unit in units)
    )
    names = CANON_ARRAYS if needs_training else CANON_ARRAYS[2:]
    arrays = {name: getattr(canon, name) for name in names}
    arrays.update(_train_sample(canon, config))
    paths = {}
    for name, values in arrays.items():
        paths[name] = str(workdir / f"canon-{name}.npy")
        np.save(paths[name], np.ascontiguousarray(values), allow_pickle=False)

    def job(results: int) -> messages.JudgeJob:
        """The job of a fresh child: the units still pending."""
        return messages.JudgeJob(
            config=config.course.model_dump(mode="json"),
            assignment=config.id,
            retrain=retrain,
            canon=paths,
            workdir=str(workdir),
            folder=folder,
            results=results,
            units=[by_key[key] for key in pending],
        )

    timeout = MEASURE_TIMEOUT_S + (RETRAIN_TIMEOUT_S if needs_training else 0)
    pending = list(by_key)
    verdicts: dict[str, UnitVerdict] = {}
    while pending:
        child = _Child(job, folder, workdir)
        try:
            ready = child.next(START_TIMEOUT_S)
            if not isinstance(ready, messages.JudgeReady):
                how = "it took too long" if ready == "time" else child.how_it_ended()
                raise JudgeError(f"the model judge could not start ({how}): {child.stderr_tail()}")
            while pending:
                key = pending[0]
                message = child.next(timeout)
                while isinstance(message, messages.JudgeProgress):
                    progress(message.text)
                    message = child.next(timeout)
                if isinstance(message, messages.UnitReport) and message.unit == key:
                    pending.pop(0)
                    evaluation = message.evaluation
                    verdicts[key] = UnitVerdict(
                        tuple(CheckResult(**result) for result in message.results),
                        tuple(message.notes),
                        evaluation=ModelEvaluation.from_dict(evaluation) if evaluation else None,
                    )
                    continue
                if isinstance(message, messages.Message):
                    answered = getattr(message, "unit", message.KIND)
                    raise JudgeError(f"the model judge answered for {answered!r}, not {key!r}")
                how = "time" if message == "time" else child.how_it_ended()
                limit = how if how in LIMIT_MESSAGES else "crash"
                variable = by_key[key].variable
                reason = limit_reason(limit, variable, retrain=needs_training, how=how)
                verdicts[key] = UnitVerdict(stopped=reason)
                pending.pop(0)
                break  # a fresh child for the rest
        finally:
            child.close()
    return verdicts


def _train_sample(canon: Any, config: Any) -> dict[str, np.ndarray]:
    """The fixed training sample every model is also measured on (test-set fitting)."""
    from autograder.checks import evaluation

    images, labels = evaluation.train_sample(
        canon.x_train,
        canon.y_train,
        size=config.integrity.train_sample_images,
        seed=config.seed,
    )
    return {TRAIN_SAMPLE[0]: images, TRAIN_SAMPLE[1]: labels}


def _send(handle: Any, message: messages.Message) -> None:
    handle.write(message.encode() + "\n")
    handle.flush()


def main() -> int:
    """The child: judge every unit of the job on stdin, one result line each."""
    job = messages.JudgeJob.decode(sys.stdin.read())
    results = os.fdopen(job.results, "w")
    import keras  # noqa: F401 - imported before "ready": start-up is the grader's cost

    from mnist_course.config import CourseConfig

    config = CourseConfig.model_validate(job.config).assignment(job.assignment)
    canon = {name: np.load(path, allow_pickle=False) for name, path in job.canon.items()}
    _send(results, messages.JudgeReady())
    context = ChildContext(
        folder=job.folder,
        canon=canon,
        config=config,
        workdir=Path(job.workdir),
        retrain=job.retrain,
        say=lambda text: _send(results, messages.JudgeProgress(text)),
    )
    for unit in job.units:
        try:
            verdict = families.families()[unit.family].model_work.judge(context, unit)
        except MemoryError:
            os._exit(_OUT_OF_MEMORY)
        record = verdict.evaluation
        report = messages.UnitReport(
            unit=unit.key,
            results=[asdict(result) for result in verdict.results],
            notes=list(verdict.notes),
            evaluation=record.to_dict() if record else None,
        )
        _send(results, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
