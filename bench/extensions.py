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

from mnist_course.config import ConfigError, load_config  # noqa: E402
from mnist_course.data import MnistDataError  # noqa: E402

if TYPE_CHECKING:
    import keras
    import numpy as np

    from mnist_course.config import Stage

    Split = tuple[np.ndarray, np.ndarray]  # normalized (n, 28, 28, 1) images and labels

#: Epochs of the chosen configuration's re-training on all 60,000 images (a bench-only
#: figure: the assignment re-trains it on the search images, with the search's budget).
RETRAIN_EPOCHS = 3
MODELS = ("digits_cnn", "augmented_cnn", "lenet5", "resnet", "tuning")
#: Where each model's budget lives in course.yaml: (assignment, stage).
STAGES = {
    "digits_cnn": ("mnist_digits", "cnn"),
    "augmented_cnn": ("mnist_extensions", "augmented_cnn"),
    "lenet5": ("mnist_extensions", "lenet5"),
    "resnet": ("mnist_extensions", "resnet"),
}


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
    budget: Stage | dict[str, float | int],
    train: Split,
    test: Split,
    perturbed: Split,
    seed: int,
) -> Row:
    """Train ``model`` with ``budget`` and measure it on the plain and the perturbed test set."""
    from reference import evaluation, training

    values = budget if isinstance(budget, dict) else budget.model_dump()
    run = training.train_model(
        model,
        *train,
        epochs=int(values["epochs"]),
        batch_size=int(values["batch_size"]),
        seed=seed,
        learning_rate_decay=float(values.get("learning_rate_decay", 1.0)),
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
        course = load_config(args.config)
        config = course.assignment("mnist_extensions")
        import keras
        import tensorflow as tf

        from mnist_course.perturbation import perturbed_test_set
        from reference import data, extensions, training
        from reference.pipeline import builder_of

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

    rows: list[Row] = []
    for name in args.models:
        if name == "tuning":
            continue
        print(f"training {name} ...", file=sys.stderr, flush=True)
        assignment, stage = STAGES[name]
        settings = course.assignment(assignment)
        budget = settings.stages[stage]
        builder = builder_of(stage, settings)
        training.set_seed(seed)
        model = builder(learning_rate=budget.learning_rate)
        rows.append(train_and_measure(name, model, budget, train, test, perturbed, seed))

    tuning = None
    if "tuning" in args.models:
        print("tuning ...", file=sys.stderr, flush=True)
        budget_of_search = config.tuning
        subset = budget_of_search.train_images + budget_of_search.validation_images
        with tempfile.TemporaryDirectory(prefix="tuning-") as directory:
            tuning = extensions.tune_hyperparameters(
                train[0][:subset],
                train[1][:subset],
                trials=budget_of_search.max_trials,
                epochs=budget_of_search.epochs,
                seed=seed,
                directory=directory,
                validation_fraction=budget_of_search.validation_images / subset,
            )
        print("re-training the best configuration ...", file=sys.stderr, flush=True)
        training.set_seed(seed)
        model = extensions.build_tuned_model(tuning.best)
        budget = {"epochs": RETRAIN_EPOCHS, "batch_size": tuning.best["batch_size"]}
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
            f"{config.tuning.epochs} epoch on {subset:,} training images "
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
