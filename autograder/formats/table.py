"""The short plain-text table the CLI prints."""

from __future__ import annotations

from autograder.formats.text import one_line
from autograder.reports import GradeReport

HINT_WIDTH = 70


def render(report: GradeReport, *, show_hidden: bool = True) -> str:
    """One row per check (check, points, result, hint), then the total, each failure with
    its whole hint, and the notes; every student text on one line of its own. A check
    below its bar that scored partial credit says ``part`` (its message, below, how)."""
    rows = [("check", "points", "result", "hint")]
    for result in report.results:
        hidden = result.visibility == "hidden" and not show_hidden
        points = "?" if hidden else f"{result.points:g}/{result.max_points:g}"
        outcome = "pass" if result.passed else "part" if result.partial else "FAIL"
        outcome = "hidden" if hidden else outcome
        hint = "" if hidden or result.passed else one_line(result.hint)
        if len(hint) > HINT_WIDTH:
            hint = hint[: HINT_WIDTH - 3] + "..."
        rows.append((result.id, points, outcome, hint))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + ("  " + row[3] if row[3] else "")
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines.append("")
    submission = one_line(report.submission)
    lines.append(f"score: {report.score:g} / {report.max_score:g}   ({submission})")
    for result in report.results:
        if not result.passed and (show_hidden or result.visibility == "visible"):
            lines.append(f"- {result.id}: {one_line(result.message)}")
            if result.hint:
                lines.append(f"  hint: {one_line(result.hint)}")
    lines += [f"note: {one_line(note)}" for note in report.notes]
    return "\n".join(lines) + "\n"
