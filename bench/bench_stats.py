"""Statistics at memory speed: all-parameter stats of the GPT-2-shaped model against one sum() pass, per framework.

For each framework (PyTorch, Keras 3 on its current backend, MXNet Gluon), in one process per framework:
- one sum pass: the framework's own reduction over every unique parameter (`p.sum()`, `keras.ops.sum`,
  `nd.sum` with a final `waitall`) - the physical floor is one read of the weights;
- paramscope: mean, std, min, max, rms, zeros, NaN, Inf and a 64-bin histogram of every unique parameter
  (`stats.tensor_stats` over the entries of one index, as the front ends ask per parameter);
- the same for the largest tensor alone (the tied embedding), and numpy on a float64 copy of it as a peer.
Runs alternate (sum, stats, sum, stats, ...) so that both see the same machine load; the ratio is of the
medians. Writes bench/results_stats.md. Run with `python bench/bench_stats.py` (or `make bench`).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROUNDS = 7
_FAST = ("With the `fast` extra (numba), contiguous CPU float chunks of every framework take two compiled loops, "
         "each prefetching 32 KB ahead: one read for the moments (per 4096-value stretch, float64 sums added with a "
         "compensated two-sum, then from L1 the zero count and the signed max and unsigned min/max of the raw bits, "
         "at the bits' own width) and one for the histogram (vectorized codes of a block's two halves, 256 pairs, "
         "counted in pairs in a 64x64 table of uint16 that stays in L1, added to int32 counts every 32Ki pairs); a "
         "PyTorch or Keras (any backend) CPU tensor of one chunk gets both from one call; their contiguous float "
         "tensors are read 4M values at a time, PyTorch's over `torch.get_num_threads()` threads (as `p.sum()` "
         "itself), Keras's over as many threads as its backend's reductions use, MXNet's (1M) on one, unless "
         "PARAMSCOPE_STATS_THREADS says otherwise.")


def alternate(tools: dict[str, Callable[[], Any]], rounds: int = ROUNDS) -> dict[str, float]:
    """Median wall time of each tool, measured in alternation after one warm-up each."""
    for fn in tools.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in tools}
    for _ in range(rounds):
        for name, fn in tools.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def unique_entries(model: Any) -> tuple[Any, list[Any]]:
    from paramscope.adapters import adapter_for

    adapter = adapter_for(model)
    assert adapter is not None
    seen: set[int] = set()
    entries = []
    for entry in adapter.index(model).tensors.values():
        if entry.kind == "param" and id(entry.obj) not in seen:
            seen.add(id(entry.obj))
            entries.append(entry)
    return adapter, entries


def measure(adapter: Any, entries: list[Any], sum_all: Callable[[], Any], sum_one: Callable[[], Any],
            largest: Any, copy_largest: Callable[[], Any],
            peers: dict[str, Callable[[], Any]] | None = None) -> dict[str, Any]:
    from common import numpy_stats

    from paramscope.adapters import numba_stats
    from paramscope.stats import tensor_stats

    start = time.perf_counter()
    tensor_stats(adapter, largest, bins=64)  # the first call loads (or compiles) the numba kernels
    first = time.perf_counter() - start
    kernels = numba_stats.available()

    def eager() -> list[Any]:  # the same stats without the numba kernels
        with numba_stats.disabled():  # keeps the loaded kernels: the next round does not load them again
            return [tensor_stats(adapter, e, bins=64) for e in entries]

    everything = alternate({
        "sum": sum_all,
        **(peers or {}),
        "stats": lambda: [tensor_stats(adapter, e, bins=64) for e in entries],
        **({"stats_eager": eager} if kernels else {}),
    })
    one = alternate({
        "sum": sum_one,
        "stats": lambda: tensor_stats(adapter, largest, bins=64),
        "numpy": lambda: numpy_stats(copy_largest()),
    }, rounds=5)
    return {"n_tensors": len(entries), "numel": sum(e.meta.numel for e in entries), "all": everything,
            "largest": one, "largest_numel": largest.meta.numel, "largest_path": largest.path,
            "load": os.getloadavg()[0], "first_call": first, "numba": kernels}


def run_torch() -> dict[str, Any]:
    import torch
    from bench_torch import gpt2

    model = gpt2("cpu")
    adapter, entries = unique_entries(model)
    params = [e.obj.detach() for e in entries]
    largest = max(entries, key=lambda e: e.meta.numel)
    def sum_serial() -> list[Any]:  # one intra-op thread, as paramscope reduces CPU chunks
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return [p.sum() for p in params]
        finally:
            torch.set_num_threads(threads)

    def stats_serial() -> list[Any]:  # the kernels on one thread too (PARAMSCOPE_STATS_THREADS=1)
        from paramscope.adapters import numba_stats
        from paramscope.stats import tensor_stats

        asked = numba_stats.THREADS
        numba_stats.THREADS = 1
        try:
            return [tensor_stats(adapter, e, bins=64) for e in entries]
        finally:
            numba_stats.THREADS = asked

    with torch.no_grad():
        result = measure(adapter, entries, lambda: [p.sum() for p in params], lambda: largest.obj.detach().sum(),
                         largest, lambda: largest.obj.detach().numpy(),
                         {"sum_1_thread": sum_serial, "stats_1_thread": stats_serial})
    return {**result, "framework": f"PyTorch {torch.__version__}", "threads": torch.get_num_threads(),
            "sum": "`p.sum()`"}


def run_torch_cuda() -> dict[str, Any]:
    """The same on a CUDA device (`--one torch-cuda` on a GPU machine): `p.sum()` on the device against stats,
    each pass ended by a synchronize."""
    import torch
    from bench_torch import gpt2

    model = gpt2("cuda")
    adapter, entries = unique_entries(model)
    params = [e.obj.detach() for e in entries]
    largest = max(entries, key=lambda e: e.meta.numel)

    def synced(fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            out = fn()
            torch.cuda.synchronize()
            return out
        return run

    with torch.no_grad():
        result = measure(adapter, entries, synced(lambda: [p.sum() for p in params]),
                         synced(lambda: largest.obj.detach().sum()), largest,
                         lambda: largest.obj.detach().cpu().numpy())
    return {**result, "framework": f"PyTorch {torch.__version__} on {torch.cuda.get_device_name()}",
            "threads": None, "sum": "`p.sum()` on the device"}


def run_keras() -> dict[str, Any]:
    import keras
    from bench_keras import gpt2

    model = gpt2()
    adapter, entries = unique_entries(model)
    ops = keras.ops
    largest = max(entries, key=lambda e: e.meta.numel)

    def sum_all() -> list[Any]:
        return [ops.convert_to_numpy(ops.sum(e.obj.value)) for e in entries]

    result = measure(adapter, entries, sum_all, lambda: ops.convert_to_numpy(ops.sum(largest.obj.value)), largest,
                     lambda: ops.convert_to_numpy(largest.obj.value))
    native = {"tensorflow": "`tf.reduce_sum`", "torch": "`torch.sum`", "jax": "`jnp.sum`"}[keras.backend.backend()]
    return {**result, "framework": f"Keras {keras.__version__} on {keras.backend.backend()}", "threads": None,
            "sum": f"`keras.ops.sum(v)`, {native}"}


def run_mxnet() -> dict[str, Any]:
    from bench_mxnet import gpt2  # noqa: I001 - first: it puts numpy.bool back before it imports mxnet

    import mxnet as mx

    model, _ = gpt2()
    mx.nd.waitall()
    adapter, entries = unique_entries(model)
    arrays = [e.obj.data() for e in entries]
    largest = max(entries, key=lambda e: e.meta.numel)

    def sum_all() -> None:
        for a in arrays:
            a.sum()
        mx.nd.waitall()

    def sum_one() -> None:
        largest.obj.data().sum()
        mx.nd.waitall()

    result = measure(adapter, entries, sum_all, sum_one, largest, lambda: largest.obj.data().asnumpy())
    return {**result, "framework": f"MXNet {mx.__version__}", "threads": None, "sum": "`nd.sum` (then `waitall`)"}


RUNNERS = {"torch": run_torch, "torch-cuda": run_torch_cuda, "keras": run_keras, "mxnet": run_mxnet}
# Each in its own process: Keras once on each backend a user may pick (KERAS_BACKEND).
RUNS = [("torch", {}), ("keras", {"KERAS_BACKEND": "tensorflow"}), ("keras", {"KERAS_BACKEND": "torch"}),
        ("keras", {"KERAS_BACKEND": "jax"}), ("mxnet", {})]


def table(results: list[dict[str, Any]]) -> list[str]:
    lines = ["| framework | sum pass over all params | all-param stats + 64-bin histograms | x sum | "
             "largest tensor: sum | stats | x sum | numpy on a float64 copy |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['name']} | fails: {r['error'][:80]} | | | | | | |")
            continue
        a, one = r["all"], r["largest"]
        lines.append(
            f"| {r['framework']} ({r['sum']}) | {a['sum'] * 1000:.1f} ms | {a['stats'] * 1000:.1f} ms | "
            f"**{a['stats'] / a['sum']:.1f}x** | {one['sum'] * 1000:.1f} ms | {one['stats'] * 1000:.1f} ms | "
            f"{one['stats'] / one['sum']:.1f}x | {one['numpy'] * 1000:.1f} ms |")
    for r in results:
        eager = r.get("all", {}).get("stats_eager")
        if eager:
            lines.append(f"\n{r['framework']} without the numba kernels in the same rounds: {eager * 1000:.1f} ms, "
                         f"{eager / r['all']['sum']:.1f}x sum; with them {r['all']['stats'] * 1000:.1f} ms "
                         f"(**{eager / r['all']['stats']:.2f}x faster**). First stats call of the process (largest "
                         f"tensor, kernels loaded from numba's cache): {r['first_call'] * 1000:.0f} ms.")
    for r in results:
        serial = r.get("all", {}).get("sum_1_thread")
        if serial:
            alone = r["all"]["stats_1_thread"]
            lines.append(f"\n{r['framework']} on one thread, sum and stats alike (`torch.set_num_threads(1)`, "
                         f"PARAMSCOPE_STATS_THREADS=1), in the same rounds: `p.sum()` {serial * 1000:.1f} ms, stats "
                         f"{alone * 1000:.1f} ms, **{alone / serial:.1f}x**; the default stats above (on the "
                         f"{r['threads']} threads of `torch.get_num_threads()`) against it: "
                         f"{r['all']['stats'] / serial:.1f}x.")
    return lines


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(RUNNERS[sys.argv[2]]()))
        return
    here = Path(__file__).parent
    results = []
    for name, env in RUNS:
        done = subprocess.run([sys.executable, str(Path(__file__)), "--one", name], capture_output=True, text=True,
                              cwd=here, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **env})
        if done.returncode:
            results.append({"name": name, "error": done.stderr.strip().splitlines()[-1] if done.stderr else "?"})
        else:
            results.append({"name": name, **json.loads(done.stdout.strip().splitlines()[-1])})
        print(f"{name} {env}: done", file=sys.stderr)
    first = next((r for r in results if "error" not in r), {})
    lines = ["# Statistics at memory speed", "",
             f"GPT-2 small's parameter layout (124,439,808 unique parameters, 148 tensors, the embedding tied to "
             f"the output layer), float32 on the CPU; {os.cpu_count()} CPUs, load average "
             f"{first.get('load', 0):.1f}; Python {sys.version.split()[0]}. Median of {ROUNDS} alternating rounds "
             "(5 for the largest tensor). The issue's target: all-param stats within 4x one sum pass.", ""]
    lines += table(results)
    lines += ["", "What a stats call does per 1M-value chunk: one fused pass for the moments (min/max, a sum, a sum "
              "of squares, a non-zero count; one transfer of five scalars) and one for the histogram (an affine "
              "map to bin codes, an int8 conversion, a bincount), then the chunks are merged in float64. Without "
              "the kernels, MXNet and Keras CPU chunks are reduced with numpy (MXNet's own CPU reductions run at "
              "~13 ns per value); Keras CPU chunks are slices of one numpy view of the variable's buffer (on "
              "every backend). " + _FAST, "",
              "Fused kernels measured on the largest tensor in 1M chunks and not kept: `torch.compile` of the moments "
              "and the bin codes (one thread 121 ms against 90 ms eager, default threads 574 ms; first call 71 s "
              "cold); XLA (`tf.function(jit_compile=True)`) moments 442 ms against 309 ms for the whole numpy path, "
              "its histogram alone 89 ms but 0.5-1.7 s to compile per chunk shape (load average 4.7-5.7)."]
    out = here / "results_stats.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
