"""``autograder similarity RESULTS_DIR``: pairs of submissions to look at, with evidence.

:func:`similarity` reads what grade-all wrote (the results with the judge's model
fingerprints, and ``code/`` with each notebook's own code), compares every pair of one
assignment's submissions on every signal of :data:`SIGNALS`, puts each pair's value
against the class's distribution (median, robust z-score, percentile) and lists the
pairs over a course.yaml threshold. It writes similarity.html (the pairs, the code side
by side with the matching regions marked, the distributions), similarity.csv (one row
per listed pair and signal) and similarity.json beside the results. A file it cannot
read is listed, never a crash. It says "look at these pairs"; it never says who copied.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from autograder import analytics, pool
from autograder.formats.html import escape, image, page, table
from autograder.similarity import CODE_DIR, CSV_FILE, JSON_FILE, PAGE, models
from autograder.similarity import code as student_code
from mnist_course.config import CourseConfig, SimilaritySettings, load_config
from mnist_course.data import MnistDataError, load_mnist

#: Listed pairs the page shows (the CSV and JSON files hold them all).
MAX_PAGE_PAIRS = 200
#: Robust z-scores: 0.6745 makes the MAD of a normal distribution its standard deviation;
#: 1.2533 does the same for the mean absolute deviation when the MAD is 0.
MAD_SCALE, MEAN_AD_SCALE = 0.6745, 1.2533


@dataclass(frozen=True)
class Signal:
    """One way two submissions can be alike; pairs at or over ``threshold`` (a key of
    course.yaml's ``similarity`` section, None for yes/no signals) are listed."""

    id: str
    title: str
    per_stage: bool
    threshold: str | None
    #: Whether the signal lists a pair on its own (an identical architecture never does).
    flags: bool = True
    #: What it can and cannot show (the page says it beside the numbers).
    meaning: str = ""


SIGNALS = (
    Signal(
        "code",
        "code in common",
        False,
        "code_threshold",
        meaning="share of one notebook's own code (the released cells left out) found in the "
        "other's, after renaming and reordering; a common tutorial or a hint given in class "
        "shows here too",
    ),
    Signal(
        "mistakes",
        "same mistakes",
        True,
        "mistakes_threshold",
        meaning="Jaccard overlap of the misclassified test images; independently trained "
        "models share some hard digits, a copied model all of them",
    ),
    Signal(
        "agreement",
        "same predictions",
        True,
        "agreement_threshold",
        meaning="share of test images both models label alike; high for any two good models, "
        "so only values very near 1 stand out",
    ),
    Signal(
        "weights",
        "identical weights",
        True,
        None,
        meaning="the same weights, bit for bit: a copied model file, or the same code trained "
        "with the course's seed (which the notebook sets) on the same data",
    ),
    Signal(
        "architecture",
        "identical architecture",
        True,
        None,
        flags=False,
        meaning="the same layers; the assignment dictates most of them, so it is context only",
    ),
)

SIGNAL_TITLES = {signal.id: signal.title for signal in SIGNALS}
SIGNAL_BY_ID = {signal.id: signal for signal in SIGNALS}


@dataclass(frozen=True)
class Distribution:
    """One signal's values over every pair of one assignment (one stage)."""

    assignment: str
    signal: str
    stage: str | None
    #: Submissions (or models) and the pairs of them compared.
    members: int
    pairs: int
    median: float | None
    mad: float | None
    p99: float | None
    max: float | None
    over_threshold: int
    threshold: float | None
    #: Whether the class is large enough for z-scores and percentiles to mean something.
    comparable: bool
    note: str = ""


@dataclass(frozen=True)
class Evidence:
    """One signal's value for one pair, and how unusual it is in the class."""

    signal: str
    stage: str | None
    value: float
    robust_z: float | None
    percentile: float | None
    flagged: bool
    note: str = ""


@dataclass(frozen=True)
class Pair:
    """Two submissions of one assignment and everything that compares them."""

    assignment: str
    first: str
    second: str
    evidence: tuple[Evidence, ...]

    @property
    def flags(self) -> tuple[Evidence, ...]:
        return tuple(item for item in self.evidence if item.flagged)

    def value(self, signal: str, stage: str | None = None) -> float | None:
        for item in self.evidence:
            if item.signal == signal and item.stage == stage:
                return item.value
        return None


@dataclass
class ClassSimilarity:
    """Everything :func:`similarity` found."""

    settings: SimilaritySettings
    pairs: list[Pair] = field(default_factory=list)
    distributions: list[Distribution] = field(default_factory=list)
    #: Side-by-side code of the top pairs: (assignment, first, second, score, html, html).
    code_views: list[tuple[str, str, str, float, str, str]] = field(default_factory=list)
    #: Groups of models with identical weights: assignment, stage, students, common or not.
    weight_groups: list[dict[str, Any]] = field(default_factory=list)
    #: What limits the comparison (no release notebook, no fingerprints, ...).
    notes: list[str] = field(default_factory=list)
    #: (file, why) for files that could not be read.
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    #: Score histograms by assignment (for the page).
    histograms: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "settings": self.settings.model_dump(),
            "signals": [asdict(signal) for signal in SIGNALS],
            "distributions": [asdict(item) for item in self.distributions],
            "pairs": [
                {**asdict(pair), "flagged": [f"{e.signal}:{e.stage or ''}" for e in pair.flags]}
                for pair in self.pairs
            ],
            "weight_groups": self.weight_groups,
            "notes": self.notes,
            "unreadable": [{"file": name, "reason": reason} for name, reason in self.unreadable],
        }


