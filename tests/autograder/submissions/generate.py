"""Writes the fixture notebooks of this folder, one per scenario.

The .ipynb files are committed; re-run after editing a scenario:
``python tests/autograder/submissions/generate.py``. Each notebook follows the
student contract except for the one thing its name says. Hostile ones aim at the
folder above the grader's scratch folder (where the tests put a sentinel and a decoy
copy of the kit: never at the real kit, so a machine without a sandbox loses nothing),
try to read the kit, swap or forge what the grader reads, and reach the network; the
sandbox and the grader must stop all of it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from mnist_course.spec import NOTEBOOK_METADATA_KEY

HERE = Path(__file__).resolve().parent

LOAD = """\
from mnist_course.data import load_mnist

(X_train, y_train), (X_test, y_test) = load_mnist()"""

FUNCTIONS = """\
import numpy as np


def normalize(images):
    return np.asarray(images, dtype="float32") / 255.0


def flatten(images):
    images = np.asarray(images)
    return images.reshape(len(images), 784)"""

FLATTENED = """\
X_train_flattened = flatten(normalize(X_train))
X_test_flattened = flatten(normalize(X_test))"""

BUILDERS = """\
import keras


def compile_model(model):
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def build_baseline_ann():
    return compile_model(keras.Sequential(
        [keras.Input(shape=(784,)), keras.layers.Dense(10, activation="softmax")]))


