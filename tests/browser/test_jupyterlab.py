"""The released notebook in a real JupyterLab, in headless Chromium, as a student uses it.

A tiny course (one epoch per model, low bars) is released with ``nbgrader
generate_assignment``; the stubs are filled with the reference solution (the load
cell typed in the browser, the others written to the file as a student's saved work);
JupyterLab serves it on loopback; Playwright drives Debian's chromium (no browser
download) through *Run All Cells*. Then every visible self-check shows its ✓ box, the
plots are images that decoded, and no output shows TensorFlow's start-up lines.
Screenshots are kept in ``$AUTOGRADER_BROWSER_ARTIFACTS`` (else the test's tmp_path).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from authoring.build import source_notebook_path, write_notebook
from autograder.notebook import TENSORFLOW_START_UP
from mnist_course.config import load_config

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MARKER = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")
ASSIGNMENT = "mnist_digits"
#: One epoch per model and bars any trained model clears: training takes seconds.
TINY_STAGE = {"epochs": 1, "batch_size": 512, "min_test_accuracy": 0.5}
#: The cell typed in the browser (the others are filled in the file).
TYPED_CELL = "load"
RUN_ALL_TIMEOUT_MS = 10 * 60 * 1000
#: JupyterLab user settings: every cell stays in the page (no windowing), so the test sees
#: all outputs; no news pop-up over the screenshots.
SETTINGS = {
    "notebook-extension/tracker": '{"windowingMode": "none"}',
    "apputils-extension/notification": '{"fetchNews": "false", "checkForUpdates": false}',
}


@pytest.fixture(scope="module")
def sync_api():
    """Playwright's sync API, or a skip (a failure in CI) naming what is missing."""
    missing = []
    try:
        from playwright import sync_api
    except ImportError:
        sync_api = None
        missing.append("the playwright package (pip install -e '.[dev]')")
    if not CHROMIUM.is_file():
        missing.append(f"chromium at {CHROMIUM} (apt-get install -y chromium)")
    if missing:
        message = "real-browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return sync_api


def _meta(cell: nbformat.NotebookNode) -> dict:
    return cell.metadata.get("nbgrader", {})


