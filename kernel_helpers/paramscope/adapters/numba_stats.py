"""Optional single-read CPU kernels for `stats` (numba, the `fast` extra): moments and histogram of a 1-D chunk.

One loop over a contiguous float32/float64 chunk gives its min, max, zero count and float64 sums of the values and
of their squares about a shift (the chunk's first value); a second loop, once the tensor's range is known, bins it
(`numba_kernels`). On more than one thread, chunks of PARALLEL_MIN values and more are split over threads and
merged exactly.
`moments` and `hist` answer None where the eager paths must decide (NaN/Inf, float64 values whose squares leave
float64, ranges that leave float32): the caller then takes its exact slower path. Without numba, or with
PARAMSCOPE_NUMBA=0, `available()` is False and nothing here is compiled. Compiled code is cached next to this
module or in NUMBA_CACHE_DIR; where neither is writable it is compiled per process instead.
"""

from __future__ import annotations

import contextlib
import math
import os
import struct
import threading
import types
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from . import Moments

# float64 sums of squares stay finite and normal for |x| in this range; outside it the eager path scales.
_SAFE64 = (2.0**-450, 2.0**450)
_RESHIFT = 2.0**20  # sum of squares about the shift over m2: beyond this, shift by the mean and sum again
_PAIRED = 64  # up to this many bins, codes are counted in pairs (a 64 x 64 table of uint16: 8 KiB)
_PAIRED_MIN = 1 << 14  # and in chunks of this many values or more: the bins**2 table's upkeep costs ~4 us a call
# The integer views of a float type's bits for the min/max (see numba_kernels.moments_part): signed, unsigned,
# the limits where their min and max start (largest and smallest signed, largest and smallest unsigned), and the
# struct formats that read bits back as the float.
_BITS: dict[np.dtype, tuple[Any, Any, tuple[Any, Any, Any, Any], tuple[str, str, str]]] = {
    np.dtype(np.float32): (np.int32, np.uint32, (np.int32(2**31 - 1), np.int32(-2**31), np.uint32(2**32 - 1),
                                                 np.uint32(0)), ("<i", "<I", "<f")),
    np.dtype(np.float64): (np.int64, np.uint64, (np.int64(2**63 - 1), np.int64(-2**63), np.uint64(2**64 - 1),
                                                 np.uint64(0)), ("<q", "<Q", "<d")),
}
_FLAGS = {"reassoc", "contract", "nsz", "arcp"}  # reordered sums vectorize; NaN and Inf keep their meaning
# Smaller chunks take the kernels only once a bigger one has loaded and compiled them for their type: numba's
# import and first compile (0.5 s with a warm cache, seconds cold) would otherwise delay the first click on a small
# parameter past the UI's 300 ms budget.
MIN_ELEMS = 1 << 16
# Threads per chunk: PARAMSCOPE_STATS_THREADS where set, else what the caller passes (the framework's intra-op
# thread count, as its own sum() uses: PyTorch's, and Keras's backend's), else 1. MXNet stays on one thread. Keras
# on TensorFlow once stayed on one too: numba's OpenMP workers and TensorFlow's pool spinning in turn, a
# TensorFlow slice per chunk, made some runs 20x slower. Its chunks are slices of one numpy view now (no op
# between kernel calls): on two threads, 15 rounds after a tf.reduce_sum each, 107-145 ms against 182-201 on one.
_ASKED = os.environ.get("PARAMSCOPE_STATS_THREADS", "").strip()
THREADS: int | None = max(1, int(_ASKED)) if _ASKED else None
PARALLEL_MIN = 1 << 18  # chunks from this size are split over threads (a parallel region costs ~5-50 us)
_state: dict[str, Any] = {}
_warm: set[tuple[str, np.dtype, bool]] = set()  # (build, dtype, writeable) that ran: compiled or loaded
_LOCK = threading.Lock()


