"""The functions nbgrader test cells call: ✓ on success, AssertionError with the hint."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from autograder import notebook
from autograder.checks.result import CheckResult


@pytest.fixture(autouse=True)
def kit_config(monkeypatch, helpers, mnist_dir):
    monkeypatch.setenv("COURSE_CONFIG", str(helpers.repo_root / "course.yaml"))
    monkeypatch.setenv("MNIST_DATA", str(mnist_dir))
    notebook._config.cache_clear()
    yield
    notebook._config.cache_clear()


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
