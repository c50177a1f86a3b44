"""Benchmark of the reference models: parameters, budget, train seconds, test accuracy.

Run with ``make bench`` (or ``.venv/bin/python bench/reference.py``). Trains each
stage once on the full 60,000 images with course.yaml's budget and prints a table
whose numbers go in the README. Speed targets are read here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Run as a script, this file's folder comes first on sys.path and its own name
# ("reference") would shadow the reference package it measures.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

from mnist_course.assignments import get_spec  # noqa: E402
from mnist_course.config import ConfigError, load_config  # noqa: E402

ASSIGNMENT = "mnist_digits"
STAGES = tuple(stage.id for stage in get_spec(ASSIGNMENT).stages)
from mnist_course.data import MnistDataError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="course.yaml to use")
    parser.add_argument("--data", help="MNIST IDX folder")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config).assignment(ASSIGNMENT)
        import keras
        import tensorflow as tf

        from reference import data
        from reference.pipeline import train_stage

        start = time.perf_counter()
        (x_train, y_train), (x_test, y_test) = data.load_mnist(args.data, config=config)
        load_seconds = time.perf_counter() - start
    except (ConfigError, MnistDataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    train = (data.normalize(x_train), y_train)
    test = (data.normalize(x_test), y_test)
    rows = []
    for stage in args.stages:
        print(f"training {stage} ...", file=sys.stderr, flush=True)
        _, result, _ = train_stage(stage, config, train, test, verbose=0)
        rows.append(result)

    header = ("model", "parameters", "epochs", "batch size", "train s", "test accuracy", "bar")
    print(
        f"\nTensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU cores; "
        f"MNIST load {load_seconds:.2f} s\n"
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print(
            f"| {r.stage} | {r.parameters:,} | {r.epochs} | {r.batch_size} | "
            f"{r.train_seconds:.1f} | {r.test_accuracy:.4f} | {r.min_test_accuracy:.2f} |"
        )
    total = sum(r.train_seconds for r in rows)
    print(f"| **total** | {sum(r.parameters for r in rows):,} | | | **{total:.1f}** | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
