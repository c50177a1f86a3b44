"""grade-all --scheduler: the same batch on a real Dask cluster (a scheduler and two
workers on loopback) gives the same results as local grading, and resume works the same."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from autograder import batch, executor
from autograder.grader import GradingError

DASK = Path(sys.executable).parent / "dask"
CHECK_FIELDS = ("id", "passed", "points", "max_points", "message")


def _start(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(DASK), *args], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path) -> Iterator[str]:
    """A real ``dask scheduler`` and two ``dask worker`` processes, one thread each."""
    if not executor.isolation_available():
        pytest.skip("as root, the grader runs student code only inside namespaces")
    tmp_path = tmp_path_factory.mktemp("dask")
    address_file = tmp_path / "scheduler.json"
    env = {**os.environ, "MNIST_DATA": str(mnist_dir), "TF_CPP_MIN_LOG_LEVEL": "2"}
    processes = [
        _start(
            "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
            "--scheduler-file", str(address_file), env=env, log=tmp_path / "scheduler.log",
        )
    ]  # fmt: skip
    try:
        for _ in range(300):
            if address_file.is_file() and address_file.stat().st_size:
                break
            time.sleep(0.1)
        address = json.loads(address_file.read_text())["address"]
        for number in range(2):
            processes.append(
                _start(
                    "worker", address, "--nthreads", "1", "--host", "127.0.0.1",
                    "--no-dashboard", "--memory-limit", "0", "--name", f"worker-{number}",
                    env=env, log=tmp_path / f"worker-{number}.log",
                )
            )  # fmt: skip
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


@pytest.fixture
def small_class(tmp_path: Path, helpers) -> Path:
    folder = tmp_path / "lms"
    folder.mkdir()
    for student, scenario in (
        ("alice", "release-untouched"),
        ("carol", "sys-exit"),
        ("dave", "syntax-error"),
    ):
        shutil.copy(
            helpers.submissions / f"submission-{scenario}.ipynb", folder / f"{student}.ipynb"
        )
    return folder


def _judged(results: list[batch.Result]) -> dict[str, list[tuple]]:
    """What was judged, without wall times and paths that differ between runs."""
    return {
        result.submission.student: [
            tuple(getattr(check, name) for name in CHECK_FIELDS) for check in result.report.results
        ]
        for result in results
    }


def test_a_dask_cluster_grades_like_the_local_pool(
    cluster: str, small_class: Path, tmp_path: Path, helpers
) -> None:
    config = helpers.course_config(cell_timeout_s=20, submission_timeout_s=120)
    remote = batch.grade_all(small_class, tmp_path / "remote", config=config, scheduler=cluster)
    local = batch.grade_all(small_class, tmp_path / "local", config=config, workers=2)
    assert all(result.graded for result in remote + local)
    assert _judged(remote) == _judged(local)
    assert {r.submission.student: r.report.score for r in remote} == {
        "alice": 0,
        "carol": 3,
        "dave": config.assignment("mnist_digits").points("data.load"),
    }
    again = batch.grade_all(small_class, tmp_path / "remote", config=config, scheduler=cluster)
    assert not any(result.fresh for result in again)  # resume works the same


def test_workers_that_cannot_grade_are_refused_before_grading(
    cluster: str, small_class: Path, tmp_path: Path, helpers, monkeypatch
) -> None:
    monkeypatch.setattr(batch.pool, "kit_fingerprint", lambda: "another-kit")  # client only
    with pytest.raises(GradingError, match="worker tcp://127.0.0.1:.*another version of the kit"):
        batch.grade_all(
            small_class, tmp_path / "out", config=helpers.course_config(), scheduler=cluster
        )
    assert not list((tmp_path / "out").glob("*--*.json"))
