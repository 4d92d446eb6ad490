"""Snapshots of a model's parameter and buffer values on the host, and per-tensor change since: "what moved?".

A snapshot copies the values of the unique parameters and buffers (a tied one once; buffers such as BatchNorm's
running statistics move in training too) to host numpy arrays, up to `LIMIT_BYTES` in all: past it, `take`
refuses and says how to ask for less (a sub-block, or a higher limit). It holds the model weakly; the latest
snapshot of each model lives in a weak-keyed table, so it is freed with the model.
"""

from __future__ import annotations

import math
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from . import actions
from ._errors import ActionError
from .adapters import Unavailable
from .snapshots import weak
from .tree import ModelIndex, TensorEntry

LIMIT_BYTES = 512 * 2**20  # host copies a snapshot may hold (all its parameters together), by default
MAX_LIMIT_BYTES = 64 * 2**30
_CHUNK = 1 << 20  # elements compared at a time (float64 temporaries of 8 MiB)

_LATEST: weakref.WeakKeyDictionary[Any, Snapshot] = weakref.WeakKeyDictionary()


@dataclass
class _Saved:
    values: Any  # numpy array, or None when unreadable
    shape: tuple[int, ...] | None
    dtype: str | None
    obj_id: int
    reason: str | None = None
    kind: str = "param"


@dataclass
class Snapshot:
    """Host copies of the values of a model's unique parameters and buffers under `path`, taken at `taken_at`."""

    path: str
    taken_at: float
    saved: dict[str, _Saved] = field(default_factory=dict)  # by the first-use path of each tensor
    nbytes: int = 0
    _model: Any = None  # weak reference

    @property
    def model(self) -> Any:
        """The model, or None once it is gone (the snapshot never keeps it alive)."""
        return self._model() if self._model is not None else None

    def describe(self) -> dict[str, Any]:
        buffers = sum(s.kind == "buffer" for s in self.saved.values())
        return {"path": self.path, "taken_at": self.taken_at, "params": len(self.saved) - buffers,
                "buffers": buffers, "nbytes": self.nbytes}


def take(model: Any, index: ModelIndex, path: str = "", limit_bytes: int = LIMIT_BYTES) -> Snapshot:
    """Copy the values of the unique parameters and buffers under `path`; refuses (ActionError, nothing kept) past
    the limit."""
    if not 0 < limit_bytes <= MAX_LIMIT_BYTES:
        raise ActionError(f"limit_bytes is 1 … {MAX_LIMIT_BYTES:,}")
    adapter = actions.require_adapter(model)
    entries = _unique(index, path)
    total = sum(e.meta.nbytes for e in entries)
    if total > limit_bytes:
        raise ActionError(f"the parameters and buffers under {path or 'the model'!r} hold {total / 2**20:,.1f} MiB, "
                          f"over the snapshot limit of {limit_bytes / 2**20:,.1f} MiB: snapshot a sub-block (path) or "
                          "raise limit_bytes")
    snap = Snapshot(path=path, taken_at=time.time(), _model=weak(model))
    for entry in entries:
        try:
            values = adapter.host_copy(entry)
        except Unavailable as e:
            snap.saved[entry.path] = _Saved(None, None, None, id(entry.obj), str(e), entry.kind)
            continue
        snap.saved[entry.path] = _Saved(values, tuple(values.shape), str(values.dtype), id(entry.obj), None,
                                        entry.kind)
        snap.nbytes += values.nbytes
    _LATEST[model] = snap
    return snap


def _unique(index: ModelIndex, path: str) -> list[TensorEntry]:
    """Parameters and buffers under `path` (block or tensor), each tied object once, in model order."""
    entries = [index.tensors[path]] if path in index.tensors else index.subtree_tensors(path)
    seen: set[int] = set()
    out = []
    for entry in entries:
        if id(entry.obj) not in seen:
            seen.add(id(entry.obj))
            out.append(entry)
    return out


def latest(model: Any) -> Snapshot | None:
    return _LATEST.get(model)


def clear(model: Any) -> bool:
    """Forget the model's latest snapshot; whether there was one."""
    return _LATEST.pop(model, None) is not None


