"""Re-initializing Keras variables: the catalogue, each layer's own initializer, custom ones, seeded draws."""

from __future__ import annotations

import contextlib
import inspect
import random
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np
from keras.src.backend.common import global_state

from ..._errors import ActionError
from ...initializers import NEEDS_MATRIX, foreign
from ...tree import ModelIndex, TensorEntry
from .. import InitSpec, ReinitResult, split_writable
from .backend import BACKEND
from .paths import own_variables
from .values import assign, not_writable

# Variable name -> attribute of its layer holding the initializer, where it is not "<name>_initializer".
_INITIALIZER_ATTRS = {
    "recurrent_kernel": "recurrent_initializer",
    "depthwise_kernel": "depthwise_initializer",
    "pointwise_kernel": "pointwise_initializer",
}


# Variables of built-in layers that have an initializer named after them.
_OTHER_VARIABLES = frozenset({"bias", "beta", "gamma", "moving_mean", "moving_variance", "embeddings", "recurrent"})


def reinit(index: ModelIndex, target: str, entries: list[TensorEntry], init: InitSpec,
           seed: int | None) -> ReinitResult:
    """Each variable in the model's own order (`weights`), drawn as Keras draws a fresh one: an initializer
    made now takes its seed from Python's `random` (`keras.random.make_default_seed`), so `seed=s` gives what
    `keras.utils.set_random_seed(s)` and the same loop give. A seed the user gave an initializer is kept."""
    result = ReinitResult()
    if init.name == "default" and init.custom is None and target in index.blocks:
        entries = _with_statistics(index, target, entries)  # a fresh layer has fresh moving statistics too
    ready = split_writable(entries, not_writable, result)
    with _seeded_globals(seed):
        for entry in ready:
            var = entry.obj
            if init.custom is not None:
                assign(var, _call_initializer(_fresh(init.custom), var), entry.path, init.name)
                result.changed.append(entry.path)
                continue
            if init.name == "default":
                initializer, why = _default_initializer(index.blocks[entry.owner].obj, entry.name)
                initializer = _fresh(initializer)
            else:  # made here, one per variable, as a user's loop makes them
                why = _catalogue_refusal(entry, init.name)
                initializer = None if why else _catalogue(init.name, init.args)
            if why:
                result.skipped.append({"path": entry.path, "reason": why})
                continue
            assign(var, _call_initializer(initializer, var), entry.path, init.name)
            result.changed.append(entry.path)
    return result


def _with_statistics(index: ModelIndex, target: str, params: list[TensorEntry]) -> list[TensorEntry]:
    """`params` and the running statistics under `target`, each once, in the model's own order."""
    wanted = {id(e.obj) for e in params}
    found: dict[int, TensorEntry] = {}
    for entry in index.subtree_tensors(target):
        if entry.kind == "buffer" or id(entry.obj) in wanted:
            found.setdefault(id(entry.obj), entry)
    return list(found.values())


def is_initializer(obj: Any) -> bool:
    """A Keras initializer (instance, or a subclass such as the chapter's MyInit) or a function that takes
    `(shape, dtype=...)` (or `shape` alone). Builtins, layers, tensors and other frameworks' objects never."""
    base = keras.initializers.Initializer
    if isinstance(obj, base):
        return True
    if isinstance(obj, type):
        return issubclass(obj, base) and obj is not base
    if isinstance(obj, (keras.layers.Layer, keras.Variable, np.ndarray)) or keras.ops.is_tensor(obj):
        return False
    if inspect.isbuiltin(obj) or inspect.ismodule(obj) or not callable(obj) or foreign(obj, "keras"):
        return False
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return False
    params = list(sig.parameters.values())
    if len(params) == 1 and params[0].name == "shape" and params[0].kind != params[0].KEYWORD_ONLY:
        return True
    try:
        sig.bind((1,), dtype="float32")
    except TypeError:
        return False
    return params[0].kind in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD)


