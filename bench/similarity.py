"""How long ``autograder similarity`` takes for a class: model fingerprints and code, apart.

Synthetic classes: every student has three models (10,000 test predictions each, a few
hundred mistakes, some shared by every model) and a notebook's worth of their own code
(the reference-like solutions with each student's names, comments, layer sizes and cell
order). The fingerprint part is every pair of every stage at once (numpy); the code part
is copydetect on every pair of notebooks, the released notebook as boilerplate; the whole
command is ``autograder similarity`` on a results folder of such a class (reading every
result and code file, both parts, the page, the CSV and the JSON). Prints a table of
seconds; run it on a quiet machine.

    .venv/bin/python bench/similarity.py                  # 50, 100 and 500 students
    .venv/bin/python bench/similarity.py --sizes 50 200
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from autograder import batch
from autograder.checks.confusion import Fingerprint, ModelEvaluation
from autograder.grader import GradeReport
from autograder.similarity import CODE_DIR, models
from autograder.similarity import code as student_code
from autograder.similarity import report as similarity
from mnist_course.config import load_config
from mnist_course.data import load_mnist
from mnist_course.results import CheckResult

STAGES = ("baseline", "hidden_layer", "cnn")
IMAGES = 10_000
#: Each solution in a few structurally different ways; a student picks one of each and
#: fills in their own names, numbers and comments.
PIECES = (
    (
        """def normalize({x}):
    # {comment}
    return np.asarray({x}, dtype="float32") / {scale}""",
        """def normalize({x}):
    {y} = {x}.astype(np.float32)
    {y} /= {scale}
    return {y}""",
        """def normalize({x}):
    return ({x} / {scale}).astype("float32")  # {comment}""",
    ),
    (
        """def flatten({x}):
    {y} = np.asarray({x})
    return {y}.reshape(len({y}), 28 * 28)""",
        """def flatten({x}):
    return np.reshape({x}, (-1, {units2}))""",
        """def flatten({x}):
    {y} = {x}.shape[0]
    return {x}.reshape({y}, -1)""",
    ),
    (
        """X_train_flattened = flatten(normalize(X_train))
X_test_flattened = flatten(normalize(X_test))""",
        """X_train_flattened, X_test_flattened = (
    flatten(normalize(p)) for p in (X_train, X_test)
)""",
    ),
    (
        """def build_baseline_ann(learning_rate=0.005):
    {model} = keras.Sequential([keras.Input(shape=(784,)),
                              keras.layers.Dense(10, activation="softmax")])
    return compile_model({model}, learning_rate)""",
        """def build_baseline_ann(learning_rate=0.005):
    {x} = keras.Input((784,))
    {y} = keras.layers.Dense(10, activation="softmax")({x})
    return compile_model(keras.Model({x}, {y}), learning_rate)""",
        """def build_baseline_ann(learning_rate=0.005):
    {model} = keras.models.Sequential()
    {model}.add(keras.Input(shape=(784,)))
    {model}.add(keras.layers.Dense(10, activation="softmax"))
    return compile_model({model}, learning_rate)""",
    ),
    (
        """def build_hidden_layer_ann(learning_rate=0.002):
    {model} = keras.Sequential([
        keras.Input(shape=(784,)),
        keras.layers.Dense({units}, activation="{activation}"),  # {comment}
        keras.layers.Dense(10, activation="softmax"),
    ])
    return compile_model({model}, learning_rate)""",
        """def build_hidden_layer_ann(learning_rate=0.002):
    {x} = keras.Input((784,))
    {y} = keras.layers.Dense({units}, activation="{activation}")({x})
    {y} = keras.layers.Dropout(0.{units2})({y})
    return compile_model(keras.Model({x}, keras.layers.Dense(10, activation="softmax")({y})),
                         learning_rate)""",
    ),
    (
        """def build_cnn(learning_rate=0.002):
    {model} = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D({filters}, ({kernel}, {kernel}), activation="relu"),
        keras.layers.MaxPooling2D((2, 2)),
        keras.layers.Conv2D({filters2}, (3, 3), activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense({units}, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    return compile_model({model}, learning_rate)""",
        """def build_cnn(learning_rate=0.002):
    {x} = keras.Input((28, 28, 1))
    {y} = keras.layers.Conv2D({filters}, {kernel}, padding="same", activation="relu")({x})
    {y} = keras.layers.MaxPooling2D()({y})
    {y} = keras.layers.GlobalAveragePooling2D()({y})
    return compile_model(keras.Model({x}, keras.layers.Dense(10, activation="softmax")({y})),
                         learning_rate)""",
        """def build_cnn(learning_rate=0.002):
    {model} = keras.models.Sequential()
    {model}.add(keras.Input(shape=(28, 28, 1)))
    for {y} in range({kernel}):
        {model}.add(keras.layers.Conv2D({filters} * 2 ** {y}, 3, activation="relu"))
    {model}.add(keras.layers.Flatten())
    {model}.add(keras.layers.Dense(10, activation="softmax"))
    return compile_model({model}, learning_rate)""",
    ),
)
TRAINING = (
    """{history} = {stage}_model.fit(
    {inputs}, y_train, epochs=budget.epochs, batch_size=budget.batch_size,
    callbacks=[shrink_learning_rate(budget.learning_rate_decay)], verbose={verbose})""",
    """for {y} in range(budget.epochs):
    {stage}_model.fit({inputs}[:{units2}000], y_train[:{units2}000], verbose=0)""",
    """{history} = {stage}_model.fit({inputs}, y_train, validation_split=0.{units2},
                              epochs=budget.epochs, batch_size={units})""",
)


