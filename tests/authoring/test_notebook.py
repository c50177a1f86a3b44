"""The source notebook generator: no drift from reference/ and course.yaml."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import IPython.display
import keras
import nbformat
import numpy as np
import pytest
import yaml
from nbgrader.utils import determine_grade

from authoring import cells
from authoring.__main__ import main as generator_main
from authoring.build import REGENERATE, build_notebook, drift, source_notebook_path
from authoring.feedback import RedactHiddenTests
from authoring.solutions import body_lines, module_constants, split_function
from autograder import notebook as kernel_side
from autograder.checks.evaluation import Measurement
from autograder.families.base import NotebookContext
from mnist_course.assignments import get_spec
from mnist_course.config import load_config
from mnist_course.results import check_specs, grade_id_of
from reference import data, models, training

REPO_ROOT = Path(__file__).resolve().parents[2]
DIGITS = "mnist_digits"
STAGES = tuple(stage.id for stage in get_spec(DIGITS).stages)
CONTRACT_FUNCTIONS = (
    "normalize",
    "flatten",
    "build_baseline_ann",
    "build_hidden_layer_ann",
    "build_cnn",
)
CONTRACT_VARIABLES = (
    "X_train",
    "y_train",
    "X_test",
    "y_test",
    "X_train_flattened",
    "X_test_flattened",
    "baseline_model",
    "hidden_layer_model",
    "cnn_model",
)


@pytest.fixture(scope="module")
def kit_config():
    return load_config(REPO_ROOT / "course.yaml").assignment(DIGITS)


@pytest.fixture(scope="module")
def notebook(kit_config):
    return build_notebook(kit_config)


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _without_markers(source: str) -> str:
    marker = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")
    return "\n".join(line for line in source.split("\n") if not marker.match(line))


def _solution_namespace(notebook) -> dict:
    """Run the notebook's function cells (compile helper and solutions) on their own."""
    namespace: dict = {"np": np, "keras": keras}
    for cell in notebook.cells:
        if cell.id == "compile-model" or (
            _nbgrader(cell).get("solution") and cell.source.lstrip().startswith("def ")
        ):
            exec(_without_markers(cell.source), namespace)
    return namespace


def test_committed_notebook_matches_the_generator(kit_config):
    path = source_notebook_path(kit_config, REPO_ROOT / "assignments")
    problem = drift(kit_config, path)
    assert problem is None, problem


@pytest.mark.parametrize("assignment", sorted(load_config(REPO_ROOT / "course.yaml").assignments))
def test_every_assignments_notebook_matches_the_generator(assignment):
    config = load_config(REPO_ROOT / "course.yaml").assignment(assignment)
    notebook = build_notebook(config)
    assert notebook.metadata["autograder"] == {"assignment": assignment}
    assert drift(config, source_notebook_path(config, REPO_ROOT / "assignments")) is None
    graded = [c for c in notebook.cells if _nbgrader(c).get("grade")]
    assert sorted(_nbgrader(c)["grade_id"] for c in graded) == sorted(
        grade_id_of(check.id) for check in config.spec.checks
    )


def test_generation_is_deterministic(kit_config):
    first = nbformat.writes(build_notebook(kit_config))
    assert nbformat.writes(build_notebook(kit_config)) == first


def test_drift_names_the_command_to_run(kit_config, tmp_path):
    path = tmp_path / "mnist_digits.ipynb"
    notebook = build_notebook(kit_config)
    notebook.cells[5].source += "\n# edited by hand"
    nbformat.write(notebook, path)
    problem = drift(kit_config, path)
    assert problem is not None and REGENERATE in problem and notebook.cells[5].id in problem
    assert "does not exist" in drift(kit_config, tmp_path / "missing.ipynb")


def test_check_command_exit_codes(kit_config, tmp_path, capsys):
    path = tmp_path / "nb.ipynb"
    config_file = str(REPO_ROOT / "course.yaml")
    assert (
        generator_main(
            ["--config", config_file, "--assignment", DIGITS, "--output", str(path), "--check"]
        )
        == 1
    )
    assert (
        generator_main(["--config", config_file, "--assignment", DIGITS, "--output", str(path)])
        == 0
    )
    assert (
        generator_main(
            ["--config", config_file, "--assignment", DIGITS, "--output", str(path), "--check"]
        )
        == 0
    )
    assert "up to date" in capsys.readouterr().out


