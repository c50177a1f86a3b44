"""The trusted side reads exported files defensively: no links, no pickle, no code."""

from __future__ import annotations

import os
import pickle

import keras
import numpy as np
import pytest

from autograder import artifacts, model_screening


def test_links_and_oversized_files_are_refused(tmp_path):
    target = tmp_path / "secret.txt"
    target.write_text("secret")
    (tmp_path / "link.npy").symlink_to(target)
    with pytest.raises(artifacts.ArtifactError, match="not exported"):
        artifacts.read_bytes(tmp_path / "link.npy", 100)
    with pytest.raises(artifacts.ArtifactError, match="over the 3 limit"):
        artifacts.read_bytes(target, 3)
    with pytest.raises(artifacts.ArtifactError, match="not a regular file"):
        artifacts.read_bytes(tmp_path, 100)


def test_arrays_load_without_pickle(tmp_path):
    np.save(tmp_path / "good.npy", np.arange(4.0), allow_pickle=False)
    assert artifacts.read_array(tmp_path / "good.npy").tolist() == [0, 1, 2, 3]
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(artifacts.ArtifactError, match="not a plain numeric"):
        artifacts.read_array(tmp_path / "objects.npy")
    (tmp_path / "pickle.npy").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(artifacts.ArtifactError):
        artifacts.read_array(tmp_path / "pickle.npy")


def test_manifest_must_be_a_json_object(tmp_path):
    (tmp_path / "manifest.json").write_text("[1, 2]")
    with pytest.raises(artifacts.ArtifactError, match="not a JSON object"):
        artifacts.read_manifest(tmp_path / "manifest.json")
    (tmp_path / "manifest.json").write_text("{oops")
    with pytest.raises(artifacts.ArtifactError, match="not valid JSON"):
        artifacts.read_manifest(tmp_path / "manifest.json")


def test_models_load_in_safe_mode(tmp_path, helpers):
    helpers.baseline().save(tmp_path / "baseline.keras")
    model = model_screening.load_model(tmp_path / "baseline.keras", tmp_path)
    assert isinstance(model, keras.Model) and model.inputs[0].shape[-1] == 784


def test_lambda_and_custom_layers_are_refused_with_the_reason(tmp_path):
    model = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Lambda(lambda x: x),
                              keras.layers.Dense(10)])  # fmt: skip
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(artifacts.ArtifactError, match="Lambda layer"):
        model_screening.load_model(tmp_path / "lambda.keras", tmp_path)

    @keras.saving.register_keras_serializable(package="Student")
    class Doubler(keras.layers.Layer):
        def call(self, inputs):
            return inputs * 2

    custom = keras.Sequential([keras.Input(shape=(784,)), Doubler(), keras.layers.Dense(10)])
    custom.save(tmp_path / "custom.keras")
    with pytest.raises(artifacts.ArtifactError, match="custom"):
        model_screening.load_model(tmp_path / "custom.keras", tmp_path)


def test_garbage_model_files_are_refused(tmp_path):
    (tmp_path / "cnn.keras").write_bytes(b"not a zip")
    with pytest.raises(artifacts.ArtifactError, match="not a .keras archive"):
        model_screening.load_model(tmp_path / "cnn.keras", tmp_path)


def test_absurdly_large_layers_are_refused_before_building(tmp_path):
    import io
    import json
    import zipfile

    config = {
        "module": "keras",
        "class_name": "Sequential",
        "registered_name": None,
        "config": {
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "Dense",
                    "registered_name": None,
                    "config": {"units": 10**9},
                }
            ]
        },
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
    (tmp_path / "big.keras").write_bytes(buffer.getvalue())
    with pytest.raises(artifacts.ArtifactError, match="units=1000000000"):
        model_screening.load_model(tmp_path / "big.keras", tmp_path)