@dataclass(frozen=True)
class Written:
    """The files :func:`similarity` wrote, and what they hold."""

    page: Path
    csv: Path
    json: Path
    found: ClassSimilarity


class _Matrix:
    """One signal's pair values over one assignment's members (NaN: not comparable)."""

    def __init__(self, size: int) -> None:
        self.values = np.full((size, size), np.nan)
        self.explained = np.zeros((size, size), dtype=bool)  # by a common outcome
        self.notes: dict[tuple[int, int], str] = {}

    def upper(self) -> np.ndarray:
        rows, columns = np.triu_indices(len(self.values), k=1)
        values = self.values[rows, columns]
        return values[~np.isnan(values)]


Judge = Callable[[float], tuple[float | None, float | None]]
#: A signal and its stage (None for code): what one matrix of pair values measures.
Key = tuple[str, str | None]


def _distribution(
    matrix: _Matrix,
    assignment: str,
    signal: Signal,
    stage: str | None,
    settings: SimilaritySettings,
    members: int,
) -> tuple[Distribution, Judge]:
    """The signal's distribution, and a function giving a value's robust z and percentile."""
    values = np.sort(matrix.upper())
    threshold = getattr(settings, signal.threshold) if signal.threshold else None
    comparable = members >= settings.min_class_size and len(values) > 0
    if not len(values):
        empty = Distribution(assignment, signal.id, stage, members, 0, None, None, None, None,
                             0, threshold, False)  # fmt: skip
        return empty, lambda value: (None, None)
    if signal.threshold is None:  # yes or no: how many pairs say yes is the distribution
        over = int(np.sum(values >= 1.0))
        distribution = Distribution(assignment, signal.id, stage, members, len(values), None,
                                    None, None, None, over, None, comparable)  # fmt: skip
        return distribution, lambda value: (None, None)
    median = float(np.median(values))
    deviations = np.abs(values - median)
    mad = float(np.median(deviations))
    spread = mad / MAD_SCALE if mad > 0 else float(np.mean(deviations)) * MEAN_AD_SCALE
    over = int(np.sum(values >= threshold))
    distribution = Distribution(
        assignment, signal.id, stage, members, len(values), median, mad,
        float(np.quantile(values, 0.99)), float(values[-1]), over, threshold, comparable,
        "" if comparable else f"fewer than {settings.min_class_size} to compare: no z-scores",
    )  # fmt: skip

    def unusual(value: float) -> tuple[float | None, float | None]:
        if not comparable or signal.threshold is None:
            return None, None
        z = (value - median) / spread if spread > 0 else None
        percentile = 100.0 * np.searchsorted(values, value, side="right") / len(values)
        return (round(z, 2) if z is not None else None), round(float(percentile), 3)

    return distribution, unusual


