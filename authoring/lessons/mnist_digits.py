"""The assignment's content: teaching text and cells, in the order students meet them.

Solution code is never written here: it is copied from :mod:`reference` by
:mod:`authoring.solutions`. Numbers students read (accuracy bars,
points) come from course.yaml at generation time; training budgets are read
from course.yaml when the notebook runs, via ``load_config()``.
"""

from __future__ import annotations

from nbformat import NotebookNode

from authoring import cells
from authoring.solutions import module_constants, split_function
from mnist_course.config import AssignmentConfig
from reference import data, training
from reference.pipeline import builder_of

ASSIGNMENT = "mnist_digits"
#: The training inputs the notebook makes for each kind of stage input (mnist_course.spec).
TRAINING_INPUTS = {"vectors": "X_train_flattened", "images": "X_train_images"}


STAGE_TEACHING = {
    "baseline": """
## 4. Baseline ANN: no hidden layer

The simplest network connects every one of the 784 pixels straight to 10 outputs, one
per digit. That is a single `Dense` layer: each output computes a weighted sum of all
784 pixels plus a bias, $z_k = \\sum_i w_{{ki}} x_i + b_k$, and learning means adjusting
the $7840$ weights and $10$ biases.

An activation turns the scores into something readable. A **sigmoid** squashes each
score on its own into $(0, 1)$, so the ten outputs need not add up to 1. A **softmax**
turns the ten scores together into probabilities that sum to 1, which is exactly
"one digit out of ten"; the predicted digit is the output with the highest probability.

This model can only draw straight boundaries between digits in pixel space, so expect it
to stop around 92-93%. Its course bar is **{bar:.0%}** on the test set.

Write `build_baseline_ann()`: a `keras.Sequential` model with `keras.Input(shape=(784,))`
and one `Dense(10, activation="softmax")` layer, compiled with `compile_model`.
""",
    "hidden_layer": """
## 5. ANN with hidden layers

A **hidden layer** sits between the pixels and the outputs. Each of its units computes
its own weighted sum of the pixels and passes it through a non-linearity (here `relu`,
$\\max(0, z)$). The units learn useful intermediate features (a stroke here, a loop
there) and the output layer combines features instead of raw pixels. That is what lets
the network draw curved boundaries between digits.

The price is more weights to learn: a 256-unit hidden layer alone has
$784 \\times 256 + 256 = 200{{,}}960$ of them. Course bar: **{bar:.0%}**.

Write `build_hidden_layer_ann()`: input of 784 values, a `Dense` hidden layer with
`relu`, then the `Dense(10, activation="softmax")` output, compiled with `compile_model`.
""",
    "cnn": """
## 6. Convolutional network (CNN)

Flattening threw away which pixels are neighbours: to a Dense layer, pixel 15 and pixel
16 are as unrelated as pixel 15 and pixel 700. A **convolution** keeps the grid. A
`Conv2D` layer slides small filters (say 5 x 5 pixels) over the image; each filter is one
small pattern detector (an edge, a corner, the end of a stroke), and because the *same*
filter is used at every position, a pattern is recognised wherever it appears, with far
fewer weights. `MaxPooling2D` keeps the strongest response in each 2 x 2 block, which
makes the network tolerant to small shifts and halves the image each time. Stacking
convolutions lets later filters combine the patterns found by earlier ones.

A CNN reads images, not vectors: its input is `(28, 28, 1)`, height x width x one grey
channel. Course bar: **{bar:.0%}**.

Write `build_cnn()`: `keras.Input(shape=(28, 28, 1))`, convolution and pooling layers,
`Flatten()`, a small `Dense` layer that combines the features they found, then
`Dense(10, activation="softmax")`, compiled with `compile_model`.
""",
}


def _introduction(config: AssignmentConfig) -> list[NotebookNode]:
    return [
        cells.markdown(
            "introduction",
            f"""
# {config.spec.title}

*{config.course.course.title}*

In this assignment you teach a computer to read handwritten digits. You will prepare the
MNIST images, build three networks of increasing power (a baseline ANN, an ANN with a
hidden layer and a convolutional network), train them and compare how well they read
digits they have never seen.

**How it works.** Cells that contain `raise NotImplementedError` are yours: replace that
line with your code. After each one, a test cell checks your work and says what to fix;
run it as often as you like. Some tests are hidden: they check that each trained model
reaches its accuracy bar, and they run when your notebook is graded. Run the notebook top
to bottom (*Kernel > Restart & Run All*) before you submit: it is graded that way.

{cells.points_table(config)}
""",
        ),
        cells.markdown(
            "setup-text",
            """
## 1. Setup and loading

The course kit provides the data loader and the check functions the test cells use.
The settings of this course (training budgets, accuracy bars, points) come from the
course configuration, loaded once here. Fixing the random seed makes every run start
from the same random weights, so your results can be repeated.
""",
        ),
        cells.setup(config),
    ]


