"""The numba kernels of `stats` (the `fast` extra) on their own: serial and parallel builds agree exactly, with the
eager path and with a float64 numpy reference, at odd sizes, constant, zero, NaN, Inf and extreme chunks; small
chunks wait for a compiled build."""

from __future__ import annotations

import math

import numpy as np
import pytest

from paramscope.adapters import numba_kernels, numba_stats, numpy_stats

pytest.importorskip("numba")


@pytest.fixture(autouse=True)
def loaded(monkeypatch):
    numba_stats.set_enabled(True)
    if not numba_stats.available():
        pytest.skip("the numba kernels are off (PARAMSCOPE_NUMBA=0)")
    monkeypatch.setattr(numba_stats, "MIN_ELEMS", 0)
    monkeypatch.setattr(numba_stats, "PARALLEL_MIN", 0)
    yield
    numba_stats.set_enabled(True)


def run(name: str, parts: int, *args):
    """A driver's serial build (parts=1) or its parallel build split in `parts`, whatever the thread count."""
    return numba_stats._state[name + ("_parallel" if parts > 1 else "")](*args, parts)


def eager_hist(x: np.ndarray, lo: float, hi: float, bins: int) -> list[int]:
    numba_stats.set_enabled(False)
    try:
        return numpy_stats.hist(x, lo, hi, bins, True)
    finally:
        numba_stats.set_enabled(True)


def sizes() -> list[int]:
    block = 2 * numba_kernels.BLOCK  # values per histogram block when paired
    return [1, 2, 3, 7, block - 1, block, block + 1, 3 * block + 5, 100_001]


