"""Keras 3 adapter (TensorFlow backend): layers and variables of `keras.layers.Layer` / `keras.Model` models.

Quirks written down here so that nobody has to find them again:
- Paths. A block is a layer, at `layer.path` (names joined by "/", set when the layer is built: a Sequential's
  layers are "sequential/dense", a functional model's have no model prefix, "dense"); a parameter is a
  variable, at `variable.path` ("sequential/dense/kernel"). Where Keras gives none (an unbuilt layer) or gives
  one taken already, the path is structural: the parent's path, "/", the layer's name or the variable's
  attribute name ("kernel" for Dense's `_kernel`). All Keras variables are parameters; `trainable` tells
  BatchNorm's moving statistics and frozen weights apart, as `layer.non_trainable_weights` does.
- A layer used at two places. A functional model may call one layer several times (one `Node` per call in
  `layer._inbound_nodes`, listed in `model._nodes`); the n-th call of it (n >= 2) is shown as a second block
  at "<path of the first call>@n" (e.g. "dense_1@2", its kernel at "dense_1@2/kernel"), so the path stays the
  same as long as the model's graph does. A subclassed model's layer is shown once, at its tracked attribute,
  as PyTorch shows a module called twice in `forward`.
- Untying a call (`untie_block`). A functional model runs its graph node by node: `_run_through_graph` calls
  `node.operation` for each node of `model._nodes_by_depth`. So one call gets its own layer by rebinding that
  node: a clone of the layer (`from_config(get_config())` with a new name, "<name>_<n>", built from
  `get_build_config()` in the layer's name scope, new variables holding copies of the values) becomes
  `node.operation`, the node's outputs' `_keras_history` and the layers' `_inbound_nodes`/`_outbound_nodes`
  point at it, Keras' own `map_graph` re-makes `_nodes`, `_nodes_by_depth`, `_operations` (so `model.layers`,
  `get_config` and saving see two layers) and the clone is tracked in `model._layers` right after the layer
  (so `trainable_variables`, `weights` and `count_params` count it). The old layer keeps the node in its
  `_inbound_nodes` (node indices of its other calls stay valid) but the key is gone from `model._nodes`. The
  other calls of that layer then shift down a number ("d@3" becomes "d@2"). A built optimizer of the model
  learns the clone's variables with copies of the original's slots (momentum, ...); an optimizer the model
  does not hold must be re-made. The snapshot keeps every node's layer and output history, the node lists,
  the model's maps (the same objects, refilled in place) and tracked layers, and the optimizer's variable
  index and lists. Refused: a node that another live model was built from too (found with
  `gc.get_referrers`: rewiring it would change that model), a layer Keras cannot re-create from its config,
  and a layer held again by a Sequential or a subclassed layer (run from its layer list or Python code, not
  from call nodes; a subclassed model calling `self.layer` twice shows one block, with nothing to untie).
- Unbuilt layers have no variables at all (`layer.kernel` raises). Dense, Conv*, Embedding, BatchNormalization
  and LayerNormalization get placeholder parameters with the known part of the shape (None for the input size)
  and state "unbuilt"; other unbuilt layers show as an unbuilt block without parameters until the first call.
- Initializers. A Keras initializer built with `seed=None` draws its seed once, at construction, and then
  returns the same values on every call, so calling `layer.kernel_initializer` again is not a reinit.
  paramscope clones every seeded Keras initializer with a fresh integer seed per variable, drawn from a
  private numpy Generator (seeded by `seed=` or by the OS), so integer seeds take Keras' stateless random ops
  and no global state moves. `default` is the layer's `<name>_initializer` (`kernel_initializer`,
  `moving_mean_initializer`, ...). A custom initializer (`keras.initializers.Initializer` subclass or
  `fn(shape, dtype)`) that draws from global generators runs, when `seed=` is given, with numpy's, Python's,
  TensorFlow's (op seed and global `tf.random.Generator`) and Keras' global SeedGenerator set from the seed,
  and all of them put back afterwards.
- Tying. Keras 3 layers keep variables in attributes (`Dense._kernel`, `Dense.bias`) and in their tracker
  lists (`_trainable_variables`, `_non_trainable_variables`, locked after build). `tie` rebinds both to the
  other variable (bypassing the locked tracker and fixing its id sets), so forward passes use the shared
  variable, `model.trainable_variables` lists it once and a tape's gradient adds up over its uses. `untie`
  gives the slot back the variable it had before the tie (with the shared values), so an optimizer built
  before the tie still knows it; a slot that never had another one gets a new variable of the same name.
  Functions traced before a tie or untie captured the old variables: the model's train/test/predict functions
  are re-made for that; a `tf.function` of the user's own must be re-created. Two variables of one layer
  cannot be tied (one slot would then hide the other in the layer's tracker).
- Gradients come from the user's GradientTape and live nowhere on the variable; `keras_grads` records those a
  Keras optimizer applies (custom loops with `apply_gradients` and `model.fit`).
- Watching (`ps.watch`). A step is one `model.fit` batch (the model's train function is wrapped on the instance,
  as is `make_train_function`, which makes it anew) or, in a custom loop, one optimizer apply that updates a
  variable of the model: eager, or in a `tf.function` traced while the watch runs (one traced before runs no
  Python per step and records nothing: re-create it). steps_per_execution > 1 and XLA-compiled custom steps
  run no Python per step and are refused. A fit call that finds no batch (the end of an epoch of unknown
  length) hands its count to the next step.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import math
import random
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras.src.backend.common import global_state
from keras.src.models.functional import Functional
from keras.src.ops.function import make_node_key, map_graph
from keras.src.ops.node import KerasHistory, Node
from keras.src.utils.tracking import DotNotTrackScope
from tensorflow.python.eager import context as tf_context
from tensorflow.python.ops import stateful_random_ops

from .._errors import ActionError
from ..initializers import NEEDS_MATRIX
from ..stats import CHUNK_ELEMS, matrix_shape
from ..tree import BlockEntry, ModelIndex, State, TensorEntry, TensorMeta
from . import InitSpec, Moments, ReinitResult, Unavailable, attr_code, format_index, keras_grads, split_writable

keras_grads.install()

# Variable name -> attribute of its layer holding the initializer, where it is not "<name>_initializer".
_INITIALIZER_ATTRS = {
    "recurrent_kernel": "recurrent_initializer",
    "depthwise_kernel": "depthwise_initializer",
    "pointwise_kernel": "pointwise_initializer",
}
# Trainer functions that capture variables when traced; re-made after a tie or untie.
_TRACED_FUNCTIONS = (("train_function", "make_train_function"), ("test_function", "make_test_function"),
                     ("predict_function", "make_predict_function"))
# Seeds for unseeded reinits: a private generator, so numpy's global state never moves.
_ENTROPY = np.random.default_rng()
# (id(layer), slot name) -> the variable a slot had before it was tied; untie gives it back.
_BEFORE_TIE: dict[tuple[int, str], Any] = {}
# Models whose train function paramscope re-made because it was traced before gradients were recorded.
_RETRACED: weakref.WeakSet[Any] = weakref.WeakSet()


@dataclass
class _Pending:
    """A variable that an unbuilt layer will create: name, known part of the shape, trainability."""

    layer: Any
    name: str
    shape: list[int | None]
    trainable: bool


@dataclass
class _Slot:
    """Where one use of a variable sits in its layer: attribute names and tracker-list positions."""

    layer: Any
    attrs: list[str]
    lists: list[tuple[list[Any], int]]
    var: Any


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
            _put_list(op._inbound_nodes, inbound)
            _put_list(op._outbound_nodes, outbound)
        for name, (obj, content) in self.maps.items():
            if isinstance(obj, dict):
                for items in obj.values():
                    _put_list(items, ())
                obj.clear()
                for d, (items, saved) in content.items():
                    _put_list(items, saved)
                    obj[d] = items
            elif isinstance(obj, set):
                obj.clear()
                obj.update(content)
            else:
                _put_list(obj, content)
            setattr(model, name, obj)
        tracker = model._tracker
        _put_list(tracker.config["layers"][1], self.layers)
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
            _put_list(store, list(store)[:n])
        tracker = opt._tracker
        _put_list(tracker.config["variables"][1], self.variables)
        tracker.stored_ids["variables"].clear()
        tracker.stored_ids["variables"].update(self.variable_ids)


@dataclass
class KerasSnapshot:
    """Slot bindings, functional graphs and optimizers that an untie may rewire, plus host copies of values;
    restore() rebinds and assigns the values back."""

    root: Any
    slots: list[_Slot] = field(default_factory=list)
    values: dict[int, tuple[Any, np.ndarray, bool]] = field(default_factory=dict)
    graphs: list[_GraphState] = field(default_factory=list)
    optimizers: list[_OptimizerState] = field(default_factory=list)
    nbytes: int = 0

    def restore(self) -> None:
        rebound = False
        for slot in self.slots:
            current = _slot_of(slot.layer, slot.attrs, slot.lists)
            if current is not slot.var:
                _bind(slot, slot.var)
                rebound = True
        for graph in self.graphs:
            rebound = graph.restore() or rebound
        for optimizer in self.optimizers:
            optimizer.restore()
        for var, saved, trainable in self.values.values():
            var.assign(saved)
            var.trainable = trainable
        if rebound:
            _remake_traced_functions(self.root)


class KerasAdapter:
    framework = "keras"

    def is_model(self, obj: Any) -> bool:
        if not isinstance(obj, keras.layers.Layer) or isinstance(obj, keras.layers.InputLayer):
            return False
        if not obj.built:
            return isinstance(obj, keras.Model) or bool(_pending_specs(obj)) or bool(_children(obj))
        return bool(obj.weights)

    def index(self, model: Any, root: str = "net") -> ModelIndex:
        blocks: dict[str, BlockEntry] = {}
        slots: list[tuple[BlockEntry, Any, str, str, int]] = []  # (owner, var, slot name, structural path, j)
        seen_layers: dict[int, int] = {}
        root_entry = BlockEntry("", root, root, model, type(model).__name__, state=_layer_state(model))
        blocks[""] = root_entry
        prefix = "" if isinstance(model, Functional) else (model.path or model.name)
        seen_layers[id(model)] = 1
        self._visit(root_entry, model, prefix, blocks, slots, seen_layers)
        tensors = self._tensors(blocks, slots)
        # Blocks were visited depth first with their own variables before their children: named order.
        order = _preorder(blocks)
        ordered_blocks = {p: blocks[p] for p in order}
        ordered_tensors = {c: tensors[c] for p in order for c in blocks[p].children if c in tensors}
        _retrace_unrecorded(model)
        return ModelIndex("keras", ordered_blocks, ordered_tensors)

    def _visit(self, start: BlockEntry, layer: Any, prefix: str, blocks: dict[str, BlockEntry],
               slots: list[tuple[BlockEntry, Any, str, str, int]], seen_layers: dict[int, int]) -> None:
        stack: list[tuple[BlockEntry, Any, str]] = [(start, layer, prefix)]
        while stack:
            block, owner, base = stack.pop()
            for j, (var, name) in enumerate(_own_variables(owner)):
                structural = f"{base}/{name}" if base else name
                slots.append((block, var, name, structural, j))
            children = []
            for child, code in _children(owner, block.code):
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

    def _tensors(self, blocks: dict[str, BlockEntry],
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
                path=path, name=name, kind="param", owner=block.path, code=f"{block.code}.weights[{j}]",
                obj=var, type="Pending" if isinstance(var, _Pending) else type(var).__name__, meta=_meta(var),
            )
            own.setdefault(block.path, []).append(path)
        for path, paths in own.items():
            blocks[path].children[:0] = paths  # own variables before the sublayers', as in `layer.weights`
        return tensors

    # -- snapshots -------------------------------------------------------------------------------------------

    def snapshot(self, index: ModelIndex, paths: list[str]) -> KerasSnapshot:
        snap = KerasSnapshot(root=index.blocks[""].obj)
        for path in paths:
            if path in index.blocks:
                parent = _parent_block(index, path)
                if parent is not None and isinstance(parent.obj, Functional) and not any(
                        g.model is parent.obj for g in snap.graphs):
                    snap.graphs.append(_GraphState.save(parent.obj))  # untie_block rewires its graph
                    snap.optimizers.extend(_OptimizerState.save(o) for o in _built_optimizers(snap.root))
                continue
            entry = index.tensors.get(path)
            if entry is None or isinstance(entry.obj, _Pending):
                continue
            layer = index.blocks[entry.owner].obj
            snap.slots.append(_find_slot(layer, entry.obj))
            var = entry.obj
            if id(var) in snap.values:
                continue
            saved = np.array(var.numpy(), copy=True)
            snap.values[id(var)] = (var, saved, bool(var.trainable))
            snap.nbytes += saved.nbytes
        return snap

    # -- reading values --------------------------------------------------------------------------------------

    def chunks(self, entry: TensorEntry, grad: bool) -> Iterator[tf.Tensor]:
        tensor = _readable(entry, grad)
        with tf.device(_device_of(tensor)):
            flat = tf.reshape(tensor, [-1])
            n = int(flat.shape[0])
            for start in range(0, n, CHUNK_ELEMS):
                yield flat[start : start + CHUNK_ELEMS]

    def chunk_moments(self, chunk: tf.Tensor) -> Moments:
        with tf.device(chunk.device):
            x = _as_float64(chunk)
            n = int(tf.size(x))
            if n == 0:
                return Moments()
            total = tf.reduce_sum(x)
            # A float64 sum of finite float32/16 values is finite, so a finite sum proves there is no NaN or Inf:
            # the usual case needs no masks (a float64 tensor that overflows takes the exact path below).
            if math.isfinite(float(total)):
                mean = total / n
                fast = tf.stack([
                    mean, tf.reduce_sum(tf.square(x - mean)), tf.reduce_min(x), tf.reduce_max(x),
                    tf.reduce_sum(tf.cast(tf.equal(x, 0.0), tf.float64)),
                ]).numpy().tolist()
                mu, m2v, mn, mx, zeros = fast
                return Moments(n, mu, m2v, mn, mx, int(zeros), 0, 0)
            finite = tf.math.is_finite(x)
            zero = tf.zeros_like(x)
            count = tf.reduce_sum(tf.cast(finite, tf.float64))
            mean = tf.reduce_sum(tf.where(finite, x, zero)) / tf.maximum(count, 1.0)
            m2 = tf.reduce_sum(tf.where(finite, tf.square(x - mean), zero))
            inf = tf.constant(math.inf, tf.float64)
            lo = tf.reduce_min(tf.where(finite, x, inf + zero))
            hi = tf.reduce_max(tf.where(finite, x, -inf + zero))
            scalars = tf.stack([
                count, mean, m2, lo, hi, tf.reduce_sum(tf.cast(tf.equal(x, 0.0), tf.float64)),
                tf.reduce_sum(tf.cast(tf.math.is_nan(x), tf.float64)),
                tf.reduce_sum(tf.cast(tf.math.is_inf(x), tf.float64)),
            ]).numpy().tolist()  # one device -> host transfer per chunk
        c, mu, m2v, mn, mx, zeros, nan, n_inf = scalars
        return Moments(int(c), mu if c else 0.0, m2v, mn, mx, int(zeros), int(nan), int(n_inf))

    def chunk_hist(self, chunk: tf.Tensor, lo: float, hi: float, bins: int) -> list[int]:
        with tf.device(chunk.device):
            x = _as_float64(chunk)
            finite = tf.math.is_finite(x)
            if not bool(tf.reduce_all(finite)):
                x = tf.boolean_mask(x, finite)
            counts = tf.histogram_fixed_width(x, tf.constant([lo, hi], tf.float64), nbins=bins)
            return [int(c) for c in counts.numpy().tolist()]

    def sample_2d(self, entry: TensorEntry, grad: bool, rows: int, cols: int, rstep: int,
                  cstep: int) -> list[list[float]]:
        tensor = _readable(entry, grad)
        with tf.device(_device_of(tensor)):
            value = tf.convert_to_tensor(tensor)
            view = tf.reshape(value, matrix_shape([int(d) for d in value.shape]))
            result: list[list[float]] = _as_float64(view[::rstep, ::cstep]).numpy().tolist()
        return result

    # -- actions ---------------------------------------------------------------------------------------------

    def reinit(self, index: ModelIndex, target: str, entries: list[TensorEntry], init: InitSpec,
               seed: int | None) -> ReinitResult:
        result = ReinitResult()
        ready = split_writable(entries, _not_writable, result)
        seeds = np.random.default_rng(seed) if seed is not None else _ENTROPY
        with _seeded_globals(seed):
            for entry in ready:
                var = entry.obj
                draw = int(seeds.integers(0, 2**31 - 1))
                if init.custom is not None:
                    self._reinit_custom(entry, init, draw, result)
                    continue
                if init.name == "default":
                    initializer, why = _default_initializer(index.blocks[entry.owner].obj, entry.name)
                else:
                    why = _catalogue_refusal(entry, init.name)
                    initializer = None if why else _catalogue(init.name, init.args)
                if why:
                    result.skipped.append({"path": entry.path, "reason": why})
                    continue
                _assign(var, _call_initializer(_reseeded(initializer, draw), var), entry.path, init.name)
                result.changed.append(entry.path)
        return result

    def _reinit_custom(self, entry: TensorEntry, init: InitSpec, draw: int, result: ReinitResult) -> None:
        var = entry.obj
        before = tf.identity(var.value)
        _assign(var, _call_initializer(_reseeded(init.custom, draw), var), entry.path, init.name)
        same = bool(tf.reduce_all(tf.equal(before, var.value)))
        if same and not bool(tf.reduce_any(tf.math.is_nan(_as_float64(before)))):
            result.skipped.append({"path": entry.path, "reason": f"{init.name} left it unchanged"})
        else:
            result.changed.append(entry.path)

    def set_value(self, entry: TensorEntry, value: Any, where: tuple[Any, ...] | None, mode: str) -> None:
        why = _not_writable(entry)
        if why:
            raise ActionError(f"cannot set {entry.path}: {why}")
        var = _tf_variable(entry.obj)
        label = entry.path + (format_index(where) if where is not None else "")
        try:
            old = var[where] if where is not None else var.read_value()
        except (IndexError, TypeError, ValueError, tf.errors.InvalidArgumentError) as e:
            raise ActionError(f"index {format_index(where or ())} does not fit {entry.path} of shape "
                              f"{tuple(var.shape)}: {_first_line(e)}") from e
        if callable(value):
            new = value(tf.identity(old))
            if not isinstance(new, (tf.Tensor, tf.Variable, keras.Variable, np.ndarray, int, float, bool)):
                raise ActionError(f"the function given for {label} returned a {type(new).__name__}; "
                                  "return a tensor or a number")
        else:
            new = value
        new_t = _numeric_tensor(new, label)
        if mode == "add":
            new_t = old + tf.cast(new_t, old.dtype)
        elif mode == "mul":
            new_t = old * tf.cast(new_t, old.dtype)
        try:
            shape = tf.broadcast_static_shape(new_t.shape, old.shape)
        except ValueError:
            shape = None
        if shape != old.shape:
            raise ActionError(f"value of shape {tuple(new_t.shape)} does not fit {label} of shape "
                              f"{tuple(old.shape)}")
        if not var.dtype.is_floating and new_t.dtype.is_floating and not bool(
                tf.reduce_all(tf.math.is_finite(new_t))):
            raise ActionError(f"{label} is {var.dtype.name}; NaN and Inf do not fit")
        new_t = tf.broadcast_to(tf.cast(new_t, var.dtype), old.shape)
        if where is None:
            var.assign(new_t)
        else:
            var[where].assign(new_t)

    def tie(self, index: ModelIndex, entry: TensorEntry, to: TensorEntry) -> None:
        layer = index.blocks[entry.owner].obj
        if any(v is to.obj for v, _ in _own_variables(layer)):
            raise ActionError(f"{to.path} is already a variable of the layer that holds {entry.path}; Keras "
                              "cannot tie two variables of one layer (its tracker would list one twice)")
        slot = _find_slot(layer, entry.obj)
        _BEFORE_TIE.setdefault((id(layer), entry.name), entry.obj)
        weakref.finalize(layer, _BEFORE_TIE.pop, (id(layer), entry.name), None)
        _bind(slot, to.obj)
        _remake_traced_functions(index.blocks[""].obj)

    def untie(self, index: ModelIndex, entry: TensorEntry) -> None:
        layer = index.blocks[entry.owner].obj
        shared = entry.obj
        slot = _find_slot(layer, shared)
        in_use = {id(e.obj) for e in index.tensors.values()}
        own = _BEFORE_TIE.get((id(layer), entry.name))
        if own is None or id(own) in in_use or own.shape != shared.shape or own.dtype != shared.dtype:
            own = _new_variable_like(shared, entry.name, index.blocks[entry.owner])
        own.assign(shared.value)
        own.trainable = shared.trainable
        _bind(slot, own)
        _remake_traced_functions(index.blocks[""].obj)

    def untie_block(self, index: ModelIndex, path: str) -> None:
        layer = index.blocks[path].obj
        parent = _parent_block(index, path)
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
        _remake_traced_functions(index.blocks[""].obj)

    def hook_steps(self, model: Any, index: ModelIndex, on_forward: Callable[[], None],
                   on_grads: Callable[[list[TensorEntry]], None]) -> Callable[[], None]:
        # A step is one training step: one model.fit batch, or, in a custom loop, one optimizer apply that
        # updates a variable of the model (values are read before the apply changes them).
        if getattr(model, "steps_per_execution", 1) > 1:
            raise ActionError(
                f"ps.watch cannot record a model compiled with steps_per_execution={model.steps_per_execution}: "
                "model.fit then runs several steps in one traced call, with no Python between them. Compile "
                "with steps_per_execution=1 to watch it")
        trainable = {id(e.obj): e for e in index.unique_params("")
                     if not isinstance(e.obj, _Pending) and e.meta.trainable}
        carried = [False]  # a fit call counted as a step that found no batch: the next step is that one

        def start() -> None:
            if carried[0]:
                carried[0] = False
                return
            on_forward()

        def end(variables: list[Any]) -> None:
            ready = [trainable[id(v)] for v in variables
                     if id(v) in trainable and keras_grads.latest(v) is not None]
            if ready:
                on_grads(ready)

        listener = keras_grads.listen([e.obj for e in trainable.values()], start, end)
        fit = _FitHook(model, listener, start, end, carried)
        return fit.remove

    def is_initializer(self, obj: Any) -> bool:
        if isinstance(obj, keras.initializers.Initializer):
            return True
        if isinstance(obj, (type, keras.layers.Layer, keras.Variable, tf.Variable, tf.Tensor, np.ndarray)):
            return False
        if inspect.isbuiltin(obj) or inspect.ismodule(obj) or not callable(obj):
            return False
        try:
            sig = inspect.signature(obj)
        except (TypeError, ValueError):
            return False
        positional = [p for p in sig.parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
        required = [p for p in positional if p.default is p.empty and p.kind != p.VAR_POSITIONAL]
        return bool(positional) and len(required) <= 2


class _FitHook:
    """Counts each model.fit step: wraps the model's train function (and make_train_function, which makes it
    anew) on the instance; `remove` puts both back."""

    def __init__(self, model: Any, listener: keras_grads.Listener, start: Callable[[], None],
                 end: Callable[[list[Any]], None], carried: list[bool]) -> None:
        self.model, self.listener, self.start, self.end, self.carried = model, listener, start, end, carried
        self.had_make = "make_train_function" in vars(model)
        self.own_make = vars(model).get("make_train_function")
        original_make = model.make_train_function

        def make_train_function(force: bool = False) -> Any:
            made = original_make(force=force)
            model.train_function = self.wrap(model.train_function)
            return model.train_function if made is not None else made

        setattr(model, "make_train_function", make_train_function)  # noqa: B010
        if getattr(model, "train_function", None) is not None:
            model.train_function = self.wrap(model.train_function)

    def wrap(self, function: Any) -> Any:
        if function is None or getattr(function, "__paramscope_fit_step__", None) is not None:
            return function
        model, listener = self.model, self.listener

        def train_function(iterator: Any) -> Any:
            if not listener.active or getattr(model, "steps_per_execution", 1) > 1:
                return function(iterator)
            self.start()
            listener.paused += 1
            try:
                logs = function(iterator)
            except BaseException:
                # No step ran (the end of an epoch of unknown length raises OutOfRangeError; the optimizer's
                # counter may move all the same): the next step takes the one counted here.
                self.carried[0] = True
                raise
            finally:
                listener.paused -= 1
            self.end(list(model.trainable_variables))
            return logs

        setattr(train_function, "__paramscope_fit_step__", function)  # noqa: B010
        return train_function

    def remove(self) -> None:
        keras_grads.stop(self.listener)
        model = self.model
        if self.had_make:
            setattr(model, "make_train_function", self.own_make)  # noqa: B010
        else:
            vars(model).pop("make_train_function", None)
        function = getattr(model, "train_function", None)
        while function is not None and getattr(function, "__paramscope_fit_step__", None) is not None:
            function = function.__paramscope_fit_step__
        if getattr(model, "train_function", None) is not None:
            model.train_function = function


# -- structure -----------------------------------------------------------------------------------------------

def _children(layer: Any, code: str = "") -> list[tuple[Any, str]]:
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


def _own_variables(layer: Any) -> list[tuple[Any, str]]:
    """(variable or placeholder, slot name) held directly by `layer`, in `layer.weights` order."""
    if not layer.built:
        specs = _pending_specs(layer)
        return [(_Pending(layer, name, shape, trainable), name) for name, shape, trainable in specs]
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


def _pending_specs(layer: Any) -> list[tuple[str, list[int | None], bool]]:
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


def _preorder(blocks: dict[str, BlockEntry]) -> list[str]:
    out = []
    stack = [""]
    while stack:
        path = stack.pop()
        out.append(path)
        stack.extend(reversed([c for c in blocks[path].children if c in blocks]))
    return out


def _meta(var: Any) -> TensorMeta:
    if isinstance(var, _Pending):
        return TensorMeta(shape=list(var.shape), dtype=_dtype_name(var.layer.variable_dtype), device=None,
                          trainable=var.trainable, state="unbuilt", numel=0, nbytes=0, has_grad=False)
    shape: list[int | None] = [int(d) for d in var.shape]
    numel = math.prod(d or 0 for d in shape)
    dtype = tf.as_dtype(var.dtype)
    return TensorMeta(
        shape=shape, dtype=dtype.name, device=_short_device(_tf_variable(var).device),
        trainable=bool(var.trainable), state="ready", numel=numel, nbytes=numel * dtype.size,
        has_grad=keras_grads.latest(var) is not None,
    )


def _short_device(device: str) -> str:
    """"/job:localhost/replica:0/task:0/device:GPU:0" -> "GPU:0", as `tf.device` accepts it."""
    spec = tf.DeviceSpec.from_string(device)
    if spec.device_type is None:
        return device
    return f"{spec.device_type}:{spec.device_index or 0}"


def _dtype_name(dtype: Any) -> str:
    return tf.as_dtype(dtype).name


def _tf_variable(var: Any) -> Any:
    return keras_grads._tf_variable(var)


def _device_of(tensor: Any) -> str:
    return str(getattr(tensor, "device", "") or "")


# -- layers called at several places --------------------------------------------------------------------------

def _parent_block(index: ModelIndex, path: str) -> BlockEntry | None:
    for block in index.blocks.values():
        if path in block.children:
            return block
    return None


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
        raise ActionError(f"Keras could not re-create {type(layer).__name__} from its config: {_first_line(e)}") \
            from e
    old, new = layer.weights, clone.weights if clone.built else []
    if not clone.built or [tuple(v.shape) for v in old] != [tuple(v.shape) for v in new]:
        raise ActionError(
            f"the copy of {type(layer).__name__} made from its config and build config does not have the "
            "layer's variables (its build needs the call's inputs): give that call its own layer in your code"
        )
    for src, dst in zip(old, new, strict=True):
        dst.assign(src.value)
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
                _put_list(layer._outbound_nodes, [n for n in layer._outbound_nodes if n is not down])
    nodes, nodes_by_depth, operations, operations_by_depth = map_graph(model._inputs, model._outputs)
    # In place: the model keeps its own set, dicts and lists (no stale list of nodes is left holding them).
    model._nodes.clear()
    model._nodes.update(nodes)
    _put_list(model._operations, operations)
    for old, new in ((model._nodes_by_depth, nodes_by_depth), (model._operations_by_depth, operations_by_depth)):
        for d in list(old):
            if d not in new:
                _put_list(old.pop(d), ())
        for d, items in new.items():
            if d in old:
                _put_list(old[d], items)
            else:
                old[d] = items
    # Tracked right after the layer, so `model.weights` (and get_weights) follow the order of `model.layers`.
    tracker = model._tracker
    tracked = list(tracker.config["layers"][1])
    at = next((i + 1 for i, other in enumerate(tracked) if other is layer), len(tracked))
    _put_list(tracker.config["layers"][1], [*tracked[:at], clone, *tracked[at:]])
    tracker.stored_ids["layers"].add(id(clone))


def _put_list(store: Any, items: Any) -> None:
    """`store[:] = items`; a TensorFlow ListWrapper is changed underneath, so it is not marked as mutated in a
    non-append way (which would stop tf.train.Checkpoint from saving it)."""
    inner = getattr(store, "_storage", None)
    if isinstance(inner, list) and hasattr(store, "_update_snapshot"):
        inner[:] = items
        store._update_snapshot()
    else:
        store[:] = items


def _built_optimizers(root: Any) -> list[Any]:
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
    for optimizer in _built_optimizers(root):
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
                if not isinstance(slot, (keras.Variable, tf.Variable)):
                    store.append(slot)
                    continue
                prefix = old.path.replace("/", "_") + "_"
                suffix = slot.name[len(prefix):] if slot.name.startswith(prefix) else slot.name
                copy = optimizer.add_variable(shape=slot.shape, dtype=slot.dtype,
                                              name=f"{new.path.replace('/', '_')}_{suffix}")
                copy.assign(slot.value)
                store.append(copy)


# -- slots ---------------------------------------------------------------------------------------------------

def _find_slot(layer: Any, var: Any) -> _Slot:
    """The attributes and list positions of `layer` (its tracker lists among them) that hold `var`."""
    attrs: list[str] = []
    lists: list[tuple[list[Any], int]] = []
    for name, value in vars(layer).items():
        if value is var:
            attrs.append(name)
        elif isinstance(value, list):
            lists.extend((value, i) for i, v in enumerate(value) if v is var)
    return _Slot(layer, attrs, lists, var)


def _slot_of(layer: Any, attrs: list[str], lists: list[tuple[list[Any], int]]) -> Any:
    if lists:
        store, i = lists[0]
        return store[i]
    return vars(layer)[attrs[0]] if attrs else None


def _bind(slot: _Slot, var: Any) -> None:
    """Put `var` into every attribute and list position of `slot`, keeping the tracker's id sets right."""
    layer = slot.layer
    old = _slot_of(layer, slot.attrs, slot.lists)
    with DotNotTrackScope():
        for name in slot.attrs:
            setattr(layer, name, var)
    for store, i in slot.lists:
        store[i] = var
    tracker = layer._tracker
    for store_name, (_, store) in tracker.config.items():
        ids = tracker.stored_ids[store_name]
        if old is not None and not any(v is old for v in store):
            ids.discard(id(old))
        if any(v is var for v in store):
            ids.add(id(var))


