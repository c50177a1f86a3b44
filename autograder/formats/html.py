"""A student's feedback page: one self-contained HTML file per report.

Everything is inline (CSS in a ``<style>``, plots as base64 PNG drawn with matplotlib),
so the page can be mailed, uploaded to an LMS or opened offline. Every text from the
report is escaped: messages and notes can carry what the student's code printed.
Pictures of the model come only from the trusted evaluation (a
:class:`~autograder.checks.confusion.ModelEvaluation` per stage) and the canonical test
images the caller passes in; nothing the notebook produced is drawn.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Mapping

import numpy as np
from matplotlib.figure import Figure

from autograder.checks.confusion import CLASSES, ModelEvaluation
from autograder.reports import GradeReport
from mnist_course.config import AssignmentConfig, CourseConfig
from mnist_course.data import MnistDataError, load_mnist
from mnist_course.results import CheckResult

GRID_COLUMNS = 8
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #eee;
         vertical-align: top; }
td.num, th.num { text-align: right; white-space: nowrap; }
.pass { color: #1a7f37; } .fail { color: #c62828; } .muted { color: #777; }
.partial { color: #a15c00; }
.lost { border-left: 4px solid #c62828; padding: .2rem .8rem; margin: .8rem 0;
        background: #fdf3f3; }
.error { border: 2px solid #c62828; padding: .8rem; background: #fdf3f3; }
code, pre { background: #f4f4f4; padding: 0 .2rem; white-space: pre-wrap; }
img { max-width: 100%; }
"""


def escape(text: object) -> str:
    """Report text as HTML text (quotes escaped too, so it is safe in attributes)."""
    return html.escape(str(text), quote=True)


def figure_data_uri(figure: Figure) -> str:
    """The figure as a ``data:`` PNG URI, for an ``<img>`` that needs no other file."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def image(figure: Figure, alt: str) -> str:
    return f'<img src="{figure_data_uri(figure)}" alt="{escape(alt)}">'


def page(title: str, sections: Iterable[str]) -> str:
    """A whole HTML document with the kit's style; ``sections`` are ready-made HTML."""
    body = "\n".join(sections)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"{body}\n</body>\n</html>\n"
    )


def table(header: Iterable[str], rows: Iterable[Iterable[str]], numeric: set[int]) -> str:
    """An HTML table of already-escaped cells; columns in ``numeric`` align right."""

    def cells(tag: str, values: Iterable[str]) -> str:
        return "".join(
            f'<{tag} class="num">{value}</{tag}>' if index in numeric else f"<{tag}>{value}</{tag}>"
            for index, value in enumerate(values)
        )

    lines = [f"<tr>{cells('td', row)}</tr>" for row in rows]
    return f"<table><tr>{cells('th', header)}</tr>\n" + "\n".join(lines) + "</table>"


def _verdict(result: CheckResult) -> str:
    if result.passed:
        return '<span class="pass">✓ passed</span>'
    if result.partial:
        return '<span class="partial">◐ partial credit</span>'
    return '<span class="fail">✗ failed</span>'


def _scores(results: Iterable[CheckResult]) -> str:
    rows = [
        (escape(result.title), f"{result.points:g} / {result.max_points:g}", _verdict(result))
        for result in results
    ]
    return "<h2>Score by check</h2>\n" + table(("check", "points", "result"), rows, {1})


def _lost_points(results: Iterable[CheckResult]) -> str:
    failed = [result for result in results if not result.passed]
    if not failed:
        return "<h2>Lost points</h2>\n<p>None: every check passed.</p>"
    items = []
    for result in failed:
        lost = result.max_points - result.points
        hint = f"<p><strong>Hint:</strong> {escape(result.hint)}</p>" if result.hint else ""
        items.append(
            f'<div class="lost"><p><strong>{escape(result.title)}</strong> '
            f'<span class="muted">(−{lost:g} points)</span></p>'
            f"<p>{escape(result.message)}</p>{hint}</div>"
        )
    return "<h2>Lost points</h2>\n" + "\n".join(items)


