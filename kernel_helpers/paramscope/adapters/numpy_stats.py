"""Chunk reductions for `stats` on host (CPU) arrays with numpy: what MXNet and Keras use for CPU tensors.

MXNet's own CPU reductions run at about 13 ns per value (`nd.sum`), numpy's at 0.05-0.3, so a CPU chunk is
copied once (MXNet; TensorFlow, PyTorch and JAX CPU tensors are viewed without a copy) and reduced with numpy:
min, max, pairwise sums of the values and of their squares, a non-zero count, and for the
histogram one affine map, an int8 conversion and a bincount of code pairs. Accelerator tensors never come here: their
adapters reduce them on the device. The exceptional paths are those of `torch_stats`: NaN/Inf masked, squares
that leave float32 taken in float64, float64 values beyond 2**450 or below 2**-450 scaled by an exact power of
two (`Moments.exp`), offset data shifted by its mean.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from . import Moments, numba_stats

_SAFE = {np.dtype(np.float32): (2.0**-50, 2.0**50), np.dtype(np.float64): (2.0**-450, 2.0**450)}
_SHIFT_RATIO = 8.0


def floating(a: np.ndarray) -> np.ndarray:
    """The chunk as float32 or float64, whichever holds its values exactly (magnitudes of complex values)."""
    a = np.asarray(a).reshape(-1)
    if np.iscomplexobj(a):
        a = np.abs(a)
    if a.dtype in (np.float32, np.float64):
        return a
    if a.dtype.kind in "biuf" and a.dtype.itemsize <= 2:  # bool, (u)int8/16, float16 (and bfloat16 via ml_dtypes)
        return a.astype(np.float32)
    if a.dtype.kind in "iu":
        return a.astype(np.float64)
    return a.astype(np.float32)  # other float types (bfloat16, float8 from ml_dtypes)


def moments(chunk: Any, threads: int | None = None) -> Moments:
    """The moments of a numpy chunk: the numba kernels (on up to `threads` threads) where they take it, else numpy."""
    x = floating(chunk)
    n = x.size
    if n == 0:
        return Moments()
    if numba_stats.wanted(n):
        fast = numba_stats.moments(x, threads)
        if fast is not None:
            return fast
    lo, hi = float(x.min()), float(x.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):  # NaN propagates through min/max; Inf is an extreme
        return _non_finite(x)
    big = max(abs(lo), abs(hi))
    low, high = _SAFE[x.dtype]
    zeros = 0 if lo > 0 or hi < 0 else n - int(np.count_nonzero(np.not_equal(x, 0, out=_scratch(n, 1, np.bool_))))
    if big > high or 0 < big < low:
        if x.dtype == np.float32:
            return moments(x.astype(np.float64))
        return _scaled(x, n, lo, hi, zeros, big)
    # numpy sums pairwise in the array's own dtype: float32 partial sums are exact to float32 rounding (as
    # PyTorch's cascade sums), and at half the cost of converting every value to float64 on the way.
    total = float(x.sum())
    squares = float(np.square(x, out=_scratch(n, 0, x.dtype)).sum())
    mean = total / n
    m2 = squares - total * mean
    if m2 * _SHIFT_RATIO < squares:  # offset data (|mean| >> std): shift by the mean and sum again
        mean, m2 = _shifted(x, n, mean)
    return Moments(n, mean, max(m2, 0.0), lo, hi, zeros)


def _shifted(x: np.ndarray, n: int, guess: float) -> tuple[float, float]:
    shift = float(x.dtype.type(guess))  # the shift as applied in x's dtype
    d = np.subtract(x, x.dtype.type(shift), out=_scratch(n, 0, x.dtype))
    d_sum = float(d.sum(dtype=np.float64))
    d_squares = float(np.square(d, out=d).sum(dtype=np.float64))
    return shift + d_sum / n, d_squares - d_sum * d_sum / n


def _scaled(x: np.ndarray, n: int, lo: float, hi: float, zeros: int, big: float) -> Moments:
    """float64 values near the limits: reduce x * 2**-exp (exact: a power of two) with |x * 2**-exp| < 1."""
    exp = math.frexp(big)[1]
    half = -exp // 2
    y = np.multiply(x, 2.0**half, out=_scratch(n, 0, x.dtype))
    y *= 2.0 ** (-exp - half)
    total = float(y.sum())
    squares = float(np.square(y).sum())
    mean_s = total / n
    m2 = squares - total * mean_s
    if m2 * _SHIFT_RATIO < squares:
        mean_s, m2 = _shifted(y, n, mean_s)
    return Moments(n, math.ldexp(mean_s, exp), max(m2, 0.0), lo, hi, zeros, exp=exp)


def _non_finite(x: np.ndarray) -> Moments:
    nan = int(np.count_nonzero(np.isnan(x)))
    inf = int(np.count_nonzero(np.isinf(x)))
    part = moments(x[np.isfinite(x)])
    part.nan, part.inf = nan, inf
    return part


def hist(chunk: Any, lo: float, hi: float, bins: int, finite: bool, threads: int | None = None) -> list[int]:
    x = floating(chunk)
    if numba_stats.wanted(x.size):
        fast = numba_stats.hist(x, lo, hi, bins, finite, threads)
        if fast is not None:
            return fast
    if not finite:
        x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return [0] * bins
    big, span = max(abs(lo), abs(hi)), hi * 0.5 - lo * 0.5  # span: half the range, which cannot overflow
    if x.dtype == np.float32 and not (big < 2.0**100 and span > 2.0**-100):
        x = x.astype(np.float64)  # the bin scale or the range would leave float32
    if x.dtype == np.float64 and not (big < 2.0**900 and span > 2.0**-900):
        exp = -math.frexp(big)[1]  # |x * 2**exp| < 1: exact, and the range in bins fits
        half = exp // 2
        x = x * 2.0**half * 2.0 ** (exp - half)
        lo, hi = math.ldexp(lo, exp), math.ldexp(hi, exp)
        span = hi * 0.5 - lo * 0.5
    scale = bins / (2 * span)
    t = _scratch(n, 0, x.dtype)
    kind = x.dtype.type
    if abs(lo) <= 8 * span:  # |lo| <= 4 (hi - lo): t = x * scale - lo * scale, rounding <= 4 bins * eps
        np.multiply(x, kind(scale), out=t)
        t += kind(-lo * scale)
    else:  # x - lo is exact for data far from 0 (Sterbenz)
        np.subtract(x, kind(lo), out=t)
        t *= kind(scale)
    if bins < 127:
        # int8 codes and a bincount of the uint8 view; a value written since the moments were read falls outside
        # [0, bins] and its code is folded into an end bin.
        np.clip(t, -1, 127, out=t)
        index = _scratch(n, 1, np.int8)
        np.copyto(index, t, casting="unsafe")  # truncates toward zero: floor for t >= 0
        counts = _bincount_u8(index.view(np.uint8)).tolist()
        head: list[int] = counts[:bins]
        head[-1] += sum(counts[bins:128])  # t == bins: the top edge belongs to the last bin
        head[0] += sum(counts[128:])
        return head
    np.clip(t, 0, bins, out=t)
    counts = np.bincount(t.astype(np.int32), minlength=bins + 1).tolist()
    head = counts[:bins]
    head[-1] += sum(counts[bins:])
    return head


def _bincount_u8(codes: np.ndarray) -> np.ndarray:
    """256 counts of uint8 codes. np.bincount widens every code to intp first: counting pairs of codes as one
    uint16 (65,536 counts, in cache) does half the widening and half the scatter, and folds back exactly."""
    pairs = codes.size // 2
    if pairs < 1 << 12:
        return np.bincount(codes, minlength=256)
    grid = np.bincount(codes[: 2 * pairs].view(np.uint16), minlength=1 << 16).reshape(256, 256)
    counts = grid.sum(axis=0) + grid.sum(axis=1)  # the low byte is one code of a pair, the high byte the other
    if codes.size % 2:
        counts[codes[-1]] += 1
    return counts


_CACHE = threading.local()


def _scratch(n: int, slot: int, dtype: Any) -> np.ndarray:
    """A reusable buffer of n values: fresh allocations of a chunk's size cost page faults every time."""
    cache: dict[Any, np.ndarray] = _CACHE.__dict__.setdefault("buffers", {})
    key = (slot, np.dtype(dtype))
    buf = cache.get(key)
    if buf is None or buf.size < n:
        buf = cache[key] = np.empty(max(n, 1 << 16), dtype=dtype)
    return buf[:n]
