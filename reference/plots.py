"""Stage 5: the pictures people look at instead of reading numbers.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot
(so it works headless and in threads) and saves it as PNG when given a path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

CORRECT_COLOUR = "#1a7f37"
WRONG_COLOUR = "#cf222e"


def _save(figure: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=110, bbox_inches="tight")
    return figure


def _image_grid(count: int, columns: int) -> tuple[Figure, np.ndarray]:
    rows = max(1, int(np.ceil(count / columns)))
    figure = Figure(figsize=(1.4 * columns, 1.6 * rows), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, columns)).ravel()
    for axis in axes:
        axis.set_axis_off()
    return figure, axes


def plot_sample_digits(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    count: int = 20,
    columns: int = 10,
    path: str | Path | None = None,
) -> Figure:
    """The first ``count`` digits with their labels: does each picture match its label?"""
    count = min(count, len(images))
    figure, axes = _image_grid(count, columns)
    for index in range(count):
        axes[index].matshow(np.asarray(images[index]).reshape(28, 28), cmap="gray_r")
        axes[index].set_title(f"label {int(labels[index])}", fontsize=9)
    figure.suptitle("Sample training digits")
    return _save(figure, path)


def plot_predictions(
    images: np.ndarray,
    labels: np.ndarray,
    predictions: np.ndarray,
    *,
    count: int = 30,
    columns: int = 10,
    title: str = "Predictions vs actual labels",
    path: str | Path | None = None,
) -> Figure:
    """Test digits with predicted and actual labels; mistakes are framed in red.

    Half the panels are the first test images, half are misclassified ones, so
    the figure always shows what the model gets wrong.
    """
    labels = np.asarray(labels)
    predictions = np.asarray(predictions)
    wrong = np.flatnonzero(labels != predictions)
    shown_wrong = wrong[: count // 2]
    others = np.setdiff1d(np.arange(min(count, len(images))), shown_wrong)
    chosen = np.concatenate([others[: count - len(shown_wrong)], shown_wrong])
    figure, axes = _image_grid(len(chosen), columns)
    for axis, index in zip(axes, chosen, strict=False):
        correct = labels[index] == predictions[index]
        colour = CORRECT_COLOUR if correct else WRONG_COLOUR
        axis.matshow(np.asarray(images[index]).reshape(28, 28), cmap="gray_r")
        axis.set_title(
            f"pred {int(predictions[index])} / true {int(labels[index])}",
            fontsize=8,
            color=colour,
        )
        if not correct:
            axis.set_axis_on()
            axis.set_xticks([])
            axis.set_yticks([])
            for spine in axis.spines.values():
                spine.set_edgecolor(WRONG_COLOUR)
                spine.set_linewidth(2.5)
    figure.suptitle(f"{title} ({len(wrong)} of {len(labels)} wrong, framed in red)")
    return _save(figure, path)


def plot_confusion_matrix(
    matrix: np.ndarray, *, title: str = "Confusion matrix", path: str | Path | None = None
) -> Figure:
    """Which digits are mistaken for which: rows are true digits, columns predictions."""
    figure = Figure(figsize=(6, 5.2))
    axis = figure.subplots()
    shown = axis.imshow(np.log1p(matrix), cmap="Blues")
    figure.colorbar(shown, ax=axis, label="log(1 + count)")
    threshold = np.log1p(matrix).max() / 2
    for row in range(matrix.shape[0]):
        for column in range(matrix.shape[1]):
            value = int(matrix[row, column])
            colour = "white" if np.log1p(value) > threshold else "black"
            axis.text(column, row, str(value), ha="center", va="center", fontsize=7, color=colour)
    axis.set_xticks(range(matrix.shape[1]))
    axis.set_yticks(range(matrix.shape[0]))
    axis.set_xlabel("predicted digit")
    axis.set_ylabel("true digit")
    axis.set_title(title)
    return _save(figure, path)


def plot_training_curves(
    histories: Mapping[str, Mapping[str, Sequence[float]]], *, path: str | Path | None = None
) -> Figure:
    """Training (and validation, when recorded) accuracy and loss per epoch, per model."""
    figure = Figure(figsize=(11, 4), layout="constrained")
    accuracy_axis, loss_axis = figure.subplots(1, 2)
    for name, history in histories.items():
        for metric, axis in (("accuracy", accuracy_axis), ("loss", loss_axis)):
            values = list(history.get(metric, []))
            epochs = range(1, len(values) + 1)
            (line,) = axis.plot(epochs, values, marker="o", label=f"{name} (train)")
            validation = list(history.get(f"val_{metric}", []))
            if validation:
                axis.plot(
                    epochs,
                    validation,
                    marker="s",
                    linestyle="--",
                    color=line.get_color(),
                    label=f"{name} (validation)",
                )
    for axis, metric in ((accuracy_axis, "accuracy"), (loss_axis, "loss")):
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle("Training curves")
    return _save(figure, path)


def plot_accuracy_comparison(
    accuracies: Mapping[str, float],
    *,
    bars: Mapping[str, float] | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Test accuracy per model as bars, with each model's course bar as a tick."""
    names = list(accuracies)
    values = [accuracies[name] for name in names]
    figure = Figure(figsize=(7, 4.2))
    axis = figure.subplots()
    positions = np.arange(len(names))
    drawn = axis.bar(positions, values, color=["#8c959f", "#54aeff", "#0969da"][: len(names)])
    for rect, value in zip(drawn, values, strict=True):
        axis.text(
            rect.get_x() + rect.get_width() / 2,
            value,
            f"{value:.2%}",
            ha="center",
            va="bottom",
            fontsize=9,
        )
    if bars:
        for position, name in zip(positions, names, strict=True):
            if name in bars:
                axis.hlines(
                    bars[name],
                    position - 0.4,
                    position + 0.4,
                    colors=WRONG_COLOUR,
                    linestyles="--",
                    label="course bar" if position == 0 else None,
                )
        axis.legend(loc="lower right")
    low = min([*values, *(bars or {}).values()])
    axis.set_ylim(max(0.0, low - 0.03), 1.0)
    axis.set_xticks(positions, names)
    axis.set_ylabel("test accuracy")
    axis.set_title("ANN vs CNN: test accuracy")
    return _save(figure, path)
