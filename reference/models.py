"""Stage 2: the three architectures the course compares.

Each builder returns a new, compiled model; the input shape says which
preprocessing it expects (flattened vectors for the ANNs, 28x28x1 grids for the
CNN). The default learning rates are the course defaults (a test keeps them
equal); the pipeline passes course.yaml's values explicitly.
"""

from __future__ import annotations

import keras

from reference.training import compile_model


def build_baseline_ann(learning_rate: float = 0.005) -> keras.Model:
    """784 inputs straight into 10 softmax outputs: no hidden layer.

    This is multinomial logistic regression; it cannot model interactions
    between pixels, which is why it tops out near 92-93%.
    """
    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="baseline_ann",
    )
    return compile_model(model, learning_rate)


def build_hidden_layer_ann(learning_rate: float = 0.002) -> keras.Model:
    """A hidden ReLU layer between pixels and outputs learns stroke features."""
    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="hidden_layer_ann",
    )
    return compile_model(model, learning_rate)


def build_cnn(learning_rate: float = 0.002) -> keras.Model:
    """Convolutions share small filters across the image, so a stroke is recognised
    wherever it is; pooling makes that tolerant to small shifts, and halves the
    grid so the second convolution stays cheap. A small dense layer combines the
    stroke features before the softmax."""
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(32, (5, 5), activation="relu"),
            keras.layers.MaxPooling2D((2, 2)),
            keras.layers.Conv2D(64, (5, 5), activation="relu"),
            keras.layers.MaxPooling2D((2, 2)),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="cnn",
    )
    return compile_model(model, learning_rate)
