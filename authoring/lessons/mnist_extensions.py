"""The second assignment's content: augmentation, LeNet-5, a residual network, tuning.

As in the first lesson, solution code is copied from :mod:`reference.extensions`, numbers
students read come from course.yaml when the notebook is generated, and budgets are read
from course.yaml when it runs.
"""

from __future__ import annotations

from nbformat import NotebookNode

from authoring import cells
from authoring.solutions import class_source, module_constants, split_function
from mnist_course.config import AssignmentConfig
from reference import extensions, training
from reference.pipeline import builder_of


def _introduction(config: AssignmentConfig) -> list[NotebookNode]:
    return [
        cells.markdown(
            "introduction",
            f"""
# {config.spec.title}

*{config.course.course.title}*

The first assignment ended with a CNN that reads 98-99% of the test digits. This one
takes the classic next steps: **data augmentation** (training on moved and turned digits
so that the model copes with them), two famous architectures, **LeNet-5** and a small
**residual network**, and **hyperparameter tuning** with KerasTuner. At the end you
compare every model on accuracy, size, training time and robustness.

Cells with `raise NotImplementedError` are yours. Test cells check your work as you go;
hidden tests measure each trained model on the test set, and the augmented CNN also on
test digits the grader rotates, shifts and zooms itself. Run the notebook top to bottom
(*Kernel > Restart & Run All*) before you submit.

{cells.points_table(config)}
""",
        ),
        cells.setup(
            config,
            libraries=("import keras_tuner", "import tempfile", "import time"),
            kit=(
                "from mnist_course.perturbation import perturbed_test_set",
                "from mnist_course.tuning import split_validation",
            ),
        ),
        cells.markdown(
            "data-text",
            """
## 1. Data

The images are loaded and normalized as in the first assignment, with the channel axis
the convolutional networks read. `X_moved` is a *practice* copy of the test digits,
each rotated, shifted and zoomed a little: use it to see how robust your models are.
The grader makes its own such set, with another seed, for the hidden test.
""",
        ),
        cells.provided(
            "data",
            """
(X_train, y_train), (X_test, y_test) = load_mnist()
X_train_images = (X_train / 255.0).astype("float32").reshape(-1, 28, 28, 1)
X_test_images = (X_test / 255.0).astype("float32").reshape(-1, 28, 28, 1)
X_moved = (perturbed_test_set(X_test, seed=config.seed + 1) / 255.0).astype("float32")
X_moved = X_moved.reshape(-1, 28, 28, 1)
print("train:", X_train_images.shape, " test:", X_test_images.shape, " moved:", X_moved.shape)
""",
        ),
        cells.provided(
            "compile-model",
            f"{module_constants(training.compile_model)}\n\n\n"
            f"{split_function(training.compile_model).full}\n\n\n"
            f"{split_function(training.shrink_learning_rate).full}",
        ),
        cells.markdown(
            "settings-text",
            "The settings the reference solution uses (change them to experiment):",
        ),
        cells.provided("settings", _settings()),
    ]


#: Every reference function or class the notebook copies; the constants they read are
#: written out once, in the settings cell.
COPIED = (
    extensions.build_augmentation,
    extensions.build_augmented_cnn,
    extensions.build_lenet5,
    extensions.residual_block,
    extensions.build_resnet,
    extensions.build_tunable_model,
    extensions.make_tuner,
)


def _settings() -> str:
    lines: list[str] = []
    for function in COPIED:
        for line in module_constants(function).split("\n"):
            name = line.partition(" = ")[0]
            if line and name not in {"LOSS", "METRICS"} and line not in lines:
                lines.append(line)
    lines.append(f"TUNING_BATCH_SIZES = {extensions.TUNING_BATCH_SIZES!r}")
    return "\n".join(lines)


AUGMENTATION_TEXT = """
## 2. Data augmentation

A CNN trained on centred, upright digits is surprised by a digit written a little
tilted, smaller or off-centre. **Data augmentation** shows it such variants while it
trains: before every batch, each image is rotated, zoomed and shifted by a small random
amount, so every epoch sees new versions of the same 60,000 digits. Keras' random
preprocessing layers (`RandomRotation`, `RandomZoom`, `RandomTranslation`) do it inside
the model, and only while training: for `evaluate()` and `predict()` they pass images
through unchanged, so the test set is never augmented.

Keep the changes small: a 6 turned by 180 degrees is a 9. Fill the new border pixels with
0, the black background of MNIST, so the images stay in [0, 1].

Write `build_augmentation()`.
"""


