"""Index and paths of a Keras model: layers and variables in Keras' own order, at Keras' own paths."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import keras
from keras.src.models.functional import Functional
from keras.src.ops.function import make_node_key

from ...tree import BlockEntry, ModelIndex, State, TensorEntry, TensorMeta
from .. import Unavailable, attr_code
from . import distribute, grads
from .backend import BACKEND


@dataclass
class Pending:
    """A variable that an unbuilt layer will create: name, known part of the shape, trainability."""

    layer: Any
    name: str
    shape: list[int | None]
    trainable: bool


def build_index(model: Any, root: str) -> ModelIndex:
    blocks: dict[str, BlockEntry] = {}
    slots: list[tuple[BlockEntry, Any, str, str, int]] = []  # (owner, var, slot name, structural path, j)
    seen_layers: dict[int, int] = {}
    root_entry = BlockEntry("", root, root, model, type(model).__name__, state=_layer_state(model))
    blocks[""] = root_entry
    prefix = "" if isinstance(model, Functional) else (model.path or model.name)
    seen_layers[id(model)] = 1
    _visit(root_entry, model, prefix, blocks, slots, seen_layers)
    tensors = _tensors(blocks, slots)
    # Blocks were visited depth first with their own variables before their children: named order.
    order = _preorder(blocks)
    ordered_blocks = {p: blocks[p] for p in order}
    ordered_tensors = {c: tensors[c] for p in order for c in blocks[p].children if c in tensors}
    grads.retrace_unrecorded(model)
    return ModelIndex(f"keras/{BACKEND.name}", ordered_blocks, ordered_tensors)


def _visit(start: BlockEntry, layer: Any, prefix: str, blocks: dict[str, BlockEntry],
           slots: list[tuple[BlockEntry, Any, str, str, int]], seen_layers: dict[int, int]) -> None:
    stack: list[tuple[BlockEntry, Any, str]] = [(start, layer, prefix)]
    while stack:
        block, owner, base = stack.pop()
        for j, (var, name) in enumerate(own_variables(owner)):
            structural = f"{base}/{name}" if base else name
            slots.append((block, var, name, structural, j))
        children = []
        for child, code in child_layers(owner, block.code):
            uses = seen_layers.get(id(child), 0) + 1
            seen_layers[id(child)] = uses
            structural = f"{base}/{child.name}" if base else child.name
            path = child.path if uses == 1 and child.path and child.path not in blocks else structural
            path = _free(path, blocks, uses)
            entry = BlockEntry(path, child.name, code, child, type(child).__name__,
                               state=_layer_state(child))
            blocks[path] = entry
            block.children.append(path)
            children.append((entry, child, path))
        stack.extend(reversed(children))


def _tensors(blocks: dict[str, BlockEntry],
             slots: list[tuple[BlockEntry, Any, str, str, int]]) -> dict[str, TensorEntry]:
    # A variable's own path goes to the use that sits where Keras says it is, else to its first use.
    home: dict[int, int] = {}
    for i, (_, var, _, structural, _) in enumerate(slots):
        if id(var) not in home or structural == getattr(var, "path", None) != slots[home[id(var)]][3]:
            home[id(var)] = i
    taken: set[str] = set(blocks)
    tensors: dict[str, TensorEntry] = {}
    own: dict[str, list[str]] = {}
    for i, (block, var, name, structural, j) in enumerate(slots):
        keras_path = getattr(var, "path", None)
        path = keras_path if home[id(var)] == i and keras_path and keras_path not in taken else structural
        path = _free(path, taken, 1)
        taken.add(path)
        tensors[path] = TensorEntry(
            path=path, name=name, kind="buffer" if _is_statistic(block.obj, var) else "param", owner=block.path,
            code=f"{block.code}.weights[{j}]",
            obj=var, type="Pending" if isinstance(var, Pending) else type(var).__name__, meta=_meta(var),
        )
        own.setdefault(block.path, []).append(path)
    for path, paths in own.items():
        blocks[path].children[:0] = paths  # own variables before the sublayers', as in `layer.weights`
    return tensors


def _is_statistic(layer: Any, var: Any) -> bool:
    """A running statistic (BatchNormalization's moving mean and variance, Normalization's mean/variance/count):
    a variable a built-in layer made non-trainable itself, counted apart from the parameters as PyTorch's
    buffers and MXNet's running statistics are. A frozen layer's variables (`trainable = False` later) and a
    user layer's `add_weight(trainable=False)` constant stay (frozen) parameters."""
    if not type(layer).__module__.startswith("keras.") or isinstance(var, Pending):
        return False
    return any(v is var for v in getattr(layer, "_non_trainable_variables", ()))


def child_layers(layer: Any, code: str = "") -> list[tuple[Any, str]]:
    """(child layer, code) for every use of a child, in the layer's own order; InputLayers left out."""
    out: list[tuple[Any, str]] = []
    if isinstance(layer, (keras.Sequential, Functional)):
        nodes = getattr(layer, "_nodes", None) if isinstance(layer, Functional) else None
        for i, child in enumerate(layer.layers):
            if isinstance(child, keras.layers.InputLayer):
                continue
            uses = 1
            if nodes is not None:
                calls = range(len(child._inbound_nodes))
                uses = max(1, sum(1 for k in calls if make_node_key(child, k) in nodes))
            out.extend([(child, f"{code}.layers[{i}]")] * uses)
        return out
    for i, child in enumerate(layer._flatten_layers(include_self=False, recursive=False)):
        if not isinstance(child, keras.layers.InputLayer):
            out.append((child, _child_code(code, layer, child, i)))
    return out


