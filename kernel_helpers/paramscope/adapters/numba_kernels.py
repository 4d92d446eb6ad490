"""The loops `numba_stats` compiles with numba: one read of a chunk for its moments, one for its histogram codes.

Plain Python functions (nothing here imports numba); `numba_stats` compiles each driver twice, serial and with
`parallel=True`, where `prange` splits the chunk into one part per thread and the parts' partial results are
merged in float64 (sums), as integers (counts) or as order keys (min/max).
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:  # prange is range outside numba; numba_stats compiles these only where numba imports
    from numba import prange
except ImportError:  # pragma: no cover - numba_stats never compiles without numba
    prange = range

# Histogram codes per block (512 values when paired), kept in L1 between the code loop and the increments. Two
# threads on one core share its L1: 256 was 10-15% faster than 1024 there (0.158 against 0.183 ns a value, 4M
# chunks of normal data from memory) and the same on one thread; 128 no faster.
BLOCK = 256
FLUSH = 128  # blocks counted in a uint16 table before it is added to the int32 one: at most 32,768 per count


def moments_part(x: Any, bits: Any, ubits: Any, limits: Any, shift: float) -> tuple[float, float, int, Any, Any, Any,
                                                                                    Any]:
    """float64 sums of x - shift and of its squares, the zero count, and the signed and unsigned min and max of
    x's raw bits (`bits` and `ubits`: x viewed as signed and as unsigned integers of its width).

    Floats of one sign order as their bits do: the non-negative ones as signed integers, the negative ones
    (sign bit set) in reverse as unsigned integers. `numba_stats.moments` reads the float min and max from these
    four. Integer min/max of the bits vectorize where float min/max with NaN semantics do not, and at the bits'
    own width: a key map (shifts and masks) is promoted to 64-bit lanes by numba's integer typing (28% slower).
    `limits` are the largest and smallest signed, then unsigned, integers of that width (where the min and max
    start; not computed here, where numba would widen them). A NaN makes the sums NaN: the caller sees it there and
    defers to the eager path."""
    total = 0.0
    squares = 0.0
    zeros = 0
    lo, hi, ulo, uhi = limits
    for i in range(x.size):
        v = x[i]
        d = float(v) - shift
        total += d
        squares += d * d
        zeros += v == 0
        k = bits[i]
        u = ubits[i]
        lo = min(lo, k)
        hi = max(hi, k)
        ulo = min(ulo, u)
        uhi = max(uhi, u)
    return total, squares, zeros, lo, hi, ulo, uhi


def moments(x: Any, bits: Any, ubits: Any, limits: Any, shift: float,
            parts: int) -> tuple[float, float, int, Any, Any, Any, Any]:
    """`moments_part` over `parts` equal parts of x (one per thread in the parallel build), merged."""
    n = x.size
    step = (n + parts - 1) // parts
    sums = np.zeros((parts, 2), dtype=np.float64)
    zeros = np.zeros(parts, dtype=np.int64)
    keys = np.empty((parts, 2), dtype=bits.dtype)
    ukeys = np.empty((parts, 2), dtype=ubits.dtype)
    for p in prange(parts):
        start, stop = min(n, p * step), min(n, (p + 1) * step)
        t, q, z, lo, hi, ulo, uhi = moments_part(x[start:stop], bits[start:stop], ubits[start:stop], limits, shift)
        sums[p, 0], sums[p, 1], zeros[p] = t, q, z
        keys[p, 0], keys[p, 1], ukeys[p, 0], ukeys[p, 1] = lo, hi, ulo, uhi
    return moments_merge(sums, zeros, keys, ukeys, limits)


def moments_merge(sums: Any, zeros: Any, keys: Any, ukeys: Any, limits: Any) -> tuple[float, float, int, Any, Any,
                                                                                      Any, Any]:
    """The parts' partial moments merged: float64 sums, integer counts, min/max of the bits."""
    total, squares, count = 0.0, 0.0, 0
    lo, hi, ulo, uhi = limits
    for p in range(zeros.size):
        total += sums[p, 0]
        squares += sums[p, 1]
        count += zeros[p]
        lo, hi = min(lo, keys[p, 0]), max(hi, keys[p, 1])
        ulo, uhi = min(ulo, ukeys[p, 0]), max(uhi, ukeys[p, 1])
    return total, squares, count, lo, hi, ulo, uhi


