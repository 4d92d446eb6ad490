"""Values of Keras variables: reading them (and recorded gradients) in chunks for statistics, and set_value."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np

from ..._errors import ActionError
from ...stats import CHUNK_ELEMS, matrix_shape
from ...tree import TensorEntry
from .. import Moments, Unavailable, format_index, numba_stats, numpy_stats
from . import grads
from .backend import BACKEND
from .paths import Pending

ops = keras.ops


# TensorFlow CPU float32/float64 variables go to the numba kernels in chunks this many times CHUNK_ELEMS: each chunk
# costs two kernel calls and some Python, and a variable of one chunk gets both passes from one call (chunk_stats).
KERNEL_CHUNKS = 4


def _kernel_ready(flat: np.ndarray) -> bool:
    return flat.dtype in (np.float32, np.float64) and flat.flags.c_contiguous and numba_stats.wanted(flat.size)


def chunks(entry: TensorEntry, grad: bool) -> Iterator[Any]:
    def get() -> Any:
        return _readable(entry, grad)

    tensor = BACKEND.reread(get, _host_or_self)
    if isinstance(tensor, np.ndarray):
        # Slices of one numpy view of the buffer: a TensorFlow slice per chunk is an op whose thread pool then
        # spins on the cores the numpy reductions need (several times the reductions' own cost under load), and
        # the numba kernels read the view itself.
        flat_view = tensor.reshape(-1)
        size = CHUNK_ELEMS * (KERNEL_CHUNKS if _kernel_ready(flat_view) else 1)
        for start in range(0, flat_view.size, size):
            yield flat_view[start : start + size]
        return
    with BACKEND.on_device(tensor):
        n = math.prod(int(d) for d in tensor.shape)
        for start in range(0, n, CHUNK_ELEMS):
            yield BACKEND.reread(get, functools.partial(_piece, start=start, size=CHUNK_ELEMS))


def _host_or_self(tensor: Any) -> Any:
    view = BACKEND.host_view(tensor) if _on_cpu(tensor) else None
    return tensor if view is None else view


def _piece(tensor: Any, start: int, size: int) -> Any:
    """`size` values of the flattened tensor from `start`, never the variable's own array (which a JAX training
    step could donate while the piece is read)."""
    piece = ops.reshape(tensor, [-1])[start : start + size]
    return ops.copy(piece) if piece is tensor else piece


def chunk_moments(chunk: Any) -> Moments:
    # CPU chunks: the numba kernels or numpy on the host view (a copy where the backend has no view, as for
    # bfloat16 on PyTorch), fewer and cheaper passes than keras.ops.
    if isinstance(chunk, np.ndarray) or _on_cpu(chunk):
        return numpy_stats.moments(_host(chunk), BACKEND.kernel_threads())
    with BACKEND.on_device(chunk):
        x = as_float64(chunk)
        n = int(x.shape[0])
        if n == 0:
            return Moments()
        total = ops.sum(x)
        # A float64 sum of finite float32/16 values is finite, so a finite sum proves there is no NaN or Inf:
        # the usual case needs no masks (a float64 tensor that overflows takes the exact path below).
        if math.isfinite(float(total)):
            mean = total / n
            fast = ops.convert_to_numpy(ops.stack([
                mean, ops.sum(ops.square(x - mean)), ops.min(x), ops.max(x),
                ops.sum(ops.cast(ops.equal(x, 0.0), "float64")),
            ])).tolist()
            mu, m2v, mn, mx, zeros = fast
            return Moments(n, mu, m2v, mn, mx, int(zeros), 0, 0)
        finite = ops.isfinite(x)
        zero = ops.zeros_like(x)
        count = ops.sum(ops.cast(finite, "float64"))
        mean = ops.sum(ops.where(finite, x, zero)) / ops.maximum(count, 1.0)
        m2 = ops.sum(ops.where(finite, ops.square(x - mean), zero))
        lo = ops.min(ops.where(finite, x, zero + math.inf))
        hi = ops.max(ops.where(finite, x, zero - math.inf))
        scalars = ops.convert_to_numpy(ops.stack([
            count, mean, m2, lo, hi, ops.sum(ops.cast(ops.equal(x, 0.0), "float64")),
            ops.sum(ops.cast(ops.isnan(x), "float64")), ops.sum(ops.cast(ops.isinf(x), "float64")),
        ])).tolist()  # one device -> host transfer per chunk
    c, mu, m2v, mn, mx, zeros, nan, n_inf = scalars
    return Moments(int(c), mu if c else 0.0, m2v, mn, mx, int(zeros), int(nan), int(n_inf))


def chunk_stats(chunk: Any, bins: int) -> tuple[Moments, list[int] | None]:
    """The moments of a variable's only chunk and, where one kernel call gives them, its `bins` counts over its
    own range (else None: `stats.steps` asks `chunk_hist`)."""
    flat = chunk.reshape(-1) if isinstance(chunk, np.ndarray) else None
    if flat is not None and _kernel_ready(flat):
        fast = numba_stats.moments_and_hist(flat, bins, BACKEND.kernel_threads())
        if fast is not None:
            return fast
    return chunk_moments(chunk), None


def chunk_hist(chunk: Any, lo: float, hi: float, bins: int, finite: bool = False) -> list[int]:
    """As `tf.histogram_fixed_width`: bin floor(bins * (x - lo) / (hi - lo)), clipped to the edge bins."""
    if isinstance(chunk, np.ndarray) or _on_cpu(chunk):
        return numpy_stats.hist(_host(chunk), lo, hi, bins, finite, BACKEND.kernel_threads())
    with BACKEND.on_device(chunk):
        x = as_float64(chunk)
        weights = None
        ok = None if finite else ops.isfinite(x)
        if ok is not None and not bool(ops.all(ok)):  # NaN/Inf count nowhere: weight 0, at a value that bins anywhere
            weights = ops.cast(ok, "float64")
            x = ops.where(ok, x, ops.zeros_like(x) + lo)
        where = ops.clip(ops.floor((x - lo) * (bins / (hi - lo))), 0, bins - 1)
        counts = ops.bincount(ops.cast(where, "int32"), weights=weights, minlength=bins)
        return [int(c) for c in ops.convert_to_numpy(counts).tolist()]


def sample_2d(entry: TensorEntry, grad: bool, rows: int, cols: int, rstep: int,
              cstep: int) -> list[list[float]]:
    def sample(tensor: Any) -> list[list[float]]:
        with BACKEND.on_device(tensor):
            view = ops.reshape(tensor, matrix_shape([int(d) for d in tensor.shape]))
            result: list[list[float]] = ops.convert_to_numpy(as_float64(view[::rstep, ::cstep])).tolist()
        return result

    return BACKEND.reread(lambda: _readable(entry, grad), sample)


def set_value(entry: TensorEntry, value: Any, where: tuple[Any, ...] | None, mode: str) -> None:
    why = not_writable(entry)
    if why:
        raise ActionError(f"cannot set {entry.path}: {why}")
    var = entry.obj
    label = entry.path + (format_index(where) if where is not None else "")
    with BACKEND.on_device(BACKEND.native(var)):
        current = ops.convert_to_tensor(BACKEND.native(var))
        try:
            if where is not None:
                # numpy's checks on a zero-stride stand-in of the shape: JAX would clamp an index out of range.
                np.broadcast_to(np.zeros((), np.int8), tuple(var.shape))[where]
            old = current[where] if where is not None else current
        except (IndexError, TypeError, ValueError) as e:
            raise ActionError(f"index {format_index(where or ())} does not fit {entry.path} of shape "
                              f"{tuple(var.shape)}: {first_line(e)}") from e
        if callable(value):
            new = value(ops.copy(old))
            if not (ops.is_tensor(new) or isinstance(new, (keras.Variable, np.ndarray, int, float, bool))):
                raise ActionError(f"the function given for {label} returned a {type(new).__name__}; "
                                  "return a tensor or a number")
        else:
            new = value
        new_t = _numeric_tensor(new, label)
        if mode == "add":
            new_t = old + ops.cast(new_t, old.dtype)
        elif mode == "mul":
            new_t = old * ops.cast(new_t, old.dtype)
        try:
            shape: tuple[int, ...] | None = np.broadcast_shapes(tuple(new_t.shape), tuple(old.shape))
        except ValueError:
            shape = None
        if shape != tuple(old.shape):
            raise ActionError(f"value of shape {tuple(new_t.shape)} does not fit {label} of shape "
                              f"{tuple(old.shape)}")
        if not keras.backend.is_float_dtype(var.dtype) and keras.backend.is_float_dtype(new_t.dtype) and not bool(
                ops.all(ops.isfinite(new_t))):
            raise ActionError(f"{label} is {keras.backend.standardize_dtype(var.dtype)}; NaN and Inf do not fit")
        new_t = ops.broadcast_to(ops.cast(new_t, var.dtype), tuple(old.shape))
        if where is None:
            var.assign(new_t)
        else:
            BACKEND.write(var, where, new_t)


def not_writable(entry: TensorEntry) -> str | None:
    if isinstance(entry.obj, Pending):
        return ("the layer is not built yet (its input size is known only after the first forward pass): run "
                "net(X) once, or net.build(input_shape), first")
    return None


def readable(entry: TensorEntry, grad: bool) -> Any:
    """The variable's value (or its latest recorded gradient) as a backend tensor; Unavailable says why not."""
    return _readable(entry, grad)


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
        raise Unavailable(f"no gradient recorded yet: paramscope records the gradients a Keras optimizer "
                          f"applies. {BACKEND.how_to_record}")
    return recorded