def _code_matrix(
    assignment: str,
    codes: list[student_code.StudentCode],
    index: dict[str, int],
    config: CourseConfig,
    found: ClassSimilarity,
    progress: Callable[[str], None],
) -> _Matrix:
    matrix = _Matrix(len(index))
    if len(codes) < 2:
        return matrix
    boilerplate, note = student_code.released_code(config, assignment)
    if note:
        found.notes.append(note)
    progress(f"{assignment}: comparing the code of {len(codes)} notebooks")
    comparison = student_code.compare(codes, boilerplate, config.similarity, progress)
    scores = comparison.scores
    rows = [index[code.student] for code in codes]
    matrix.values[np.ix_(rows, rows)] = scores
    np.fill_diagonal(matrix.values, np.nan)
    tokens = np.maximum(comparison.tokens, comparison.tokens.T)
    few = tokens < config.similarity.min_code_tokens
    matrix.explained[np.ix_(rows, rows)] = few
    for i, j in zip(*np.nonzero(few & (scores >= config.similarity.code_threshold)), strict=True):
        matrix.notes[(rows[i], rows[j])] = (
            f"only {tokens[i, j]} characters of tokenised code in common: too little to tell"
        )
    for number, code in enumerate(codes):
        if code.note:
            found.notes.append(f"{assignment}, {code.student}: {code.note}")
        if not code.cells:
            matrix.values[rows[number], :] = np.nan
            matrix.values[:, rows[number]] = np.nan
    upper = np.triu(np.nan_to_num(scores, nan=-1.0), k=1)
    order = np.argsort(upper, axis=None)[::-1][: config.similarity.pairs_shown]
    for flat in order:
        i, j = np.unravel_index(flat, upper.shape)
        if upper[i, j] <= 0:
            break
        first, second = comparison.marked(int(i), int(j))
        found.code_views.append(
            (assignment, codes[i].student, codes[j].student, float(upper[i, j]), first, second)
        )
    return matrix


def _model_matrices(
    assignment: str,
    entries: list[analytics.Entry],
    index: dict[str, int],
    labels: np.ndarray | None,
    settings: SimilaritySettings,
    found: ClassSimilarity,
) -> dict[tuple[str, str], _Matrix]:
    """(signal, stage) -> matrix, for every stage some models of this assignment have."""
    by_stage: dict[str, list[tuple[int, Any]]] = {}
    for entry in entries:
        for evaluation in entry.evaluations:
            if evaluation.fingerprint is not None:
                by_stage.setdefault(evaluation.stage, []).append(
                    (index[entry.student], evaluation.fingerprint)
                )
    matrices: dict[tuple[str, str], _Matrix] = {}
    for stage, owned in by_stage.items():
        if labels is not None:
            kept = [(owner, f) for owner, f in owned if len(f.predictions) == len(labels)]
            if len(kept) < len(owned):
                found.notes.append(
                    f"{assignment}, {stage}: {len(owned) - len(kept)} fingerprints are for "
                    f"another test set than the {len(labels)} images here, left out"
                )
            owned = kept
        if len(owned) < 2:
            continue
        owners = [owner for owner, _ in owned]
        pairs = models.compare(stage, owners, [f for _, f in owned], labels)
        cells = np.ix_(owners, owners)
        for signal, values in (
            ("mistakes", pairs.jaccard),
            ("agreement", pairs.agreement),
            ("weights", pairs.same_weights.astype(float)),
            ("architecture", pairs.same_architecture.astype(float)),
        ):
            matrix = matrices[(signal, stage)] = _Matrix(len(index))
            matrix.values[cells] = values
            np.fill_diagonal(matrix.values, np.nan)
        _common_outcomes(assignment, stage, pairs, owners, index, settings, matrices, found)
    return matrices


