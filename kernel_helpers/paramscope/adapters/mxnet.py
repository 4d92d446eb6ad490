"""MXNet Gluon adapter: blocks and parameters of `mxnet.gluon.Block` models (MXNet 1.9, nd and np arrays).

Quirks written down here so that nobody has to find them again:
- Two names per parameter. Paths are the structural names `save_parameters` uses
  (`_collect_params_with_prefix`: `"0.weight"`, `"1.0.bias"`, one per use); the parameter's own name
  (`"dense0_weight"`, its `collect_params()` key, from global counters) is accepted everywhere as well
  (`ModelIndex.alt_names`). Blocks are `_children` keys joined by "." (`"0"`, `"1.0"`), as in those names.
- Deferred initialization: after `initialize()` a parameter whose input size is unknown has 0 (or -1 under
  `npx.set_np()`) in its shape and `.data()` raises `DeferredInitializationError` until the first forward;
  state "deferred", unknown dims None. Parameters of known shape (Dense's bias) are initialized at once, so a
  deferred layer shows a "deferred" weight next to a "ready" bias. A block never `initialize()`d has
  parameters with no values at all: state "unbuilt". Neither state is ever read.
- Parameters with `differentiable=False` (BatchNorm's running mean and variance) are running statistics, not
  learned: kind "buffer", like PyTorch's buffers. A `gluon.Constant` (FancyMLP's `rand_weight`) is a
  parameter with `grad_req='null'`: kind "param", not trainable.
- Gradient buffers exist (as zeros) from `initialize()` on, so "no gradient yet" is told by MXNet's own
  flag: `data._fresh_grad` is set by `backward()` (and cleared by `Trainer.step`). A buffer that is not fresh
  and all zeros has never been written: stats say how to get one; a stale non-zero one (after
  `Trainer.step`) is shown.
- Tying after construction. Gluon shares with `params=other.params` at construction only (`__setattr__`
  refuses to rebind a Parameter attribute). Forward reads a block's parameters from `_reg_params`
  (HybridBlock) or from its attributes (plain Block), and a hybridized block from a cached graph built over
  `collect_params()`, which comes from each block's `ParameterDict` keyed by the parameter's name. So
  tie/untie rebind all three (`_reg_params`, the attribute, the `ParameterDict` entry) and clear the cached
  graphs of every hybridized block of the model (as `hybridize()` does); they re-trace on the next forward.
  Gradients of a tied parameter then add up, as with `params=`. A `Trainer` made before tying still holds
  the old parameters: make it after tying.
- Initializers. Catalogue names apply to every parameter under the path, as `param.initialize(init=...,
  force_reinit=True)` does per parameter (the explicit `init` wins over `param.init`). `default` and custom
  `mx.init.Initializer` objects on a block follow `block.initialize(init, force_reinit=True)`: a
  parameter's own `init` (Dense's `bias_initializer='zeros'`, a Constant's value) wins, else the given one;
  on one parameter the given one is used. `default` is `param.init`, else Gluon's default
  `mx.init.Uniform()`: Gluon forgets the initializer passed to `initialize(init=...)` once a parameter is
  initialized (`_deferred_init` is reset to ()). Values are drawn on CPU arrays, as Gluon's `initialize`
  does, and written with `set_data`, so the arrays (and their autograd marks) stay the same objects and a
  Trainer's kvstore copy is refreshed.
- MXNet cannot save and restore its global generator, so `seed=` draws in a forked child (`mxnet_seeded`).
- Stats read the copy on a parameter's first context; copies on several contexts are written together.
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

from . import mxnet_compat  # noqa: F401 - puts numpy.bool back before mxnet is imported

# isort: split
import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from mxnet.gluon import nn

from .._errors import ActionError
from ..initializers import NEEDS_MATRIX
from ..snapshots import Cell, Record
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
    mxnet_undo,
    numpy_stats,
    regroup_sums,
    sample_digest,
)
from .mxnet_seeded import draw_seeded

_Array = Any  # mx.nd.NDArray or mx.np.ndarray
# Elements per stats chunk on an accelerator: a quarter of the core's, because MXNet keeps up to five float64
# temporaries of a chunk alive at once (2 MB each) and its memory pool holds on to them afterwards. CPU chunks are
# copied to numpy once and reduced there (numpy_stats), CHUNK_ELEMS at a time.
_CHUNK = CHUNK_ELEMS // 4


class MXNetAdapter:
    framework = "mxnet"

    def is_model(self, obj: Any) -> bool:
        if not isinstance(obj, gluon.Block):
            return False
        # Iterative: _collect_params_with_prefix() recurses and fails on very deep nesting.
        return any(block._reg_params for block in _subtree(obj))

    def index(self, model: gluon.Block, root: str = "net") -> ModelIndex:
        blocks: dict[str, BlockEntry] = {}
        tensors: dict[str, TensorEntry] = {}
        alt_names: dict[str, str] = {}
        stack = [BlockEntry("", root, root, model, type(model).__name__)]
        while stack:  # depth-first pre-order, the order of _collect_params_with_prefix
            entry = stack.pop()
            blocks[entry.path] = entry
            block: gluon.Block = entry.obj
            prefix = entry.path + "." if entry.path else ""
            for name, param in block._reg_params.items():
                path = prefix + name
                tensors[path] = TensorEntry(
                    path=path,
                    name=name,
                    kind="param" if param._differentiable else "buffer",
                    owner=entry.path,
                    code=_param_code(entry.code, block, name, param),
                    obj=param,
                    type=type(param).__name__,
                    meta=_meta(param),
                    alt_name=param.name,
                )
                alt_names.setdefault(param.name, path)
                entry.children.append(path)
            children = []
            for position, (name, child) in enumerate(block._children.items()):
                path = prefix + name
                children.append(BlockEntry(path, name, _child_code(entry.code, block, name, position), child,
                                           type(child).__name__))
                entry.children.append(path)
            stack.extend(reversed(children))
        return ModelIndex("mxnet", blocks, tensors, alt_names)

    # -- snapshots -------------------------------------------------------------------------------------------

    def snapshot(self, index: ModelIndex, paths: list[str], grads: bool = False) -> Record:
        # Gradients are not saved: MXNet's initializers and set_data never write them.
        cells: list[Cell] = []
        values: dict[int, mxnet_undo.Values] = {}
        for path in paths:
            if path in index.blocks:
                if path:
                    parent: gluon.Block = index.blocks[path.rpartition(".")[0]].obj
                    block = index.blocks[path]
                    cells.append(mxnet_undo.ChildSlot(parent, block.name, block.obj, path))
                continue
            entry = index.tensors[path]
            param: gluon.Parameter = entry.obj
            cells.append(mxnet_undo.ParamSlot(index.blocks[entry.owner].obj, entry.name, param, path))
            if param._data is None:
                continue
            if id(param) in values:
                values[id(param)].paths.append(path)
            else:
                values[id(param)] = mxnet_undo.Values(param, [path])
        return Record(self, index.blocks[""].obj, cells + list(values.values()))

    def rebound(self, model: gluon.Block) -> None:
        """Hybridized blocks traced a graph over the parameters they had: re-trace on the next forward."""
        _clear_cached_graphs(_subtree(model))

    def structure_key(self, model: gluon.Block) -> tuple[Any, ...]:
        """Changes when a block or parameter is added, removed or replaced, or a parameter is initialized (deferred
        shapes become known), reshaped, cast or moved: the listing's cache key, read without an index."""
        blocks = _subtree(model)
        params = [p for block in blocks for p in block._reg_params.values()]
        state = tuple((p.shape, p.dtype, p._data is None, tuple(p._ctx_list or ())) for p in params)
        return tuple(map(id, blocks)), tuple(map(id, params)), state

    # -- reading values --------------------------------------------------------------------------------------

    def fingerprint(self, entry: TensorEntry, grad: bool = False) -> str:
        param: gluon.Parameter = entry.obj
        head = f"{id(param):x}:{type(param).__name__}:{_dtype_text(param)}:{param.shape}:{_state(param)}"
        arrays = (param._grad if grad else param._data) if param._data is not None else None
        if not arrays:
            return head + ":none"
        return head + ":" + ":".join(_array_fingerprint(arr) for arr in arrays)

    def chunks(self, entry: TensorEntry, grad: bool) -> Iterator[_Array]:
        flat = _reshaped(_legacy(_readable(entry, grad)), (-1,))
        size = CHUNK_ELEMS if _on_cpu(flat) else _CHUNK
        for start in range(0, int(flat.size), size):
            yield flat[start : start + size]

    def chunk_moments(self, chunk: _Array) -> Moments:
        if _on_cpu(chunk):  # MXNet's CPU reductions are ~50x slower than numpy's on one copy of the chunk
            return numpy_stats.moments(chunk.asnumpy())
        x = chunk.astype("float64")
        n = int(x.size)
        total = x.sum()
        # The usual case: no NaN or Inf, so no masking. A float64 sum of finite float32/16 values is finite, so a
        # finite sum proves there are none (a float64 tensor that overflows takes the exact path below).
        if math.isfinite(float(total.asscalar())):
            mean = total / n
            dev = mx.nd.broadcast_sub(x, mean)
            parts = [mean, mx.nd.square(dev).sum(), x.min(), x.max(), (x == 0).sum()]
            mu, m2, lo, hi, zeros = mx.nd.concat(*parts, dim=0).asnumpy().tolist()  # one transfer
            return Moments(n, mu, m2, lo, hi, int(zeros))
        finite = mx.nd.contrib.isfinite(x)
        safe = mx.nd.where(finite, x, finite)  # non-finite values -> 0 (`finite` is 0 there)
        count = finite.sum()
        mean = safe.sum() / mx.nd.maximum(count, 1)
        dev = mx.nd.where(finite, mx.nd.broadcast_sub(safe, mean), finite)
        fill = (1 - finite) * float("inf")  # +inf where non-finite (NaN elsewhere, never picked)
        parts = [count, mean, mx.nd.square(dev).sum(), mx.nd.where(finite, x, fill).min(),
                 mx.nd.where(finite, x, -fill).max(), (x == 0).sum(), mx.nd.contrib.isnan(x).sum(),
                 mx.nd.contrib.isinf(x).sum()]
        c, mu, m2, lo, hi, zeros, nan, inf = mx.nd.concat(*parts, dim=0).asnumpy().tolist()  # one transfer
        return Moments(int(c), mu if c else 0.0, m2, lo, hi, int(zeros), int(nan), int(inf))

    def chunk_hist(self, chunk: _Array, lo: float, hi: float, bins: int, finite: bool = False) -> list[int]:
        if _on_cpu(chunk):
            return numpy_stats.hist(chunk.asnumpy(), lo, hi, bins, finite)
        # histogram ignores values outside [lo, hi], NaN and +-Inf included; hi falls in the last bin.
        counts, _ = mx.nd.histogram(chunk.astype("float64"), bins=bins, range=(lo, hi))
        return [int(c) for c in counts.asnumpy().tolist()]

    def sample_2d(self, entry: TensorEntry, grad: bool, rows: int, cols: int, rstep: int,
                  cstep: int) -> list[list[float]]:
        arr = _legacy(_readable(entry, grad))
        view = _reshaped(arr, tuple(matrix_shape(list(arr.shape))))
        result: list[list[float]] = view[::rstep, ::cstep].astype("float64").asnumpy().tolist()
        return result

    # -- actions ---------------------------------------------------------------------------------------------

    def reinit(self, index: ModelIndex, target: str, entries: list[TensorEntry], init: InitSpec,
               seed: int | None) -> ReinitResult:
        result = ReinitResult()
        on_block = target in index.blocks
        if init.name == "default" and init.custom is None and on_block:
            # block.initialize(force_reinit=True) resets running statistics too (Parameters in Gluon), drawing
            # in collect_params() order, where they sit among the parameters.
            entries = _with_buffers(index, target, entries)
        custom = _initializer_object(init.custom) if init.custom is not None else None
        plan: list[tuple[TensorEntry, Any, Any]] = []  # (entry, global initializer, initializer for it)
        for entry in entries:
            param: gluon.Parameter = entry.obj
            why = _not_writable(entry)
            if why is None and custom is None and init.name != "default":
                why = _catalogue_refusal(entry, init.name)
            if why:
                result.skipped.append({"path": entry.path, "reason": why})
                continue
            if custom is not None:
                plan.append((entry, custom, param.init if on_block and param.init is not None else custom))
            elif init.name == "default":
                fallback = mx.init.Uniform()
                plan.append((entry, fallback, param.init if param.init is not None else fallback))
            else:
                catalogue = _catalogue(init.name, init.args)
                plan.append((entry, catalogue, catalogue))
        if not plan:
            return result
        layout = [(e.obj.name, tuple(e.obj.shape), _dtype(e.obj), g, i) for e, g, i in plan]
        if seed is None:
            drawn = _draw(layout)
        else:
            drawn = [_from_numpy(v) for v in draw_seeded(seed, lambda: [a.asnumpy() for a in _draw(layout)])]
        for (entry, _, _), value in zip(plan, drawn, strict=True):
            param = entry.obj
            param.set_data(_like(value, param.list_data()[0]))
            result.changed.append(entry.path)
        return result

    def set_value(self, entry: TensorEntry, value: Any, where: tuple[Any, ...] | None, mode: str) -> None:
        why = _not_writable(entry)
        if why:
            raise ActionError(f"cannot set {entry.path}: {why}")
        param: gluon.Parameter = entry.obj
        current = param.list_data()[0]
        shape = tuple(current.shape)
        label = entry.path + (format_index(where) if where is not None else "")
        try:
            # Check the index with NumPy's rules on a zero-size view: the rules NDArray indexing follows.
            selected = np.broadcast_to(np.zeros((), dtype=bool), shape)[where if where is not None else ...]
        except (IndexError, TypeError, ValueError) as e:
            raise ActionError(f"index {format_index(where or ())} does not fit {entry.path} of shape "
                              f"{shape}: {e}") from e
        full = current.asnumpy()
        old = full[where] if where is not None else full
        if callable(value):
            # The function gets an NDArray of the old values (a number for one element: NDArrays have no 0-d).
            old_arg = old.item() if old.ndim == 0 else _from_numpy(np.array(old, copy=True), current.context)
            new = value(old_arg)
            if not isinstance(new, (mx.nd.NDArray, np.ndarray, int, float, bool, np.number)):
                raise ActionError(f"the function given for {label} returned a {type(new).__name__}; "
                                  "return an NDArray or a number")
        else:
            new = value
        new_np = _as_numbers(new, label)
        if mode == "add":
            new_np = old + new_np
        elif mode == "mul":
            new_np = old * new_np
        try:
            fits = np.broadcast_shapes(new_np.shape, selected.shape) == selected.shape
        except ValueError:
            fits = False
        if not fits:
            raise ActionError(f"value of shape {tuple(new_np.shape)} does not fit {label} of shape "
                              f"{tuple(selected.shape)}")
        if full.dtype.kind not in "fc" and new_np.dtype.kind in "fc" and not np.isfinite(new_np).all():
            raise ActionError(f"{label} is {full.dtype.name}; NaN and Inf do not fit")
        if where is None:
            full = np.broadcast_to(new_np, shape).astype(full.dtype)
        else:
            full[where] = new_np.astype(full.dtype)
        param.set_data(_like(_from_numpy(np.ascontiguousarray(full)), current))

    def tie(self, index: ModelIndex, entry: TensorEntry, to: TensorEntry) -> None:
        block: gluon.Block = index.blocks[entry.owner].obj
        _rebind(block, entry.name, entry.obj, to.obj)
        _clear_cached_graphs([b.obj for b in index.blocks.values()])

    def untie(self, index: ModelIndex, entry: TensorEntry) -> None:
        old: gluon.Parameter = entry.obj
        why = _not_writable(entry)
        if why:
            raise ActionError(f"cannot untie {entry.path}: {why}")
        block: gluon.Block = index.blocks[entry.owner].obj
        taken = {e.obj.name for e in index.tensors.values()}
        _rebind(block, entry.name, old, _fresh_copy(old, _free_name(block.prefix + entry.name, taken)))
        _clear_cached_graphs([b.obj for b in index.blocks.values()])

    def untie_block(self, index: ModelIndex, path: str) -> None:
        entry = index.blocks[path]
        parent: gluon.Block = index.blocks[path.rpartition(".")[0]].obj
        inner = _subtree(entry.obj)
        _clear_cached_graphs(inner)  # a CachedOp cannot be copied; the original re-traces on its next forward
        taken = {e.obj.name for e in index.tensors.values()}
        # deepcopy with every parameter already mapped in `memo`: the copy gets fresh parameters with their
        # own names, values and gradient buffers. Blocks outside the subtree (a name scope's stale
        # `_old_scope` can point at one) are kept as they are; ParameterDicts shared from outside are dropped.
        memo: dict[int, Any] = {}
        for other in index.blocks.values():
            if not any(other.obj is block for block in inner):
                memo[id(other.obj)] = other.obj
                memo[id(other.obj._scope)] = other.obj._scope
        for block in inner:
            if block._params._shared is not None:
                memo[id(block._params._shared)] = None
            for param in [*block._reg_params.values(), *block._params.values()]:
                if id(param) not in memo:
                    if param._data is None:
                        raise ActionError(f"{path} has parameters without values ({_state(param)}): run a "
                                          "forward pass first")
                    memo[id(param)] = _fresh_copy(param, _free_name(param.name, taken))
                    taken.add(memo[id(param)].name)
        copied = copy.deepcopy(entry.obj, memo)
        for block in _subtree(copied):
            table = block._params._params
            items = [(param.name, param) for param in table.values()]
            table.clear()
            table.update(items)
        _bind_child(parent, entry.name, copied, parent.__dict__.get(entry.name) is entry.obj)
        _clear_cached_graphs([b.obj for b in index.blocks.values()])

    def hook_steps(self, model: gluon.Block, index: ModelIndex, on_forward: Callable[[], ModelIndex | None],
                   on_grads: Callable[[list[TensorEntry]], None], recorded: Callable[[], bool]) -> Callable[[], None]:
        # Gluon has no gradient hooks: the previous step's gradients are read as the next forward starts,
        # before its backward overwrites them. Trainer.step clears MXNet's fresh-gradient flag, so a step
        # whose forward ran inside autograd.record() counts as having had its backward too.
        trainable = [e for e in index.unique_params("") if e.meta.trainable]
        in_record = [False]

        def pre_hook(_block: gluon.Block, _args: Any) -> None:
            recording = autograd.is_recording()
            with autograd.pause():  # reading values must not add to the graph being recorded
                ready = [e for e in trainable if e.obj._data is not None and e.obj._grad is not None
                         and (in_record[0] or e.obj.list_data()[0]._fresh_grad)]
                if ready:
                    on_grads(ready)
                in_record[0] = recording
                changed = on_forward()
                if changed is not None:  # a tie, untie or replaced block: read the params the model uses now
                    trainable[:] = [e for e in changed.unique_params("") if e.meta.trainable]

        handle = model.register_forward_pre_hook(pre_hook)
        return handle.detach

    def watch_sums(self, entries: list[TensorEntry], grad: bool) -> list[tuple[int, float, float, int] | None]:
        # Three reductions per array and one transfer for all of them.
        numels: list[int | None] = []
        parts: list[_Array] = []
        for entry in entries:
            try:
                flat = _reshaped(_legacy(_readable(entry, grad)), (-1,))
            except Unavailable:
                numels.append(None)
                continue
            if flat.size == 0 or not np.issubdtype(flat.dtype, np.floating):
                numels.append(None)
                continue
            x = flat if flat.dtype == np.float64 else flat.astype("float32")
            numels.append(int(flat.size))
            parts += [x.sum().astype("float64"), mx.nd.norm(x).astype("float64"),
                      (x != 0).sum().astype("float64")]
        on_cpu = [p.reshape(1).as_in_context(mx.cpu()) for p in parts]
        sums = mx.nd.concat(*on_cpu, dim=0).asnumpy().tolist() if parts else []
        return regroup_sums(numels, sums)

    def watch_copy(self, entry: TensorEntry) -> _Array:
        return _legacy(_readable(entry, False)).copy()

    def host_copy(self, entry: TensorEntry) -> np.ndarray:
        """A numpy copy of the values on the host."""
        return _legacy(_readable(entry, False)).asnumpy()

    def watch_delta_norm(self, entry: TensorEntry, saved: _Array) -> float:
        now = _legacy(_readable(entry, False))
        if now.shape != saved.shape or now.dtype != saved.dtype or now.context != saved.context:
            raise Unavailable("the parameter changed shape, dtype or device since the saved step")
        return float(mx.nd.norm((now - saved).astype("float64")).asscalar())

    def is_initializer(self, obj: Any) -> bool:
        if isinstance(obj, mx.init.Initializer):
            return True
        base = mx.init.Initializer
        return isinstance(obj, type) and issubclass(obj, base) and obj is not base


