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
import dataclasses
import json
import os
import resource
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autograder.checks.confusion import ModelEvaluation, fitted_on_test
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
CANON = ("x_train", "y_train", "x_test", "y_test")
TRAIN_SAMPLE = ("x_train_sample", "y_train_sample")

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


@dataclass(frozen=True)
class StageVerdict:
    """A stage's three check results and its report notes, or the limit that stopped it."""

    results: tuple[CheckResult, ...] = ()
    notes: tuple[str, ...] = ()
    stopped: str | None = None  # a student-facing reason, when the child was stopped
    evaluation: ModelEvaluation | None = None  # the trusted measurement's details


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

    def __init__(self, job: dict[str, Any], folder: int, workdir: Path) -> None:
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
        payload = json.dumps({**job, "folder": folder, "results": write_end}).encode()
        try:
            self.process.stdin.write(payload)
            self.process.stdin.close()
        except OSError:
            pass  # it died at once; next() says so

    def next(self, timeout: float) -> dict[str, Any] | str:
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
            message = json.loads(line)
        except ValueError:
            raise JudgeError("the model judge sent a malformed result") from None
        if not isinstance(message, dict):
            raise JudgeError("the model judge sent a malformed result")
        return message

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


#: The key of a non-stage check's unit of work (stage units are keyed by the stage id).
CHECK_UNIT = "check:"


def judge_models(
    stages: dict[str, dict[str, Any]],
    *,
    folder: int,
    canon: Any,
    config: Any,
    retrain: bool,
    workdir: Path,
    progress: Callable[[str], None],
    checks: dict[str, dict[str, Any]] | None = None,
) -> dict[str, StageVerdict]:
    """Verdicts for ``stages`` (stage -> its TrainingEvidence as a dict) and for ``checks``
    that need Keras but no stage (check id -> what its judge reads besides the export
    folder), judged from the .keras files in the export ``folder``. Stage verdicts are
    keyed by stage, check verdicts by ``CHECK_UNIT + id``. JudgeError when the judge
    cannot work at all."""
    units: dict[str, dict[str, Any]] = {
        stage: {"kind": "stage", "evidence": evidence} for stage, evidence in stages.items()
    }
    units.update(
        (CHECK_UNIT + check_id, {"kind": "check", "check": check_id, **context})
        for check_id, context in (checks or {}).items()
    )
    if not units:
        return {}
    needs_training = (
        retrain
        or config.integrity.costs_points  # a model fitted on the test set is re-trained
        or any(unit["kind"] == "check" for unit in units.values())
    )
    arrays = {name: getattr(canon, name) for name in (CANON if needs_training else CANON[2:])}
    arrays.update(_train_sample(canon, config))
    paths = {}
    for name, values in arrays.items():
        paths[name] = str(workdir / f"canon-{name}.npy")
        np.save(paths[name], np.ascontiguousarray(values), allow_pickle=False)
    job = {
        "config": config.course.model_dump(mode="json"),
        "assignment": config.id,
        "retrain": retrain,
        "canon": paths,
        "workdir": str(workdir),
    }
    timeout = MEASURE_TIMEOUT_S + (RETRAIN_TIMEOUT_S if needs_training else 0)
    pending = list(units)
    verdicts: dict[str, StageVerdict] = {}
    while pending:
        child = _Child({**job, "units": {key: units[key] for key in pending}}, folder, workdir)
        try:
            ready = child.next(START_TIMEOUT_S)
            if not isinstance(ready, dict) or not ready.get("ready"):
                how = "it took too long" if ready == "time" else child.how_it_ended()
                raise JudgeError(f"the model judge could not start ({how}): {child.stderr_tail()}")
            while pending:
                key = pending[0]
                message = child.next(timeout)
                while isinstance(message, dict) and "progress" in message:
                    progress(str(message["progress"]))
                    message = child.next(timeout)
                if isinstance(message, dict) and message.get("unit") == key:
                    pending.pop(0)
                    results = tuple(CheckResult(**r) for r in message["results"])
                    evaluation = message.get("evaluation")
                    verdicts[key] = StageVerdict(
                        results,
                        tuple(message.get("notes", ())),
                        evaluation=ModelEvaluation.from_dict(evaluation) if evaluation else None,
                    )
                    continue
                if isinstance(message, dict) and message.get("unit") != key:
                    raise JudgeError(f"the model judge answered for {message.get('unit')!r}")
                how = "time" if message == "time" else child.how_it_ended()
                unit = units[key]
                variable = (
                    config.spec.stage(key).variable
                    if unit["kind"] == "stage"
                    else config.spec.check(unit["check"]).reads[0]
                )
                limit = how if how in LIMIT_MESSAGES else "crash"
                reason = limit_reason(limit, variable, retrain=needs_training, how=how)
                verdicts[key] = StageVerdict(stopped=reason)
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


