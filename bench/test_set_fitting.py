"""Benchmark of the test-set-fitting signal: test minus training-sample accuracy.

Run with ``.venv/bin/python bench/test_set_fitting.py`` (``--stages cnn``, ``--epochs 1``
to shorten it; ``--stages lenet5 resnet`` for the second assignment's models). For every
model of the first assignment (by default) it trains honest models (the
reference, another seed, another size, one epoch, 10,000 training images) and dishonest
ones (fitted on the test set, on training plus test set) and one that only *validates*
on the test set, then measures each on the test set and on the grader's fixed sample of
training images (the same sample, by :func:`autograder.checks.evaluation.train_sample`).
Prints a Markdown table whose numbers set ``integrity.max_honest_gap`` and
``max_honest_error_ratio`` in course.yaml (and whether the course's rule flags each
model), and the seconds the sample's predict pass costs. Rows are also appended to
``--out`` as JSON lines as they finish, so a long run loses nothing; ``--table FILE``
prints the table of such a file again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

from mnist_course.config import ConfigError, load_config  # noqa: E402
from mnist_course.data import MnistDataError  # noqa: E402

if TYPE_CHECKING:
    import keras
    import numpy as np

    from mnist_course.config import AssignmentConfig, Integrity

STAGES = ("baseline", "hidden_layer", "cnn", "augmented_cnn", "lenet5", "resnet")
ASSIGNMENT_OF = {"augmented_cnn": "mnist_extensions", "lenet5": "mnist_extensions",
                 "resnet": "mnist_extensions"}  # fmt: skip
#: Every scenario: its name, whether it is honest, and what it trains on.
SCENARIOS = (
    ("reference", True),
    ("other seed", True),
    ("other size", True),
    ("one epoch", True),
    ("10,000 training images", True),
    ("validation_data=test", True),
    ("fitted on test", False),
    ("fitted on train+test", False),
)


class Row(NamedTuple):
    stage: str
    scenario: str
    honest: bool
    epochs: int
    test_accuracy: float
    sample_accuracy: float
    train_accuracy: float  # on all 60,000 training images
    sample_predict_seconds: float

    @property
    def gap(self) -> float:
        return self.test_accuracy - self.sample_accuracy

    @property
    def full_gap(self) -> float:
        return self.test_accuracy - self.train_accuracy

    @property
    def error_ratio(self) -> float:
        """Errors on the training sample over errors on the test set."""
        return (1.0 - self.sample_accuracy) / max(1.0 - self.test_accuracy, 1e-9)


def other_size(stage: str, learning_rate: float) -> keras.Model:
    """An honest variant of another size than the reference."""
    import keras

    from mnist_course import training

    if stage == "baseline":  # no width to change: a sigmoid output instead
        layers = [keras.Input(shape=(784,)), keras.layers.Dense(10, activation="sigmoid")]
        layers.append(keras.layers.Softmax())
    elif stage == "hidden_layer":
        layers = [
            keras.Input(shape=(784,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    else:
        layers = [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(16, (3, 3), activation="relu"),
            keras.layers.MaxPooling2D((2, 2)),
            keras.layers.Conv2D(32, (3, 3), activation="relu"),
            keras.layers.MaxPooling2D((2, 2)),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    return training.compile_model(keras.Sequential(layers), learning_rate)


def run_scenario(
    stage: str,
    scenario: str,
    config: AssignmentConfig,
    arrays: dict[str, np.ndarray],
    sample: tuple[np.ndarray, np.ndarray],
    epochs: int | None,
) -> Row:
    import numpy as np

    from autograder.checks import evaluation
    from mnist_course import training
    from reference.pipeline import builder_of, model_inputs

    budget = config.stages[stage]
    epochs = epochs or budget.epochs
    seed = 7 if scenario == "other seed" else config.seed
    training.set_seed(seed)
    build: Callable[..., keras.Model] = builder_of(stage, config)
    model = (
        other_size(stage, budget.learning_rate)
        if scenario == "other size"
        else build(budget.learning_rate)
    )
    train_x, train_y = arrays["x_train"], arrays["y_train"]
    test_x, test_y = arrays["x_test"], arrays["y_test"]
    images, labels, validation = train_x, train_y, None
    if scenario == "fitted on test":
        images, labels = test_x, test_y
    elif scenario == "fitted on train+test":
        images, labels = np.concatenate([train_x, test_x]), np.concatenate([train_y, test_y])
    elif scenario == "10,000 training images":
        images, labels = train_x[-10_000:], train_y[-10_000:]  # not the judge's sample only
    elif scenario == "validation_data=test":
        validation = (model_inputs(stage, test_x / 255.0, config), test_y)
    training.train_model(
        model,
        model_inputs(stage, images / 255.0, config),
        labels,
        epochs=1 if scenario == "one epoch" else epochs,
        batch_size=budget.batch_size,
        seed=seed,
        learning_rate_decay=budget.learning_rate_decay,
        validation_data=validation,
        verbose=0,
    )
    start = time.perf_counter()
    sample_accuracy = evaluation.accuracy(model, *sample)
    seconds = time.perf_counter() - start
    return Row(
        stage,
        scenario,
        dict(SCENARIOS)[scenario],
        1 if scenario == "one epoch" else epochs,
        evaluation.accuracy(model, test_x, test_y),
        sample_accuracy,
        evaluation.accuracy(model, train_x, train_y),
        seconds,
    )


def table(rows: list[Row], sample_size: int, integrity: Integrity) -> str:
    from autograder.checks.confusion import fitted_on_test

    lines = [
        f"| model | scenario | epochs | test | train sample ({sample_size:,}) | test − sample "
        "| sample errors / test errors | test − all 60,000 | flagged | sample predict (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for row in rows:
        mark = "" if row.honest else " (dishonest)"
        flagged = fitted_on_test(row.test_accuracy, row.sample_accuracy, integrity)
        lines.append(
            f"| {row.stage} | {row.scenario}{mark} | {row.epochs} | {row.test_accuracy:.2%} "
            f"| {row.sample_accuracy:.2%} | {row.gap:+.2%} | {row.error_ratio:.2f} "
            f"| {row.full_gap:+.2%} | {'yes' if flagged else 'no'} "
            f"| {row.sample_predict_seconds:.2f} |"
        )
    honest = [row for row in rows if row.honest]
    on_test = [row for row in rows if row.scenario == "fitted on test"]
    if honest:
        lines.append(
            f"\nHonest models: gap at most {max(r.gap for r in honest):+.2%}, error ratio at "
            f"most {max(r.error_ratio for r in honest):.2f}."
        )
    if on_test:
        lines.append(
            f"Fitted on the test set: gap at least {min(r.gap for r in on_test):+.2%}, error "
            f"ratio at least {min(r.error_ratio for r in on_test):.2f}."
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help="course.yaml (default: the kit's)")
    parser.add_argument("--data", default=None, help="MNIST folder (default: as the kit finds)")
    parser.add_argument("--stages", nargs="+", default=list(STAGES[:3]), choices=STAGES)
    parser.add_argument("--scenarios", nargs="+", default=[name for name, _ in SCENARIOS])
    parser.add_argument("--epochs", type=int, default=None, help="instead of the budgets")
    parser.add_argument("--sample", type=int, default=None, help="train-sample size")
    parser.add_argument("--out", type=Path, default=Path("test_set_fitting.jsonl"))
    parser.add_argument("--table", type=Path, default=None, help="print this file's table")
    args = parser.parse_args(argv)
    try:
        course = load_config(args.config)
        if args.table is not None:
            saved = [json.loads(line) for line in args.table.read_text().splitlines() if line]
            size = saved[0].pop("sample") if saved else 0
            rows = [Row(**{k: v for k, v in item.items() if k != "sample"}) for item in saved]
            print(table(rows, size, course.integrity))
            return 0
        from mnist_course import data

        (x_train, y_train), (x_test, y_test) = data.load_mnist(args.data, config=course)
    except (ConfigError, MnistDataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from autograder.checks import evaluation

    size = args.sample or course.integrity.train_sample_images
    sample = evaluation.train_sample(x_train, y_train, size=size, seed=course.seed)
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    rows = []
    for stage in args.stages:
        for scenario in args.scenarios:
            start = time.perf_counter()
            config = course.assignment(ASSIGNMENT_OF.get(stage, "mnist_digits"))
            row = run_scenario(stage, scenario, config, arrays, sample, args.epochs)
            rows.append(row)
            print(
                f"{stage} / {scenario}: test {row.test_accuracy:.2%}, sample "
                f"{row.sample_accuracy:.2%}, gap {row.gap:+.2%} "
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
            with args.out.open("a") as handle:
                handle.write(json.dumps({**row._asdict(), "sample": size}) + "\n")
    print()
    print(table(rows, size, course.integrity))
    return 0


if __name__ == "__main__":
    sys.exit(main())
