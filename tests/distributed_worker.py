"""One rank of the sharded-parameter tests: `python -m tests.distributed_worker RANK WORLD PORT OUT`.

Every rank builds the same models from the same seed, shards one copy (FSDP2 on a small transformer,
distribute_tensor on 1-D and 2-D meshes), keeps the other whole, and runs the same paramscope calls on both;
rank 0 writes what it saw to OUT as JSON for tests/test_distributed.py to compare.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import DTensor, Replicate, Shard, distribute_tensor

import paramscope as ps
from paramscope import protocol
from paramscope.adapters import torch_dist
from paramscope.stats import tensor_values


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(12, 2, batch_first=True)
        self.norm = nn.LayerNorm(12)
        self.mlp = nn.Sequential(nn.Linear(12, 30), nn.GELU(), nn.Linear(30, 12))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x, x, x, need_weights=False)[0]
        return x + self.mlp(self.norm(x))


class Transformer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(37, 12)  # 37 rows: uneven shards
        self.blocks = nn.ModuleList([Block(), Block()])
        self.head = nn.Linear(12, 5)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def _full(t: torch.Tensor) -> torch.Tensor:
    return t.full_tensor() if isinstance(t, DTensor) else t


def _values(model: nn.Module) -> dict[str, list[Any]]:
    return {n: _full(p.detach()).tolist() for n, p in model.named_parameters()}


def _local_values(model: nn.Module) -> dict[str, Any]:
    """This rank's shard of each param and where it sits in the global tensor (no collective)."""
    out = {}
    for name, p in model.named_parameters():
        box = torch_dist._box(p)
        out[name] = {"values": p.to_local().detach().tolist(), "offsets": [o for o, _ in box],
                     "shape": [n for _, n in box]}
    return out


def _stats_all(model: nn.Module, grads: bool = False) -> dict[str, Any]:
    out = {}
    for name, _ in model.named_parameters():
        result = ps.stats(model, name + ("#grad" if grads else ""), bins=16)
        result.pop("sharding", None)
        out[name] = result
    return out


def _tree(model: nn.Module) -> dict[str, Any]:
    node = ps.inspect(model).to_json()
    flat = {}
    stack = [node]
    while stack:
        n = stack.pop()
        flat[n["path"]] = {k: n.get(k) for k in ("shape", "numel", "n_params", "nbytes", "sharding")}
        stack.extend(n.get("children") or [])
    return flat


def _errors(fn: Any) -> str:
    try:
        fn()
    except ps.ActionError as e:
        return str(e)
    return ""


def fsdp(rank: int) -> dict[str, Any]:
    torch.manual_seed(0)
    plain = Transformer()
    sharded = copy.deepcopy(plain)
    mesh = init_device_mesh("cpu", (2,))
    for block in sharded.blocks:
        fully_shard(block, mesh=mesh)
    fully_shard(sharded, mesh=mesh)
    out: dict[str, Any] = {"tree": _tree(sharded), "tree_plain": _tree(plain)}
    out["stats"], out["stats_plain"] = _stats_all(sharded), _stats_all(plain)
    tokens = torch.randint(0, 37, (3, 7), generator=torch.Generator().manual_seed(1))
    for model in (sharded, plain):
        model(tokens).square().mean().backward()
    out["grads"], out["grads_plain"] = _stats_all(sharded, grads=True), _stats_all(plain, grads=True)
    out["heat"] = tensor_values(ps.actions.require_adapter(sharded),
                                            sharded_entry(sharded, "embed.weight"), max_elems=64)
    out["heat_plain"] = tensor_values(ps.actions.require_adapter(plain),
                                                  sharded_entry(plain, "embed.weight"), max_elems=64)
    before = _values(sharded)
    for model in (sharded, plain):
        ps.reinit(model, "", "normal", seed=7, std=0.02)
        ps.reinit(model, "blocks.1", "default", seed=8)
        ps.reinit(model, "head.weight", "xavier_uniform", seed=9)
        ps.set_value(model, "embed.weight", 0.5, index="3:30:4, 1")
        ps.set_value(model, "head.bias", [1.0, 2.0, 3.0, 4.0, 5.0], mode="add")
        ps.set_value(model, "blocks.0.norm.weight", lambda w: w / w.norm())
    out["after"], out["after_plain"] = _values(sharded), _values(plain)
    for _ in range(6):
        ps.undo(sharded)
    out["undone_equal"] = _values(sharded) == before
    out["tie_error"] = _errors(lambda: ps.tie(sharded, "blocks.1.mlp.0.weight", "blocks.0.mlp.0.weight"))
    out["bad_index"] = _errors(lambda: ps.set_value(sharded, "embed.weight", 1.0, index="40, 0"))
    out["bad_shape"] = _errors(lambda: ps.set_value(sharded, "head.bias", [1.0, 2.0]))
    out["watch_error"] = _errors(lambda: ps.watch(sharded))
    out["unchanged_after_errors"] = _values(sharded) == before
    out["unseeded_same_on_ranks"] = _same_on_ranks(sharded)
    return out


def _same_on_ranks(model: nn.Module) -> bool:
    """An unseeded reinit draws one global tensor: every rank's gathered copy is the same."""
    ps.reinit(model, "head", "normal", std=1.0)
    full = _full(model.head.weight.detach())
    copies = [torch.empty_like(full) for _ in range(dist.get_world_size())]
    dist.all_gather(copies, full)
    return all(torch.equal(copies[0], c) for c in copies)


