"""One-mistake notebooks of the second assignment, graded in the sandbox: the check of
the part with the mistake carries exactly that mistake's hint, and the same part done
right does not (the neighbouring mistake must not trigger it)."""

from __future__ import annotations

import pytest

from autograder import executor
from autograder.grader import grade_submission
from autograder.reports import GradeReport

ASSIGNMENT = "mnist_extensions"
#: Scenario -> the checks it decides, with the hint category each must carry ("": passes).
EXPECTED: dict[str, dict[str, str]] = {
    "augmentation-left-out-of-the-model": {
        "augmentation.layers": "",
        "augmentation.behaviour": "",
        "augmented_cnn.structure": "augmentation_not_in_model",
        "augmented_cnn.trained": "",
    },
    "augmentation-in-the-model": {
        "augmented_cnn.structure": "",
        "augmented_cnn.trained": "",
        "augmented_cnn.perturbed": "not_robust",  # 3,000 images and one epoch
    },
    "lenet-3x3-kernels": {"lenet5.structure": "lenet_kernel_size", "lenet5.trained": ""},
    "resnet-add-of-one-path": {"resnet.structure": "residual_without_skip", "resnet.trained": ""},
    "resnet-with-skips": {"resnet.structure": "", "resnet.trained": ""},
    "tuned-on-the-test-set": {
        "tuning.search": "",
        "tuning.validation": "tuned_on_test_set",
        "tuning.reproduced": "",
    },
    "best-trial-score-reported": {
        "tuning.search": "",
        "tuning.validation": "",
        "tuning.reproduced": "best_trial_score_reported",
    },
    "tuning-by-hand": {"tuning.search": "tuner_not_keras_tuner"},
}


@pytest.fixture(scope="module")
def graded(helpers, outside):
    if not executor.isolation_available():
        pytest.skip("as root, the grader runs student code only inside namespaces")
    config = helpers.course_config(cell_timeout_s=240, submission_timeout_s=600)
    settings = config.assignments[ASSIGNMENT]
    # A tight tolerance: three search epochs against the course's one show the best
    # trial's score as the optimistic figure it is.
    tuning = settings.tuning.model_copy(update={"tolerance": 0.003})
    config = config.model_copy(
        update={
            "assignments": {
                **config.assignments,
                ASSIGNMENT: settings.model_copy(update={"tuning": tuning}),
            }
        }
    )
    cache: dict[str, GradeReport] = {}

    def grade(name: str) -> GradeReport:
        if name not in cache:
            path = helpers.submissions / f"submission-extensions-{name}.ipynb"
            cache[name] = grade_submission(path, config=config, workdir=outside)
        return cache[name]

    return grade


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_mistake_gets_its_hint(graded, name):
    report = graded(name)
    assert report.assignment == ASSIGNMENT and report.error is None
    got = {result.id: result.hint_category for result in report.results}
    decided = {check: got[check] for check in EXPECTED[name]}
    assert decided == EXPECTED[name], {
        r.id: r.message for r in report.results if r.id in EXPECTED[name]
    }