def _loading(config: AssignmentConfig) -> list[NotebookNode]:
    return [
        cells.markdown(
            "load-text",
            """
MNIST holds 70,000 photos of handwritten digits, split in two: **60,000 training
images** the networks learn from and **10,000 test images** kept aside to measure how
well they read digits they have never seen. Each image is a 28 x 28 grid of grey levels
from 0 (white) to 255 (black), stored as unsigned bytes (`uint8`); each label is the digit
0-9 it shows.

`load_mnist()` returns two pairs, `(X_train, y_train), (X_test, y_test)`: images first,
labels second. It reads the course's copy of the data, so nothing is downloaded.
""",
        ),
        cells.solution(
            "load",
            "# Load the four arrays X_train, y_train, X_test and y_test with load_mnist().",
            "(X_train, y_train), (X_test, y_test) = load_mnist()",
            'print("train:", X_train.shape, y_train.shape, " test:", X_test.shape, y_test.shape)',
        ),
        cells.self_check(config, "data.load", "shapes, types and labels"),
    ]


def _exploration() -> list[NotebookNode]:
    return [
        cells.markdown(
            "explore-text",
            """
## 2. Exploration

Always look at the data before modelling it. An image is just an array of numbers;
`plt.matshow` draws an array as a picture, one square per pixel. Check that the label
says the digit you see.
""",
        ),
        cells.code(
            "explore-one",
            """
plt.matshow(X_train[0], cmap="gray_r")
plt.title(f"label: {y_train[0]}")
plt.show()
print("grey levels from", X_train[0].min(), "to", X_train[0].max(), "- dtype", X_train.dtype)
""",
        ),
        cells.code(
            "explore-grid",
            """
figure, axes = plt.subplots(2, 8, figsize=(10, 3))
for index, axis in enumerate(axes.flat):
    axis.imshow(X_train[index], cmap="gray_r")
    axis.set_title(f"label {y_train[index]}")
    axis.axis("off")
plt.show()
""",
        ),
    ]


def _preprocessing(config: AssignmentConfig) -> list[NotebookNode]:
    normalize = split_function(data.normalize)
    flatten = split_function(data.flatten)
    return [
        cells.markdown(
            "normalize-text",
            """
## 3. Preprocessing

**Normalize.** Grey levels run from 0 to 255. A network starts with small random
weights, and large inputs make its first outputs, and the gradient steps that follow,
large and erratic: training is slow or unstable. Dividing by 255 puts every pixel in
[0, 1], the scale the default learning settings are made for. The picture does not
change, only the units.

Write `normalize(images)`: return the images as floats in [0, 1], with the same shape.
""",
        ),
        cells.solution("normalize", normalize.head, normalize.body),
        cells.self_check(
            config, "data.normalize", "floats in [0, 1], same shape, nothing else changed"
        ),
        cells.markdown(
            "flatten-text",
            """
**Flatten.** A `Dense` layer takes a vector of numbers, not a grid. Flattening lays the
28 rows of an image end to end into one vector of 28 x 28 = 784 values, so an array of
`n` images of shape `(n, 28, 28)` becomes `(n, 784)`. Nothing is lost but the
arrangement, and that arrangement (which pixels are neighbours) is exactly what the CNN
in section 6 will use again.

Write `flatten(images)`, then make the inputs of the two ANNs:
`X_train_flattened` and `X_test_flattened`, the normalized images, flattened.
""",
        ),
        cells.solution("flatten", flatten.head, flatten.body),
        cells.solution(
            "flattened",
            "# Normalize, then flatten, the training and the test images.",
            "X_train_flattened = flatten(normalize(X_train))\n"
            "X_test_flattened = flatten(normalize(X_test))",
            'print("flattened:", X_train_flattened.shape, X_test_flattened.shape)',
        ),
        cells.self_check(config, "data.flatten", "flatten() and the two flattened arrays"),
    ]