def test_solution_cells_are_the_reference_source(notebook):
    by_id = {cell.id: cell for cell in notebook.cells}
    for function in (
        data.normalize,
        data.flatten,
        models.build_baseline_ann,
        models.build_hidden_layer_ann,
        models.build_cnn,
    ):
        cell = by_id[function.__name__.replace("_", "-")]
        assert _nbgrader(cell)["solution"] is True
        assert _without_markers(cell.source) == split_function(function).full


def test_notebook_functions_agree_with_reference_on_the_same_inputs(notebook, rng):
    namespace = _solution_namespace(notebook)
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    np.testing.assert_array_equal(namespace["normalize"](images), data.normalize(images))
    np.testing.assert_array_equal(namespace["flatten"](images), data.flatten(images))
    for name in ("build_baseline_ann", "build_hidden_layer_ann", "build_cnn"):
        ours, theirs = namespace[name](), getattr(models, name)()
        assert [layer.get_config() | {"name": ""} for layer in ours.layers] == [
            layer.get_config() | {"name": ""} for layer in theirs.layers
        ]
        assert ours.loss == theirs.loss
        assert type(ours.optimizer) is type(theirs.optimizer)


def test_learning_rate_decay_agrees_with_reference(notebook, rng):
    namespace = _solution_namespace(notebook)
    images = rng.random((16, 784), dtype="float32")
    labels = rng.integers(0, 10, size=16)
    ours = namespace["build_baseline_ann"](learning_rate=0.01)
    shrink = namespace["shrink_learning_rate"](0.5)
    history = ours.fit(images, labels, epochs=3, batch_size=16, callbacks=[shrink], verbose=0)
    theirs = models.build_baseline_ann(learning_rate=0.01)
    run = training.train_model(
        theirs,
        images,
        labels,
        epochs=3,
        batch_size=16,
        seed=0,
        learning_rate_decay=0.5,
        verbose=0,
    )
    assert history.history["learning_rate"] == pytest.approx(run.history["learning_rate"])
    assert history.history["learning_rate"][-1] == pytest.approx(0.0025)


def test_student_contract_names_are_defined_in_solution_cells(notebook):
    solutions = "\n".join(c.source for c in notebook.cells if _nbgrader(c).get("solution"))
    for name in CONTRACT_FUNCTIONS:
        assert re.search(rf"^def {name}\(", solutions, re.MULTILINE), name
    for name in CONTRACT_VARIABLES:
        assert re.search(rf"\b{name}\b[^\n]*=", solutions), name


def test_test_cells_only_call_the_shared_checks(notebook, kit_config):
    """One test cell per check of the catalogue, each one line: check("<its id>")."""
    called = []
    for cell in notebook.cells:
        if _nbgrader(cell).get("grade"):
            code = [
                line
                for line in _without_markers(cell.source).split("\n")
                if line.strip() and not line.lstrip().startswith("#")
            ]
            assert len(code) == 1, (cell.id, code)
            match = re.fullmatch(r'check\("([a-z_.]+)"\);', code[0])
            assert match, (cell.id, code)
            called.append(match.group(1))
    assert sorted(called) == sorted(spec.id for spec in check_specs(kit_config))


def test_self_checks_name_what_they_read(notebook):
    by_id = {cell.id: cell for cell in notebook.cells}
    assert "reads X_train, y_train, X_test, y_test" in by_id["check-load"].source
    assert "reads build_cnn" in by_id["check-cnn-structure"].source
    assert "reads baseline_model, X_test, y_test" in by_id["check-baseline-trained"].source


def test_setup_silences_tensorflow_before_importing_it(notebook):
    setup = next(cell for cell in notebook.cells if cell.id == "setup").source
    assert setup.index(f'start_notebook("{DIGITS}")') < setup.index("import keras")
    first_code = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert first_code.id == "setup"


def test_points_and_bars_come_from_course_yaml(kit_config, notebook):
    graded = {c.id: _nbgrader(c)["points"] for c in notebook.cells if _nbgrader(c).get("grade")}
    assert sum(graded.values()) == kit_config.total_points()
    for check in kit_config.spec.checks:
        assert graded[grade_id_of(check.id)] == kit_config.points(check.id), check.id