def sharded_entry(model: nn.Module, path: str) -> Any:
    index = ps.actions.require_adapter(model).index(model)
    return index.tensors[path]


def meshes(rank: int) -> dict[str, Any]:
    """distribute_tensor with Shard(0) / Shard(1) / Replicate on a 1-D mesh and two 2-D meshes."""
    out: dict[str, Any] = {}
    cases = {
        "1d": ((2,), [[Shard(0)], [Shard(1)], [Replicate()]]),
        "2d_1x2": ((1, 2), [[Replicate(), Shard(1)], [Shard(0), Shard(0)], [Shard(1), Replicate()]]),
        "2d_2x1": ((2, 1), [[Shard(1), Shard(0)], [Replicate(), Replicate()], [Shard(0), Shard(1)]]),
    }
    for name, (shape, placements) in cases.items():
        mesh = init_device_mesh("cpu", shape)
        torch.manual_seed(3)
        plain = nn.Sequential(nn.Linear(9, 7), nn.Tanh(), nn.Linear(7, 3), nn.Linear(3, 1))
        with torch.no_grad():
            plain[0].weight[0, 0] = float("nan")
            plain[2].weight[1, 2] = float("inf")
            plain[2].weight[0, :] = 0.0
        sharded = copy.deepcopy(plain)
        layers = [sharded[0], sharded[2], sharded[3]]
        for layer, place in zip(layers, placements, strict=True):
            for pname, p in list(layer.named_parameters()):
                usable = [pl if not (isinstance(pl, Shard) and pl.dim >= p.dim()) else Shard(0) for pl in place]
                layer._parameters[pname] = nn.Parameter(distribute_tensor(p.detach(), mesh, usable))
        case: dict[str, Any] = {"stats": _stats_all(sharded), "stats_plain": _stats_all(plain),
                                "tree": _tree(sharded), "tree_plain": _tree(plain)}
        adapter = ps.actions.require_adapter(sharded)
        case["heat"] = {p: tensor_values(adapter, sharded_entry(sharded, p), max_elems=20)
                        for p in ("0.weight", "2.weight", "3.bias")}
        case["heat_plain"] = {p: tensor_values(adapter, sharded_entry(plain, p), max_elems=20)
                              for p in ("0.weight", "2.weight", "3.bias")}
        for model in (sharded, plain):
            ps.reinit(model, "", "kaiming_uniform", seed=11)
            ps.reinit(model, "0", "default", seed=12)
            ps.set_value(model, "0.weight", -1.0, index=(slice(1, 6, 2), 4))
            ps.set_value(model, "2.weight", 3.0, index="..., 5", mode="mul")
        case["after"], case["after_plain"] = _values(sharded), _values(plain)
        case["describe"] = torch_dist.describe(sharded_entry(sharded, "0.weight").meta.sharding)
        out[name] = case
    return out


def led(rank: int) -> dict[str, Any]:
    """Rank 0 answers protocol requests for both ranks (the notebook case); rank 1 follows."""
    torch.manual_seed(5)
    plain = nn.Sequential(nn.Linear(6, 11), nn.ReLU(), nn.Linear(11, 4))
    sharded = copy.deepcopy(plain)
    fully_shard(sharded, mesh=init_device_mesh("cpu", (2,)))
    models = {"net": sharded}
    out: dict[str, Any] = {"before": _local_values(sharded)}
    if rank != 0:
        return {"answered": ps.follow(models)}
    with ps.lead(models):
        def ask(op: str, **fields: Any) -> Any:
            return protocol.handle({"id": 1, "op": op, "model": "net", **fields}, models=models, namespace={})

        out["tree"] = ask("tree", path="", depth=2)
        out["stats"] = ask("stats", path="0.weight", bins=8)
        out["values"] = ask("values", path="2.weight", max_elems=16)
        out["reinit"] = ask("reinit", path="", init="uniform", seed=4, args={"low": -1.0, "high": 1.0})
        out["set"] = ask("set_value", path="2.bias", value=[1, 2, 3, 4])
        out["stats_after"] = ask("stats", path="2.bias", bins=4)
        out["after"] = _local_values(sharded)
        out["cell_stats"] = ps.stats(sharded, "0.bias", bins=4)
        out["undo"] = ask("undo")
        out["undone"] = _local_values(sharded)
    out["stats_plain"] = ps.stats(plain, "0.weight", bins=8)
    ps.reinit(plain, "", "uniform", seed=4, low=-1.0, high=1.0)
    out["after_plain"] = _values(plain)
    out["cell_stats_plain"] = ps.stats(plain, "0.bias", bins=4)
    return out


def run_rank(body: Callable[[int, int], Any]) -> None:
    """One rank of a gloo process group from `RANK WORLD PORT OUT` on the command line: `body(rank, world)` runs
    inside the group, and rank 0 writes what it returns to OUT as JSON."""
    rank, world, port, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        result = body(rank, world)
        dist.barrier()  # no rank tears the group down while another still waits on it
    finally:
        dist.destroy_process_group()
    if rank == 0:
        with open(path, "w") as f:
            json.dump(result, f, default=str)


def main() -> None:
    run_rank(lambda rank, world: {"fsdp": fsdp(rank), "meshes": meshes(rank), "led": led(rank)})


if __name__ == "__main__":
    main()
