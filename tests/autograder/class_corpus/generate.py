"""Writes the class corpus of ``autograder similarity``: four students of one class.

The .ipynb files are committed; re-run after editing a student:
``python tests/autograder/class_corpus/generate.py``. Every notebook is the assignment's
release (nbgrader's ClearSolutions on the source notebook) with the solution cells filled
in, as a student hands it in. The models train on small subsets, so grading is quick.

- alice: her own solutions; she trained her CNN elsewhere (a GPU at home) and loads the
  saved file, embedded in the notebook.
- bob: his own solutions in another style, trained here with another seed. Alice and bob
  must NOT be listed.
- carol: alice's notebook with every variable renamed, the builder cells in another
  order and other comments: the same code with the same seed, so the same weights.
- dave: his own code, but alice's CNN file (copied from her, embedded the same way).

The CNN file is trained anew on each run (its bytes change, the scenarios do not).
"""

from __future__ import annotations

import base64
import io
import sys
import tempfile
import textwrap
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]
SOURCE = REPO_ROOT / "assignments" / "mnist_digits" / "mnist_digits.ipynb"
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"

LOAD_SAVED_CNN = """\
import base64
from pathlib import Path

# {comment}
{variable} = "{model}"
Path("{file}").write_bytes(base64.b64decode({variable}))
cnn_model = keras.models.load_model("{file}")"""

ALICE = {
    "load": "(X_train, y_train), (X_test, y_test) = load_mnist()",
    "normalize": 'return np.asarray(images, dtype="float32") / 255.0',
    "flatten": "images = np.asarray(images)\nreturn images.reshape(len(images), 28 * 28)",
    "flattened": "X_train_flattened = flatten(normalize(X_train))\n"
    "X_test_flattened = flatten(normalize(X_test))",
    "build-baseline-ann": """\
# one dense layer: logistic regression
model = keras.Sequential(
    [keras.Input(shape=(784,)), keras.layers.Dense(10, activation="softmax")]
)
return compile_model(model, learning_rate)""",
    "build-hidden-layer-ann": """\
model = keras.Sequential(
    [
        keras.Input(shape=(784,)),
        keras.layers.Dense(64, activation="relu"),  # 64 hidden units
        keras.layers.Dense(10, activation="softmax"),
    ]
)
return compile_model(model, learning_rate)""",
    "build-cnn": """\
model = keras.Sequential(
    [
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(4, (3, 3), activation="relu"),
        keras.layers.MaxPooling2D((2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ]
)
return compile_model(model, learning_rate)""",
    "train-baseline": """\
baseline_model = build_baseline_ann(learning_rate=budget.learning_rate)
baseline_history = baseline_model.fit(
    X_train_flattened[:3000],  # a part only: my laptop is slow
    y_train[:3000],
    epochs=budget.epochs,
    batch_size=budget.batch_size,
    callbacks=[shrink_learning_rate(budget.learning_rate_decay)],
    verbose=2,
)""",
    "train-hidden-layer": """\
hidden_layer_model = build_hidden_layer_ann(learning_rate=budget.learning_rate)
hidden_layer_history = hidden_layer_model.fit(
    X_train_flattened[:3000],
    y_train[:3000],
    epochs=budget.epochs,
    batch_size=budget.batch_size,
    callbacks=[shrink_learning_rate(budget.learning_rate_decay)],
    verbose=2,
)""",
    "train-cnn": LOAD_SAVED_CNN,
}
ALICE_CNN = {"comment": "my CNN, trained on the GPU at home and saved",
             "variable": "saved_model", "file": "my_cnn.keras"}  # fmt: skip

