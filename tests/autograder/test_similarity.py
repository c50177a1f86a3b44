"""autograder similarity: pairs of submissions to look at, from their code and their models.

Unit tests build fingerprints and code files by hand (a class of any size in no time);
the scenario corpus (tests/autograder/class_corpus) is graded once through grade-all and
must rank the renamed copy first, list the copied model file, and leave the two honest
students below every threshold."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from autograder import analytics, batch, cli
from autograder.checks.confusion import Fingerprint, ModelEvaluation
from autograder.reports import GradeReport
from autograder.similarity import CODE_DIR, CSV_FILE, JSON_FILE, PAGE, models
from autograder.similarity import code as student_code
from autograder.similarity import report as similarity
from mnist_course.config import ConfigError, load_config, parse_config
from mnist_course.results import CheckResult

STAGES = ("baseline", "hidden_layer", "cnn")
REPO_ROOT = Path(__file__).resolve().parents[2]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint(predictions: np.ndarray, weights: str, architecture: str = "dense") -> Fingerprint:
    return Fingerprint(
        "".join(map(str, predictions)), sha(weights), sha(architecture), architecture
    )


def honest(labels: np.ndarray, rng: np.random.Generator, errors: int = 300) -> np.ndarray:
    """Predictions of an independently trained model: ``errors`` mistakes, a third of them
    on a set of hard digits every model gets wrong, the rest its own."""
    predicted = labels.copy()
    hard = np.arange(errors // 3)
    own = rng.choice(np.arange(errors, len(labels)), size=errors - len(hard), replace=False)
    wrong = np.concatenate([hard, own])
    predicted[wrong] = (labels[wrong] + rng.integers(1, 10, size=len(wrong))) % 10
    return predicted


@pytest.fixture(scope="module")
def labels(mnist) -> np.ndarray:
    return np.asarray(mnist[1][1])


def notebook(*cells: str, tests: tuple[str, ...] = ()) -> bytes:
    """A submitted notebook: the code cells, then nbgrader test cells (never compared)."""
    test_marks = {"nbgrader": {"grade": True, "solution": False, "grade_id": "check", "points": 1}}
    return json.dumps(
        {
            "cells": [{"cell_type": "code", "metadata": {}, "source": c} for c in cells]
            + [{"cell_type": "code", "metadata": test_marks, "source": t} for t in tests]
            + [{"cell_type": "markdown", "metadata": {}, "source": "my notes"}],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    ).encode()


def write_result(
    folder: Path,
    student: str,
    fingerprints: dict[str, Fingerprint],
    code: bytes | None = None,
    assignment: str = "mnist_digits",
) -> None:
    """What grade-all leaves for one graded submission: its result, and its code."""
    submission = batch.Submission(student, assignment, folder / f"{student}.ipynb")
    confusion = ((0,) * 10,) * 10
    evaluations = tuple(
        ModelEvaluation(stage, 0.9, confusion, (), print_) for stage, print_ in fingerprints.items()
    )
    check = CheckResult("data.load", "Load", True, 1.0, 1.0, "ok")
    report = GradeReport(student, (check,), evaluations=evaluations, assignment=assignment)
    result = batch.Result(submission, "graded", report, "", sha(student), "config")
    name = batch._report_name(submission)
    (folder / name).write_text(json.dumps(result.to_dict()), encoding="utf-8")
    if code is not None:
        student_code.keep_code(folder / CODE_DIR / name, student, assignment, code, sha(student))


ALICE = """\
def normalize(images):
    # grey levels 0..255 to floats in [0, 1]
    return np.asarray(images, dtype="float32") / 255.0


def flatten(images):
    images = np.asarray(images)
    return images.reshape(len(images), 28 * 28)


