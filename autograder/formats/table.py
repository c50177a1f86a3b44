"""The short plain-text table the CLI prints."""

from __future__ import annotations

from autograder.grader import GradeReport

HINT_WIDTH = 70


def render(report: GradeReport, *, show_hidden: bool = True) -> str:
    """One row per check (check, points, result, hint), then notes and the total."""
    rows = [("check", "points", "result", "hint")]
    for result in report.results:
        hidden = result.visibility == "hidden" and not show_hidden
        points = "?" if hidden else f"{result.points:g}/{result.max_points:g}"
        outcome = "hidden" if hidden else ("pass" if result.passed else "FAIL")
        hint = "" if hidden or result.passed else result.hint
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
    lines.append(f"score: {report.score:g} / {report.max_score:g}   ({report.submission})")
    for result in report.results:
        if not result.passed and (show_hidden or result.visibility == "visible"):
            lines.append(f"- {result.id}: {result.message}")
    lines += [f"note: {note}" for note in report.notes]
    return "\n".join(lines) + "\n"
