"""The sandbox runner itself: limits, fallbacks and what it reports."""

from __future__ import annotations

import nbformat
import numpy as np
import pytest

from autograder import executor, grader, messages
from autograder.grader import grade_submission


def _cells(*sources: str) -> list[dict[str, object]]:
    return [{"index": i, "source": source, "skip": False} for i, source in enumerate(sources)]


@pytest.fixture
def run(tmp_path, mnist_dir):
    def run_cells(*sources: str, course_yaml=None, **limits: float
                  ) -> tuple[executor.Execution, object]:  # fmt: skip
        settings = {"submission_timeout_s": 60, "cell_timeout_s": 10, "memory_mb": 6144,
                    "max_processes": 256, **limits}  # fmt: skip
        scratch, trusted = tmp_path / "scratch", tmp_path / "trusted"
        trusted.mkdir()
        execution = executor.run_cells(
            _cells(*sources), np.zeros((7, 28, 28), np.uint8), scratch=scratch, trusted=trusted,
            data_dir=mnist_dir, limits=executor.Limits(**settings), seed=42,
            course_yaml=course_yaml,
        )  # fmt: skip
        return execution, scratch / ".out"

    return run_cells


def test_cells_run_in_order_in_one_namespace(run):
    execution, out = run("x = 1", "y = x + 1", "assert y == 2")
    assert execution.reason is None and execution.returncode == 0
    assert (out / "manifest.json").is_file()


def test_the_submission_timeout_kills_the_whole_run(run):
    execution, _ = run("import time\nwhile True:\n    try:\n        time.sleep(1)\n"
                       "    except BaseException:\n        pass",
                       submission_timeout_s=3, cell_timeout_s=60)  # fmt: skip
    assert "did not finish within the submission limit of 3 s" in execution.reason


def test_student_code_sees_a_minimal_environment(run, monkeypatch):
    monkeypatch.setenv("SECRET_TOKEN", "do-not-leak")
    execution, out = run(
        "import os\nassert 'SECRET_TOKEN' not in os.environ, 'leaked'\n"
        "assert os.environ['HOME'] == os.getcwd()"
    )
    assert '"status": "ok"' in (out / "manifest.json").read_text()


@pytest.mark.skipif(not executor.isolation_available(), reason="needs unshare")
def test_fallback_without_namespaces_still_grades(monkeypatch, helpers, tmp_path):
    monkeypatch.setattr(executor, "isolation_mode", lambda: None)
    monkeypatch.setattr(executor, "namespaces_available", lambda: False)
    report = grade_submission(
        helpers.submissions / "submission-missing-functions.ipynb",
        config=helpers.course_config(cell_timeout_s=10), workdir=tmp_path,
        options=grader.GradingOptions(allow_unsandboxed=True),
    )  # fmt: skip
    assert report.score == 1
    assert any("not enforced: namespaces" in line for line in report.sandbox)


def test_no_namespaces_at_all_is_refused_unless_allowed(monkeypatch, helpers, tmp_path):
    monkeypatch.setattr(executor, "isolation_mode", lambda: None)
    with pytest.raises(grader.GradingError, match="refusing to run student code without"):
        grade_submission(
            helpers.submissions / "submission-missing-functions.ipynb",
            config=helpers.course_config(cell_timeout_s=10), workdir=tmp_path,
        )  # fmt: skip


def test_the_harness_reads_a_copy_of_course_yaml(run, helpers):
    execution, out = run(
        "from mnist_course.config import load_config\n"
        "from mnist_course.data import load_mnist\n"
        "assert load_config().source.parent.name == '.grader', load_config().source\n"
        "assert load_mnist()[1][0].shape == (10000, 28, 28)",
        course_yaml=(helpers.repo_root / "course.yaml").read_text(),
    )
    assert execution.reason is None, execution.output_tail
    assert '"status": "ok"' in (out / "manifest.json").read_text(), execution.output_tail


