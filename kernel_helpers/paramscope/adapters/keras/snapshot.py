"""Snapshots of Keras variables for undo and atomic actions: values, slot bindings, rewired graphs, optimizers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from keras.src.models.functional import Functional

from ...tree import ModelIndex
from .cloning import built_optimizers, put_list
from .paths import Pending, parent_block
from .tying import Slot, bind, find_slot, remake_traced_functions, slot_of


@dataclass
class _GraphState:
    """What untie_block rebinds in a functional model: each call node's layer and its outputs' Keras history,
    every layer's node lists, the model's node/operation maps and its tracked layers."""

    model: Any
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
        return cls(model, calls, node_lists, maps, list(tracker.config["layers"][1]),
                   set(tracker.stored_ids["layers"]))

    def restore(self) -> bool:
        """Put everything back; True when a call node had been given another layer."""
        model = self.model
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

    optimizer: Any
    indices: dict[Any, int]
    lists: list[tuple[list[Any], int]]
    variables: list[Any]
    variable_ids: set[int]

    @classmethod
    def save(cls, optimizer: Any) -> _OptimizerState:
        lists = [(v, len(v)) for v in vars(optimizer).values() if isinstance(v, list)]
        tracker = optimizer._tracker
        return cls(optimizer, dict(optimizer._trainable_variables_indices), lists,
                   list(tracker.config["variables"][1]), set(tracker.stored_ids["variables"]))

    def restore(self) -> None:
        opt = self.optimizer
        opt._trainable_variables_indices.clear()
        opt._trainable_variables_indices.update(self.indices)
        for store, n in self.lists:
            put_list(store, list(store)[:n])
        tracker = opt._tracker
        put_list(tracker.config["variables"][1], self.variables)
        tracker.stored_ids["variables"].clear()
        tracker.stored_ids["variables"].update(self.variable_ids)


@dataclass
class KerasSnapshot:
    """Slot bindings, functional graphs and optimizers that an untie may rewire, plus host copies of values;
    restore() rebinds and assigns the values back."""

    root: Any
    slots: list[Slot] = field(default_factory=list)
    values: dict[int, tuple[Any, np.ndarray, bool]] = field(default_factory=dict)
    graphs: list[_GraphState] = field(default_factory=list)
    optimizers: list[_OptimizerState] = field(default_factory=list)
    nbytes: int = 0

    def restore(self) -> None:
        rebound = False
        for slot in self.slots:
            current = slot_of(slot.layer, slot.attrs, slot.lists)
            if current is not slot.var:
                bind(slot, slot.var)
                rebound = True
        for graph in self.graphs:
            rebound = graph.restore() or rebound
        for optimizer in self.optimizers:
            optimizer.restore()
        for var, saved, trainable in self.values.values():
            var.assign(saved)
            var.trainable = trainable
        if rebound:
            remake_traced_functions(self.root)


def take(index: ModelIndex, paths: list[str]) -> KerasSnapshot:
    snap = KerasSnapshot(root=index.blocks[""].obj)
    for path in paths:
        if path in index.blocks:
            parent = parent_block(index, path)
            if parent is not None and isinstance(parent.obj, Functional) and not any(
                    g.model is parent.obj for g in snap.graphs):
                snap.graphs.append(_GraphState.save(parent.obj))  # untie_block rewires its graph
                snap.optimizers.extend(_OptimizerState.save(o) for o in built_optimizers(snap.root))
            continue
        entry = index.tensors.get(path)
        if entry is None or isinstance(entry.obj, Pending):
            continue
        layer = index.blocks[entry.owner].obj
        snap.slots.append(find_slot(layer, entry.obj))
        var = entry.obj
        if id(var) in snap.values:
            continue
        saved = np.array(var.numpy(), copy=True)
        snap.values[id(var)] = (var, saved, bool(var.trainable))
        snap.nbytes += saved.nbytes
    return snap
