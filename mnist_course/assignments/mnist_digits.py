"""Assignment 1, ``mnist_digits``: load and prepare MNIST, then a baseline ANN, an ANN
with a hidden layer and a CNN, each trained with the course budget and judged on the
test set."""

from __future__ import annotations

from mnist_course.spec import (
    LOADED,
    AssignmentSpec,
    Check,
    Export,
    StageSpec,
    loaded_exports,
    stage_checks,
    stage_exports,
)

STAGES = (
    StageSpec(
        "baseline",
        builder="build_baseline_ann",
        variable="baseline_model",
        inputs="vectors",
        architecture="single_dense",
        defaults={
            "title": "Baseline ANN (no hidden layer)",
            "min_test_accuracy": 0.92,
            "epochs": 4,
            "batch_size": 256,
            "learning_rate": 0.005,
            "learning_rate_decay": 1.0,
        },
    ),
    StageSpec(
        "hidden_layer",
        builder="build_hidden_layer_ann",
        variable="hidden_layer_model",
        inputs="vectors",
        architecture="hidden_dense",
        defaults={
            "title": "ANN with hidden layers",
            "min_test_accuracy": 0.95,
            "epochs": 5,
            "batch_size": 256,
            "learning_rate": 0.002,
            "learning_rate_decay": 1.0,
        },
    ),
    StageSpec(
        "cnn",
        builder="build_cnn",
        variable="cnn_model",
        inputs="images",
        architecture="cnn",
        defaults={
            "title": "Convolutional network",
            "min_test_accuracy": 0.98,
            "epochs": 3,
            "batch_size": 128,
            "learning_rate": 0.002,
            "learning_rate_decay": 0.5,
        },
    ),
)

SPEC = AssignmentSpec(
    id="mnist_digits",
    title="Reading handwritten digits: from a baseline ANN to a CNN",
    notebook="mnist_digits.ipynb",
    exports=(
        *loaded_exports(),
        Export("normalize", "function"),
        Export("flatten", "function"),
        Export("X_train_flattened", "array"),
        Export("X_test_flattened", "array"),
        *stage_exports(STAGES),
    ),
    stages=STAGES,
    checks=(
        Check("data.load", "Data loaded with the right shapes and types", 1, "data.load", LOADED),
        Check(
            "data.normalize",
            "normalize() scales pixels to [0, 1]",
            1,
            "data.normalize",
            ("normalize",),
        ),  # fmt: skip
        Check(
            "data.flatten",
            "flatten() turns images into 784-value vectors",
            1,
            "data.flatten",
            ("flatten", "X_train_flattened", "X_test_flattened"),
        ),
        *(check for stage in STAGES for check in stage_checks(stage)),
    ),
)
