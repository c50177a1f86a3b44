"""Benchmark of the mnist_extensions reference: train seconds, test and perturbed accuracy.

Run with ``.venv/bin/python bench/extensions.py``. Trains each extension model once on
the full 60,000 images with the budgets below, then runs the KerasTuner search and
re-trains its best configuration; prints Markdown tables whose numbers set the
assignment's bars. The first assignment's CNN is trained too, for comparison on the
perturbed test set. Speed targets are read here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from typing import TYPE_CHECKING, NamedTuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Run as a script, this file's folder comes first on sys.path and its own name
# ("extensions") could shadow a module it measures.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

from autograder.config import ConfigError, load_config  # noqa: E402
from autograder.data import MnistDataError  # noqa: E402

if TYPE_CHECKING:
    import keras
    import numpy as np

    Split = tuple[np.ndarray, np.ndarray]  # normalized (n, 28, 28, 1) images and labels

# Training budgets per model (to move into course.yaml). "digits_cnn" is the first
# assignment's CNN with its course budget; the augmented CNN gets exactly the same one.
BUDGETS: dict[str, dict[str, float | int]] = {
    "digits_cnn": {
        "epochs": 3,
        "batch_size": 128,
        "learning_rate": 0.002,
        "learning_rate_decay": 0.5,
    },
    "augmented_cnn": {
        "epochs": 3,
        "batch_size": 128,
        "learning_rate": 0.002,
        "learning_rate_decay": 0.5,
    },
    "lenet5": {"epochs": 5, "batch_size": 128, "learning_rate": 0.003, "learning_rate_decay": 0.6},
    "resnet": {"epochs": 4, "batch_size": 128, "learning_rate": 0.003, "learning_rate_decay": 0.5},
}
# The search: trials of one epoch on the first `images` training digits, a fifth of them
# held out for validation; then the best configuration re-trained on all 60,000, with the
# learning rate shrinking per epoch like LeNet-5's budget.
TUNING_BUDGET: dict[str, float | int] = {
    "trials": 6,
    "epochs": 1,
    "images": 15_000,
    "validation_fraction": 0.2,
    "retrain_epochs": 3,
    "retrain_learning_rate_decay": 0.6,
}
MODELS = ("digits_cnn", "augmented_cnn", "lenet5", "resnet", "tuning")


class Row(NamedTuple):
    """One trained model's line in the table."""

    model: str
    parameters: int
    epochs: int
    batch_size: int
    train_seconds: float
    test_accuracy: float
    perturbed_accuracy: float


def train_and_measure(
    name: str,
    model: keras.Model,
    budget: dict[str, float | int],
    train: Split,
    test: Split,
    perturbed: Split,
    seed: int,
) -> Row:
    """Train ``model`` with ``budget`` and measure it on the plain and the perturbed test set."""
    from reference import evaluation, training

    run = training.train_model(
        model,
        *train,
        epochs=int(budget["epochs"]),
        batch_size=int(budget["batch_size"]),
        seed=seed,
        learning_rate_decay=float(budget.get("learning_rate_decay", 1.0)),
        verbose=0,
    )
    return Row(
        model=name,
        parameters=model.count_params(),
        epochs=run.epochs,
        batch_size=run.batch_size,
        train_seconds=run.seconds,
        test_accuracy=evaluation.evaluate_model(model, *test).accuracy,
        perturbed_accuracy=evaluation.evaluate_model(model, *perturbed).accuracy,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="course.yaml to use (for the seed and the data)")
    parser.add_argument("--data", help="MNIST IDX folder")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        import keras
        import tensorflow as tf

        from autograder.perturbation import perturbed_test_set
        from reference import data, extensions, models, training

        (x_train, y_train), (x_test, y_test) = data.load_mnist(args.data, config=config)
    except (ConfigError, MnistDataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    seed = config.seed
    start = time.perf_counter()
    x_perturbed = perturbed_test_set(x_test, seed=seed)
    perturb_seconds = time.perf_counter() - start
    train = (data.normalize(x_train).reshape(-1, 28, 28, 1), y_train)
    test = (data.normalize(x_test).reshape(-1, 28, 28, 1), y_test)
    perturbed = (data.normalize(x_perturbed).reshape(-1, 28, 28, 1), y_test)
    builders = {
        "digits_cnn": models.build_cnn,
        "augmented_cnn": extensions.build_augmented_cnn,
        "lenet5": extensions.build_lenet5,
        "resnet": extensions.build_resnet,
    }

    rows: list[Row] = []
    for name in args.models:
        if name == "tuning":
            continue
        print(f"training {name} ...", file=sys.stderr, flush=True)
        budget = BUDGETS[name]
        training.set_seed(seed)
        model = builders[name](learning_rate=float(budget["learning_rate"]))
        rows.append(train_and_measure(name, model, budget, train, test, perturbed, seed))

    tuning = None
    if "tuning" in args.models:
        print("tuning ...", file=sys.stderr, flush=True)
        subset = int(TUNING_BUDGET["images"])
        with tempfile.TemporaryDirectory(prefix="tuning-") as directory:
            tuning = extensions.tune_hyperparameters(
                train[0][:subset],
                train[1][:subset],
                trials=int(TUNING_BUDGET["trials"]),
                epochs=int(TUNING_BUDGET["epochs"]),
                seed=seed,
                directory=directory,
                validation_fraction=float(TUNING_BUDGET["validation_fraction"]),
            )
        print("re-training the best configuration ...", file=sys.stderr, flush=True)
        training.set_seed(seed)
        model = extensions.build_tuned_model(tuning.best)
        budget = {
            "epochs": TUNING_BUDGET["retrain_epochs"],
            "batch_size": tuning.best["batch_size"],
            "learning_rate_decay": TUNING_BUDGET["retrain_learning_rate_decay"],
        }
        rows.append(train_and_measure("tuned_lenet5", model, budget, train, test, perturbed, seed))

    header = ("model", "parameters", "epochs", "batch", "train s", "test accuracy", "perturbed")
    print(
        f"\nTensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU cores; "
        f"seed {seed}; perturbed test set made in {perturb_seconds:.2f} s\n"
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print(
            f"| {row.model} | {row.parameters:,} | {row.epochs} | {row.batch_size} | "
            f"{row.train_seconds:.1f} | {row.test_accuracy:.4f} | {row.perturbed_accuracy:.4f} |"
        )
    if tuning is not None:
        names = [key for key in tuning.trials[0] if key != "val_accuracy"]
        print(
            f"\nKerasTuner random search: {len(tuning.trials)} trials x "
            f"{TUNING_BUDGET['epochs']} epoch on {TUNING_BUDGET['images']:,} training images "
            f"({len(tuning.validation_indices):,} of them held out), {tuning.seconds:.1f} s\n"
        )
        print("| trial | " + " | ".join(names) + " | val accuracy |")
        print("|" + "---|" * (len(names) + 2))
        for number, trial in enumerate(tuning.trials, start=1):
            values = " | ".join(str(trial[key]) for key in names)
            print(f"| {number} | {values} | {trial['val_accuracy']:.4f} |")
        print(f"\nbest: {tuning.best} (val accuracy {tuning.best_val_accuracy:.4f})")
    seconds = sum(row.train_seconds for row in rows if row.model != "digits_cnn")
    seconds += tuning.seconds if tuning is not None else 0.0
    print(f"\nassignment training time (all but digits_cnn, search included): {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