def build_cnn(learning_rate=0.002):
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(32, (5, 5), activation="relu"),
        keras.layers.MaxPooling2D((2, 2)),
        keras.layers.Conv2D(64, (3, 3), activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    return compile_model(model, learning_rate)"""

#: Alice's code with every name changed, the functions reordered and other comments.
ALICE_RENAMED = """\
def build_cnn(rate=0.002):
    # my network
    net = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(32, (5, 5), activation="relu"),
        keras.layers.MaxPooling2D((2, 2)),
        keras.layers.Conv2D(64, (3, 3), activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    return compile_model(net, rate)


def flatten(pictures):
    pictures = np.asarray(pictures)
    return pictures.reshape(len(pictures), 28 * 28)


def normalize(pictures):
    return np.asarray(pictures, dtype="float32") / 255.0  # scale"""

BOB = '''\
import numpy as np


def normalize(x):
    """Scale to [0, 1]."""
    x = x.astype(np.float32)
    x /= 255
    return x


def flatten(x):
    return x.reshape((-1, 784))


def build_cnn(learning_rate=0.002):
    layers = keras.layers
    inputs = keras.Input((28, 28, 1))
    h = layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    h = layers.MaxPooling2D()(h)
    h = layers.Conv2D(32, 3, padding="same", activation="relu")(h)
    h = layers.GlobalAveragePooling2D()(h)
    outputs = layers.Dense(10, activation="softmax")(h)
    return compile_model(keras.Model(inputs, outputs), learning_rate)'''


# ------------------------------------------------------------------ models, vectorised


def test_model_pairs_match_a_pair_by_pair_count(labels: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    predictions = [honest(labels, rng, errors) for errors in (200, 300, 450, 300)]
    predictions.append(predictions[1])  # a copy
    prints = [fingerprint(p, f"w{i}") for i, p in enumerate(predictions)]
    pairs = models.compare("cnn", range(len(prints)), prints, labels)
    for i in range(len(prints)):
        for j in range(len(prints)):
            wrong_i, wrong_j = predictions[i] != labels, predictions[j] != labels
            jaccard = (wrong_i & wrong_j).sum() / (wrong_i | wrong_j).sum()
            assert pairs.jaccard[i, j] == pytest.approx(jaccard)
            assert pairs.agreement[i, j] == pytest.approx(np.mean(predictions[i] == predictions[j]))
    assert pairs.jaccard[1, 4] == 1.0 and pairs.agreement[1, 4] == 1.0
    assert pairs.jaccard[0, 2] < 0.5  # independent models share only the hard digits
    assert not pairs.same_weights[1, 4] and pairs.same_architecture[1, 4]
    assert list(pairs.mistakes) == [200, 300, 450, 300, 300]


def test_fingerprints_for_another_test_set_are_refused(labels: np.ndarray) -> None:
    short = fingerprint(labels[:100], "w")
    with pytest.raises(ValueError, match="100 predictions for 10000"):
        models.compare("cnn", [0, 1], [short, short], labels)


# ------------------------------------------------------------------ the code grade-all keeps


def test_kept_code_leaves_out_test_cells_markdown_and_empty_cells(tmp_path: Path) -> None:
    path = tmp_path / CODE_DIR / "a.json"
    student_code.keep_code(
        path, "a", "mnist_digits", notebook("x = 1", "  ", tests=("check()",)), "s"
    )
    kept = student_code.read_code(path)
    assert [cell.source for cell in kept.cells] == ["x = 1"]
    assert (kept.student, kept.notebook_sha256, kept.note) == ("a", "s", "")


@pytest.mark.parametrize(
    ("content", "note"),
    [
        (b"{not json", "not readable JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not readable JSON"),
        (b'{"cells": 3}', "no list of cells"),
        (b"\xff\xfe", "not readable JSON"),
    ],
)
def test_a_broken_notebook_keeps_no_code_and_says_why(content: bytes, note: str) -> None:
    cells, why = student_code.code_cells(content)
    assert cells == () and note in why


def test_a_huge_notebook_keeps_only_the_first_characters() -> None:
    cell = "x = 1\n" * 10_000
    cells, note = student_code.code_cells(notebook(*[cell] * 10))
    assert sum(len(c.source) for c in cells) <= student_code.MAX_CODE_CHARS
    assert "only the first" in note


def test_a_code_file_is_read_back_without_trusting_it(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    student_code.keep_code(good, "a", "mnist_digits", notebook("x = 1"), "s")
    (tmp_path / "link.json").symlink_to(good)
    with pytest.raises(ValueError, match="link"):
        student_code.read_code(tmp_path / "link.json")
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (student_code.MAX_CODE_FILE_BYTES + 1))
    with pytest.raises(ValueError, match="over"):
        student_code.read_code(big)
    forged = json.loads(good.read_text())
    forged["cells"] = [{"index": "0", "source": 1}]
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    with pytest.raises(ValueError, match="index"):
        student_code.read_code(tmp_path / "forged.json")
    found, unreadable = student_code.code_files(tmp_path)
    assert [code.student for code in found] == ["a"]
    assert {name for name, _ in unreadable} == {
        f"{tmp_path.name}/{n}" for n in ("big.json", "forged.json", "link.json")
    }


def test_a_rerun_rewrites_the_code_only_when_the_notebook_changed(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    student_code.keep_code(path, "a", "mnist_digits", notebook("x = 1"), "one")
    before = path.stat().st_mtime_ns
    student_code.keep_code(path, "a", "mnist_digits", notebook("x = 2"), "one")
    assert path.stat().st_mtime_ns == before
    student_code.keep_code(path, "a", "mnist_digits", notebook("x = 2"), "two")
    assert student_code.read_code(path).cells[0].source == "x = 2"


# ------------------------------------------------------------------ code pairs, copydetect


def code_of(student: str, *cells: str) -> student_code.StudentCode:
    return student_code.StudentCode(
        student, "mnist_digits", "", tuple(student_code.Cell(i, c) for i, c in enumerate(cells))
    )


def test_renamed_and_reordered_code_still_matches_and_honest_code_does_not() -> None:
    settings = load_config().similarity
    compared = student_code.compare(
        [code_of("alice", ALICE), code_of("bob", BOB), code_of("carol", ALICE_RENAMED)],
        "",
        settings,
    )
    scores = compared.scores
    assert scores[0, 2] > 0.9  # every name changed, the functions reordered, new comments
    assert scores[0, 1] < settings.code_threshold and scores[1, 2] < settings.code_threshold
    left, right = compared.marked(0, 2)
    assert "<mark>" in left and "<mark>" in right


def test_the_released_cells_never_count_as_shared() -> None:
    settings = load_config().similarity
    starter = ALICE.split("\n\n\ndef build_cnn")[0]  # normalize and flatten given to all
    with_release = student_code.compare(
        [code_of("alice", ALICE), code_of("dave", starter)], starter, settings
    )
    without = student_code.compare(
        [code_of("alice", ALICE), code_of("dave", starter)], "", settings
    )
    assert without.scores[0, 1] > 0.9 and with_release.scores[0, 1] == 0


def test_the_release_is_the_source_notebook_with_solutions_cleared() -> None:
    config = load_config()
    released, note = student_code.released_code(config, "mnist_digits")
    assert note == ""
    assert "start_notebook" in released and "NotImplementedError" in released
    assert "keras.layers.Conv2D(32, (5, 5)" not in released  # the reference's solution
    elsewhere = config.model_copy(update={"source": Path("/nonexistent/course.yaml")})
    assert student_code.released_code(elsewhere, "mnist_digits")[0] == ""
    assert "not there" in student_code.released_code(elsewhere, "mnist_digits")[1]


# ------------------------------------------------------------------ the class report


@pytest.fixture(scope="module")
def small_class(tmp_path_factory, labels: np.ndarray) -> Path:
    """Alice and Bob honest; Carol renamed Alice's code; Dave loaded Alice's model file;
    a student whose name is markup; and a results file that is not one."""
    folder = tmp_path_factory.mktemp("results")
    rng = np.random.default_rng(7)
    alice = {stage: fingerprint(honest(labels, rng), f"alice-{stage}") for stage in STAGES}
    write_result(folder, "alice", alice, notebook(ALICE))
    bob = {stage: fingerprint(honest(labels, rng), f"bob-{stage}") for stage in STAGES}
    write_result(folder, "bob", bob, notebook(BOB))
    carol = {stage: fingerprint(honest(labels, rng), f"carol-{stage}") for stage in STAGES}
    write_result(folder, "carol", carol, notebook(ALICE_RENAMED))
    dave = {**bob, "cnn": alice["cnn"]}  # Bob's style of work, Alice's trained CNN
    write_result(folder, "dave", dave, notebook(BOB.replace("16", "8")))
    # Little code, half of it also Alice's: a high share, too few tokens to tell.
    flatten = ALICE.split("\n\n\n")[1]
    write_result(folder, "<b>eve</b>", {}, notebook(flatten, "print('<script>alert(1)</script>')"))
    (folder / "broken.json").write_text("{")
    return folder


@pytest.fixture(scope="module")
def small_report(small_class: Path):
    messages: list[str] = []
    written = similarity.similarity(small_class, config=load_config(), progress=messages.append)
    return written, messages


def flags(pair: similarity.Pair) -> set[str]:
    return {f"{item.signal}:{item.stage or ''}" for item in pair.flags}


def pair_of(found: similarity.ClassSimilarity, first: str, second: str) -> similarity.Pair:
    return next(p for p in found.pairs if {p.first, p.second} == {first, second})


def test_the_renamed_copy_ranks_first_and_the_copied_model_is_listed(small_report) -> None:
    found = small_report[0].found
    code_ranking = sorted(
        (p for p in found.pairs if p.value("code") is not None), key=lambda p: -p.value("code")
    )
    assert {code_ranking[0].first, code_ranking[0].second} == {"alice", "carol"}
    assert flags(pair_of(found, "alice", "carol")) == {"code:"}
    # Dave's own code, with Bob's style; his CNN is Alice's file.
    assert flags(pair_of(found, "alice", "dave")) == {
        "mistakes:cnn",
        "agreement:cnn",
        "weights:cnn",
    }
    # Dave's other two models are Bob's too: same weights, the rest of the evidence.
    assert {"weights:baseline", "weights:hidden_layer"} <= flags(pair_of(found, "bob", "dave"))


def test_a_small_notebook_matching_a_few_lines_is_not_listed(small_report) -> None:
    eve = pair_of(small_report[0].found, "alice", "<b>eve</b>")
    assert eve.value("code") >= small_report[0].found.settings.code_threshold
    assert not eve.flags
    assert "too little to tell" in next(e.note for e in eve.evidence if e.signal == "code")


def test_the_honest_pair_stays_below_every_threshold(small_report) -> None:
    found = small_report[0].found
    settings = found.settings
    alice_bob = pair_of(found, "alice", "bob")
    assert not alice_bob.flags
    assert alice_bob.value("code") < settings.code_threshold
    for stage in STAGES:
        assert alice_bob.value("mistakes", stage) < settings.mistakes_threshold
        assert alice_bob.value("agreement", stage) < settings.agreement_threshold
        assert alice_bob.value("weights", stage) == 0
    assert [p for p in found.pairs if p.flags][-1].flags  # flagged pairs come first
    assert all(not p.flags for p in found.pairs[len([p for p in found.pairs if p.flags]) :])


def test_the_files_say_the_same_and_the_page_escapes_student_text(small_report) -> None:
    written, messages = small_report
    assert any("comparing the code of 5 notebooks" in message for message in messages)
    summary = json.loads(written.json.read_text())
    listed = {tuple(sorted((p["first"], p["second"]))): p["flagged"] for p in summary["pairs"]}
    assert listed[("alice", "carol")] == ["code:"]
    rows = list(csv.DictReader(written.csv.open(encoding="utf-8")))
    assert {
        (r["student_a"], r["student_b"], r["signal"], r["stage"])
        for r in rows
        if r["flagged"] == "1"
    } >= {
        ("alice", "dave", "weights", "cnn"),
        ("alice", "carol", "code", ""),
    }
    assert {item["file"] for item in summary["unreadable"]} == {"broken.json"}
    page = written.page.read_text()
    assert "look at" in page and "<script>alert" not in page and "<b>eve</b>" not in page
    assert "&lt;b&gt;eve&lt;/b&gt;" in page and "<mark>" in page
    assert 'href="#code-0"' in page and 'id="code-0"' in page  # the listed pair's code
    assert "class too small" not in page  # the note is worded per distribution
    assert "fewer than 10 to compare" in page


def test_the_class_page_links_to_the_similarity_page(small_report, small_class: Path) -> None:
    written = analytics.report(small_class, config=load_config())
    assert f'href="{PAGE}"' in written.page.read_text()
    assert written.summary["similarity"] == PAGE
    assert "similarity.json" not in json.dumps(written.summary["skipped"])


def test_in_a_large_class_a_common_outcome_is_reported_but_not_listed(
    tmp_path: Path, labels: np.ndarray
) -> None:
    """Twelve students whose dictated baseline, trained with the course's seed, came out
    the same; two of them share a CNN as well."""
    rng = np.random.default_rng(3)
    baseline = fingerprint(honest(labels, rng), "the course's baseline")
    shared_cnn = fingerprint(honest(labels, rng), "one cnn")
    for number in range(12):
        cnn = shared_cnn if number in (3, 8) else fingerprint(honest(labels, rng), f"cnn{number}")
        write_result(tmp_path, f"s{number:02}", {"baseline": baseline, "cnn": cnn})
    found = similarity.similarity(tmp_path, config=load_config()).found
    assert [flags(p) for p in found.pairs if p.flags] == [
        {"mistakes:cnn", "agreement:cnn", "weights:cnn"}
    ]
    assert {found.pairs[0].first, found.pairs[0].second} == {"s03", "s08"}
    groups = {(g["stage"], g["common"]): len(g["students"]) for g in found.weight_groups}
    assert groups == {("baseline", True): 12, ("cnn", False): 2}
    evidence = {(e.signal, e.stage): e for e in found.pairs[0].evidence}
    assert evidence[("mistakes", "cnn")].robust_z > 10
    assert evidence[("mistakes", "cnn")].percentile == 100
    assert "common outcome" in evidence[("weights", "baseline")].note
    assert "no code kept" in " ".join(found.notes)  # results from before code was kept


def test_similarity_settings_come_from_course_yaml(tmp_path: Path) -> None:
    path = tmp_path / "course.yaml"
    path.write_text("similarity:\n  code_threshold: 0.5\n  min_class_size: 4\n")
    settings = load_config(path).similarity
    assert (settings.code_threshold, settings.min_class_size) == (0.5, 4)
    assert settings.mistakes_threshold == load_config().similarity.mistakes_threshold
    path.write_text("similarity:\n  noise_tokens: 40\n")
    with pytest.raises(ConfigError, match="guarantee_tokens .* at least noise_tokens"):
        load_config(path)
    with pytest.raises(ConfigError, match="similarity.code_threshold"):
        parse_config({"similarity": {"code_threshold": 2}}, path)


def test_changing_a_similarity_threshold_regrades_nothing() -> None:
    config = load_config()
    looser = config.similarity.model_copy(update={"code_threshold": 0.3})
    assert batch._config_hash(config) == batch._config_hash(
        config.model_copy(update={"similarity": looser})
    )
    stricter = config.grading.model_copy(update={"trained_min_accuracy": 0.9})
    assert batch._config_hash(config) != batch._config_hash(
        config.model_copy(update={"grading": stricter})
    )


def test_the_command_prints_the_pairs_and_writes_the_files(small_class: Path, capsys) -> None:
    assert cli.main(["similarity", str(small_class), "--quiet"]) == 0
    out = capsys.readouterr()
    assert "alice / carol" in out.out and "pairs to look at" in out.out and out.err == ""
    for name in (PAGE, CSV_FILE, JSON_FILE):
        assert (small_class / name).stat().st_size > 0
    assert cli.main(["similarity", str(small_class / "nowhere")]) == cli.EXIT_ERROR
    assert "does not exist" in capsys.readouterr().err


# ------------------------------------------------------------------ the class corpus, graded

CORPUS = Path(__file__).resolve().parent / "class_corpus"


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory, mnist_dir: Path, tiny_course):
    """The corpus handed in to a tiny course (the release beside it, as in an nbgrader
    course directory), graded once through grade-all, then compared."""
    from autograder import executor

    if not executor.isolation_available():
        pytest.skip("as root, the grader runs student code only inside namespaces")
    root = tmp_path_factory.mktemp("course")
    config_path = tiny_course(root, "mnist_digits", {"epochs": 1})
    source = root / "assignments" / "mnist_digits"
    source.mkdir(parents=True)
    source.joinpath("mnist_digits.ipynb").write_bytes(
        (REPO_ROOT / "assignments" / "mnist_digits" / "mnist_digits.ipynb").read_bytes()
    )
    for path in sorted(CORPUS.glob("*.ipynb")):
        folder = root / "submitted" / path.stem / "mnist_digits"
        folder.mkdir(parents=True)
        folder.joinpath("mnist_digits.ipynb").write_bytes(path.read_bytes())
    config = load_config(config_path)
    limits = config.grading.model_copy(update={"cell_timeout_s": 180, "submission_timeout_s": 400})
    config = config.model_copy(update={"grading": limits})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MNIST_DATA", str(mnist_dir))
        results = batch.grade_all(root / "submitted", root / "graded", config=config, workers=2)
        written = similarity.similarity(root / "graded", config=config)
    return results, written


def test_the_corpus_is_graded_and_its_code_kept(graded_class) -> None:
    results, written = graded_class
    assert [r.submission.student for r in results] == ["alice", "bob", "carol", "dave"]
    assert all(result.graded for result in results), [r.error for r in results]
    kept = student_code.read_code(written.page.parent / CODE_DIR / "carol--mnist_digits.json")
    assert any("net = keras.Sequential" in cell.source for cell in kept.cells)
    assert not [note for note in written.found.notes if "source notebook" in note]


def test_the_renamed_copy_ranks_first_for_code(graded_class) -> None:
    found = graded_class[1].found
    ranked = sorted(
        (p for p in found.pairs if p.value("code") is not None), key=lambda p: -p.value("code")
    )
    assert {ranked[0].first, ranked[0].second} == {"alice", "carol"}
    assert "code:" in flags(ranked[0])
    # Same code, same seed: the models Carol trained are Alice's, weight for weight.
    assert {"weights:baseline", "weights:hidden_layer", "weights:cnn"} <= flags(ranked[0])


def test_the_copied_model_file_is_listed_for_its_weights_and_predictions(graded_class) -> None:
    found = graded_class[1].found
    alice_dave = pair_of(found, "alice", "dave")
    assert {"weights:cnn", "mistakes:cnn", "agreement:cnn"} <= flags(alice_dave)
    assert alice_dave.value("mistakes", "cnn") == 1.0
    assert not {flag for flag in flags(alice_dave) if not flag.endswith(":cnn")}


def test_the_honest_pair_of_the_corpus_stays_below_every_threshold(graded_class) -> None:
    found = graded_class[1].found
    settings = found.settings
    alice_bob = pair_of(found, "alice", "bob")
    assert not alice_bob.flags
    assert alice_bob.value("code") < settings.code_threshold
    for stage in STAGES:
        assert alice_bob.value("mistakes", stage) < settings.mistakes_threshold
        assert alice_bob.value("agreement", stage) < settings.agreement_threshold
        assert alice_bob.value("weights", stage) == 0


def test_the_page_shows_the_first_listed_pairs_and_says_where_the_rest_are(
    small_report, monkeypatch
) -> None:
    monkeypatch.setattr(similarity, "MAX_PAGE_PAIRS", 1)
    page = similarity.render_page(small_report[0].found, load_config())
    listed = sum(bool(pair.flags) for pair in small_report[0].found.pairs)
    assert f"and {listed - 1} more in {CSV_FILE}" in page