def _new_variable_like(var: Any, name: str, owner: BlockEntry) -> Any:
    """A new variable with `var`'s dtype, trainability, constraint and regularizer, at `owner`'s path."""
    parts = owner.obj.path.split("/") if owner.obj.path else []
    scope: Any = contextlib.nullcontext()
    if parts:
        scope = keras.name_scope(parts[-1], override_parent="/".join(parts[:-1]))
    with scope:
        new = keras.Variable(initializer=var.value, shape=var.shape, dtype=var.dtype, trainable=var.trainable,
                             autocast=var._autocast, aggregation=var.aggregation, name=name)
    new.constraint = var.constraint
    new.regularizer = var.regularizer
    return new


def _remake_traced_functions(model: Any) -> None:
    """A traced train/test/predict function captured the old variables: make it anew (Keras' own advice)."""
    for attr, make in _TRACED_FUNCTIONS:
        if getattr(model, attr, None) is not None:
            getattr(model, make)(force=True)


def _retrace_unrecorded(model: Any) -> None:
    """A model.fit traced before paramscope loaded records no gradients: re-make its train function once."""
    if getattr(model, "train_function", None) is None or model in _RETRACED:
        return
    _RETRACED.add(model)
    if not any(keras_grads.has_traced_record(v) for v in model.trainable_variables):
        model.make_train_function(force=True)


