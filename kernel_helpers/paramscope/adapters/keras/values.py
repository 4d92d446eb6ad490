"""Values of Keras variables: reading them (and recorded gradients) in chunks for statistics, and set_value."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ..._errors import ActionError
from ...stats import CHUNK_ELEMS, matrix_shape
from ...tree import TensorEntry
from .. import Moments, Unavailable, format_index
from . import grads
from .backend import BACKEND
from .paths import Pending


def chunks(entry: TensorEntry, grad: bool) -> Iterator[tf.Tensor]:
    tensor = _readable(entry, grad)
    with tf.device(_device_of(tensor)):
        flat = tf.reshape(tensor, [-1])
        n = int(flat.shape[0])
        for start in range(0, n, CHUNK_ELEMS):
            yield flat[start : start + CHUNK_ELEMS]


def chunk_moments(chunk: tf.Tensor) -> Moments:
    with tf.device(chunk.device):
        x = as_float64(chunk)
        n = int(tf.size(x))
        if n == 0:
            return Moments()
        total = tf.reduce_sum(x)
        # A float64 sum of finite float32/16 values is finite, so a finite sum proves there is no NaN or Inf:
        # the usual case needs no masks (a float64 tensor that overflows takes the exact path below).
        if math.isfinite(float(total)):
            mean = total / n
            fast = tf.stack([
                mean, tf.reduce_sum(tf.square(x - mean)), tf.reduce_min(x), tf.reduce_max(x),
                tf.reduce_sum(tf.cast(tf.equal(x, 0.0), tf.float64)),
            ]).numpy().tolist()
            mu, m2v, mn, mx, zeros = fast
            return Moments(n, mu, m2v, mn, mx, int(zeros), 0, 0)
        finite = tf.math.is_finite(x)
        zero = tf.zeros_like(x)
        count = tf.reduce_sum(tf.cast(finite, tf.float64))
        mean = tf.reduce_sum(tf.where(finite, x, zero)) / tf.maximum(count, 1.0)
        m2 = tf.reduce_sum(tf.where(finite, tf.square(x - mean), zero))
        inf = tf.constant(math.inf, tf.float64)
        lo = tf.reduce_min(tf.where(finite, x, inf + zero))
        hi = tf.reduce_max(tf.where(finite, x, -inf + zero))
        scalars = tf.stack([
            count, mean, m2, lo, hi, tf.reduce_sum(tf.cast(tf.equal(x, 0.0), tf.float64)),
            tf.reduce_sum(tf.cast(tf.math.is_nan(x), tf.float64)),
            tf.reduce_sum(tf.cast(tf.math.is_inf(x), tf.float64)),
        ]).numpy().tolist()  # one device -> host transfer per chunk
    c, mu, m2v, mn, mx, zeros, nan, n_inf = scalars
    return Moments(int(c), mu if c else 0.0, m2v, mn, mx, int(zeros), int(nan), int(n_inf))


def chunk_hist(chunk: tf.Tensor, lo: float, hi: float, bins: int) -> list[int]:
    with tf.device(chunk.device):
        x = as_float64(chunk)
        finite = tf.math.is_finite(x)
        if not bool(tf.reduce_all(finite)):
            x = tf.boolean_mask(x, finite)
        counts = tf.histogram_fixed_width(x, tf.constant([lo, hi], tf.float64), nbins=bins)
        return [int(c) for c in counts.numpy().tolist()]


def sample_2d(entry: TensorEntry, grad: bool, rows: int, cols: int, rstep: int,
              cstep: int) -> list[list[float]]:
    tensor = _readable(entry, grad)
    with tf.device(_device_of(tensor)):
        value = tf.convert_to_tensor(tensor)
        view = tf.reshape(value, matrix_shape([int(d) for d in value.shape]))
        result: list[list[float]] = as_float64(view[::rstep, ::cstep]).numpy().tolist()
    return result


def set_value(entry: TensorEntry, value: Any, where: tuple[Any, ...] | None, mode: str) -> None:
    why = not_writable(entry)
    if why:
        raise ActionError(f"cannot set {entry.path}: {why}")
    var = BACKEND.native(entry.obj)
    label = entry.path + (format_index(where) if where is not None else "")
    try:
        old = var[where] if where is not None else var.read_value()
    except (IndexError, TypeError, ValueError, tf.errors.InvalidArgumentError) as e:
        raise ActionError(f"index {format_index(where or ())} does not fit {entry.path} of shape "
                          f"{tuple(var.shape)}: {first_line(e)}") from e
    if callable(value):
        new = value(tf.identity(old))
        if not isinstance(new, (tf.Tensor, tf.Variable, keras.Variable, np.ndarray, int, float, bool)):
            raise ActionError(f"the function given for {label} returned a {type(new).__name__}; "
                              "return a tensor or a number")
    else:
        new = value
    new_t = _numeric_tensor(new, label)
    if mode == "add":
        new_t = old + tf.cast(new_t, old.dtype)
    elif mode == "mul":
        new_t = old * tf.cast(new_t, old.dtype)
    try:
        shape = tf.broadcast_static_shape(new_t.shape, old.shape)
    except ValueError:
        shape = None
    if shape != old.shape:
        raise ActionError(f"value of shape {tuple(new_t.shape)} does not fit {label} of shape "
                          f"{tuple(old.shape)}")
    if not var.dtype.is_floating and new_t.dtype.is_floating and not bool(
            tf.reduce_all(tf.math.is_finite(new_t))):
        raise ActionError(f"{label} is {var.dtype.name}; NaN and Inf do not fit")
    new_t = tf.broadcast_to(tf.cast(new_t, var.dtype), old.shape)
    if where is None:
        var.assign(new_t)
    else:
        var[where].assign(new_t)


# -- values --------------------------------------------------------------------------------------------------

def not_writable(entry: TensorEntry) -> str | None:
    if isinstance(entry.obj, Pending):
        return ("the layer is not built yet (its input size is known only after the first forward pass): run "
                "net(X) once, or net.build(input_shape), first")
    return None


def _readable(entry: TensorEntry, grad: bool) -> Any:
    why = not_writable(entry)
    if why:
        raise Unavailable(f"no values: {why}")
    var = entry.obj
    if not grad:
        return BACKEND.native(var)
    if not var.trainable:
        raise Unavailable(f"{entry.path} is not trainable, so no gradient is computed for it")
    recorded = grads.latest(var)
    if recorded is None:
        raise Unavailable(
            "no gradient recorded yet: paramscope records the gradients a Keras optimizer applies. Run a "
            "training step: net.fit(...), or in your own loop `grads = tape.gradient(loss, "
            "net.trainable_variables)` then `optimizer.apply_gradients(zip(grads, "
            "net.trainable_variables))`. A tf.function step traced before paramscope was loaded records "
            "nothing: re-create it"
        )
    return recorded


def as_float64(x: Any) -> tf.Tensor:
    x = tf.convert_to_tensor(x)
    if x.dtype.is_complex:
        x = tf.abs(x)
    return tf.cast(x, tf.float64)


def _numeric_tensor(value: Any, label: str) -> tf.Tensor:
    if isinstance(value, (tf.Tensor, tf.Variable, keras.Variable)):
        tensor = tf.convert_to_tensor(value)
        if tensor.dtype.is_numeric or tensor.dtype.is_bool:
            return tensor
    else:
        try:
            array = np.asarray(value)
        except (TypeError, ValueError):
            array = None
        if array is not None and array.dtype.kind in "biuf":
            return tf.convert_to_tensor(array)
    raise ActionError(f"cannot use {value!r} as a value for {label}: give a number or a (nested) list / "
                      "array of numbers")


def assign(var: Any, values: Any, path: str, name: str) -> None:
    tensor = _numeric_tensor(values, path) if not isinstance(values, tf.Tensor) else values
    if tuple(tensor.shape) != tuple(var.shape):
        raise ActionError(f"{name}({path}) returned shape {tuple(tensor.shape)} but {path} has shape "
                          f"{tuple(var.shape)}; an initializer must return the variable's shape")
    var.assign(tf.cast(tensor, var.dtype))


def first_line(error: BaseException) -> str:
    text = str(getattr(error, "message", None) or error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def _device_of(tensor: Any) -> str:
    return str(getattr(tensor, "device", "") or "")