def compare(model: Any, index: ModelIndex, snap: Snapshot | None = None, limit: int = 200) -> dict[str, Any]:
    """Change of each snapshotted parameter and buffer since `snap` (default: the model's latest), and of each
    block above.

    `params`, `buffers` and `blocks` are the `limit` largest relative changes (‖Δw‖/‖w‖ of the snapshot's values);
    a block's numbers add up its parameters, and it counts its buffers that changed apart."""
    snap = _check(model, snap)
    adapter = actions.require_adapter(model)
    rows = _rows(adapter, index, snap)
    params = [r for r in rows if r["kind"] == "param"]
    buffers = [r for r in rows if r["kind"] == "buffer"]
    blocks = _blocks(index, rows)
    params.sort(key=_order)
    buffers.sort(key=_order)
    ordered = sorted(blocks.values(), key=_order)
    delta2 = sum(r["delta_norm"] ** 2 for r in params if r["delta_norm"] is not None)
    norm2 = sum(r["norm"] ** 2 for r in params if r["norm"] is not None)
    return {
        "snapshot": snap.describe(),
        "totals": {"params": len(params), "changed": sum(r["status"] == "changed" for r in params),
                   "delta_norm": math.sqrt(delta2), "norm": math.sqrt(norm2),
                   "rel": math.sqrt(delta2 / norm2) if norm2 else None, "buffers": len(buffers),
                   "changed_buffers": sum(r["status"] == "changed" for r in buffers)},
        "params": params[:limit], "buffers": buffers[:limit], "blocks": ordered[:limit],
        "total_params": len(params), "total_buffers": len(buffers), "total_blocks": len(ordered),
        "truncated": len(params) > limit or len(buffers) > limit or len(ordered) > limit,
        "framework": index.framework,
    }


def deltas(model: Any, index: ModelIndex, paths: set[str]) -> dict[str, tuple[float, float]]:
    """(‖Δw‖², ‖w‖²) since the model's latest snapshot of each parameter in `paths` that it holds and that can be
    compared (same shape and dtype, readable); ActionError when there is no snapshot."""
    snap = _check(model, None)
    adapter = actions.require_adapter(model)
    out = {}
    for row in _rows(adapter, index, snap, paths):
        if row["kind"] == "param" and row["delta_norm"] is not None:
            out[row["path"]] = (row["delta_norm"] ** 2, row["norm"] ** 2)
    return out


def _check(model: Any, snap: Snapshot | None) -> Snapshot:
    snap = snap if snap is not None else latest(model)
    if snap is None:
        raise ActionError("no snapshot of this model: take one first (ps.snapshot(model) or the Compare button)")
    if snap.model is not model:
        raise ActionError("this snapshot is of another model")
    return snap


def _rows(adapter: Any, index: ModelIndex, snap: Snapshot, paths: set[str] | None = None) -> list[dict[str, Any]]:
    """One change row per saved tensor (only those now at `paths`, when given)."""
    now = {id(e.obj): e for e in _unique(index, "")}
    by_path = {e.path: e for e in now.values()}
    rows = []
    for path, saved in snap.saved.items():
        entry = by_path.get(path) or now.get(saved.obj_id)
        if paths is not None and (entry is None or entry.path not in paths):
            continue
        rows.append({**_row(adapter, path, saved, entry), "kind": saved.kind})
    return rows


def _order(row: dict[str, Any]) -> tuple[int, float]:
    rel = row.get("rel")
    return (0 if row.get("status", "changed") not in ("same", "changed") else 1 if rel is not None else 2,
            -(rel or row.get("delta_norm") or 0.0))


def _row(adapter: Any, path: str, saved: _Saved, entry: TensorEntry | None) -> dict[str, Any]:
    row: dict[str, Any] = {"path": path, "numel": 0, "delta_norm": None, "max_abs": None, "changed": None,
                           "norm": None, "rel": None}
    if entry is None:
        return {**row, "status": "gone", "reason": "no longer in the model"}
    row["path"] = entry.path
    if saved.values is None:
        return {**row, "status": "unreadable", "reason": saved.reason}
    try:
        values = adapter.host_copy(entry)
    except Unavailable as e:
        return {**row, "status": "unreadable", "reason": str(e)}
    if tuple(values.shape) != saved.shape:
        return {**row, "status": "shape", "reason": f"shape {list(saved.shape or ())} → {list(values.shape)}"}
    if str(values.dtype) != saved.dtype:
        return {**row, "status": "dtype", "reason": f"dtype {saved.dtype} → {values.dtype}"}
    delta2, norm2, top, changed = _diff(saved.values, values)
    numel = int(values.size)
    totals = getattr(adapter, "change_totals", None)  # optional: a sharded tensor's shards added up
    if totals is not None:
        delta2, norm2, top, changed, numel = totals(entry, (delta2, norm2, top, changed, numel))
    rel = math.sqrt(delta2 / norm2) if norm2 else None
    return {**row, "numel": numel, "delta_norm": math.sqrt(delta2), "max_abs": top,
            "changed": changed / numel if numel else 0.0, "norm": math.sqrt(norm2), "rel": rel,
            "status": "changed" if changed else "same"}