def _accuracy_figure(
    config: AssignmentConfig,
    evaluations: Mapping[str, ModelEvaluation],
    partial: frozenset[str] = frozenset(),
) -> Figure:
    """Each model's accuracy against its bar: green reached, amber below with partial
    credit (the stages in ``partial``), red below."""
    stages = [(name, stage) for name, stage in config.stages.items() if name in evaluations]
    figure = Figure(figsize=(6, 0.6 + 0.6 * len(stages)))
    axes = figure.subplots()
    positions = np.arange(len(stages))
    measured = [evaluations[name].accuracy * 100 for name, _ in stages]
    bars = [stage.min_test_accuracy * 100 for _, stage in stages]
    colours = [
        "#1a7f37" if m >= b else "#d08700" if name in partial else "#c62828"
        for (name, _), m, b in zip(stages, measured, bars, strict=True)
    ]
    axes.barh(positions, measured, color=colours, label="measured")
    axes.scatter(bars, positions, marker="|", s=600, color="black", label="course bar", zorder=3)
    axes.set_yticks(positions, [stage.title for _, stage in stages])
    axes.invert_yaxis()
    axes.set_xlim(min([*measured, *bars, 90.0]) - 2, 100)
    axes.set_xlabel("test accuracy (%)")
    axes.legend(loc="lower left", fontsize="small")
    return figure


def _models(
    report: GradeReport, config: AssignmentConfig, evaluations: Mapping[str, ModelEvaluation]
) -> str:
    verdicts = {result.id: result for result in report.results}
    rows = []
    for name, stage in config.stages.items():
        evaluation = evaluations.get(name)
        check = verdicts.get(f"{name}.accuracy")
        measured = f"{evaluation.accuracy:.2%}" if evaluation else '<span class="muted">—</span>'
        if check is None:
            verdict = '<span class="muted">not graded</span>'
        elif check.passed:
            verdict = '<span class="pass">✓ reaches the bar</span>'
        elif check.partial:
            verdict = (
                f'<span class="partial">◐ below the bar: {check.points:g} / '
                f"{check.max_points:g} points of partial credit</span>"
            )
        else:
            verdict = '<span class="fail">✗ below the bar or not measured</span>'
        rows.append((escape(stage.title), measured, f"{stage.min_test_accuracy:.2%}", verdict))
    parts = [
        "<h2>Your models against the course bars</h2>",
        "<p>Accuracies measured by the grader on the 10,000 MNIST test images, with pixels "
        "divided by 255; numbers your notebook printed are not used.</p>",
        table(("model", "measured accuracy", "course bar", "verdict"), rows, {1, 2}),
    ]
    parts += _fitted_on_test(config, evaluations)
    if evaluations:
        partial = frozenset(
            name for name in config.stages if (c := verdicts.get(f"{name}.accuracy")) and c.partial
        )
        figure = _accuracy_figure(config, evaluations, partial)
        parts.append(image(figure, "accuracies against bars"))
    return "\n".join(parts)


def _fitted_on_test(
    config: AssignmentConfig, evaluations: Mapping[str, ModelEvaluation]
) -> list[str]:
    """A warning for each model the judge measured higher on the test images than on
    its training sample by more than the course's margin."""
    return [
        f'<p class="fail">⚠ {escape(stage.title)} scores {evaluation.accuracy:.2%} on the test '
        f"images but {evaluation.train_sample_accuracy:.2%} on training images: it was "
        "fitted on the test images (see the notes below).</p>"
        for name, stage in config.stages.items()
        if (evaluation := evaluations.get(name)) is not None
        and evaluation.train_sample_accuracy is not None
        and evaluation.fitted_on_test(config.integrity)
    ]


def confusion_figure(evaluation: ModelEvaluation, title: str) -> Figure:
    """The confusion matrix as a heatmap, counts written in the cells."""
    matrix = np.array(evaluation.confusion)
    figure = Figure(figsize=(5, 4.4))
    axes = figure.subplots()
    shown = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(shown, ax=axes, fraction=0.046)
    digits = range(CLASSES)
    axes.set_xticks(digits)
    axes.set_yticks(digits)
    axes.set_xlabel("predicted digit")
    axes.set_ylabel("true digit")
    axes.set_title(title, fontsize="medium")
    threshold = matrix.max() / 2 if matrix.max() else 1
    for row in digits:
        for column in digits:
            count = matrix[row, column]
            if count:
                colour = "white" if count > threshold else "black"
                axes.text(column, row, str(count), ha="center", va="center", fontsize=6, c=colour)
    return figure