@pytest.mark.parametrize("n", sizes())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parallel_parts_merge_exactly(n, dtype):
    """Each split (1 to 5 parts, more parts than values too) gives the serial min, max and counts exactly and its
    sums to float64 rounding; the bins are those of the eager path for paired (<= 64) and single codes."""
    rng = np.random.default_rng(n)
    x = (rng.standard_normal(n) * 0.02 - 0.003).astype(dtype)
    x[:: 97] = 0
    if n > 2:
        x[1] = -0.0
    signed, unsigned, limits, _ = numba_stats._BITS[x.dtype]
    views = (x.view(signed), x.view(unsigned), limits)
    serial = run("moments", 1, x, *views, 0.0)
    ref = x.astype(np.float64)
    assert serial[2] == int((x == 0).sum())
    assert serial[0] == pytest.approx(float(ref.sum()), rel=1e-12, abs=1e-15)
    assert serial[1] == pytest.approx(float((ref * ref).sum()), rel=1e-12)
    lo, hi = float(x.min()), float(x.max())
    for parts in (2, 3, 5):
        split = run("moments", parts, x, *views, 0.0)
        assert split[2:] == serial[2:]
        assert split[0] == pytest.approx(serial[0], rel=1e-12, abs=1e-15)
        assert split[1] == pytest.approx(serial[1], rel=1e-12)
    m = numba_stats.moments(x, threads=2)
    assert m is not None and (m.count, m.min, m.max, m.zeros) == (n, lo, hi, int((x == 0).sum()))
    for bins in (1, 2, 63, 64, 65, 256):
        expected = eager_hist(x, lo, hi if hi > lo else lo + 1, bins)
        for threads in (1, 2):
            assert numba_stats.hist(x, lo, hi if hi > lo else lo + 1, bins, True, threads) == expected
        kind = x.dtype.type
        top = hi if hi > lo else lo + 1
        scale = bins / (top - lo)
        for parts in (2, 3):
            counts = run("hist", parts, x, kind(0), kind(scale), kind(-lo * scale), kind(bins - 1), bins,
                         1 < bins <= 64)
            assert counts.tolist() == expected


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_min_and_max_of_each_sign_from_the_bits(dtype):
    """The min and max come from the signed and unsigned min/max of the raw bits: all positive, all negative, both,
    -0.0 alone or beside +0.0, subnormals, the largest finite values, in one part and split."""
    info = np.finfo(dtype)
    tiny = float(info.smallest_subnormal)
    cases = [[0.5, 3.0, 1e-3], [-0.5, -3.0, -1e-3], [-2.0, 7.0, 0.0], [-0.0, -1.0], [-0.0], [0.0, -0.0], [-0.0, 0.0],
             [-tiny, tiny], [-tiny, -0.0], [tiny, 0.0], [float(info.max), -float(info.max)], [-float(info.max), -1.0],
             [float(info.max), 1.0], [-5.0, -5.0], [2.0]]
    for values in cases:
        x = np.array(values * 30_000, dtype=dtype)  # 2 parts and more: each part sees every value
        y = np.array(values, dtype=dtype)
        for data in (x, y):
            for threads in (1, 2, 3):
                m = numba_stats.moments(data, threads)
                big = max(abs(v) for v in values)
                if m is None:  # float64 squares would leave float64: the eager path scales these
                    assert dtype == np.float64 and not numba_stats._SAFE64[0] <= big <= numba_stats._SAFE64[1]
                    continue
                lo, hi = float(data.min()), float(data.max())
                assert (m.min, m.max) == (lo, hi), (values, threads)
                # -0.0 and 0.0 compare equal: the sign of a zero min/max is that of the data's own order
                assert math.copysign(1, m.min) == math.copysign(1, min(values, key=lambda v: (v, math.copysign(1, v))))
                assert math.copysign(1, m.max) == math.copysign(1, max(values, key=lambda v: (v, math.copysign(1, v))))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_moments_and_hist_in_one_call_bin_as_the_two_calls_do(dtype):
    """A one-chunk tensor's moments and counts from one kernel call are those of `moments`, then `hist` over the
    range `stats` picks (a single value widened to a unit range; offset data binned as x - lo), paired or not, on
    one thread or split; where `hist` defers (a range beyond float32's reach) or NaN is in the chunk, so does it."""
    from paramscope.stats import _hist_range

    rng = np.random.default_rng(7)
    cases = {"normal": rng.standard_normal(50_001) * 0.02, "offset": rng.standard_normal(3000) * 1e-3 + 1000,
             "constant": np.full(40_000, 0.25), "one": np.array([-3.0]), "tiny range": np.array([1.0, 1.0 + 2**-52]),
             "huge": np.array([1e35, -1e35, 5.0]), "NaN": np.array([1.0, np.nan, 2.0]),
             "-0.0 the only sign": np.array([-0.0, 1.0, 0.5] * 9000), "all negative": -rng.random(30_000) - 0.5}
    for name, values in cases.items():
        x = values.astype(dtype)
        for bins in (1, 7, 64, 65, 256):
            for threads in (1, 2):
                both = numba_stats.moments_and_hist(x, bins, threads)
                alone = numba_stats.moments(x, threads)
                if alone is None:
                    assert both is None, name
                    continue
                assert both is not None and both[0] == alone, (name, bins)
                lo, hi = _hist_range(alone)
                assert both[1] == numba_stats.hist(x, lo, hi, bins, True, threads), (name, bins, threads)
    assert numba_stats.moments_and_hist(cases["huge"].astype(dtype), 64)[1] is None  # float32 scale: eager


def test_constant_zero_and_extreme_chunks():
    """All-equal values: m2 is 0 and every value is in one bin (300,001 counts: past a uint16); all zeros (with
    -0.0): the zero count and the range; float32 max: squares stay finite in float64; a chunk of one value."""
    for threads in (1, 2):
        same = np.full(300_001, 0.1, dtype=np.float32)
        m = numba_stats.moments(same, threads)
        assert m is not None and (m.m2, m.min, m.max, m.mean) == (0.0, float(same[0]), float(same[0]), float(same[0]))
        # one count past the uint16 table's range (flushed every FLUSH blocks: 32,768 pairs), paired and single codes
        assert numba_stats.hist(same, float(same[0]) - 0.5, float(same[0]) + 0.5, 64, True, threads)[32] == same.size
        assert numba_stats.hist(same, float(same[0]) - 0.5, float(same[0]) + 0.5, 256, True, threads)[128] == same.size
        zeros = np.zeros(5001, dtype=np.float32)
        zeros[::2] = -0.0
        m = numba_stats.moments(zeros, threads)
        assert m is not None and (m.zeros, m.min, m.max, m.mean, m.m2) == (5001, 0.0, 0.0, 0.0, 0.0)
        big = np.array([3.4e38, -3.4e38, 3.0e38, 1.0, 0.0], dtype=np.float32)
        m = numba_stats.moments(big, threads)
        ref = big.astype(np.float64)
        assert m is not None and (m.min, m.max, m.zeros) == (float(big.min()), float(big.max()), 1)
        assert m.mean == pytest.approx(ref.mean(), rel=1e-12) and m.m2 == pytest.approx(ref.var() * 5, rel=1e-12)
        one = np.array([-2.5], dtype=np.float32)
        m = numba_stats.moments(one, threads)
        assert m is not None and (m.count, m.mean, m.m2, m.min, m.max) == (1, -2.5, 0.0, -2.5, -2.5)