# -- helpers -------------------------------------------------------------------------------------------------

class _Shifted(mx.init.Initializer):
    """`base`, then `+ shift`: mx.init.Normal and Uniform are centred on 0, the catalogue's are not."""

    def __init__(self, base: mx.init.Initializer, shift: float) -> None:
        super().__init__(base=base.dumps(), shift=shift)
        self.base, self.shift = base, shift

    def _init_weight(self, name: Any, arr: _Array) -> None:
        self.base._init_weight(name, arr)
        if self.shift:
            arr += self.shift


def _catalogue(name: str, args: dict[str, float]) -> mx.init.Initializer:
    """The catalogue initializer as MXNet's own; fan_in/fan_out as MXNet's Xavier computes them (as torch)."""
    match name:
        case "zeros":
            return mx.init.Zero()
        case "ones":
            return mx.init.One()
        case "constant":
            return mx.init.Constant(args["value"])
        case "normal":
            return _Shifted(mx.init.Normal(args["std"]), args["mean"])
        case "uniform":
            half, centre = (args["high"] - args["low"]) / 2, (args["high"] + args["low"]) / 2
            return _Shifted(mx.init.Uniform(half), centre)
        case "xavier_uniform":  # bound gain * sqrt(6 / (fan_in + fan_out))
            return mx.init.Xavier("uniform", "avg", 3 * args["gain"] ** 2)
        case "xavier_normal":  # std gain * sqrt(2 / (fan_in + fan_out))
            return mx.init.Xavier("gaussian", "avg", args["gain"] ** 2)
        case "kaiming_uniform":  # bound sqrt(6 / ((1 + a^2) fan_in))
            return mx.init.Xavier("uniform", "in", 6 / (1 + args["a"] ** 2))
        case "kaiming_normal":  # std sqrt(2 / ((1 + a^2) fan_in))
            return mx.init.MSRAPrelu("in", args["a"])
        case "orthogonal":
            return mx.init.Orthogonal(scale=args["gain"], rand_type="normal")
    raise ActionError(f"unknown initializer {name!r}")