def test_changing_course_yaml_changes_the_notebook(tmp_path):
    raw = yaml.safe_load((REPO_ROOT / "course.yaml").read_text())
    raw["course"]["title"] = "Digits, revised"
    settings = raw["assignments"][DIGITS]
    settings.setdefault("points", {}).update({"data.normalize": 3, "cnn.accuracy": 5})
    settings.setdefault("stages", {}).setdefault("cnn", {})["min_test_accuracy"] = 0.97
    path = tmp_path / "course.yaml"
    path.write_text(yaml.safe_dump(raw))
    config = load_config(path).assignment(DIGITS)
    notebook = build_notebook(config)
    by_id = {cell.id: cell for cell in notebook.cells}
    assert "*Digits, revised*" in by_id["introduction"].source
    assert _nbgrader(by_id["check-normalize"])["points"] == 3
    assert _nbgrader(by_id["check-cnn-accuracy"])["points"] == 5
    assert "97%" in by_id["cnn-text"].source and "97%" in by_id["check-cnn-accuracy"].source
    assert f"**{config.total_points():g}**" in by_id["introduction"].source
    assert source_notebook_path(config) == tmp_path / "assignments/mnist_digits/mnist_digits.ipynb"


def test_training_budgets_are_read_when_the_notebook_runs(notebook):
    for stage in STAGES:
        cell = next(c for c in notebook.cells if c.id == f"train-{stage.replace('_', '-')}")
        assert f'budget = config.stages["{stage}"]' in cell.source
        assert (
            "epochs=budget.epochs" in cell.source and "batch_size=budget.batch_size" in cell.source
        )


def test_split_function_and_constants():
    source = split_function(data.normalize)
    assert source.head.startswith("def normalize(images):") and source.head.endswith('"""')
    assert source.body.strip() == 'return np.asarray(images, dtype="float32") / 255.0'
    assert body_lines(data.normalize) == ['return np.asarray(images, dtype="float32") / 255.0']
    from reference import training

    assert "LOSS = 'sparse_categorical_crossentropy'" in module_constants(training.compile_model)


def test_solution_markers_follow_the_body_indentation():
    cell = cells.solution("x", "def f():", "    return 1")
    assert cell.source == "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"
    meta = _nbgrader(cell)
    assert meta["solution"] and not meta["grade"] and meta["grade_id"] == "x"


def test_redact_hidden_tests_keeps_the_verdict_not_the_code():
    cell = cells.test("t", "# Hidden test", 2, hidden="check_accuracy('cnn', m, x, y)")
    cell.outputs = [
        nbformat.v4.new_output(
            "error",
            ename="AssertionError",
            evalue="accuracy 0.41 is below the bar 0.98",
            traceback=["Cell In[3], line 3", "----> 3 check_accuracy('cnn', m, x, y)"],
        )
    ]
    notebook = nbformat.v4.new_notebook(cells=[cell])
    redacted, _ = RedactHiddenTests().preprocess(notebook, {})
    text = nbformat.writes(redacted)
    assert "check_accuracy" not in text and "HIDDEN" not in text
    assert redacted.cells[0].outputs[0].traceback == [
        "AssertionError: accuracy 0.41 is below the bar 0.98"
    ]


def test_redact_hidden_tests_keeps_a_failed_checks_box():
    """A failed check renders as its ✗ box, which quotes no code: the student keeps it."""
    cell = cells.test("t", "# Hidden test", 2, hidden='check("cnn.accuracy");')
    box = ["✗ Convolutional network: test accuracy reaches the bar (0/2)", "  Hint: train longer"]
    forged = [*box, 'check("cnn.accuracy");']
    cell.outputs = [
        nbformat.v4.new_output("error", ename="CheckFailed", evalue="below", traceback=box),
        nbformat.v4.new_output("error", ename="CheckFailed", evalue="below", traceback=forged),
    ]
    redacted, _ = RedactHiddenTests().preprocess(nbformat.v4.new_notebook(cells=[cell]), {})
    kept, shortened = redacted.cells[0].outputs
    assert kept.traceback == box
    assert shortened.traceback == ["CheckFailed: below"]


# Partial credit on the nbgrader path: the generated cell, run as ipykernel runs it, scored
# by nbgrader's own determine_grade (what `nbgrader autograde` records for the cell).

STEPS = {"accuracy": {"scale": "steps", "steps": [[0.9, 0.25], [0.91, 0.5]]}}


