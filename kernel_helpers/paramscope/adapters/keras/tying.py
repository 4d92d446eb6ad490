"""Tying and untying Keras variables: rebinding a layer's attribute and tracker slots to another variable."""

from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass
from typing import Any

import keras
from keras.src.utils.tracking import DotNotTrackScope

from ..._errors import ActionError
from ...tree import BlockEntry, ModelIndex, TensorEntry
from .backend import BACKEND
from .paths import own_variables

# Trainer functions that capture variables when traced; re-made after a tie or untie.
_TRACED_FUNCTIONS = (("train_function", "make_train_function"), ("test_function", "make_test_function"),
                     ("predict_function", "make_predict_function"))
# (id(layer), slot name) -> the variable a slot had before it was tied; untie gives it back.
_BEFORE_TIE: dict[tuple[int, str], Any] = {}


@dataclass
class Slot:
    """Where one use of a variable sits in its layer: attribute names and tracker-list positions."""

    layer: Any
    attrs: list[str]
    lists: list[tuple[list[Any], int]]
    var: Any


def tie(index: ModelIndex, entry: TensorEntry, to: TensorEntry) -> None:
    refuse_under_a_stateless_optimizer(index.blocks[""].obj, "tie")
    layer = index.blocks[entry.owner].obj
    if any(v is to.obj for v, _ in own_variables(layer)):
        raise ActionError(f"{to.path} is already a variable of the layer that holds {entry.path}; Keras "
                          "cannot tie two variables of one layer (its tracker would list one twice)")
    slot = find_slot(layer, entry.obj)
    _BEFORE_TIE.setdefault((id(layer), entry.name), entry.obj)
    weakref.finalize(layer, _BEFORE_TIE.pop, (id(layer), entry.name), None)
    bind(slot, to.obj)
    remake_traced_functions(index.blocks[""].obj)


def untie(index: ModelIndex, entry: TensorEntry) -> None:
    refuse_under_a_stateless_optimizer(index.blocks[""].obj, "untie")
    layer = index.blocks[entry.owner].obj
    shared = entry.obj
    slot = find_slot(layer, shared)
    in_use = {id(e.obj) for e in index.tensors.values()}
    own = _BEFORE_TIE.get((id(layer), entry.name))
    if own is None or id(own) in in_use or own.shape != shared.shape or own.dtype != shared.dtype:
        own = _new_variable_like(shared, entry.name, index.blocks[entry.owner])
    own.assign(keras.ops.copy(shared.value))  # a buffer of its own (JAX's fit donates each variable's)
    own.trainable = shared.trainable
    bind(slot, own)
    remake_traced_functions(index.blocks[""].obj)


def refuse_under_a_stateless_optimizer(model: Any, action: str) -> None:
    """JAX's optimizer steps are stateless, one value per variable it was built with, in that order: a model
    whose variables change under its built optimizer could not be trained by it any more."""
    optimizer = getattr(model, "optimizer", None)
    if BACKEND.stateless_optimizer and optimizer is not None and getattr(optimizer, "built", False):
        raise ActionError(
            f"cannot {action} in a model whose optimizer is built, on the JAX backend: Keras on JAX applies "
            "the optimizer statelessly, to exactly the variables it was built with, so model.fit would fail. "
            f"{action.capitalize()} before the first fit, or compile again afterwards (net.compile(optimizer=...)"
            " makes a new optimizer)")


def find_slot(layer: Any, var: Any) -> Slot:
    """The attributes and list positions of `layer` (its tracker lists among them) that hold `var`."""
    attrs: list[str] = []
    lists: list[tuple[list[Any], int]] = []
    for name, value in vars(layer).items():
        if value is var:
            attrs.append(name)
        elif isinstance(value, list):
            lists.extend((value, i) for i, v in enumerate(value) if v is var)
    return Slot(layer, attrs, lists, var)


def slot_of(layer: Any, attrs: list[str], lists: list[tuple[list[Any], int]]) -> Any:
    if lists:
        store, i = lists[0]
        return store[i]
    return vars(layer)[attrs[0]] if attrs else None


def bind(slot: Slot, var: Any) -> None:
    """Put `var` into every attribute and list position of `slot`, keeping the tracker's id sets right."""
    layer = slot.layer
    old = slot_of(layer, slot.attrs, slot.lists)
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
        # A copy: given the variable's own value, a TensorFlow-backed Variable shares its storage.
        new = keras.Variable(initializer=keras.ops.copy(var.value), shape=var.shape, dtype=var.dtype,
                             trainable=var.trainable, autocast=var._autocast, aggregation=var.aggregation, name=name)
    new.constraint = var.constraint
    new.regularizer = var.regularizer
    return new


def remake_traced_functions(model: Any) -> None:
    """A traced train/test/predict function captured the old variables: make it anew (Keras' own advice)."""
    for attr, make in _TRACED_FUNCTIONS:
        if getattr(model, attr, None) is not None:
            getattr(model, make)(force=True)