def _diff(old: Any, new: Any) -> tuple[float, float, float, int]:
    """(‖Δ‖², ‖old‖², max|Δ|, changed elements), a chunk at a time, in float32 for float32 and narrower floats
    (sums of squares accumulated per chunk by BLAS, then in float64) and float64 otherwise; NaN in both places,
    or the same Inf, is no change; a change to or from NaN/Inf makes max|Δ| infinite and adds nothing to the
    norms."""
    import numpy as np

    work = np.float32 if old.dtype.kind == "f" and old.dtype.itemsize <= 4 else np.float64
    a, b = old.reshape(-1), new.reshape(-1)
    delta2 = norm2 = top = 0.0
    changed = 0
    with np.errstate(invalid="ignore", over="ignore"):
        for start in range(0, a.size, _CHUNK):
            x = a[start : start + _CHUNK].astype(work, copy=False)
            y = b[start : start + _CHUNK].astype(work, copy=False)
            d = y - x
            if d.size and not np.isfinite(d).all():  # NaN/Inf in either (a finite Δ means both are finite)
                d = np.where((x == y) | (np.isnan(x) & np.isnan(y)), 0, d)  # the same Inf, or NaN, stays
                top = top if np.isfinite(d).all() else math.inf
                changed += int(np.count_nonzero(d))
                d = np.where(np.isfinite(d), d, 0)
                x = np.where(np.isfinite(x), x, 0)
            else:
                changed += int(np.count_nonzero(d))
            if d.size:
                delta2 += float(np.dot(d, d))
                norm2 += float(np.dot(x, x))
                top = max(top, float(d.max()), -float(d.min()))
    return delta2, norm2, top, changed


def _blocks(index: ModelIndex, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each block above a compared tensor: its parameters' changes added up (‖Δ‖ and ‖w‖ as root sums), and its
    buffers that changed counted apart (running statistics are not weights: they stay out of the norms)."""
    parent: dict[str, str] = {}
    for path, block in index.blocks.items():
        for child in block.children:
            parent.setdefault(child, path)
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        node = parent.get(row["path"])
        while node is not None:
            acc = out.setdefault(node, {"path": node, "params": 0, "changed_params": 0, "numel": 0, "changed_numel": 0,
                                        "delta2": 0.0, "norm2": 0.0, "max_abs": 0.0, "moved": 0, "buffers": 0,
                                        "changed_buffers": 0})
            if row["kind"] == "buffer":
                acc["buffers"] += 1
                acc["changed_buffers"] += row["status"] == "changed"
                node = parent.get(node) if node else None
                continue
            acc["params"] += 1
            if row["delta_norm"] is not None:
                acc["numel"] += row["numel"]
                acc["changed_numel"] += round(row["changed"] * row["numel"])
                acc["delta2"] += row["delta_norm"] ** 2
                acc["norm2"] += row["norm"] ** 2
                acc["max_abs"] = max(acc["max_abs"], row["max_abs"])
            acc["changed_params"] += row["status"] == "changed"
            acc["moved"] += row["status"] in ("shape", "dtype", "gone")
            node = parent.get(node) if node else None
    for acc in out.values():
        delta2, norm2 = acc.pop("delta2"), acc.pop("norm2")
        acc["delta_norm"] = math.sqrt(delta2)
        acc["norm"] = math.sqrt(norm2)
        acc["rel"] = math.sqrt(delta2 / norm2) if norm2 else None
        acc["changed"] = acc.pop("changed_numel") / acc["numel"] if acc["numel"] else 0.0
    return out