# -- values --------------------------------------------------------------------------------------------------

def _not_writable(entry: TensorEntry) -> str | None:
    if isinstance(entry.obj, _Pending):
        return ("the layer is not built yet (its input size is known only after the first forward pass): run "
                "net(X) once, or net.build(input_shape), first")
    return None


def _readable(entry: TensorEntry, grad: bool) -> Any:
    why = _not_writable(entry)
    if why:
        raise Unavailable(f"no values: {why}")
    var = entry.obj
    if not grad:
        return _tf_variable(var)
    if not var.trainable:
        raise Unavailable(f"{entry.path} is not trainable, so no gradient is computed for it")
    recorded = keras_grads.latest(var)
    if recorded is None:
        raise Unavailable(
            "no gradient recorded yet: paramscope records the gradients a Keras optimizer applies. Run a "
            "training step: net.fit(...), or in your own loop `grads = tape.gradient(loss, "
            "net.trainable_variables)` then `optimizer.apply_gradients(zip(grads, "
            "net.trainable_variables))`. A tf.function step traced before paramscope was loaded records "
            "nothing: re-create it"
        )
    return recorded


def _as_float64(x: Any) -> tf.Tensor:
    x = tf.convert_to_tensor(x)
    if x.dtype.is_complex:
        x = tf.abs(x)
    return tf.cast(x, tf.float64)


