"""One rank of the sharded compare test (tests/test_compare.py): DTensor parameters (Shard(0), Shard(1),
Replicate) on a 1-D mesh of 2 CPU processes, snapshotted, moved in place, compared; and the same on an unsharded
copy. Rank 0 writes both answers as JSON."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor import Replicate, Shard, distribute_tensor

import paramscope as ps
from paramscope import protocol
from tests.distributed_worker import run_rank


def compared(rank: int, world: int) -> dict[str, Any]:
    """The compare and change-colour answers for the sharded copy and for the plain model."""
    mesh = init_device_mesh("cpu", (world,))
    torch.manual_seed(5)
    plain = nn.Sequential(nn.Linear(6, 4), nn.Linear(4, 5), nn.Linear(5, 2))
    sharded = copy.deepcopy(plain)
    for layer, place in zip(sharded, [Shard(0), Shard(1), Replicate()], strict=True):
        for name, p in list(layer.named_parameters()):
            usable = Shard(0) if isinstance(place, Shard) and place.dim >= p.dim() else place
            layer._parameters[name] = nn.Parameter(distribute_tensor(p.detach(), mesh, [usable]))
    out = {}
    for label, model in (("sharded", sharded), ("plain", plain)):
        ps.snapshot(model)
        with torch.no_grad():  # elementwise, so the same on every shard as on the whole tensor
            for name in ("0.weight", "1.weight", "2.bias"):
                p = model.get_parameter(name)
                local = p.to_local() if hasattr(p, "to_local") else p
                if name == "1.weight":  # half of the values move: a changed fraction below 1
                    local.mul_(torch.where(local > 0, 0.5, 1.0))
                else:
                    local.mul_(2).add_(1)
        reply = protocol.handle({"id": 1, "op": "compare", "model": "m"}, models={"m": model})
        colour = protocol.handle({"id": 2, "op": "sizes", "model": "m", "color": "change"}, models={"m": model})
        out[label] = {"compare": reply, "sizes": colour}
    return out


def main() -> None:
    run_rank(compared)


if __name__ == "__main__":
    main()