def hist_part(x: Any, shift: Any, a: Any, b: Any, top: Any, width: int, table: Any, single: Any) -> None:
    """Add the codes floor((x - shift) * a + b), clamped to [0, top] by selects (a NaN goes to 0, so no code leaves
    the table), to `table`. With width > 1 (width = bins) two codes are counted as one index c0 * width + c1 of a
    bins**2 table: half the scattered increments. The increments go to a uint16 copy of the table, added to it
    every FLUSH blocks: half the cache lines of int32 counts, so that the table, the codes and the block stay in L1
    together (data spread over all bins, such as uniform initializations, ran 1.6x slower on an int32 table). An
    odd last value is counted in `single`."""
    zero = top - top  # the bounds are in x's dtype (top = bins - 1): nothing widens in the code loops
    codes = np.empty(BLOCK, dtype=np.uint32)  # unsigned: the scatter's index needs no wraparound check
    per = 2 if width > 1 else 1
    whole = x.size // per * per
    local = np.zeros(table.size, dtype=np.uint16)  # half the int32 table's lines in L1; flushed before it wraps
    blocks = 0
    for start in range(0, whole, BLOCK * per):
        block = x[start:min(start + BLOCK * per, whole)]  # a slice: the code loops vectorize
        m = block.size // per
        if per == 2:
            for i in range(m):
                t = (block[2 * i] - shift) * a + b
                u = (block[2 * i + 1] - shift) * a + b
                t = t if t > 0 else zero
                u = u if u > 0 else zero
                codes[i] = np.uint32(np.int32(t if t < top else top) * width + np.int32(u if u < top else top))
        else:
            for i in range(m):
                t = (block[i] - shift) * a + b
                t = t if t > 0 else zero
                codes[i] = np.uint32(np.int32(t if t < top else top))  # truncation: floor for t >= 0
        for i in range(m):
            local[codes[i]] += 1
        blocks += 1
        if blocks == FLUSH:
            for j in range(table.size):
                table[j] += local[j]
                local[j] = 0
            blocks = 0
    for j in range(table.size):
        table[j] += local[j]
    for i in range(whole, x.size):
        t = (x[i] - shift) * a + b
        t = t if t > 0 else zero
        single[np.int32(t if t < top else top)] += 1


def hist(x: Any, shift: Any, a: Any, b: Any, top: Any, bins: int, paired: bool, parts: int) -> Any:
    """Bin counts (int64) of x by `hist_part` over `parts` parts of an even number of values each (the last
    excepted), one table per part, merged and unfolded: a pair index holds one code in each position."""
    width = bins if paired else 1
    n = x.size
    step = ((n + parts - 1) // parts + 1) // 2 * 2
    tables = np.zeros((parts, bins * width), dtype=np.int32)  # int32: numba_stats takes chunks under 2**31 values
    singles = np.zeros((parts, bins), dtype=np.int64)
    for p in prange(parts):
        start, stop = min(n, p * step), min(n, (p + 1) * step)
        hist_part(x[start:stop], shift, a, b, top, width, tables[p], singles[p])
    return hist_merge(tables, singles, bins, width)


def hist_merge(tables: Any, singles: Any, bins: int, width: int) -> Any:
    """The parts' tables added up and unfolded into bin counts (int64)."""
    counts = np.zeros(bins, dtype=np.int64)
    for p in range(singles.shape[0]):
        counts += singles[p]
        for i in range(bins):
            for j in range(width):
                c = tables[p, i * width + j]
                counts[i] += c
                if width > 1:
                    counts[j] += c
    return counts
