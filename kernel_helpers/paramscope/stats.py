"""Chunked statistics, histograms and down-sampled 2-D values of one tensor, on the tensor's own device.

Adapters cut a tensor into 1-D chunks (views where possible) and reduce each chunk to a few scalars on its
device with fused reductions; only those scalars and the histogram bins leave it. Chunks are merged in float64
with Chan et al.'s parallel variance update, so the result does not depend on the chunk size beyond rounding.
The work is a generator (`steps`) that yields its progress after every chunk: `tensor_stats` runs it to the
end, `stats_jobs` runs it a time slice per request so that front ends can show progress and cancel.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Generator, Iterator
from typing import Any

from ._errors import ActionError
from .adapters import Adapter, Moments, Unavailable
from .tree import TensorEntry

# 1M elements per chunk: a chunk and the adapter's scratch copies stay in the CPU's last-level cache between the
# fused reductions, and the extra memory for any tensor stays well under 64 MB.
CHUNK_ELEMS = 1 << 20
MAX_BINS = 4096

Steps = Generator[float, None, dict[str, Any]]


def merge(a: Moments, b: Moments) -> Moments:
    """Combine the partial statistics of two disjoint sets of values.

    `m2` is kept in units of 4**exp so that values near the float64 limit (whose squares overflow) merge too."""
    count = a.count + b.count
    lo, hi, zeros, nan, inf = min(a.min, b.min), max(a.max, b.max), a.zeros + b.zeros, a.nan + b.nan, a.inf + b.inf
    if a.count == 0 or b.count == 0:
        only = b if a.count == 0 else a
        return Moments(count, only.mean, only.m2, lo, hi, zeros, nan, inf, only.exp)
    exp = max(a.exp, b.exp)
    delta = b.mean - a.mean
    # a.mean + delta * share is exact when the means agree; the weighted form cannot overflow.
    mean = a.mean + delta * (b.count / count) if math.isfinite(delta) else (
        a.mean * (a.count / count) + b.mean * (b.count / count))
    delta_s = math.ldexp(b.mean, -exp) - math.ldexp(a.mean, -exp)
    m2 = (math.ldexp(a.m2, 2 * (a.exp - exp)) + math.ldexp(b.m2, 2 * (b.exp - exp))
          + delta_s * delta_s * (a.count * b.count / count))
    return Moments(count, mean, m2, lo, hi, zeros, nan, inf, exp)


def steps(adapter: Adapter, entry: TensorEntry, *, grad: bool = False, bins: int | None = 64) -> Steps:
    """The statistics of a param or its grad as a generator: it yields the fraction of the work done after each
    chunk and returns `tensor_stats`' result (without `hist` when `bins` is None)."""
    if bins is not None and (isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= MAX_BINS):
        raise ActionError(f"bins must be an integer between 1 and {MAX_BINS}, got {bins!r}")
    head: dict[str, Any] = {
        "path": entry.path + ("#grad" if grad else ""),
        "shape": entry.meta.shape,
        "dtype": entry.meta.dtype,
        "device": entry.meta.device,
    }
    try:
        work = max(1, entry.meta.numel) * (1 if bins is None else 2)
        shared = _collective(adapter, entry, grad)
        total, numel, finite, only, binned = yield from _moments(adapter, entry, grad, work, shared, bins)
        result = {**head, "available": True, **_scalars(total, numel)}
        replicas = getattr(adapter, "replicas", None)  # tf.distribute: read from one replica, checked against all
        check = replicas(entry, grad) if replicas is not None else None
        if check is not None:
            result["replicas"] = check
        if bins is not None:
            lo, hi = _hist_range(total)
            counts = [0] * bins
            if binned is not None:  # the only chunk, binned over its range (this range) by its moments' call
                counts = binned
                yield 1.0
            elif total.count:
                done = numel
                # A tensor of one chunk is binned from the chunk its moments came from (no second `chunks`).
                again = adapter.chunks(entry, grad) if only is None else iter((only,))
                for n, (chunk, clean) in enumerate(zip(again, finite, strict=False)):
                    part = adapter.chunk_hist(chunk, lo, hi, bins, clean)
                    counts = list(part) if n == 0 else [a + b for a, b in zip(counts, part, strict=True)]
                    done += _size(chunk)
                    yield min(1.0, done / work)
                if shared is not None:
                    counts = shared.counts(counts)
            result["hist"] = {"edges": _edges(lo, hi, bins), "counts": counts}
    except Unavailable as why:
        return {**head, "available": False, "reason": str(why)}
    return result