def _catalogue_refusal(entry: TensorEntry, name: str) -> str | None:
    shape = tuple(entry.obj.shape)
    if name in NEEDS_MATRIX and len(shape) < 2:
        return f"{name} needs a tensor with at least 2 dimensions (fan-in and fan-out); it has shape {shape}"
    dtype = _dtype(entry.obj)
    if name not in ("zeros", "ones", "constant") and np.dtype(dtype).kind != "f":
        return (f"{name} draws real numbers and {entry.path} is {dtype}; use zeros, ones, constant or "
                "set_value")
    return None


def _with_buffers(index: ModelIndex, target: str, params: list[TensorEntry]) -> list[TensorEntry]:
    """`params` and the running statistics under `target`, each once, in the model's own order."""
    wanted = {id(e.obj) for e in params}
    found: dict[int, TensorEntry] = {}
    for entry in index.subtree_tensors(target):
        if entry.kind == "buffer" or id(entry.obj) in wanted:
            found.setdefault(id(entry.obj), entry)
    return list(found.values())


def _initializer_object(custom: Any) -> mx.init.Initializer:
    if isinstance(custom, mx.init.Initializer):
        return custom
    try:
        made: mx.init.Initializer = custom()
    except TypeError as e:
        raise ActionError(f"{custom.__name__}() needs arguments ({e}): pass an instance, e.g. "
                          f"{custom.__name__}(...)") from e
    return made


