"""A report with one check scored partly, as the grader's own check scores it."""

from __future__ import annotations

import pytest

from autograder.checks import evaluation
from autograder.checks.models import check_accuracy
from autograder.reports import GradeReport
from mnist_course import credit
from mnist_course.config import PartialCredit


@pytest.fixture
def partly_scored(helpers) -> tuple[GradeReport, str]:
    """A report whose baseline reached 90% of a 92% bar on a linear scale from 50%, and
    the explanation of its points (mnist_course.credit's) every format must show."""
    config = helpers.assignment_config(partial_credit={"accuracy": PartialCredit()})
    result = check_accuracy("baseline", evaluation.Measurement(0.9, 10000), config=config)
    explanation = credit.check_credit(
        config, "baseline.accuracy", 0.9, bar=0.92, max_points=result.max_points
    ).explanation
    assert result.partial and result.points == 1.9
    return GradeReport("partly.ipynb", (result,), assignment="mnist_digits"), explanation
