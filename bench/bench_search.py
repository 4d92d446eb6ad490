"""Search (#13) on a 10,000-module GPT-2-shaped PyTorch model: the `search` op against the whole tree a front end
would need to filter by itself, and against a plain Python loop over named_modules()/named_parameters();
writes bench/results_search.md. Run: `python bench/bench_search.py` (or `make bench`)."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

from common import ask, timed, write_results

import paramscope  # noqa: F401 - the package, before its submodules

OUT = Path(__file__).with_name("results_search.md")
LAYERS = 1_111  # 9 modules a block + the model's own: 10,006 modules


def _model() -> Any:
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln_1 = nn.LayerNorm(64)
            self.attn = nn.ModuleDict({"c_attn": nn.Linear(64, 192), "c_proj": nn.Linear(64, 64)})
            self.ln_2 = nn.LayerNorm(64)
            self.mlp = nn.ModuleDict({"c_fc": nn.Linear(64, 256), "c_proj": nn.Linear(256, 64)})

    class GPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = nn.ModuleDict({"wte": nn.Embedding(50257, 64), "wpe": nn.Embedding(1024, 64),
                                              "h": nn.ModuleList([Block() for _ in range(LAYERS)]),
                                              "ln_f": nn.LayerNorm(64)})
            self.lm_head = nn.Linear(64, 50257, bias=False)
            self.lm_head.weight = self.transformer["wte"].weight

    with torch.device("meta"):
        return GPT()


def filled_model(grads: bool = False) -> tuple[Any, dict[str, Any], int, int]:
    """The same model with real values (normal, std 0.02; gradients too if asked) on the CPU, with its unique
    parameters by name (ties once, as paramscope counts them), their bytes and its module count."""
    import torch

    model = _model().to_empty(device="cpu")
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.02)
            if grads:
                p.grad = torch.randn_like(p) * 1e-3
    params = dict(model.named_parameters())
    nbytes = sum(p.numel() * p.element_size() for p in params.values())
    return model, params, nbytes, sum(1 for _ in model.modules())


def main() -> None:
    import torch

    model = _model()
    modules = sum(1 for _ in model.modules())
    rows: list[tuple[str, float, int]] = []

    def row(name: str, fn: Any) -> None:
        t, out = timed(fn)
        rows.append((name, t, len(out) if isinstance(out, str) else len(json.dumps(out))))

    row("peer: whole tree (op `tree`, depth null), what filtering in the front end would need",
        lambda: ask(model, op="tree", path="", depth=None))
    row("peer: first view (op `tree`, the root and its first 200 children), which reads the model the same way",
        lambda: ask(model, op="tree", path="", depth=1, limit=200))
    row("peer: Python loop, `[n for n, _ in named_modules() + named_parameters() if 'c_attn' in n]`",
        lambda: [n for n, _ in [*model.named_modules(), *model.named_parameters(remove_duplicate=False)]
                 if "c_attn" in n])
    for query in ("c_attn", "h.*.attn.c_attn.weight", "type:Linear numel>1e4", "dtype:float16", "tied",
                  "h.7 -bias"):
        row(f"search `{query}` (first 500 rows + ancestors)", lambda q=query: ask(model, op="search", query=q,
                                                                                   limit=500))
    base, first, loop = rows[0][1], rows[1][1], rows[2][1]
    lines = [
        "# Search in a 10,000-module model",
        "",
        f"torch {torch.__version__}, Python {platform.python_version()}; a GPT-2-shaped model of {modules:,} modules "
        f"({LAYERS:,} blocks, on the meta device), median of 5 runs after a warm-up. Every search reads the model "
        "afresh (the adapter's index) as the op does after each cell. Measured on a shared 2-core machine: compare "
        "the ratios.",
        "",
        "| request | time | x whole tree | x first view | x Python loop | answer |",
        "|---|---:|---:|---:|---:|---:|",
        *[f"| {name} | {t * 1000:.1f} ms | {t / base:.2f}x | {t / first:.2f}x | {t / loop:.1f}x | {size:,} B |"
          for name, t, size in rows],
        "",
    ]
    write_results(OUT, lines)


if __name__ == "__main__":
    main()