def _solutions(source: Path) -> dict[str, str]:
    """Each solution cell of the source notebook, markers removed: the reference code."""
    return {
        _meta(cell)["grade_id"]: "\n".join(
            line for line in cell.source.split("\n") if not MARKER.match(line)
        )
        for cell in nbformat.read(source, 4).cells
        if _meta(cell).get("solution")
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    folder = os.environ.get("AUTOGRADER_BROWSER_ARTIFACTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("browser-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser test screenshots: {path}")
    return path


@pytest.fixture(scope="module")
def released(
    sync_api, tmp_path_factory, mnist_dir, tiny_course
) -> tuple[Path, dict[str, str], dict[str, str]]:
    """A tiny course's release with every stub but the typed one solved; its environment."""
    root = tmp_path_factory.mktemp("course")
    shutil.copy(REPO_ROOT / "nbgrader_config.py", root)
    config_path = tiny_course(root, ASSIGNMENT, TINY_STAGE)
    course = load_config(config_path).assignment(ASSIGNMENT)
    source = write_notebook(course, source_notebook_path(course))
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "COURSE_CONFIG": str(config_path),
        "MNIST_DATA": str(mnist_dir),
    }
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as on a student's machine: the notebook sets it
    done = subprocess.run(
        [str(Path(sys.executable).parent / "nbgrader"), "generate_assignment",
         ASSIGNMENT],
        cwd=root, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    release = root / "release" / source.parent.name / source.name
    solutions = _solutions(source)
    notebook = nbformat.read(release, 4)
    for cell in notebook.cells:
        if _meta(cell).get("solution") and _meta(cell)["grade_id"] != TYPED_CELL:
            cell.source = solutions[_meta(cell)["grade_id"]]
    nbformat.write(notebook, release)
    return release, solutions, env


@pytest.fixture(scope="module")
def jupyterlab(released, tmp_path_factory) -> Iterator[str]:
    """JupyterLab on loopback serving the release folder; yields the notebook's URL."""
    release, _, env = released
    home = tmp_path_factory.mktemp("jupyter-home")
    settings = home / "settings" / "@jupyterlab"
    for plugin, value in SETTINGS.items():
        (settings / plugin).parent.mkdir(parents=True, exist_ok=True)
        (settings / f"{plugin}.jupyterlab-settings").write_text(value)
    token, port = secrets.token_hex(16), _free_port()
    server_env = {
        **env,
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
    }
    log = open(home / "jupyterlab.log", "w")  # noqa: SIM115 - closed after the server
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", "--allow-root",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={release.parent}",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env=server_env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(
                        f"JupyterLab did not start:\n{(home / 'jupyterlab.log').read_text()}"
                    )
                time.sleep(0.5)
        yield f"{base}/lab/tree/{release.name}?token={token}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _outputs_text(page) -> str:
    return "\n".join(page.locator(".jp-OutputArea-output").all_inner_texts())


def test_solved_release_runs_clean_in_jupyterlab(
    sync_api, released, jupyterlab, artifacts, tmp_path
):
    release, solutions, _ = released
    notebook = nbformat.read(release, 4)
    visible_checks = [
        cell for cell in notebook.cells if _meta(cell).get("grade") and "check(" in cell.source
    ]
    typed_index = next(
        i for i, cell in enumerate(notebook.cells) if _meta(cell).get("grade_id") == TYPED_CELL
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            page = browser.pages[0] if browser.pages else browser.new_page()
            page.goto(jupyterlab)
            cells = page.locator(".jp-Notebook .jp-Cell")
            cells.nth(len(notebook.cells) - 1).wait_for(timeout=120_000)
            page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(
                timeout=120_000
            )
            page.screenshot(path=artifacts / "1-opened.png")

            # The student's edit: the load stub replaced by typed code.
            editor = cells.nth(typed_index).locator(".cm-content")
            editor.click()
            page.keyboard.press("Control+A")
            page.keyboard.press("Delete")
            for number, line in enumerate(solutions[TYPED_CELL].split("\n")):
                if number:
                    page.keyboard.press("Enter")
                page.keyboard.type(line)
            assert editor.inner_text().strip() == solutions[TYPED_CELL].strip()
            page.screenshot(path=artifacts / "2-typed.png")

            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_text("Run All Cells", exact=True).click()
            page.wait_for_function(
                """count => {
                    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
                    const outputs = [...document.querySelectorAll('.jp-OutputArea-output')];
                    const failed = outputs.some(o => /Traceback|✗/.test(o.textContent));
                    return failed || (prompts.length === count
                        && prompts.every(p => /\\[\\d+\\]/.test(p.textContent)));
                }""",
                arg=sum(cell.cell_type == "code" for cell in notebook.cells),
                timeout=RUN_ALL_TIMEOUT_MS,
                polling=1000,
            )
            page.screenshot(path=artifacts / "3-ran.png")

            outputs = _outputs_text(page)
            assert "Traceback" not in outputs and "Error" not in outputs, outputs[-3000:]
            passes = page.locator(".autograder-pass")
            assert passes.count() == len(visible_checks), outputs[-3000:]
            assert "✗" not in outputs
            images = page.locator(".jp-OutputArea-output img")
            assert images.count() >= 4  # two of the digits, the predictions, the comparison
            for index in range(images.count()):
                image = images.nth(index)
                assert image.evaluate("img => img.complete && img.naturalWidth > 0")
            passes.first.scroll_into_view_if_needed()
            page.screenshot(path=artifacts / "4-check.png")
            images.first.scroll_into_view_if_needed()
            page.screenshot(path=artifacts / "5-plot.png")
            assert not TENSORFLOW_START_UP.search(outputs), TENSORFLOW_START_UP.search(outputs)
        finally:
            browser.close()
    assert {"1-opened.png", "3-ran.png", "4-check.png", "5-plot.png"} <= {
        path.name for path in artifacts.glob("*.png")
    }
