"""Snapshots of Keras variables for undo and atomic actions: values, slot bindings, rewired graphs, optimizers.

Keras variables have no version counter, so a value is compared by a digest of its bytes, and the cheap
`fingerprint` reads a strided sample of the variable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from keras.src.models.functional import Functional

from ...snapshots import Cell, Record, Ref, digest, same_bytes, weak
from ...tree import BlockEntry, ModelIndex, TensorEntry
from .. import SAMPLE_POINTS, sample_digest
from .cloning import built_optimizers, put_list
from .paths import Pending
from .tying import _BEFORE_TIE, Slot, bind, find_slot, remake_traced_functions, slot_of


@dataclass
class _GraphState:
    """What untie_block rebinds in a functional model: each call node's layer and its outputs' Keras history,
    every layer's node lists, the model's node/operation maps and its tracked layers."""

    model: Ref  # weakly: the history never keeps a model alive
    calls: list[tuple[Any, Any, tuple[tuple[Any, Any], ...]]]  # (node, layer called there, (output, history)s)
    node_lists: list[tuple[Any, tuple[Any, ...], tuple[Any, ...]]]  # (layer, _inbound_nodes, _outbound_nodes)
    maps: dict[str, tuple[Any, Any]]  # _nodes, _nodes_by_depth, ... -> (the object, its content)
    layers: list[Any]
    layer_ids: set[int]

    @classmethod
    def save(cls, model: Any) -> _GraphState:
        # Copies are tuples: a list of nodes that is not the model's would look like another model's graph.
        calls = [(node, node.operation, tuple((t, getattr(t, "_keras_history", None)) for t in node.outputs))
                 for nodes in model._nodes_by_depth.values() for node in nodes]
        node_lists = [(op, tuple(op._inbound_nodes), tuple(op._outbound_nodes)) for op in model._operations]
        maps: dict[str, Any] = {"_nodes": (model._nodes, set(model._nodes)),
                                "_operations": (model._operations, tuple(model._operations))}
        for name in ("_nodes_by_depth", "_operations_by_depth"):
            obj = getattr(model, name)
            maps[name] = (obj, {d: (v, tuple(v)) for d, v in obj.items()})
        tracker = model._tracker
        return cls(weak(model), calls, node_lists, maps, list(tracker.config["layers"][1]),
                   set(tracker.stored_ids["layers"]))

    def restore(self) -> bool:
        """Put everything back; True when a call node had been given another layer."""
        model = self.model()
        if model is None:
            return False
        rebound = any(node.operation is not op for node, op, _ in self.calls)
        for node, op, outputs in self.calls:
            node.operation = op
            for tensor, history in outputs:
                if history is not None:
                    tensor._keras_history = history
        for op, inbound, outbound in self.node_lists:
            put_list(op._inbound_nodes, inbound)
            put_list(op._outbound_nodes, outbound)
        for name, (obj, content) in self.maps.items():
            if isinstance(obj, dict):
                for items in obj.values():
                    put_list(items, ())
                obj.clear()
                for d, (items, saved) in content.items():
                    put_list(items, saved)
                    obj[d] = items
            elif isinstance(obj, set):
                obj.clear()
                obj.update(content)
            else:
                put_list(obj, content)
            setattr(model, name, obj)
        tracker = model._tracker
        put_list(tracker.config["layers"][1], self.layers)
        tracker.stored_ids["layers"].clear()
        tracker.stored_ids["layers"].update(self.layer_ids)
        return rebound


@dataclass
class _OptimizerState:
    """A built optimizer's variable index, its per-variable lists and tracked variables (untie_block adds)."""

    optimizer: Ref
    indices: dict[Any, int]
    lists: list[tuple[list[Any], int]]
    variables: list[Any]
    variable_ids: set[int]

    @classmethod
    def save(cls, optimizer: Any) -> _OptimizerState:
        lists = [(v, len(v)) for v in vars(optimizer).values() if isinstance(v, list)]
        tracker = optimizer._tracker
        return cls(weak(optimizer), dict(optimizer._trainable_variables_indices), lists,
                   list(tracker.config["variables"][1]), set(tracker.stored_ids["variables"]))

    def restore(self) -> None:
        opt = self.optimizer()
        if opt is None:
            return
        opt._trainable_variables_indices.clear()
        opt._trainable_variables_indices.update(self.indices)
        for store, n in self.lists:
            put_list(store, list(store)[:n])
        tracker = opt._tracker
        put_list(tracker.config["variables"][1], self.variables)
        tracker.stored_ids["variables"].clear()
        tracker.stored_ids["variables"].update(self.variable_ids)