def _compiling() -> list[NotebookNode]:
    compile_source = split_function(training.compile_model).full
    return [
        cells.markdown(
            "compile-text",
            """
### Before the models: how every model is compiled

All three models learn the same way, so one helper compiles them; section 7 explains
its three choices. Each of your builders ends by passing its model to `compile_model`.
The second helper, `shrink_learning_rate`, is for training (section 7).
""",
        ),
        cells.provided(
            "compile-model",
            f"{module_constants(training.compile_model)}\n\n\n{compile_source}\n\n\n"
            f"{split_function(training.shrink_learning_rate).full}",
        ),
    ]


def _builder(stage: str, config: AssignmentConfig) -> list[NotebookNode]:
    builder = builder_of(stage, config)
    settings = config.stages[stage]
    source = split_function(builder)
    cell_id = builder.__name__.replace("_", "-")
    return [
        cells.markdown(
            f"{stage.replace('_', '-')}-text",
            STAGE_TEACHING[stage].format(bar=settings.min_test_accuracy),
        ),
        cells.solution(cell_id, source.head, source.body),
        cells.self_check(
            config,
            f"{stage}.structure",
            f"the architecture of a new model from {builder.__name__}()",
        ),
    ]


def _cnn_inputs() -> list[NotebookNode]:
    return [
        cells.markdown(
            "cnn-inputs-text",
            """
The CNN reads normalized images with one grey channel instead of flattened vectors:
`reshape(-1, 28, 28, 1)` adds that channel axis (`-1` means "as many images as there are").
""",
        ),
        cells.provided(
            "cnn-inputs",
            """
X_train_images = normalize(X_train).reshape(-1, 28, 28, 1)
X_test_images = normalize(X_test).reshape(-1, 28, 28, 1)
print("CNN inputs:", X_train_images.shape, X_test_images.shape)
""",
        ),
    ]


TRAINING_TEXT = """
## 7. Training

Compiling a model fixes how it learns:

* **optimizer `adam`**: after each batch of images, nudge every weight against its
  gradient; Adam adapts the step size of each weight on its own, so it needs little tuning.
* **loss `sparse_categorical_crossentropy`**: how wrong the predicted probabilities are,
  $-\\log p_{\\text{true digit}}$. *Sparse* means the labels are plain integers 0-9, as in
  `y_train`, rather than one-hot vectors.
* **metric `accuracy`**: the share of images whose most probable digit is the right one.
  It is what we report; the loss is what the optimizer actually minimises.

`fit` shows the model the training set `epochs` times, in batches of `batch_size`
images. Big steps learn fast but overshoot; small steps settle but crawl. So the learning
rate may **shrink after every epoch**: `shrink_learning_rate(decay)` multiplies it by
`decay` (for example 0.5 halves it; 1 keeps it constant).

The course sets these budgets (in `config.stages`) so that every network trains in
reasonable time on a laptop; the seed is reset before each training so results repeat.
"""


def _training(stage: str, config: AssignmentConfig) -> list[NotebookNode]:
    builder = builder_of(stage, config)
    spec = config.spec.stage(stage)
    model_name, inputs = spec.variable, TRAINING_INPUTS[spec.inputs]
    settings = config.stages[stage]
    history = model_name.replace("_model", "_history")
    slug = stage.replace("_", "-")
    return [
        cells.markdown(f"train-{slug}-text", f"### Training: {settings.title}"),
        cells.solution(
            f"train-{slug}",
            f'budget = config.stages["{stage}"]  # epochs, batch size, learning rate, decay\n'
            "keras.utils.set_random_seed(config.seed)\n"
            f"# Build a new model with {builder.__name__}(learning_rate=budget.learning_rate),\n"
            f"# name it {model_name} and fit it on {inputs} and y_train for budget.epochs\n"
            "# epochs of budget.batch_size images, with verbose=2 and\n"
            "# callbacks=[shrink_learning_rate(budget.learning_rate_decay)].",
            f"{model_name} = {builder.__name__}(learning_rate=budget.learning_rate)\n"
            f"{history} = {model_name}.fit(\n"
            f"    {inputs},\n"
            "    y_train,\n"
            "    epochs=budget.epochs,\n"
            "    batch_size=budget.batch_size,\n"
            "    callbacks=[shrink_learning_rate(budget.learning_rate_decay)],\n"
            "    verbose=2,\n"
            ")",
        ),
        cells.self_check(
            config,
            f"{stage}.trained",
            f"{model_name} was trained (well above chance on the test set)",
        ),
        cells.hidden_check(
            config,
            f"{stage}.accuracy",
            f"{model_name} reaches {settings.min_test_accuracy:.0%} accuracy on the test set",
        ),
    ]