def fitted_on_test_note(
    variable: str, measured: float, sample: float, *, images: int, costs_points: bool
) -> str:
    """The report note (and the student's hint) for a model fitted on the test set."""
    from autograder.checks.hints import advise

    consequence = (
        "Its accuracy was graded on its architecture re-trained on the training images."
        if costs_points
        else "It costs no points, but your instructor sees it."
    )
    advice = advise(
        "fitted_on_test", test=measured, train=sample, images=images, consequence=consequence
    )
    return f"{variable}: {advice.text}"


def _send(handle: Any, message: dict[str, Any]) -> None:
    handle.write(json.dumps(message) + "\n")
    handle.flush()


def _judge_stage(
    stage: str,
    evidence: dict[str, Any],
    *,
    folder: int,
    canon: dict[str, np.ndarray],
    config: Any,
    retrain: bool,
    workdir: Path,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """In the child: one model's three checks and notes, as a message."""
    from autograder import artifacts
    from autograder.checks import evaluation, models

    variable = config.spec.stage(stage).variable
    model, problem, measurement, retrained, perturbed = None, None, None, None, None
    retrained_model = None
    say(f"checking {variable}")
    try:
        model = artifacts.load_model(Path(f"{variable}.keras"), workdir, folder=folder)
    except artifacts.ArtifactError as exc:
        problem = models.ModelProblem(exc.kind, f"{variable}: {exc}.")
    notes = []
    sample_accuracy = None
    if model is not None:
        bar = config.stages[stage].min_test_accuracy
        try:
            measurement = evaluation.measure(model, canon["x_test"], canon["y_test"], bar=bar)
            sample_accuracy = evaluation.accuracy(model, *(canon[name] for name in TRAIN_SAMPLE))
            integrity = config.integrity
            if fitted_on_test(measurement.accuracy, sample_accuracy, integrity):
                notes.append(
                    fitted_on_test_note(
                        variable,
                        measurement.accuracy,
                        sample_accuracy,
                        images=len(canon[TRAIN_SAMPLE[1]]),
                        costs_points=integrity.costs_points,
                    )
                )
                retrain = retrain or integrity.costs_points
            if retrain:
                say(f"re-training {variable}'s architecture")
                fresh = evaluation.retrain(
                    model, canon["x_train"], canon["y_train"], stage=stage, config=config
                )
                retrained_model = fresh
                retrained = evaluation.measure(
                    fresh, canon["x_test"], canon["y_test"], bar=bar, retrained=True
                )
                note = evaluation.not_reproduced_note(variable, measurement, retrained)
                notes += [note] if note else []
            if any(check.judge == "stage.perturbed" for check in config.spec.checks_of(stage)):
                say(f"measuring {variable} on rotated, shifted and zoomed digits")
                bar = config.stages[stage].min_perturbed_accuracy or 0.0
                perturbed = evaluation.measure(
                    retrained_model if retrain else model,
                    _perturbed(canon, config.seed),
                    canon["y_test"],
                    bar=bar,
                )
        except MemoryError:
            raise
        except Exception as exc:  # a loaded model can still fail on real inputs
            if type(exc).__name__ == "ResourceExhaustedError":  # TensorFlow's MemoryError
                raise MemoryError from exc
            problem = models.ModelProblem(
                "not_evaluable",
                f"{variable} could not be evaluated: {type(exc).__name__}: {exc}"[:500],
            )
            measurement = retrained = perturbed = sample_accuracy = None
            notes = []
    results = models.check_stage(
        stage,
        model,
        measurement,
        config=config,
        graded=retrained if retrain else None,
        problem=problem,
        evidence=models.TrainingEvidence.from_dict(evidence),
        perturbed=perturbed,
    )
    record = None
    if model is not None and measurement is not None and measurement.predicted is not None:
        record = ModelEvaluation.from_predictions(stage, measurement.predicted, canon["y_test"])
        try:  # of the submitted model, never a re-trained one
            fingerprint = evaluation.fingerprint(model, measurement.predicted)
        except (TypeError, ValueError, AttributeError, KeyError):
            fingerprint = None  # an odd config costs the comparison, never the grade
        record = dataclasses.replace(
            record, fingerprint=fingerprint, train_sample_accuracy=sample_accuracy
        )
    return {
        "unit": stage,
        "results": [asdict(r) for r in results],
        "notes": notes,
        "evaluation": record.to_dict() if record else None,
    }


_perturbed_sets: dict[int, np.ndarray] = {}


def _perturbed(canon: dict[str, np.ndarray], seed: int) -> np.ndarray:
    """The grader's perturbed test set (made once per child)."""
    from mnist_course import perturbation

    if seed not in _perturbed_sets:
        _perturbed_sets[seed] = perturbation.perturbed_test_set(canon["x_test"], seed=seed)
    return _perturbed_sets[seed]


#: Judge families that need Keras but no stage: the child judges them from a model file.
CHECK_JUDGES = frozenset({"augmentation.layers", "augmentation.behaviour", "tuning.reproduced"})


def _judge_check(
    unit: dict[str, Any],
    *,
    folder: int,
    canon: dict[str, np.ndarray],
    config: Any,
    workdir: Path,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """In the child: one check that needs Keras but no stage (the augmentation block, the
    re-training of a tuned configuration), as a message."""
    from autograder import artifacts
    from autograder.checks import extensions
    from mnist_course import tuning

    check = config.spec.check(unit["check"])
    if check.judge not in CHECK_JUDGES:
        raise ValueError(f"the judge has no child-side judge for {check.judge!r}")
    name = check.reads[0]
    model, problem = None, unit.get("problem")
    if problem is None:
        try:
            model = artifacts.load_model(Path(f"{name}.keras"), workdir, folder=folder)
        except artifacts.ArtifactError as exc:
            problem = f"{name}: {exc}."
    try:
        if check.judge == "augmentation.layers":
            result = extensions.check_augmentation_layers(model, config=config, problem=problem)
        elif check.judge == "augmentation.behaviour":
            images = extensions.augmentation_images(canon["x_test"])
            result = extensions.check_augmentation_behaviour(
                model, images, config=config, problem=problem
            )
        else:  # tuning.reproduced
            result = extensions.judge_reproduced(
                model,
                unit.get("reported"),
                tuning.trials_from_export(unit.get("trials")),
                canon["x_train"],
                canon["y_train"],
                config=config,
                problem=problem,
                progress=say,
            )
    except MemoryError:
        raise
    except ValueError as exc:
        result = _failed_check(check.id, name, config, f"{name} could not be judged: {exc}"[:500])
    except Exception as exc:  # a loaded model can still fail on real inputs
        if type(exc).__name__ == "ResourceExhaustedError":
            raise MemoryError from exc
        message = f"{name} could not be judged: {type(exc).__name__}: {exc}"[:500]
        result = _failed_check(check.id, name, config, message)
    return {"unit": CHECK_UNIT + check.id, "results": [asdict(result)], "notes": []}


def _failed_check(check_id: str, name: str, config: Any, message: str) -> CheckResult:
    from autograder.checks.hints import advise
    from mnist_course.results import spec_for

    return spec_for(check_id, config).failed(message, advise("object_unusable", name=name))


def main() -> int:
    """The child: judge every unit of the job on stdin, one result line each."""
    job = json.loads(sys.stdin.read())
    results = os.fdopen(job["results"], "w")
    import keras  # noqa: F401 - imported before "ready": start-up is the grader's cost

    from mnist_course.config import CourseConfig

    config = CourseConfig.model_validate(job["config"]).assignment(job["assignment"])
    canon = {name: np.load(path, allow_pickle=False) for name, path in job["canon"].items()}
    _send(results, {"ready": True})
    for key, unit in job["units"].items():
        common = {
            "folder": job["folder"],
            "canon": canon,
            "config": config,
            "workdir": Path(job["workdir"]),
            "say": lambda text: _send(results, {"progress": text}),
        }
        try:
            if unit["kind"] == "stage":
                message = _judge_stage(key, unit["evidence"], retrain=job["retrain"], **common)
            else:
                message = _judge_check(unit, **common)
        except MemoryError:
            os._exit(_OUT_OF_MEMORY)
        _send(results, message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