def _common_outcomes(
    assignment: str,
    stage: str,
    pairs: models.ModelPairs,
    owners: list[int],
    index: dict[str, int],
    settings: SimilaritySettings,
    matrices: dict[tuple[str, str], _Matrix],
    found: ClassSimilarity,
) -> None:
    """Record each group of identical weights; a group too large to be unusual explains
    its pairs' weights, mistakes and predictions (they are not listed for those)."""
    names = {number: name for name, number in index.items()}
    count = len(owners)
    for digest, size in pairs.weight_groups().items():
        if size < 2:
            continue
        members = [
            owner
            for owner, fingerprint in zip(owners, pairs.fingerprints, strict=True)
            if fingerprint.weights_sha256 == digest
        ]
        common = count >= settings.min_class_size and size > settings.common_share * count
        found.weight_groups.append(
            {"assignment": assignment, "stage": stage, "weights_sha256": digest,
             "students": sorted(names[m] for m in members), "of": count, "common": common}
        )  # fmt: skip
        if common:
            note = (
                f"{size} of {count} models share these weights: the course's common outcome "
                "(the same code trained with the course's seed)"
            )
            cells = np.ix_(members, members)
            for signal in ("mistakes", "agreement", "weights"):
                matrices[(signal, stage)].explained[cells] = True
                for i in members:
                    for j in members:
                        matrices[(signal, stage)].notes[(i, j)] = note


def _labels(config: CourseConfig, found: ClassSimilarity) -> np.ndarray | None:
    try:
        (_, _), (_, y_test) = load_mnist(config=config)
    except MnistDataError as exc:
        found.notes.append(f"MNIST is not available here, so mistakes cannot be told: {exc}")
        return None
    return np.asarray(y_test)


def _assignment_pairs(
    assignment: str,
    codes: list[student_code.StudentCode],
    entries: list[analytics.Entry],
    labels: np.ndarray | None,
    config: CourseConfig,
    found: ClassSimilarity,
    progress: Callable[[str], None],
) -> None:
    settings = config.similarity
    names = sorted({code.student for code in codes} | {entry.student for entry in entries})
    index = {name: number for number, name in enumerate(names)}
    matrices = {("code", None): _code_matrix(assignment, codes, index, config, found, progress)}
    progress(f"{assignment}: comparing the models of {len(entries)} graded submissions")
    matrices.update(_model_matrices(assignment, entries, index, labels, settings, found))
    judged: dict[Key, Judge] = {}
    lists: dict[Key, np.ndarray] = {}  # which pairs each signal lists
    for (signal_id, stage), matrix in matrices.items():
        signal = SIGNAL_BY_ID[signal_id]
        members = int(np.sum(~np.all(np.isnan(matrix.values), axis=1)))
        distribution, judged[(signal_id, stage)] = _distribution(
            matrix, assignment, signal, stage, settings, members
        )
        found.distributions.append(distribution)
        cut = distribution.threshold if distribution.threshold is not None else 1.0
        over = np.nan_to_num(matrix.values, nan=-1.0) >= cut
        lists[(signal_id, stage)] = over & ~matrix.explained & signal.flags
        if signal_id in ("code", "mistakes"):
            found.histograms.setdefault(assignment, {})[f"{signal_id}:{stage or ''}"] = (
                matrix.upper()
            )
    listed = set()
    for key, flags in lists.items():
        listed |= set(zip(*np.nonzero(np.triu(flags, k=1)), strict=True))
        if key[0] in ("code", "mistakes"):  # each ranking's top pairs, listed or not
            listed |= _top_pairs(matrices[key].values, settings.pairs_shown)
    for i, j in sorted(listed):
        evidence = tuple(
            Evidence(
                signal_id,
                stage,
                round(float(matrix.values[i, j]), 4),
                *judged[(signal_id, stage)](float(matrix.values[i, j])),
                bool(lists[(signal_id, stage)][i, j]),
                matrix.notes.get((int(i), int(j)), ""),
            )
            for (signal_id, stage), matrix in matrices.items()
            if not np.isnan(matrix.values[i, j])
        )
        found.pairs.append(Pair(assignment, names[int(i)], names[int(j)], evidence))