def _numeric_tensor(value: Any, label: str) -> tf.Tensor:
    if isinstance(value, (tf.Tensor, tf.Variable, keras.Variable)):
        tensor = tf.convert_to_tensor(value)
        if tensor.dtype.is_numeric or tensor.dtype.is_bool:
            return tensor
    else:
        try:
            array = np.asarray(value)
        except (TypeError, ValueError):
            array = None
        if array is not None and array.dtype.kind in "biuf":
            return tf.convert_to_tensor(array)
    raise ActionError(f"cannot use {value!r} as a value for {label}: give a number or a (nested) list / "
                      "array of numbers")


def _assign(var: Any, values: Any, path: str, name: str) -> None:
    tensor = _numeric_tensor(values, path) if not isinstance(values, tf.Tensor) else values
    if tuple(tensor.shape) != tuple(var.shape):
        raise ActionError(f"{name}({path}) returned shape {tuple(tensor.shape)} but {path} has shape "
                          f"{tuple(var.shape)}; an initializer must return the variable's shape")
    var.assign(tf.cast(tensor, var.dtype))


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "message", None) or error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


# -- initializers --------------------------------------------------------------------------------------------

def _catalogue(name: str, args: dict[str, float]) -> Any:
    init = keras.initializers
    match name:
        case "zeros":
            return init.Zeros()
        case "ones":
            return init.Ones()
        case "constant":
            return init.Constant(args["value"])
        case "normal":
            return init.RandomNormal(mean=args["mean"], stddev=args["std"], seed=0)
        case "uniform":
            return init.RandomUniform(minval=args["low"], maxval=args["high"], seed=0)
        case "xavier_uniform":  # GlorotUniform scaled by gain**2, as torch's gain scales the std
            return init.VarianceScaling(args["gain"] ** 2, "fan_avg", "uniform", seed=0)
        case "xavier_normal":  # GlorotNormal (truncated normal, as Keras draws it)
            return init.VarianceScaling(args["gain"] ** 2, "fan_avg", "truncated_normal", seed=0)
        case "kaiming_uniform":  # HeUniform with the leaky-ReLU slope a
            return init.VarianceScaling(2.0 / (1 + args["a"] ** 2), "fan_in", "uniform", seed=0)
        case "kaiming_normal":  # HeNormal with the leaky-ReLU slope a
            return init.VarianceScaling(2.0 / (1 + args["a"] ** 2), "fan_in", "truncated_normal", seed=0)
        case "orthogonal":
            return init.Orthogonal(gain=args["gain"], seed=0)
    raise ActionError(f"unknown initializer {name!r}")


