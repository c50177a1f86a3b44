"""Screening a submitted .keras model before and after Keras loads it.

A model file is the student's: its config may name layers that carry code, smuggle
arrays (weights fitted to the test set), reuse a layer hundreds of times or ask for
layers large enough to exhaust the grader. The config is screened inside the zip before
Keras sees it, the model loads in Keras safe mode without its training state, and what
Keras built is measured again before the grader runs it. Every refusal is an
:class:`autograder.artifacts.ArtifactError` with its kind (it chooses the hint).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autograder.artifacts import MAX_MODEL_BYTES, ArtifactError, read_bytes
from autograder.checks.hints import PROBLEM_PRIORITY, ProblemKind

if TYPE_CHECKING:
    import keras

MAX_MODEL_UNZIPPED_BYTES = 1024 * 2**20
#: A course model's config.json is a few kilobytes; read from the zip's header, so a
#: bigger one is refused before it is decompressed or parsed.
MAX_CONFIG_BYTES = 2**20
#: Numbers one list of a config may hold (shapes, kernel sizes and strides hold a few):
#: more is an array smuggled into the config, such as weights fitted to the test set.
MAX_CONFIG_NUMBERS = 32
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


#: Said of every refusal that protects the grader, so a student knows what to change.
MODEL_IS_THE_CAUSE = (
    "The model, not the grader, caused this; the course's models are far below this limit"
)
#: Config keys whose values are numbers the model carries, not layer sizes.
_ARRAY_MARKERS = {"__numpy__", "__tensor__", "__bytes__"}


def _walk_config(node: Any) -> list[tuple[ProblemKind, str]]:
    """Problems in a .keras config, each with its kind: layers that carry code or live
    outside Keras, arrays of numbers, layers used twice or far too large."""
    problems = []
    if isinstance(node, dict):
        class_name = node.get("class_name")
        module = node.get("module")
        if class_name in CUSTOM_CODE_LAYERS:
            problems.append(
                ("custom_layer", f"a {class_name} layer (it runs arbitrary Python code)")
            )
        elif isinstance(module, str) and module and not module.startswith("keras"):
            problems.append(
                (
                    "custom_layer",
                    f"{class_name} from module {module!r} (a custom, non-Keras object)",
                )
            )
        elif node.get("registered_name") not in (None, class_name):
            problems.append(("custom_layer", f"custom object {node.get('registered_name')!r}"))
        if class_name in _ARRAY_MARKERS:
            problems.append(("hand_set_weights", "an array of numbers stored in its config"))
        elif class_name == "Constant" and not _is_number((node.get("config") or {}).get("value")):
            problems.append(
                (
                    "hand_set_weights",
                    "a Constant initializer holding an array (weights set by hand)",
                )
            )
        inbound = node.get("inbound_nodes")
        if isinstance(inbound, list) and len(inbound) > 1:
            problems.append(
                (
                    "too_large",
                    f"layer {str(node.get('name') or class_name)[:60]!r} used {len(inbound)} "
                    "times (the grader accepts each layer or sub-model used once)",
                )
            )
        for key, limit in MAX_LAYER_SIZE.items():
            size = node.get(key)
            if isinstance(size, int) and size > limit:
                problems.append(("too_large", f"a layer with {key}={size} (more than {limit})"))
        for value in node.values():
            problems += _walk_config(value)
    elif isinstance(node, list):
        if _count_numbers(node) > MAX_CONFIG_NUMBERS:
            problems.append(
                (
                    "hand_set_weights",
                    f"a list of more than {MAX_CONFIG_NUMBERS} numbers in its config (an array "
                    "of weights or data, which a layer's settings never need)",
                )
            )
        for value in node:
            problems += _walk_config(value)
    return problems


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _count_numbers(node: list[Any]) -> int:
    """Numbers in a list of numbers (nested lists included); 0 for other lists."""
    count = 0
    for value in node:
        if isinstance(value, list):
            count += _count_numbers(value)
        elif _is_number(value):
            count += 1
    return count


def screen_model_file(data: bytes, name: str) -> dict[str, Any]:
    """Reject zip bombs, odd archives, configs with code or arrays, and models too big to
    build, before Keras sees them; the parsed config for the checks that follow."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ArtifactError(f"{name} is not a .keras archive") from None
    with archive:
        if sum(info.file_size for info in archive.infolist()) > MAX_MODEL_UNZIPPED_BYTES:
            raise ArtifactError(
                f"{name} unpacks to more than {MAX_MODEL_UNZIPPED_BYTES} bytes. "
                f"{MODEL_IS_THE_CAUSE}",
                "too_large",
            )
        try:
            size = archive.getinfo("config.json").file_size
        except KeyError:
            size = 0
        if size > MAX_CONFIG_BYTES:
            raise ArtifactError(
                f"{name} has a config.json of {size:,} bytes, over the grader's size limit "
                f"of {MAX_CONFIG_BYTES:,} bytes; it was not read. {MODEL_IS_THE_CAUSE} (a few "
                "kilobytes)",
                "too_large",
            )
        try:
            with archive.open("config.json") as member:
                raw = member.read(MAX_CONFIG_BYTES + 1)
            if len(raw) > MAX_CONFIG_BYTES:
                raise ValueError(f"it is over {MAX_CONFIG_BYTES:,} bytes")
            config = json.loads(raw)
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
        kinds = [kind for kind, _ in problems]
        raise ArtifactError(
            f"the model uses {'; '.join(text for _, text in problems)}. The grader loads "
            "models in Keras safe mode and accepts built-in Keras layers only (no Lambda or "
            "custom layers), each used once, with their settings but no arrays of numbers "
            "in the config",
            min(kinds, key=PROBLEM_PRIORITY.index),
        )
    parameters, activations = config_footprint(model_part)
    check_sizes(parameters, activations, before="it was built")
    return model_part


