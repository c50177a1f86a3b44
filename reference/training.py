"""Stage 3: compile and train. The course's compile/fit is the kit's own
(:mod:`mnist_course.training`), which the grader also re-trains submissions with; the
reference uses it as it is."""

from mnist_course.training import (
    LOSS,
    METRICS,
    OPTIMIZER,
    TrainingRun,
    compile_model,
    set_seed,
    shrink_learning_rate,
    train_model,
)

__all__ = [
    "LOSS",
    "METRICS",
    "OPTIMIZER",
    "TrainingRun",
    "compile_model",
    "set_seed",
    "shrink_learning_rate",
    "train_model",
]