EVALUATION_TEXT = """
## 8. Evaluation

The test images played no part in training, so accuracy on them estimates how well each
model reads new handwriting. `evaluate` returns the loss and the accuracy; `predict`
returns, for each image, the ten probabilities, and `argmax` picks the most probable digit.
"""

EVALUATION_TABLE = """
test_inputs = {
    "baseline": X_test_flattened,
    "hidden_layer": X_test_flattened,
    "cnn": X_test_images,
}
trained_models = {
    "baseline": baseline_model,
    "hidden_layer": hidden_layer_model,
    "cnn": cnn_model,
}
accuracies = {}
print(f"{'model':<34}{'parameters':>11}{'test accuracy':>15}{'course bar':>12}")
for stage, model in trained_models.items():
    loss, accuracy = model.evaluate(test_inputs[stage], y_test, verbose=0)
    accuracies[stage] = accuracy
    bar = config.stages[stage].min_test_accuracy
    title = config.stages[stage].title
    print(f"{title:<34}{model.count_params():>11,}{accuracy:>15.2%}{bar:>12.0%}")
"""

EVALUATION_PREDICTIONS = """
probabilities = cnn_model.predict(X_test_images[:24], verbose=0)
predicted = probabilities.argmax(axis=1)
print("predicted:", predicted[:12])
print("actual:   ", y_test[:12])

figure, axes = plt.subplots(3, 8, figsize=(10, 4.5))
for index, axis in enumerate(axes.flat):
    right = predicted[index] == y_test[index]
    axis.imshow(X_test[index], cmap="gray_r")
    axis.set_title(f"{predicted[index]} (true {y_test[index]})", color="black" if right else "red")
    axis.axis("off")
figure.suptitle("CNN predictions on test images (red: wrong)")
plt.show()
"""

EVALUATION_CHART = """
titles = [config.stages[stage].title.replace(" (", "\\n(") for stage in accuracies]
figure, axis = plt.subplots(figsize=(7, 3.5))
bars = axis.bar(titles, list(accuracies.values()), color=["#9bb", "#69c", "#236"])
axis.bar_label(bars, labels=[f"{a:.2%}" for a in accuracies.values()])
for position, stage in enumerate(accuracies):
    bar = config.stages[stage].min_test_accuracy
    axis.hlines(bar, position - 0.4, position + 0.4, colors="red", linestyles="dashed")
axis.set_ylim(min(0.85, min(accuracies.values()) - 0.02), 1.01)
axis.set_ylabel("test accuracy")
axis.set_title("ANN vs CNN (dashed: course bar)")
plt.show()
"""

COMPARISON_TEXT = """
### Reading the comparison

* Each step up in architecture cuts the errors, not just the accuracy: going from 92% to
  98% means going from about 800 misread test digits to about 200.
* The hidden layer helps because it learns features instead of weighing raw pixels.
* The CNN does best, often with fewer parameters than the hidden-layer ANN, because it
  uses what the others throw away: which pixels are neighbours. Its filters are shared
  across the image, so every training image teaches every position.
* Look at the red predictions: many mistakes are digits a person could misread too.
  Accuracy on the test set is an estimate; a different test set would give a slightly
  different number.
"""


def _evaluation() -> list[NotebookNode]:
    return [
        cells.markdown("evaluation-text", EVALUATION_TEXT),
        cells.code("evaluation-table", EVALUATION_TABLE),
        cells.markdown(
            "predictions-text",
            "**Predictions vs actual labels.** The CNN's guesses for the first test images:",
        ),
        cells.code("evaluation-predictions", EVALUATION_PREDICTIONS),
        cells.markdown("chart-text", "**ANN vs CNN.** The three test accuracies side by side:"),
        cells.code("evaluation-chart", EVALUATION_CHART),
        cells.markdown("comparison-text", COMPARISON_TEXT),
    ]


def lesson_cells(config: AssignmentConfig) -> list[NotebookNode]:
    """Every cell of the source notebook, in order."""
    result = [*_introduction(config), *_loading(config), *_exploration()]
    result += _preprocessing(config)
    result += _compiling()
    for stage in config.stages:
        result += _builder(stage, config)
    result += _cnn_inputs()
    result.append(cells.markdown("training-text", TRAINING_TEXT))
    for stage in config.stages:
        result += _training(stage, config)
    result += _evaluation()
    return result
