"""Partial credit: the points of an accuracy below its bar, and how they were computed.

One pure function, :func:`accuracy_credit`, that the trusted grader's checks and the
notebook's (self-checks and nbgrader's hidden test cells alike) all reach through the
shared check functions, so a student's notebook and the grade of record never disagree.
Off by default (``grading.partial_credit`` in course.yaml names no check): a check below
its bar then scores nothing, as it always did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mnist_course.config import PARTIAL_CREDIT_JUDGES, AssignmentConfig, PartialCredit

#: Partial points are rounded down to this step, so below the bar they never reach the
#: full points and a report's numbers stay short.
POINTS_STEP = 0.01


@dataclass(frozen=True)
class Credit:
    """Points earned for one measured accuracy, and one line saying why."""

    points: float
    max_points: float
    explanation: str

    @property
    def partial(self) -> bool:
        """Some points, not all: the accuracy is between the floor and the bar."""
        return 0 < self.points < self.max_points


def rule_for(config: AssignmentConfig, check_id: str) -> PartialCredit | None:
    """The partial-credit rule of ``check_id`` (by id, then by kind), or None: all or
    nothing. Only checks measured against an accuracy bar have one."""
    check = config.spec.check(check_id)
    if check.judge not in PARTIAL_CREDIT_JUDGES:
        return None
    rules = config.grading.partial_credit
    return rules.get(check_id) or rules.get(check_id.rpartition(".")[2])


def _down(value: float, step: float) -> float:
    """``value`` rounded down to a multiple of ``step``; the epsilon keeps 0.29 from
    becoming 0.28 through float error (0.28999...)."""
    return round(math.floor(value / step + 1e-9) * step, 10)


def _round_down(points: float, max_points: float) -> float:
    """``points`` down to a multiple of POINTS_STEP, below ``max_points`` (only the bar
    gives all of them)."""
    return max(0.0, min(_down(points, POINTS_STEP), round(max_points - POINTS_STEP, 10)))


def _steps_text(rule: PartialCredit, bar: float) -> str:
    """The scale as a student reads it: each step's share of the points, then the bar's."""
    steps = [f"from {accuracy:.2%}: {share:.0%}" for accuracy, share in rule.steps]
    return f"{', '.join(steps)} of the points; from the bar of {bar:.2%}: all"


def accuracy_credit(
    accuracy: float,
    *,
    bar: float,
    floor: float,
    max_points: float,
    rule: PartialCredit | None,
) -> Credit:
    """The points of ``accuracy`` against ``bar``: all of them at or above the bar; with
    no ``rule``, none below it; with one, none at or below the floor (the rule's own, else
    ``floor``, grading.trained_min_accuracy) and, between the two, the share its scale
    gives (linear: how far from the floor to the bar; steps: the highest step reached)."""
    total = f"/ {max_points:g} points"
    if accuracy >= bar:
        return Credit(
            max_points, max_points, f"{max_points:g} {total}: {accuracy:.2%} reaches the bar."
        )
    if rule is None:
        return Credit(
            0.0,
            max_points,
            f"0 {total}: {accuracy:.2%} is below the bar of {bar:.2%} (all or nothing).",
        )
    floor = rule.floor if rule.floor is not None else floor
    if accuracy <= floor:
        return Credit(
            0.0,
            max_points,
            f"0 {total}: {accuracy:.2%} is at or below the floor of {floor:.2%}, where the "
            f"{rule.scale} scale to the bar of {bar:.2%} starts.",
        )
    if rule.scale == "linear":
        share = (accuracy - floor) / (bar - floor)
        points = _round_down(share * max_points, max_points)
        return Credit(
            points,
            max_points,
            f"{points:g} {total} on a linear scale: {accuracy:.2%} is "
            f"{_down(share, 0.001):.1%} of the way from the floor of {floor:.2%} "
            f"to the bar of {bar:.2%}.",
        )
    reached = [(step, share) for step, share in rule.steps if accuracy >= step]
    if not reached:
        return Credit(
            0.0,
            max_points,
            f"0 {total} on steps ({_steps_text(rule, bar)}): {accuracy:.2%} is below the "
            "first step.",
        )
    step, share = reached[-1]
    points = _round_down(share * max_points, max_points)
    return Credit(
        points,
        max_points,
        f"{points:g} {total} on steps ({_steps_text(rule, bar)}): {accuracy:.2%} reaches "
        f"the step at {step:.2%}.",
    )


def check_credit(
    config: AssignmentConfig, check_id: str, accuracy: float, *, bar: float, max_points: float
) -> Credit:
    """:func:`accuracy_credit` of one check with the course's rule and floor."""
    return accuracy_credit(
        accuracy,
        bar=bar,
        floor=config.grading.trained_min_accuracy,
        max_points=max_points,
        rule=rule_for(config, check_id),
    )
