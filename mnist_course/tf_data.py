"""Keras' numpy-array inputs without tf.data's autotune: no stall at epoch boundaries.

When ``fit()`` gets numpy arrays, Keras wraps them in a tf.data pipeline
(``ArrayDataAdapter``) and drops its iterator at the end of every epoch. Dropping it
joins tf.data's autotune thread (``RootDataset::Iterator::~Iterator`` waiting on
``Model::OptimizeLoop``), which sleeps in a timed wait: the training loop stands still
for up to seconds per epoch. Autotune only picks parallelism and buffer sizes; with it
off the pipeline yields the same batches in the same order, so a model trains exactly
as before, only without the waits.

:func:`disable_numpy_autotune` patches Keras now (the reference calls it);
:func:`install_import_hook` does it when Keras' adapter is first imported, so the
sandbox can call it before student code without importing TensorFlow itself.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

ADAPTER_MODULE = "keras.src.trainers.data_adapters.array_data_adapter"
_MARK = "_autograder_autotune_off"


def _patch(module: ModuleType) -> None:
    adapter = module.ArrayDataAdapter
    original = adapter.get_tf_dataset
    if getattr(original, _MARK, False):
        return

    @functools.wraps(original)
    def get_tf_dataset(self):  # noqa: ANN001, ANN202 - Keras' own signature
        import tensorflow as tf

        options = tf.data.Options()
        options.autotune.enabled = False
        return original(self).with_options(options)

    setattr(get_tf_dataset, _MARK, True)
    adapter.get_tf_dataset = get_tf_dataset


def disable_numpy_autotune() -> bool:
    """Switch autotune off for the datasets Keras builds from numpy arrays; False when
    this Keras has no such adapter (then nothing changes)."""
    try:
        module = importlib.import_module(ADAPTER_MODULE)
    except ImportError:
        return False
    _patch(module)
    return True


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself; wraps the loader of Keras' adapter so it is patched once run."""

    def find_spec(self, name, path, target=None):  # noqa: ANN001, ANN201 - importlib's API
        if name != ADAPTER_MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        run = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            _patch(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install_import_hook() -> None:
    """Patch Keras' adapter when it is first imported (at once if it already is)."""
    if ADAPTER_MODULE in sys.modules:
        _patch(sys.modules[ADAPTER_MODULE])
    elif not any(isinstance(finder, _PatchOnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport())