#: Alice's work with every name changed, other comments, the builders reordered.
CAROL = {
    **ALICE,
    "normalize": 'return np.asarray(images, dtype="float32") / 255.0  # to [0, 1]',
    "flatten": "pixels = np.asarray(images)\nreturn pixels.reshape(len(pixels), 28 * 28)",
    "build-baseline-ann": """\
# no hidden layer at all
net = keras.Sequential(
    [keras.Input(shape=(784,)), keras.layers.Dense(10, activation="softmax")]
)
return compile_model(net, learning_rate)""",
    "build-hidden-layer-ann": """\
net = keras.Sequential(
    [
        keras.Input(shape=(784,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),  # ten digits
    ]
)
return compile_model(net, learning_rate)""",
    "build-cnn": """\
# convolution, pooling, softmax
net = keras.Sequential(
    [
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(4, (3, 3), activation="relu"),
        keras.layers.MaxPooling2D((2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ]
)
return compile_model(net, learning_rate)""",
    "train-baseline": ALICE["train-baseline"]
    .replace("baseline_history", "history_of_baseline")
    .replace("  # a part only: my laptop is slow", ""),
    "train-hidden-layer": ALICE["train-hidden-layer"].replace(
        "hidden_layer_history", "history_hidden"
    ),
}
CAROL_CNN = {"comment": "the trained network", "variable": "weights_file",
             "file": "network.keras"}  # fmt: skip
#: Carol's notebook has the three builder cells in another order.
CAROL_ORDER = ("build-cnn", "build-baseline-ann", "build-hidden-layer-ann")

BOB = {
    "load": "train, test = load_mnist()\nX_train, y_train = train\nX_test, y_test = test",
    "normalize": "scaled = images.astype(np.float32)\nscaled /= 255\nreturn scaled",
    "flatten": "return np.reshape(images, (-1, 784))",
    "flattened": "X_train_flattened, X_test_flattened = (\n"
    "    flatten(normalize(part)) for part in (X_train, X_test)\n)",
    "build-baseline-ann": """\
inputs = keras.Input((784,))
outputs = keras.layers.Dense(10, activation="softmax")(inputs)
return compile_model(keras.Model(inputs, outputs), learning_rate)""",
    "build-hidden-layer-ann": """\
layers = keras.layers
inputs = keras.Input((784,))
hidden = layers.Dense(128, activation="relu")(inputs)
hidden = layers.Dropout(0.2)(hidden)
return compile_model(keras.Model(inputs, layers.Dense(10, activation="softmax")(hidden)),
                     learning_rate)""",
    "build-cnn": """\
layers = keras.layers
inputs = keras.Input((28, 28, 1))
features = layers.Conv2D(6, 3, padding="same", activation="relu")(inputs)
features = layers.MaxPooling2D()(features)
features = layers.GlobalAveragePooling2D()(features)
return compile_model(keras.Model(inputs, layers.Dense(10, activation="softmax")(features)),
                     learning_rate)""",
    "train-baseline": """\
keras.utils.set_random_seed(2024)  # my own seed
baseline_model = build_baseline_ann(budget.learning_rate)
decay = [shrink_learning_rate(budget.learning_rate_decay)]
baseline_history = baseline_model.fit(X_train_flattened[-2500:], y_train[-2500:],
                                      batch_size=budget.batch_size, epochs=budget.epochs,
                                      verbose=2, callbacks=decay)""",
    "train-hidden-layer": """\
keras.utils.set_random_seed(2025)
hidden_layer_model = build_hidden_layer_ann(budget.learning_rate)
decay = [shrink_learning_rate(budget.learning_rate_decay)]
hidden_layer_history = hidden_layer_model.fit(
    X_train_flattened[-2500:], y_train[-2500:], batch_size=budget.batch_size,
    epochs=budget.epochs, verbose=2, callbacks=decay)""",
    "train-cnn": """\
keras.utils.set_random_seed(2026)
cnn_model = build_cnn(budget.learning_rate)
cnn_history = cnn_model.fit(X_train_images[-2500:], y_train[-2500:],
                            batch_size=budget.batch_size, epochs=budget.epochs, verbose=2)""",
}

