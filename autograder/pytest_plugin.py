"""pytest plugin: ``pytest --submission=NOTEBOOK`` grades it, one test per check.

Loaded through the ``pytest11`` entry point in every pytest run of an environment
with the kit installed, so it does nothing at all unless ``--submission`` is given.
With it, the kit's own tests are not collected; the notebook is graded once and each
check becomes a test whose report carries its points: in the kit's sandbox where the
grader is installed, else (the student wheel) in a fresh kernel, as ``autograder check``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from mnist_course.results import CheckResult

_REPORT_KEY = pytest.StashKey[Any]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autograder")
    group.addoption(
        "--submission",
        metavar="PATH",
        default=None,
        help="grade this notebook: one test per autograder check",
    )
    group.addoption(
        "--course-config", metavar="PATH", default=None, help="course.yaml for --submission"
    )


def _active(config: pytest.Config) -> bool:
    return config.getoption("submission", default=None) is not None


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    return True if _active(config) else None


class CheckFailed(Exception):
    """A check did not pass; its text is the message and the hint."""


class CheckItem(pytest.Item):
    """One autograder check as a test."""

    def __init__(self, *, result: CheckResult, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.result = result
        self.user_properties += [
            ("points", result.points),
            ("max_points", result.max_points),
            ("visibility", result.visibility),
        ]

    def runtest(self) -> None:
        if not self.result.passed:
            raise CheckFailed(self.result.explain())

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style=None) -> str:
        if isinstance(excinfo.value, CheckFailed):
            return f"{self.result.title}\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        points = f"{self.result.points:g}/{self.result.max_points:g} points"
        return Path(self.config.getoption("submission")), 0, f"{self.result.id} [{points}]"


def _grade(submission: str, config_path: str | None) -> Any:
    """The kit's sandboxed grader where it is installed, else a fresh kernel (student wheel);
    a failure to grade at all stops the run with its reason, not a zero."""
    from mnist_course.config import ConfigError
    from mnist_course.data import MnistDataError

    try:
        if importlib.util.find_spec("autograder.grader") is None:
            from autograder import student

            try:
                return student.run_checks(submission, config_path=config_path)
            except student.CheckError as exc:
                raise pytest.UsageError(f"autograder: {exc}") from None
        from autograder.grader import GradingError, grade_submission

        try:
            return grade_submission(submission, config_path=config_path)
        except GradingError as exc:
            raise pytest.UsageError(f"autograder: {exc}") from None
    except (ConfigError, MnistDataError) as exc:
        raise pytest.UsageError(f"autograder: {exc}") from None


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if not _active(config):
        return
    report = _grade(config.getoption("submission"), config.getoption("course_config"))
    config.stash[_REPORT_KEY] = report
    items[:] = [
        CheckItem.from_parent(session, name=f"{result.id} [{result.max_points:g} pts]",
                              result=result)
        for result in report.results
    ]  # fmt: skip


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    report = config.stash.get(_REPORT_KEY, None)
    if report is None:
        return
    terminalreporter.section("autograder score")
    for result in report.results:
        mark = "pass" if result.passed else "FAIL"
        terminalreporter.write_line(
            f"{result.id:24} {result.points:g}/{result.max_points:g}  {mark}"
        )
    terminalreporter.write_line(f"score: {report.score:g} / {report.max_score:g}")
