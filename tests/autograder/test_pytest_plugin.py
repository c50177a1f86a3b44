"""``pytest --submission=NOTEBOOK``: one test per check; inert without the option."""

from __future__ import annotations

import os
import subprocess
import sys


def _pytest(args, cwd, mnist_dir):
    env = {**os.environ, "MNIST_DATA": str(mnist_dir), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip


def test_plugin_is_inert_without_the_option(tmp_path, mnist_dir):
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    assert True\n")
    done = _pytest(["-q"], tmp_path, mnist_dir)
    assert done.returncode == 0 and "1 passed" in done.stdout


def test_one_test_per_check_with_points(tmp_path, helpers, mnist_dir):
    submission = helpers.submissions / "submission-missing-functions.ipynb"
    config = helpers.repo_root / "course.yaml"
    done = _pytest(
        ["-v", f"--submission={submission}", f"--course-config={config}",
         f"--junitxml={tmp_path / 'out.xml'}"],
        tmp_path, mnist_dir,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "11 failed, 1 passed" in done.stdout
    assert "data.load [1 pts] PASSED" in done.stdout
    assert "score: 1 / 15" in done.stdout
    assert 'name="points"' in (tmp_path / "out.xml").read_text()