def _top_pairs(values: np.ndarray, count: int) -> set[tuple[int, int]]:
    """The ``count`` pairs (i < j) with the highest positive values."""
    upper = np.triu(np.nan_to_num(values, nan=-1.0), k=1)
    top = set()
    for flat in np.argsort(upper, axis=None)[::-1][:count]:
        i, j = np.unravel_index(flat, upper.shape)
        if upper[i, j] > 0:
            top.add((int(i), int(j)))
    return top


def _rank(pair: Pair) -> tuple[float, ...]:
    """Most flags first, then the highest code score, then the most shared mistakes."""
    mistakes = [e.value for e in pair.evidence if e.signal == "mistakes"]
    return (-len(pair.flags), -(pair.value("code") or 0.0), -max(mistakes, default=0.0))


def compare_class(
    results_dir: str | os.PathLike[str],
    config: CourseConfig,
    progress: Callable[[str], None] = lambda message: None,
) -> ClassSimilarity:
    """Every pair of every assignment's submissions in ``results_dir``, compared."""
    folder = Path(results_dir)
    ignore = (JSON_FILE, Path(analytics.DEFAULT_PAGE).with_suffix(".json").name)
    data = analytics.read_results(folder, ignore=ignore)
    found = ClassSimilarity(config.similarity)
    found.unreadable += data.skipped
    codes, unreadable = student_code.code_files(folder / CODE_DIR)
    found.unreadable += unreadable
    if not codes:
        found.notes.append(
            f"{folder / CODE_DIR}: no code kept (grade-all keeps it since this kit version; "
            "run grade-all again to add it, nothing is regraded)"
        )
    entries = [
        analytics.Entry(e.student, e.assignment or e.report.assignment or "", e.report,
                        e.evaluations)
        for e in data.entries
    ]  # fmt: skip
    if entries and not any(ev.fingerprint for e in entries for ev in e.evaluations):
        found.notes.append(
            "no model fingerprints in these results (graded by a kit without them): "
            "regrade with grade-all --force to compare models"
        )
    labels = _labels(config, found) if entries else None
    assignments = sorted({code.assignment for code in codes} | {e.assignment for e in entries})
    for assignment in assignments:
        own = list({c.student: c for c in reversed(codes) if c.assignment == assignment}.values())[
            ::-1
        ]  # one per student (the first file of a name the folder holds twice)
        graded = [entry for entry in entries if entry.assignment == assignment]
        _assignment_pairs(assignment, own, graded, labels, config, found, progress)
    found.pairs.sort(key=_rank)
    return found


# ---------------------------------------------------------------------------- the files


def _csv_text(found: ClassSimilarity) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["assignment", "student_a", "student_b", "signal", "stage", "value",
                     "robust_z", "percentile", "flagged", "note"])  # fmt: skip
    for pair in found.pairs:
        for item in pair.evidence:
            writer.writerow(
                [pair.assignment, pair.first, pair.second, item.signal, item.stage or "",
                 item.value, "" if item.robust_z is None else item.robust_z,
                 "" if item.percentile is None else item.percentile, int(item.flagged), item.note]
            )  # fmt: skip
    return buffer.getvalue()


EXTRA_STYLE = """
<style>
.side { display: grid; grid-template-columns: 1fr 1fr; gap: .6rem; }
.side pre { font-size: .75rem; max-height: 32rem; overflow: auto; border: 1px solid #ddd;
            padding: .4rem; margin: 0; }
mark { background: #ffe08a; }
.flag { color: #9a6700; font-weight: 600; }
</style>
"""


