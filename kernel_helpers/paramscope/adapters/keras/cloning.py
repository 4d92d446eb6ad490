"""Untying one call of a shared layer in a functional model: a clone of the layer, rewired into the graph."""

from __future__ import annotations

import contextlib
import gc
from typing import Any

import keras
from keras.src.models.functional import Functional
from keras.src.ops.function import make_node_key, map_graph
from keras.src.ops.node import KerasHistory, Node

from ..._errors import ActionError
from ...tree import ModelIndex
from .paths import parent_block
from .tying import refuse_under_a_stateless_optimizer, remake_traced_functions
from .values import first_line


def untie_block(index: ModelIndex, path: str) -> None:
    refuse_under_a_stateless_optimizer(index.blocks[""].obj, "untie")
    layer = index.blocks[path].obj
    parent = parent_block(index, path)
    if parent is None or not isinstance(parent.obj, Functional):
        where = f"{type(parent.obj).__name__} {parent.path or 'model'!r}" if parent is not None else "its parent"
        raise ActionError(
            f"{path!r} is the layer object {layer.name!r} held again by {where}, which runs it from its "
            "own layer list or Python code; paramscope gives a use its own layer only where it is a call "
            "node of a functional model's graph. Give that place its own layer in your model code "
            "(type(layer).from_config(layer.get_config()), then set_weights(layer.get_weights()))"
        )
    model = parent.obj
    calls = [k for k in range(len(layer._inbound_nodes)) if make_node_key(layer, k) in model._nodes]
    uses = [p for p in parent.children if p in index.blocks and index.blocks[p].obj is layer]
    if len(calls) < 2 or len(calls) != len(uses):
        raise ActionError(
            f"{path!r} is the layer {layer.name!r} that {parent.path or 'the model'!r} calls only once; "
            "its other uses are in other models, whose own code or graph calls it: give that model its "
            "own layer in your model code"
        )
    node = layer._inbound_nodes[calls[uses.index(path)]]
    if _in_another_graph(node, model):
        raise ActionError(
            f"the call {path!r} is a node of the Keras graph that another live model was also built from "
            "(e.g. an encoder made from the same tensors); rewiring it would change that model too. "
            "Build this model from its own graph first: keras.models.clone_model"
        )
    taken = {op.name for op in model._operations}
    n = uses.index(path) + 1
    while f"{layer.name}_{n}" in taken:
        n += 1
    clone = _clone_layer(layer, f"{layer.name}_{n}", path)
    _rewire(model, node, layer, clone)
    _extend_optimizers(index.blocks[""].obj, list(zip(layer.weights, clone.weights, strict=True)))
    remake_traced_functions(index.blocks[""].obj)


def _in_another_graph(node: Any, model: Any) -> bool:
    """Whether a list of nodes other than `model`'s graph and the layers' node lists holds `node` (another
    Function built from the same tensors). Garbage cycles are collected before a second look."""
    for attempt in range(2):
        stores = [*model._nodes_by_depth.values(), node.operation._inbound_nodes]
        stores += [t._keras_history.operation._outbound_nodes for t in node.input_tensors
                   if t._keras_history.operation is not None]
        # A Keras Model's node lists are TensorFlow ListWrappers: a list inside plus a list snapshot of it.
        known = {id(x) for store in stores
                 for x in (store, getattr(store, "_storage", None), getattr(store, "_last_wrapped_list_snapshot",
                                                                            None))}
        found = any(isinstance(ref, list) and id(ref) not in known and all(isinstance(n, Node) for n in ref)
                    for ref in gc.get_referrers(node))
        if not found or attempt:
            return found
        gc.collect()
    return True


def _clone_layer(layer: Any, name: str, path: str) -> Any:
    """A built copy of `layer` named `name`, made from its config (as keras.models.clone_model does), with new
    variables at the layer's scope holding copies of its values."""
    if not layer.built:
        raise ActionError(f"{path!r} is not built yet: run a forward pass first")
    try:
        config = layer.get_config()
    except NotImplementedError as e:
        raise ActionError(
            f"{type(layer).__name__} has no get_config(), so Keras cannot make a copy of it: define "
            "get_config() returning its __init__ arguments"
        ) from e
    parts = layer.path.split("/")[:-1] if layer.path else []
    scope: Any = contextlib.nullcontext()
    if parts:
        scope = keras.name_scope(parts[-1], override_parent="/".join(parts[:-1]))
    try:
        with scope:
            clone = type(layer).from_config({**config, "name": name})
            build_config = layer.get_build_config()
            if not clone.built and build_config:
                clone.build_from_config(build_config)
    except Exception as e:  # any failure of the user's layer code becomes the reason
        raise ActionError(f"Keras could not re-create {type(layer).__name__} from its config: {first_line(e)}") \
            from e
    old, new = layer.weights, clone.weights if clone.built else []
    if not clone.built or [tuple(v.shape) for v in old] != [tuple(v.shape) for v in new]:
        raise ActionError(
            f"the copy of {type(layer).__name__} made from its config and build config does not have the "
            "layer's variables (its build needs the call's inputs): give that call its own layer in your code"
        )
    for src, dst in zip(old, new, strict=True):
        dst.assign(keras.ops.copy(src.value))  # a buffer of its own (JAX's fit donates each variable's)
        dst.trainable = src.trainable
    return clone