def _augmentation(config: AssignmentConfig) -> list[NotebookNode]:
    source = split_function(extensions.build_augmentation)
    return [
        cells.markdown("augmentation-text", AUGMENTATION_TEXT),
        cells.solution("build-augmentation", source.head, source.body),
        cells.self_check(config, "augmentation.layers", "the three random layers"),
        cells.self_check(config, "augmentation.behaviour", "training only, values in [0, 1]"),
        cells.code(
            "augmentation-show",
            """
block = build_augmentation()
figure, axes = plt.subplots(2, 8, figsize=(10, 3))
for column in range(8):
    axes[0, column].imshow(X_train_images[column, :, :, 0], cmap="gray_r")
    moved = block(X_train_images[column : column + 1], training=True)
    axes[1, column].imshow(np.asarray(moved)[0, :, :, 0], cmap="gray_r")
    axes[0, column].axis("off")
    axes[1, column].axis("off")
figure.suptitle("top: training digits; bottom: one augmented draw of each")
plt.show()
""",
        ),
    ]


STAGE_TEXT = {
    "augmented_cnn": """
### The CNN, trained with augmentation

Put the augmentation block first in the first assignment's CNN. Training is the same
call as before; only the model changed. Course bars: **{bar:.1%}** on the test set and
**{perturbed:.0%}** on the grader's rotated, shifted and zoomed digits.

Write `build_augmented_cnn()`.
""",
    "lenet5": """
## 3. LeNet-5

LeNet-5 (LeCun, Bottou, Bengio and Haffner, 1998) read cheques for American banks and
made convolutional networks famous, on this very kind of data. Its layers: a convolution
with 6 filters of 5 x 5, a 2 x 2 pooling, a convolution with 16 filters of 5 x 5, another
pooling, then dense layers of 120, 84 and 10 units. The original read 32 x 32 images;
with `padding="same"` on the first convolution our 28 x 28 digits give every later layer
the original's size, and the network its about 61,700 parameters. Course bar:
**{bar:.1%}**.

Write `build_lenet5()`.
""",
    "resnet": """
## 4. A residual network

Stacking more layers should help, yet very deep plain networks train *worse*: the
gradient that reaches the first layers fades. A **residual block** (He et al., 2016)
adds its input to its output, `y = x + F(x)`: the block only learns a correction `F`, and
the addition is a short path for the gradient. Where the block changes the shape (more
channels, or a stride that halves the grid) a 1 x 1 convolution projects `x` to the new
shape before the addition. In Keras' functional API the join is `keras.layers.Add()`.
Course bar: **{bar:.1%}**.

Write `residual_block()` and `build_resnet()` (at least two residual blocks).
""",
}

TRAINING = """
budget = config.stages["{stage}"]  # epochs, batch size, learning rate, decay
keras.utils.set_random_seed(config.seed)
# Build {variable} with {builder}(learning_rate=budget.learning_rate) and fit it on
# X_train_images, y_train with the budget (verbose=2, callbacks=[shrink_learning_rate(
# budget.learning_rate_decay)]); keep the training time in seconds["{stage}"].
"""

TRAINING_BODY = """
start = time.perf_counter()
{variable} = {builder}(learning_rate=budget.learning_rate)
{variable}.fit(
    X_train_images,
    y_train,
    epochs=budget.epochs,
    batch_size=budget.batch_size,
    callbacks=[shrink_learning_rate(budget.learning_rate_decay)],
    verbose=2,
)
seconds["{stage}"] = time.perf_counter() - start
"""