class _Values(Cell):
    """The values and trainability of one variable (all its paths); shape and dtype cannot change in Keras."""

    def __init__(self, var: Any, paths: list[str]) -> None:
        super().__init__(paths)
        self._ref: Ref = weak(var)
        self._strong: Any = var  # until sealed: a failing action must find it
        self._saved = np.array(keras.ops.convert_to_numpy(var.value), copy=True)
        self._trainable = bool(var.trainable)
        self._after: str | None = None
        self.nbytes = self._saved.nbytes

    def _live(self) -> Any:
        return self._strong if self._strong is not None else self._ref()

    def changed(self) -> bool:
        var = self._live()
        if var is None:
            return False
        now = np.ascontiguousarray(keras.ops.convert_to_numpy(var.value))
        return bool(var.trainable) != self._trainable or now.dtype != self._saved.dtype or (
            now.shape != self._saved.shape or not same_bytes(now, np.ascontiguousarray(self._saved)))

    def seal(self) -> None:
        self._after = _state(self._live())
        self._strong = None

    def conflict(self) -> str | None:
        var = self._ref()
        if var is None:
            return f"{self.paths[0]} is gone (its layer was replaced or deleted since)"
        if _state(var) != self._after:
            return f"{self.paths[0]} has other values now (assign() or a training step since)"
        return None

    def restore(self, force: bool) -> str | None:
        var = self._live()
        if var is None:
            return "it is gone (its layer was replaced or deleted since)"
        if tuple(var.shape) != self._saved.shape:
            return f"its shape is {tuple(var.shape)} now and the saved values have {self._saved.shape}"
        note = None
        if np.dtype(keras.backend.standardize_dtype(var.dtype)) != self._saved.dtype:
            note = f"restored as {var.dtype}, the variable's dtype now (saved as {self._saved.dtype})"
        var.assign(self._saved)
        var.trainable = self._trainable
        return note


def _state(var: Any) -> str:
    return _saved_state(np.asarray(keras.ops.convert_to_numpy(var.value)))


def _saved_state(arr: np.ndarray) -> str:
    return f"{arr.dtype}:{arr.shape}:{digest(np.ascontiguousarray(arr).view(np.uint8))}"


class _Slot(Cell):
    """Which variable one use sits on (attributes and tracker-list positions of its layer). The variable there
    before the action is kept; the layer and the variable the action left only weakly."""

    order = 1

    def __init__(self, slot: Slot, path: str) -> None:
        super().__init__([path])
        self._layer: Ref = weak(slot.layer)
        self._strong_layer: Any = slot.layer
        self._attrs, self._lists, self._before = slot.attrs, slot.lists, slot.var
        self._after: Ref = weak(None)

    def _layer_now(self) -> Any:
        return self._strong_layer if self._strong_layer is not None else self._layer()

    def _bound(self, layer: Any) -> Any:
        return slot_of(layer, self._attrs, self._lists)

    def changed(self) -> bool:
        layer = self._layer_now()
        return layer is not None and self._bound(layer) is not self._before

    def seal(self) -> None:
        self._after = weak(self._bound(self._layer_now()))
        self._strong_layer = None

    def conflict(self) -> str | None:
        layer = self._layer()
        if layer is None:
            return f"{self.paths[0]} is gone (its layer was replaced or deleted since)"
        if self._bound(layer) is not self._after():
            return f"{self.paths[0]} was rebound since (another variable was put there)"
        return None

    def restore(self, force: bool) -> str | None:
        layer = self._layer_now()
        if layer is None:
            return "its layer is gone (replaced or deleted since)"
        if self._bound(layer) is not self._before:
            bind(Slot(layer, self._attrs, self._lists, self._before), self._before)
        return None


