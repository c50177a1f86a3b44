"""The functions nbgrader test cells call: ✓ on success, AssertionError with the hint."""

from __future__ import annotations

import json
import re

import keras
import numpy as np
import pytest
import yaml

from autograder import notebook
from autograder.checks import evaluation
from autograder.families.base import NotebookContext
from mnist_course.results import CheckResult


@pytest.fixture(autouse=True)
def kit_config(monkeypatch, helpers, mnist_dir):
    monkeypatch.setenv("COURSE_CONFIG", str(helpers.repo_root / "course.yaml"))
    monkeypatch.setenv("MNIST_DATA", str(mnist_dir))
    notebook._course.cache_clear()
    notebook.start_notebook("mnist_digits")
    yield
    notebook._course.cache_clear()
    notebook._assignment["id"] = None


def test_check_data_prints_a_tick(mnist, capsys):
    (x_train, y_train), (x_test, y_test) = mnist
    result = notebook.check_data(x_train, y_train, x_test, y_test)
    assert isinstance(result, CheckResult) and result.passed
    assert capsys.readouterr().out.startswith("✓ ")


def test_check_data_failure_is_an_assertion_with_the_hint(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    with pytest.raises(AssertionError, match="already normalized"):
        notebook.check_data(x_train / 255.0, y_train, x_test, y_test)


def test_check_normalize_calls_the_student_function():
    notebook.check_normalize(lambda images: images / 255.0)
    with pytest.raises(AssertionError, match="not divided by 255"):
        notebook.check_normalize(lambda images: images)
    with pytest.raises(AssertionError, match="ZeroDivisionError"):
        notebook.check_normalize(lambda images: 1 / 0)


def test_check_flatten(mnist):
    (x_train, _), (x_test, _) = mnist

    def flatten(images):
        return np.asarray(images).reshape(len(images), 784)

    notebook.check_flatten(flatten, flatten(x_train) / 255.0, flatten(x_test) / 255.0)
    with pytest.raises(AssertionError, match="one long vector"):
        notebook.check_flatten(lambda images: images.reshape(-1), flatten(x_train),
                               flatten(x_test))  # fmt: skip


def test_model_checks_in_the_kernel(small_mnist, mnist, helpers):
    (x_train, y_train), _ = small_mnist
    _, (x_test, y_test) = mnist
    notebook.check_model_structure("baseline", helpers.baseline())
    with pytest.raises(AssertionError, match="hidden layer"):
        notebook.check_model_structure("baseline", helpers.hidden_layer())
    keras.utils.set_random_seed(42)
    untrained = helpers.baseline()
    with pytest.raises(AssertionError, match="never trained"):
        notebook.check_model_trained("baseline", untrained, x_test, y_test)
    model = helpers.baseline()
    model.fit(x_train.reshape(-1, 784) / 255.0, y_train, epochs=2, batch_size=64, verbose=0)
    assert notebook.check_model_trained("baseline", model, x_test, y_test).passed
    with pytest.raises(AssertionError, match="points below the bar"):
        notebook.check_accuracy("baseline", model, x_test, y_test)


def test_trimmed_test_set_cannot_raise_the_measured_accuracy(small_mnist, mnist, helpers):
    """A notebook that keeps only the test images its model gets right gains nothing."""
    (x_train, y_train), _ = small_mnist
    _, (x_test, y_test) = mnist
    keras.utils.set_random_seed(42)
    model = helpers.baseline()
    model.fit(x_train.reshape(-1, 784) / 255.0, y_train, epochs=2, batch_size=64, verbose=0)
    predicted = model.predict(x_test.reshape(-1, 784) / 255.0, verbose=0).argmax(axis=1)
    right = predicted == y_test
    assert right.mean() < 0.92  # the honest accuracy misses the baseline bar
    with pytest.raises(AssertionError, match="points below the bar") as honest:
        notebook.check_accuracy("baseline", model, x_test, y_test)
    with pytest.raises(AssertionError, match="points below the bar") as trimmed:
        notebook.check_accuracy("baseline", model, x_test[right], y_test[right])
    assert str(trimmed.value) == str(honest.value)


# What a student sees: the name-based check(), its boxes, and a real kernel.


def test_check_reads_the_callers_names(mnist):
    (X_train, y_train), (X_test, y_test) = mnist  # noqa: N806 - the notebook's names
    assert notebook.check("data.load", locals()).passed


def test_missing_names_are_not_written_yet():
    with pytest.raises(notebook.CheckFailed) as failed:
        notebook.check("data.load", {})
    result = failed.value.result
    assert result.message.startswith("Not written yet: X_train, y_train, X_test and y_test are")
    assert result.hint_category == "load_missing" and not result.passed
    with pytest.raises(notebook.CheckFailed) as failed:
        notebook.check("data.normalize", {})
    assert failed.value.result.hint_category == "not_written_yet"
    assert "normalize() is not written yet" in failed.value.result.hint


def test_a_builder_still_raising_the_stub_is_not_written_yet():
    def build_cnn():
        raise NotImplementedError("Replace this line with your code (instructions above).")

    with pytest.raises(notebook.CheckFailed) as failed:
        notebook.check("cnn.structure", {"build_cnn": build_cnn})
    assert failed.value.result.hint_category == "not_written_yet"
    with pytest.raises(notebook.CheckFailed, match="raised ZeroDivisionError"):
        notebook.check("cnn.structure", {"build_cnn": lambda: 1 / 0})


def test_an_unknown_check_id_names_the_valid_ones():
    with pytest.raises(ValueError, match="data.load"):
        notebook.check("data.loaded", {})


def test_failure_renders_as_a_box_not_a_traceback():
    with pytest.raises(notebook.CheckFailed) as failed:
        notebook.check_normalize(lambda images: images)
    lines = failed.value._render_traceback_()
    plain = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in lines]
    assert plain[0].startswith("✗ normalize() scales pixels to [0, 1] (0/")
    assert any(line.lstrip().startswith("Hint: ") for line in plain)
    assert all(len(line) <= notebook.BOX_WIDTH for line in plain)
    assert not any("File " in line or "notebook.py" in line for line in plain)