def _stage(stage: str, config: AssignmentConfig) -> list[NotebookNode]:
    spec = config.spec.stage(stage)
    settings = config.stages[stage]
    slug = stage.replace("_", "-")
    functions = [extensions.residual_block] if stage == "resnet" else []
    functions.append(builder_of(stage, config))
    result = [
        cells.markdown(
            f"{slug}-text",
            STAGE_TEXT[stage].format(
                bar=settings.min_test_accuracy, perturbed=settings.min_perturbed_accuracy or 0
            ),
        )
    ]
    for function in functions:
        source = split_function(function)
        result.append(cells.solution(function.__name__.replace("_", "-"), source.head, source.body))
    result.append(
        cells.self_check(
            config, f"{stage}.structure", f"the architecture of a new model from {spec.builder}()"
        )
    )
    names = {"stage": stage, "variable": spec.variable, "builder": spec.builder}
    result.append(
        cells.solution(
            f"train-{slug}",
            TRAINING.format(**names).strip("\n"),
            TRAINING_BODY.format(**names).strip("\n"),
        )
    )
    result.append(cells.self_check(config, f"{stage}.trained", f"{spec.variable} was trained"))
    result.append(cells.hidden_check(config, f"{stage}.accuracy"))
    if any(check.judge == "stage.perturbed" for check in config.spec.checks_of(stage)):
        result.append(cells.hidden_check(config, f"{stage}.perturbed"))
    return result


TUNING_TEXT = """
## 5. Hyperparameter tuning

Batch size, learning rate and optimizer were given so far. Choosing them is a search: try
some combinations, keep the best. **KerasTuner** runs that search for Keras models: a
*hypermodel* builds a model from the choices of a trial (`hp.Choice(...)`), and a tuner
(`RandomSearch` here) tries up to `max_trials` combinations, scoring each on validation
data.

The score that chooses must come from data the choice is not judged on later. So the
validation images are carved out of the **training** set (`split_validation`); the test
set stays untouched until the very end. Choosing on the test set would make its accuracy
an optimistic guess. The course's budget: **{trials} trials** of **{epochs} epoch(s)** on
{train:,} training images, scored on {validation:,} validation images.
"""

SEARCH_HEAD = """
# Make a tuner with make_tuner(max_trials=config.tuning.max_trials, seed=config.seed),
# name it tuner, and run tuner.search(...) on X_search, y_search for config.tuning.epochs
# epoch(s) with validation_data=(X_val, y_val) and verbose=0.
"""

SEARCH_BODY = """
tuner = make_tuner(max_trials=config.tuning.max_trials, seed=config.seed)
tuner.search(
    X_search,
    y_search,
    epochs=config.tuning.epochs,
    validation_data=(X_val, y_val),
    verbose=0,
)
for trial in tuner.oracle.get_best_trials(config.tuning.max_trials):
    print(f"{trial.score:.2%}", trial.hyperparameters.values)
"""

RETRAIN_HEAD = """
# The best trial's score is the luckiest of several tries. Re-train its configuration:
# best = tuner.get_best_hyperparameters(1)[0].values, tuned_model = build_tuned_model(best),
# fit it on X_search, y_search (config.tuning.epochs, batch size best["batch_size"]) after
# keras.utils.set_random_seed(config.seed), and store its own accuracy on (X_val, y_val)
# in tuned_validation_accuracy.
"""

RETRAIN_BODY = """
best = tuner.get_best_hyperparameters(1)[0].values
keras.utils.set_random_seed(config.seed)
tuned_model = build_tuned_model(best)
tuned_model.fit(
    X_search, y_search, epochs=config.tuning.epochs, batch_size=best["batch_size"], verbose=0
)
tuned_validation_accuracy = tuned_model.evaluate(X_val, y_val, verbose=0)[1]
print("chosen:", best, f"- re-trained: {tuned_validation_accuracy:.2%} on validation")
"""


