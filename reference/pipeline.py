"""The whole course pipeline end to end: load, prepare, build, train, evaluate, plot.

``python -m reference`` calls :func:`run_pipeline`; ``make demo`` calls that.
It writes ``report/``: ``metrics.json``, the PNG plots and ``summary.md``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from mnist_course.config import AssignmentConfig
from reference import data, evaluation, models, plots, training

Builder = Callable[..., keras.Model]


def builder_of(stage: str, config: AssignmentConfig) -> Builder:
    """The reference builder the assignment's spec names for ``stage`` (in the first
    assignment's models module, else in the extensions' reference)."""
    name = config.spec.stage(stage).builder
    if hasattr(models, name):
        return getattr(models, name)
    from reference import extensions

    return getattr(extensions, name)


@dataclass(frozen=True)
class StageResult:
    """What the pipeline measured for one model."""

    stage: str
    title: str
    test_accuracy: float
    test_loss: float
    train_seconds: float
    parameters: int
    epochs: int
    batch_size: int
    min_test_accuracy: float
    history: dict[str, list[float]]

    @property
    def meets_bar(self) -> bool:
        return self.test_accuracy >= self.min_test_accuracy

    def metrics(self) -> dict[str, float | int | bool]:
        return {
            "test_accuracy": round(self.test_accuracy, 6),
            "test_loss": round(self.test_loss, 6),
            "train_seconds": round(self.train_seconds, 2),
            "parameters": self.parameters,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "min_test_accuracy": self.min_test_accuracy,
            "meets_bar": self.meets_bar,
        }


def model_inputs(stage: str, normalized: np.ndarray, config: AssignmentConfig) -> np.ndarray:
    """The ANNs read flattened vectors; the CNN reads 28x28 grids with one channel."""
    if config.spec.stage(stage).inputs == "images":
        return normalized.reshape(-1, 28, 28, 1)
    return data.flatten(normalized)


def train_stage(
    stage: str,
    config: AssignmentConfig,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    epochs: int | None = None,
    verbose: int | str = 2,
) -> tuple[keras.Model, StageResult, evaluation.Evaluation]:
    """Build, train and evaluate one stage with the budget from course.yaml.

    ``train`` and ``test`` hold normalized images (n, 28, 28) and labels.
    """
    settings = config.stages[stage]
    epochs = epochs or settings.epochs
    training.set_seed(config.seed)
    model = builder_of(stage, config)(learning_rate=settings.learning_rate)
    run = training.train_model(
        model,
        model_inputs(stage, train[0], config),
        train[1],
        epochs=epochs,
        batch_size=settings.batch_size,
        seed=config.seed,
        learning_rate_decay=settings.learning_rate_decay,
        verbose=verbose,
    )
    measured = evaluation.evaluate_model(model, model_inputs(stage, test[0], config), test[1])
    result = StageResult(
        stage=stage,
        title=settings.title,
        test_accuracy=measured.accuracy,
        test_loss=measured.loss,
        train_seconds=run.seconds,
        parameters=model.count_params(),
        epochs=epochs,
        batch_size=settings.batch_size,
        min_test_accuracy=settings.min_test_accuracy,
        history=run.history,
    )
    return model, result, measured


def summary_table(results: list[StageResult]) -> str:
    """The three models against their course.yaml bars, as a Markdown table."""
    lines = [
        "| model | test accuracy | course bar | meets bar | parameters | epochs | batch | "
        "train seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.title} | {r.test_accuracy:.2%} | {r.min_test_accuracy:.0%} | "
            f"{'yes' if r.meets_bar else '**no**'} | {r.parameters:,} | {r.epochs} | "
            f"{r.batch_size} | {r.train_seconds:.1f} |"
        )
    return "\n".join(lines)


def summary_markdown(results: list[StageResult], config: AssignmentConfig) -> str:
    """The report's summary page: the table, the total time and the plots."""
    lines = [f"# {config.spec.title}: reference pipeline", "", summary_table(results)]
    total = sum(r.train_seconds for r in results)
    lines += [
        "",
        f"Total training time: {total:.1f} s. Seed {config.seed}.",
        "",
        "![Sample digits](sample_digits.png)",
        "![Accuracy comparison](accuracy_comparison.png)",
        "![Training curves](training_curves.png)",
        "![CNN predictions](predictions_cnn.png)",
        "![CNN confusion matrix](confusion_matrix_cnn.png)",
        "",
    ]
    return "\n".join(lines)


def run_pipeline(
    config: AssignmentConfig,
    output_dir: str | Path = "report",
    *,
    data_folder: str | Path | None = None,
    train_size: int | None = None,
    epochs: int | None = None,
    stages: tuple[str, ...] | None = None,
    progress: Callable[[str], None] = print,
) -> list[StageResult]:
    """Run every stage and write the report; ``train_size``/``epochs`` shrink it for tests."""
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    stages = tuple(config.stages) if stages is None else stages
    started = time.perf_counter()

    progress("[1/5] Loading MNIST ...")
    (x_train, y_train), (x_test, y_test) = data.load_mnist(data_folder, config=config)
    if train_size is not None:
        x_train, y_train = x_train[:train_size], y_train[:train_size]
    progress(f"      {len(x_train):,} training and {len(x_test):,} test images of 28x28")
    plots.plot_sample_digits(x_train, y_train, path=output / "sample_digits.png")

    progress("[2/5] Normalizing 0-255 -> 0-1 ...")
    train = (data.normalize(x_train), y_train)
    test = (data.normalize(x_test), y_test)

    results: list[StageResult] = []
    for number, stage in enumerate(stages, start=1):
        settings = config.stages[stage]
        progress(
            f"[3/5] Training {settings.title} ({number}/{len(stages)}): "
            f"{epochs or settings.epochs} epochs, batch {settings.batch_size}"
        )
        _, result, measured = train_stage(stage, config, train, test, epochs=epochs)
        results.append(result)
        progress(
            f"      test accuracy {result.test_accuracy:.2%} (bar {settings.min_test_accuracy:.0%})"
            f" in {result.train_seconds:.1f} s"
        )
        plots.plot_predictions(
            x_test,
            y_test,
            measured.predictions,
            title=f"{settings.title}: predictions vs actual",
            path=output / f"predictions_{stage}.png",
        )
        plots.plot_confusion_matrix(
            evaluation.confusion_matrix(y_test, measured.predictions),
            title=f"{settings.title}: confusion matrix",
            path=output / f"confusion_matrix_{stage}.png",
        )

    progress("[4/5] Plotting the comparison ...")
    plots.plot_training_curves(
        {r.stage: r.history for r in results}, path=output / "training_curves.png"
    )
    plots.plot_accuracy_comparison(
        {r.stage: r.test_accuracy for r in results},
        bars={r.stage: r.min_test_accuracy for r in results},
        path=output / "accuracy_comparison.png",
    )

    progress(f"[5/5] Writing {output}/ ...")
    metrics = {r.stage: r.metrics() for r in results}
    (output / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    (output / "summary.md").write_text(summary_markdown(results, config), encoding="utf-8")
    progress("")
    progress(summary_table(results))
    progress(f"\nDone in {time.perf_counter() - started:.0f} s; report in {output}/")
    return results