def _rewire(model: Any, node: Any, layer: Any, clone: Any) -> None:
    """Make `node` a call of `clone`: the node's layer, its outputs' Keras history, the layers' node lists, the
    model's node and operation maps (re-made by Keras' own map_graph) and its tracked layers."""
    node.operation = clone
    clone._inbound_nodes.append(node)
    outputs = {id(t) for t in node.outputs}
    for i, tensor in enumerate(node.outputs):
        history = getattr(tensor, "_keras_history", None)
        if history is not None and history.operation is layer:
            tensor._keras_history = KerasHistory(clone, 0, i)
    for down in list(layer._outbound_nodes):
        if any(id(t) in outputs for t in down.input_tensors):
            clone._outbound_nodes.append(down)
            if not any(t._keras_history.operation is layer for t in down.input_tensors):
                put_list(layer._outbound_nodes, [n for n in layer._outbound_nodes if n is not down])
    nodes, nodes_by_depth, operations, operations_by_depth = map_graph(model._inputs, model._outputs)
    # In place: the model keeps its own set, dicts and lists (no stale list of nodes is left holding them).
    model._nodes.clear()
    model._nodes.update(nodes)
    put_list(model._operations, operations)
    for old, new in ((model._nodes_by_depth, nodes_by_depth), (model._operations_by_depth, operations_by_depth)):
        for d in list(old):
            if d not in new:
                put_list(old.pop(d), ())
        for d, items in new.items():
            if d in old:
                put_list(old[d], items)
            else:
                old[d] = items
    # Tracked right after the layer, so `model.weights` (and get_weights) follow the order of `model.layers`.
    tracker = model._tracker
    tracked = list(tracker.config["layers"][1])
    at = next((i + 1 for i, other in enumerate(tracked) if other is layer), len(tracked))
    put_list(tracker.config["layers"][1], [*tracked[:at], clone, *tracked[at:]])
    tracker.stored_ids["layers"].add(id(clone))


def put_list(store: Any, items: Any) -> None:
    """`store[:] = items`; a TensorFlow ListWrapper is changed underneath, so it is not marked as mutated in a
    non-append way (which would stop tf.train.Checkpoint from saving it)."""
    inner = getattr(store, "_storage", None)
    if isinstance(inner, list) and hasattr(store, "_update_snapshot"):
        inner[:] = items
        store._update_snapshot()
    else:
        store[:] = items


def built_optimizers(root: Any) -> list[Any]:
    """The model's compiled optimizer and the one a LossScaleOptimizer wraps, those already built."""
    found = []
    optimizer = getattr(root, "optimizer", None)
    while optimizer is not None and hasattr(optimizer, "_trainable_variables_indices"):
        if optimizer.built:
            found.append(optimizer)
        optimizer = getattr(optimizer, "inner_optimizer", None)
    return found


def _extend_optimizers(root: Any, pairs: list[tuple[Any, Any]]) -> None:
    """Teach the model's built optimizer each new variable of `pairs` (old, new), with a copy of the old
    variable's slots (momentum, ...), as if the copy had been trained alongside."""
    for optimizer in built_optimizers(root):
        indices = optimizer._trainable_variables_indices
        n = len(optimizer._trainable_variables)
        per_variable = [v for k, v in vars(optimizer).items() if isinstance(v, list) and len(v) == n
                        and k not in ("_trainable_variables", "_variables")]
        for old, new in pairs:
            i = indices.get(optimizer._var_key(old))
            if i is None or not new.trainable:
                continue
            indices[optimizer._var_key(new)] = len(optimizer._trainable_variables)
            optimizer._trainable_variables.append(new)
            for store in per_variable:
                slot = store[i]
                if not hasattr(slot, "assign"):  # a variable (Keras or the backend's own), not a count
                    store.append(slot)
                    continue
                prefix = old.path.replace("/", "_") + "_"
                suffix = slot.name[len(prefix):] if slot.name.startswith(prefix) else slot.name
                copy = optimizer.add_variable(shape=slot.shape, dtype=slot.dtype,
                                              name=f"{new.path.replace('/', '_')}_{suffix}")
                copy.assign(keras.ops.copy(slot.value))
                store.append(copy)