def mistakes_figure(evaluation: ModelEvaluation, test_images: np.ndarray, title: str) -> Figure:
    """The misclassified test digits in a grid, each with its true and predicted label."""
    shown = [m for m in evaluation.mistakes if 0 <= m.index < len(test_images)]
    rows = max(1, -(-len(shown) // GRID_COLUMNS))
    figure = Figure(figsize=(GRID_COLUMNS * 1.1, rows * 1.3 + 0.4))
    figure.suptitle(title, fontsize="medium")
    grid = figure.subplots(rows, GRID_COLUMNS, squeeze=False)
    for axes in grid.flat:
        axes.axis("off")
    for axes, mistake in zip(grid.flat, shown, strict=False):
        axes.imshow(test_images[mistake.index], cmap="gray_r")
        axes.set_title(f"{mistake.label} → {mistake.predicted}", fontsize=8, color="#c62828")
    return figure


def _evaluation_pictures(
    config: AssignmentConfig,
    evaluations: Mapping[str, ModelEvaluation],
    test_images: np.ndarray | None,
) -> str:
    parts = []
    for name, stage in config.stages.items():
        evaluation = evaluations.get(name)
        if evaluation is None:
            continue
        parts.append(f"<h3>{escape(stage.title)}</h3>")
        parts.append(
            image(confusion_figure(evaluation, "confusion matrix"), f"{stage.title} confusion")
        )
        if test_images is not None and evaluation.mistakes:
            figure = mistakes_figure(evaluation, test_images, "misclassified (true → predicted)")
            parts.append(image(figure, f"{stage.title}: misclassified digits"))
    if not parts:
        return ""
    intro = (
        "<p>Rows are the true digits, columns what your model predicted: everything off the "
        "diagonal is a mistake.</p>"
    )
    return "<h2>Where your models go wrong</h2>\n" + intro + "\n".join(parts)


def assignment_of(report: GradeReport, config: CourseConfig) -> AssignmentConfig | None:
    """The settings of the assignment ``report`` grades (None when the course has no such
    assignment: the page then leaves out what needs its stages)."""
    if report.assignment in config.assignments:
        return config.assignment(report.assignment)
    if report.assignment is None and len(config.assignments) == 1:
        return config.assignment()
    return None


def canonical_test_images(config: CourseConfig | None) -> np.ndarray | None:
    """The canonical MNIST test images, for the grid of misclassified digits (None when
    MNIST cannot be loaded: the page then leaves the grid out)."""
    try:
        (_, _), (x_test, _) = load_mnist(config=config)
    except MnistDataError:
        return None
    return x_test


def render(
    report: GradeReport,
    *,
    config: CourseConfig,
    evaluations: Mapping[str, ModelEvaluation] | None = None,
    test_images: np.ndarray | None = None,
    show_hidden: bool = True,
) -> str:
    """The feedback page. ``evaluations`` (stage -> evaluation) default to those the report
    carries; ``test_images`` are the canonical MNIST test images (for the grid of
    misclassified digits; left out without them). With ``show_hidden`` False, checks
    marked hidden are left off, for pages shown before grades are published."""
    if evaluations is None:
        evaluations = report.evaluations_by_stage()
    title = f"Feedback: {report.submission}"
    error = report.error or None
    if error is not None:
        banner = (
            '<div class="error"><p><strong>This submission could not be graded.</strong> '
            "That is a problem of the grader, not your mistake: your instructor will "
            f"regrade it.</p><p>Cause: {escape(error)}</p></div>"
        )
        return page(title, [f"<h1>{escape(title)}</h1>", banner])
    results = [r for r in report.results if show_hidden or r.visibility == "visible"]
    score = sum(r.points for r in results)
    most = sum(r.max_points for r in results)
    sections = [
        f"<h1>{escape(config.course.title)}</h1>",
        f"<p>Submission <code>{escape(report.submission)}</code>: "
        f"<strong>{score:g} / {most:g} points</strong></p>",
        _scores(results),
        _lost_points(results),
    ]
    assignment = assignment_of(report, config)
    if show_hidden and assignment is not None:
        sections.append(_models(report, assignment, evaluations))
        sections.append(_evaluation_pictures(assignment, evaluations, test_images))
    if report.notes:
        notes = "".join(f"<li>{escape(note)}</li>" for note in report.notes)
        sections.append(f"<h2>While running your notebook</h2>\n<ul>{notes}</ul>")
    return page(title, [section for section in sections if section])
