"""The MNIST data layer: sources in order, verification, and corrupt or missing files."""

from __future__ import annotations

import gzip
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from mnist_course import data
from mnist_course.config import load_config
from mnist_course.data import MNIST_FILES, MnistDataError, load_mnist


@pytest.fixture(autouse=True)
def _fresh_memo(monkeypatch):
    """Each test sees a cold loader and no inherited MNIST_DATA."""
    monkeypatch.setattr(data, "_memo", {})
    monkeypatch.delenv(data.DATA_ENV, raising=False)


@pytest.fixture
def copied(mnist_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "mnist"
    folder.mkdir()
    for spec in MNIST_FILES:
        shutil.copy(mnist_dir / f"{spec.stem}.gz", folder)
    return folder


def test_loads_like_keras(mnist_dir: Path) -> None:
    (x_train, y_train), (x_test, y_test) = load_mnist(mnist_dir)
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and y_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert x_train.max() == 255 and x_train.min() == 0
    # Class counts published with the data (shared/data/mnist/README.md).
    counts = " ".join(str(n) for n in np.bincount(y_train))
    assert counts == "5923 6742 5958 6131 5842 5421 5918 6265 5851 5949"


def test_callers_get_independent_writable_copies(mnist_dir: Path) -> None:
    (x_train, _), _ = load_mnist(mnist_dir)
    x_train[0] = 0
    (again, _), _ = load_mnist(mnist_dir)
    assert again[0].any()


def test_second_load_is_fast(mnist_dir: Path) -> None:
    load_mnist(mnist_dir)
    start = time.perf_counter()
    load_mnist(mnist_dir)
    # Generous bound on a cached, in-process reload; speed targets live in bench/.
    assert time.perf_counter() - start < 5


def test_plain_uncompressed_files_are_accepted(copied: Path) -> None:
    spec = data.TEST_LABELS
    gz = copied / f"{spec.stem}.gz"
    (copied / spec.stem).write_bytes(gzip.decompress(gz.read_bytes()))
    gz.unlink()
    _, (_, y_test) = load_mnist(copied)
    assert y_test.shape == (10000,)


def test_environment_variable_then_course_yaml(copied: Path, tmp_path: Path, monkeypatch) -> None:
    config_file = tmp_path / "course.yaml"
    config_file.write_text("data:\n  mnist_dir: mnist\n", encoding="utf-8")
    config = load_config(config_file)
    assert data.resolve_folder(None, config) == copied.resolve()
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv(data.DATA_ENV, str(elsewhere))
    assert data.resolve_folder(None, config) == elsewhere.resolve()
    assert data.resolve_folder(copied, config) == copied.resolve()  # argument wins
    with pytest.raises(MnistDataError, match="does not exist"):
        load_mnist(config=config)


def test_missing_file_is_named(copied: Path) -> None:
    (copied / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(MnistDataError, match="missing t10k-labels-idx1-ubyte.gz"):
        load_mnist(copied)


def test_truncated_gzip_is_named(copied: Path) -> None:
    path = copied / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(MnistDataError, match=r"train-labels-idx1-ubyte\.gz.*truncated or corrupt"):
        load_mnist(copied)


def test_swapped_files_fail_on_the_magic_number(copied: Path) -> None:
    images, labels = copied / "t10k-images-idx3-ubyte.gz", copied / "t10k-labels-idx1-ubyte.gz"
    swap = copied / "swap"
    images.rename(swap)
    labels.rename(images)
    swap.rename(labels)
    with pytest.raises(MnistDataError, match="magic number"):
        load_mnist(copied)


def test_short_content_is_reported(copied: Path) -> None:
    path = copied / "t10k-labels-idx1-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-10]))
    with pytest.raises(MnistDataError, match="truncated or padded"):
        load_mnist(copied)


def test_changed_pixel_fails_the_checksum_unless_verification_is_off(copied: Path) -> None:
    path = copied / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[100] = (raw[100] + 1) % 10
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(MnistDataError, match="checksum"):
        load_mnist(copied)
    _, (_, y_test) = load_mnist(copied, verify=False)
    assert y_test.shape == (10000,)


def test_keras_cache_is_used_and_verified(mnist, tmp_path: Path, monkeypatch) -> None:
    (x_train, y_train), (x_test, y_test) = mnist
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    cache = data.keras_cache_file()
    cache.parent.mkdir(parents=True)
    np.savez(cache, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    (_, _), (loaded, _) = load_mnist()
    assert np.array_equal(loaded, x_test)

    data._memo.clear()
    y_bad = y_test.copy()
    y_bad[0] = (y_bad[0] + 1) % 10
    np.savez(cache, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_bad)
    with pytest.raises(MnistDataError, match="t10k-labels.*checksum"):
        load_mnist()


def test_failed_download_says_how_to_point_at_a_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty"))

    def offline():
        raise OSError("network unreachable")

    import keras.datasets.mnist

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(MnistDataError, match="MNIST_DATA"):
        load_mnist()


def test_encode_and_decode_round_trip(rng) -> None:
    spec = data.IdxFile("tiny", data.LABELS_MAGIC, 5, sha256="0" * 64)
    labels = rng.integers(0, 10, 5, dtype=np.uint8)
    decoded = data.decode_idx(data.encode_idx(labels, spec.magic), spec, name="tiny", verify=False)
    assert np.array_equal(decoded, labels)
