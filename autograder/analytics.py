"""Class analytics: what a whole class got right and wrong, from grade-all's results.

:func:`report` reads every per-submission JSON file ``grade-all`` wrote into a results
folder (a file it cannot read is skipped and listed, never a crash), and writes a
self-contained class page (HTML, plots by matplotlib, inline) with a CSV and a JSON
summary next to it: the score histogram (final scores, after the late penalties
grade-all recorded in class.json), the pass rate of every check, the most
common mistakes counted by hint category (named from the hint catalogue), the
accuracy distribution of each model (when the reports carry the trusted evaluations),
the submissions that hit a grading limit, and those whose models the judge measured as
fitted on the test images, to look at by hand.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from autograder.batch import CLASS_FILE
from autograder.checks.confusion import ModelEvaluation
from autograder.checks.hints import HINTS
from autograder.formats.html import escape, image, page, table
from autograder.reports import GradeReport
from autograder.similarity import JSON_FILE as SIMILARITY_JSON
from autograder.similarity import PAGE as SIMILARITY_PAGE
from mnist_course.config import CourseConfig, load_config

DEFAULT_PAGE = "class-report.html"
#: Hint categories that mean the submission ran into a limit of the grader (time,
#: memory, size) rather than a plain mistake.
LIMIT_CATEGORIES = ("notebook_stopped", "model_too_large")
#: What the grader's notes say when it stopped a notebook (the executor's reasons).
_STOPPED_NOTE = re.compile(
    r"limit|ran out of|was killed|did not finish|stopped", flags=re.IGNORECASE
)
MAX_RESULT_BYTES = 20 * 2**20


@dataclass(frozen=True)
class Entry:
    """One graded submission as the results folder holds it."""

    student: str
    assignment: str
    report: GradeReport
    evaluations: tuple[ModelEvaluation, ...] = ()
    #: grade-all's late record (class.json): penalty, seconds late; None when it has none.
    late: LateRecord | None = None

    @property
    def final_score(self) -> float:
        """The score after any late penalty (the raw score when none applies)."""
        return self.late.final_score if self.late else self.report.score


@dataclass(frozen=True)
class LateRecord:
    """What the class page shows of a submission's lateness, read back from class.json."""

    seconds_late: float
    penalty: float
    final_score: float

    @classmethod
    def from_dict(cls, data: Any) -> LateRecord | None:
        """None for a missing or malformed record (the raw score then stands)."""
        try:
            values = [float(data[key]) for key in ("seconds_late", "penalty", "final_score")]
        except (KeyError, TypeError, ValueError):
            return None
        if not all(np.isfinite(values)) or min(values) < 0:
            return None
        return cls(*values)


@dataclass
class ClassData:
    """Everything read from a results folder."""

    entries: list[Entry] = field(default_factory=list)
    #: (file name, why it was not graded) for results grade-all could not grade.
    not_graded: list[tuple[str, str]] = field(default_factory=list)
    #: (file name, why it could not be read).
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Written:
    """The files :func:`report` wrote and the summary they hold."""

    page: Path
    csv: Path
    json: Path
    summary: dict[str, Any]