def _draw(layout: list[tuple[str, tuple[int, ...], str, Any, Any]]) -> list[_Array]:
    """Fresh values for each (name, shape, dtype, global init, init), drawn as Gluon's initialize() draws
    them: on a CPU array of zeros, through the global initializer with the parameter's one in `__init__`."""
    out = []
    zeros = mx.np.zeros if mx.util.is_np_array() else mx.nd.zeros
    with autograd.pause():
        for name, shape, dtype, global_init, init in layout:
            arr = zeros(shape, dtype=dtype, ctx=mx.cpu())
            mx.init.create(global_init)(mx.init.InitDesc(name, {"__init__": init}), arr)
            out.append(arr)
    return out


def _as_numbers(value: Any, label: str) -> np.ndarray:
    if isinstance(value, mx.nd.NDArray):
        return value.asnumpy()
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise ActionError(f"cannot use {value!r} as a value for {label}: give a number or a (nested) list / "
                          "array of numbers") from e
    if arr.dtype.kind not in "biuf":
        raise ActionError(f"cannot use {value!r} as a value for {label}: give a number or a (nested) list / "
                          "array of numbers")
    return arr


def _from_numpy(value: np.ndarray, ctx: Any = None) -> _Array:
    make = mx.np.array if mx.util.is_np_array() else mx.nd.array
    return make(value, dtype=value.dtype, ctx=ctx or mx.cpu())