def _tuning(config: AssignmentConfig) -> list[NotebookNode]:
    settings = config.tuning
    tunable = split_function(extensions.build_tunable_model)
    return [
        cells.markdown(
            "tuning-text",
            TUNING_TEXT.format(
                trials=settings.max_trials,
                epochs=settings.epochs,
                train=settings.train_images,
                validation=settings.validation_images,
            ),
        ),
        cells.provided(
            "split",
            """
X_search, y_search, X_val, y_val = split_validation(
    X_train_images,
    y_train,
    train_images=config.tuning.train_images,
    validation_images=config.tuning.validation_images,
    seed=config.seed,
)
print("search:", X_search.shape, " validation:", X_val.shape)
""",
        ),
        cells.solution("build-tunable-model", tunable.head, tunable.body),
        cells.provided(
            "tuner-helpers",
            f"{class_source(extensions.TunableModel)}\n\n\n"
            f"{split_function(extensions.make_tuner).full}\n\n\n"
            f"{split_function(extensions.build_tuned_model).full}",
        ),
        cells.solution("search", SEARCH_HEAD.strip("\n"), SEARCH_BODY.strip("\n")),
        cells.self_check(config, "tuning.search", "the tuner's trials"),
        cells.self_check(config, "tuning.validation", "validation images from the training set"),
        cells.solution("retrain-tuned", RETRAIN_HEAD.strip("\n"), RETRAIN_BODY.strip("\n")),
        cells.hidden_check(config, "tuning.reproduced"),
    ]


COMPARISON_HEAD = """
# Fill comparison with one row per trained model: its test accuracy (evaluate on
# X_test_images), its parameters (count_params()), its training seconds and its accuracy
# on the moved digits X_moved; then print the table.
"""

COMPARISON_BODY = """
trained_models = {
    "augmented CNN": (augmented_cnn_model, seconds["augmented_cnn"]),
    "LeNet-5": (lenet_model, seconds["lenet5"]),
    "ResNet": (resnet_model, seconds["resnet"]),
}
comparison = {}
for title, (model, train_seconds) in trained_models.items():
    comparison[title] = {
        "test accuracy": model.evaluate(X_test_images, y_test, verbose=0)[1],
        "parameters": model.count_params(),
        "train seconds": train_seconds,
        "moved-digit accuracy": model.evaluate(X_moved, y_test, verbose=0)[1],
    }
print(f"{'model':<16}{'test':>9}{'moved':>9}{'parameters':>12}{'seconds':>9}")
for title, row in comparison.items():
    print(
        f"{title:<16}{row['test accuracy']:>9.2%}{row['moved-digit accuracy']:>9.2%}"
        f"{row['parameters']:>12,}{row['train seconds']:>9.1f}"
    )
"""

COMPARISON_CHART = """
figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
titles = list(comparison)
for axis, key in ((left, "test accuracy"), (right, "moved-digit accuracy")):
    values = [comparison[title][key] for title in titles]
    bars = axis.bar(titles, values, color=["#69c", "#236", "#c63"])
    axis.bar_label(bars, labels=[f"{value:.1%}" for value in values])
    axis.set_ylim(min(values) - 0.05, 1.0)
    axis.set_title(key)
figure.suptitle("Every model so far: plain test digits and moved ones")
plt.show()
"""

CLOSING_TEXT = """
### Reading the comparison

* Augmentation costs a little accuracy on the plain test set, or none, and buys a lot on
  moved digits: the model learned what a digit is, not where it usually sits.
* LeNet-5 reaches about 99% with some 62 thousand parameters, a fraction of the first
  assignment's CNN: good architecture beats size.
* The residual network trains fast thanks to batch normalization and its skip paths; on
  digits, depth buys little more, on harder images it is what makes deep networks work.
* The tuner's best score is optimistic: re-training the chosen configuration is the
  honest number, and the test set was never used to choose.
"""


def _comparison() -> list[NotebookNode]:
    return [
        cells.markdown(
            "comparison-text",
            "## 6. Comparison\n\nEvery model of this notebook on the same footing: accuracy "
            "on the test set and on moved digits, size and training time.",
        ),
        cells.solution("comparison", COMPARISON_HEAD.strip("\n"), COMPARISON_BODY.strip("\n")),
        cells.code("comparison-chart", COMPARISON_CHART),
        cells.markdown("closing-text", CLOSING_TEXT),
    ]


def lesson_cells(config: AssignmentConfig) -> list[NotebookNode]:
    """Every cell of the source notebook, in order."""
    result = [*_introduction(config), *_augmentation(config)]
    result.append(cells.provided("seconds", "seconds = {}  # training time of each model"))
    for stage in config.stages:
        result += _stage(stage, config)
    result += _tuning(config)
    result += _comparison()
    return result