def _moments(adapter: Adapter, entry: TensorEntry, grad: bool, work: int, shared: Any,
             bins: int | None) -> Generator[float, None, tuple[Moments, int, list[bool], Any, list[int] | None]]:
    """Merged moments over all chunks, the element count, which chunks hold only finite values, the chunk itself
    where there was only one (else None), and that chunk's `bins` counts where the adapter's `chunk_stats` gave
    them with its moments (else None: a tensor of several chunks, a sharded one, or no such method)."""
    total = Moments()
    numel = 0
    finite: list[bool] = []
    first = None
    binned = None
    chunks: Iterator[Any] = adapter.chunks(entry, grad)
    fused = getattr(adapter, "chunk_stats", None) if bins is not None and shared is None else None
    if fused is not None:  # only for a tensor of one chunk: look one chunk ahead
        ahead = list(itertools.islice(chunks, 2))
        chunks = itertools.chain(ahead, chunks)
        fused = fused if len(ahead) == 1 else None
    for chunk in chunks:
        if fused is not None:
            part, binned = fused(chunk, bins)
        else:
            part = adapter.chunk_moments(chunk)
        first = chunk if not finite else None  # kept while it is the only one
        numel += part.count + part.nan + part.inf
        finite.append(part.nan + part.inf == 0)
        total = merge(total, part)
        yield min(1.0, numel / work)
    if shared is not None:  # a sharded tensor: merge with the other shards (before any rank can stop early)
        total = shared.moments(total)
        numel = total.count + total.nan + total.inf
    if numel == 0:
        raise Unavailable("the tensor is empty")
    return total, numel, finite, first, binned


def _size(chunk: Any) -> int:
    size = getattr(chunk, "size", None)  # MXNet's NDArray.size is an int; torch's Tensor.size a method
    if isinstance(size, int):
        return size
    return math.prod(int(d) for d in chunk.shape)


def _collective(adapter: Adapter, entry: TensorEntry, grad: bool) -> Any:
    """What merges this rank's partial results with the other shards' for a sharded tensor (DTensor), else None.

    Its methods are collectives: every rank holding a shard must ask for the same statistics."""
    collective = getattr(adapter, "collective", None)
    return None if collective is None else collective(entry, grad)


def sharded(adapter: Adapter, entry: TensorEntry, grad: bool) -> bool:
    """Whether the statistics of this tensor need collectives (then they must run in one go on every rank)."""
    try:
        return _collective(adapter, entry, grad) is not None
    except Unavailable:
        return False


def _hist_range(total: Moments) -> tuple[float, float]:
    lo, hi = (total.min, total.max) if total.count else (0.0, 0.0)
    if lo == hi:
        # One distinct value: centre a unit-wide range on it (wider where 0.5 is below its precision).
        half = max(0.5, abs(lo) * 2.0**-20)
        lo, hi = max(lo - half, -sys.float_info.max), min(hi + half, sys.float_info.max)
    return lo, hi


def _edges(lo: float, hi: float, bins: int) -> list[float]:
    width = hi - lo
    if math.isfinite(width):
        return [lo + width * i / bins for i in range(bins)] + [hi]
    return [lo * (1 - i / bins) + hi * (i / bins) for i in range(bins)] + [hi]  # hi - lo overflows


def _ldexp(x: float, exp: int) -> float:
    try:
        return math.ldexp(x, exp)
    except OverflowError:
        return math.inf


