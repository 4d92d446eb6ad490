"""Optional single-pass CPU kernels for `stats` (numba, the `fast` extra): moments and histogram of a 1-D chunk.

One loop over a contiguous float32/float64 chunk gives the zero count and float64 sums of the values and of their
squares about a shift (the chunk's first value), next to numpy's SIMD min and max; a second loop, once the
tensor's range is known, bins it.
`moments` and `hist` answer None where the eager paths must decide (NaN/Inf, float64 values whose squares leave
float64, ranges that leave float32): the caller then takes its exact slower path. Without numba, or with
PARAMSCOPE_NUMBA=0, `available()` is False and nothing here is compiled. Compiled code is cached next to this
module or in NUMBA_CACHE_DIR; where neither is writable it is compiled per process instead.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

import numpy as np

from . import Moments

# float64 sums of squares stay finite and normal for |x| in this range; outside it the eager path scales.
_SAFE64 = (2.0**-450, 2.0**450)
_RESHIFT = 2.0**20  # sum of squares about the shift over m2: beyond this, shift by the mean and sum again
_BLOCK = 4096  # histogram codes per block, in cache
_LANES = 8  # sub-histograms (8 measured faster than 1, 4 or 16)
_FLAGS = {"reassoc", "contract", "nsz", "arcp"}  # reordered sums vectorize; NaN and Inf keep their meaning
# Smaller chunks stay on the eager path: it costs little there, and numba's import and first compile (0.5 s with
# a warm cache, ~6 s cold) would otherwise delay the first click on a small parameter past the UI's 300 ms budget.
MIN_ELEMS = 1 << 16
_state: dict[str, Any] = {}


def wanted(n: int) -> bool:
    """Whether a chunk of `n` values goes through the kernels: big enough to pay, and the kernels can run."""
    return n >= MIN_ELEMS and available()


def available() -> bool:
    """Whether the kernels can run: numba imports and PARAMSCOPE_NUMBA is not 0. Decided once per process."""
    if "ok" not in _state:
        _state["ok"] = os.environ.get("PARAMSCOPE_NUMBA", "1") != "0" and _compile()
    return bool(_state["ok"])


def set_enabled(on: bool) -> None:
    """Force the kernels off (or back to what `available` finds): used by tests to cover the eager paths."""
    _state.pop("ok", None)
    if not on:
        _state["ok"] = False


def _compile() -> bool:
    try:
        import numba
    except ImportError:
        return False

    def jit(fn: Any) -> Any:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", numba.NumbaWarning)
                return numba.njit(cache=True, nogil=True, fastmath=_FLAGS)(fn)
        except RuntimeError:  # no writable cache location: compile in this process only
            return numba.njit(nogil=True, fastmath=_FLAGS)(fn)

    _state["moments"] = jit(_moments_kernel)
    _state["hist"] = jit(_hist_kernel)
    return True


def _moments_kernel(x: Any, shift: float) -> tuple[float, float, int]:
    total = 0.0
    squares = 0.0
    zeros = 0
    for i in range(x.size):
        v = x[i]
        d = float(v) - shift
        total += d
        squares += d * d
        zeros += v == 0
    return total, squares, zeros


def _hist_kernel(x: Any, a: Any, b: Any, top: Any, affine: bool) -> Any:
    counts = np.zeros((_LANES, int(top) + 1), dtype=np.int64)  # sub-histograms: no store waits on the last one
    zero = top - top
    codes = np.empty(_BLOCK, dtype=np.int32)
    for start in range(0, x.size, _BLOCK):
        m = min(_BLOCK, x.size - start)
        for i in range(m):  # the codes vectorize; a value written since the range was read goes to an end bin
            t = x[start + i] * a + b if affine else (x[start + i] - b) * a
            codes[i] = np.int32(min(max(t, zero), top))  # truncation: floor for t >= 0
        whole = m // _LANES * _LANES
        for i in range(0, whole, _LANES):
            for j in range(_LANES):
                counts[j, codes[i + j]] += 1
        for i in range(whole, m):
            counts[0, codes[i]] += 1
    return counts.sum(axis=0)


def moments(x: np.ndarray) -> Moments | None:
    """Moments of a contiguous 1-D float32/float64 chunk in one pass, or None where the eager path must decide."""
    n = x.size
    if n == 0 or x.dtype not in (np.float32, np.float64) or not x.flags.c_contiguous:
        return None
    lo, hi = float(x.min()), float(x.max())  # numpy's SIMD min/max: numba's vectorize only without NaN semantics
    if not (math.isfinite(lo) and math.isfinite(hi)):  # NaN or Inf in the chunk
        return None
    big = max(abs(lo), abs(hi))
    if x.dtype == np.float64 and (big > _SAFE64[1] or 0 < big < _SAFE64[0]):
        return None
    kernel = _state["moments"]
    shift = float(x[0])
    total, squares, zeros = kernel(x, shift)
    m2 = squares - total * total / n
    if m2 * _RESHIFT < squares:  # the first value was far from the mean: sum again about the mean
        shift = float(x.dtype.type(shift + total / n))
        total, squares, _ = kernel(x, shift)
        m2 = squares - total * total / n
    return Moments(n, shift + total / n, max(m2, 0.0), lo, hi, int(zeros))


def hist(x: np.ndarray, lo: float, hi: float, bins: int, finite: bool) -> list[int] | None:
    """Bin counts of a finite contiguous chunk with the eager path's affine map, or None to let it decide."""
    if not finite or x.size == 0 or x.dtype not in (np.float32, np.float64) or not x.flags.c_contiguous:
        return None
    big, span = max(abs(lo), abs(hi)), hi * 0.5 - lo * 0.5
    if not (big < 2.0**100 and span > 2.0**-100):  # the eager path widens or scales these
        return None
    scale = bins / (2 * span)
    kind = x.dtype.type
    affine = abs(lo) <= 8 * span  # the same two maps as numpy_stats.hist, in the chunk's dtype
    a, b = (kind(scale), kind(-lo * scale)) if affine else (kind(scale), kind(lo))
    counts: list[int] = _state["hist"](x, a, b, kind(bins - 1), affine).tolist()
    return counts
