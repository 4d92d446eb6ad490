"""What views ask after every cell, cached per model revision and structure key: the `models` listing's summary
of each model and the tensor table that fingerprints are read from.

Front ends list the models and check the rows in sight after every cell, so both must stay cheap with big
models in the namespace: indexing a 10,000-module model takes ~0.2 s, its structure key (the ids of every block
and tensor, see the adapters' `structure_key`) ~10 ms. The cache holds no reference to a model or its blocks:
an entry is found by id and checked with a weak reference (and dropped when the model goes); it keeps the
summary (JSON primitives) and the tensor entries, whose objects are the tensors themselves."""

from __future__ import annotations

import weakref
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from . import actions, tree
from .adapters import Adapter, adapter_for


@dataclass
class _Entry:
    ref: Any  # weakref.ref to the model
    revision: int
    key: Hashable
    summary: dict[str, Any] | None = None  # without "name": one model may be listed under two names
    tensors: tuple[dict[str, tree.TensorEntry], dict[str, str]] | None = None  # (path -> entry, alt names)


_CACHE: dict[int, _Entry] = {}


def summary(name: str, model: Any) -> dict[str, Any]:
    """Type, unique parameter count, bytes, device, dtype, state and revision of `model`, listed as `name`."""
    adapter = adapter_for(model)
    assert adapter is not None
    entry = _current(adapter, model)
    if entry is not None and entry.summary is not None:
        return {"name": name, **entry.summary}
    node = tree.build(adapter.index(model, name), "", 0)
    body = {"framework": adapter.framework, "type": node.type, "n_params": node.n_params,
            "n_buffers": node.n_buffers, "nbytes": node.nbytes,
            "device": node.device, "dtype": node.dtype, "state": node.state, "revision": actions.revision(model)}
    if entry is not None:
        entry.summary = body
    return {"name": name, **body}


def tensors(adapter: Adapter, model: Any, root: str) -> tuple[dict[str, tree.TensorEntry], dict[str, str]]:
    """The model's tensor uses by path and its alternative names (as in its index), without re-indexing a model
    whose structure did not change. The entries' metadata may be old: read the objects themselves."""
    entry = _current(adapter, model)
    if entry is not None and entry.tensors is not None:
        return entry.tensors
    index = adapter.index(model, root)
    table = (index.tensors, index.alt_names)
    if entry is not None:
        entry.tensors = table
    return table


def _current(adapter: Adapter, model: Any) -> _Entry | None:
    """The cache entry for the model as it is now (a fresh one when its revision or structure moved on); None
    when its framework has no structure key or it cannot be weakly referenced."""
    structure_key = getattr(adapter, "structure_key", None)
    if structure_key is None:
        return None
    key = structure_key(model)
    revision = actions.revision(model)
    model_id = id(model)
    entry = _CACHE.get(model_id)
    if entry is not None and entry.ref() is model and entry.revision == revision and entry.key == key:
        return entry

    def forget(dead: Any) -> None:
        current = _CACHE.get(model_id)
        if current is not None and current.ref is dead:
            del _CACHE[model_id]

    try:
        ref = weakref.ref(model, forget)
    except TypeError:  # not weak-referenceable: not cached (its id could be reused by another object)
        return None
    entry = _CACHE[model_id] = _Entry(ref, revision, key)
    return entry
