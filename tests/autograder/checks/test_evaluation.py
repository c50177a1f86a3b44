"""Model fingerprints: equal for the same model however it travelled, the architecture
hash blind to names and seeds, the weights hash not."""

from __future__ import annotations

import keras
import numpy as np

from autograder.checks import evaluation
from autograder.checks.confusion import Fingerprint

PREDICTED = np.array([7, 2, 1, 0, 4])


def functional_with_skip(width: int = 8) -> keras.Model:
    inputs = keras.Input(shape=(784,))
    hidden = keras.layers.Dense(width, activation="relu")(inputs)
    joined = keras.layers.Add()([hidden, keras.layers.Dense(width)(inputs)])
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(joined))


def test_a_saved_and_loaded_model_keeps_its_fingerprint(tmp_path, helpers):
    for model in (helpers.cnn(), functional_with_skip()):
        model.save(tmp_path / "model.keras")
        loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
        assert evaluation.fingerprint(loaded, PREDICTED) == evaluation.fingerprint(model, PREDICTED)


def test_two_builds_of_one_architecture_share_its_hash_not_their_weights(helpers):
    for build in (helpers.cnn, functional_with_skip):
        first, second = build(), build()  # other layer names, other random weights
        assert first.layers[-1].name != second.layers[-1].name
        assert evaluation.architecture_sha256(first) == evaluation.architecture_sha256(second)
        assert evaluation.weights_sha256(first) != evaluation.weights_sha256(second)


def test_seeds_and_names_do_not_count_but_sizes_wiring_and_settings_do(helpers):
    def dropout(seed: int, rate: float = 0.2) -> keras.Model:
        return keras.Sequential([
            keras.Input(shape=(784,), name=f"pixels{seed}"),
            keras.layers.Dropout(rate, seed=seed, name=f"drop{seed}"),
            keras.layers.Dense(10, activation="softmax",
                               kernel_initializer=keras.initializers.GlorotUniform(seed)),
        ], name=f"model{seed}")  # fmt: skip

    assert evaluation.architecture_sha256(dropout(1)) == evaluation.architecture_sha256(dropout(2))
    other = {
        "another width": functional_with_skip(16),
        "another rate": dropout(1, rate=0.3),
        "another layer": helpers.hidden_layer(),
        "another activation": keras.Sequential(
            [keras.Input(shape=(784,)), keras.layers.Dense(10, activation="sigmoid")]
        ),
    }
    hashes = {evaluation.architecture_sha256(model) for model in other.values()}
    hashes |= {evaluation.architecture_sha256(helpers.baseline())}
    assert len(hashes) == len(other) + 1


def test_rewiring_the_same_layers_changes_the_architecture_hash():
    def square(skip_from_first: bool) -> keras.Model:
        inputs = keras.Input(shape=(8,))
        first = keras.layers.Dense(8)(inputs)
        second = keras.layers.Dense(8)(first)
        joined = keras.layers.Add()([second, first if skip_from_first else inputs])
        return keras.Model(inputs, keras.layers.Dense(10)(joined))

    assert evaluation.architecture_sha256(square(True)) != evaluation.architecture_sha256(
        square(False)
    )
    assert evaluation.architecture_sha256(square(True)) == evaluation.architecture_sha256(
        square(True)
    )


def test_the_fingerprint_is_a_valid_report_record(helpers):
    model = helpers.cnn()
    found = evaluation.fingerprint(model, PREDICTED)
    assert found.predictions == "72104"
    assert found.architecture.startswith("Conv2D(filters=4, kernel_size=3x3")
    assert "Dense(units=10, activation=softmax)" in found.architecture
    assert Fingerprint.from_dict(found.to_dict()) == found
    model.layers[-1].kernel.assign(np.zeros(model.layers[-1].kernel.shape))
    assert evaluation.weights_sha256(model) != found.weights_sha256