def _scalars(total: Moments, numel: int) -> dict[str, Any]:
    nan = float("nan")
    std = rms = nan
    if total.count:
        var_s = max(total.m2, 0.0) / total.count  # in units of 4**exp
        mean_s = math.ldexp(total.mean, -total.exp)
        std = _ldexp(math.sqrt(var_s), total.exp)
        # Root mean square of the finite values: the "size" of a gradient, comparable across layers.
        rms = _ldexp(math.sqrt(var_s + mean_s * mean_s), total.exp)
    return {
        "numel": numel,
        "mean": _num(total.mean if total.count else nan),
        "std": _num(std),
        "min": _num(total.min if total.count else nan),
        "max": _num(total.max if total.count else nan),
        "rms": _num(rms),
        "zeros": total.zeros / numel,
        "nan": total.nan,
        "inf": total.inf,
    }


def run(work: Steps) -> dict[str, Any]:
    """Run a `steps` generator to its end and return its result."""
    while True:
        try:
            next(work)
        except StopIteration as done:
            result: dict[str, Any] = done.value
            return result


def summary(adapter: Adapter, entry: TensorEntry, *, grad: bool = False) -> dict[str, Any] | None:
    """The scalar statistics alone (one pass, no histogram), or None when values cannot be read."""
    result = run(steps(adapter, entry, grad=grad, bins=None))
    if not result["available"]:
        return None
    return {k: result[k] for k in ("numel", "mean", "std", "min", "max", "rms", "zeros", "nan", "inf")}


def tensor_stats(adapter: Adapter, entry: TensorEntry, *, grad: bool = False, bins: int = 64) -> dict[str, Any]:
    """`mean std min max rms zeros nan inf numel hist{edges,counts}` of a param or its grad, or why not
    available (`available: False` and a `reason`)."""
    return run(steps(adapter, entry, grad=grad, bins=bins))


def _num(x: float) -> float | None:
    """JSON has no NaN: None stands for "no finite values"."""
    return None if math.isnan(x) else x


def matrix_shape(shape: list[int]) -> tuple[int, int]:
    """The 2-D view of a tensor for heatmaps: 0-D is 1x1, 1-D one row, N-D (shape[0], prod(shape[1:]))."""
    if not shape:
        return 1, 1
    if len(shape) == 1:
        return 1, shape[0]
    return shape[0], math.prod(shape[1:])


def plan_2d(shape: list[int], max_elems: int) -> tuple[int, int, int, int]:
    """(rows, cols, row step, col step) of a strided 2-D view of a tensor of `shape` with <= max_elems values.

    0-D is 1x1, 1-D is one row, N-D is (shape[0], prod(shape[1:])) as in a flattened weight matrix."""
    if max_elems < 1:
        raise ActionError(f"max_elems must be positive, got {max_elems}")
    full_r, full_c = matrix_shape(shape)
    rstep = cstep = 1
    # Shrink the longer side first so that the picture keeps its aspect ratio roughly.
    while math.ceil(full_r / rstep) * math.ceil(full_c / cstep) > max_elems:
        if math.ceil(full_r / rstep) >= math.ceil(full_c / cstep):
            rstep += max(1, rstep // 4)
        else:
            cstep += max(1, cstep // 4)
    return math.ceil(full_r / rstep), math.ceil(full_c / cstep), rstep, cstep


def tensor_values(adapter: Adapter, entry: TensorEntry, *, grad: bool = False, max_elems: int = 4096) -> dict[str, Any]:
    """A strided 2-D sample of the values for a heatmap, or why not available."""
    head: dict[str, Any] = {"path": entry.path + ("#grad" if grad else ""), "shape": entry.meta.shape}
    shape = entry.meta.shape
    if shape is None or any(d is None for d in shape):
        return {**head, "available": False, "reason": f"{entry.path} has no known shape yet ({entry.meta.state})"}
    rows, cols, rstep, cstep = plan_2d([int(d) for d in shape if d is not None], max_elems)
    try:
        data = adapter.sample_2d(entry, grad, rows, cols, rstep, cstep)
    except Unavailable as why:
        return {**head, "available": False, "reason": str(why)}
    finite = [v for row in data for v in row if v is not None and math.isfinite(v)]
    clean = [[v if v is not None and math.isfinite(v) else None for v in row] for row in data]
    return {
        **head,
        "available": True,
        "rows": rows,
        "cols": cols,
        "row_step": rstep,
        "col_step": cstep,
        "data": clean,
        "min": min(finite) if finite else None,
        "max": max(finite) if finite else None,
    }