def _catalogue_refusal(entry: TensorEntry, name: str) -> str | None:
    var = entry.obj
    if name in NEEDS_MATRIX and len(var.shape) < 2:
        return (f"{name} needs a tensor with at least 2 dimensions (fan-in and fan-out); it has shape "
                f"{tuple(var.shape)}")
    if name not in ("zeros", "ones", "constant") and not tf.as_dtype(var.dtype).is_floating:
        return (f"{name} draws real numbers and {entry.path} is {var.dtype}; use zeros, ones, constant or "
                "set_value")
    return None


def _default_initializer(layer: Any, name: str) -> tuple[Any, str | None]:
    for attr in (_INITIALIZER_ATTRS.get(name), f"{name}_initializer"):
        found = getattr(layer, attr, None) if attr else None
        if found is not None:
            return found, None
    return None, (f"{type(layer).__name__} has no {name}_initializer, so paramscope knows no default "
                  "initializer for it; pick one")


def _reseeded(initializer: Any, seed: int) -> Any:
    """A Keras initializer with a seed in its config, cloned with `seed`; anything else as it is."""
    if not isinstance(initializer, keras.initializers.Initializer):
        return initializer
    try:
        config = initializer.get_config()
        if "seed" not in config:
            return initializer
        return type(initializer).from_config({**config, "seed": seed})
    except (NotImplementedError, TypeError, ValueError):
        return initializer