def synthetic_code(student: int, rng: random.Random) -> student_code.StudentCode:
    """One student's own cells: the usual solutions, in their own words and order."""
    names = ["images", "x", "pictures", "data", "batch", "arr", "inputs", "h", "t", "z"]
    words = ["scale", "to [0, 1]", "pixels", "my network", "try this", "works"]

    def fill(piece: str, stage: str = "") -> str:
        return piece.format(
            x=rng.choice(names), y=rng.choice(names) + "2", comment=rng.choice(words),
            scale=rng.choice(["255", "255.0"]), model=rng.choice(["model", "net", "m"]),
            units=rng.choice([32, 64, 128, 256]), activation=rng.choice(["relu", "tanh"]),
            filters=rng.choice([8, 16, 32]), filters2=rng.choice([32, 64]),
            kernel=rng.choice([2, 3, 5]), history=f"{stage}_history", stage=stage,
            inputs=rng.choice(["X_train_flattened", "X_train_images"]),
            verbose=rng.choice([0, 1, 2]), units2=rng.randint(1, 9),
        )  # fmt: skip

    cells = [fill(rng.choice(variants)) for variants in PIECES]
    cells += [fill(rng.choice(TRAINING), stage) for stage in STAGES]
    rng.shuffle(cells)
    return student_code.StudentCode(
        f"s{student:03}",
        "mnist_digits",
        "",
        tuple(student_code.Cell(i, c) for i, c in enumerate(cells)),
    )


def synthetic_fingerprints(count: int, labels: np.ndarray, rng: np.random.Generator):
    """Each stage: ``count`` models, every one wrong on some shared hard digits and on a
    few hundred of its own."""
    for stage in STAGES:
        prints = []
        for student in range(count):
            predicted = labels.copy()
            wrong = np.concatenate([np.arange(80), rng.choice(IMAGES, 250, replace=False)])
            predicted[wrong] = (labels[wrong] + 1) % 10
            digest = f"{stage}{student}".encode().hex().ljust(64, "0")[:64]
            prints.append(Fingerprint("".join(map(str, predicted)), digest, "0" * 64, "dense"))
        yield stage, prints


def results_folder(folder: Path, codes, stages) -> None:
    """What grade-all leaves for the class: a result per student, and their code."""
    confusion = ((0,) * 10,) * 10
    check = CheckResult("data.load", "Load", True, 1.0, 1.0, "ok")
    for number, code in enumerate(codes):
        submission = batch.Submission(code.student, "mnist_digits", folder / "x.ipynb")
        evaluations = tuple(
            ModelEvaluation(stage, 0.9, confusion, (), prints[number]) for stage, prints in stages
        )
        report = GradeReport(code.student, (check,), evaluations=evaluations,
                             assignment="mnist_digits")  # fmt: skip
        result = batch.Result(submission, "graded", report, "", "0" * 64, "config")
        name = batch._report_name(submission)
        (folder / name).write_text(json.dumps(result.to_dict()), encoding="utf-8")
        (folder / CODE_DIR).mkdir(exist_ok=True)
        (folder / CODE_DIR / name).write_text(json.dumps(code.to_dict()), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 500])
    args = parser.parse_args(argv)
    config = load_config()
    boilerplate, _ = student_code.released_code(config, "mnist_digits")
    (_, _), (_, labels) = load_mnist(config=config)  # the command measures on these
    print(f"{'students':>8} {'pairs':>8} {'fingerprints (3 stages) s':>26} {'code s':>8} "
          f"{'whole command s':>16} {'listed':>7}")  # fmt: skip
    for size in args.sizes:
        stages = list(synthetic_fingerprints(size, labels, np.random.default_rng(size)))
        started = time.perf_counter()
        for stage, prints in stages:
            models.compare(stage, range(size), prints, labels)
        fingerprint_seconds = time.perf_counter() - started
        codes = [synthetic_code(student, random.Random(student)) for student in range(size)]
        started = time.perf_counter()
        student_code.compare(codes, boilerplate, config.similarity)
        code_seconds = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as name:
            results_folder(Path(name), codes, stages)
            started = time.perf_counter()
            found = similarity.similarity(name, config=config).found
            whole_seconds = time.perf_counter() - started
        listed = sum(bool(pair.flags) for pair in found.pairs)
        pairs = size * (size - 1) // 2
        print(f"{size:>8} {pairs:>8} {fingerprint_seconds:>26.2f} {code_seconds:>8.1f} "
              f"{whole_seconds:>16.1f} {listed:>7}", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
