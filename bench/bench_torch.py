"""paramscope against its PyTorch peers, in one run: time to the first view, payload, tied-parameter counts.

Peers: torchinfo.summary (text table), treescope (HTML pretty-printer), repr(model) (what a notebook shows).
Every number is a ratio against paramscope measured in the same process, so machines compare. Writes
bench/results_torch.md. Run with `make bench`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from common import TABLE_HEAD, import_time, numpy_stats, paramscope_views, table_rows, timed
from torch import nn

import paramscope as ps


def gpt2(device: str, n_layer: int = 12, dim: int = 768, vocab: int = 50257, tie: bool = True) -> nn.Module:
    """GPT-2 small's parameter layout (124M unique params with the tied embedding), built from code."""

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln_1 = nn.LayerNorm(dim)
            self.attn = nn.ModuleDict({"c_attn": nn.Linear(dim, 3 * dim), "c_proj": nn.Linear(dim, dim)})
            self.ln_2 = nn.LayerNorm(dim)
            self.mlp = nn.ModuleDict({"c_fc": nn.Linear(dim, 4 * dim), "c_proj": nn.Linear(4 * dim, dim)})

    class GPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = nn.ModuleDict({
                "wte": nn.Embedding(vocab, dim), "wpe": nn.Embedding(1024, dim),
                "h": nn.ModuleList(Block() for _ in range(n_layer)), "ln_f": nn.LayerNorm(dim)})
            self.lm_head = nn.Linear(dim, vocab, bias=False)
            if tie:
                self.transformer.wte.weight = self.lm_head.weight

    with torch.device(device):
        return GPT()


def chapter_shared() -> nn.Module:
    shared = nn.Linear(8, 8)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), shared, nn.ReLU(), shared, nn.ReLU(), nn.Linear(8, 1))


def wide(n: int = 10_000) -> nn.Module:
    return nn.Sequential(*[nn.Linear(4, 4) for _ in range(n)])


def peers(model: nn.Module) -> dict[str, Callable[[], str]]:
    import torchinfo
    import treescope

    return {
        **paramscope_views(model),
        "torchinfo.summary": lambda: str(torchinfo.summary(model, verbose=0, depth=100)),
        "treescope.render_to_html": lambda: treescope.render_to_html(model, ignore_exceptions=True),
        "repr(model)": lambda: repr(model),
    }


def tied_counts(model: nn.Module) -> dict[str, Any]:
    import torchinfo

    truth = sum(p.numel() for p in model.parameters())
    return {
        "truth (unique params)": truth,
        "paramscope n_params": ps.inspect(model).n_params,
        "torchinfo total_params": torchinfo.summary(model, verbose=0).total_params,
    }


def main() -> None:
    models = {
        "chapter MLP with a shared layer": chapter_shared(),
        "10,000 children": wide(),
        "GPT-2 small on meta (124M)": gpt2("meta"),
        "GPT-2 small on CPU (124M)": gpt2("cpu"),
    }
    lines = ["# paramscope vs PyTorch peers", "",
             f"torch {torch.__version__}, Python {sys.version.split()[0]}; median of 5 runs after a warm-up.", ""]
    lines += TABLE_HEAD
    for name, model in models.items():
        lines += table_rows(name, peers(model))
    lines += ["", "## Tied parameters counted once?", "",
              "| model | truth | paramscope | torchinfo |", "|---|---:|---:|---:|"]
    for name in ("chapter MLP with a shared layer", "GPT-2 small on CPU (124M)"):
        c = tied_counts(models[name])
        lines.append(f"| {name} | {c['truth (unique params)']:,} | {c['paramscope n_params']:,} | "
                     f"{c['torchinfo total_params']:,} |")
    big = models["GPT-2 small on CPU (124M)"]
    numpy_ms = timed(lambda: numpy_stats(big.lm_head.weight.detach().numpy()), repeat=3)[0] * 1000
    t, s = timed(lambda: ps.stats(big, "lm_head.weight"), repeat=3)
    lines += ["", "## Statistics of the largest tensor", "",
              f"`ps.stats(gpt, 'lm_head.weight')` ({s['numel']:,} values, 64-bin histogram): {t * 1000:.0f} ms; "
              f"numpy on a copy: {numpy_ms:.0f} ms."]
    lines += ["", "## Import time", "", "| import | time | x paramscope |", "|---|---:|---:|"]
    base = None
    for module in ("paramscope", "torchinfo", "treescope", "torch"):
        took = import_time(f"import {module}")
        base = base or took
        lines.append(f"| `import {module}` | {took * 1000:.0f} ms | {took / base:.1f}x |")
    out = Path(__file__).with_name("results_torch.md")
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