def _child_code(parent: str, layer: Any, child: Any, i: int) -> str:
    for name, value in vars(layer).items():
        if value is child and not name.startswith("_"):
            return attr_code(parent, name)
    for name, value in vars(layer).items():
        if name.startswith("_") or not isinstance(value, (list, tuple, dict)):
            continue
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if item is child:
                return f"{attr_code(parent, name)}[{key!r}]"
    if isinstance(layer, keras.Model):
        return f"{parent}.layers[{i}]"
    return f"{parent}._layers[{i}]"


def own_variables(layer: Any) -> list[tuple[Any, str]]:
    """(variable or placeholder, slot name) held directly by `layer`, in `layer.weights` order."""
    if not layer.built:
        specs = pending_specs(layer)
        return [(Pending(layer, name, shape, trainable), name) for name, shape, trainable in specs]
    out: list[tuple[Any, str]] = []
    seen: set[int] = set()
    for var in list(layer._trainable_variables) + list(layer._non_trainable_variables):
        if id(var) not in seen:
            seen.add(id(var))
            out.append((var, _slot_name(layer, var)))
    return out


def _slot_name(layer: Any, var: Any) -> str:
    """The public attribute that holds `var` ("kernel" for Dense's `_kernel`), else the variable's name."""
    names = [n for n, v in vars(layer).items() if v is var]
    for name in names:
        if not name.startswith("_"):
            return name
    for name in names:
        public = name.lstrip("_")
        try:
            if public and getattr(layer, public, None) is var:
                return public
        except Exception:  # noqa: BLE001 - a property that raises is just not the public name
            continue
    return str(var.name)


def pending_specs(layer: Any) -> list[tuple[str, list[int | None], bool]]:
    """(name, known part of the shape, trainable) of the variables an unbuilt layer will create."""
    trainable = bool(layer.trainable)
    layers = keras.layers
    if isinstance(layer, layers.Dense):
        specs = [("kernel", [None, layer.units], trainable)]
        return specs + ([("bias", [layer.units], trainable)] if layer.use_bias else [])
    if isinstance(layer, (layers.Conv1D, layers.Conv2D, layers.Conv3D)):
        specs = [("kernel", [*layer.kernel_size, None, layer.filters], trainable)]
        return specs + ([("bias", [layer.filters], trainable)] if layer.use_bias else [])
    if isinstance(layer, (layers.Conv1DTranspose, layers.Conv2DTranspose, layers.Conv3DTranspose)):
        specs = [("kernel", [*layer.kernel_size, layer.filters, None], trainable)]
        return specs + ([("bias", [layer.filters], trainable)] if layer.use_bias else [])
    if isinstance(layer, layers.Embedding):
        return [("embeddings", [layer.input_dim, layer.output_dim], trainable)]
    if isinstance(layer, layers.BatchNormalization):
        specs = [("gamma", [None], trainable)] if layer.scale else []
        specs += [("beta", [None], trainable)] if layer.center else []
        return [*specs, ("moving_mean", [None], False), ("moving_variance", [None], False)]
    if isinstance(layer, layers.LayerNormalization):
        specs = [("gamma", [None], trainable)] if layer.scale else []
        return specs + ([("beta", [None], trainable)] if layer.center else [])
    return []


def _layer_state(layer: Any) -> State:
    return "ready" if layer.built else "unbuilt"


def _free(path: str, taken: Any, uses: int) -> str:
    """`path`, or `path@n` (n from the use count up) when another block or tensor already has it."""
    if path not in taken:
        return path
    n = max(2, uses)
    while f"{path}@{n}" in taken:
        n += 1
    return f"{path}@{n}"


def _has_grad(var: Any) -> bool:
    try:
        return grads.latest(var) is not None
    except Unavailable:  # another thread trains (Keras on PyTorch): its .grad is not read; trainable ones get one
        return bool(var.trainable)


def _preorder(blocks: dict[str, BlockEntry]) -> list[str]:
    out = []
    stack = [""]
    while stack:
        path = stack.pop()
        out.append(path)
        stack.extend(reversed([c for c in blocks[path].children if c in blocks]))
    return out


def _meta(var: Any) -> TensorMeta:
    if isinstance(var, Pending):
        return TensorMeta(shape=list(var.shape), dtype=_dtype_name(var.layer.variable_dtype), device=None,
                          trainable=var.trainable, state="unbuilt", numel=0, nbytes=0, has_grad=False)
    shape: list[int | None] = [int(d) for d in var.shape]
    numel = math.prod(d or 0 for d in shape)
    dtype = _dtype_name(var.dtype)
    nbytes = numel * _itemsize(dtype)
    return TensorMeta(
        shape=shape, dtype=dtype, device=BACKEND.device(var), trainable=bool(var.trainable), state="ready",
        numel=numel, nbytes=nbytes, has_grad=_has_grad(var),
        # The raw value: a JAX variable has none while model.fit runs (BACKEND.native would refuse).
        sharding=distribute.sharding(getattr(var, "_value", None), [d or 0 for d in shape], nbytes),
    )


def _dtype_name(dtype: Any) -> str:
    return str(keras.backend.standardize_dtype(dtype))


def _itemsize(dtype: str) -> int:
    """Bytes per element of a Keras dtype name: "bfloat16" -> 2, "float8_e4m3fn" -> 1, "bool" -> 1."""
    bits = re.match(r"[a-z]+(\d+)", dtype)
    return max(1, int(bits.group(1)) // 8) if bits else 1


def parent_block(index: ModelIndex, path: str) -> BlockEntry | None:
    for block in index.blocks.values():
        if path in block.children:
            return block
    return None
