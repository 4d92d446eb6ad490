"""paramscope against its MXNet Gluon peers, in one run: time to the first view, payload, tied-parameter counts.

Peers: net.summary(x) (Gluon's table; it runs a forward pass, stdout captured), repr(net) (what print(net) and
a notebook show) and repr(net.collect_params()). Every number is a ratio against paramscope measured in the
same process, so machines compare. Writes bench/results_mxnet.md. Run with `make bench`.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paramscope.adapters.mxnet_compat  # before mxnet: puts numpy.bool back

# isort: split
import mxnet as mx
import numpy as np
from common import TABLE_HEAD, import_time, numpy_stats, paramscope_views, table_rows, timed
from mxnet.gluon import nn

import paramscope as ps

WIDE = 1_000


class GPTBlock(nn.HybridBlock):
    def __init__(self, dim: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dim = dim
        with self.name_scope():
            self.ln_1 = nn.LayerNorm(in_channels=dim)
            self.attn = nn.HybridSequential()
            with self.attn.name_scope():
                self.attn.add(nn.Dense(3 * dim, in_units=dim, flatten=False),
                              nn.Dense(dim, in_units=dim, flatten=False))
            self.ln_2 = nn.LayerNorm(in_channels=dim)
            self.mlp = nn.HybridSequential()
            with self.mlp.name_scope():
                self.mlp.add(nn.Dense(4 * dim, in_units=dim, flatten=False),
                             nn.Dense(dim, in_units=4 * dim, flatten=False))

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        h = self.attn[0](self.ln_1(x))
        x = x + self.attn[1](F.slice_axis(h, axis=-1, begin=0, end=self.dim))  # the layout, not attention
        return x + self.mlp(self.ln_2(x))


class GPT(nn.HybridBlock):
    """GPT-2 small's parameter layout (124M unique params, lm_head shares wte's weight), built from code."""

    def __init__(self, n_layer: int = 12, dim: int = 768, vocab: int = 50257, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        with self.name_scope():
            self.wte = nn.Embedding(vocab, dim)
            self.wpe = nn.Embedding(1024, dim)
            self.h = nn.HybridSequential()
            with self.h.name_scope():
                for _ in range(n_layer):
                    self.h.add(GPTBlock(dim))
            self.ln_f = nn.LayerNorm(in_channels=dim)
            # Embedding's (vocab, dim) weight is a Dense(vocab, in_units=dim) weight: share it, as GPT-2 does.
            self.lm_head = nn.Dense(vocab, in_units=dim, use_bias=False, flatten=False, params=self.wte.params)

    def hybrid_forward(self, F: Any, ids: Any, pos: Any) -> Any:
        return self.lm_head(self.ln_f(self.h(self.wte(ids) + self.wpe(pos))))


def gpt2() -> tuple[nn.Block, tuple[Any, ...]]:
    net = GPT()
    net.initialize()
    return net, (mx.nd.array([[1, 2, 3]]), mx.nd.array([[0, 1, 2]]))


def shared_params() -> tuple[nn.Block, tuple[Any, ...]]:
    """Two Dense layers sharing one set of parameters with `params=shared.params`."""
    net = nn.HybridSequential()
    with net.name_scope():
        shared = nn.Dense(8, in_units=8, activation="relu")
        net.add(nn.Dense(8, in_units=4, activation="relu"), shared,
                nn.Dense(8, in_units=8, activation="relu", params=shared.params), nn.Dense(1, in_units=8))
    net.initialize()
    return net, (mx.nd.ones((1, 4)),)


def shared_block() -> tuple[nn.Block, tuple[Any, ...]]:
    """One Dense block added twice to a Sequential."""
    net = nn.HybridSequential()
    with net.name_scope():
        shared = nn.Dense(8, in_units=8, activation="relu")
        net.add(nn.Dense(8, in_units=4, activation="relu"), shared, shared, nn.Dense(1, in_units=8))
    net.initialize()
    return net, (mx.nd.ones((1, 4)),)


def wide(n: int = WIDE) -> tuple[nn.Block, tuple[Any, ...]]:
    net = nn.HybridSequential()
    with net.name_scope():
        for _ in range(n):
            net.add(nn.Dense(4, in_units=4))
    net.initialize()
    return net, (mx.nd.ones((1, 4)),)


def summary_text(net: nn.Block, inputs: tuple[Any, ...]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        net.summary(*inputs)
    mx.nd.waitall()
    return out.getvalue()


def peers(net: nn.Block, inputs: tuple[Any, ...]) -> dict[str, Callable[[], str]]:
    return {
        **paramscope_views(net),
        "net.summary(x)": lambda: summary_text(net, inputs),
        "repr(net)": lambda: repr(net),
        "repr(net.collect_params())": lambda: repr(net.collect_params()),
    }


def unique_params(net: nn.Block) -> int:
    """The truth: sizes summed over the distinct Parameter objects (by id) of every block, walked structurally."""
    seen: dict[int, Any] = {}
    stack = [net]
    while stack:
        block = stack.pop()
        for p in block._reg_params.values():
            seen[id(p)] = p
        stack.extend(block._children.values())
    return sum(int(np.prod(p.shape)) for p in seen.values())


def tied_counts(net: nn.Block, inputs: tuple[Any, ...]) -> dict[str, Any]:
    text = summary_text(net, inputs)
    total = re.search(r"Total params:\s*(\d+)", text)
    unique = re.search(r"Unique parameters in model:\s*(\d+)", text)
    return {
        "truth": unique_params(net),
        "paramscope": ps.inspect(net).n_params,
        "collect_params": sum(int(np.prod(p.shape)) for p in net.collect_params().values()),
        "summary total": int(total.group(1)) if total else "?",
        "summary unique": int(unique.group(1)) if unique else "?",
    }


def main() -> None:
    started = time.perf_counter()
    build_times = {}
    models = {}
    for name, make in (("chapter MLP, params=shared.params", shared_params),
                       ("chapter MLP, one block used twice", shared_block),
                       (f"{WIDE:,} Dense layers in a HybridSequential", wide),
                       ("GPT-2 small layout, tied (124M)", gpt2)):
        start = time.perf_counter()
        models[name] = make()
        mx.nd.waitall()
        build_times[name] = time.perf_counter() - start
    lines = ["# paramscope vs MXNet Gluon peers", "",
             f"mxnet {mx.__version__}, Python {sys.version.split()[0]}; median of 5 runs after a warm-up; load "
             f"average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at the start. "
             "Models are built from code and initialized with random weights; build + initialize times: "
             + ", ".join(f"{n} {t:.1f} s" for n, t in build_times.items()) + ".", "",
             "GPT-2 small's layout: Embedding 50257x768 and 1024x768, 12 blocks of LayerNorm, Dense 768→2304, "
             "768→768, LayerNorm, Dense 768→3072, 3072→768, a final LayerNorm and an lm_head Dense 768→50257 "
             "sharing the embedding's weight (`params=wte.params`), as GPT-2 does: 124,439,808 unique parameters. "
             "`net.summary(x)` works in MXNet 1.9.1 (non-hybridized blocks); it runs a forward pass on a "
             "1x3 (GPT-2) or 1x4 input, included in its time.", ""]
    lines += TABLE_HEAD
    for name, (net, inputs) in models.items():
        if name == "chapter MLP, one block used twice":
            continue  # same size as the one above; it is in the tied table
        lines += table_rows(name, peers(net, inputs))
        print(f"{name}: done at {time.perf_counter() - started:.0f} s", file=sys.stderr)
    lines += ["", "## Tied parameters counted once?", "",
              "Truth: sizes summed over the distinct Parameter objects (by `id`) of all blocks. "
              "`collect_params()` sums `net.collect_params()`, which is keyed by parameter name.", "",
              "| model | truth | paramscope | sum over collect_params() | summary: Total params | "
              "summary: Unique parameters |", "|---|---:|---:|---:|---:|---:|"]
    for name in ("chapter MLP, params=shared.params", "chapter MLP, one block used twice",
                 "GPT-2 small layout, tied (124M)"):
        c = tied_counts(*models[name])
        lines.append(f"| {name} | {c['truth']:,} | {c['paramscope']:,} | {c['collect_params']:,} | "
                     f"{c['summary total']:,} | {c['summary unique']:,} |")
    big = models["GPT-2 small layout, tied (124M)"][0]
    numpy_ms = timed(lambda: numpy_stats(big.wte.weight.data().asnumpy()), repeat=3)[0] * 1000
    t, s = timed(lambda: ps.stats(big, "wte.weight"), repeat=3)
    lines += ["", "## Statistics of the largest tensor", "",
              f"`ps.stats(gpt, 'wte.weight')` ({s['numel']:,} values, 64-bin histogram): {t * 1000:.0f} ms; "
              f"numpy on a copy: {numpy_ms:.0f} ms. "
              "paramscope reads the tensor in chunks on its own device, in float64, and counts NaN, Inf and zeros "
              "besides mean/std/min/max (one pass), then bins it (a second pass); numpy computes mean, std, min, "
              "max and a 64-bin histogram of one float64 copy (no NaN/Inf handling)."]
    lines += ["", "## Import time", "", "| import | time | x paramscope |", "|---|---:|---:|"]
    base = None
    for label, code in (("paramscope", "import paramscope"),
                        ("mxnet", "import paramscope.adapters.mxnet_compat, mxnet")):
        took = import_time(code)
        base = base or took
        lines.append(f"| `import {label}` | {took * 1000:.0f} ms | {took / base:.1f}x |")
    out = Path(__file__).with_name("results_mxnet.md")
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"total {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
