"""The catalogue of hints: every kind of mistake the checks can name, as data.

A check that fails picks one entry by its id, from evidence of that mistake (the
values a function returned, the shapes of the arrays passed to ``fit``, the layer
types), and fills in the details. Every failed result carries the id as its
``hint_category``, so class analytics can count mistakes and tests can assert
exactly which hint a notebook got.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from mnist_course.results import Advice

#: The category of a check that failed because the grader did (never the student's fault).
GRADER_FAILED = "grader_failed"
#: Why a model could not be judged, most telling first (a file can show several).
ProblemKind = Literal[
    "custom_layer", "hand_set_weights", "too_large", "unusable", "not_evaluable", "missing"
]
PROBLEM_PRIORITY: tuple[ProblemKind, ...] = (
    "custom_layer", "hand_set_weights", "too_large", "unusable", "not_evaluable", "missing"
)  # fmt: skip


@dataclass(frozen=True)
class Hint:
    """One kind of mistake: a short name for instructors and the advice for students.

    ``text`` is a ``str.format`` template; its fields come from the evidence."""

    id: str
    mistake: str
    text: str


_BUILD_AND_TRAIN = (
    "Define `{builder}()` returning a new compiled keras.Model, then create and train "
    "`{variable} = {builder}()` with `{variable}.fit(...)`; every cell must run without "
    "errors from top to bottom."
)
_RESHAPE = "`images.reshape(len(images), 784)`"

CATALOGUE: tuple[Hint, ...] = (
    # Loading the data.
    Hint(
        "load_missing",
        "data not loaded",
        "Load the data with `(X_train, y_train), (X_test, y_test) = load_mnist()` "
        "(from mnist_course.data) and keep these four names.",
    ),
    Hint(
        "labels_one_hot",
        "labels one-hot encoded",
        "{name} looks one-hot encoded {shape}. Keep the integer labels 0-9 that load_mnist() "
        "returns: the course's models use sparse_categorical_crossentropy, which expects "
        "integer labels.",
    ),
    Hint(
        "loaded_arrays_reshaped",
        "loaded arrays reshaped in place",
        "Keep the arrays exactly as load_mnist() returns them; reshape or flatten into new "
        "variables (e.g. X_train_flattened) instead.",
    ),
    Hint(
        "loaded_arrays_normalized",
        "loaded arrays normalized in place",
        "It looks already normalized: keep the loaded arrays unchanged and call normalize() "
        "where you need scaled pixels.",
    ),
    Hint(
        "loaded_arrays_converted",
        "loaded arrays converted to another type",
        "Keep the arrays exactly as load_mnist() returns them.",
    ),
    Hint(
        "loaded_arrays_modified",
        "loaded arrays shuffled or edited",
        "Load it with load_mnist() and do not modify it in place (no shuffling, sorting or "
        "editing of the loaded arrays).",
    ),
    # Functions of the contract.
    Hint(
        "not_written_yet",
        "function left as the release's stub",
        "{function}() is not written yet: replace the `raise NotImplementedError(...)` line "
        "in its cell with your code.",
    ),
    Hint(
        "normalize_missing",
        "normalize() missing or failing",
        "Define `def normalize(images):` returning `images / 255.0`; it must work on any "
        "number of 28x28 uint8 images.",
    ),
    Hint(
        "normalize_no_array",
        "normalize() returns no array",
        "Return the scaled images, e.g. `return images / 255.0` (did you forget `return`?).",
    ),
    Hint(
        "normalize_changes_shape",
        "normalize() reshapes",
        "normalize() must only scale the values; flattening is flatten()'s job.",
    ),
    Hint(
        "not_divided_by_255",
        "pixels not divided by 255",
        "Pixels were not divided by 255: return `images / 255.0` so values lie in [0, 1].",
    ),
    Hint(
        "divided_twice",
        "pixels divided by 255 twice",
        "Divide by 255 exactly once. If the images were already scaled before calling "
        "normalize(), pass the raw uint8 images instead.",
    ),
    Hint(
        "integer_division",
        "integer division or cast",
        "Use true division to get floats: `images / 255.0` (not `//`), and do not cast the "
        "result back to an integer type.",
    ),
    Hint(
        "per_image_scaling",
        "scaled by per-image statistics",
        "Use the fixed scale of the pixel format, `images / 255.0`, not per-image statistics "
        "(mean, std or max), so every image is scaled the same way.",
    ),
    Hint(
        "flatten_missing",
        "flatten() missing",
        f"Define `def flatten(images):` returning {_RESHAPE}.",
    ),
    Hint(
        "flatten_fixed_count",
        "flatten() assumes a number of images",
        f"flatten() seems to assume a fixed number of images. Use {_RESHAPE} so it works for "
        "any number.",
    ),
    Hint(
        "flatten_no_array",
        "flatten() returns no array",
        f"Return the reshaped images: `return {_RESHAPE[1:-1]}`.",
    ),
    Hint(
        "flatten_one_vector",
        "all images flattened into one vector",
        f"All images were flattened into one long vector. Keep one row per image: {_RESHAPE}.",
    ),
    Hint(
        "flatten_transposed",
        "flattened array transposed",
        f"The result is transposed: use {_RESHAPE}, rows = images.",
    ),
    Hint(
        "not_flattened",
        "images not flattened",
        f"The images were not flattened: use {_RESHAPE}.",
    ),
    Hint(
        "flatten_wrong_shape",
        "flattened to the wrong shape",
        f"Flattened to the wrong shape. Each 28x28 image becomes one row of 784 values: "
        f"{_RESHAPE}; do not type the number of images in.",
    ),
    Hint(
        "flatten_reorders",
        "flatten() reorders pixels",
        f"Flatten each image row by row with {_RESHAPE} (no transposing, no sorting).",
    ),
    Hint(
        "flattened_array_missing",
        "flattened array not created",
        "Create it with flatten(), e.g. `{name} = flatten(normalize({images}))`.",
    ),
    Hint(
        "flattened_rows_reordered",
        "flattened array shuffled",
        "Build it from the loaded images without shuffling: "
        "`{name} = flatten(normalize({images}))`.",
    ),
    # Models: what was submitted.
    Hint("model_missing", "model not defined or not trained", _BUILD_AND_TRAIN),
    Hint(
        "custom_layer",
        "Lambda or custom layer",
        "Your `{builder}()` is fine to define, but the grader loads models in Keras safe mode: "
        "replace the Lambda or custom layer with built-in Keras layers (Rescaling for "
        "scaling, Reshape or Flatten for shapes) and train `{variable}` again.",
    ),
    Hint(
        "hand_set_weights",
        "weights or data written into the model's settings",
        "Build `{variable}` from layers with their default initialisers and let fit() learn "
        "the weights: arrays of numbers in a layer's settings (Constant initialisers, data "
        "copied in) are refused.",
    ),
    Hint(
        "model_too_large",
        "model beyond the grader's limits",
        "Keep `{variable}` to the size the course asks for: no enlarging layers (UpSampling2D, "
        "Resizing, ZeroPadding2D), no layer used twice and no layers of many thousands of "
        "units; then train it again.",
    ),
    Hint(
        "model_unusable",
        "model file unusable",
        "Build `{variable}` with `{builder}()` from built-in Keras layers only and train it; "
        "the grader must be able to save and reload it as a .keras file.",
    ),
    Hint(
        "no_input_shape",
        "model never built",
        "Start the model with a keras.Input layer, e.g. keras.Input(shape={input_shape}).",
    ),
    Hint(
        "output_units",
        "output layer without 10 units",
        "End with `keras.layers.Dense(10, activation='softmax')`: one score per digit "
        "(the model now has outputs {outputs}).",
    ),
    Hint(
        "baseline_hidden_layer",
        "hidden layer in the baseline",
        "The baseline is a single Dense(10) on the 784 inputs with no hidden layer. Move extra "
        "layers to build_hidden_layer_ann().",
    ),
    Hint(
        "ann_input_shape",
        "ANN not on flattened images",
        "ANNs take flattened images: start with keras.Input(shape=(784,)).",
    ),
    Hint(
        "no_hidden_layer",
        "no hidden layer",
        "Add at least one hidden layer before the output, e.g. "
        "`keras.layers.Dense(128, activation='relu')`.",
    ),
    Hint(
        "no_conv2d",
        "CNN without Conv2D",
        "A CNN needs convolutions: add `keras.layers.Conv2D(32, (3, 3), activation='relu')` on "
        "keras.Input(shape=(28, 28, 1)), then MaxPooling2D, Flatten and Dense(10).",
    ),
    Hint(
        "cnn_pooling_flatten",
        "CNN without pooling or Flatten",
        "Follow Conv2D with keras.layers.MaxPooling2D((2, 2)), then keras.layers.Flatten() "
        "before the Dense output layer.",
    ),
    Hint(
        "cnn_input_shape",
        "CNN on flattened vectors",
        "The CNN takes images, not vectors: start with keras.Input(shape=(28, 28, 1)).",
    ),
    # Models: how they were trained.
    Hint(
        "one_hot_sparse_loss",
        "one-hot labels with a sparse loss",
        "fit() got one-hot labels {labels} but the loss is sparse_categorical_crossentropy, "
        "which expects integer labels, so training failed or learnt nothing. Pass the integer "
        "labels from load_mnist() (or use categorical_crossentropy with one-hot labels, but "
        "not both).",
    ),
    Hint(
        "fit_input_shape",
        "fit() given inputs of the wrong shape",
        "fit() was given inputs of shape {given} but the model takes {expected} per example, "
        "so training failed. {advice}",
    ),
    Hint(
        "fit_failed",
        "fit() raised an error",
        "`{variable}.fit(...)` raised {error}. Fix that cell so training runs to the end.",
    ),
    Hint(
        "never_trained",
        "model never trained",
        "The model never trained: its optimizer took 0 steps. Call "
        "`{variable}.fit(X_train_..., y_train, epochs=..., batch_size=...)` after building it, "
        "and make sure that cell runs without errors.",
    ),
    Hint(
        "trained_on_raw_pixels",
        "trained on unnormalized pixels",
        "The model was trained on raw 0-255 pixels ({evidence}), but it is graded, like "
        "every course model, on pixels divided by 255. Train it on normalize()d images.",
    ),
    Hint(
        "undertrained",
        "trained too little",
        "Train `{variable}` with fit() on the normalized training images and the integer "
        "labels; check the training cell ran without errors and the loss went down.",
    ),
    Hint(
        "own_evaluation_differs",
        "own evaluation on other data",
        "Your notebook's own evaluate() reported {own:.2%}, the grader measured {measured:.2%} "
        "on the {images} test images divided by 255: {reason}. Evaluate on "
        "normalize(X_test) (flattened for the ANNs) with the integer y_test.",
    ),
    Hint(
        "below_bar",
        "accuracy below the bar",
        "Raise it by at least {gap:.2f} percentage points: check the inputs are normalized, "
        "train for the course's number of epochs, and {capacity}.",
    ),
    # The notebook as a whole.
    Hint(
        "notebook_unreadable",
        "notebook file unreadable",
        "Submit the .ipynb file saved by Jupyter, unedited outside Jupyter (restore it from a "
        "checkpoint or re-download the assignment and copy your code in).",
    ),
    Hint(
        "notebook_stopped",
        "notebook hangs, exits or uses too much memory",
        "Run the notebook from top to bottom (Kernel > Restart & Run All) and fix the cell "
        "that hangs, exits or uses too much memory.",
    ),
    Hint(
        GRADER_FAILED,
        "the grader failed (not the student)",
        "Tell your instructor: this is a grader problem, not your mistake.",
    ),
    # The extensions assignment: augmentation, LeNet-5, residual networks, tuning.
    Hint(
        "augmentation_layers_missing",
        "augmentation without rotation, zoom or translation",
        "build_augmentation() should return a keras.Sequential of "
        "keras.layers.RandomRotation, RandomZoom and RandomTranslation; it lacks {missing}.",
    ),
    Hint(
        "augmentation_at_inference",
        "augmentation active at inference",
        "The random layers must only change images while training: call the augmentation "
        "block as `augmentation(inputs)`, never with `training=True`, so Keras turns it off "
        "for evaluate() and predict().",
    ),
    Hint(
        "augmentation_no_change",
        "augmentation that changes nothing",
        "In training the block should move the digits a little: give RandomRotation, "
        "RandomZoom and RandomTranslation non-zero factors (e.g. 0.05-0.1).",
    ),
    Hint(
        "augmentation_out_of_range",
        "augmentation that leaves [0, 1]",
        "Augmented images must stay in [0, 1] like the normalized inputs: use "
        "fill_mode='constant' with fill_value=0.0 and bilinear interpolation, and do not "
        "rescale inside the block.",
    ),
    Hint(
        "augmentation_not_in_model",
        "augmentation left out of the model",
        "Put the augmentation block inside the model, as its first layers "
        "(`x = build_augmentation()(inputs)`), so every training batch is augmented anew; "
        "it lacks {missing}.",
    ),
    Hint(
        "not_robust",
        "not robust to moved digits",
        "Rotated, shifted and zoomed digits fool this model. Train with the augmentation "
        "block inside the model (it is off at inference) for the whole course budget.",
    ),
    Hint(
        "lenet_pooling",
        "LeNet without pooling",
        "LeNet-5 halves the image after each convolution: add a MaxPooling2D((2, 2)) (or "
        "AveragePooling2D) after each Conv2D.",
    ),
    Hint(
        "lenet_layers",
        "not the LeNet-5 layers",
        "Follow LeCun et al.'s order: Conv2D(6, 5x5, padding='same') -> pooling -> "
        "Conv2D(16, 5x5) -> pooling -> Flatten -> Dense(120) -> Dense(84) -> Dense(10).",
    ),
    Hint(
        "lenet_kernel_size",
        "LeNet with the wrong kernel size",
        "LeNet-5's convolutions use 5x5 kernels (yours: {kernels}): Conv2D(6, (5, 5), "
        "padding='same') and Conv2D(16, (5, 5)).",
    ),
    Hint(
        "lenet_sizes",
        "LeNet with other filter counts or units",
        "LeNet-5 has 6 then 16 filters and dense layers of 120, 84 and 10 units (yours: "
        "{filters} filters, {units} units).",
    ),
    Hint(
        "lenet_parameters",
        "LeNet with the wrong parameter count",
        "With 28x28 inputs the first convolution needs padding='same' so the second one sees "
        "14x14 maps like the original's; then the count comes out near {expected:,} "
        "(yours: {count:,}).",
    ),
    Hint(
        "no_skip_connection",
        "residual network without Add",
        "A residual block adds its input to its output: `y = keras.layers.Add()([shortcut, "
        "x])`, where `shortcut` is the block's input (or a 1x1 Conv2D of it when the shape "
        "changes) and `x` went through the block's convolutions.",
    ),
    Hint(
        "residual_without_skip",
        "a residual block with no skip",
        "An Add of two outputs of the same path is not a skip connection: one input of each "
        "Add must be the block's input itself, or its 1x1 Conv2D projection, and the other "
        "the output of the block's convolutions on that input.",
    ),
    Hint(
        "too_few_blocks",
        "too few residual blocks",
        "Stack at least two residual blocks, each ending in an Add of its shortcut and its "
        "convolutions.",
    ),
    Hint(
        "tuner_not_keras_tuner",
        "tuning without KerasTuner",
        "Search with KerasTuner, not a loop of your own: `tuner = keras_tuner.RandomSearch("
        "hypermodel, objective='val_accuracy', max_trials=...)` then `tuner.search(...)`, "
        "and keep the tuner in `tuner`.",
    ),
    Hint(
        "tuning_not_searched",
        "tuner never searched",
        "Run `tuner.search(X_search, y_search, validation_data=(X_val, y_val), ...)`: the "
        "tuner has no finished trials.",
    ),
    Hint(
        "tuning_space",
        "search space without the three hyperparameters",
        "Let every trial choose batch_size, learning_rate and optimizer with hp.Choice(...) "
        "(missing: {missing}).",
    ),
    Hint(
        "tuning_too_many_trials",
        "search over the trial budget",
        "The course's budget is {budget} trials: pass max_trials={budget} to the tuner.",
    ),
    Hint(
        "tuning_objective",
        "tuning on training accuracy",
        "Choose by how the models do on data they did not train on: objective='val_accuracy' "
        "(the tuner's objective is {objective}).",
    ),
    Hint(
        "tuned_on_test_set",
        "tuning on the test set",
        "The test set must play no part in choosing: carve X_val, y_val out of X_train, "
        "y_train (split_validation() does it) and pass validation_data=(X_val, y_val) to the "
        "search. Test images are for the final measurement only.",
    ),
    Hint(
        "validation_not_training_images",
        "validation data that is not from the training set",
        "X_val must be normalized training images, shaped like the models' inputs, with "
        "y_val their labels: use split_validation(X_train, y_train).",
    ),
    Hint(
        "best_trial_score_reported",
        "best trial's score reported without re-measuring",
        "The best trial's score is the luckiest of several tries, so it overstates the "
        "configuration. Re-train build_tuned_model(best hyperparameters) on the search data "
        "and report its own validation accuracy in tuned_validation_accuracy.",
    ),
    # Integrity.
    Hint(
        "fitted_on_test",
        "model fitted on the test images",
        "Your model was fitted on the test images: it scores {test:.2%} on the test set but "
        "only {train:.2%} on {images:,} of the training images, and a model trained on the "
        "training images scores higher on those than on the test set. Fit it on the "
        "training images and y_train only: the test set is for the final measurement "
        "(passing it as validation_data to watch progress is fine). {consequence}",
    ),
    Hint(
        "object_unusable",
        "object the grader cannot judge",
        "The grader could not use `{name}`: build it from built-in Keras layers only (no "
        "Lambda or custom classes), and make sure every cell runs from top to bottom.",
    ),
    Hint(
        "tuning_not_reproduced",
        "tuned accuracy not reproduced",
        "Report what you measured: re-train the chosen configuration with the course budget, "
        "evaluate it on (X_val, y_val) and store that accuracy in tuned_validation_accuracy.",
    ),
)

HINTS: dict[str, Hint] = {hint.id: hint for hint in CATALOGUE}
#: The hint each kind of model problem gets.
PROBLEM_HINTS: dict[ProblemKind, str] = {
    "missing": "model_missing",
    "custom_layer": "custom_layer",
    "hand_set_weights": "hand_set_weights",
    "too_large": "model_too_large",
    "unusable": "model_unusable",
    "not_evaluable": "model_unusable",
}


def _check_catalogue() -> None:
    """Fail at import on a duplicated id: each mistake is named once."""
    if len(HINTS) != len(CATALOGUE):
        seen: set[str] = set()
        duplicates = {hint.id for hint in CATALOGUE if hint.id in seen or seen.add(hint.id)}
        raise ValueError(f"hint ids used twice in the catalogue: {sorted(duplicates)}")


_check_catalogue()


def advise(category: str, **details: Any) -> Advice:
    """The hint ``category`` with ``details`` filled in; ValueError for an unknown id."""
    try:
        hint = HINTS[category]
    except KeyError:
        raise ValueError(
            f"unknown hint category {category!r}; expected one of: {', '.join(HINTS)}"
        ) from None
    return Advice(category, hint.text.format(**details))
