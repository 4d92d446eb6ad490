"""Compare (#13) on a 10,000-module GPT-2-shaped PyTorch model with real values: `ps.snapshot` / the `compare`
op against plain copy and diff loops over named_parameters(); writes bench/results_compare.md.
Run: `python bench/bench_compare.py` (or `make bench`)."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

from bench_search import LAYERS, filled_model
from common import ask, timed, write_results

import paramscope as ps

OUT = Path(__file__).with_name("results_compare.md")


def main() -> None:
    import torch

    model, params, nbytes, modules = filled_model()
    rows: list[tuple[str, float]] = []

    def row(name: str, fn: Any, repeat: int = 3) -> Any:
        t, out = timed(fn, repeat)
        rows.append((name, t))
        return out

    saved = row("peer: copy loop, `{n: p.detach().clone() for n, p in named_parameters()}`",
                lambda: {n: p.detach().clone() for n, p in params.items()})
    row("peer: copy loop to numpy, `{n: p.detach().numpy().copy() ...}`",
        lambda: {n: p.detach().numpy().copy() for n, p in params.items()})
    row("`ps.snapshot(model)` (host copies of every unique parameter)", lambda: ps.snapshot(model))
    with torch.no_grad():
        model.transformer["h"][7].mlp["c_fc"].weight.add_(0.01)  # a step that moved one layer
    row("peer: diff loop, `{n: vector_norm(p - saved[n]).item() ...}` (‖Δw‖ only)",
        lambda: {n: float(torch.linalg.vector_norm(p.detach() - saved[n])) for n, p in params.items()})

    answer = row("op `compare` (‖Δw‖, max|Δw|, changed fraction, ‖Δw‖/‖w‖ per parameter and block; first 200)",
                 lambda: ask(model, op="compare", limit=200))
    top = json.loads(answer)["result"]["params"][0]["path"]
    copy, diff = rows[0][1], rows[3][1]
    lines = [
        "# Snapshot and compare on a 10,000-module model",
        "",
        f"torch {torch.__version__}, Python {platform.python_version()}; a GPT-2-shaped model of {modules:,} modules "
        f"({LAYERS:,} blocks), {len(params):,} unique parameters, {nbytes / 2**20:,.0f} MiB of float32 on the CPU; "
        f"median of 3 runs after a warm-up. The most moved parameter found: `{top}`. Measured on a shared 2-core "
        "machine: compare the ratios.",
        "",
        "| request | time | x copy loop | x diff loop |",
        "|---|---:|---:|---:|",
        *[f"| {name} | {t * 1000:.0f} ms | {t / copy:.2f}x | {t / diff:.2f}x |" for name, t in rows],
        "",
    ]
    write_results(OUT, lines)


if __name__ == "__main__":
    main()
