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
from ...initializers import NEEDS_MATRIX
from ...tree import ModelIndex, TensorEntry
from .. import InitSpec, ReinitResult, split_writable
from .backend import BACKEND
from .values import assign, not_writable

# Variable name -> attribute of its layer holding the initializer, where it is not "<name>_initializer".
_INITIALIZER_ATTRS = {
    "recurrent_kernel": "recurrent_initializer",
    "depthwise_kernel": "depthwise_initializer",
    "pointwise_kernel": "pointwise_initializer",
}
# Seeds for unseeded reinits: a private generator, so numpy's global state never moves.
_ENTROPY = np.random.default_rng()


def reinit(index: ModelIndex, target: str, entries: list[TensorEntry], init: InitSpec,
           seed: int | None) -> ReinitResult:
    result = ReinitResult()
    ready = split_writable(entries, not_writable, result)
    seeds = np.random.default_rng(seed) if seed is not None else _ENTROPY
    with _seeded_globals(seed):
        for entry in ready:
            var = entry.obj
            draw = int(seeds.integers(0, 2**31 - 1))
            if init.custom is not None:
                _reinit_custom(entry, init, draw, result)
                continue
            if init.name == "default":
                initializer, why = _default_initializer(index.blocks[entry.owner].obj, entry.name)
            else:
                why = _catalogue_refusal(entry, init.name)
                initializer = None if why else _catalogue(init.name, init.args)
            if why:
                result.skipped.append({"path": entry.path, "reason": why})
                continue
            assign(var, _call_initializer(_reseeded(initializer, draw), var), entry.path, init.name)
            result.changed.append(entry.path)
    return result


def _reinit_custom(entry: TensorEntry, init: InitSpec, draw: int, result: ReinitResult) -> None:
    var = entry.obj
    ops = keras.ops
    before = ops.copy(var.value)
    assign(var, _call_initializer(_reseeded(init.custom, draw), var), entry.path, init.name)
    same = bool(ops.all(ops.equal(before, var.value)))
    if same and not bool(ops.any(ops.isnan(before))):
        result.skipped.append({"path": entry.path, "reason": f"{init.name} left it unchanged"})
    else:
        result.changed.append(entry.path)


def is_initializer(obj: Any) -> bool:
    if isinstance(obj, keras.initializers.Initializer):
        return True
    if isinstance(obj, (type, keras.layers.Layer, keras.Variable, np.ndarray)) or keras.ops.is_tensor(obj):
        return False
    if inspect.isbuiltin(obj) or inspect.ismodule(obj) or not callable(obj):
        return False
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return False
    positional = [p for p in sig.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    required = [p for p in positional if p.default is p.empty and p.kind != p.VAR_POSITIONAL]
    return bool(positional) and len(required) <= 2


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
            return init.RandomNormal(mean=args["mean"], stddev=args["std"], seed=0)
        case "uniform":
            return init.RandomUniform(minval=args["low"], maxval=args["high"], seed=0)
        case "xavier_uniform":  # GlorotUniform scaled by gain**2, as torch's gain scales the std
            return init.VarianceScaling(args["gain"] ** 2, "fan_avg", "uniform", seed=0)
        case "xavier_normal":  # GlorotNormal (truncated normal, as Keras draws it)
            return init.VarianceScaling(args["gain"] ** 2, "fan_avg", "truncated_normal", seed=0)
        case "kaiming_uniform":  # HeUniform with the leaky-ReLU slope a
            return init.VarianceScaling(2.0 / (1 + args["a"] ** 2), "fan_in", "uniform", seed=0)
        case "kaiming_normal":  # HeNormal with the leaky-ReLU slope a
            return init.VarianceScaling(2.0 / (1 + args["a"] ** 2), "fan_in", "truncated_normal", seed=0)
        case "orthogonal":
            return init.Orthogonal(gain=args["gain"], seed=0)
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
    for attr in (_INITIALIZER_ATTRS.get(name), f"{name}_initializer"):
        found = getattr(layer, attr, None) if attr else None
        if found is not None:
            return found, None
    return None, (f"{type(layer).__name__} has no {name}_initializer, so paramscope knows no default "
                  "initializer for it; pick one")


def _reseeded(initializer: Any, seed: int) -> Any:
    """A Keras initializer with a seed in its config, cloned with `seed`; anything else as it is."""
    if not isinstance(initializer, keras.initializers.Initializer):
        return initializer
    try:
        config = initializer.get_config()
        if "seed" not in config:
            return initializer
        return type(initializer).from_config({**config, "seed": seed})
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
