"""``python -m reference``: run the reference pipeline and write the report."""

from __future__ import annotations

import argparse
import os
import sys

from mnist_course.assignments import get_spec
from mnist_course.config import ConfigError, load_config
from mnist_course.data import MnistDataError

ASSIGNMENT = "mnist_digits"
STAGES = tuple(stage.id for stage in get_spec(ASSIGNMENT).stages)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m reference",
        description="Train, evaluate and plot the three reference models; write a report.",
    )
    parser.add_argument(
        "--config", help="course.yaml to use (default: $COURSE_CONFIG or ./course.yaml)"
    )
    parser.add_argument(
        "--data", help="MNIST IDX folder (default: $MNIST_DATA, course.yaml, Keras)"
    )
    parser.add_argument("--output", default="report", help="report folder (default: report)")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument(
        "--train-size", type=int, help="train on the first N images only (quick runs)"
    )
    parser.add_argument("--epochs", type=int, help="override every stage's epochs (quick runs)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        config = load_config(args.config).assignment(ASSIGNMENT)
        from reference.pipeline import run_pipeline  # imports TensorFlow: after validation

        run_pipeline(
            config,
            args.output,
            data_folder=args.data,
            train_size=args.train_size,
            epochs=args.epochs,
            stages=tuple(args.stages),
        )
    except (ConfigError, MnistDataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
