"""The treemap's colours (#13) on the 10,006-module GPT-2-shaped PyTorch model with real values: op `sizes`
coloured by each statistic against the plain (dtype) `sizes` op, and against a plain loop of per-parameter
reductions a notebook would write; writes bench/results_sizes.md. Run: `python bench/bench_sizes.py`."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from bench_search import LAYERS, filled_model
from common import ask, timed, write_results

import paramscope as ps

OUT = Path(__file__).with_name("results_sizes.md")


def main() -> None:
    import torch

    model, params, nbytes, modules = filled_model(grads=True)

    def sizes(color: str | None) -> str:
        return ask(model, op="sizes", path="", depth=2, **({"color": color} if color else {}))

    plain, _ = timed(lambda: sizes(None), 5)
    loop, _ = timed(lambda: {n: float(p.detach().pow(2).mean().sqrt()) for n, p in params.items()}, 5)
    rows: list[tuple[str, float]] = [("op `sizes` (dtype, as the map first asks)", plain),
                                     ("peer: RMS loop, `{n: p.pow(2).mean().sqrt() ...}` (no blocks)", loop)]
    ps.snapshot(model)
    with torch.no_grad():
        model.transformer["h"][7].mlp["c_fc"].weight.add_(0.01)
    for color in ["rms", "std", "mean", "zeros", "grad_norm", "grad_rms", "change"]:
        t, _ = timed(lambda color=color: sizes(color), 5)
        rows.append((f"op `sizes` `color: {color}`", t))
    lines = [
        "# The treemap coloured by a statistic on a 10,000-module model",
        "",
        f"torch {torch.__version__}, Python {platform.python_version()}; a GPT-2-shaped model of {modules:,} modules "
        f"({LAYERS:,} blocks), {len(params):,} unique parameters, {nbytes / 2**20:,.0f} MiB of float32 on the CPU, "
        "each with a gradient; depth 2 as the map asks; median of 5 runs after a warm-up. `change` diffs every "
        f"parameter against the compare snapshot (what op `compare` does). Load average {os.getloadavg()[0]:.1f} "
        "on a shared 2-core machine: compare the ratios.",
        "",
        "| request | time | x plain `sizes` | x RMS loop |",
        "|---|---:|---:|---:|",
        *[f"| {name} | {t * 1000:.0f} ms | {t / plain:.2f}x | {t / loop:.2f}x |" for name, t in rows],
        "",
    ]
    write_results(OUT, lines)


if __name__ == "__main__":
    main()
