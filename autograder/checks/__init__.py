"""Checks: plain functions returning a frozen :class:`CheckResult`.

The same functions back the CLI, the pytest plugin and the notebook's test cells.
"""

from autograder.checks.data import ArrayEvidence, check_flatten, check_load, check_normalize
from autograder.checks.evaluation import Measurement
from autograder.checks.models import (
    TrainingEvidence,
    check_accuracy,
    check_structure,
    check_trained,
)
from mnist_course.results import CheckResult, CheckSpec, check_specs, fail_all, spec_for

__all__ = [
    "ArrayEvidence",
    "CheckResult",
    "CheckSpec",
    "Measurement",
    "TrainingEvidence",
    "check_accuracy",
    "check_flatten",
    "check_load",
    "check_normalize",
    "check_specs",
    "check_structure",
    "check_trained",
    "fail_all",
    "spec_for",
]