DAVE = {
    "load": "(X_train, y_train), (X_test, y_test) = load_mnist()",
    "normalize": "return images / np.float32(255)",
    "flatten": "count = images.shape[0]\nreturn images.reshape(count, -1)",
    "flattened": "X_train_flattened = flatten(normalize(X_train))\n"
    "X_test_flattened = flatten(normalize(X_test))",
    "build-baseline-ann": """\
network = keras.models.Sequential()
network.add(keras.Input(shape=(784,)))
network.add(keras.layers.Dense(10, activation="softmax"))
return compile_model(network, learning_rate)""",
    "build-hidden-layer-ann": """\
network = keras.models.Sequential()
network.add(keras.Input(shape=(784,)))
network.add(keras.layers.Dense(32, activation="tanh"))
network.add(keras.layers.Dense(10, activation="softmax"))
return compile_model(network, learning_rate)""",
    "build-cnn": """\
network = keras.models.Sequential()
network.add(keras.Input(shape=(28, 28, 1)))
network.add(keras.layers.Conv2D(8, 5, activation="relu"))
network.add(keras.layers.Flatten())
network.add(keras.layers.Dense(10, activation="softmax"))
return compile_model(network, learning_rate)""",
    "train-baseline": """\
keras.utils.set_random_seed(99)
baseline_model = build_baseline_ann(budget.learning_rate)
for _ in range(budget.epochs):
    baseline_model.fit(X_train_flattened[5000:8000], y_train[5000:8000], verbose=0)""",
    "train-hidden-layer": """\
keras.utils.set_random_seed(98)
hidden_layer_model = build_hidden_layer_ann(budget.learning_rate)
for _ in range(budget.epochs):
    hidden_layer_model.fit(X_train_flattened[5000:8000], y_train[5000:8000], verbose=0)""",
    "train-cnn": LOAD_SAVED_CNN,
}
DAVE_CNN = {"comment": "pretrained", "variable": "blob", "file": "cnn.keras"}


def trained_cnn() -> str:
    """Alice's CNN, as she saved it at home (base64 of the .keras file)."""
    import keras

    from mnist_course.data import load_mnist
    from mnist_course.determinism import fix_seeds

    fix_seeds(0)
    (x_train, y_train), _ = load_mnist()
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(4, (3, 3), activation="relu"),
        keras.layers.MaxPooling2D((2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])  # fmt: skip
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    images = (x_train[:4000] / 255.0).reshape(-1, 28, 28, 1)
    model.fit(images, y_train[:4000], epochs=2, batch_size=64, verbose=0)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cnn.keras"
        model.save(path)
        return base64.b64encode(path.read_bytes()).decode("ascii")


def release() -> nbformat.NotebookNode:
    """The notebook as nbgrader releases it: solutions cleared, outputs empty."""
    from nbgrader.preprocessors import ClearSolutions

    notebook = nbformat.read(SOURCE, as_version=4)
    released, _ = ClearSolutions(enforce_metadata=False).preprocess(
        notebook, {"language": "python"}
    )
    return released


def solved(solutions: dict[str, str], order: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    """The release with each solution cell's stub replaced by the student's code (at the
    stub's indentation), and the cells named in ``order`` moved into that order."""
    notebook = release()
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution"):
            lines = cell.source.split("\n")
            at = next(n for n, line in enumerate(lines) if line.strip() == STUB.split("\n")[0])
            indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
            body = textwrap.indent(solutions[grade_id], indent)
            cell.source = "\n".join([*lines[:at], body, *lines[at + 2 :]])
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    if order:
        cells = notebook.cells
        by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in cells}
        slots = [n for n, c in enumerate(cells) if c.metadata.get("nbgrader", {}).get(
            "grade_id") in order]  # fmt: skip
        for slot, grade_id in zip(slots, order, strict=True):
            cells[slot] = by_id[grade_id]
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index}"
    return notebook


def main() -> int:
    model = trained_cnn()
    students = {
        "alice": solved({**ALICE, "train-cnn": LOAD_SAVED_CNN.format(model=model, **ALICE_CNN)}),
        "bob": solved(BOB),
        "carol": solved(
            {**CAROL, "train-cnn": LOAD_SAVED_CNN.format(model=model, **CAROL_CNN)},
            CAROL_ORDER,
        ),
        "dave": solved({**DAVE, "train-cnn": LOAD_SAVED_CNN.format(model=model, **DAVE_CNN)}),
    }
    for name, notebook in students.items():
        buffer = io.StringIO()
        nbformat.write(notebook, buffer)
        (HERE / f"{name}.ipynb").write_text(buffer.getvalue(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