def test_deeply_nested_manifest_is_an_artifact_error(tmp_path):
    (tmp_path / "manifest.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(artifacts.ArtifactError, match="RecursionError"):
        artifacts.read_manifest(tmp_path / "manifest.json")


def test_the_results_folder_and_names_in_it_cannot_lead_elsewhere(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.npy").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(artifacts.ArtifactError, match="a link"):
        artifacts.open_folder(tmp_path / "link")
    folder = artifacts.open_folder(tmp_path / "real")
    try:
        assert artifacts.read_bytes("a.npy", 10, folder=folder) == b"x"
        for name in ("../real/a.npy", str(tmp_path / "real" / "a.npy"), ".."):
            with pytest.raises(artifacts.ArtifactError, match="not a plain file name"):
                artifacts.read_bytes(name, 10, folder=folder)
    finally:
        os.close(folder)


def test_models_too_large_to_run_safely_are_refused(tmp_path):
    enlarging = keras.Sequential([
        keras.Input(shape=(784,)), keras.layers.Reshape((28, 28, 1)),
        keras.layers.UpSampling2D(size=(60, 60)), keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10, activation="softmax"),
    ])  # fmt: skip
    enlarging.save(tmp_path / "enlarging.keras")
    with pytest.raises(artifacts.ArtifactError, match="values per image"):
        model_screening.load_model(tmp_path / "enlarging.keras", tmp_path)
    wide = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(30000)])
    wide.save(tmp_path / "wide.keras")
    with pytest.raises(artifacts.ArtifactError, match="parameters"):
        model_screening.load_model(tmp_path / "wide.keras", tmp_path)


def test_the_course_models_are_far_below_the_caps(tmp_path, helpers):
    for model in (helpers.baseline(), helpers.hidden_layer(), helpers.cnn()):
        model.save(tmp_path / "model.keras")
        loaded = model_screening.load_model(tmp_path / "model.keras", tmp_path)
        assert 0 < model_screening.activations_per_image(loaded) < 50_000


def _archive(tmp_path, config_text: str | bytes, name: str = "crafted.keras"):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", config_text)
    (tmp_path / name).write_bytes(buffer.getvalue())
    return tmp_path / name


def _dense(units: int, **extra) -> dict:
    return {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
            "config": {"units": units}, **extra}  # fmt: skip


def test_huge_layers_are_refused_from_the_config_before_keras_builds(tmp_path):
    import json

    layers = [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 784]}},
        _dense(65536),
        _dense(65536),
    ]
    config = {"module": "keras", "class_name": "Sequential", "config": {"layers": layers}}
    path = _archive(tmp_path, json.dumps(config))
    assert path.stat().st_size < 1000  # a tiny file that would need 17 GB
    with pytest.raises(artifacts.ArtifactError, match="refused before it was built"):
        model_screening.load_model(path, tmp_path)
    # A forged build shape is what Keras would allocate: it counts too.
    forged = [_dense(10, build_config={"input_shape": [None, 10**8]})]
    path = _archive(tmp_path, json.dumps({"class_name": "Sequential",
                                          "config": {"layers": forged}}))  # fmt: skip
    with pytest.raises(artifacts.ArtifactError, match="1,000,000,010 parameters"):
        model_screening.load_model(path, tmp_path)


def test_a_config_over_the_cap_is_refused_from_the_zip_header(tmp_path):
    path = _archive(tmp_path, "[]," * (model_screening.MAX_CONFIG_BYTES // 3 + 10))
    with pytest.raises(artifacts.ArtifactError, match="it was not read"):
        model_screening.load_model(path, tmp_path)


def test_arrays_in_a_config_are_refused(tmp_path):
    import json

    numpy_value = {"class_name": "__numpy__", "config": {"value": [1.0], "dtype": "float32"}}
    long_list = {"class_name": "Constant", "config": {"value": list(range(100))}}
    for initializer, words in ((numpy_value, "array of numbers"), (long_list, "Constant")):
        layer = _dense(10)
        layer["config"]["kernel_initializer"] = initializer
        path = _archive(tmp_path, json.dumps({"class_name": "Sequential",
                                              "config": {"layers": [layer]}}))  # fmt: skip
        with pytest.raises(artifacts.ArtifactError, match=words):
            model_screening.load_model(path, tmp_path)
    scalar = _dense(10)
    scalar["config"]["kernel_initializer"] = {"class_name": "Constant", "config": {"value": 0.5}}
    assert model_screening.config_footprint({"class_name": "Sequential",
                                       "config": {"layers": [scalar]}}) == (0, 0)  # fmt: skip


def test_config_footprint_agrees_with_keras_for_the_course_models(helpers):
    import json

    for model in (helpers.baseline(), helpers.hidden_layer(), helpers.cnn()):
        config = json.loads(json.dumps(keras.saving.serialize_keras_object(model)))
        assert model_screening.config_footprint(config)[0] == model.count_params()


def test_a_manifest_of_another_version_is_an_artifact_error(tmp_path):
    (tmp_path / "manifest.json").write_text('{"kind": "export-manifest", "version": 0}')
    with pytest.raises(artifacts.ArtifactError, match="version 0"):
        artifacts.read_manifest(tmp_path / "manifest.json")