@pytest.mark.parametrize("fill", [math.nan, math.inf, -math.inf])
def test_nan_and_inf_defer_to_the_eager_path(fill):
    """A NaN or an infinity anywhere (all-NaN too) makes the sums non-finite: the kernels answer None, and the
    eager path masks them; a histogram of a chunk that is not finite is never the kernels' to count."""
    x = np.random.default_rng(5).standard_normal(300_000).astype(np.float32)
    for where in (0, 150_000, x.size - 1):
        y = x.copy()
        y[where] = fill
        for threads in (1, 2):
            assert numba_stats.moments(y, threads) is None
    nan = np.full(300_000, np.nan, dtype=np.float32)
    assert numba_stats.moments(nan, 2) is None and numba_stats.hist(nan, 0.0, 1.0, 64, False, 2) is None
    assert numba_stats.moments(np.array([1e300, 2e300]), 2) is None  # float64 squares leave float64


def test_small_chunks_wait_for_a_compiled_build(monkeypatch):
    """Below MIN_ELEMS the kernels answer only for a build (serial or parallel, dtype, writeable) that has run: a
    first click on a small parameter never waits for a compile."""
    monkeypatch.setattr(numba_stats, "MIN_ELEMS", 1000)
    monkeypatch.setattr(numba_stats, "PARALLEL_MIN", 1 << 62)
    numba_stats.set_enabled(True)
    small = np.linspace(-1, 1, 999, dtype=np.float32)
    assert numba_stats.wanted(small.size) is False  # not loaded yet: a small chunk does not load numba
    assert numba_stats.wanted(1000) and numba_stats.wanted(small.size)
    assert numba_stats.moments(small) is None and numba_stats.hist(small, -1.0, 1.0, 64, True) is None
    big = np.linspace(-1, 1, 1000, dtype=np.float32)
    assert numba_stats.moments(big) is not None and numba_stats.hist(big, -1.0, 1.0, 64, True) is not None
    assert numba_stats.moments(small) is not None and numba_stats.hist(small, -1.0, 1.0, 64, True) is not None
    assert numba_stats.moments(small.astype(np.float64)) is None  # its float64 build has not run
    readonly = small.copy()
    readonly.flags.writeable = False
    assert numba_stats.moments(readonly) is None  # nor its read-only one


def test_numba_kernels_answer_or_defer():
    """The kernels answer plain float chunks and leave NaN/Inf, float64 extremes and strided chunks to the eager
    path, which the adapters then take."""
    rng = np.random.default_rng(4)
    x = (rng.standard_normal(50_001) * 0.02 + 0.5).astype(np.float32)
    m = numba_stats.moments(x)
    assert m is not None and (m.count, m.min, m.max, m.zeros) == (x.size, float(x.min()), float(x.max()), 0)
    assert m.mean == pytest.approx(float(x.astype(np.float64).mean()), rel=1e-9)
    assert m.m2 == pytest.approx(float(x.astype(np.float64).var()) * x.size, rel=1e-9)
    counts = numba_stats.hist(x, m.min, m.max, 64, True)
    assert counts is not None and sum(counts) == x.size
    numba_stats.set_enabled(False)
    assert counts == numpy_stats.hist(x, m.min, m.max, 64, True)  # the same float32 map, bin for bin
    numba_stats.set_enabled(True)
    y = x.copy()
    y[7] = np.nan
    assert numba_stats.moments(y) is None and numba_stats.hist(y, m.min, m.max, 64, False) is None
    assert numba_stats.moments(np.array([1e300, 2e300])) is None
    assert numba_stats.moments(x[::2]) is None and numba_stats.moments(x.astype(np.float16)) is None