def _call_initializer(initializer: Any, var: Any) -> Any:
    """Call as Keras does, `initializer(shape, dtype=...)`; a plain `fn(shape)` gets the shape alone."""
    shape = tuple(int(d) for d in var.shape)
    try:
        params = list(inspect.signature(initializer).parameters.values())
    except (TypeError, ValueError):
        params = []
    if len(params) == 1 and params[0].kind in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        return initializer(shape)
    return initializer(shape, dtype=var.dtype)


@contextlib.contextmanager
def _seeded_globals(seed: int | None) -> Iterator[None]:
    """Set numpy's, Python's, TF's and Keras' global generators from `seed`; put every one back after."""
    if seed is None:
        yield
        return
    ctx = tf_context.context()
    np_state = np.random.get_state()
    py_state = random.getstate()
    tf_seed, tf_rng = ctx._seed, getattr(ctx, "_rng", None)
    tf_generator = stateful_random_ops.global_generator
    keras_generator = global_state.get_global_attribute("global_seed_generator")
    try:
        np.random.seed(seed)
        random.seed(seed)
        tf.random.set_seed(seed)
        stateful_random_ops.global_generator = tf.random.Generator.from_seed(seed)
        global_state.set_global_attribute("global_seed_generator", keras.random.SeedGenerator(seed))
        yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
        ctx._seed = tf_seed
        if tf_rng is None:
            if hasattr(ctx, "_rng"):
                del ctx._rng
        else:
            ctx._rng = tf_rng
        stateful_random_ops.global_generator = tf_generator
        global_state.set_global_attribute("global_seed_generator", keras_generator)


ADAPTER = KerasAdapter()
