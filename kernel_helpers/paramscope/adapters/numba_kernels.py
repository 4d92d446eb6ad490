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
SPAN = 4096  # values per stretch of the moments loop, whose sums are added with two_sum
# Values per step of the moments loops, each step prefetching the lines AHEAD bytes past its own: the whole stretch's
# 256 lines asked at once stalled the loop until they were on their way (0.56 against 0.39 ns a float32 value, one
# thread, GPT-2's embedding; 64 to 4096 measured, 128-256 best).
SUB = 256
AHEAD = 32768  # bytes read ahead of the loops by prefetch (8K float32 values): 16K as good; 64K crowded L1
_FMAX = 1.7976931348623157e308  # sys.float_info.max
FLUSH = 128  # blocks counted in a uint16 table before it is added to the int32 one: at most 32,768 per count


def prefetch(x: Any, i: int) -> None:
    """Ask for the cache line of x[i] ahead of its use (numba_stats puts LLVM's prefetch intrinsic here before it
    compiles the loops; a no-op in plain Python)."""


def two_sum(total: float, carry: float, y: float) -> tuple[float, float]:
    """total + y, and the rounding error of that addition added to `carry` (Neumaier's compensated sum). Compiled
    without fastmath: reassociation would cancel the error terms to 0."""
    t = total + y
    if abs(total) >= abs(y):
        carry += (total - t) + y
    else:
        carry += (y - t) + total
    return t, carry


def moments_part(x: Any, bits: Any, ubits: Any, limits: Any, shift: float) -> tuple[float, float, int, Any, Any,
                                                                                    Any]:
    """float64 sums of x - shift and of its squares, the zero count, and the signed max and the unsigned min and max of
    x's raw bits (`bits` and `ubits`: x viewed as signed and as unsigned integers of its width).

    Floats of one sign order as their bits do: the non-negative ones as signed integers, the negative ones (sign bit
    set) in reverse as unsigned integers. `numba_stats.moments` reads the float min and max from these three. Integer
    min/max of the bits vectorize where float min/max with NaN semantics do not, and at the bits' own width: a key map
    (shifts and masks) is promoted to 64-bit lanes by numba's integer typing (28% slower). Zeros (either sign) are
    counted from the bits too, in a 32-bit count (a float compare counted in 64-bit lanes cost as much as the two sums).
    `limits` are the largest and smallest signed, then unsigned, integers of that width (where the min and max start;
    not computed here, where numba would widen them). The loops read SUB values per step and prefetch the lines AHEAD
    bytes in front of them: the hardware prefetcher alone left them waiting on memory (0.75 against 0.59 ns a float32
    value, one thread, GPT-2's embedding), and a SPAN's lines asked at once stalled them (0.59 against 0.39). The sums
    and the bit loops are two loops over each step: in one, the integer lanes were as few as the float64 ones (0.25
    against 0.19 ns a value from L1). Each SPAN's sums are added to the part's with `two_sum`: a plain running sum of
    4096-value sums lost 2**7 ulps of the mean of 2**19 values of [-1, 1]. A NaN makes the sums NaN: the caller sees it
    there and defers to the eager path."""
    total = 0.0
    squares = 0.0
    carry = 0.0
    carry_sq = 0.0
    zeros = np.uint32(0)
    hi, ulo, uhi = limits[1], limits[2], limits[3]
    n = x.size
    line = 64 // x.itemsize
    ahead = AHEAD // x.itemsize
    magnitude = limits[0]  # all bits but the sign
    for start in range(0, n, SPAN):
        stop = min(n, start + SPAN)
        t = 0.0
        q = 0.0
        for sub in range(start, stop, SUB):
            end = min(stop, sub + SUB)
            for j in range(sub + ahead, min(n, end + ahead), line):
                prefetch(x, j)
            span, sbits, subits = x[sub:end], bits[sub:end], ubits[sub:end]  # slices: the loop vectorizes
            for i in range(span.size):  # float64 lanes
                d = float(span[i]) - shift
                t += d
                q += d * d
            for i in range(span.size):  # the same values again, from L1, in lanes of their own width
                k = sbits[i]
                u = subits[i]
                zeros = np.uint32(zeros + np.uint32(k & magnitude == 0))  # +0.0 and -0.0
                hi = max(hi, k)
                ulo = min(ulo, u)
                uhi = max(uhi, u)
        total, carry = two_sum(total, carry, t)
        squares, carry_sq = two_sum(squares, carry_sq, q)
    return total + carry, squares + carry_sq, int(zeros), hi, ulo, uhi


def moments(x: Any, bits: Any, ubits: Any, limits: Any, shift: float,
            parts: int) -> tuple[float, float, int, Any, Any, Any]:
    """`moments_part` over `parts` equal parts of x (one per thread in the parallel build), merged."""
    n = x.size
    step = (n + parts - 1) // parts
    sums = np.zeros((parts, 2), dtype=np.float64)
    zeros = np.zeros(parts, dtype=np.int64)
    keys = np.empty(parts, dtype=bits.dtype)
    ukeys = np.empty((parts, 2), dtype=ubits.dtype)
    for p in prange(parts):
        start, stop = min(n, p * step), min(n, (p + 1) * step)
        t, q, z, hi, ulo, uhi = moments_part(x[start:stop], bits[start:stop], ubits[start:stop], limits, shift)
        sums[p, 0], sums[p, 1], zeros[p] = t, q, z
        keys[p], ukeys[p, 0], ukeys[p, 1] = hi, ulo, uhi
    return moments_merge(sums, zeros, keys, ukeys, limits)


