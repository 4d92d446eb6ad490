"""Statistics of a sharded GPT-2-shaped model (FSDP2 on 2 gloo ranks, CPU) against the same model unsharded on
1 rank, in the same run; also a seeded reinit of the whole model both ways. Writes bench/results_distributed.md.

`python bench/bench_distributed.py` starts the three processes itself (one unsharded, two ranks), one after
the other so that they do not share the cores while timed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LAYERS, WIDTH, VOCAB, CONTEXT = 12, 768, 50257, 1024  # GPT-2 small: 124M parameters
REPEAT = 3


def _model() -> Any:
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(WIDTH), nn.LayerNorm(WIDTH)
            self.attn = nn.ModuleDict({"c_attn": nn.Linear(WIDTH, 3 * WIDTH), "c_proj": nn.Linear(WIDTH, WIDTH)})
            self.mlp = nn.ModuleDict({"c_fc": nn.Linear(WIDTH, 4 * WIDTH), "c_proj": nn.Linear(4 * WIDTH, WIDTH)})

    class GPT2(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte, self.wpe = nn.Embedding(VOCAB, WIDTH), nn.Embedding(CONTEXT, WIDTH)
            self.h = nn.ModuleList([Block() for _ in range(LAYERS)])
            self.ln_f = nn.LayerNorm(WIDTH)

    torch.manual_seed(0)
    return GPT2()


def _measure(model: Any, sharded: bool) -> dict[str, Any]:
    import torch

    import paramscope as ps

    names = [n for n, _ in model.named_parameters()]
    out: dict[str, Any] = {}
    tree_times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        ps.inspect(model, name="m")
        tree_times.append(time.perf_counter() - start)
    out["tree_s"] = sorted(tree_times)[len(tree_times) // 2]
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        results = {n: ps.stats(model, n, bins=64) for n in names}
        times.append(time.perf_counter() - start)
    out["stats_s"] = sorted(times)[len(times) // 2]
    out["wte_mean"], out["wte_std"] = results["wte.weight"]["mean"], results["wte.weight"]["std"]
    start = time.perf_counter()
    ps.reinit(model, "", "normal", seed=1, std=0.02)
    out["reinit_s"] = time.perf_counter() - start
    after = ps.stats(model, "h.11.mlp.c_fc.weight")
    out["after_mean"], out["after_std"] = after["mean"], after["std"]
    local = sum(p.to_local().numel() if sharded else p.numel() for p in model.parameters())
    out["local_bytes"] = local * 4
    out["params"] = sum(p.numel() for p in model.parameters())
    out["n_tensors"] = len(names)
    largest = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules())
    out["standin_bytes"] = largest * 4
    out["torch"] = torch.__version__
    return out


def _rank(rank: int, port: str, path: str) -> None:
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    model = _model()
    mesh = init_device_mesh("cpu", (2,))
    for block in model.h:
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
    dist.barrier()
    result = _measure(model, sharded=True)
    dist.destroy_process_group()
    if rank == 0:
        Path(path).write_text(json.dumps(result))


def _plain(path: str) -> None:
    Path(path).write_text(json.dumps(_measure(_model(), sharded=False)))


def _run(args: list[str], threads: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(HERE.parent / "kernel_helpers")}
    subprocess.run([sys.executable, __file__, *args], check=True, env=env)


def main() -> None:
    cores = os.cpu_count() or 2
    with tempfile.TemporaryDirectory() as tmp:
        plain_out, sharded_out = f"{tmp}/plain.json", f"{tmp}/sharded.json"
        _run(["plain", plain_out], threads=cores)  # one process may use every core
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = str(s.getsockname()[1])
        env = {**os.environ, "OMP_NUM_THREADS": str(max(1, cores // 2)),
               "PYTHONPATH": str(HERE.parent / "kernel_helpers")}
        ranks = [subprocess.Popen([sys.executable, __file__, "rank", str(r), port, sharded_out], env=env)
                 for r in (0, 1)]
        for proc in ranks:
            if proc.wait() != 0:
                raise SystemExit("a rank failed")
        plain, sharded = json.loads(Path(plain_out).read_text()), json.loads(Path(sharded_out).read_text())
    rows = [
        "| measure | 1 rank, unsharded | 2 ranks, FSDP2 (gloo, CPU) | 2 ranks / 1 rank |",
        "|---|---:|---:|---:|",
        f"| ps.stats of all {plain['n_tensors']} params (median of {REPEAT}) | {plain['stats_s']:.2f} s | "
        f"{sharded['stats_s']:.2f} s | {sharded['stats_s'] / plain['stats_s']:.2f}x |",
        f"| ps.inspect, the whole tree (metadata, placements included) | {plain['tree_s'] * 1000:.1f} ms | "
        f"{sharded['tree_s'] * 1000:.1f} ms | {sharded['tree_s'] / plain['tree_s']:.2f}x |",
        f"| seeded ps.reinit of the whole model | {plain['reinit_s']:.2f} s | {sharded['reinit_s']:.2f} s | "
        f"{sharded['reinit_s'] / plain['reinit_s']:.2f}x |",
        f"| parameter bytes held by a rank | {plain['local_bytes'] / 2**20:.0f} MiB | "
        f"{sharded['local_bytes'] / 2**20:.0f} MiB | {sharded['local_bytes'] / plain['local_bytes']:.2f}x |",
        f"| extra memory of the sharded reinit (largest module at full size) | - | "
        f"{sharded['standin_bytes'] / 2**20:.0f} MiB | |",
    ]
    agree = [
        f"- wte.weight mean/std: unsharded {plain['wte_mean']:.9g} / {plain['wte_std']:.9g}, sharded "
        f"{sharded['wte_mean']:.9g} / {sharded['wte_std']:.9g}",
        f"- after the seeded reinit, h.11.mlp.c_fc.weight mean/std: unsharded {plain['after_mean']:.9g} / "
        f"{plain['after_std']:.9g}, sharded {sharded['after_mean']:.9g} / {sharded['after_std']:.9g}",
    ]
    text = "\n".join([
        "# Sharded statistics: GPT-2 small layout, FSDP2 on 2 ranks vs unsharded on 1",
        "",
        f"{plain['params']:,} parameters ({LAYERS} layers, width {WIDTH}, vocabulary {VOCAB}), float32, CPU, "
        f"torch {plain['torch']}, {cores} cores (each rank gets half; the unsharded run gets all). Written by "
        "`bench/bench_distributed.py`; the three processes run one after the other in the same run.",
        "",
        *rows,
        "",
        "The same numbers both ways (the sharded statistics are merged from per-shard moments with collectives):",
        "",
        *agree,
        "",
    ])
    (HERE / "results_distributed.md").write_text(text)
    print(text)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "rank":
        _rank(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif len(sys.argv) > 1 and sys.argv[1] == "plain":
        _plain(sys.argv[2])
    else:
        main()
