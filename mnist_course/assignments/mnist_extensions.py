"""Assignment 2, ``mnist_extensions``: data augmentation (judged on digits the grader
rotates, shifts and zooms itself), LeNet-5, a small residual network, and a KerasTuner
search whose chosen configuration the grader re-trains."""

from __future__ import annotations

from mnist_course.spec import (
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
        "augmented_cnn",
        builder="build_augmented_cnn",
        variable="augmented_cnn_model",
        inputs="images",
        architecture="augmented_cnn",
        defaults={
            "title": "CNN trained with data augmentation",
            "min_test_accuracy": 0.985,
            "min_perturbed_accuracy": 0.92,
            "epochs": 3,
            "batch_size": 128,
            "learning_rate": 0.002,
            "learning_rate_decay": 0.5,
        },
    ),
    StageSpec(
        "lenet5",
        builder="build_lenet5",
        variable="lenet_model",
        inputs="images",
        architecture="lenet5",
        defaults={
            "title": "LeNet-5",
            "min_test_accuracy": 0.985,
            "expected_parameters": 61706,
            "epochs": 5,
            "batch_size": 128,
            "learning_rate": 0.003,
            "learning_rate_decay": 0.6,
        },
    ),
    StageSpec(
        "resnet",
        builder="build_resnet",
        variable="resnet_model",
        inputs="images",
        architecture="resnet",
        defaults={
            "title": "Residual network",
            "min_test_accuracy": 0.987,
            "epochs": 4,
            "batch_size": 128,
            "learning_rate": 0.003,
            "learning_rate_decay": 0.5,
        },
    ),
)

TUNING = ("tuner", "X_val", "y_val", "tuned_model", "tuned_validation_accuracy")

SPEC = AssignmentSpec(
    id="mnist_extensions",
    title="Beyond the first CNN: augmentation, LeNet-5, residual networks and tuning",
    notebook="mnist_extensions.ipynb",
    exports=(
        *loaded_exports(),
        Export("build_augmentation", "built"),
        *stage_exports(STAGES),
        Export("tuner", "tuner"),
        Export("X_val", "array"),
        Export("y_val", "array"),
        Export("tuned_model", "model"),
        Export("tuned_validation_accuracy", "number"),
    ),
    stages=STAGES,
    checks=(
        Check(
            "augmentation.layers",
            "build_augmentation() returns rotation, zoom and translation layers",
            1,
            "augmentation.layers",
            ("build_augmentation",),
        ),
        Check(
            "augmentation.behaviour",
            "The augmentation changes images in training only, and keeps them in [0, 1]",
            1,
            "augmentation.behaviour",
            ("build_augmentation",),
        ),
        *stage_checks(STAGES[0], perturbed=2),
        *stage_checks(STAGES[1]),
        *stage_checks(STAGES[2]),
        Check(
            "tuning.search",
            "A KerasTuner search over batch size, learning rate and optimizer",
            1,
            "tuning.search",
            ("tuner",),
        ),
        Check(
            "tuning.validation",
            "The search chose on validation images carved from the training set",
            1,
            "tuning.validation",
            ("X_val", "y_val"),
        ),
        Check(
            "tuning.reproduced",
            "The chosen configuration, re-trained by the grader, reaches what you reported",
            2,
            "tuning.reproduced",
            ("tuned_model", "tuned_validation_accuracy", "tuner"),
            "hidden",
        ),
    ),
    sections={
        "tuning": {
            "max_trials": 4,
            "epochs": 1,
            "train_images": 10000,
            "validation_images": 5000,
            "tolerance": 0.03,
        }
    },
)