def test_numba_without_a_writable_cache_compiles_per_process(monkeypatch):
    """Where no cache location is writable (a read-only install, no NUMBA_CACHE_DIR), the kernels still load."""
    from numba.core import caching

    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", [])
    numba_stats.set_enabled(True)
    assert numba_stats.available()
    assert numba_stats._state["moments"]._cache.__class__.__name__ == "NullCache"
    monkeypatch.undo()
    numba_stats.set_enabled(True)
    assert numba_stats.available()



_CACHED = """
import json, time
import numpy as np
from paramscope.adapters import numba_stats
assert numba_stats.available()
x = np.linspace(-1, 1, 1 << 22, dtype=np.float32)
serial = numba_stats.moments(x, threads=1), numba_stats.hist(x, -1.0, 1.0, 64, True, threads=1)
split = numba_stats.moments(x, threads=2), numba_stats.hist(x, -1.0, 1.0, 64, True, threads=2)
process, main = time.process_time(), time.thread_time()
for _ in range(5):
    numba_stats.moments(x, threads=2), numba_stats.hist(x, -1.0, 1.0, 64, True, threads=2)
process, main = time.process_time() - process, time.thread_time() - main
print(json.dumps({"others": (process - main) / process, "same": serial[1] == split[1]
                  and (serial[0].count, serial[0].min, serial[0].max) == (split[0].count, split[0].min, split[0].max)}))
"""


def test_parallel_builds_load_their_own_code_from_a_warm_cache(tmp_path):
    """The serial and the parallel build of a driver are cached apart: from a cold and from a warm cache, the
    parallel build splits a chunk over two threads (it once loaded the serial build's code from the cache and ran on
    one). A static split makes the other thread do half the work, so it has at least a quarter of the CPU time
    whatever the load; the serial code would leave it none."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "NUMBA_NUM_THREADS": "2", "PARAMSCOPE_NUMBA": "1"}
    env.pop("PARAMSCOPE_STATS_THREADS", None)
    for cache in ("cold", "warm"):
        out = subprocess.run([sys.executable, "-c", _CACHED], env=env, capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result["same"] and result["others"] > 0.25, (cache, result)
    names = {p.name.split("-")[0].split(".")[-1] for p in tmp_path.rglob("*.nbi")}
    assert {"moments", "moments_parallel", "hist", "hist_parallel"} <= names, names


def test_disabled_turns_the_kernels_off_for_a_while_and_keeps_them_loaded(monkeypatch):
    """`disabled()` (used by the benchmarks' eager rounds) sends every chunk to the eager path and then restores
    the loaded kernels as they were: the next round does not load or compile them again."""
    x = np.linspace(-1.0, 1.0, 4097, dtype=np.float32)
    loaded = numba_stats._state["moments"]
    runs: list[str] = []
    real = numba_stats._run
    monkeypatch.setattr(numba_stats, "_run", lambda name, *args: runs.append(name) or real(name, *args))
    assert numba_stats.wanted(x.size)
    with numba_stats.disabled():
        assert not numba_stats.wanted(x.size) and not numba_stats.available()
        eager = numpy_stats.moments(x)
    assert runs == []
    assert numba_stats.wanted(x.size) and numba_stats._state["moments"] is loaded
    fast = numpy_stats.moments(x)
    assert runs == ["moments"]
    assert (eager.count, eager.min, eager.max, eager.zeros) == (fast.count, fast.min, fast.max, fast.zeros)
    assert eager.mean == pytest.approx(fast.mean, abs=1e-9) and eager.m2 == pytest.approx(fast.m2, rel=1e-6)
