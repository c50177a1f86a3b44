"""reference.plots: every figure renders and is saved as a PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reference import evaluation, plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 2000


def test_sample_digits_grid(small_mnist, tmp_path: Path) -> None:
    (x_train, y_train), _ = small_mnist
    figure = plots.plot_sample_digits(x_train, y_train, count=12, path=tmp_path / "s.png")
    assert is_png(tmp_path / "s.png")
    titles = [axis.get_title() for axis in figure.axes if axis.get_title()]
    assert titles[:3] == [f"label {int(label)}" for label in y_train[:3]]


def test_predictions_mark_the_mistakes(small_mnist, tmp_path: Path) -> None:
    _, (x_test, y_test) = small_mnist
    predictions = y_test.copy()
    predictions[[1, 4]] = (predictions[[1, 4]] + 1) % 10
    figure = plots.plot_predictions(x_test, y_test, predictions, count=10, path=tmp_path / "p.png")
    assert is_png(tmp_path / "p.png")
    red = [a for a in figure.axes if a.title.get_color() == plots.WRONG_COLOUR]
    assert len(red) == 2  # each mistake framed once, never repeated
    shown = [a.get_title() for a in figure.axes if a.get_title()]
    assert len(shown) == 10
    assert "2 of 500 wrong" in figure.texts[0].get_text()


def test_confusion_matrix_and_curves_and_comparison(tmp_path: Path) -> None:
    matrix = evaluation.confusion_matrix(np.arange(10).repeat(3), np.arange(30) % 10)
    plots.plot_confusion_matrix(matrix, path=tmp_path / "c.png")
    plots.plot_training_curves(
        {"baseline": {"accuracy": [0.8, 0.9], "loss": [0.5, 0.3], "val_accuracy": [0.85, 0.9]}},
        path=tmp_path / "t.png",
    )
    figure = plots.plot_accuracy_comparison(
        {"baseline": 0.925, "cnn": 0.99},
        bars={"baseline": 0.92, "cnn": 0.98},
        path=tmp_path / "a.png",
    )
    for name in ("c.png", "t.png", "a.png"):
        assert is_png(tmp_path / name)
    labels = [text.get_text() for text in figure.axes[0].texts]
    assert labels == ["92.50%", "99.00%"]