@pytest.fixture
def partial_config(tmp_path, monkeypatch):
    """The kit's course.yaml with steps for every accuracy check, as the kernel reads it."""
    raw = yaml.safe_load((REPO_ROOT / "course.yaml").read_text(encoding="utf-8"))
    raw.setdefault("grading", {})["partial_credit"] = STEPS
    path = tmp_path / "course.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    monkeypatch.setenv("COURSE_CONFIG", str(path))
    monkeypatch.setitem(kernel_side._assignment, "id", DIGITS)
    kernel_side._course.cache_clear()
    yield load_config(path).assignment(DIGITS)
    kernel_side._course.cache_clear()


def _run_like_ipykernel(source: str, namespace: dict, monkeypatch) -> list:
    """The outputs ipykernel records for a cell: a display_data per display(), the last
    line's value as an execute_result (unless a ``;`` ends it), an exception as an error."""
    outputs = []

    def display(*objects: object) -> None:
        for shown in objects:
            data = {"text/plain": repr(shown)}  # IPython's text/plain is the repr
            if hasattr(shown, "_repr_html_"):
                data["text/html"] = shown._repr_html_()
            outputs.append(nbformat.v4.new_output("display_data", data=data))

    monkeypatch.setattr(IPython.display, "display", display)
    *body, last = ast.parse(source).body
    try:
        exec(compile(ast.Module(body, []), "<cell>", "exec"), namespace)
        if isinstance(last, ast.Expr):
            value = eval(compile(ast.Expression(last.value), "<cell>", "eval"), namespace)
            if value is not None and not source.rstrip().endswith(";"):
                data = {"text/plain": repr(value)}
                outputs.append(nbformat.v4.new_output("execute_result", data=data))
        else:
            exec(compile(ast.Module([last], []), "<cell>", "exec"), namespace)
    except Exception as exc:  # what the cell raised is its error output
        traceback = exc._render_traceback_() if hasattr(exc, "_render_traceback_") else []
        error = {"ename": type(exc).__name__, "evalue": str(exc), "traceback": traceback}
        outputs.append(nbformat.v4.new_output("error", **error))
    return outputs


def _graded(config, accuracy: float, monkeypatch, grade_id: str = "check-baseline-accuracy"):
    """The cell ``grade_id`` of ``config``'s notebook, run on a model the kernel measures
    at ``accuracy``, with its outputs; and nbgrader's grade of it."""
    cell = next(c for c in build_notebook(config).cells if c.id == grade_id)
    measurement = Measurement(accuracy, 10000)
    monkeypatch.setattr(
        NotebookContext, "measure", lambda self, stage, model, perturbed=False: measurement
    )
    model = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(10)])
    namespace = {"check": kernel_side.check, "baseline_model": model}
    cell.outputs = _run_like_ipykernel(cell.source, namespace, monkeypatch)
    return cell, determine_grade(cell)


def test_a_partial_credit_notebook_records_the_points_in_its_cells(partial_config):
    by_id = {cell.id: cell for cell in build_notebook(partial_config).cells}
    for stage in STAGES:
        cell = by_id[grade_id_of(f"{stage}.accuracy")]
        assert f'check("{stage}.accuracy", partial=True).points' in cell.source
        assert "(up to 2 points, partial credit below the bar)" in cell.source
    assert by_id["check-cnn-trained"].source.endswith('check("cnn.trained");')
    assert "| 2 (partial credit) | hidden |" in by_id["introduction"].source


@pytest.mark.parametrize(
    ("accuracy", "expected", "output"),
    [(0.905, 0.5, "execute_result"), (0.95, 2.0, "execute_result"), (0.85, 0.0, "error")],
)
def test_nbgrader_scores_the_hidden_cell_with_partial_credit(
    partial_config, monkeypatch, accuracy, expected, output
):
    cell, (score, max_score) = _graded(partial_config, accuracy, monkeypatch)
    assert (score, max_score) == (expected, 2.0)
    assert [o.output_type for o in cell.outputs][-1] == output


def test_without_partial_credit_the_hidden_cell_stays_all_or_nothing(kit_config, monkeypatch):
    monkeypatch.setitem(kernel_side._assignment, "id", DIGITS)
    monkeypatch.setenv("COURSE_CONFIG", str(REPO_ROOT / "course.yaml"))
    kernel_side._course.cache_clear()
    cell, grade = _graded(kit_config, 0.919, monkeypatch)
    assert grade == (0.0, 2.0) and cell.outputs[-1].ename == "CheckFailed"
    _, grade = _graded(kit_config, 0.92, monkeypatch)
    assert grade == (2.0, 2.0)
    kernel_side._course.cache_clear()
