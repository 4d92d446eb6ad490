"""Undo records: cells that save one piece of model state, tell whether an action changed it, check that it is
still what the action left, and put it back.

A `Record` is what every adapter's `snapshot()` returns. Its life: saved before an action; `seal()` after the
action succeeded (drops the cells the action did not change, refuses dtype/shape/device moves, records the
state the action left); `conflicts()` before an undo (what the user changed since); `restore()`. An action
that fails calls `restore()` on the unsealed record, which puts every saved cell back.

Nothing here keeps a model alive: the model, the blocks and the live tensors are held through weak
references; only the saved copies, and the objects an action displaced from the model (a parameter replaced
by `tie`), are held strongly.
"""

from __future__ import annotations

import weakref
import zlib
from collections.abc import Callable
from typing import Any

from ._errors import ActionError
from .tree import ModelIndex

Ref = Callable[[], Any]


def weak(obj: Any) -> Ref:
    """A weak reference to `obj`, or a strong one for the rare object that cannot be weakly referenced."""
    if obj is None:
        return lambda: None
    try:
        return weakref.ref(obj)
    except TypeError:
        return lambda: obj


def digest(data: Any) -> str:
    """Digest of a C-contiguous buffer (bytes, or a numpy array): its CRC-32 and length. One pass at memory
    speed; a change it misses has odds of 2**-32."""
    view = memoryview(data).cast("B")
    return f"{zlib.crc32(view):08x}:{view.nbytes}"


def same_bytes(a: Any, b: Any) -> bool:
    """Whether two C-contiguous buffers hold the same bytes (NaN payloads included), compared 8 at a time."""
    import numpy as np  # every adapter's framework has it; `import paramscope` stays without it

    x, y = (np.frombuffer(memoryview(v).cast("B"), np.uint8) for v in (a, b))
    if x.size != y.size:
        return False
    n = x.size - x.size % 8
    return bool(np.array_equal(x[:n].view(np.uint64), y[:n].view(np.uint64)) and np.array_equal(x[n:], y[n:]))


class Cell:
    """One piece of state: a tensor's values, its gradient, or which object a slot binds.

    `paths` are the tensor or block paths the cell is about (the first one is reported in `changed`)."""

    order = 2  # restore order: slots of blocks (0), slots of tensors (1), values (2), gradients (3)

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        self.nbytes = 0

    def changed(self) -> bool:
        """Whether the action changed it (called once, right after the action)."""
        raise NotImplementedError

    def moved(self) -> str | None:
        """Why the action's change is refused: a dtype, shape or device that is not the saved one."""
        return None

    def seal(self) -> None:
        """Record the state the action left, for `conflict()`."""
        raise NotImplementedError

    def conflict(self) -> str | None:
        """What differs now from the state the action left (None when nothing does)."""
        raise NotImplementedError

    def restore(self, force: bool) -> str | None:
        """Put the saved state back. After `seal()` with `force`, a part that cannot be put back is left as
        it is and the reason returned."""
        raise NotImplementedError


class Record:
    """The `Snapshot` of every adapter: cells plus which object sits at each path once the action is done."""

    def __init__(self, adapter: Any, model: Any, cells: list[Cell]) -> None:
        self._adapter = adapter
        self._model = weak(model)
        self.cells = sorted(cells, key=lambda c: c.order)
        self.nbytes = sum(c.nbytes for c in cells)
        self.sealed = False
        self._at: dict[str, Ref | None] = {}  # path -> the object the action left there (None: no such path)

    def seal(self) -> list[str]:
        """Keep the cells the action changed; return their paths in model order (ActionError for a move)."""
        kept = [c for c in self.cells if c.changed()]
        moved = [why for c in kept if (why := c.moved())]
        if moved:
            raise ActionError("; ".join(moved))
        for cell in kept:
            cell.seal()
        self.cells = kept
        self.nbytes = sum(c.nbytes for c in kept)
        self.sealed = True
        model = self._model()
        index = self._adapter.index(model) if model is not None else None
        paths = list(dict.fromkeys(p for c in kept for p in c.paths))
        for path in paths:
            obj = _at(index, path) if index is not None else None
            self._at[path] = None if obj is None else weak(obj)
        order = _positions(index) if index is not None else {}
        changed = list(dict.fromkeys(c.paths[0] for c in kept if c.paths))
        return sorted(changed, key=lambda p: order.get(p, len(order)))

    def conflicts(self) -> list[str]:
        """What the user changed since the action, one phrase each: what undo would overwrite or lose."""
        model = self._model()
        if model is None:
            return ["the model is gone"]
        index = self._adapter.index(model)
        found: list[str] = []
        for path, ref in self._at.items():
            now = _at(index, path)
            if ref is None:
                continue
            then = ref()
            if then is None:
                found.append(f"{path} is gone (its layer was replaced or deleted since)")
            elif now is None:
                found.append(f"{path} is no longer in the model (its layer was replaced or removed since)")
            elif now is not then:
                found.append(f"{path} is another object now (rebound, or its layer replaced since)")
        for cell in self.cells:
            why = cell.conflict()
            if why:
                found.append(why)
        return list(dict.fromkeys(found))

    def restore(self, force: bool = False) -> list[dict[str, str]]:
        """Put back what was saved (all of it before `seal()`; what the action changed after it). Returns
        the parts left as they are, with reasons (only with `force`, after `seal()`)."""
        left: list[dict[str, str]] = []
        errors: list[BaseException] = []
        rebound = False
        for cell in self.cells:
            rebound |= cell.order < 2
            try:
                why = cell.restore(force and self.sealed)
            except Exception as e:  # noqa: BLE001 - put back every other cell first, then report
                errors.append(e)
                continue
            if why:
                left.append({"path": cell.paths[0] if cell.paths else "", "reason": why})
        model = self._model()
        if rebound and model is not None:
            self._adapter.rebound(model)
        if errors:
            raise errors[0]
        return left


def subtree_paths(index: ModelIndex, root: str) -> list[str]:
    """Block and tensor paths under block `root` (not `root` itself), depth first in model order (from the
    index's children lists: path separators differ between frameworks)."""
    out: list[str] = []
    stack = list(reversed(index.blocks[root].children))
    while stack:
        path = stack.pop()
        out.append(path)
        if path in index.blocks:
            stack.extend(reversed(index.blocks[path].children))
    return list(dict.fromkeys(out))


def _at(index: ModelIndex, path: str) -> Any:
    if path in index.tensors:
        return index.tensors[path].obj
    if path in index.blocks:
        return index.blocks[path].obj
    return None


def _positions(index: ModelIndex) -> dict[str, int]:
    return {p: i for i, p in enumerate([*index.tensors, *index.blocks])}
