"""mnist_course.tf_data: Keras' numpy datasets lose tf.data's autotune, and nothing else."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import numpy as np
from mnist_course import tf_data
tf_data.install_import_hook()
import keras
from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter
from mnist_course.tf_data import _MARK

x = np.arange(40, dtype="float32").reshape(20, 2)
y = np.arange(20)
def batches(shuffle):
    keras.utils.set_random_seed(7)
    adapter = ArrayDataAdapter(x, y, batch_size=6, shuffle=shuffle)
    dataset = adapter.get_tf_dataset()
    return dataset, [b[1].numpy().tolist() for b in dataset]

patched, shuffled = batches(True)
assert getattr(ArrayDataAdapter.get_tf_dataset, _MARK)
assert patched.options().autotune.enabled is False
_, ordered = batches(False)
assert ordered == [list(range(i, min(i + 6, 20))) for i in range(0, 20, 6)], ordered
ArrayDataAdapter.get_tf_dataset = ArrayDataAdapter.get_tf_dataset.__wrapped__
plain, plain_shuffled = batches(True)
assert plain.options().autotune.enabled is not False
assert plain_shuffled == shuffled, (plain_shuffled, shuffled)  # the same batches, same order
print("ok")
"""


def test_the_hook_turns_autotune_off_and_keeps_every_batch() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]
