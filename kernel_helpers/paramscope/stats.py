"""Chunked statistics, histograms and down-sampled 2-D values of one tensor, on the tensor's own device.

Adapters cut a tensor into 1-D chunks (views where possible) and reduce each chunk to a few scalars on its
device; only those scalars and the histogram bins leave it. Chunks are merged with Chan et al.'s parallel
variance update, so the result does not depend on the chunk size beyond float64 rounding.
"""

from __future__ import annotations

import math
from typing import Any

from ._errors import ActionError
from .adapters import Adapter, Moments, Unavailable
from .tree import TensorEntry

# 1M elements: a float64 copy of one chunk is 8 MB, so the extra memory for any tensor stays well under 64 MB.
CHUNK_ELEMS = 1 << 20


def merge(a: Moments, b: Moments) -> Moments:
    """Combine the partial statistics of two disjoint sets of values."""
    count = a.count + b.count
    if count == 0:
        mean, m2 = 0.0, 0.0
    else:
        delta = b.mean - a.mean
        mean = a.mean + delta * b.count / count
        m2 = a.m2 + b.m2 + delta * delta * a.count * b.count / count
    return Moments(
        count=count,
        mean=mean,
        m2=m2,
        min=min(a.min, b.min),
        max=max(a.max, b.max),
        zeros=a.zeros + b.zeros,
        nan=a.nan + b.nan,
        inf=a.inf + b.inf,
    )


def _moments(adapter: Adapter, entry: TensorEntry, grad: bool) -> tuple[Moments, int]:
    """Merged moments over all chunks and the element count; raises Unavailable."""
    total = Moments()
    numel = 0
    for chunk in adapter.chunks(entry, grad):
        part = adapter.chunk_moments(chunk)
        numel += part.count + part.nan + part.inf
        total = merge(total, part)
    if numel == 0:
        raise Unavailable("the tensor is empty")
    return total, numel


def _scalars(total: Moments, numel: int) -> dict[str, Any]:
    nan = float("nan")
    return {
        "numel": numel,
        "mean": _num(total.mean if total.count else nan),
        "std": _num(math.sqrt(total.m2 / total.count) if total.count else nan),
        "min": _num(total.min if total.count else nan),
        "max": _num(total.max if total.count else nan),
        # Root mean square of the finite values: the "size" of a gradient, comparable across layers.
        "rms": _num(math.sqrt(total.m2 / total.count + total.mean**2) if total.count else nan),
        "zeros": total.zeros / numel,
        "nan": total.nan,
        "inf": total.inf,
    }


def summary(adapter: Adapter, entry: TensorEntry, *, grad: bool = False) -> dict[str, Any] | None:
    """The scalar statistics alone (one pass, no histogram), or None when values cannot be read."""
    try:
        return _scalars(*_moments(adapter, entry, grad))
    except Unavailable:
        return None


def tensor_stats(adapter: Adapter, entry: TensorEntry, *, grad: bool = False, bins: int = 64) -> dict[str, Any]:
    """`mean std min max rms zeros nan inf numel hist{edges,counts}` of a param or its grad, or why not
    available (`available: False` and a `reason`)."""
    if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= 4096:
        raise ActionError(f"bins must be an integer between 1 and 4096, got {bins!r}")
    head: dict[str, Any] = {
        "path": entry.path + ("#grad" if grad else ""),
        "shape": entry.meta.shape,
        "dtype": entry.meta.dtype,
        "device": entry.meta.device,
    }
    try:
        total, numel = _moments(adapter, entry, grad)
        lo, hi = (total.min, total.max) if total.count else (0.0, 0.0)
        if lo == hi:
            # One distinct value: centre a unit-wide range on it so the bar is visible.
            lo, hi = lo - 0.5, hi + 0.5
        counts = [0] * bins
        if total.count:
            for chunk in adapter.chunks(entry, grad):
                for i, c in enumerate(adapter.chunk_hist(chunk, lo, hi, bins)):
                    counts[i] += c
    except Unavailable as why:
        return {**head, "available": False, "reason": str(why)}
    return {
        **head,
        "available": True,
        **_scalars(total, numel),
        "hist": {"edges": [lo + (hi - lo) * i / bins for i in range(bins + 1)], "counts": counts},
    }


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