def test_the_noise_pattern_matches_tensorflows_start_up_lines():
    lines = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "E0000 00:00:1796104531.673761   13735 cuda_platform.cc:52] failed call to cuInit: ...",
        "I0000 00:00:1796104526.613919   13735 cpu_feature_guard.cc:227] This TensorFlow ...",
    ]
    assert all(notebook.TENSORFLOW_START_UP.search(line) for line in lines)
    assert not notebook.TENSORFLOW_START_UP.search("Epoch 1/4\n235/235 - 2s - loss: 0.41")


def test_a_pass_is_a_green_html_box(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    result = notebook.run_check(
        "data.load", {"X_train": x_train, "y_train": y_train, "X_test": x_test, "y_test": y_test}
    )
    box = notebook.ResultBox(result)
    assert str(box).startswith("✓ Data loaded") and "autograder-pass" in box._repr_html_()
    assert repr(box) == str(box)  # a text-only front end (nbconvert --to script, a terminal)


# Partial credit (grading.partial_credit): the same check, scored on a scale below the bar.


@pytest.fixture
def partial_credit(tmp_path, monkeypatch, helpers):
    """The kit's course.yaml with a linear scale for every accuracy check."""
    raw = yaml.safe_load((helpers.repo_root / "course.yaml").read_text(encoding="utf-8"))
    raw.setdefault("grading", {})["partial_credit"] = {"accuracy": {"scale": "linear"}}
    path = tmp_path / "course.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    monkeypatch.setenv("COURSE_CONFIG", str(path))
    notebook._course.cache_clear()


def _measured(monkeypatch, accuracy: float) -> None:
    """The kernel's measurement of every model, made ``accuracy`` (no training needed)."""
    measurement = evaluation.Measurement(accuracy, 10000)
    monkeypatch.setattr(
        NotebookContext, "measure", lambda self, stage, model, perturbed=False: measurement
    )


def test_a_partly_scored_check_is_a_box_when_the_cell_records_its_points(
    partial_credit, monkeypatch, helpers, capsys
):
    _measured(monkeypatch, 0.9)
    names = {"baseline_model": helpers.baseline()}
    result = notebook.check("baseline.accuracy", names, partial=True)
    assert result.partial and result.points == 1.9
    shown = capsys.readouterr().out  # outside IPython, display() prints the plain text
    assert shown.startswith(
        "◐ Baseline ANN (no hidden layer): test accuracy reaches the bar (1.9/2)"
    )
    assert "Partial credit: 1.9 / 2 points on a linear scale" in " ".join(shown.split())
    box = notebook.ResultBox(result)._repr_html_()
    assert "autograder-partial" in box and "#c80" in box


def test_a_partly_scored_check_raises_where_the_cell_would_not_record_its_points(
    partial_credit, monkeypatch, helpers
):
    """A test cell generated before partial credit was switched on ends without the
    points: raising keeps nbgrader from giving it all of them."""
    _measured(monkeypatch, 0.9)
    with pytest.raises(notebook.CheckFailed) as failed:
        notebook.check("baseline.accuracy", {"baseline_model": helpers.baseline()})
    head = re.sub(r"\x1b\[[0-9;]*m", "", failed.value._render_traceback_()[0])
    assert head.startswith("◐ ") and head.endswith("(1.9/2)")


def test_nothing_scored_still_raises_with_partial(partial_credit, monkeypatch, helpers):
    _measured(monkeypatch, 0.45)
    with pytest.raises(notebook.CheckFailed, match="at or below the floor of 50.00%"):
        notebook.check("baseline.accuracy", {"baseline_model": helpers.baseline()}, partial=True)
    with pytest.raises(notebook.CheckFailed, match="Not written yet"):
        notebook.check("baseline.accuracy", {}, partial=True)


KERNEL_CELLS = [
    "from autograder.notebook import check, start_notebook\nstart_notebook()\nimport keras",
    "_ = keras.ops.zeros(1)\nimport numpy as np\n"
    "def normalize(images):\n    return np.asarray(images, dtype='float32') / 255.0",
    'check("data.normalize");',
    'check("data.load");',
    'def flatten(images):\n    raise NotImplementedError("Replace this line")',
    'check("data.flatten");',
    "plt = X_train[0]",
    "def explore():\n    return X_train[0]\nexplore()",
    'raise NotImplementedError("Replace this line with your code (instructions above).")',
]


def test_in_a_kernel_boxes_are_clean_and_tensorflow_is_quiet(monkeypatch):
    """A real kernel, as JupyterLab and nbgrader run it: what each output shows."""
    import nbclient
    import nbformat

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)  # as on a student's machine
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in KERNEL_CELLS])
    nbclient.NotebookClient(nb, timeout=300, allow_errors=True, kernel_name="python3").execute()
    outputs = [cell.outputs for cell in nb.cells]
    text = json.dumps(outputs, ensure_ascii=False)
    assert not notebook.TENSORFLOW_START_UP.search(text.replace("\\n", "\n")), text[:2000]
    assert not outputs[0] and not outputs[1], outputs[:2]
    [passed] = outputs[2]
    assert passed.output_type == "display_data" and "✓" in passed.data["text/html"]
    for index, expected in ((3, "Not written yet: X_train"), (5, "flatten() is not written yet")):
        [error] = outputs[index]
        assert error.output_type == "error" and error.ename == "CheckFailed"
        shown = "\n".join(error.traceback)
        assert "✗" in shown and expected in shown, shown
        assert "NameError" not in shown and "notebook.py" not in shown and "File " not in shown
    [top_level] = outputs[6]
    assert top_level.ename == "NameError"  # still an error: the cell fails, nbgrader counts it
    assert "✗ Not written yet: X_train is not defined" in top_level.traceback[0]
    assert not any("Cell In" in line or "---->" in line for line in top_level.traceback)
    [inside_function] = outputs[7]  # a name missing inside a function: the usual traceback
    assert "explore()" in "\n".join(inside_function.traceback)
    [stub] = outputs[8]
    assert stub.ename == "NotImplementedError" and "✗ Not written yet: replace" in stub.traceback[0]
