"""PyTorch chunk reductions for `stats`: fused moments and histogram counts on the chunk's own device.

A chunk costs a handful of vectorized passes over data that stays in cache (aminmax, two cascade sums, a sign
count, and for the histogram one affine map, a clamp, an int8 conversion and a bincount); only a stack of five
scalars and the bin counts leave the device. float32 partial sums are exact to float32 rounding (PyTorch sums
float32 by cascade summation) and are merged in float64 by `stats.merge`. Exceptions take slower exact paths:
NaN/Inf (masked), values whose squares leave float32 (reduced in float64), float64 values beyond 2**450 or
below 2**-450 (reduced as x * 2**-exp, exactly, with `Moments.exp`), offset data (shifted by its mean).
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator
from typing import Any

import torch

from . import Moments, numba_stats

# |x| ranges where the squares of a chunk of float32 / float64 values neither overflow nor underflow.
_SAFE = {torch.float32: (2.0**-50, 2.0**50), torch.float64: (2.0**-450, 2.0**450)}
# Below this ratio of sum of squares to m2 the unshifted formula has lost under 3 of float32's 24 bits.
_SHIFT_RATIO = 8.0
_NARROW = {torch.float16, torch.bfloat16, torch.int8, torch.uint8, torch.int16, torch.bool}
_FLOATS = (torch.float32, torch.float64)


def floating(x: torch.Tensor) -> torch.Tensor:
    """The chunk as float32 or float64, whichever holds its values exactly (magnitudes of complex values)."""
    if x.is_complex():
        x = x.abs()
    if x.dtype in _FLOATS:
        return x
    if x.dtype in _NARROW or x.is_floating_point():  # float16/bfloat16/float8 and small ints fit float32
        return x.float()
    return x.double()  # int32/int64: float64 is exact up to 2**53


# Contiguous CPU float32/float64 tensors go to the numba kernels in chunks this many times CHUNK_ELEMS (see
# torch.TorchAdapter.chunks); a chunk that the kernels pass back is reduced eagerly in pieces of CHUNK_ELEMS.
KERNEL_CHUNKS = 4


def kernel_ready(flat: torch.Tensor) -> bool:
    """Whether a whole tensor's chunks will be zero-copy views for the numba kernels (CPU, contiguous, float32 or
    float64, the kernels loaded or worth loading)."""
    return (flat.device.type == "cpu" and flat.dtype in _FLOATS and flat.is_contiguous() and not flat.is_neg()
            and not flat.is_conj() and numba_stats.wanted(flat.numel()))


def _stats_chunk() -> int:
    from ..stats import CHUNK_ELEMS  # stats imports the adapters package: not at import time

    return CHUNK_ELEMS


def _merge(a: Moments, b: Moments) -> Moments:
    from ..stats import merge

    return merge(a, b)


def _pieces(chunk: torch.Tensor) -> list[torch.Tensor]:
    """A kernel-sized chunk cut into pieces of CHUNK_ELEMS for the eager paths and their scratch buffers."""
    size = _stats_chunk()
    flat = chunk.reshape(-1)
    return [flat[start : start + size] for start in range(0, flat.numel(), size)]


def moments(chunk: torch.Tensor) -> Moments:
    view = _host_view(chunk)
    if view is not None and (fast := numba_stats.moments(view, _threads())) is not None:
        return fast
    return _eager(chunk, view)


def moments_and_hist(chunk: torch.Tensor, bins: int) -> tuple[Moments, list[int] | None]:
    """The moments of a chunk that is a whole tensor, and where the kernels can, its `bins` counts over its own
    range from the same kernel call (else None: `stats.steps` asks `hist` for them)."""
    view = _host_view(chunk)
    if view is not None and (fast := numba_stats.moments_and_hist(view, bins, _threads())) is not None:
        return fast
    return _eager(chunk, view), None


def _eager(chunk: torch.Tensor, view: Any) -> Moments:
    with _serial(chunk):
        if view is None or view.size <= _stats_chunk():
            return _moments(floating(chunk))
        total = Moments()
        for piece in _pieces(chunk):
            total = _merge(total, _moments(floating(piece)))
        return total


def _threads() -> int:
    """Threads for the numba kernels: PARAMSCOPE_STATS_THREADS, else PyTorch's intra-op count (torch.set_num_threads),
    the threads its own reductions use."""
    return numba_stats.THREADS or torch.get_num_threads()


def _host_view(chunk: torch.Tensor) -> Any:
    """A contiguous CPU chunk as a zero-copy numpy view for the numba kernels (narrow types widened per chunk), or
    None: the kernels are not installed, the chunk is on an accelerator or strided, or its type is not float."""
    if chunk.device.type != "cpu" or not numba_stats.wanted(chunk.numel()):
        return None
    x = floating(chunk.detach())  # narrow types widened: the kernels read float32 and float64
    return x.reshape(-1).numpy() if kernel_ready(x) else None


def _moments(x: torch.Tensor) -> Moments:
    n = x.numel()
    if n == 0:
        return Moments()
    scratch = _scratch(x, 0)
    lo, hi = torch.aminmax(x)
    parts = [lo, hi, x.sum(), torch.square(x, out=scratch).sum()]
    on_cpu = x.device.type == "cpu"
    if not on_cpu:  # one transfer per chunk: count the non-zeros in the same stack
        parts.append(_nonzero(x, scratch))
    values = torch.stack(parts).tolist()
    lo_v, hi_v, total, squares = values[:4]
    # On the CPU a second transfer is free, and data that does not straddle 0 has no zeros to count.
    nonzero = values[4] if not on_cpu else n if lo_v > 0 or hi_v < 0 else _nonzero(x, scratch).item()
    finite = math.isfinite(total) and math.isfinite(squares)
    if not finite and math.isnan(lo_v + hi_v):  # NaN or Inf in the chunk (aminmax propagates NaN)
        return _non_finite(x)
    big = max(abs(lo_v), abs(hi_v))
    if not finite and math.isinf(big):
        return _non_finite(x)
    zeros = n - int(nonzero)
    low, high = _SAFE[x.dtype]
    if not finite or big > high or 0 < big < low:  # squares (or sums) leave the range of x's dtype
        if x.dtype == torch.float32:
            return _moments(x.double())
        return _scaled(x, n, lo_v, hi_v, zeros, big)
    mean = total / n
    m2 = squares - total * mean
    if m2 * _SHIFT_RATIO < squares:  # offset data (|mean| >> std): shift by the mean and sum again
        mean, m2 = _shifted(x, n, mean)
    return Moments(n, mean, max(m2, 0.0), lo_v, hi_v, zeros)


def _nonzero(x: torch.Tensor, scratch: torch.Tensor) -> torch.Tensor:
    # |sign(x)| summed counts the non-zeros exactly (integer partial sums below 2**24). Not sign·sign with
    # torch.dot: that is BLAS, whose own thread pool ignores the one-thread scope and cost 30x more under load.
    return torch.sign(x, out=scratch).abs_().sum()


def _shifted(x: torch.Tensor, n: int, guess: float) -> tuple[float, float]:
    shift = torch.tensor(guess, dtype=x.dtype).item()  # the shift as the device applies it
    d = torch.sub(x, shift, out=_scratch(x, 0))
    d_sum, d_squares = torch.stack([d.sum(), d.square_().sum()]).tolist()
    return shift + d_sum / n, d_squares - d_sum * d_sum / n


def _scaled(x: torch.Tensor, n: int, lo: float, hi: float, zeros: int, big: float) -> Moments:
    """float64 values near the limits: reduce x * 2**-exp (exact: a power of two) with |x * 2**-exp| < 1."""
    exp = math.frexp(big)[1]
    half = -exp // 2
    y = torch.mul(x, 2.0**half, out=_scratch(x, 0)).mul_(2.0 ** (-exp - half))  # each factor representable
    total, squares = torch.stack([y.sum(), torch.square(y).sum()]).tolist()
    mean_s = total / n
    m2 = squares - total * mean_s
    if m2 * _SHIFT_RATIO < squares:
        mean_s, m2 = _shifted(y, n, mean_s)
    return Moments(n, math.ldexp(mean_s, exp), max(m2, 0.0), lo, hi, zeros, exp=exp)


def _non_finite(x: torch.Tensor) -> Moments:
    kept, nan, inf = _finite_values(x)
    part = _moments(kept)
    part.nan, part.inf = nan, inf
    return part


def _finite_values(x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """The finite values of a chunk (a copy), its NaN and its Inf count. On the CPU the masks and the copy go to
    reused buffers: fresh ones per chunk (x[torch.isfinite(x)]) grew the heap chunk by chunk (glibc raises its
    mmap threshold as blocks are freed), up to 58 MB for a 1 GiB tensor with NaN in every chunk, against at most
    17 MB with these (6 runs each)."""
    if x.device.type != "cpu":
        return x[torch.isfinite(x)], int(torch.isnan(x).sum()), int(torch.isinf(x).sum())
    finite = torch.eq(torch.sub(x, x, out=_scratch(x, 2)), 0, out=_scratch(x, 3, torch.bool))  # x - x: 0 or NaN
    nan = int(torch.ne(x, x, out=_scratch(x, 4, torch.bool)).sum())
    count = int(finite.sum())
    kept = torch.masked_select(x, finite, out=_scratch(x, 5)[:count])
    return kept, nan, x.numel() - count - nan


def hist(chunk: torch.Tensor, lo: float, hi: float, bins: int, finite: bool) -> list[int]:
    view = _host_view(chunk)
    if view is not None and (fast := numba_stats.hist(view, lo, hi, bins, finite, _threads())) is not None:
        return fast
    with _serial(chunk):
        if view is None or view.size <= _stats_chunk():
            return _hist(floating(chunk), lo, hi, bins, finite)
        counts = [0] * bins
        for piece in _pieces(chunk):
            counts = [a + b for a, b in zip(counts, _hist(floating(piece), lo, hi, bins, finite), strict=True)]
        return counts


def _hist(x: torch.Tensor, lo: float, hi: float, bins: int, finite: bool) -> list[int]:
    if not finite:
        x = _finite_values(x)[0]
    if x.numel() == 0:
        return [0] * bins
    big, span = max(abs(lo), abs(hi)), hi * 0.5 - lo * 0.5  # span: half the range, which cannot overflow
    if x.dtype == torch.float32 and not (big < 2.0**100 and span > 2.0**-100):
        x = x.double()  # the bin scale or the range would leave float32
    if x.dtype == torch.float64 and not (big < 2.0**900 and span > 2.0**-900):
        exp = -math.frexp(big)[1]  # |x * 2**exp| < 1: exact, and the range in bins fits
        half = exp // 2
        x = torch.mul(x, 2.0**half).mul_(2.0 ** (exp - half))
        lo, hi = math.ldexp(lo, exp), math.ldexp(hi, exp)
        span = hi * 0.5 - lo * 0.5
    scale = bins / (2 * span)
    t = _scratch(x, 0)
    if abs(lo) <= 8 * span:  # |lo| <= 4 (hi - lo)
        # One fused pass: t = x * scale - lo * scale; its rounding is at most |lo| * scale * eps <= 4 bins * eps.
        torch.add(torch.tensor(-lo * scale, dtype=x.dtype, device=x.device), x, alpha=scale, out=t)
    else:
        torch.sub(x, lo, out=t).mul_(scale)  # x - lo is exact for data far from 0 (Sterbenz)
    if x.device.type == "cpu" and bins < 127:
        # int8 conversion and a bincount of the uint8 view: the cheapest scatter PyTorch has on the CPU. A value
        # written since the moments were read falls outside [0, bins]: its code is folded into an end bin below.
        index = _scratch(x, 1, torch.int8)
        index.copy_(t)  # truncates toward zero: floor for t >= 0
        counts = torch.bincount(index.view(torch.uint8), minlength=256).tolist()
        head = counts[:bins]
        head[-1] += sum(counts[bins:128])  # t == bins: the top edge belongs to the last bin
        head[0] += sum(counts[128:])  # negative codes
        return head
    t.clamp_(0, bins)
    if x.device.type == "cpu":
        index = _scratch(x, 1, torch.int16)
        index.copy_(t)
        counts = torch.bincount(index, minlength=bins + 1).tolist()
    else:
        counts = torch.histc(t.float(), bins=bins + 1, min=0, max=bins + 1).tolist()
    head = [int(c) for c in counts[:bins]]
    head[-1] += int(sum(counts[bins:]))
    return head


@contextlib.contextmanager
def _serial(chunk: torch.Tensor) -> Iterator[None]:
    """One intra-op thread for the dozen small passes over a cached CPU chunk: with several, each pass is a
    parallel region whose barrier waits for every thread, and on a loaded machine (a notebook next to training)
    those waits cost more than the work; the other cores stay free for the user's code."""
    threads = torch.get_num_threads()
    if chunk.device.type != "cpu" or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


_CACHE = threading.local()


def _scratch(like: torch.Tensor, slot: int, dtype: torch.dtype | None = None) -> torch.Tensor:
    """A reusable 1-D buffer with `like`'s size: fresh CPU allocations of a chunk's size cost page faults each
    time, which is more than the reductions themselves. Kept per thread; at most a few chunks' worth."""
    dtype = dtype or like.dtype
    n = like.numel()
    if like.device.type != "cpu":
        return torch.empty(n, dtype=dtype, device=like.device)  # the caching allocator reuses blocks
    cache: dict[Any, torch.Tensor] = _CACHE.__dict__.setdefault("buffers", {})
    key = (slot, dtype)
    buf = cache.get(key)
    if buf is None or buf.numel() < n:
        buf = cache[key] = torch.empty(max(n, 1 << 16), dtype=dtype)
    return buf[:n]