def _evaluations(raw: Any) -> tuple[ModelEvaluation, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValueError("evaluations must be a list")
    return tuple(ModelEvaluation.from_dict(item) for item in raw)


def _entry(path: Path, data: Any) -> Entry | str:
    """The entry of one result file, or why it was not graded."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if "results" not in data and "report" not in data:
        raise ValueError("not a grading result (no report)")
    if "results" in data and "report" not in data:  # a bare GradeReport (grade --json)
        report_data, student, assignment = data, Path(str(data.get("submission"))).stem, ""
    else:
        report_data = data.get("report")
        student, assignment = str(data.get("student", path.stem)), str(data.get("assignment", ""))
        if data.get("status") != "graded" or not isinstance(report_data, dict):
            return str(data.get("error") or f"status {data.get('status')!r}")
    if report_data.get("error"):
        return str(report_data["error"])
    report = GradeReport.from_dict(report_data)
    return Entry(student, assignment, report, _evaluations(report_data.get("evaluations")))


def read_results(results_dir: str | os.PathLike[str], *, ignore: tuple[str, ...] = ()) -> ClassData:
    """Every per-submission result in ``results_dir``; class.json (the aggregate) and the
    file names in ``ignore`` (this report's own summary) aside."""
    folder = Path(results_dir)
    if not folder.is_dir():
        raise ValueError(f"{folder}: results folder does not exist (run grade-all first)")
    late = _late_records(folder / CLASS_FILE)
    data = ClassData()
    for path in sorted(folder.glob("*.json")):
        if path.name in (CLASS_FILE, *ignore) or path.name.startswith("."):
            continue
        try:
            if path.is_symlink() or not path.is_file():
                raise ValueError("not a regular file")
            if path.stat().st_size > MAX_RESULT_BYTES:
                raise ValueError(f"over {MAX_RESULT_BYTES} bytes")
            outcome = _entry(path, json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            data.skipped.append((path.name, f"{type(exc).__name__}: {exc}"[:300]))
            continue
        if isinstance(outcome, str):
            data.not_graded.append((path.name, outcome))
        else:
            record = late.get((outcome.student, outcome.assignment))
            data.entries.append(dataclasses.replace(outcome, late=record))
    return data


def _late_records(path: Path) -> dict[tuple[str, str], LateRecord]:
    """Each graded submission's late record from grade-all's class.json (empty when the
    file is missing or unreadable: scores are then the raw ones)."""
    try:
        if path.is_symlink() or path.stat().st_size > MAX_RESULT_BYTES:
            return {}
        results = json.loads(path.read_text(encoding="utf-8")).get("results", [])
        return {
            (str(item["student"]), str(item["assignment"])): record
            for item in results
            if isinstance(item, dict) and (record := LateRecord.from_dict(item.get("late")))
        }
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return {}


def _limit_reason(entry: Entry) -> str | None:
    """Why this submission looks stopped by a limit, or None."""
    for result in entry.report.results:
        if result.hint_category in LIMIT_CATEGORIES:
            return f"{result.id}: {result.message}"
    for note in entry.report.notes:
        if _STOPPED_NOTE.search(note):
            return note
    return None


def _fitted_on_test(entry: Entry, config: CourseConfig) -> list[str]:
    """The stages whose model the judge measured as fitted on the test images."""
    return [e.stage for e in entry.evaluations if e.fitted_on_test(config.integrity)]


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "count": len(values),
        "mean": statistics.fmean(values),
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def summarise(data: ClassData, config: CourseConfig) -> dict[str, Any]:
    """The class summary as plain data (what the JSON file holds and the page draws)."""
    entries = data.entries
    checks: dict[str, dict[str, Any]] = {}
    mistakes: Counter[str] = Counter()
    for entry in entries:
        for result in entry.report.results:
            check = checks.setdefault(
                result.id, {"id": result.id, "title": result.title, "passed": 0, "graded": 0}
            )
            check["graded"] += 1
            check["passed"] += result.passed
        mistakes.update(
            {r.hint_category for r in entry.report.results if not r.passed and r.hint_category}
        )
    for check in checks.values():
        check["pass_rate"] = check["passed"] / check["graded"]
    accuracy = {}
    for assignment_id in config.assignments:
        assignment = config.assignment(assignment_id)
        graded = [
            entry
            for entry in entries
            if entry.report.assignment
            in (assignment_id, None if len(config.assignments) == 1 else "")
        ]
        for name, stage in assignment.stages.items():
            values = [e.accuracy for entry in graded for e in entry.evaluations if e.stage == name]
            if values:
                below = sum(value < stage.min_test_accuracy for value in values)
                accuracy[name] = {
                    **_stats(values),
                    "title": stage.title,
                    "bar": stage.min_test_accuracy,
                    "below_bar": below,
                    "assignment": assignment_id,
                }
    scores = [entry.final_score for entry in entries]
    late = [entry for entry in entries if entry.late and entry.late.seconds_late > 0]
    return {
        "submissions": len(entries) + len(data.not_graded),
        "graded": len(entries),
        "max_score": max((entry.report.max_score for entry in entries), default=0.0),
        "score": _stats(scores) if scores else None,  # after late penalties
        "late": {
            "submissions": len(late),
            "penalised": sum(entry.late.penalty > 0 for entry in late),
            "points_lost": sum(entry.late.penalty for entry in late),
        },
        "checks": list(checks.values()),
        "mistakes": [
            {
                "category": category,
                "mistake": HINTS[category].mistake if category in HINTS else category,
                "submissions": count,
            }
            for category, count in mistakes.most_common()
        ],
        "accuracy": accuracy,
        "limits": [
            {"student": entry.student, "assignment": entry.assignment, "reason": reason}
            for entry in entries
            if (reason := _limit_reason(entry)) is not None
        ],
        "fitted_on_test": [
            {"student": entry.student, "assignment": entry.assignment, "models": " ".join(stages)}
            for entry in entries
            if (stages := _fitted_on_test(entry, config))
        ],
        "not_graded": [{"file": name, "error": error} for name, error in data.not_graded],
        "skipped": [{"file": name, "reason": reason} for name, reason in data.skipped],
    }


def _score_figure(scores: list[float], max_score: float) -> Figure:
    figure = Figure(figsize=(6, 3))
    axes = figure.subplots()
    bins = np.arange(0, max(max_score, max(scores)) + 2) - 0.5
    axes.hist(scores, bins=bins, color="#4a78b5", edgecolor="white")
    axes.set_xlabel("score")
    axes.set_ylabel("submissions")
    return figure


def _pass_rate_figure(checks: list[dict[str, Any]]) -> Figure:
    figure = Figure(figsize=(7, 0.6 + 0.32 * len(checks)))
    axes = figure.subplots()
    positions = np.arange(len(checks))
    axes.barh(positions, [check["pass_rate"] * 100 for check in checks], color="#1a7f37")
    axes.set_yticks(positions, [check["id"] for check in checks], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel("submissions passing (%)")
    return figure


def _accuracy_figure(accuracy: dict[str, Any], data: ClassData) -> Figure:
    figure = Figure(figsize=(7, 0.8 + 0.8 * len(accuracy)))
    axes = figure.subplots()
    names = list(accuracy)
    values = [
        [e.accuracy * 100 for entry in data.entries for e in entry.evaluations if e.stage == name]
        for name in names
    ]
    axes.boxplot(
        values, orientation="horizontal", tick_labels=[accuracy[n]["title"] for n in names]
    )
    for position, name in enumerate(names, start=1):
        bar = accuracy[name]["bar"] * 100
        axes.plot([bar, bar], [position - 0.4, position + 0.4], color="#c62828")
    axes.invert_yaxis()
    axes.set_xlabel("test accuracy (%), course bar in red")
    return figure


def render_page(summary: dict[str, Any], data: ClassData, config: CourseConfig) -> str:
    """The class page (HTML, self-contained)."""
    title = f"{config.course.title}: class report"
    sections = [
        f"<h1>{escape(title)}</h1>",
        f"<p>{summary['graded']} of {summary['submissions']} submissions graded"
        + (f"; {len(data.skipped)} result files unreadable" if data.skipped else "")
        + ".</p>",
    ]
    if data.entries:
        score = summary["score"]
        sections += [
            "<h2>Scores</h2>",
            f"<p>Mean {score['mean']:.2f}, median {score['median']:g}, range {score['min']:g}–"
            f"{score['max']:g} of {summary['max_score']:g}"
            + (
                f" after late penalties ({summary['late']['submissions']} late, "
                f"{summary['late']['points_lost']:g} points lost in all)"
                if summary["late"]["submissions"]
                else ""
            )
            + ".</p>",
            image(
                _score_figure([e.final_score for e in data.entries], summary["max_score"]),
                "score histogram",
            ),
            "<h2>Pass rate per check</h2>",
            image(_pass_rate_figure(summary["checks"]), "pass rate per check"),
            table(
                ("check", "title", "passed", "pass rate"),
                [
                    (
                        escape(c["id"]),
                        escape(c["title"]),
                        f"{c['passed']} / {c['graded']}",
                        f"{c['pass_rate']:.0%}",
                    )
                    for c in summary["checks"]
                ],
                {2, 3},
            ),
        ]
    if summary["mistakes"]:
        rows = [
            (escape(m["mistake"]), f"<code>{escape(m['category'])}</code>", str(m["submissions"]))
            for m in summary["mistakes"]
        ]
        sections += [
            "<h2>Most common mistakes</h2>",
            table(("mistake", "hint category", "submissions"), rows, {2}),
        ]
    if summary["accuracy"]:
        rows = [
            (
                escape(a["title"]),
                str(a["count"]),
                f"{a['median']:.2%}",
                f"{a['min']:.2%}–{a['max']:.2%}",
                f"{a['bar']:.2%}",
                str(a["below_bar"]),
            )
            for a in summary["accuracy"].values()
        ]
        sections += [
            "<h2>Accuracy per model</h2>",
            image(_accuracy_figure(summary["accuracy"], data), "accuracy per model"),
            table(("model", "models", "median", "range", "bar", "below bar"), rows, {1, 2, 4, 5}),
        ]
    if summary.get("similarity"):
        sections += [
            "<h2>Similarity between submissions</h2>",
            f'<p><a href="{escape(summary["similarity"])}">Pairs of submissions to look at</a> '
            "(code in common, models alike), from <code>autograder similarity</code>.</p>",
        ]
    for heading, key, columns in (
        ("Hit a limit: look at these by hand", "limits", ("student", "assignment", "reason")),
        (
            "Fitted on the test images (test accuracy above training accuracy)",
            "fitted_on_test",
            ("student", "assignment", "models"),
        ),
        ("Not graded (grading failed: regrade)", "not_graded", ("file", "error")),
        ("Result files that could not be read", "skipped", ("file", "reason")),
    ):
        if summary[key]:
            rows = [[escape(item[column]) for column in columns] for item in summary[key]]
            sections += [f"<h2>{escape(heading)}</h2>", table(columns, rows, set())]
    return page(title, sections)


def _write_csv(path: Path, data: ClassData, config: CourseConfig) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "student",
                "assignment",
                "score",
                "max_score",
                "late_seconds",
                "penalty",
                "final_score",
                "failed_checks",
                "mistakes",
                "limit",
                "fitted_on_test",
            ]
        )
        for entry in data.entries:
            failed = [r for r in entry.report.results if not r.passed]
            writer.writerow(
                [
                    entry.student,
                    entry.assignment,
                    entry.report.score,
                    entry.report.max_score,
                    round(entry.late.seconds_late) if entry.late else 0,
                    entry.late.penalty if entry.late else 0.0,
                    entry.final_score,
                    " ".join(r.id for r in failed),
                    " ".join(sorted({r.hint_category for r in failed if r.hint_category})),
                    _limit_reason(entry) or "",
                    " ".join(_fitted_on_test(entry, config)),
                ]
            )


def report(
    results_dir: str | os.PathLike[str],
    *,
    output: str | os.PathLike[str] | None = None,
    config: CourseConfig | None = None,
    config_path: str | os.PathLike[str] | None = None,
) -> Written:
    """Write the class page to ``output`` (default: ``results_dir``/class-report.html) and
    its summary as .csv and .json beside it; return the paths and the summary."""
    config = config or load_config(config_path)
    target = Path(output) if output is not None else Path(results_dir) / DEFAULT_PAGE
    data = read_results(results_dir, ignore=(target.with_suffix(".json").name, SIMILARITY_JSON))
    summary = summarise(data, config)
    similarity_page = Path(results_dir) / SIMILARITY_PAGE
    if similarity_page.is_file():  # a link relative to the class page
        summary["similarity"] = os.path.relpath(similarity_page, target.parent)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_page(summary, data, config), encoding="utf-8")
    csv_path, json_path = target.with_suffix(".csv"), target.with_suffix(".json")
    _write_csv(csv_path, data, config)
    json_path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return Written(target, csv_path, json_path, summary)