def _catalogue(name: str, args: dict[str, float]) -> Any:
    init = keras.initializers
    match name:
        case "zeros":
            return init.Zeros()
        case "ones":
            return init.Ones()
        case "constant":
            return init.Constant(args["value"])
        case "normal":
            return init.RandomNormal(mean=args["mean"], stddev=args["std"])
        case "uniform":
            return init.RandomUniform(minval=args["low"], maxval=args["high"])
        case "xavier_uniform":  # GlorotUniform scaled by gain**2, as torch's gain scales the std
            return init.VarianceScaling(args["gain"] ** 2, "fan_avg", "uniform")
        case "xavier_normal":  # GlorotNormal (truncated normal, as Keras draws it)
            return init.VarianceScaling(args["gain"] ** 2, "fan_avg", "truncated_normal")
        case "kaiming_uniform":  # HeUniform with the leaky-ReLU slope a
            return init.VarianceScaling(2.0 / (1 + args["a"] ** 2), "fan_in", "uniform")
        case "kaiming_normal":  # HeNormal with the leaky-ReLU slope a
            return init.VarianceScaling(2.0 / (1 + args["a"] ** 2), "fan_in", "truncated_normal")
        case "orthogonal":
            return init.Orthogonal(gain=args["gain"])
    raise ActionError(f"unknown initializer {name!r}")


def _catalogue_refusal(entry: TensorEntry, name: str) -> str | None:
    var = entry.obj
    if name in NEEDS_MATRIX and len(var.shape) < 2:
        return (f"{name} needs a tensor with at least 2 dimensions (fan-in and fan-out); it has shape "
                f"{tuple(var.shape)}")
    if name not in ("zeros", "ones", "constant") and not keras.backend.is_float_dtype(var.dtype):
        return (f"{name} draws real numbers and {entry.path} is {var.dtype}; use zeros, ones, constant or "
                "set_value")
    return None


def _default_initializer(layer: Any, name: str) -> tuple[Any, str | None]:
    """The layer's own initializer for its variable `name`: `<name>_initializer` (kernel_, bias_, gamma_,
    moving_variance_, embeddings_ ...), the table above, else the one initializer attribute that no other
    variable of the layer claims (DepthwiseConv2D's `kernel` is drawn by its `depthwise_initializer`)."""
    attrs = {a: v for a, v in vars(layer).items() if a.endswith("_initializer") and v is not None}
    for attr in (_INITIALIZER_ATTRS.get(name), f"{name}_initializer"):
        if attr in attrs:
            return attrs[attr], None
    claimed = {_INITIALIZER_ATTRS.get(n, f"{n}_initializer") for _, n in own_variables(layer)}
    # An initializer named after a variable the layer could have (bias_ with use_bias=False) is not a candidate.
    unclaimed = [a for a in attrs if a not in claimed and a.removesuffix("_initializer") not in _OTHER_VARIABLES]
    if len(unclaimed) == 1:
        return attrs[unclaimed[0]], None
    return None, (f"{type(layer).__name__} has no initializer attribute for {name!r} (it has "
                  f"{', '.join(attrs) or 'none'}), so paramscope knows no default initializer for it; pick one")


def _fresh(initializer: Any) -> Any:
    """A Keras initializer made without a seed, made again as Keras makes a fresh one (a new seed from
    Python's `random`): its own seed was fixed when it was made, so calling it again would repeat the values.
    One made with a seed (GlorotUniform(seed=3)), and anything that is not a Keras initializer, as it is."""
    if not isinstance(initializer, keras.initializers.Initializer):
        return initializer
    try:
        config = initializer.get_config()
        if "seed" not in config or config["seed"] is not None:
            return initializer
        return type(initializer).from_config(config)
    except (NotImplementedError, TypeError, ValueError):
        return initializer


def _call_initializer(initializer: Any, var: Any) -> Any:
    """Call as Keras does, `initializer(shape, dtype=...)`; a plain `fn(shape)` gets the shape alone."""
    shape = tuple(int(d) for d in var.shape)
    try:
        params = list(inspect.signature(initializer).parameters.values())
    except (TypeError, ValueError):
        params = []
    if len(params) == 1 and params[0].kind in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        return initializer(shape)
    return initializer(shape, dtype=var.dtype)


@contextlib.contextmanager
def _seeded_globals(seed: int | None) -> Iterator[None]:
    """Set numpy's, Python's, Keras' and the backend's global generators from `seed`; put every one back after."""
    if seed is None:
        yield
        return
    np_state = np.random.get_state()
    py_state = random.getstate()
    keras_generator = global_state.get_global_attribute("global_seed_generator")
    try:
        np.random.seed(seed)
        random.seed(seed)
        with BACKEND.seeded(seed):
            global_state.set_global_attribute("global_seed_generator", keras.random.SeedGenerator(seed))
            yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
        global_state.set_global_attribute("global_seed_generator", keras_generator)