def _evidence_text(item: Evidence) -> str:
    signal = SIGNAL_BY_ID[item.signal]
    where = f" ({item.stage})" if item.stage else ""
    value = "yes" if signal.threshold is None else f"{item.value:.3f}"
    if signal.threshold is None and item.value < 1:
        value = "no"
    context = []
    if item.robust_z is not None:
        context.append(f"z {item.robust_z:+.1f}")
    if item.percentile is not None:
        context.append(f"percentile {item.percentile:.1f}")
    extra = f" [{', '.join(context)}]" if context else ""
    return f"{signal.title}{where}: {value}{extra}"


def _histogram(values: dict[str, np.ndarray], settings: SimilaritySettings) -> Figure:
    figure = Figure(figsize=(7, 0.4 + 1.6 * len(values)))
    axes_list = figure.subplots(len(values), 1, squeeze=False)[:, 0]
    for axes, (key, data) in zip(axes_list, values.items(), strict=True):
        signal, stage = key.split(":")
        threshold = settings.code_threshold if signal == "code" else settings.mistakes_threshold
        counts, _, _ = axes.hist(data, bins=np.linspace(0, 1, 41), color="#4a78b5")
        axes.axvline(threshold, color="#c62828")
        many = counts.max() > 100  # a large class: the few high pairs stay visible
        if many:
            axes.set_yscale("log")
        label = "code in common" if signal == "code" else f"same mistakes, {stage}"
        axes.set_ylabel("pairs (log)" if many else "pairs")
        axes.set_title(label, fontsize=9, loc="left")
    axes_list[-1].set_xlabel("value per pair (threshold in red)")
    figure.tight_layout()
    return figure


INTRODUCTION = (
    "<p>These are pairs to <strong>look at</strong>, not verdicts. Each shows its evidence "
    "and how unusual it is in this class (robust z-score and percentile among all pairs of "
    "the assignment). Starter code, a tutorial many students followed, or the same code "
    "trained with the course's seed can each explain a match; only a person who reads both "
    "notebooks can tell.</p>"
)


def _listed_section(found: ClassSimilarity) -> list[str]:
    """The pairs to look at, each with its evidence and a link to its code."""
    flagged = [pair for pair in found.pairs if pair.flags]
    if not flagged:
        return ["<h2>Look at these pairs</h2>", "<p>No pair reaches a threshold.</p>"]
    views = {}
    for number, (assignment, first, second, *_) in enumerate(found.code_views):
        views[(assignment, first, second)] = views[(assignment, second, first)] = number
    rows = []
    for pair in flagged[:MAX_PAGE_PAIRS]:
        why = "<br>".join(
            f'<span class="flag">{escape(_evidence_text(item))}</span>' for item in pair.flags
        )
        view = views.get((pair.assignment, pair.first, pair.second))
        code = f'<a href="#code-{view}">side by side</a>' if view is not None else ""
        rows.append((escape(pair.assignment), escape(pair.first), escape(pair.second), why, code))
    sections = [
        "<h2>Look at these pairs</h2>",
        table(("assignment", "student", "student", "why", "code"), rows, set()),
    ]
    if len(flagged) > MAX_PAGE_PAIRS:
        sections.append(
            f"<p>… and {len(flagged) - MAX_PAGE_PAIRS} more in {CSV_FILE}. So many pairs "
            "usually mean a source the whole class shared: raise the thresholds in "
            "course.yaml's similarity section, or check the release notebook was found.</p>"
        )
    return sections


def _signals_section(settings: SimilaritySettings) -> list[str]:
    rows = []
    for signal in SIGNALS:
        if signal.threshold:
            listed_from = escape(f"{getattr(settings, signal.threshold):g}")
        else:
            listed_from = "identical" if signal.flags else "never on its own"
        rows.append((escape(signal.title), listed_from, escape(signal.meaning)))
    return [
        "<h2>Signals</h2>",
        table(("signal", "listed from", "what it can and cannot show"), rows, set()),
    ]


