"""Reading what the sandbox exported, trusting none of it.

Every file is opened without following links, must be a regular file under a size
cap, arrays load with ``allow_pickle=False`` and models with Keras safe mode after
their config has been screened for Lambda and custom layers. Anything else becomes
an :class:`ArtifactError` whose message ends up in a failed check.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import keras

MAX_MANIFEST_BYTES = 4 * 2**20
MAX_ARRAY_BYTES = 64 * 2**20
MAX_MODEL_BYTES = 256 * 2**20
MAX_MODEL_UNZIPPED_BYTES = 1024 * 2**20
CUSTOM_CODE_LAYERS = {"Lambda", "TFSMLayer"}
#: Layer sizes beyond these could only be meant to exhaust the grader's memory
#: (checked in the config, before Keras builds the weights).
MAX_LAYER_SIZE = {"units": 65536, "filters": 4096}
#: Once a model is loaded, and before the grader runs it: activation values per image,
#: summed over its layers, and parameters. The course's CNN has about 30,000 and
#: 100,000; layers such as UpSampling2D, Resizing or ZeroPadding2D can make one image
#: cost gigabytes and minutes in the trusted process, so anything beyond these
#: generous caps is refused.
MAX_ACTIVATIONS_PER_IMAGE = 2_000_000
MAX_PARAMETERS = 20_000_000


class ArtifactError(ValueError):
    """An exported file is missing, odd or unsafe; the message says which and why."""


def open_folder(path: Path) -> int:
    """A descriptor of the sandbox's export folder, which must be a real folder: a link
    there would make the grader judge files from anywhere."""
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        kind = "a link" if path.is_symlink() else exc.strerror
        raise ArtifactError(
            f"the results folder {path.name} is not a plain folder ({kind}); the notebook "
            "must leave the grader's files alone"
        ) from None


def read_bytes(path: Path | str, limit: int, *, folder: int | None = None) -> bytes:
    """Content of a regular file written by the sandbox, at most ``limit`` bytes.

    With ``folder`` (from :func:`open_folder`), ``path`` is a bare file name inside it."""
    name = str(path) if folder is not None else path.name
    if folder is not None and (os.path.basename(name) != name or name in ("", ".", "..")):
        raise ArtifactError(f"{name!r} is not a plain file name")
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
    except OSError as exc:
        raise ArtifactError(f"{name} was not exported ({exc.strerror})") from None
    info = os.fstat(handle)
    if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
        os.close(handle)
        if not stat.S_ISREG(info.st_mode):
            raise ArtifactError(f"{name} is not a regular file")
        raise ArtifactError(f"{name} is {info.st_size} bytes, over the {limit} limit")
    with os.fdopen(handle, "rb") as file:
        return file.read(limit + 1)[:limit]


def read_manifest(path: Path, *, folder: int | None = None) -> dict[str, Any]:
    """The harness's JSON manifest as a dict (ArtifactError when unusable)."""
    try:
        manifest = json.loads(read_bytes(path, MAX_MANIFEST_BYTES, folder=folder))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ArtifactError(
            f"the result manifest is not valid JSON ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None
    if not isinstance(manifest, dict):
        raise ArtifactError("the result manifest is not a JSON object")
    return manifest


def read_array(path: Path, *, folder: int | None = None) -> np.ndarray:
    """A numeric .npy array, never unpickled."""
    name = Path(path).name
    try:
        data = read_bytes(path, MAX_ARRAY_BYTES, folder=folder)
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        if isinstance(exc, ArtifactError):
            raise
        raise ArtifactError(f"{name} is not a plain numeric .npy array ({exc})") from None
    if not isinstance(array, np.ndarray) or not (
        np.issubdtype(array.dtype, np.number) or array.dtype == bool
    ):
        raise ArtifactError(f"{name} does not hold numbers")
    return array


def _walk_config(node: Any) -> list[str]:
    """Problems in a .keras config: layers that carry code or live outside Keras."""
    problems = []
    if isinstance(node, dict):
        class_name = node.get("class_name")
        module = node.get("module")
        if class_name in CUSTOM_CODE_LAYERS:
            problems.append(f"a {class_name} layer (it runs arbitrary Python code)")
        elif isinstance(module, str) and module and not module.startswith("keras"):
            problems.append(f"{class_name} from module {module!r} (a custom, non-Keras object)")
        elif node.get("registered_name") not in (None, class_name):
            problems.append(f"custom object {node.get('registered_name')!r}")
        for key, limit in MAX_LAYER_SIZE.items():
            size = node.get(key)
            if isinstance(size, int) and size > limit:
                problems.append(f"a layer with {key}={size} (more than {limit})")
        for value in node.values():
            problems += _walk_config(value)
    elif isinstance(node, list):
        for value in node:
            problems += _walk_config(value)
    return problems


def screen_model_file(data: bytes, name: str) -> None:
    """Reject zip bombs, odd archives and configs with code before Keras sees them."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ArtifactError(f"{name} is not a .keras archive") from None
    with archive:
        if sum(info.file_size for info in archive.infolist()) > MAX_MODEL_UNZIPPED_BYTES:
            raise ArtifactError(f"{name} unpacks to more than {MAX_MODEL_UNZIPPED_BYTES} bytes")
        try:
            config = json.loads(archive.read("config.json"))
        except Exception as exc:  # missing, bad zip member, bad or too deeply nested JSON
            raise ArtifactError(
                f"{name} has no readable config.json ({type(exc).__name__}: {str(exc)[:200]})"
            ) from None
    if not isinstance(config, dict):
        raise ArtifactError(f"{name} has no readable config.json (not a JSON object)")
    # The model only: compile_config (loss, optimizer) is not loaded (compile=False).
    model_part = {k: v for k, v in config.items() if k != "compile_config"}
    try:
        problems = sorted(set(_walk_config(model_part)))
    except RecursionError:
        raise ArtifactError(f"{name} has a config nested too deeply to check") from None
    if problems:
        raise ArtifactError(
            f"the model uses {'; '.join(problems)}. The grader loads models in Keras safe "
            "mode and accepts built-in Keras layers only (no Lambda or custom layers)"
        )


def load_model(path: Path, workdir: Path, *, folder: int | None = None) -> keras.Model:
    """A model saved by the sandbox, loaded in safe mode without its training state."""
    import keras

    path = Path(path)
    data = read_bytes(path, MAX_MODEL_BYTES, folder=folder)
    screen_model_file(data, path.name)
    copy = workdir / f"trusted-{path.name}"
    copy.write_bytes(data)
    try:
        model = keras.saving.load_model(copy, safe_mode=True, compile=False)
    except Exception as exc:  # Keras raises many types on bad files
        raise ArtifactError(
            f"the saved model could not be loaded in Keras safe mode "
            f"({type(exc).__name__}: {str(exc)[:300]}); use built-in Keras layers only"
        ) from None
    finally:
        copy.unlink(missing_ok=True)
    if not isinstance(model, keras.Model):
        raise ArtifactError(f"{path.name} does not hold a keras.Model")
    check_footprint(model)
    return model


def _all_layers(model: Any) -> list[Any]:
    layers = []
    for layer in getattr(model, "layers", None) or []:
        layers.append(layer)
        layers += _all_layers(layer)  # a model used as a layer runs its own layers too
    return layers


def activations_per_image(model: keras.Model) -> int:
    """Values every layer of ``model`` outputs for one image, summed (0 when the model
    was never built: it cannot run at all then, and says so when evaluated)."""
    import keras

    total = 0
    for layer in _all_layers(model):
        try:
            outputs = keras.tree.flatten(layer.output)
        except (AttributeError, ValueError, RuntimeError):
            continue
        for tensor in outputs:
            size = 1
            for dimension in tuple(tensor.shape)[1:]:
                if dimension is None:
                    raise ArtifactError(
                        f"layer {layer.name} has an output of unknown size {tuple(tensor.shape)}"
                    )
                size *= int(dimension)
            total += size
    return total


def check_footprint(model: keras.Model) -> None:
    """Refuse models too large to run safely in the grader (see the caps above)."""
    try:
        parameters = int(model.count_params())
    except ValueError:  # never built
        parameters = 0
    if parameters > MAX_PARAMETERS:
        raise ArtifactError(
            f"the model has {parameters:,} parameters, more than the grader runs "
            f"({MAX_PARAMETERS:,}); the course's models need far fewer"
        )
    activations = activations_per_image(model)
    if activations > MAX_ACTIVATIONS_PER_IMAGE:
        raise ArtifactError(
            f"the model's layers output {activations:,} values per image, more than the "
            f"grader runs ({MAX_ACTIVATIONS_PER_IMAGE:,}); layers that enlarge images "
            "(UpSampling2D, Resizing, ZeroPadding2D) are not needed for 28x28 digits"
        )


def remove_tree(path: Path) -> None:
    """Delete a scratch folder whatever its content (links are removed, not followed)."""
    shutil.rmtree(path, ignore_errors=True)