class _Graph(Cell):
    """The call graph of a functional model (which layer each call node runs) and its built optimizers'
    variable lists, which untie_block rewires."""

    order = 0

    def __init__(self, model: Any, root: Any, path: str) -> None:
        super().__init__([path])
        self._graph = _GraphState.save(model)
        self._optimizers = [_OptimizerState.save(o) for o in built_optimizers(root)]
        self._before = self._shape()
        self._after: tuple[Any, ...] | None = None

    def _shape(self) -> tuple[Any, ...] | None:
        """Which layer each call node runs, the model's operations and the optimizers' lists, by identity."""
        model = self._graph.model()
        if model is None:
            return None
        calls = tuple(id(node.operation) for nodes in model._nodes_by_depth.values() for node in nodes)
        return calls, tuple(id(op) for op in model._operations), tuple(map(_optimizer_shape, self._optimizers))

    def changed(self) -> bool:
        shape = self._shape()
        return shape is not None and shape != self._before

    def seal(self) -> None:
        self._after = self._shape()

    def conflict(self) -> str | None:
        shape = self._shape()
        if shape is None or shape == self._after:
            return None
        return f"the graph of {self.paths[0] or 'the model'} or its optimizer was changed since (layers rewired)"

    def restore(self, force: bool) -> str | None:
        self._graph.restore()
        for optimizer in self._optimizers:
            optimizer.restore()
        return None


def _optimizer_shape(state: _OptimizerState) -> tuple[Any, ...] | None:
    opt = state.optimizer()
    if opt is None:
        return None
    return (tuple(opt._trainable_variables_indices.items()),
            tuple(len(v) for v in vars(opt).values() if isinstance(v, list)))


def take(adapter: Any, index: ModelIndex, paths: list[str]) -> Record:
    root = index.blocks[""].obj
    cells: list[Cell] = []
    values: dict[int, _Values] = {}
    parents: dict[str, BlockEntry] = {}
    graphs: set[int] = set()
    if any(p in index.blocks for p in paths):
        parents = {child: block for block in index.blocks.values() for child in block.children}
    for path in paths:
        if path in index.blocks:
            parent = parents.get(path)
            if parent is not None and isinstance(parent.obj, Functional) and id(parent.obj) not in graphs:
                graphs.add(id(parent.obj))
                cells.append(_Graph(parent.obj, root, parent.path))  # untie_block rewires its graph
            continue
        entry = index.tensors.get(path)
        if entry is None or isinstance(entry.obj, Pending):
            continue
        var = entry.obj
        layer = index.blocks[entry.owner].obj
        cells.append(_Slot(find_slot(layer, var), path))
        # untie gives a slot back the variable it had before its tie, writing the shared values into it: that
        # variable, outside the model until then, is saved too.
        for one in (var, _BEFORE_TIE.get((id(layer), entry.name))):
            if one is None or isinstance(one, Pending):
                continue
            if id(one) in values and path in values[id(one)].paths:
                continue
            if id(one) in values:
                values[id(one)].paths.append(path)
            else:
                values[id(one)] = _Values(one, [path])
    return Record(adapter, root, cells + list(values.values()))


def rebound(model: Any) -> None:
    """After slots or call nodes were put back: traced functions captured the other variables."""
    remake_traced_functions(model)


def fingerprint(entry: TensorEntry) -> str:
    """id, class, dtype, shape and a digest of a strided sample of the variable (Keras has no version counter)."""
    var = entry.obj
    if isinstance(var, Pending):
        return f"{id(var):x}:pending:{var.shape}"
    head = f"{id(var):x}:{type(var).__name__}:{var.dtype}:{tuple(var.shape)}:{id(var.value):x}"
    size = int(np.prod(var.shape))
    if size == 0:
        return head
    step = max(1, size // SAMPLE_POINTS)
    picks = np.append(np.arange(0, size, step)[:SAMPLE_POINTS], size - 1)
    sample = keras.ops.convert_to_numpy(keras.ops.take(keras.ops.reshape(var.value, (-1,)), picks))
    return head + ":" + sample_digest(np.ascontiguousarray(sample).tobytes())