def _distributions_section(found: ClassSimilarity) -> list[str]:
    sections = []
    for assignment, values in found.histograms.items():
        shown = {key: data for key, data in values.items() if len(data)}
        if shown:
            sections += [
                f"<h2>Distributions: {escape(assignment)}</h2>",
                image(_histogram(shown, found.settings), f"pair values of {assignment}"),
            ]
    rows = [
        (escape(d.assignment), escape(SIGNAL_TITLES[d.signal]), escape(d.stage or ""),
         str(d.pairs), _number(d.median), _number(d.p99), _number(d.max),
         f"{d.over_threshold}" + ("" if d.threshold is not None else " identical"),
         escape(d.note))
        for d in found.distributions
    ]  # fmt: skip
    header = ("assignment", "signal", "stage", "pairs", "median", "99th pct", "max",
              "at threshold", "note")  # fmt: skip
    sections.append(table(header, rows, {3, 4, 5, 6, 7}))
    if found.weight_groups:
        rows = [
            (escape(g["assignment"]), escape(g["stage"]), escape(", ".join(g["students"])),
             f"{len(g['students'])} of {g['of']}",
             "common outcome, not listed" if g["common"] else "listed")
            for g in found.weight_groups
        ]  # fmt: skip
        sections += [
            "<h2>Models with identical weights</h2>",
            table(("assignment", "stage", "students", "models", ""), rows, {3}),
        ]
    return sections


def _code_section(found: ClassSimilarity) -> list[str]:
    """The highest-scoring pairs' code side by side (already escaped, matches marked)."""
    if not found.code_views:
        return []
    sections = ["<h2>Code side by side (highest scores first)</h2>"]
    for number, (assignment, first, second, score, left, right) in enumerate(found.code_views):
        sections.append(
            f'<h3 id="code-{number}">{escape(assignment)}: {escape(first)} and '
            f'{escape(second)} <span class="muted">({score:.0%} in common)</span></h3>'
            f'<div class="side"><pre>{left}</pre><pre>{right}</pre></div>'
        )
    return sections


def render_page(found: ClassSimilarity, config: CourseConfig) -> str:
    """similarity.html (self-contained; every student text escaped)."""
    title = f"{config.course.title}: similarity between submissions"
    sections = [
        EXTRA_STYLE,
        f"<h1>{escape(title)}</h1>",
        INTRODUCTION,
        *_listed_section(found),
        *_signals_section(found.settings),
        *_distributions_section(found),
        *_code_section(found),
    ]
    for heading, columns, items in (
        ("Notes", ("note",), [(escape(note),) for note in found.notes]),
        ("Files that could not be read", ("file", "reason"),
         [(escape(name), escape(reason)) for name, reason in found.unreadable]),
    ):  # fmt: skip
        if items:
            sections += [f"<h2>{heading}</h2>", table(columns, items, set())]
    return page(title, sections)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def similarity(
    results_dir: str | os.PathLike[str],
    *,
    config: CourseConfig | None = None,
    config_path: str | os.PathLike[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Written:
    """Compare every pair of submissions in ``results_dir``; write similarity.html, .csv
    and .json there (atomically) and return them with what was found."""
    config = config or load_config(config_path)
    folder = Path(results_dir)
    if not folder.is_dir():
        raise ValueError(f"{folder}: results folder does not exist (run grade-all first)")
    found = compare_class(folder, config, progress or (lambda message: None))
    written = Written(folder / PAGE, folder / CSV_FILE, folder / JSON_FILE, found)
    pool.write_atomically(written.page, render_page(found, config))
    pool.write_atomically(written.csv, _csv_text(found))
    pool.write_atomically(
        written.json, json.dumps(found.summary(), indent=2, ensure_ascii=False) + "\n"
    )
    return written