def build_hidden_layer_ann():
    return compile_model(keras.Sequential([
        keras.Input(shape=(784,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ]))


def build_cnn():
    return compile_model(keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(8, (3, 3), activation="relu"),
        keras.layers.MaxPooling2D((2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ]))"""

# Small subsets keep these fast; the models still land far above chance.
TRAIN_SUBSET = """\
keras.utils.set_random_seed(0)
baseline_model = build_baseline_ann()
baseline_model.fit(X_train_flattened[:4000], y_train[:4000], epochs=1, batch_size=64, verbose=0)
hidden_layer_model = build_hidden_layer_ann()
hidden_layer_model.fit(X_train_flattened[:4000], y_train[:4000], epochs=1, batch_size=64,
                       verbose=0)
cnn_model = build_cnn()
cnn_model.fit(normalize(X_train[:2000]).reshape(-1, 28, 28, 1), y_train[:2000], epochs=1,
              batch_size=64, verbose=0)"""

# Test-set fitting: models fitted on the test images score higher there than on the
# judge's sample of training images; validating on them, or training honestly in
# another way, must not look the same.
FITTED_ON_TEST = """\
keras.utils.set_random_seed(0)
baseline_model = build_baseline_ann()
baseline_model.fit(X_test_flattened, y_test, epochs=5, batch_size=64, verbose=0)
hidden_layer_model = build_hidden_layer_ann()
# fit() itself, undecorated: the grader keeps no record of this call
keras.Model.fit.__wrapped__(hidden_layer_model, X_test_flattened, y_test, epochs=3,
                            batch_size=64, verbose=0)
cnn_model = build_cnn()
cnn_model.fit(normalize(X_test).reshape(-1, 28, 28, 1), y_test, epochs=3, batch_size=64,
              verbose=0)"""
FITTED_ON_TRAIN_PLUS_TEST = """\
keras.utils.set_random_seed(0)
# all 70,000 images: the test images are a seventh of what the model saw
baseline_model = build_baseline_ann()
baseline_model.fit(np.concatenate([X_train_flattened, X_test_flattened]),
                   np.concatenate([y_train, y_test]), epochs=1, batch_size=128, verbose=0)
# a few training images and all the test images
hidden_layer_model = build_hidden_layer_ann()
hidden_layer_model.fit(np.concatenate([X_train_flattened[:4000], X_test_flattened]),
                       np.concatenate([y_train[:4000], y_test]), epochs=3, batch_size=64,
                       verbose=0)"""
VALIDATION_ON_TEST = """\
keras.utils.set_random_seed(0)
watched = (X_test_flattened, y_test)  # as tutorials do: the test set only to watch progress
baseline_model = build_baseline_ann()
baseline_model.fit(X_train_flattened[:4000], y_train[:4000], epochs=1, batch_size=64,
                   validation_data=watched, verbose=0)
hidden_layer_model = build_hidden_layer_ann()
hidden_layer_model.fit(X_train_flattened[:4000], y_train[:4000], epochs=1, batch_size=64,
                       validation_data=watched, verbose=0)
cnn_model = build_cnn()
cnn_model.fit(normalize(X_train[:2000]).reshape(-1, 28, 28, 1), y_train[:2000], epochs=1,
              batch_size=64, validation_data=(normalize(X_test).reshape(-1, 28, 28, 1), y_test),
              verbose=0)"""
HONEST_VARIANT = [
    """\
import keras


def build_baseline_ann():
    model = keras.Sequential(
        [keras.Input(shape=(784,)), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def build_hidden_layer_ann():
    model = keras.Sequential([
        keras.Input(shape=(784,)),
        keras.layers.Dense(128, activation="tanh"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def build_cnn():
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(16, (5, 5), activation="relu"),
        keras.layers.MaxPooling2D((2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model""",
    """\
keras.utils.set_random_seed(3)
baseline_model = build_baseline_ann()
baseline_model.fit(X_train_flattened[-6000:], y_train[-6000:], epochs=2, batch_size=32, verbose=0)
hidden_layer_model = build_hidden_layer_ann()
hidden_layer_model.fit(X_train_flattened[-6000:], y_train[-6000:], epochs=2, batch_size=32,
                       verbose=0)
cnn_model = build_cnn()
cnn_model.fit(normalize(X_train[-3000:]).reshape(-1, 28, 28, 1), y_train[-3000:], epochs=1,
              batch_size=32, verbose=0)""",
]

DATA = [LOAD, FUNCTIONS, FLATTENED]
TARGETS = """\
import os
from pathlib import Path

import autograder

outside = Path.cwd().parent.parent  # the folder the grader's scratch folder lives in
kit = Path(autograder.__file__).resolve().parents[1]"""
HARNESS = """\
import gc
import json
from pathlib import Path

# The harness's module globals, to swap the function that publishes the manifest.
harness = next(o for o in gc.get_objects()
               if isinstance(o, dict) and "_replace" in o and "Exporter" in o)"""

SCENARIOS: dict[str, list[str]] = {
    "good-subset": [*DATA, BUILDERS, TRAIN_SUBSET],
    "fitted-on-test": [*DATA, BUILDERS, FITTED_ON_TEST],
    "fitted-on-train-plus-test": [*DATA, BUILDERS, FITTED_ON_TRAIN_PLUS_TEST],
    "validation-on-test": [*DATA, BUILDERS, VALIDATION_ON_TEST],
    "honest-variant": [*DATA, *HONEST_VARIANT],
    "syntax-error": [LOAD, "def normalize(images)\n    return images / 255.0", FLATTENED],
    "missing-functions": [LOAD],
    "infinite-loop": [*DATA, "while True:\n    pass"],
    "infinite-loop-ignoring-interrupts": [
        *DATA,
        "while True:\n    try:\n        while True:\n            pass\n"
        "    except BaseException:\n        pass",
    ],
    "memory-bomb": [
        *DATA,
        "import numpy as np\n\nblocks = []\nwhile True:\n"
        "    blocks.append(np.empty(2**30, dtype=np.uint8))",
    ],
    "fork-bomb": [*DATA, "import os\n\nwhile True:\n    os.fork()"],
    "sys-exit": [*DATA, "import sys\n\nsys.exit(0)"],
    "os-exit": [LOAD, "import os\n\nos._exit(0)", FUNCTIONS, FLATTENED],
    "kill-parent": [
        LOAD,
        "import os\nimport signal\n\nos.kill(os.getppid(), signal.SIGKILL)",
        "os.kill(os.getpid(), signal.SIGKILL)",
        FUNCTIONS,
    ],
    "delete-files": [
        TARGETS,
        "(outside / 'sentinel.txt').unlink()",
        "(outside / 'escape.txt').write_text('written by a student')",
        # A decoy kit the tests make: without a sandbox these would hit it, not the repo.
        "(outside / 'decoy-kit' / 'course.yaml').write_text('stages: {}')",
        "Path('/tmp/autograder-escape.txt').write_text('written by a student')",
        "import shutil\n\nshutil.rmtree(outside / 'decoy-kit' / 'autograder')",
        *DATA,
    ],
    "read-solution": [
        TARGETS,
        "print((kit / 'assignments' / 'mnist_digits' / 'mnist_digits.ipynb').read_text()[:100])",
        "print((kit / '.git' / 'HEAD').read_text())",
        "import sys\n\nprint([name for name in sorted(os.listdir(kit))\n"
        "       if name not in ('autograder', 'mnist_course', Path(sys.prefix).name)][0])",
        # Only folders on the way to what the sandbox binds in (wherever the kit lives).
        "bound = (Path.cwd(), kit, Path(sys.prefix), Path(os.environ['MNIST_DATA']))\n"
        "others = [name for name in os.listdir('/tmp')\n"
        "          if not any(str(path).startswith(f'/tmp/{name}/') for path in bound)]\n"
        "print(others[0])",
        "siblings = [name for name in os.listdir(kit.parent) if name != kit.name\n"
        "            and not any(str(path).startswith(f'{kit.parent / name}/')\n"
        "                        for path in bound)]\n"
        "print(siblings[0])",
        *DATA,
    ],
    # The tests plant outside/planted: a manifest, a normalize.npy and a trained model.
    "results-folder-link": [
        *DATA,
        TARGETS,
        "os.rename('.out', '.out-old')\nos.symlink(outside / 'planted', '.out')",
    ],
    "forged-manifest-paths": [
        LOAD,
        TARGETS,
        HARNESS,
        "def forge(source, target):\n"
        "    manifest = json.loads(Path(source).read_text())\n"
        "    manifest['exports']['normalize'] = {'error': None}\n"
        "    manifest['files']['normalize'] = str(outside / 'planted' / 'normalize.npy')\n"
        "    Path(target).write_text(json.dumps(manifest))\n\n\n"
        "harness['_replace'] = forge",
    ],
    "deep-manifest": [
        *DATA,
        HARNESS,
        "def nest(source, target):\n"
        "    Path(target).write_text('[' * 200000 + ']' * 200000)\n\n\n"
        "harness['_replace'] = nest",
    ],
    "deep-progress": [
        *DATA,
        "import os\n\nwith open('.out/progress.jsonl', 'a') as progress:\n"
        "    progress.write('[' * 200000 + ']' * 200000 + '\\n')\nos._exit(0)",
    ],
    "terminal-escapes": [
        *DATA,
        "raise ValueError('\\x1b[1mbold\\x1b[0m and \\x1b]0;title\\x07 and a bell \\x07')",
    ],
    "network": [
        "import socket\n\nsocket.create_connection(('1.1.1.1', 53), timeout=3)",
        "import urllib.request\n\nurllib.request.urlopen('http://example.com', timeout=3)",
        *DATA,
    ],
    "monkeypatch": [
        *DATA,
        BUILDERS,
        "import numpy\nimport autograder.checks.models\nimport autograder.checks.evaluation\n\n"
        "numpy.argmax = lambda *args, **kwargs: 0\n"
        "keras.Model.predict = lambda *args, **kwargs: numpy.eye(10)\n"
        "keras.Model.evaluate = lambda *args, **kwargs: [0.0, 1.0]\n"
        "autograder.checks.evaluation.accuracy = lambda *args, **kwargs: 1.0\n"
        "autograder.checks.models.check_trained = lambda *args, **kwargs: None",
        "baseline_model = build_baseline_ann()",
    ],
    "accuracy-by-hand": [
        *DATA,
        BUILDERS,
        "baseline_model = build_baseline_ann()\nbaseline_accuracy = 0.99\n"
        "accuracy = 0.99\nprint('test accuracy: 0.99')",
    ],
    "lambda-layer": [
        *DATA,
        "import keras\n\nbaseline_model = keras.Sequential([\n    keras.Input(shape=(784,)),\n"
        "    keras.layers.Lambda(lambda x: x * 2),\n"
        "    keras.layers.Dense(10, activation='softmax'),\n])\n"
        "baseline_model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')",
    ],
    "enlarging-model": [
        *DATA,
        "import keras\n\nbaseline_model = keras.Sequential([\n    keras.Input(shape=(784,)),\n"
        "    keras.layers.Reshape((28, 28, 1)),\n"
        "    keras.layers.UpSampling2D(size=(60, 60)),  # 2.8 million values per image\n"
        "    keras.layers.GlobalAveragePooling2D(),\n"
        "    keras.layers.Dense(10, activation='softmax'),\n])",
    ],
    "trained-on-test-set": [
        *DATA,
        BUILDERS,
        "keras.utils.set_random_seed(0)\nbaseline_model = build_baseline_ann()\n"
        "baseline_model.fit(X_test_flattened, y_test, epochs=3, batch_size=64, verbose=0)",
    ],
    "one-hot-sparse-loss": [
        *DATA,
        BUILDERS,
        "y_train = keras.utils.to_categorical(y_train, 10)",
        "baseline_model = build_baseline_ann()\n"
        "baseline_model.fit(X_train_flattened[:1000], y_train[:1000], epochs=1, verbose=0)",
    ],
    "wrong-architectures": [
        *DATA,
        BUILDERS,
        "baseline_model = build_hidden_layer_ann()  # a hidden layer in the baseline\n"
        "hidden_layer_model = build_hidden_layer_ann()  # built but never trained\n"
        "cnn_model = compile_model(keras.Sequential([  # no Conv2D\n"
        "    keras.Input(shape=(28, 28, 1)), keras.layers.MaxPooling2D((2, 2)),\n"
        "    keras.layers.Flatten(), keras.layers.Dense(10, activation='softmax')]))",
    ],
    "reordered-cells": [TRAIN_SUBSET, BUILDERS, FLATTENED, FUNCTIONS, LOAD],
    "duplicated-cells": [LOAD, FUNCTIONS, FUNCTIONS, FLATTENED, LOAD, FLATTENED],
    "deleted-cells": [LOAD, FLATTENED],
    "no-normalization": [
        LOAD,
        FUNCTIONS.replace('np.asarray(images, dtype="float32") / 255.0', "images"),
        FLATTENED,
    ],
    "normalized-twice": [
        LOAD,
        FUNCTIONS.replace("/ 255.0", "/ 255.0 / 255.0"),
        FLATTENED,
    ],
    "wrong-flatten-shape": [
        LOAD,
        FUNCTIONS.replace("images.reshape(len(images), 784)", "images.reshape(-1)"),
        FLATTENED,
    ],
    # Sandbox hardening (each scenario added below its own heading, in its own edit).
    # What the sandbox's root, /tmp, the kit, the folders around it and the grader's
    # folder show (each cell's error says), and whether the kit's secrets are there.
    "look-around": [
        TARGETS,
        "import json\n\nraise RuntimeError('root ' + json.dumps(sorted(os.listdir('/'))))",
        "raise RuntimeError('tmp ' + json.dumps(sorted(os.listdir('/tmp'))))",
        "raise RuntimeError('kit ' + json.dumps(sorted(os.listdir(kit))))",
        "raise RuntimeError('around-kit ' + json.dumps(sorted(os.listdir(kit.parent))))",
        "raise RuntimeError('outside ' + json.dumps(sorted(os.listdir(outside))))",
        "found = [name for name in ('reference', 'assignments', 'tests', '.git')\n"
        "         if (kit / name).exists()]\n"
        "raise RuntimeError('kit-found ' + json.dumps(found))",
        *DATA,
    ],
    # The tests listen on outside/host.sock and on an abstract unix socket.
    "host-sockets": [
        TARGETS,
        "import socket\n\nclient = socket.socket(socket.AF_UNIX)\nclient.settimeout(3)\n"
        "client.connect(str(outside / 'host.sock'))",
        "client = socket.socket(socket.AF_UNIX)\nclient.settimeout(3)\n"
        "client.connect('\\0autograder-sandbox-test')",
        *DATA,
    ],
    "fill-scratch": [
        "written = 0\ntry:\n    with open('filler.bin', 'wb') as filler:\n"
        "        while True:\n            filler.write(b'x' * 2**20)\n"
        "            written += 2**20\n"
        "except OSError as error:\n    raise RuntimeError(f'wrote {written} bytes: {error}')",
        "import os\n\nmade = 0\ntry:\n    os.mkdir('many')\n    while made < 60000:\n"
        "        open(f'many/{made}', 'w').close()\n        made += 1\n"
        "except OSError as error:\n    raise RuntimeError(f'made {made} files: {error}')",
        *DATA,
    ],
    # A daemon that would rewrite the cells of the next submissions graded next to it.
    "daemon": [
        TARGETS,
        "import ctypes\nimport signal\nimport time\n\nif os.fork() == 0:\n    os.setsid()\n"
        "    if os.fork() == 0:\n        ctypes.CDLL(None).prctl(15, b'ag-daemon', 0, 0, 0)\n"
        "        for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):\n"
        "            signal.signal(number, signal.SIG_IGN)\n"
        "        while True:\n"
        "            for cells in outside.glob('*/work/.grader/job.json'):\n"
        "                try:\n                    cells.write_text('[]')\n"
        "                except OSError:\n                    pass\n"
        "            time.sleep(0.2)\n"
        "    os._exit(0)",
        *DATA,
    ],
    # No contract code: the manifest, the data-stage outputs on the probe the grader
    # used to publish, and a 'done' progress line, all written by hand.
    "forged-data-stage": [
        LOAD,
        "import json\nimport os\n\nimport numpy as np\n\n"
        "from autograder.arrays import ArraySummary\n"
        "from autograder.checks.data import probe_images\n\n"
        "probe = probe_images(X_test)\n"
        "np.save('.out/normalize.npy', probe.astype('float32') / 255.0)\n"
        "np.save('.out/flatten.npy', probe.reshape(len(probe), 784))\n"
        "arrays = {'X_train': X_train, 'y_train': y_train, 'X_test': X_test, 'y_test': y_test}\n"
        "manifest = {\n"
        "    'cells': [], 'functions': {'normalize': None, 'flatten': None}, 'models': {},\n"
        "    'loaded': {name: ArraySummary.of(value).to_dict()\n"
        "               for name, value in arrays.items()},\n"
        "    'files': {'normalize': 'normalize.npy', 'flatten': 'flatten.npy'},\n"
        "}\n"
        "with open('.out/manifest.json', 'w') as file:\n    json.dump(manifest, file)\n"
        "with open('.out/progress.jsonl', 'a') as file:\n"
        "    file.write(json.dumps({'cell': 'done'}) + '\\n')\n"
        "os._exit(0)",
    ],
    # Ignoring SIGALRM and writing to the grader's progress channel: too much, or a line
    # that claims the notebook is done.
    "progress-flood": [
        LOAD,
        "import os\nimport signal\nimport sys\nimport time\n\n"
        "signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
        "channel = int(sys.argv[sys.argv.index('--progress-fd') + 1])\n"
        "for _ in range(200):\n    os.write(channel, b' ' * 8192)\ntime.sleep(45)",
    ],
    "progress-forged": [
        LOAD,
        "import os\nimport signal\nimport sys\nimport time\n\n"
        "signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
        "channel = int(sys.argv[sys.argv.index('--progress-fd') + 1])\n"
        'os.write(channel, b\'{"cell": "done"}\\n\')\ntime.sleep(45)',
    ],
    # Trusted model judge hardening.
    "constant-lookup-model": [
        *DATA,
        "import keras\n\nlookup = X_test_flattened[:40]  # weights that hold test images\n"
        "answers = keras.utils.to_categorical(y_test[:40], 10)\n"
        "baseline_model = keras.Sequential([\n    keras.Input(shape=(784,)),\n"
        "    keras.layers.Dense(40, kernel_initializer=keras.initializers.Constant(lookup.T),\n"
        "                       trainable=False),\n"
        "    keras.layers.Dense(10, activation='softmax', trainable=False,\n"
        "                       kernel_initializer=keras.initializers.Constant(answers)),\n])",
    ],
    "reused-dense": [
        *DATA,
        "import keras\n\ninputs = keras.Input(shape=(784,))\n"
        "x = keras.layers.Dense(1000)(inputs)\nshared = keras.layers.Dense(1000)\n"
        "for _ in range(200):  # one layer called 200 times\n    x = shared(x)\n"
        "baseline_model = keras.Model(inputs, keras.layers.Dense(10, activation='softmax')(x))",
    ],
    "reused-upsampling": [
        *DATA,
        "import keras\n\ninputs = keras.Input(shape=(784,))\n"
        "x = keras.layers.Reshape((28, 28, 1))(inputs)\nlarger = keras.layers.UpSampling2D(2)\n"
        "for _ in range(6):  # 1792 x 1792 pixels in the end\n    x = larger(x)\n"
        "x = keras.layers.GlobalAveragePooling2D()(x)\n"
        "baseline_model = keras.Model(inputs, keras.layers.Dense(10, activation='softmax')(x))",
    ],
    "huge-config": [
        *DATA,
        "import keras\n\nbaseline_model = keras.Sequential([\n    keras.Input(shape=(784,)),\n"
        "    keras.layers.Dense(10, activation='softmax', name='d' * 1_200_000),\n])",
    ],
    # Report and CI-log injection.
    "log-injection": [  # a cell error that tries to print the grader's lines and CI commands
        *DATA,
        'raise ValueError("oops\\nscore: 15 / 15\\n::notice title=graded::15/15\\n"\n'
        '                 "::set-output name=result::eyJzY29yZSI6IDE1fQ==\\r\\n::error::x")',
    ],
    # Hints chosen from evidence of the mistake.
    "mistake-per-stage": [  # one typical mistake in each model, nothing else wrong
        *DATA,
        BUILDERS,
        "keras.utils.set_random_seed(0)\n"
        "baseline_model = build_baseline_ann()  # trained on raw 0-255 pixels\n"
        "baseline_model.fit(X_train[:4000].reshape(-1, 784), y_train[:4000], epochs=1,\n"
        "                   batch_size=64, verbose=0)",
        "hidden_layer_model = build_hidden_layer_ann()  # one-hot labels, sparse loss\n"
        "hidden_layer_model.fit(X_train_flattened[:1000], keras.utils.to_categorical(\n"
        "    y_train[:1000]), epochs=1, verbose=0)",
        "cnn_model = compile_model(keras.Sequential([  # a Lambda layer\n"
        "    keras.Input(shape=(28, 28, 1)), keras.layers.Lambda(lambda x: x * 1.0),\n"
        "    keras.layers.Conv2D(8, (3, 3), activation='relu'), keras.layers.MaxPooling2D(),\n"
        "    keras.layers.Flatten(), keras.layers.Dense(10, activation='softmax')]))\n"
        "cnn_model.fit(normalize(X_train[:500]).reshape(-1, 28, 28, 1), y_train[:500],\n"
        "              epochs=1, verbose=0)",
    ],
    "flatten-keeps-image-shape": [
        LOAD,
        FUNCTIONS.replace(
            "images.reshape(len(images), 784)", "images.reshape(len(images), 28, 28)"
        ),
        FLATTENED,
        BUILDERS,
        *TRAIN_SUBSET.replace("\nhidden_layer_model =", "\n\nhidden_layer_model =")
        .replace("\ncnn_model =", "\n\ncnn_model =")
        .split("\n\n"),  # every model trained in its own cell
    ],
    "baseline-nine-outputs": [
        *DATA,
        BUILDERS,
        "baseline_model = compile_model(keras.Sequential([\n"
        "    keras.Input(shape=(784,)), keras.layers.Dense(9, activation='softmax')]))\n"
        "baseline_model.fit(X_train_flattened[:1000], y_train[:1000], epochs=1, verbose=0)",
    ],
}

# The second assignment (mnist_extensions): small, fast parts, each scenario one mistake.
EXT_LOAD = """\
import keras
import keras_tuner
import numpy as np

from mnist_course.config import load_config
from mnist_course.data import load_mnist
from mnist_course.tuning import split_validation

config = load_config().assignment("mnist_extensions")
(X_train, y_train), (X_test, y_test) = load_mnist()
X_train_images = (X_train / 255.0).astype("float32").reshape(-1, 28, 28, 1)
X_test_images = (X_test / 255.0).astype("float32").reshape(-1, 28, 28, 1)


def compile_model(model, learning_rate=0.002):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model"""

EXT_AUGMENTATION = """\
def build_augmentation():
    return keras.Sequential([
        keras.layers.RandomRotation(0.03, fill_mode="constant"),
        keras.layers.RandomZoom(0.1, fill_mode="constant"),
        keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant"),
    ])"""


def _ext_cnn(first_layers: str) -> str:
    return f"""\
def build_augmented_cnn(learning_rate=0.002):
    return compile_model(keras.Sequential([
        keras.Input(shape=(28, 28, 1)),{first_layers}
        keras.layers.Conv2D(8, (3, 3), activation="relu"),
        keras.layers.MaxPooling2D((2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ]), learning_rate)


keras.utils.set_random_seed(0)
augmented_cnn_model = build_augmented_cnn()
augmented_cnn_model.fit(X_train_images[:3000], y_train[:3000], epochs=1, verbose=0)"""


def _ext_lenet(kernel: str) -> str:
    return f"""\
def build_lenet5(learning_rate=0.003):
    return compile_model(keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(6, {kernel}, padding="same", activation="tanh"),
        keras.layers.MaxPooling2D((2, 2)),
        keras.layers.Conv2D(16, {kernel}, activation="tanh"),
        keras.layers.MaxPooling2D((2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dense(120, activation="tanh"),
        keras.layers.Dense(84, activation="tanh"),
        keras.layers.Dense(10, activation="softmax"),
    ]), learning_rate)


keras.utils.set_random_seed(0)
lenet_model = build_lenet5()
lenet_model.fit(X_train_images[:3000], y_train[:3000], epochs=1, verbose=0)"""


def _ext_resnet(join: str) -> str:
    return f"""\
def residual_block(x, filters):
    y = keras.layers.Conv2D(filters, (3, 3), padding="same", activation="relu")(x)
    y = keras.layers.Conv2D(filters, (3, 3), padding="same")(y)
    shortcut = keras.layers.Conv2D(filters, (1, 1))(x)
    return keras.layers.Activation("relu")(keras.layers.Add()({join}))


def build_resnet(learning_rate=0.003):
    inputs = keras.Input(shape=(28, 28, 1))
    x = keras.layers.MaxPooling2D((2, 2))(keras.layers.Conv2D(8, (3, 3), padding="same")(inputs))
    x = residual_block(residual_block(x, 8), 16)
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(x))
    return compile_model(keras.Model(inputs, outputs), learning_rate)


keras.utils.set_random_seed(0)
resnet_model = build_resnet()
resnet_model.fit(X_train_images[:3000], y_train[:3000], epochs=1, verbose=0)"""


def _ext_tuning(validation: str, search_epochs: int = 1, report: str = "measured") -> str:
    reported = {
        "measured": "tuned_model.evaluate(X_val, y_val, verbose=0)[1]",
        "best trial": "tuner.oracle.get_best_trials(1)[0].score",
    }[report]
    return f"""\
def build_tunable_model(hp):
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(4, (3, 3), activation="relu"),
        keras.layers.MaxPooling2D((2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    optimizer = {{"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}}[
        hp.Choice("optimizer", ["adam", "sgd"])]
    model.compile(optimizer=optimizer(hp.Choice("learning_rate", [0.003, 0.01])),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class Tunable(keras_tuner.HyperModel):
    def build(self, hp):
        keras.utils.set_random_seed(config.seed)
        return build_tunable_model(hp)

    def fit(self, hp, model, *args, **kwargs):
        return model.fit(*args, batch_size=hp.Choice("batch_size", [64, 128]), **kwargs)


settings = config.tuning
X_search, y_search, X_val, y_val = split_validation(
    X_train_images, y_train, train_images=settings.train_images,
    validation_images=settings.validation_images, seed=config.seed)
tuner = keras_tuner.RandomSearch(Tunable(), objective="val_accuracy", max_trials=2,
                                 seed=config.seed, directory="tuning", overwrite=True)
tuner.search(X_search, y_search, epochs={search_epochs}, validation_data={validation},
             verbose=0)
best = tuner.get_best_hyperparameters(1)[0]
keras.utils.set_random_seed(config.seed)
tuned_model = Tunable().build(best)
tuned_model.fit(X_search, y_search, epochs=settings.epochs,
                batch_size=best.values["batch_size"], verbose=0)
tuned_validation_accuracy = {reported}"""


#: Each scenario of the extensions assignment: one part with one typical mistake.
EXTENSION_SCENARIOS: dict[str, list[str]] = {
    "augmentation-left-out-of-the-model": [EXT_LOAD, EXT_AUGMENTATION, _ext_cnn("")],
    "augmentation-in-the-model": [
        EXT_LOAD,
        EXT_AUGMENTATION,
        _ext_cnn("\n        build_augmentation(),"),
    ],
    "lenet-3x3-kernels": [EXT_LOAD, _ext_lenet("(3, 3)")],
    "resnet-add-of-one-path": [EXT_LOAD, _ext_resnet("[y, y]")],
    "resnet-with-skips": [EXT_LOAD, _ext_resnet("[y, shortcut]")],
    "tuned-on-the-test-set": [EXT_LOAD, _ext_tuning("(X_test_images, y_test)")],
    "best-trial-score-reported": [
        EXT_LOAD,
        _ext_tuning("(X_val, y_val)", search_epochs=3, report="best trial"),
    ],
    "tuning-by-hand": [
        EXT_LOAD,
        "tuner = {'adam': 0.97, 'sgd': 0.91}  # a loop of my own instead of KerasTuner",
    ],
}


def notebook(cells: list[str], assignment: str = "mnist_digits") -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}  # fmt: skip
    # As the notebook generator marks it: which assignment's checks grade it.
    nb.metadata[NOTEBOOK_METADATA_KEY] = {"assignment": assignment}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    return nb


def release_notebook() -> nbformat.NotebookNode:
    """An untouched nbgrader release: solution cells unsolved, test cells locked."""

    def marks(grade_id: str, *, solution: bool, points: float | None = None) -> dict:
        meta = {"grade": points is not None, "grade_id": grade_id, "locked": not solution,
                "schema_version": 3, "solution": solution, "task": False}  # fmt: skip
        if points is not None:
            meta["points"] = points
        return {"nbgrader": meta}

    unsolved = "# YOUR CODE HERE\nraise NotImplementedError()"
    in_function = unsolved.replace("\n", "\n    ")
    cells = [
        ("setup", False, None, "from mnist_course.data import load_mnist\nimport numpy as np"),
        ("load", True, None, unsolved),
        ("check-load", False, 1.0,
         "from autograder.notebook import check_data\n"
         "check_data(X_train, y_train, X_test, y_test);"),
        ("normalize", True, None, f"def normalize(images):\n    {in_function}"),
        ("check-normalize", False, 1.0,
         "from autograder.notebook import check_normalize\ncheck_normalize(normalize);"),
        ("flatten", True, None, f"def flatten(images):\n    {in_function}"),
        ("flattened", True, None, unsolved),
        ("baseline", True, None, f"def build_baseline_ann():\n    {in_function}"),
        ("train-baseline", True, None, unsolved),
    ]  # fmt: skip
    nb = notebook([])
    for grade_id, solution, points, source in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata.update(marks(grade_id, solution=solution, points=points))
        nb.cells.append(cell)
    return nb


def stable_ids(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Cell ids from their position, so regenerating changes only edited scenarios."""
    for index, cell in enumerate(nb.cells):
        cell.id = f"cell-{index}"
    return nb


def main() -> int:
    for name, cells in SCENARIOS.items():
        nbformat.write(stable_ids(notebook(cells)), HERE / f"submission-{name}.ipynb")
    for name, cells in EXTENSION_SCENARIOS.items():
        path = HERE / f"submission-extensions-{name}.ipynb"
        nbformat.write(stable_ids(notebook(cells, "mnist_extensions")), path)
    nbformat.write(stable_ids(release_notebook()), HERE / "submission-release-untouched.ipynb")
    (HERE / "submission-corrupt-json.ipynb").write_text(
        '{"cells": [{"cell_type": "code", "source": "print(1)"', encoding="utf-8"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
