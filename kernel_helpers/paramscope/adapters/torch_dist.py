"""Sharded PyTorch parameters (DTensor: FSDP2 `fully_shard`, `distribute_tensor`, tensor parallel).

A DTensor param is shown with its global shape; its values are read and written through the local shard only.
Statistics, heatmap samples and agreed seeds cross ranks with `torch.distributed` collectives over the
DTensor's own mesh, so every rank of the mesh must make the same call (as training code does): a mesh
dimension on which the tensor is `Shard(d)` is reduced across, one on which it is `Replicate()` is not (every
replica holds the same values). Only scalars, histogram bins and heatmap samples travel; never a whole tensor.

Quirks:
- `DTensor.to_local()` is the shard's own storage (no copy), so in-place writes to it change the param, and
  FSDP2, which keeps a reference to the DTensor, sees them.
- DTensor random ops on CPU draw per rank from each rank's generator, so `nn.init.*` on a DTensor would give
  each shard the same pattern instead of the unsharded tensor's values. A reinit therefore draws into a
  full-size stand-in of one module at a time (the same draws, in the same order, as the unsharded model) and
  keeps the local region: the extra memory is the largest module's parameters, for the length of one module.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.tensor import DTensor
from torch.distributed.tensor._utils import _compute_local_shape_and_global_offset

from .._errors import ActionError
from ..tree import ModelIndex, TensorEntry
from . import Moments, ReinitResult, Unavailable

# Per-rank rows of the placement layout sent with each tree node; larger meshes send the first ones only.
LAYOUT_LIMIT = 64
# Moments as one float64 row per rank: counts below 2**53 and the m2 exponent are exact in float64.
_FIELDS = ("count", "mean", "m2", "min", "max", "zeros", "nan", "inf", "exp")
_COUNTS = frozenset({"count", "zeros", "nan", "inf", "exp"})


def is_sharded(tensor: Any) -> bool:
    return isinstance(tensor, DTensor)


def local(tensor: torch.Tensor) -> torch.Tensor:
    """The local shard of a DTensor (its own storage, the same object each time), or the tensor itself."""
    if isinstance(tensor, DTensor):
        shard: torch.Tensor = tensor._local_tensor
        return shard
    return tensor


def placement_name(placement: Any) -> str:
    if placement.is_shard() and type(placement).__name__ == "Shard":
        return f"Shard({placement.dim})"
    if placement.is_replicate():
        return "Replicate()"
    if placement.is_partial():
        return f"Partial({getattr(placement, 'reduce_op', 'sum')})"
    return repr(placement)


def sharding(tensor: DTensor) -> dict[str, Any]:
    """Global and local shape, mesh, placements and which rank holds which slice (offsets and shape).

    One dict is shared by every tensor with the same layout (it is built for each request's index): read it,
    do not change it."""
    mine = tensor._local_tensor  # not to_local(): that is an autograd op per call
    element = tensor.element_size()
    key = (tuple(tensor.shape), tensor.device_mesh, tuple(tensor.placements), element, tuple(mine.shape))
    if key not in _LAYOUTS:  # the same for every tensor of that shape on that mesh (most of a model's)
        if len(_LAYOUTS) > 4096:
            _LAYOUTS.clear()
        _LAYOUTS[key] = _sharding(tensor, element, mine)
    return _LAYOUTS[key]


_LAYOUTS: dict[tuple[Any, ...], dict[str, Any]] = {}


def _sharding(tensor: DTensor, element: int, mine: torch.Tensor) -> dict[str, Any]:
    mesh = tensor.device_mesh
    shape = tuple(tensor.shape)
    mesh_shape = tuple(mesh.shape)
    ranks = mesh.mesh.flatten().tolist()
    layout = []
    for position, coord in enumerate(itertools.product(*(range(n) for n in mesh_shape))):
        if position == LAYOUT_LIMIT:
            break
        local_shape, offsets = _compute_local_shape_and_global_offset(shape, mesh_shape, list(coord),
                                                                     tensor.placements)
        layout.append({"rank": ranks[position], "coord": list(coord), "offsets": list(offsets),
                       "shape": list(local_shape), "nbytes": math.prod(local_shape) * element})
    return {
        "global_shape": list(shape),
        "local_shape": list(mine.shape),
        "local_nbytes": mine.numel() * element,
        "mesh": {"shape": list(mesh_shape), "dim_names": list(mesh.mesh_dim_names or ()),
                 "device_type": mesh.device_type, "ranks": ranks},
        "placements": [placement_name(p) for p in tensor.placements],
        "rank": dist.get_rank() if dist.is_initialized() else 0,
        "layout": layout,
        "layout_complete": len(layout) == len(ranks),
    }


def describe(info: dict[str, Any]) -> str:
    """Text view of the placement, one line per rank (like torch's visualize_sharding, as a table)."""
    mesh = "x".join(str(n) for n in info["mesh"]["shape"])
    lines = [f"global {tuple(info['global_shape'])} on a {mesh} {info['mesh']['device_type']} mesh, "
             f"placements [{', '.join(info['placements'])}]"]
    for row in info["layout"]:
        where = ", ".join(f"{o}:{o + n}" for o, n in zip(row["offsets"], row["shape"], strict=True))
        lines.append(f"  rank {row['rank']} {tuple(row['coord'])}: [{where}] {tuple(row['shape'])} "
                     f"{row['nbytes']:,} bytes")
    if not info["layout_complete"]:
        lines.append(f"  ... {len(info['mesh']['ranks']) - len(info['layout'])} more ranks")
    return "\n".join(lines)


# -- reading: collectives over the shard dimensions of the mesh ------------------------------------------------


def readable(tensor: DTensor) -> torch.Tensor:
    """The local shard for statistics; Unavailable (on every rank alike) where values are pending a reduction."""
    if any(p.is_partial() for p in tensor.placements):
        raise Unavailable("the values are Partial (a pending sum across ranks): redistribute to Shard or Replicate "
                          "first, e.g. t.redistribute(placements=[Replicate()])")
    return tensor.to_local()


class Collective:
    """Merges one rank's partial statistics with those of the other shards of the same DTensor."""

    def __init__(self, tensor: DTensor) -> None:
        self.mesh = tensor.device_mesh
        self.dims = [i for i, p in enumerate(tensor.placements) if not p.is_replicate()]
        self.device = tensor.to_local().device

    def moments(self, mine: Moments) -> Moments:
        from ..stats import merge

        total = mine
        for dim in self.dims:
            group = self.mesh.get_group(dim)
            row = torch.tensor([getattr(total, f) for f in _FIELDS], dtype=torch.float64, device=self.device)
            rows = [torch.empty_like(row) for _ in range(dist.get_world_size(group))]
            dist.all_gather(rows, row, group=group)
            total = Moments()
            for values in torch.stack(rows).cpu().tolist():  # the same order on every rank: the same result
                part = dict(zip(_FIELDS, values, strict=True))
                total = merge(total, Moments(**{f: int(v) if f in _COUNTS else v for f, v in part.items()}))
        return total

    def counts(self, mine: list[int]) -> list[int]:
        counts = torch.tensor(mine, dtype=torch.int64, device=self.device)
        for dim in self.dims:
            dist.all_reduce(counts, group=self.mesh.get_group(dim))
        return [int(c) for c in counts.tolist()]

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        for dim in self.dims:
            dist.all_reduce(values, group=self.mesh.get_group(dim))
        return values


def sample_2d(tensor: DTensor, rstep: int, cstep: int) -> list[list[float]]:
    """The strided (shape[0], prod(shape[1:])) sample of the global tensor: each rank fills the positions its
    shard holds, and a sum across the shard dimensions of the mesh puts them together."""
    shard = readable(tensor).detach()
    shape = list(tensor.shape)
    box = _box(tensor)
    if len(shape) < 2:  # 0-D and 1-D are one row: a leading dimension of 1 held whole by every rank
        shape, box, shard = [1, *shape], [(0, 1), *box], shard.reshape(1, -1)
    rows = torch.arange(0, shape[0], rstep, device=shard.device)
    cols = torch.arange(0, math.prod(shape[1:]), cstep, device=shard.device)
    out = torch.zeros(len(rows), len(cols), dtype=torch.float64, device=shard.device)
    r_keep, r_local = _inside(rows, *box[0])
    # A column is held here when every trailing coordinate is inside the box; its local index ravels the
    # in-box coordinates with the local trailing sizes.
    c_keep = torch.ones_like(cols, dtype=torch.bool)
    c_local = torch.zeros_like(cols)
    rest, scale = cols, 1
    for size, (offset, length) in reversed(list(zip(shape[1:], box[1:], strict=True))):
        keep, idx = _inside(rest % size, offset, length)
        c_keep &= keep
        c_local += idx * scale
        rest, scale = rest // size, scale * length
    if bool(r_keep.any()) and bool(c_keep.any()):
        x = shard.to(torch.float64) if not shard.is_complex() else shard.abs().to(torch.float64)
        block = x.reshape(box[0][1], -1)[r_local[r_keep]][:, c_local[c_keep]]
        out[r_keep.nonzero().squeeze(1)[:, None], c_keep.nonzero().squeeze(1)[None, :]] = block
    result: list[list[float]] = Collective(tensor).sum(out).cpu().tolist()
    return result


def _box(tensor: DTensor) -> list[tuple[int, int]]:
    """(offset, length) per dimension of the global region this rank's shard holds."""
    coord = tensor.device_mesh.get_coordinate()
    if coord is None:  # this rank is not in the mesh: it holds nothing
        return [(0, 0) for _ in tensor.shape]
    shape, offsets = _compute_local_shape_and_global_offset(tuple(tensor.shape), tuple(tensor.device_mesh.shape),
                                                           list(coord), tensor.placements)
    return list(zip(offsets, shape, strict=True))


def _inside(indices: torch.Tensor, offset: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Which global `indices` fall in [offset, offset + length), and their local index (0 where outside)."""
    keep = (indices >= offset) & (indices < offset + length)
    return keep, torch.where(keep, indices - offset, torch.zeros_like(indices))


# -- writing ---------------------------------------------------------------------------------------------------


def write_refusal(tensor: DTensor) -> str | None:
    """Why paramscope cannot write this DTensor, or None (Shard(d) and Replicate() placements only)."""
    for placement in tensor.placements:
        if placement.is_partial():
            return "its values are Partial (a pending sum across ranks); redistribute it to Shard or Replicate first"
        if not placement.is_replicate() and type(placement).__name__ != "Shard":
            return (f"its placement {placement!r} is not a plain Shard(d) or Replicate(), whose slices paramscope "
                    "can map")
    return None


def tie_refusal(*entries: TensorEntry) -> str | None:
    for entry in entries:
        if isinstance(entry.obj, DTensor):
            return (f"{entry.path} is sharded ({', '.join(placement_name(p) for p in entry.obj.placements)} on a "
                    f"{'x'.join(str(n) for n in entry.obj.device_mesh.shape)} mesh): tying would make one rank's "
                    "module share another's shard layout; tie the parameters before fully_shard / "
                    "distribute_tensor, as FSDP2 expects")
    return None


def set_value(tensor: DTensor, value: Any, where: tuple[Any, ...] | None, mode: str, label: str) -> None:
    """Write `value` into the selection `where` of the global tensor: each rank writes the part its shard holds.

    Every rank checks the same things against the global shape before any write, so all succeed or all refuse.
    A function of the old values is given the whole selection (gathered: it may need all of it, like
    `w / w.norm()`)."""
    why = write_refusal(tensor)
    if why:
        raise ActionError(f"cannot set {label}: {why}")
    shard = tensor.to_local()
    shape = tuple(tensor.shape)
    items = _normalize(where, shape, label)
    selection = torch.empty(shape, device="meta")[tuple(items)].shape
    if callable(value):
        value = value(tensor.full_tensor()[tuple(items)].clone())
        if not isinstance(value, (torch.Tensor, int, float, bool)):
            raise ActionError(f"the function given for {label} returned a {type(value).__name__}; "
                              "return a tensor or a number")
    new = _as_tensor(value, shard.device, label)
    try:
        fits = torch.broadcast_shapes(new.shape, selection) == selection
    except RuntimeError:
        fits = False
    if not fits:
        raise ActionError(f"value of shape {tuple(new.shape)} does not fit {label} of shape {tuple(selection)}")
    integral = not shard.dtype.is_floating_point and not shard.is_complex()
    if integral and new.is_floating_point() and not bool(torch.isfinite(new).all()):
        raise ActionError(f"{label} is {str(shard.dtype).replace('torch.', '')}; NaN and Inf do not fit")
    new = new.expand(selection)
    picked_of_new: list[torch.Tensor] = []  # positions in the selection held here, per kept dimension
    target: list[Any] = []  # local indices per dimension (an int drops its dimension, as in the selection)
    for item, n, (offset, length) in zip(items, shape, _box(tensor), strict=True):
        if isinstance(item, int):
            if not offset <= item < offset + length:
                return  # this rank holds none of the selection
            target.append(item - offset)
            continue
        keep, idx = _inside(torch.arange(n, device=shard.device)[item], offset, length)
        if not bool(keep.any()):
            return
        picked_of_new.append(keep.nonzero().squeeze(1))
        target.append(idx[keep])
    place = _ix(target)
    part = new[_ix(picked_of_new)] if picked_of_new else new
    if mode == "add":
        part = shard[place] + part
    elif mode == "mul":
        part = shard[place] * part
    shard[place] = part.to(shard.dtype)


def _as_tensor(value: Any, device: torch.device, label: str) -> torch.Tensor:
    try:
        return torch.as_tensor(value, device=device)
    except (TypeError, ValueError, RuntimeError) as e:
        raise ActionError(f"cannot use {value!r} as a value for {label}: give a number or a (nested) list / array "
                          "of numbers") from e


def _normalize(where: tuple[Any, ...] | None, shape: tuple[int, ...], label: str) -> list[Any]:
    """One int (non-negative, in range) or slice per dimension."""
    items = list(where or ())
    if items.count(Ellipsis) > 1:
        raise ActionError(f"index of {label} has more than one '...'")
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items[at : at + 1] = [slice(None)] * (len(shape) - len(items) + 1)
    if len(items) > len(shape):
        raise ActionError(f"index of {label} has {len(items)} items but the tensor has {len(shape)} dimensions "
                          f"(shape {shape})")
    items += [slice(None)] * (len(shape) - len(items))
    out: list[Any] = []
    for item, n in zip(items, shape, strict=True):
        if isinstance(item, int):
            if not -n <= item < n:
                raise ActionError(f"index {item} is out of range for a dimension of size {n} ({label}, shape "
                                  f"{shape})")
            out.append(item % n)
        else:
            out.append(item)
    return out


def _ix(indices: list[Any]) -> tuple[Any, ...]:
    """Broadcasting index tensors (like numpy.ix_), one dimension each; ints stay ints and drop their dimension,
    so the indexed shape is the lengths of the tensor indices, in order."""
    k = sum(1 for i in indices if not isinstance(i, int))
    out: list[Any] = []
    for idx in indices:
        if isinstance(idx, int):
            out.append(idx)
            continue
        view = [1] * k
        view[len([o for o in out if not isinstance(o, int)])] = -1
        out.append(idx.reshape(view))
    return tuple(out)


def agreed_seed(entries: list[TensorEntry]) -> int:
    """A seed drawn from rank 0's generator and sent to every rank of each mesh, so unseeded draws agree."""
    seed = torch.randint(0, 2**31 - 1, (1,), dtype=torch.int64)
    for entry in entries:
        if isinstance(entry.obj, DTensor):
            mesh = entry.obj.device_mesh
            value = seed.to(entry.obj.to_local().device)
            for dim in range(mesh.ndim):
                dist.broadcast(value, group_src=0, group=mesh.get_group(dim))
            return int(value.item())
    return int(seed.item())


def reinit(index: ModelIndex, target: str, entries: list[TensorEntry], seed: int | None, whole: bool,
           read_old: bool, result: ReinitResult, run: Callable[[ModelIndex, list[TensorEntry]], None]) -> None:
    """Reinitialize sharded (and plain) `entries` with `run(index, entries)`, the unsharded reinit, on full-size
    stand-ins, one owning module at a time (all at once when `whole`: a custom fn(module) applied to a block),
    under one seeded generator so that the draws are those of the unsharded model; then keep each rank's region.

    `read_old` fills the stand-ins with the current values (gathered), for custom initializers that read them."""
    for entry in entries:
        why = write_refusal(entry.obj) if isinstance(entry.obj, DTensor) else None
        if why:
            raise ActionError(f"cannot reinitialize {entry.path}: {why}")
    if seed is None:
        seed = agreed_seed(entries)
    devices = sorted({local(e.obj).device.index or 0 for e in entries if local(e.obj).device.type == "cuda"})
    groups = [entries] if whole else _by_owner(entries)
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed)
        for group in groups:
            if whole:
                swap = [e for e in index.subtree_tensors(target) if isinstance(e.obj, DTensor)]
            else:
                owners = {e.owner for e in group}
                swap = [e for e in index.tensors.values() if e.owner in owners and isinstance(e.obj, DTensor)]
            fill = {id(e.obj) for e in group} if read_old else set()
            with _standins(index, swap, fill) as (full_index, standins):
                before = len(result.changed)
                run(full_index, [full_index.tensors[e.path] for e in group])
                changed = set(result.changed[before:])
                for entry in group:
                    if entry.path in changed and id(entry.obj) in standins:
                        shard = entry.obj.to_local()
                        region = tuple(slice(o, o + n) for o, n in _box(entry.obj))
                        shard.copy_(standins[id(entry.obj)][region])


def _by_owner(entries: list[TensorEntry]) -> list[list[TensorEntry]]:
    groups: list[list[TensorEntry]] = []
    for entry in entries:
        if groups and groups[-1][0].owner == entry.owner:
            groups[-1].append(entry)
        else:
            groups.append([entry])
    return groups


@contextmanager
def _standins(index: ModelIndex, swap: list[TensorEntry], fill: set[int]
              ) -> Iterator[tuple[ModelIndex, dict[int, torch.Tensor]]]:
    """An index whose DTensors in `swap` (and their tied uses) are full-size plain tensors, bound in the modules'
    slots for the duration; the DTensors are bound back afterwards whatever happens."""
    standins: dict[int, torch.Tensor] = {}
    for entry in swap:
        tensor: DTensor = entry.obj
        if id(tensor) in standins:
            continue
        full = tensor.full_tensor() if id(tensor) in fill else torch.empty(
            tuple(tensor.shape), dtype=tensor.dtype, device=tensor.to_local().device)
        standins[id(tensor)] = nn.Parameter(full, requires_grad=tensor.requires_grad) if isinstance(
            tensor, nn.Parameter) else full
    tensors = {path: replace(e, obj=standins[id(e.obj)]) if id(e.obj) in standins else e
               for path, e in index.tensors.items()}
    swapped = [(index.blocks[e.owner].obj, e) for e in index.tensors.values() if id(e.obj) in standins]
    for module, entry in swapped:
        _table(module, entry)[entry.name] = standins[id(entry.obj)]
    try:
        yield ModelIndex(index.framework, index.blocks, tensors, index.alt_names), standins
    finally:
        for module, entry in swapped:
            _table(module, entry)[entry.name] = entry.obj


def _table(module: nn.Module, entry: TensorEntry) -> dict[str, Any]:
    return module._parameters if entry.kind == "param" else module._buffers
