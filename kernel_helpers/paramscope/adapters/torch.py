"""PyTorch adapter: modules, parameters and buffers of `torch.nn.Module` models.

Quirks written down here so that nobody has to find them again:
- `named_parameters()` and `named_children()` drop repeated objects; tied params and modules used twice are
  read from `_parameters` / `_modules` so that every use gets its own path (as `remove_duplicate=False` does).
- `UninitializedParameter.shape` raises before the first forward (lazy modules); meta tensors have shape and
  dtype but no storage (`data_ptr() == 0`), so tying is detected with `is`, never by pointer.
- `torch.random.fork_rng` restores the CPU and the listed CUDA generators, which is how `seed=` leaves the
  user's global RNG state as it was.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import sys
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

# Checking the mixin avoids Parameter's metaclass __instancecheck__, which is slow on 10,000s of tensors.
from torch.nn.parameter import UninitializedTensorMixin  # type: ignore[attr-defined]

from .. import threads
from .._errors import ActionError
from ..initializers import NEEDS_MATRIX, foreign
from ..snapshots import Cell, Record, subtree_paths
from ..stats import CHUNK_ELEMS, matrix_shape
from ..tree import BlockEntry, ModelIndex, TensorEntry, TensorMeta
from . import (
    SAMPLE_POINTS,
    InitSpec,
    Moments,
    ReinitResult,
    Unavailable,
    attr_code,
    format_index,
    sample_digest,
    split_writable,
    torch_stats,
    torch_undo,
)

_MODULE_ARG_NAMES = frozenset({"m", "module", "mod", "layer", "block", "net", "model", "submodule"})
_TENSOR_ARG_NAMES = frozenset({"t", "tensor", "w", "weight", "x", "p", "param", "parameter", "data", "a", "arr"})


class TorchAdapter:
    framework = "pytorch"

    def is_model(self, obj: Any) -> bool:
        if not isinstance(obj, nn.Module):
            return False
        stack = [obj]  # iterative: Module.parameters() recurses and fails on very deep nesting
        while stack:
            module = stack.pop()
            if any(t is not None for t in (*module._parameters.values(), *module._buffers.values())):
                return True
            stack.extend(m for m in module._modules.values() if m is not None)
        return False

    def index(self, model: nn.Module, root: str = "net") -> ModelIndex:
        blocks: dict[str, BlockEntry] = {}
        tensors: dict[str, TensorEntry] = {}
        # Depth-first pre-order, as named_modules() walks: a block's entry is added when it is popped, its own
        # parameters and buffers right after it (the order of named_parameters()).
        stack: list[BlockEntry] = [BlockEntry("", root, root, model, type(model).__name__)]
        # `.grad` is not read while another thread trains (see `_readable`): trainable params count as having one.
        grads = not threads.training("pytorch")
        while stack:
            block = stack.pop()
            blocks[block.path] = block
            module: nn.Module = block.obj
            prefix = block.path + "." if block.path else ""
            for kind, table in (("param", module._parameters), ("buffer", module._buffers)):
                for name, tensor in table.items():
                    if tensor is None:
                        continue
                    path = prefix + name
                    tensors[path] = TensorEntry(
                        path=path,
                        name=name,
                        kind=kind,  # type: ignore[arg-type]
                        owner=block.path,
                        code=_child_code(block.code, module, name, -1),
                        obj=tensor,
                        type=type(tensor).__name__ if kind == "param" else "Buffer",
                        meta=_meta(tensor, module, name, kind, grads),
                    )
                    block.children.append(path)
            children = []
            for position, (name, child) in enumerate(module._modules.items()):
                if child is None:
                    continue
                path = prefix + name
                code = _child_code(block.code, module, name, position)
                children.append(BlockEntry(path, name, code, child, type(child).__name__))
                block.children.append(path)
            stack.extend(reversed(children))
        return ModelIndex("pytorch", blocks, tensors)

    # -- snapshots -------------------------------------------------------------------------------------------

    def snapshot(self, index: ModelIndex, paths: list[str], grads: bool = False) -> Record:
        cells: list[Cell] = []
        values: dict[int, torch_undo.Values] = {}
        for path in paths:
            if path in index.blocks:
                if path:
                    parent = index.blocks[path.rpartition(".")[0]].obj
                    block = index.blocks[path]
                    cells.append(torch_undo.Slot(parent, "module", block.name, block.obj, path))
                continue
            entry = index.tensors[path]
            tensor = entry.obj
            cells.append(torch_undo.Slot(index.blocks[entry.owner].obj, entry.kind, entry.name, tensor, path))
            if _unmaterialized(tensor):
                continue
            if id(tensor) in values:
                values[id(tensor)].paths.append(path)
                continue
            sharded = _dist(tensor)  # a DTensor: this rank's shard is saved and put back (undo per rank)
            values[id(tensor)] = torch_undo.Values(sharded.local(tensor) if sharded else tensor, [path])
            if grads and entry.kind == "param":
                _no_training_thread(f"{entry.path} and its gradient")
                cells.append(torch_undo.Grad(tensor, [path]))
        return Record(self, index.blocks[""].obj, cells + list(values.values()))

    def rebound(self, model: nn.Module) -> None:
        """Nothing depends on which object a slot binds (forward reads the tables each call)."""

    def structure_key(self, model: nn.Module) -> tuple[Any, ...]:
        """Changes when a module, parameter or buffer is added, removed, replaced, materialized (lazy) or, for a
        sample of them, converted or moved: the listing's cache key. ~10 ms for 20,000 modules, no index."""
        modules: list[nn.Module | None] = [model]
        tensors: list[torch.Tensor | None] = []
        i = 0
        while i < len(modules):
            module = modules[i]
            i += 1
            if module is None:
                continue
            modules.extend(module._modules.values())
            tensors.extend(module._parameters.values())
            tensors.extend(module._buffers.values())
        step = max(1, len(tensors) // 32)
        sample = tuple((t.dtype, t.device, None if isinstance(t, UninitializedTensorMixin) else t.shape)
                       for t in tensors[::step] if t is not None)
        return tuple(map(id, modules)), tuple(map(id, tensors)), tuple(map(type, tensors)), sample

    # -- reading values --------------------------------------------------------------------------------------

    def fingerprint(self, entry: TensorEntry, grad: bool = False) -> str:
        if grad and threads.training("pytorch"):
            return "training"
        tensor = entry.obj.grad if grad else entry.obj
        return "none" if tensor is None else _fingerprint(tensor)

    def chunks(self, entry: TensorEntry, grad: bool) -> Iterator[torch.Tensor]:
        tensor = _readable(entry, grad)
        sharded = _dist(tensor)
        if sharded:  # this rank's shard; `collective` merges the shards' statistics
            tensor = sharded.readable(tensor)
        flat = tensor.detach()
        # On an accelerator a chunk is 8x bigger: each one costs a device -> host transfer of five scalars. So is a
        # contiguous CPU float32/float64 tensor for the numba kernels (zero-copy views): each chunk costs a launch
        # of their threads (~30 us) and some Python; where the kernels pass a chunk to the eager path,
        # torch_stats reduces it CHUNK_ELEMS at a time, which keeps the extra memory as it was.
        size = CHUNK_ELEMS * (torch_stats.KERNEL_CHUNKS if torch_stats.kernel_ready(flat) else 1
                              if flat.device.type == "cpu" else 8)
        if flat.is_contiguous():
            flat = flat.view(-1)
            for start in range(0, flat.numel(), size):
                yield flat[start : start + size]
        else:
            rows = flat.reshape(flat.shape[0], -1) if flat.dim() > 1 else flat.reshape(1, -1)
            per = max(1, size // max(1, rows.shape[1]))
            for start in range(0, rows.shape[0], per):
                yield rows[start : start + per].reshape(-1)

    def chunk_moments(self, chunk: torch.Tensor) -> Moments:
        return torch_stats.moments(chunk)

    def chunk_stats(self, chunk: torch.Tensor, bins: int) -> tuple[Moments, list[int] | None]:
        """The moments of a tensor's only chunk and, where one kernel call gives them, its counts over its range."""
        return torch_stats.moments_and_hist(chunk, bins)

    def collective(self, entry: TensorEntry, grad: bool) -> Any:
        """For a DTensor, what merges this rank's statistics with the other shards' (collectives: every rank
        of its mesh must ask for the same statistics); None for a plain tensor."""
        tensor = _readable(entry, grad)
        sharded = _dist(tensor)
        return sharded.Collective(tensor) if sharded else None

    def chunk_hist(self, chunk: torch.Tensor, lo: float, hi: float, bins: int, finite: bool = False) -> list[int]:
        return torch_stats.hist(chunk, lo, hi, bins, finite)

    def sample_2d(self, entry: TensorEntry, grad: bool, rows: int, cols: int, rstep: int,
                  cstep: int) -> list[list[float]]:
        tensor = _readable(entry, grad).detach()
        sharded = _dist(tensor)
        if sharded:
            return sharded.sample_2d(tensor, rstep, cstep)
        sample = tensor.reshape(matrix_shape(list(tensor.shape)))[::rstep, ::cstep]
        result: list[list[float]] = _as_float64(sample).cpu().tolist()
        return result

    # -- actions ---------------------------------------------------------------------------------------------

    def reinit(self, index: ModelIndex, target: str, entries: list[TensorEntry], init: InitSpec,
               seed: int | None) -> ReinitResult:
        result = ReinitResult()
        ready = split_writable(entries, _not_writable, result)
        sharded = next((d for d in map(_dist, (e.obj for e in ready)) if d), None)
        if sharded:  # DTensors: the unsharded draws on full-size stand-ins, one module at a time
            whole = init.custom is not None and target in index.blocks and _custom_form(init.custom, True) == "module"
            sharded.reinit(index, target, ready, seed, whole, init.custom is not None, result,
                           lambda full, group: self._reinit_plain(full, target, group, init, result))
            return result
        with _seeded(seed, [e.obj for e in ready]), torch.no_grad():
            self._reinit_plain(index, target, ready, init, result)
        return result

    def _reinit_plain(self, index: ModelIndex, target: str, entries: list[TensorEntry], init: InitSpec,
                      result: ReinitResult) -> None:
        if init.custom is not None:
            self._reinit_custom(index, target, entries, init, result)
        elif init.name == "default":
            self._reinit_default(index, target, entries, result)
        else:
            for entry in entries:
                why = _catalogue_refusal(entry, init.name)
                if why:
                    result.skipped.append({"path": entry.path, "reason": why})
                    continue
                _CATALOGUE[init.name](entry.obj, **init.args)
                result.changed.append(entry.path)

    def _reinit_default(self, index: ModelIndex, target: str, entries: list[TensorEntry], result: ReinitResult) -> None:
        owners: dict[int, tuple[nn.Module, list[TensorEntry]]] = {}
        for entry in entries:
            module = index.blocks[entry.owner].obj
            owners.setdefault(id(module), (module, []))[1].append(entry)
        for module, owned in owners.values():
            reset = getattr(module, "reset_parameters", None)
            if not callable(reset):
                for entry in owned:
                    result.skipped.append({"path": entry.path, "reason": f"{type(module).__name__} has no "
                                           "reset_parameters(), so it has no default initializer; pick one"})
                continue
            # reset_parameters() resets the whole module (BatchNorm: running stats too); for one parameter,
            # put the module's other tensors back.
            keep = self._others_of_owner(index, module, owned) if target in index.tensors else None
            reset()
            if keep is not None:
                keep.restore()
            result.changed.extend(e.path for e in owned)

    def _reinit_custom(self, index: ModelIndex, target: str, entries: list[TensorEntry], init: InitSpec,
                       result: ReinitResult) -> None:
        fn = init.custom
        # A write is told by the version counter (in-place ops bump it), a new .data or other values: an
        # initializer that writes the values the tensor already had has still done its work.
        before = {id(e.obj): (e.obj.detach().clone(), e.obj._version, e.obj.data_ptr()) for e in entries}
        if _custom_form(fn, is_block=target in index.blocks) == "module":
            if target in index.blocks:
                index.blocks[target].obj.apply(fn)
            else:
                owned = [index.tensors[target]]
                module = index.blocks[owned[0].owner].obj
                keep = self._others_of_owner(index, module, owned)
                fn(module)
                keep.restore()
        else:
            for entry in entries:
                out = fn(entry.obj)
                if out is None or out is entry.obj:
                    continue
                if not isinstance(out, torch.Tensor):
                    raise ActionError(f"{init.name}({entry.path}) returned a {type(out).__name__}: return None "
                                      "(change the tensor in place) or a tensor of the same shape")
                if tuple(out.shape) != tuple(entry.obj.shape):
                    raise ActionError(f"{init.name}({entry.path}) returned shape {tuple(out.shape)} but "
                                      f"{entry.path} has shape {tuple(entry.obj.shape)}")
                entry.obj.copy_(out)
        for entry in entries:
            old, version, pointer = before[id(entry.obj)]
            if entry.obj.shape != old.shape:
                raise ActionError(f"{init.name} changed the shape of {entry.path} from {tuple(old.shape)} to "
                                  f"{tuple(entry.obj.shape)}; an initializer must keep the shape")
            written = entry.obj._version != version or entry.obj.data_ptr() != pointer
            if written or not torch.equal(entry.obj.detach(), old) or torch.isnan(old).any():
                result.changed.append(entry.path)
            else:
                result.skipped.append({"path": entry.path, "reason": f"{init.name} did not write it"})

    def _others_of_owner(self, index: ModelIndex, module: nn.Module, owned: list[TensorEntry]) -> Record:
        """Snapshot of everything under the owner except `owned`: reset_parameters() and fn(module) may write
        the whole module (children, buffers and gradients too, or rebind a child)."""
        owned_ids = {id(e.obj) for e in owned}
        paths = [p for root, block in index.blocks.items() if block.obj is module for p in subtree_paths(index, root)]
        return self.snapshot(index, [p for p in dict.fromkeys(paths)
                                     if p not in index.tensors or id(index.tensors[p].obj) not in owned_ids],
                             grads=True)

    def set_value(self, entry: TensorEntry, value: Any, where: tuple[Any, ...] | None, mode: str) -> None:
        why = _not_writable(entry)
        if why:
            raise ActionError(f"cannot set {entry.path}: {why}")
        tensor: torch.Tensor = entry.obj
        label = entry.path + (format_index(where) if where is not None else "")
        sharded = _dist(tensor)
        if sharded:
            with torch.no_grad():
                sharded.set_value(tensor, value, where, mode, label)
            return
        with torch.no_grad():
            try:
                old = tensor[where] if where is not None else tensor
            except (IndexError, TypeError) as e:
                raise ActionError(f"index {format_index(where or ())} does not fit {entry.path} of shape "
                                  f"{tuple(tensor.shape)}: {e}") from e
            if callable(value):
                new = value(old.detach().clone())
                if not isinstance(new, (torch.Tensor, int, float, bool)):
                    raise ActionError(f"the function given for {label} returned a {type(new).__name__}; "
                                      "return a tensor or a number")
            else:
                new = value
            try:
                new_t = torch.as_tensor(new, device=tensor.device)
            except (TypeError, ValueError, RuntimeError) as e:
                raise ActionError(f"cannot use {new!r} as a value for {label}: give a number or a (nested) "
                                  "list / array of numbers") from e
            if mode == "add":
                new_t = old + new_t
            elif mode == "mul":
                new_t = old * new_t
            try:
                shape = torch.broadcast_shapes(new_t.shape, old.shape)
            except RuntimeError:
                shape = None
            if shape != old.shape:
                raise ActionError(f"value of shape {tuple(new_t.shape)} does not fit {label} of shape "
                                  f"{tuple(old.shape)}")
            integral = not tensor.dtype.is_floating_point and not tensor.is_complex()
            if integral and new_t.is_floating_point() and not torch.isfinite(new_t).all():
                raise ActionError(f"{label} is {_dtype(tensor)}; NaN and Inf do not fit")
            if where is None:
                tensor.copy_(new_t.to(tensor.dtype).expand_as(tensor))
            else:
                tensor[where] = new_t.to(tensor.dtype)

    def tie(self, index: ModelIndex, entry: TensorEntry, to: TensorEntry) -> None:
        _refuse_sharded_tie(entry, to)
        owner: nn.Module = index.blocks[entry.owner].obj
        owner._parameters[entry.name] = to.obj

    def untie(self, index: ModelIndex, entry: TensorEntry) -> None:
        _refuse_sharded_tie(entry)
        owner: nn.Module = index.blocks[entry.owner].obj
        old = entry.obj
        if isinstance(old, UninitializedTensorMixin):
            raise ActionError(f"{entry.path} is lazy (not initialized yet): run a forward pass, then untie it")
        owner._parameters[entry.name] = nn.Parameter(old.detach().clone(), requires_grad=old.requires_grad)

    def untie_block(self, index: ModelIndex, path: str) -> None:
        block = index.blocks[path]
        parent: nn.Module = index.blocks[path.rpartition(".")[0]].obj
        parent._modules[block.name] = copy.deepcopy(block.obj)

    def hook_steps(self, model: nn.Module, index: ModelIndex, on_forward: Callable[[], ModelIndex | None],
                   on_grads: Callable[[list[TensorEntry]], None], recorded: Callable[[], bool]) -> Callable[[], None]:
        sharded = [e.path for e in index.unique_params("") if _dist(e.obj)]
        if sharded:
            raise ActionError(f"ps.watch does not record sharded (DTensor) parameters yet ({sharded[0]} and "
                              f"{len(sharded) - 1} more): read them with ps.stats on every rank between steps")
        grads = _GradHooks(on_grads)

        def pre_hook(_module: nn.Module, _args: Any) -> None:
            grads.flush()  # a backward where some params got no gradient: the others' are final
            changed = on_forward()
            if changed is not None:  # torch copies its hook dicts before calling them: safe to change here
                grads.hook(changed)

        # The model holds the forward hook, which holds `grads` (and so the watch): a cycle the collector sees.
        forward = model.register_forward_pre_hook(pre_hook)
        grads.hook(index)

        def remove() -> None:
            forward.remove()
            grads.unhook()

        return remove

    def watch_sums(self, entries: list[TensorEntry], grad: bool) -> list[tuple[int, float, float, int] | None]:
        # Three reductions per tensor in its own precision (float32 at least), then one transfer per device.
        numels: list[int | None] = []
        parts: dict[torch.device, list[torch.Tensor]] = {}
        where: list[tuple[torch.device, int]] = []
        for entry in entries:
            try:
                tensor = _readable(entry, grad, guard=False).detach()
            except Unavailable:
                numels.append(None)
                continue
            if not tensor.dtype.is_floating_point or tensor.numel() == 0:
                numels.append(None)
                continue
            acc = torch.float64 if tensor.dtype == torch.float64 else torch.float32
            flat = tensor.reshape(-1)
            numels.append(tensor.numel())
            on = parts.setdefault(tensor.device, [])
            where.append((tensor.device, len(on)))
            on += [flat.sum(dtype=acc), torch.linalg.vector_norm(flat, dtype=acc), torch.count_nonzero(flat)]
        sums = {device: torch.stack([p.to(torch.float64) for p in on]).tolist() for device, on in parts.items()}
        places = iter(where)
        out: list[tuple[int, float, float, int] | None] = []
        for n in numels:
            if n is None:
                out.append(None)
                continue
            device, k = next(places)
            total, norm, nonzero = sums[device][k : k + 3]
            out.append((n, total, norm, int(nonzero)))
        return out

    def watch_copy(self, entry: TensorEntry) -> torch.Tensor:
        return _readable(entry, False).detach().clone()

    def host_copy(self, entry: TensorEntry) -> Any:
        """A numpy copy of the values on the host (bfloat16/float8 as float32, which numpy can hold exactly); of a
        DTensor, this rank's local shard (`change_totals` adds the shards' changes up)."""
        tensor = _readable(entry, False).detach()
        sharded = _dist(tensor)
        if sharded:
            tensor = sharded.readable(tensor)
        host = tensor.to("cpu", copy=True)
        if host.is_floating_point() and host.dtype not in (torch.float16, torch.float32, torch.float64):
            host = host.float()
        return host.numpy()

    def change_totals(self, entry: TensorEntry, parts: tuple[float, float, float, int, int]
                      ) -> tuple[float, float, float, int, int]:
        """(‖Δ‖², ‖w‖², max|Δ|, changed, numel) of this rank's shard merged with the other shards' of a DTensor
        (collectives over its mesh: every rank compares the same snapshot, as it makes the same statistics
        calls); a plain tensor's as they are. Only five numbers travel, never a shard."""
        sharded = _dist(entry.obj)
        if not sharded:
            return parts
        import torch.distributed as dist

        delta2, norm2, top, changed, numel = parts
        collective = sharded.Collective(entry.obj)
        sums = collective.sum(torch.tensor([delta2, norm2, changed, numel], dtype=torch.float64,
                                           device=collective.device))
        tops = torch.tensor([top], dtype=torch.float64, device=collective.device)
        for dim in collective.dims:
            dist.all_reduce(tops, op=dist.ReduceOp.MAX, group=collective.mesh.get_group(dim))
        d2, n2, count, size = sums.tolist()
        return d2, n2, float(tops.item()), int(count), int(size)

    def watch_delta_norm(self, entry: TensorEntry, saved: torch.Tensor) -> float:
        now = _readable(entry, False).detach()
        if now.shape != saved.shape or now.dtype != saved.dtype or now.device != saved.device:
            raise Unavailable("the parameter changed shape, dtype or device since the saved step")
        acc = torch.float64 if now.dtype == torch.float64 else torch.float32
        return float(torch.linalg.vector_norm(now - saved, dtype=acc))

    def is_initializer(self, obj: Any) -> bool:
        """A function (or callable object) of one module or one tensor: `fn(m)` as `net.apply` calls it, or
        `fn(t)` as torch.nn.init's. Builtins (exit, open), classes, models and other frameworks' objects never."""
        if isinstance(obj, (type, nn.Module, torch.Tensor)) or inspect.isbuiltin(obj) or inspect.ismodule(obj):
            return False
        if not callable(obj) or foreign(obj, self.framework):
            return False
        try:
            params = list(inspect.signature(obj).parameters.values())
        except (TypeError, ValueError):
            return False
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        required = [p for p in params if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        # Exactly one required argument, and not Keras' `shape`: fn(shape, dtype) is a Keras initializer.
        return len(required) == 1 and bool(positional) and positional[0] is required[0] and required[0].name != "shape"


# -- helpers ------------------------------------------------------------------------------------------------------

_CATALOGUE: dict[str, Callable[..., Any]] = {
    "zeros": lambda t: nn.init.zeros_(t),
    "ones": lambda t: nn.init.ones_(t),
    "constant": lambda t, value: nn.init.constant_(t, value),
    "normal": lambda t, mean, std: nn.init.normal_(t, mean, std),
    "uniform": lambda t, low, high: nn.init.uniform_(t, low, high),
    "xavier_uniform": lambda t, gain: nn.init.xavier_uniform_(t, gain),
    "xavier_normal": lambda t, gain: nn.init.xavier_normal_(t, gain),
    "kaiming_uniform": lambda t, a: nn.init.kaiming_uniform_(t, a=a),
    "kaiming_normal": lambda t, a: nn.init.kaiming_normal_(t, a=a),
    "orthogonal": lambda t, gain: nn.init.orthogonal_(t, gain),
}


def _catalogue_refusal(entry: TensorEntry, name: str) -> str | None:
    tensor: torch.Tensor = entry.obj
    if name in NEEDS_MATRIX and tensor.dim() < 2:
        return (f"{name} needs a tensor with at least 2 dimensions (fan-in and fan-out); "
                f"it has shape {tuple(tensor.shape)}")
    if name not in ("zeros", "ones", "constant") and not tensor.dtype.is_floating_point:
        return f"{name} draws real numbers and {entry.path} is {_dtype(tensor)}; use zeros, ones, constant or set_value"
    return None


def _custom_form(fn: Any, is_block: bool) -> str:
    """"module" for fn(module) initializers (net.apply style), "tensor" for fn(tensor) ones."""
    if (getattr(fn, "__module__", "") or "").startswith("torch.nn.init"):
        return "tensor"
    try:
        params = [p for p in inspect.signature(fn).parameters.values() if p.kind != p.KEYWORD_ONLY]
    except (TypeError, ValueError):
        params = []
    if params:
        first = params[0]
        note = first.annotation if isinstance(first.annotation, str) else getattr(first.annotation, "__name__", "")
        if "Module" in note:
            return "module"
        if "Tensor" in note or "Parameter" in note:
            return "tensor"
        if first.name in _MODULE_ARG_NAMES:
            return "module"
        if first.name in _TENSOR_ARG_NAMES:
            return "tensor"
    return "module" if is_block else "tensor"


def _dist(tensor: Any) -> Any:
    """The DTensor support module when `tensor` is a DTensor, else None (it loads only once the user's code has
    loaded torch.distributed.tensor)."""
    if "torch.distributed.tensor" not in sys.modules:
        return None
    from . import torch_dist

    return torch_dist if torch_dist.is_sharded(tensor) else None


def _refuse_sharded_tie(*entries: TensorEntry) -> None:
    for entry in entries:
        sharded = _dist(entry.obj)
        why = sharded.tie_refusal(entry) if sharded else None
        if why:
            raise ActionError(why)


def _unmaterialized(tensor: torch.Tensor) -> bool:
    return isinstance(tensor, UninitializedTensorMixin) or tensor.is_meta


def _not_writable(entry: TensorEntry) -> str | None:
    if isinstance(entry.obj, UninitializedTensorMixin):
        return "it is lazy (shape unknown until the first forward pass): run net(X) once first"
    if entry.obj.is_meta:
        return ("it is on the meta device and has no values: allocate it with net.to_empty(device='cpu') "
                "and then reinitialize")
    return None


class _GradHooks:
    """Post-accumulate-grad hooks of a watch. Autograd's C++ side holds a tensor hook where the collector cannot
    see it, so each hook reaches this object (and through it the watch and the model) only weakly."""

    def __init__(self, on_grads: Callable[[list[TensorEntry]], None]) -> None:
        self.on_grads = on_grads
        self.entries: dict[int, TensorEntry] = {}
        self.handles: list[Any] = []
        self.ready: list[TensorEntry] = []  # params whose gradient of this backward is final

    def fired(self, entry: TensorEntry) -> None:
        # One call for the whole backward once every hooked param has its gradient (one batch of reductions).
        self.ready.append(entry)
        if len(self.ready) == len(self.entries):
            self.flush()

    def flush(self) -> None:
        """Hand over the params that got their gradient (also when some did not: unused in that step)."""
        ready, self.ready = self.ready, []
        if ready:
            self.on_grads(ready)

    def hook(self, index: ModelIndex) -> None:
        self.unhook()
        me = weakref.ref(self)
        for entry in index.unique_params(""):
            param = entry.obj
            if param.requires_grad and not _unmaterialized(param):
                self.entries[id(param)] = entry
                # Fires once per backward, after the gradients of every use of a tied param are summed.
                self.handles.append(param.register_post_accumulate_grad_hook(functools.partial(_grad_ready, me)))

    def unhook(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()
        self.entries.clear()
        self.ready.clear()


def _grad_ready(hooks: Callable[[], _GradHooks | None], param: torch.Tensor) -> None:
    found = hooks()
    entry = None if found is None else found.entries.get(id(param))
    if found is not None and entry is not None:
        found.fired(entry)


def _no_training_thread(what: str) -> None:
    busy = threads.training("pytorch")
    if busy:
        raise ActionError(f"cannot save {what} for undo while {threads.describe(busy)} trains (PyTorch does not "
                          "allow reading .grad during another thread's backward pass): stop the thread and retry")


def _readable(entry: TensorEntry, grad: bool, guard: bool = True) -> torch.Tensor:
    """The tensor or its gradient; `guard=False` inside autograd hooks, which run in the training thread."""
    why = _not_writable(entry)
    if why:
        raise Unavailable(f"no values: {why}")
    if not grad:
        return entry.obj
    if entry.kind != "param":
        raise Unavailable(f"{entry.path} is a buffer; buffers have no gradient")
    busy = threads.training("pytorch") if guard else []
    if busy:
        raise Unavailable(f"not read while {threads.describe(busy)} trains: PyTorch does not allow reading .grad "
                          "during another thread's backward pass; it shows when the thread stops, and ps.watch "
                          "records gradients inside each step")
    if entry.obj.grad is None:
        if not entry.obj.requires_grad:
            raise Unavailable(f"{entry.path} is frozen (requires_grad=False), so no gradient is computed")
        raise Unavailable("no gradient yet: run loss.backward() first")
    grad_tensor: torch.Tensor = entry.obj.grad
    return grad_tensor


def _fingerprint(tensor: torch.Tensor) -> str:
    """id, version counter, storage address, shape, dtype, device and a digest of a strided sample."""
    head = f"{id(tensor):x}:{tensor.__class__.__name__}:{_dtype(tensor)}:{_device(tensor)}"
    if isinstance(tensor, UninitializedTensorMixin):
        return head + ":lazy"
    head += f":{tuple(tensor.shape)}:{tensor._version}"
    if tensor.is_meta:
        return head + ":meta"
    sharded = _dist(tensor)
    flat = (sharded.local(tensor) if sharded else tensor).detach()  # a DTensor: this rank's shard, no collective
    head += f":{flat._version}:{flat.data_ptr():x}"
    if flat.numel() == 0:
        return head
    flat = flat.view(-1) if flat.is_contiguous() else flat.reshape(-1)
    step = max(1, flat.numel() // SAMPLE_POINTS)
    sample = torch.cat([flat[::step][:SAMPLE_POINTS], flat[-1:]]).cpu()
    return head + ":" + sample_digest(sample.view(torch.uint8).numpy().tobytes())


def _as_float64(x: torch.Tensor, copy: bool = False) -> torch.Tensor:
    if x.is_complex():
        x = x.abs()
    return x.to(torch.float64, copy=copy)


_NAMES: dict[Any, str] = {}  # dtype / device -> its name; str() of them is slow next to the rest of a walk


def _dtype(tensor: torch.Tensor) -> str:
    dtype = tensor.dtype
    if dtype not in _NAMES:
        _NAMES[dtype] = str(dtype).replace("torch.", "")
    return _NAMES[dtype]


def _device(tensor: torch.Tensor) -> str:
    device = tensor.device
    if device not in _NAMES:
        _NAMES[device] = str(device)
    return _NAMES[device]


def _meta(tensor: torch.Tensor, module: nn.Module, name: str, kind: str, grads: bool = True) -> TensorMeta:
    is_param = kind == "param"
    if isinstance(tensor, UninitializedTensorMixin):
        return TensorMeta(
            shape=_lazy_shape(module, name), dtype=_dtype(tensor), device=_device(tensor),
            trainable=is_param and tensor.requires_grad, state="lazy", numel=0, nbytes=0, has_grad=False,
        )
    numel = tensor.numel()
    device = _device(tensor)
    sharded = _dist(tensor)
    return TensorMeta(
        shape=list(tensor.shape),
        dtype=_dtype(tensor),
        device=device,
        trainable=is_param and tensor.requires_grad,
        state="meta" if device == "meta" else "ready",
        numel=numel,
        nbytes=numel * tensor.element_size(),
        has_grad=is_param and (tensor.grad is not None if grads else tensor.requires_grad),
        sharding=sharded.sharding(tensor) if sharded else None,
    )


def _lazy_shape(module: nn.Module, name: str) -> list[int | None] | None:
    """The known part of a lazy parameter's shape (LazyLinear knows out_features, LazyConv out_channels)."""
    out = getattr(module, "out_features", None) or getattr(module, "out_channels", None)
    if not out:
        return None
    if name == "bias":
        return [out]
    if name == "weight":
        kernel = list(getattr(module, "kernel_size", ()))
        groups = getattr(module, "groups", 1)
        transposed = getattr(module, "transposed", False)
        if transposed:
            return [None, out // groups, *kernel]
        return [out, None, *kernel]
    return None


def _child_code(parent: str, module: nn.Module, name: str, position: int) -> str:
    """Code for child `name` (at `position` among the module's children; -1 for a parameter or buffer)."""
    style = _code_style(type(module))
    if style == "position" and position >= 0:
        return f"{parent}[{position}]"  # Sequential indexes by position, whatever the child's name
    if style == "index" and name.isdigit():
        return f"{parent}[{name}]"
    if style == "key":
        return f"{parent}[{name!r}]"
    return attr_code(parent, name)


_STYLES: dict[type, str] = {}


def _code_style(kind: type) -> str:
    if kind not in _STYLES:
        _STYLES[kind] = (
            "position" if issubclass(kind, nn.Sequential)
            else "index" if issubclass(kind, (nn.ModuleList, nn.ParameterList))
            else "key" if issubclass(kind, (nn.ModuleDict, nn.ParameterDict))
            else "attr"
        )
    return _STYLES[kind]


@contextlib.contextmanager
def _seeded(seed: int | None, tensors: list[torch.Tensor]) -> Iterator[None]:
    if seed is None:
        yield
        return
    devices = sorted({t.device.index or 0 for t in tensors if t.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


ADAPTER = TorchAdapter()
