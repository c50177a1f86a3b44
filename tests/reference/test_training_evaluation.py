"""reference.training and reference.evaluation on a small slice of MNIST."""

from __future__ import annotations

import numpy as np
import pytest

from reference import data, evaluation, models, training


@pytest.fixture(scope="module")
def trained(small_mnist):
    (x_train, y_train), (x_test, y_test) = small_mnist
    training.set_seed(42)
    model = models.build_baseline_ann(learning_rate=0.005)
    run = training.train_model(
        model,
        data.flatten(data.normalize(x_train)),
        y_train,
        epochs=2,
        batch_size=64,
        seed=42,
        verbose=0,
    )
    return model, run, data.flatten(data.normalize(x_test)), y_test


def test_training_records_history_and_time(trained) -> None:
    _, run, _, _ = trained
    assert len(run.history["accuracy"]) == 2
    assert run.history["loss"][1] < run.history["loss"][0]
    assert run.seconds > 0
    assert (run.epochs, run.batch_size) == (2, 64)


def test_evaluation_beats_chance_and_agrees_with_predictions(trained) -> None:
    model, _, x_test, y_test = trained
    result = evaluation.evaluate_model(model, x_test, y_test)
    assert result.accuracy > 0.7  # 2,000 images, 2 epochs; chance is 0.1
    assert result.predictions.shape == y_test.shape
    assert np.mean(result.predictions == y_test) == pytest.approx(result.accuracy, abs=1e-6)


def test_same_seed_same_weights(small_mnist) -> None:
    (x_train, y_train), _ = small_mnist
    inputs = data.flatten(data.normalize(x_train[:256]))
    weights = []
    for _ in range(2):
        training.set_seed(7)
        model = models.build_baseline_ann()
        training.train_model(
            model, inputs, y_train[:256], epochs=1, batch_size=32, seed=7, verbose=0
        )
        weights.append(model.get_weights()[0])
    assert np.array_equal(weights[0], weights[1])


def test_confusion_matrix_counts() -> None:
    labels = np.array([0, 1, 1, 2, 9])
    predictions = np.array([0, 1, 2, 2, 4])
    matrix = evaluation.confusion_matrix(labels, predictions)
    assert matrix.shape == (10, 10)
    assert matrix.sum() == 5
    assert matrix[1, 2] == 1 and matrix[9, 4] == 1 and matrix[1, 1] == 1
    assert np.trace(matrix) == 3
    assert evaluation.misclassified_indices(labels, predictions).tolist() == [2, 4]


def test_confusion_matrix_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="same shape"):
        evaluation.confusion_matrix(np.zeros(3), np.zeros(4))


def test_learning_rate_decays_after_each_epoch(small_mnist) -> None:
    (x_train, y_train), _ = small_mnist
    training.set_seed(42)
    model = models.build_baseline_ann(learning_rate=0.004)
    run = training.train_model(
        model,
        data.flatten(data.normalize(x_train[:256])),
        y_train[:256],
        epochs=3,
        batch_size=64,
        seed=42,
        learning_rate_decay=0.5,
        verbose=0,
    )
    assert run.history["learning_rate"] == pytest.approx([0.004, 0.002, 0.001])