def _like(value: _Array, target: _Array) -> _Array:
    """`value` as the same array kind (nd or np) as `target`, which set_data writes into."""
    if isinstance(target, mx.np.ndarray) and not isinstance(value, mx.np.ndarray):
        return value.as_np_ndarray()
    if not isinstance(target, mx.np.ndarray) and isinstance(value, mx.np.ndarray):
        return value.as_nd_ndarray()
    return value


def _array_fingerprint(arr: _Array) -> str:
    """Handle address, context, dtype, shape and a digest of a strided sample of one array."""
    head = f"{arr.handle.value:x}:{arr.ctx}:{np.dtype(arr.dtype).name}:{tuple(arr.shape)}"
    size = int(arr.size)
    if size == 0:
        return head
    flat = _reshaped(_legacy(arr), (-1,))
    step = max(1, size // SAMPLE_POINTS)
    with autograd.pause():
        sample = np.concatenate([flat[::step][:SAMPLE_POINTS].asnumpy(), flat[size - 1 :].asnumpy()])
    return head + ":" + sample_digest(sample.tobytes())


def _reshaped(arr: mx.nd.NDArray, shape: tuple[int, ...]) -> mx.nd.NDArray:
    """`arr` in `shape`: a view, except for arrays of rank > 2. After a forward pass oneDNN keeps a convolution's
    weight in its own blocked layout, and reading a view (reshape, slice) of such an array fails with
    `Check failed: !is_view` (every Gluon model-zoo convolution), and the reshape operator cannot reorder a
    grouped (depthwise) one; a copy is in the default layout (one copy of that tensor)."""
    return arr.copy().reshape(shape) if arr.ndim > 2 else arr.reshape(shape)


def _on_cpu(arr: _Array) -> bool:
    return str(arr.context.device_type).startswith("cpu")


def _legacy(arr: _Array) -> mx.nd.NDArray:
    """A classic NDArray view of an mx.np array (same memory), so that mx.nd operators apply."""
    return arr.as_nd_ndarray() if isinstance(arr, mx.np.ndarray) else arr


def _state(param: gluon.Parameter) -> str:
    if param._data is not None:
        return "ready"
    return "deferred" if param._deferred_init else "unbuilt"


def _not_writable(entry: TensorEntry) -> str | None:
    param: gluon.Parameter = entry.obj
    state = _state(param)
    if state == "deferred":
        return "its initialization is deferred (shape unknown until the first forward pass): run net(X) first"
    if state == "unbuilt":
        return ("it has no values yet: call net.initialize() first (and run a forward pass if shapes are "
                "unknown)")
    if param._stype != "default":
        return f"it is a {param._stype} parameter; paramscope reads and writes dense parameters only"
    return None


def _readable(entry: TensorEntry, grad: bool) -> _Array:
    why = _not_writable(entry)
    if why:
        raise Unavailable(f"no values: {why}")
    param: gluon.Parameter = entry.obj
    data = param.list_data()[0]
    if not grad:
        return data
    if entry.kind == "buffer":
        raise Unavailable(f"{entry.path} is running statistics (differentiable=False); it has no gradient")
    if param.grad_req == "null" or param._grad is None:
        raise Unavailable(f"{entry.path} is frozen (grad_req='null'), so no gradient is computed")
    grad_arr = param.list_grad()[0]
    if not data._fresh_grad and not bool((_legacy(grad_arr) != 0).sum().asscalar()):
        raise Unavailable("no gradient yet: run the forward pass inside `with autograd.record():` and call "
                          "backward() on the loss")
    return grad_arr


def _dtype(param: gluon.Parameter) -> str:
    return np.dtype(param.dtype).name


def _dtype_text(param: gluon.Parameter) -> str:
    try:
        return _dtype(param)
    except TypeError:
        return str(param.dtype)


def _meta(param: gluon.Parameter) -> TensorMeta:
    state = _state(param)
    raw = param.shape
    shape = None if raw is None else [int(d) if d > 0 else None for d in raw]
    known = shape is not None and None not in shape
    numel = math.prod(d for d in shape if d is not None) if known and shape is not None else 0
    try:
        dtype: str | None = _dtype(param)
        itemsize = np.dtype(dtype).itemsize
    except TypeError:
        dtype, itemsize = str(param.dtype), 0
    contexts = [] if state == "unbuilt" else param.list_ctx()  # a deferred one knows its contexts already
    trainable = bool(param._differentiable) and param.grad_req != "null"
    has_grad = (state == "ready" and trainable and param._grad is not None
                and bool(param.list_data()[0]._fresh_grad))
    return TensorMeta(
        shape=shape,
        dtype=dtype,
        device=",".join(str(c) for c in contexts) or None,
        trainable=trainable,
        state=state,  # type: ignore[arg-type]
        numel=numel,
        nbytes=numel * itemsize,
        has_grad=has_grad,
    )


def _param_code(block_code: str, block: gluon.Block, name: str, param: gluon.Parameter) -> str:
    if block.__dict__.get(name) is param:
        return attr_code(block_code, name)
    if block.params._params.get(block.params.prefix + name) is param:
        return f"{block_code}.params.get({name!r})"
    return f"{block_code}._reg_params[{name!r}]"


def _child_code(parent_code: str, parent: gluon.Block, name: str, position: int) -> str:
    if isinstance(parent, (nn.Sequential, nn.HybridSequential)):
        return f"{parent_code}[{position}]"
    if parent.__dict__.get(name) is parent._children[name]:
        return attr_code(parent_code, name)
    return f"{parent_code}._children[{name!r}]"


def _fresh_copy(param: gluon.Parameter, name: str) -> gluon.Parameter:
    """A new parameter named `name` like `param` (same class, Constant too; grad_req, lr_mult, wd_mult, init,
    dtype, stype), with its own copy of the values on the same contexts and its own gradient buffers."""
    fresh = copy.copy(param)
    fresh.__dict__.update(_var=None, _trainer=None, _data=None, _grad=None, _deferred_init=(),
                          _ctx_list=None, _ctx_map=None)
    fresh.name = name
    fresh.initialize(init=mx.init.Zero(), ctx=param.list_ctx())
    for target, value in zip(fresh.list_data(), param.list_data(), strict=True):
        value.copyto(target)
    return fresh


def _subtree(block: gluon.Block) -> list[gluon.Block]:
    out, stack = [], [block]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(current._children.values())
    return out


def _bind_child(parent: gluon.Block, name: str, child: gluon.Block, as_attribute: bool) -> None:
    parent._children[name] = child
    if as_attribute:
        object.__setattr__(parent, name, child)


def _bind(block: gluon.Block, name: str, param: gluon.Parameter, as_attribute: bool) -> None:
    block._reg_params[name] = param
    if as_attribute:
        object.__setattr__(block, name, param)  # Block.__setattr__ refuses to rebind a Parameter attribute


def _rebind(block: gluon.Block, name: str, old: gluon.Parameter, new: gluon.Parameter) -> None:
    """Make the use `block.<name>` the parameter `new`: `_reg_params`, the attribute and the ParameterDict."""
    _bind(block, name, new, block.__dict__.get(name) is old)
    still_used = any(p is old for p in block._reg_params.values())
    table = block._params._params
    items: OrderedDict[str, gluon.Parameter] = OrderedDict()
    for key, value in table.items():
        if value is old and not still_used:
            items.setdefault(new.name, new)
        else:
            items.setdefault(key, value)
    items.setdefault(new.name, new)
    table.clear()
    table.update(items)


def _clear_cached_graphs(blocks: list[gluon.Block]) -> None:
    """Drop the traced graphs of hybridized blocks (as hybridize() does); they re-trace next forward."""
    for block in blocks:
        if isinstance(block, gluon.HybridBlock):
            block._clear_cached_op()


def _free_name(wanted: str, taken: set[str]) -> str:
    name, n = wanted, 1
    while name in taken:
        name, n = f"{wanted}_untied{n}", n + 1
    return name


ADAPTER = MXNetAdapter()