def moments_merge(sums: Any, zeros: Any, keys: Any, ukeys: Any, limits: Any) -> tuple[float, float, int, Any, Any,
                                                                                      Any]:
    """The parts' partial moments merged: float64 sums, integer counts, min/max of the bits."""
    total, squares, count = 0.0, 0.0, 0
    hi, ulo, uhi = limits[1], limits[2], limits[3]
    for p in range(zeros.size):
        total += sums[p, 0]
        squares += sums[p, 1]
        count += zeros[p]
        hi = max(hi, keys[p])
        ulo, uhi = min(ulo, ukeys[p, 0]), max(uhi, ukeys[p, 1])
    return total, squares, count, hi, ulo, uhi


def hist_part(x: Any, shift: Any, a: Any, b: Any, top: Any, width: int, table: Any, single: Any) -> None:
    """Add the codes floor((x - shift) * a + b), clamped to [0, top] by selects (a NaN goes to 0, so no code leaves the
    table), to `table`. With width > 1 (width = bins) two codes are counted as one index c0 * width + c1 of a bins**2
    table: half the scattered increments. The increments go to a uint16 copy of the table, added to it every FLUSH
    blocks: half the cache lines of int32 counts, so that the table, the codes and the block stay in L1 together (data
    spread over all bins, such as uniform initializations, ran 1.6x slower on an int32 table). A block pairs its first
    half with its second (contiguous loads; the deinterleaved pairs of neighbours cost shuffles), and the lines AHEAD
    bytes in front are prefetched (0.91 against 0.61 ns a float32 value, one thread, GPT-2's embedding), one at a time
    between the increments, the part of the loop that does not vectorize (0.46; all a block's lines before its codes:
    0.61). An odd last value is counted in `single`."""
    zero = top - top  # the bounds are in x's dtype (top = bins - 1): nothing widens in the code loops
    codes = np.empty(BLOCK, dtype=np.uint32)  # unsigned: the scatter's index needs no wraparound check
    per = 2 if width > 1 else 1
    whole = x.size // per * per
    local = np.zeros(table.size, dtype=np.uint16)  # half the int32 table's lines in L1; flushed before it wraps
    blocks = 0
    line = 64 // x.itemsize
    ahead = AHEAD // x.itemsize
    lines = BLOCK * per // line  # lines per block, asked for over its increments
    every = max(1, BLOCK // lines)
    for start in range(0, whole, BLOCK * per):
        block = x[start:min(start + BLOCK * per, whole)]  # a slice: the code loops vectorize
        m = block.size // per
        if per == 2:  # the block's first half pairs with its second: two contiguous loads, no shuffles
            first, second = block[:m], block[m:]
            for i in range(m):
                t = (first[i] - shift) * a + b
                u = (second[i] - shift) * a + b
                t = t if t > 0 else zero
                u = u if u > 0 else zero
                codes[i] = np.uint32(np.int32(t if t < top else top) * width + np.int32(u if u < top else top))
        else:
            for i in range(m):
                t = (block[i] - shift) * a + b
                t = t if t > 0 else zero
                codes[i] = np.uint32(np.int32(t if t < top else top))  # truncation: floor for t >= 0
        j = start + ahead
        k = 0
        for i in range(m):
            local[codes[i]] += 1
            k += 1
            if k == every:
                k = 0
                if j < whole:
                    prefetch(x, j)
                j += line
        while j < start + BLOCK * per + ahead and j < whole:  # the block's lines not asked for yet (a short block)
            prefetch(x, j)
            j += line
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


def both(x: Any, bits: Any, ubits: Any, limits: Any, shift: float, bins: int, paired: bool, scratch: Any,
         parts: int) -> tuple[tuple[float, float, int, Any, Any, Any], Any]:
    """`moments`, then the histogram of x over its own range as `numba_stats.hist` would bin it after
    `stats.steps` chose that range, in one call: the one-chunk tensor's second Python round trip (and, in the
    parallel build, its second launch of the threads) is saved. The counts are empty where the eager path must
    decide (NaN/Inf, a range beyond float32's reach). `scratch` is four values of x's dtype with their signed and
    unsigned integer views: x's float min and max are read back from their bits there, then the map's constants
    are rounded to x's dtype there. `moments` and `hist` are the builds of the same kind (serial or parallel),
    put in this function's globals by numba_stats."""
    done = moments(x, bits, ubits, limits, shift, parts)
    total, squares, _, hi_bits, ulo_bits, uhi_bits = done
    values, signed, unsigned = scratch
    if not (np.isfinite(total) and np.isfinite(squares)):
        return done, np.zeros(0, dtype=np.int64)
    # As numba_stats._range, read back through the views (no compare of signed with unsigned integers, which
    # numba makes in float64): the min is the largest unsigned bits if one has its sign set, else the smallest;
    # the max the largest signed bits if one is non-negative, else the smallest unsigned.
    unsigned[0] = uhi_bits
    if signed[0] >= 0:
        unsigned[0] = ulo_bits
    signed[1] = hi_bits
    if hi_bits < 0:
        unsigned[1] = ulo_bits
    lo, hi = float(values[0]), float(values[1])
    if lo == hi:  # as stats._hist_range: a unit-wide range centred on a single value
        half = max(0.5, abs(lo) * 2.0**-20)
        lo, hi = max(lo - half, -_FMAX), min(hi + half, _FMAX)
    big, span = max(abs(lo), abs(hi)), hi * 0.5 - lo * 0.5  # as numba_stats.hist from here on
    if not (big < 2.0**100 and span > 2.0**-100):
        return done, np.zeros(0, dtype=np.int64)
    scale = bins / (2 * span)
    shift_h, b = (0.0, -lo * scale) if abs(lo) <= 8 * span else (lo, 0.0)
    values[0], values[1], values[2], values[3] = shift_h, scale, b, bins - 1  # rounded to x's dtype, as kind(...)
    return done, hist(x, values[0], values[1], values[2], values[3], bins, paired, parts)