def _dims(shape: Any) -> list[int | None] | None:
    """A shape from a config without its batch axis (None when it is not a shape)."""
    if not isinstance(shape, list | tuple) or not shape:
        return None
    dims = list(shape[1:])
    if not all(d is None or (isinstance(d, int) and not isinstance(d, bool)) for d in dims):
        return None
    return dims


def _product(values: list[int | None]) -> int | None:
    total = 1
    for value in values:
        if value is None or value < 0:
            return None
        total *= value
    return total


def _tuple(value: Any, rank: int) -> list[int]:
    values = value if isinstance(value, list | tuple) else [value] * rank
    return [int(v) if _is_number(v) else 1 for v in values][:rank] or [1] * rank


def _spatial(dims: list[int | None], cfg: dict[str, Any], window_key: str) -> list[int | None]:
    """Output sizes of a convolution or pooling window over the spatial axes."""
    rank = len(dims) - 1
    window = _tuple(cfg.get(window_key), rank)
    strides = _tuple(cfg.get("strides") or window if window_key == "pool_size" else
                     cfg.get("strides", 1), rank)  # fmt: skip
    dilation = _tuple(cfg.get("dilation_rate", 1), rank)
    out: list[int | None] = []
    for size, k, s, d in zip(dims[:-1], window, strides, dilation, strict=False):
        if size is None:
            out.append(None)
        elif cfg.get("padding") == "same":
            out.append(-(-size // max(s, 1)))
        else:
            out.append(max(0, (size - (k - 1) * d - 1) // max(s, 1) + 1))
    return out


#: Layers whose output has the shape of their input.
_SAME_SHAPE = {
    "Activation", "ActivityRegularization", "AlphaDropout", "BatchNormalization", "Dropout",
    "ELU", "GaussianDropout", "GaussianNoise", "LayerNormalization", "LeakyReLU", "PReLU",
    "ReLU", "Rescaling", "Softmax", "SpatialDropout1D", "SpatialDropout2D", "UnitNormalization",
}  # fmt: skip


def _layer_footprint(
    class_name: str, cfg: dict[str, Any], dims: list[int | None] | None
) -> tuple[list[int | None] | None, int]:
    """Output shape (without the batch axis) and weights of one built-in layer, from its
    settings and input shape alone; (None, 0) for layers whose shape it does not know
    and for layers without an input shape (Keras builds nothing for those)."""
    channels = dims[-1] if dims else None
    bias = 1 if cfg.get("use_bias", True) else 0
    if class_name in ("Conv1D", "Conv2D", "Conv3D", "DepthwiseConv2D", "SeparableConv2D"):
        if dims is None or channels is None:  # not built: Keras allocates nothing
            return None, 0
        window = _product(_tuple(cfg.get("kernel_size"), len(dims) - 1)) or 0
        multiplier = int(cfg.get("depth_multiplier") or 1)
        groups = max(1, int(cfg.get("groups") or 1))
        filters = int(cfg.get("filters") or channels * multiplier)
        if class_name == "DepthwiseConv2D":
            weights = window * channels * multiplier + bias * channels * multiplier
        elif class_name == "SeparableConv2D":
            weights = window * channels * multiplier + channels * multiplier * filters
            weights += bias * filters
        else:
            weights = window * channels // groups * filters + bias * filters
        return [*_spatial(dims, cfg, "kernel_size"), filters], weights
    if class_name == "Dense":
        if channels is None or dims is None:
            return None, 0
        units = int(cfg.get("units") or 0)
        return [*dims[:-1], units], channels * units + bias * units
    if class_name == "Embedding":
        return None, int(cfg.get("input_dim") or 0) * int(cfg.get("output_dim") or 0)
    if dims is None:
        return None, 0
    if class_name in _SAME_SHAPE:
        weights = {"BatchNormalization": 4, "LayerNormalization": 2}.get(class_name, 0)
        weights *= channels or 0
        return dims, weights + (_product(dims) or 0 if class_name == "PReLU" else 0)
    if class_name in ("MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D"):
        return [*_spatial(dims, cfg, "pool_size"), channels], 0
    if class_name.startswith("Global") and class_name.endswith("Pooling2D"):
        return [channels], 0
    if class_name == "Flatten":
        return [_product(dims)], 0
    if class_name == "Reshape":
        return _dims([None, *(cfg.get("target_shape") or [])]), 0
    if class_name in ("UpSampling1D", "UpSampling2D"):
        size = _tuple(cfg.get("size", 2), len(dims) - 1)
        return [None if d is None else d * k for d, k in zip(dims, size, strict=False)] + [
            channels
        ], 0
    if class_name == "ZeroPadding2D":
        pad = cfg.get("padding", 1)
        pad = [pad, pad] if _is_number(pad) else list(pad)
        extra = [sum(_tuple(p, 2)) if isinstance(p, list) else 2 * int(p) for p in pad]
        sizes = [None if d is None else d + e for d, e in zip(dims, extra, strict=False)]
        return [*sizes, channels], 0
    return None, 0


def config_footprint(node: dict[str, Any], dims: list[int | None] | None = None) -> tuple[int, int]:
    """Weights and activation values per image of a model, worked out from its config
    alone (layer types, sizes and input shapes), so that nothing is built to count them.
    Layers of unknown type add nothing here; the judge's limits still hold for them."""
    class_name = node.get("class_name")
    cfg = node.get("config") if isinstance(node.get("config"), dict) else {}
    built = node.get("build_config")
    if isinstance(built, dict) and _dims(built.get("input_shape")) is not None:
        dims = _dims(built.get("input_shape"))  # what Keras builds the weights with
    if class_name in ("Sequential", "Functional", "Model"):
        weights = activations = 0
        names: dict[str, list[int | None] | None] = {}
        for layer in cfg.get("layers") or []:
            if not isinstance(layer, dict):
                continue
            layer_cfg = layer.get("config") if isinstance(layer.get("config"), dict) else {}
            if layer.get("class_name") == "InputLayer":
                dims = _dims(layer_cfg.get("batch_shape") or layer_cfg.get("batch_input_shape"))
            elif class_name != "Sequential":
                dims = _inbound_dims(layer, names)
            inner_weights, inner_activations, dims = _footprint_of(layer, dims)
            weights, activations = weights + inner_weights, activations + inner_activations
            names[str(layer.get("name") or layer_cfg.get("name"))] = dims
        return weights, activations
    weights, activations, _ = _footprint_of(node, dims)
    return weights, activations


def _inbound_dims(
    layer: dict[str, Any], names: dict[str, list[int | None] | None]
) -> list[int | None] | None:
    """The input shape of a functional model's layer: its first input's."""

    def first_history(node: Any) -> Any:
        if isinstance(node, dict):
            if node.get("class_name") == "__keras_tensor__":
                return node
            for value in node.values():
                found = first_history(value)
                if found is not None:
                    return found
        elif isinstance(node, list):
            for value in node:
                found = first_history(value)
                if found is not None:
                    return found
        return None

    tensor = first_history(layer.get("inbound_nodes"))
    if not isinstance(tensor, dict) or not isinstance(tensor.get("config"), dict):
        return None
    history = tensor["config"].get("keras_history")
    if isinstance(history, list) and history and str(history[0]) in names:
        return names[str(history[0])]
    return _dims(tensor["config"].get("shape"))


def _footprint_of(
    layer: dict[str, Any], dims: list[int | None] | None
) -> tuple[int, int, list[int | None] | None]:
    class_name = str(layer.get("class_name"))
    cfg = layer.get("config") if isinstance(layer.get("config"), dict) else {}
    built = layer.get("build_config")
    if isinstance(built, dict) and _dims(built.get("input_shape")) is not None:
        dims = _dims(built.get("input_shape"))
    if class_name in ("Sequential", "Functional", "Model"):
        weights, activations = config_footprint(layer, dims)
        return weights, activations, None
    if class_name == "InputLayer":
        return 0, 0, dims
    out, weights = _layer_footprint(class_name, cfg, dims)
    return weights, (_product(out) or 0) if out is not None else 0, out


def check_sizes(parameters: int, activations: int, *, before: str) -> None:
    """Refuse models too large to run safely in the grader (see the caps above)."""
    if parameters > MAX_PARAMETERS:
        raise ArtifactError(
            f"the model has {parameters:,} parameters, more than the grader runs "
            f"({MAX_PARAMETERS:,}); it was refused before {before}. {MODEL_IS_THE_CAUSE}",
            "too_large",
        )
    if activations > MAX_ACTIVATIONS_PER_IMAGE:
        raise ArtifactError(
            f"the model's layers output {activations:,} values per image, more than the "
            f"grader runs ({MAX_ACTIVATIONS_PER_IMAGE:,}); it was refused before {before}. "
            "Layers that enlarge images (UpSampling2D, Resizing, ZeroPadding2D) are not "
            f"needed for 28x28 digits. {MODEL_IS_THE_CAUSE}",
            "too_large",
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
    was never built: it cannot run at all then, and says so when evaluated). A layer
    counts once: Keras records extra nodes for a loaded Sequential model, and a layer
    really used twice was refused from the config already."""
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
    """Refuse loaded models too large to run safely (the config was checked already;
    this counts what Keras actually built)."""
    try:
        parameters = int(model.count_params())
    except ValueError:  # never built
        parameters = 0
    check_sizes(parameters, activations_per_image(model), before="it was run")
