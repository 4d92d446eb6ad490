"""Statistics are exact to float32 rounding against a float64 numpy reference, in every framework: huge and tiny
magnitudes (float32 max, float64 near 1e308 and 1e-310), NaN-filled and Inf-containing tensors, offset data,
half precision, integers, empty and 0-D tensors, several chunks."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

import paramscope as ps
from paramscope.adapters import numba_stats

# float32 rounding: mean within 1e-6 of the data's scale (rms), std/rms within 1e-6 relative; min, max and the
# counts exact; a histogram value may change bin only within float32 rounding of an edge.
REL = 1e-6


def reference(values: np.ndarray) -> dict:
    a = np.asarray(values).astype(np.complex128 if np.iscomplexobj(values) else np.float64).ravel()
    a = np.abs(a) if np.iscomplexobj(a) else a.real
    finite = a[np.isfinite(a)]
    out = {"numel": a.size, "nan": int(np.isnan(a).sum()), "inf": int(np.isinf(a).sum()),
           "zeros": float((a == 0).sum() / a.size) if a.size else 0.0, "finite": finite}
    if finite.size:
        exp = int(np.frexp(np.abs(finite).max())[1]) if np.abs(finite).max() > 0 else 0
        s = np.ldexp(finite, -exp)  # exact: the reference itself must not overflow near 1e308
        out |= {"mean": math.ldexp(float(s.mean()), exp), "std": math.ldexp(float(s.std()), exp),
                "rms": math.ldexp(float(np.sqrt(np.mean(s * s))), exp), "min": float(finite.min()),
                "max": float(finite.max())}
    return out


def check(stats: dict, values: np.ndarray) -> None:
    ref = reference(values)
    assert stats["available"], stats
    assert (stats["numel"], stats["nan"], stats["inf"]) == (ref["numel"], ref["nan"], ref["inf"])
    assert stats["zeros"] == pytest.approx(ref["zeros"], abs=1e-12)
    if not ref["finite"].size:
        assert stats["mean"] is stats["std"] is stats["min"] is stats["max"] is None
        assert sum(stats["hist"]["counts"]) == 0
        return
    assert (stats["min"], stats["max"]) == (ref["min"], ref["max"])
    assert abs(stats["mean"] - ref["mean"]) <= REL * ref["rms"] + REL * abs(ref["mean"]), (stats["mean"], ref["mean"])
    assert stats["std"] == pytest.approx(ref["std"], rel=REL, abs=REL * ref["rms"] * 1e-3)
    assert stats["rms"] == pytest.approx(ref["rms"], rel=REL)
    edges = np.array(stats["hist"]["edges"])
    counts = np.array(stats["hist"]["counts"])
    assert counts.sum() == ref["finite"].size
    finite = ref["finite"]
    if np.isfinite(edges[-1] - edges[0]):
        expected, _ = np.histogram(finite, bins=edges)
        width = (edges[-1] - edges[0]) / len(counts)
        near = np.abs(finite[:, None] - edges[None, 1:-1]) <= 1e-5 * width + 2 * np.spacing(np.abs(finite))[:, None]
        assert np.abs(counts - expected).sum() <= 2 * near.sum(), (counts, expected)


def cases() -> dict[str, tuple[np.ndarray, str]]:
    rng = np.random.default_rng(0)
    nan_filled = np.full(1000, np.nan)
    with_inf = rng.standard_normal(5000)
    with_inf[[3, 70, 4000]] = [np.inf, -np.inf, np.nan]
    with_inf[:50] = 0
    return {
        "normal weights": ((rng.standard_normal(300_000) * 0.02).astype(np.float32), "float32"),
        "odd size": ((rng.standard_normal(100_001) * 0.02 - 0.01).astype(np.float32), "float32"),  # pairs + 1
        "offset": (rng.standard_normal(10_000) * 1e-3 + 1000, "float32"),
        "float32 max": (np.array([3.4e38, -3.4e38, 3.0e38, 1.0, 0.0]), "float32"),
        "float64 near 1e308": (np.array([1.7e308, 1.5e308, -1.0e308, 1e300, 0.0]), "float64"),
        "float64 near 1e308, constant": (np.full(7, 1.6e308), "float64"),
        "float64 tiny": (np.array([1e-310, 3e-320, -2e-315, 5e-311]), "float64"),
        "NaN-filled": (nan_filled, "float32"),
        "Inf and NaN and zeros": (with_inf, "float32"),
        "float16": (rng.standard_normal(4000) * 3, "float16"),
        "int8": (rng.integers(-128, 128, 4000), "int8"),
        "int64 large": (rng.integers(-2**50, 2**50, 1000), "int64"),
        "constant": (np.full(100, 0.25), "float32"),
    }


@pytest.fixture(params=["numba", "numba parallel", "eager"])
def kernels(request, monkeypatch):
    """Every CPU path: the optional numba kernels (the `fast` extra), serial and split over threads, and the eager
    numpy/torch ops without them."""
    if request.param.startswith("numba"):
        pytest.importorskip("numba")
        numba_stats.set_enabled(True)
        if not numba_stats.available():
            pytest.skip("the numba kernels are off (PARAMSCOPE_NUMBA=0)")
        monkeypatch.setattr(numba_stats, "MIN_ELEMS", 0)  # the small test tensors go through the kernels too
        # Parallel: every chunk split in two (numba's parallel build, as PARAMSCOPE_STATS_THREADS=2), or none.
        monkeypatch.setattr(numba_stats, "PARALLEL_MIN", 0 if request.param == "numba parallel" else 1 << 62)
        monkeypatch.setattr(numba_stats, "THREADS", 2)
    else:
        numba_stats.set_enabled(False)
    yield request.param
    numba_stats.set_enabled(True)


# -- PyTorch -------------------------------------------------------------------------------------------------


def torch_stats(values: np.ndarray, dtype: str) -> dict:
    torch = pytest.importorskip("torch")
    net = torch.nn.Module()
    net.register_buffer("v", torch.from_numpy(np.asarray(values).astype(dtype)))
    return ps.stats(net, "v")


@pytest.mark.parametrize("name", list(cases()))
def test_torch(name, kernels):
    values, dtype = cases()[name]
    check(torch_stats(values, dtype), np.asarray(values).astype(dtype))


def test_torch_kernels_run_on_torchs_threads_unless_told(monkeypatch):
    """The numba kernels split a PyTorch chunk over torch.get_num_threads() threads, as torch's own sum() does;
    PARAMSCOPE_STATS_THREADS (numba_stats.THREADS) overrides that. The results do not depend on it."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("numba")
    numba_stats.set_enabled(True)
    if not numba_stats.available():
        pytest.skip("the numba kernels are off (PARAMSCOPE_NUMBA=0)")
    asked: list[tuple[str, int | None]] = []
    for name in ("moments", "hist", "moments_and_hist"):
        real = getattr(numba_stats, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            asked.append((_name, args[-1]))
            return _real(*args, **kwargs)

        monkeypatch.setattr(numba_stats, name, spy)
    net = torch.nn.Module()
    net.w = torch.nn.Parameter(torch.linspace(-1, 1, 1 << 19))
    before = torch.get_num_threads()
    results = []
    try:
        for chunk in (1 << 20, 1 << 16):  # one chunk (moments and bins from one call), then two
            monkeypatch.setattr("paramscope.adapters.torch.CHUNK_ELEMS", chunk)
            calls = ["moments_and_hist"] if chunk == 1 << 20 else ["moments", "moments", "hist", "hist"]
            for threads, override in ((3, None), (1, None), (2, 1)):
                torch.set_num_threads(threads)
                monkeypatch.setattr(numba_stats, "THREADS", override)
                asked.clear()
                results.append(ps.stats(net, "w"))
                assert asked == [(name, override or threads) for name in calls]
    finally:
        torch.set_num_threads(before)
    # The same bins, range and counts; the sums to float64 rounding (3 parts add in another order than 1 or 2).
    exact = ("hist", "min", "max", "numel", "zeros", "nan", "inf")
    for r in results[1:]:
        assert {k: r[k] for k in exact} == {k: results[0][k] for k in exact}
        assert (r["mean"], r["std"], r["rms"]) == pytest.approx((results[0]["mean"], results[0]["std"],
                                                                 results[0]["rms"]), rel=1e-12, abs=1e-15)


def test_torch_bfloat16_complex_0d_empty_and_chunks(monkeypatch, kernels):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    net = torch.nn.Module()
    net.register_buffer("b", torch.from_numpy(rng.standard_normal(5000).astype(np.float32)).bfloat16())
    net.register_buffer("c", torch.from_numpy(rng.standard_normal((40, 3)) + 1j * rng.standard_normal((40, 3))))
    net.register_buffer("z", torch.tensor(2.5))
    net.register_buffer("e", torch.empty(0, 3))
    net.register_buffer("w", torch.from_numpy(rng.standard_normal((97, 131)).astype(np.float32)).t())
    check(ps.stats(net, "b"), net.b.float().numpy())
    check(ps.stats(net, "c"), net.c.numpy())
    check(ps.stats(net, "z"), np.array([2.5]))
    assert ps.stats(net, "e") == {**ps.stats(net, "e"), "available": False, "reason": "the tensor is empty"}
    whole = ps.stats(net, "w")
    monkeypatch.setattr("paramscope.adapters.torch.CHUNK_ELEMS", 1000)  # 13 row blocks of a transposed tensor
    chunked = ps.stats(net, "w")
    check(chunked, net.w.numpy())
    assert chunked["hist"] == whole["hist"] and chunked["mean"] == pytest.approx(whole["mean"], abs=1e-9)


def test_torch_kernel_chunks_are_bigger_and_a_chunk_passed_back_is_reduced_in_pieces(monkeypatch, kernels):
    """The kernels take a contiguous CPU float tensor KERNEL_CHUNKS times CHUNK_ELEMS at a time (each chunk costs a
    launch of their threads); a chunk they pass back to the eager path (here: NaN in it) is reduced CHUNK_ELEMS at
    a time, so the eager scratch buffers stay as small as before. Same statistics either way."""
    torch = pytest.importorskip("torch")
    from paramscope.adapters import adapter_for, torch_stats

    stats_module = sys.modules["paramscope.stats"]  # the module (ps.stats is the function)

    piece = 1 << 14
    monkeypatch.setattr("paramscope.adapters.torch.CHUNK_ELEMS", piece)
    monkeypatch.setattr(stats_module, "CHUNK_ELEMS", piece)
    values = (np.random.default_rng(3).standard_normal(150_001) * 0.02).astype(np.float32)
    values[[5, 70_000]] = np.nan  # in the first and the second kernel chunk; the third is finite
    net = torch.nn.Module()
    net.register_buffer("w", torch.from_numpy(values))
    sizes: list[int] = []
    moments, hist = torch_stats._moments, torch_stats._hist
    monkeypatch.setattr(torch_stats, "_moments", lambda x: sizes.append(x.numel()) or moments(x))
    monkeypatch.setattr(torch_stats, "_hist", lambda x, *a: sizes.append(x.numel()) or hist(x, *a))
    adapter = adapter_for(net)
    work = stats_module.steps(adapter, adapter.index(net).tensors["w"])
    progress = []
    while True:
        try:
            progress.append(next(work))
        except StopIteration as done:
            result = done.value
            break
    check(result, values)
    with_kernels = kernels.startswith("numba")
    assert torch_stats.kernel_ready(net.w) is with_kernels
    chunk = piece * (torch_stats.KERNEL_CHUNKS if with_kernels else 1)
    assert len(progress) == 2 * math.ceil(values.size / chunk)  # one step per chunk, moments then histogram
    assert sizes and max(sizes) <= piece  # nothing bigger than a piece reaches the eager ops
    if with_kernels:  # the two NaN chunks, four pieces each, for the moments and for the histogram
        assert sum(n == piece for n in sizes) == 2 * 2 * 4
    assert ps.stats(net, "w")["hist"] == result["hist"]


# -- MXNet ---------------------------------------------------------------------------------------------------


def mxnet_stats(values: np.ndarray, dtype: str) -> dict:
    pytest.importorskip("paramscope.adapters.mxnet_compat")
    mx = pytest.importorskip("mxnet")
    from mxnet.gluon import nn

    class Holder(nn.Block):
        def __init__(self) -> None:
            super().__init__()
            self.v = self.params.get("v", shape=np.shape(values), dtype=dtype, grad_req="null", init="zeros")

    net = Holder()
    net.initialize()
    net.v.set_data(mx.nd.array(np.asarray(values).astype(dtype), dtype=dtype))
    return ps.stats(net, "v")


@pytest.mark.parametrize("name", list(cases()))
def test_mxnet(name, kernels):
    values, dtype = cases()[name]
    check(mxnet_stats(values, dtype), np.asarray(values).astype(dtype))


def test_mxnet_several_chunks(monkeypatch, kernels):
    values = np.random.default_rng(2).standard_normal(10_000).astype(np.float32)
    whole = mxnet_stats(values, "float32")
    monkeypatch.setattr("paramscope.adapters.mxnet.CHUNK_ELEMS", 999)
    chunked = mxnet_stats(values, "float32")
    check(chunked, values)
    assert chunked["hist"] == whole["hist"]


# -- Keras ---------------------------------------------------------------------------------------------------


def keras_stats(values: np.ndarray, dtype: str) -> tuple[dict, np.ndarray]:
    """The stats and the values the variable really holds (JAX keeps float64 as float32 unless x64 is on)."""
    keras = pytest.importorskip("keras")

    class Holder(keras.layers.Layer):
        def build(self, _shape=None) -> None:
            self.v = self.add_weight(shape=np.shape(values), dtype=dtype, initializer="zeros", trainable=False,
                                     name="v")

    layer = Holder(name="holder")
    layer.build()
    layer.v.assign(np.asarray(values).astype(dtype))
    from paramscope.adapters import adapter_for

    (path,) = adapter_for(layer).index(layer).tensors  # the layer's one variable
    return ps.stats(layer, path), keras.ops.convert_to_numpy(layer.v)


@pytest.mark.parametrize("name", list(cases()))
def test_keras(name):
    values, dtype = cases()[name]
    check(*keras_stats(values, dtype))


def test_keras_several_chunks(monkeypatch, kernels):
    values = np.random.default_rng(3).standard_normal(10_000).astype(np.float32)
    whole, _ = keras_stats(values, "float32")
    monkeypatch.setattr("paramscope.adapters.keras.values.CHUNK_ELEMS", 999)
    chunked, _ = keras_stats(values, "float32")
    check(chunked, values)
    assert chunked["hist"] == whole["hist"]


def test_keras_variable_of_one_chunk_gets_moments_and_bins_from_one_kernel_call(monkeypatch, kernels):
    """A CPU variable of one chunk, on every backend (a numpy view of its buffer): moments and histogram from one
    kernel call (with the kernels), the same results as the moments then the histogram (the adapter without
    `chunk_stats`); the eager path takes the two calls."""
    pytest.importorskip("keras")
    from paramscope.adapters.keras.adapter import KerasAdapter

    values = np.random.default_rng(5).standard_normal(30_000).astype(np.float32) * 0.02
    values[::50] = 0
    calls = []
    real = numba_stats.moments_and_hist

    def spy(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(numba_stats, "moments_and_hist", spy)
    one, _ = keras_stats(values, "float32")
    fused = kernels.startswith("numba")  # a CPU variable is one numpy view of its buffer on every backend
    assert calls == ([64] if fused else [])
    check(one, values)
    monkeypatch.delattr(KerasAdapter, "chunk_stats")
    two, _ = keras_stats(values, "float32")
    exact = ("hist", "min", "max", "numel", "zeros", "nan", "inf")
    assert {k: one[k] for k in exact} == {k: two[k] for k in exact}
    assert (one["mean"], one["std"]) == pytest.approx((two["mean"], two["std"]), rel=1e-12)


def test_keras_cpu_chunks_are_slices_of_one_view_of_the_variable(monkeypatch, kernels):
    """On every backend the kernels read a CPU variable's own buffer (no copy per chunk), each chunk once per pass,
    on PARAMSCOPE_STATS_THREADS threads where set, else as many as the backend's own reductions use."""
    keras = pytest.importorskip("keras")
    from paramscope.adapters import adapter_for
    from paramscope.adapters.keras import values as keras_values
    from paramscope.adapters.keras.backend import BACKEND

    monkeypatch.setattr(keras_values, "CHUNK_ELEMS", 1024)
    monkeypatch.setattr(keras_values, "KERNEL_CHUNKS", 1)
    data = np.random.default_rng(6).standard_normal(3000).astype(np.float32)
    layer = keras.layers.Dense(3000, name="d")
    layer.build((None, 1))
    layer.kernel.assign(data.reshape(1, -1))
    seen: list[tuple[str, np.ndarray, int | None]] = []
    for name in ("moments", "hist"):
        real = getattr(numba_stats, name)

        def spy(x, *args, _real=real, _name=name, **kwargs):
            seen.append((_name, x, args[-1] if args else kwargs.get("threads")))
            return _real(x, *args, **kwargs)

        monkeypatch.setattr(numba_stats, name, spy)
    entry = adapter_for(layer).index(layer).tensors["d/kernel"]
    check(ps.stats(layer, "d/kernel"), data)
    if not kernels.startswith("numba"):
        assert seen == []
        return
    assert [(name, x.size) for name, x, _ in seen] == [("moments", 1024), ("moments", 1024), ("moments", 952),
                                                       ("hist", 1024), ("hist", 1024), ("hist", 952)]
    assert {t for _, _, t in seen} == {2}  # THREADS (PARAMSCOPE_STATS_THREADS) is 2 here
    monkeypatch.setattr(numba_stats, "THREADS", None)  # unset: the backend's own count
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        expected = torch.get_num_threads()
    elif backend == "tensorflow":
        import tensorflow as tf

        expected = tf.config.threading.get_intra_op_parallelism_threads() or numba_stats.cpus()
    else:
        expected = numba_stats.cpus()  # XLA's CPU client
    assert BACKEND.kernel_threads() == expected
    buffer = BACKEND.host_view(BACKEND.native(entry.obj)).__array_interface__["data"][0]
    starts = [buffer + 4 * i for i in (0, 1024, 2048)] * 2
    assert [x.__array_interface__["data"][0] for _, x, _ in seen] == starts  # the variable's memory, in order


def test_small_tensors_answer_without_importing_numba():
    """The first click on a small parameter must not wait for numba's import and compile (the UI's 300 ms budget)."""
    import subprocess
    import sys

    code = ("import sys, torch, paramscope as ps; net = torch.nn.Linear(8, 4); s = ps.stats(net, 'weight'); "
            "assert s['available'] and s['numel'] == 32; print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