@pytest.mark.skipif(not executor.isolation_available(), reason="needs unshare")
def test_the_notebook_trains_with_the_settings_it_is_judged_by(helpers, tmp_path):
    """A budget changed in memory (not in any file) is the one student code reads."""
    config = helpers.with_stage(helpers.course_config(), "cnn", epochs=7)
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(
        "from mnist_course.config import load_config\n"
        "raise RuntimeError(load_config().assignment('mnist_digits').stages['cnn'].epochs)"
    )]  # fmt: skip
    nbformat.write(notebook, tmp_path / "budget.ipynb")
    report = grade_submission(
        tmp_path / "budget.ipynb", config=config, workdir=tmp_path, assignment="mnist_digits"
    )
    assert report.notes[0].startswith("cell 0: RuntimeError: 7"), report.notes


@pytest.mark.skipif(not executor.isolation_available(), reason="needs unshare")
def test_a_sandbox_that_cannot_start_is_the_graders_failure(helpers, tmp_path):
    # 40 MB cannot even start Python with NumPy: no cell runs, so no student is to blame.
    config = helpers.course_config(memory_mb=40, cell_timeout_s=10)
    with pytest.raises(grader.GradingError, match="could not start the notebook"):
        grade_submission(
            helpers.submissions / "submission-missing-functions.ipynb",
            config=config,
            workdir=tmp_path,
        )


@pytest.mark.skipif(not executor.isolation_available(), reason="needs unshare")
def test_the_sandbox_dies_with_its_grading_process(helpers, tmp_path):
    import signal
    import subprocess
    import sys
    import textwrap
    import time

    looping = helpers.submissions / "submission-infinite-loop-ignoring-interrupts.ipynb"
    script = textwrap.dedent(f"""
        from autograder.grader import grade_submission
        from mnist_course.config import load_config
        config = load_config({str(helpers.repo_root / "course.yaml")!r})
        config = config.model_copy(update={{"grading": config.grading.model_copy(
            update={{"cell_timeout_s": 120, "submission_timeout_s": 120}})}})
        grade_submission({str(looping)!r},
                         config=config, workdir={str(tmp_path)!r})
    """)
    grading = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _sandbox_processes(tmp_path):
        time.sleep(0.5)
    assert _sandbox_processes(tmp_path), "the sandbox never started"
    time.sleep(8)  # into the endless loop, which swallows every exception
    grading.send_signal(signal.SIGKILL)
    grading.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _sandbox_processes(tmp_path):
        time.sleep(0.5)
    assert _sandbox_processes(tmp_path) == []


def _sandbox_processes(folder) -> list[int]:
    """Pids of harnesses whose command line names a scratch folder under ``folder``."""
    from pathlib import Path

    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        if "autograder.harness" in text and str(folder) in text:
            found.append(int(cmdline.parent.name))
    return found


def test_the_progress_channel_takes_only_the_harness_records_in_order():
    import os

    cells = [messages.HarnessCell(0, "x = 1", False), messages.HarnessCell(2, "y = 2", False)]
    for lines, seen, violated in [
        ([messages.HarnessProgress(0, 1.0).encode()], 1, False),
        ([messages.HarnessProgress(0, 1.0).encode(), messages.HarnessProgress(2, 2.0).encode()],
         2, False),
        (['{"cell": 0, "started": 1.0}'], 0, True),  # the right step, but not the record
        ([messages.HarnessProgress(2, 1.0).encode()], 0, True),  # out of order
        (["[" * 30000], 0, True),  # deeply nested JSON (within a pipe buffer)
    ]:  # fmt: skip
        read_end, write_end = os.pipe()
        os.set_blocking(read_end, False)
        os.write(write_end, ("\n".join(lines) + "\n").encode())
        os.close(write_end)
        progress = executor.Progress(read_end, cells)
        progress.read()
        os.close(read_end)
        assert progress.seen == seen and (progress.violation is not None) is violated, lines