def cpus() -> int:
    """The CPUs this process may run on (numba starts as many workers; `_parts` never asks for more)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def wanted(n: int) -> bool:
    """Whether a chunk of `n` values may go through the kernels: a big one loads them (numba's import and compile
    pay off there), a smaller one only once they are loaded, and then only a build already compiled for its type."""
    return available() if n >= MIN_ELEMS else _state.get("ok") is True


def available() -> bool:
    """Whether the kernels can run: numba imports and PARAMSCOPE_NUMBA is not 0. Decided once per process."""
    if "ok" not in _state:
        _state["ok"] = os.environ.get("PARAMSCOPE_NUMBA", "1") != "0" and _compile()
    return bool(_state["ok"])


def set_enabled(on: bool) -> None:
    """Force the kernels off (or back to what `available` finds): used by tests to cover the eager paths."""
    _state.pop("ok", None)
    _warm.clear()
    if not on:
        _state["ok"] = False


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """The eager paths only, for a while (benchmarks compare them in the same rounds), keeping what is loaded."""
    before = _state.get("ok")
    _state["ok"] = False
    try:
        yield
    finally:
        if before is None:
            _state.pop("ok", None)
        else:
            _state["ok"] = before


def _compile() -> bool:
    try:
        import numba
    except ImportError:
        return False
    from . import numba_kernels

    def jit(fn: Any, fastmath: Any, parallel: bool = False) -> Any:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", numba.NumbaWarning)
                return numba.njit(cache=True, nogil=True, fastmath=fastmath, parallel=parallel)(fn)
        except RuntimeError:  # no writable cache location: compile in this process only
            return numba.njit(nogil=True, fastmath=fastmath, parallel=parallel)(fn)

    # The parts and merges are compiled on their own and called by the drivers; the drivers once serial, once
    # parallel. The histogram has no contraction (fused multiply-adds): its codes are those of the eager path, bit
    # for bit.
    numba_kernels.prefetch = _prefetch_intrinsic()
    numba_kernels.two_sum = jit(getattr(numba_kernels.two_sum, "py_func", numba_kernels.two_sum), False)
    for name, flags in (("moments", _FLAGS), ("hist", False)):
        for helper in (name + "_part", name + "_merge"):
            fn = getattr(numba_kernels, helper)
            setattr(numba_kernels, helper, jit(getattr(fn, "py_func", fn), flags))  # once compiled: py_func
        fn = getattr(numba_kernels, name)
        _state[name] = jit(fn, flags)
        _state[name + "_parallel"] = jit(_renamed(fn, name + "_parallel"), flags, parallel=True)
    both = getattr(numba_kernels.both, "py_func", numba_kernels.both)
    for build in ("", "_parallel"):  # `both` calls the drivers of its own kind: its globals name them
        names = {**vars(numba_kernels), "moments": _state["moments" + build], "hist": _state["hist" + build]}
        _state["both" + build] = jit(_renamed(both, "both" + build, names), False)
    _state["threads"] = numba.get_num_threads()
    return True


def _prefetch_intrinsic() -> Any:
    """`prefetch(x, i)` for the kernels: LLVM's prefetch of x[i]'s cache line (a read, kept in every cache
    level), which never faults, emitted in place."""
    from llvmlite import ir
    from numba.core import cgutils
    from numba.core import types as nb_types
    from numba.extending import intrinsic

    @intrinsic
    def prefetch(typingctx: Any, array: Any, index: Any) -> Any:
        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            ty = signature.args[0]
            data = context.make_array(ty)(context, builder, args[0])
            where = cgutils.get_item_pointer(context, builder, ty, data, [args[1]], wraparound=False,
                                             boundscheck=False)
            byte = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [byte, i32, i32, i32]),
                                                "llvm.prefetch.p0i8")
            builder.call(fn, [builder.bitcast(where, byte), ir.Constant(i32, 0), ir.Constant(i32, 3),
                              ir.Constant(i32, 1)])
            return context.get_dummy_value()

        return nb_types.void(array, index), codegen

    return prefetch


def _renamed(fn: Any, name: str, names: dict[str, Any] | None = None) -> Any:
    """A copy of `fn` under another name (and with other globals, `names`). numba's cache files are named by a
    function's module, qualified name and line, and its index does not tell a parallel build from a serial one:
    two builds of one function shared one cache, and whichever compiled first was loaded for both (the parallel
    driver ran serially from a warm cache)."""
    copy = types.FunctionType(fn.__code__, fn.__globals__ if names is None else names, name, fn.__defaults__,
                              fn.__closure__)
    copy.__qualname__ = name
    copy.__module__ = fn.__module__
    copy.__annotations__ = dict(fn.__annotations__)
    return copy


def _parts(n: int, threads: int | None) -> int:
    """Into how many parts (one per thread) a chunk of n values is split: one below PARALLEL_MIN, else `threads`
    (THREADS, or 1, when None), at most the threads numba started."""
    if n < PARALLEL_MIN:
        return 1
    most: int = _state["threads"]
    return max(1, min(most, (THREADS or 1) if threads is None else threads))


def _run(name: str, parts: int, x: np.ndarray, *args: Any) -> Any:
    """The serial or the parallel build of a driver, or None for a small chunk whose build has not run yet. One
    parallel kernel at a time: numba's workqueue threading layer (where neither OpenMP nor TBB is found) aborts on
    concurrent launches, so a second caller runs serially. A big chunk takes the serial build the first time, so
    that small chunks (always serial) find it loaded."""
    serial = (name, x.dtype, bool(x.flags.writeable))
    parallel = parts > 1 and serial in _warm and _LOCK.acquire(blocking=False)
    build = name + "_parallel" if parallel else name
    key = (build, x.dtype, bool(x.flags.writeable))
    try:
        if x.size < MIN_ELEMS and key not in _warm:
            return None
        result = _state[build](x, *args, parts if parallel else 1)
    finally:
        if parallel:
            _LOCK.release()
    _warm.add(key)
    return result


def moments(x: np.ndarray, threads: int | None = None) -> Moments | None:
    """Moments of a contiguous 1-D float32/float64 chunk in one read (on up to `threads` threads), or None where
    the eager path must decide (NaN/Inf, float64 values whose squares leave float64)."""
    found = _moments(x, threads, None)
    return None if found is None else found[0]


def moments_and_hist(x: np.ndarray, bins: int, threads: int | None = None) -> tuple[Moments, list[int] | None] | None:
    """`moments`, and for a chunk that is a whole tensor its `bins` counts over its own range (the range
    `stats.steps` bins it over) from the same call, or None for those counts where `hist` would answer None."""
    return _moments(x, threads, bins)


def _moments(x: np.ndarray, threads: int | None, bins: int | None) -> tuple[Moments, list[int] | None] | None:
    n = x.size
    if n == 0 or n >= 1 << 31 or x.dtype not in _BITS or not x.flags.c_contiguous:
        return None
    signed, unsigned, limits, _ = _BITS[x.dtype]
    bits, ubits = x.view(signed), x.view(unsigned)
    parts = _parts(n, threads)
    shift = float(x[0])
    found = None
    if bins is not None:
        scratch = np.empty(4, dtype=x.dtype)
        found = _run("both", parts, x, bits, ubits, limits, shift, bins, 1 < bins <= _PAIRED and n >= _PAIRED_MIN,
                     (scratch, scratch.view(signed), scratch.view(unsigned)))
    # Without bins, or a small chunk before `both` has run for its type: the moments alone.
    done, counts = found if found is not None else (_run("moments", parts, x, bits, ubits, limits, shift), None)
    if done is None:
        return None
    total, squares, zeros, hi_bits, ulo_bits, uhi_bits = done
    if not (math.isfinite(total) and math.isfinite(squares)):  # NaN or Inf in the chunk
        return None
    lo, hi = _range(int(hi_bits), int(ulo_bits), int(uhi_bits), x.dtype)
    big = max(abs(lo), abs(hi))
    if x.dtype == np.float64 and (big > _SAFE64[1] or 0 < big < _SAFE64[0]):
        return None
    m2 = squares - total * total / n
    if m2 * _RESHIFT < squares:  # the first value was far from the mean: sum again about the mean
        shift = float(x.dtype.type(shift + total / n))
        total, squares = _run("moments", parts, x, bits, ubits, limits, shift)[:2]
        m2 = squares - total * total / n
    binned = list(counts.tolist()) if counts is not None and counts.size else None
    return Moments(n, shift + total / n, max(m2, 0.0), lo, hi, int(zeros)), binned


def _range(hi: int, ulo: int, uhi: int, dtype: np.dtype) -> tuple[float, float]:
    """The float min and max of finite values from the signed max (hi) and the unsigned min and max (ulo, uhi) of
    their bits. The max: the largest signed bits if any value is non-negative (sign bit clear: hi >= 0), else the
    negative value nearest 0, whose bits are the smallest. The min: the largest unsigned bits if any value is
    negative (-0.0 too: the sign bit set, uhi above the signed range), else the smallest."""
    _, _, limits, (ints, uints, floats) = _BITS[dtype]
    top = int(limits[0])
    high = struct.unpack(floats, struct.pack(ints, hi) if hi >= 0 else struct.pack(uints, ulo))[0]
    low = struct.unpack(floats, struct.pack(uints, uhi if uhi > top else ulo))[0]
    return float(low), float(high)


def hist(x: np.ndarray, lo: float, hi: float, bins: int, finite: bool, threads: int | None = None) -> list[int] | None:
    """Bin counts of a finite contiguous chunk with the eager path's affine map (on up to `threads` threads), or
    None to let the eager path decide (ranges that leave float32, NaN/Inf to mask)."""
    if not finite or x.size == 0 or x.size >= 1 << 31 or x.dtype not in _BITS or not x.flags.c_contiguous:
        return None
    big, span = max(abs(lo), abs(hi)), hi * 0.5 - lo * 0.5
    if not (big < 2.0**100 and span > 2.0**-100):  # the eager path widens or scales these
        return None
    scale = bins / (2 * span)
    kind = x.dtype.type
    # The same two maps as numpy_stats.hist, in the chunk's dtype: x * scale - lo * scale, or (x - lo) * scale.
    shift, b = (0.0, -lo * scale) if abs(lo) <= 8 * span else (lo, 0.0)
    parts = _parts(x.size, threads)
    counts = _run("hist", parts, x, kind(shift), kind(scale), kind(b), kind(bins - 1), bins,
                  1 < bins <= _PAIRED and x.size >= _PAIRED_MIN)
    return None if counts is None else list(counts.tolist())