def _on_cpu(tensor: Any) -> bool:
    """A CPU tensor of any backend (TensorFlow ".../device:CPU:0", PyTorch "cpu", JAX "TFRT_CPU_0"/"cpu:0")."""
    device = getattr(tensor, "device", None)
    if callable(device):
        device = device()
    return "cpu" in str(device).lower()


def _host(chunk: Any) -> np.ndarray:
    """A CPU chunk as numpy: itself (a slice of `chunks`' host view), a view of a TensorFlow tensor's buffer, else
    `convert_to_numpy` (which copies)."""
    if isinstance(chunk, np.ndarray) or BACKEND.name == "tensorflow":
        return np.asarray(chunk)
    return ops.convert_to_numpy(chunk)


def as_float64(x: Any) -> Any:
    """`x` as float64 on its device (complex values as their magnitude)."""
    x = ops.convert_to_tensor(x)
    if "complex" in keras.backend.standardize_dtype(x.dtype):
        x = ops.abs(x)
    return ops.cast(x, "float64")


def _numeric_tensor(value: Any, label: str) -> Any:
    if ops.is_tensor(value) or isinstance(value, keras.Variable):
        tensor = ops.convert_to_tensor(value)
        kind = keras.backend.standardize_dtype(tensor.dtype)
        if kind == "bool" or kind.startswith(("float", "bfloat", "int", "uint")):
            return tensor
    else:
        try:
            array = np.asarray(value)
        except (TypeError, ValueError):
            array = None
        if array is not None and array.dtype.kind in "biuf":
            return ops.convert_to_tensor(array)
    raise ActionError(f"cannot use {value!r} as a value for {label}: give a number or a (nested) list / "
                      "array of numbers")


def assign(var: Any, values: Any, path: str, name: str) -> None:
    tensor = _numeric_tensor(values, path)
    if tuple(tensor.shape) != tuple(var.shape):
        raise ActionError(f"{name}({path}) returned shape {tuple(tensor.shape)} but {path} has shape "
                          f"{tuple(var.shape)}; an initializer must return the variable's shape")
    var.assign(ops.cast(tensor, var.dtype))


def first_line(error: BaseException) -> str:
    text = str(getattr(error, "message", None) or error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__
