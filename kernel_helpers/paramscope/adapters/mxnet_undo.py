"""MXNet undo cells: a parameter's values on every context, the binding of one parameter use (`_reg_params`,
maybe an attribute, the block's ParameterDict) and of one child block (`_children`, maybe an attribute).

MXNet arrays have no version counter, so values are compared by a digest of their bytes.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from . import mxnet_compat  # noqa: F401 - puts numpy.bool back before mxnet is imported

# isort: split
import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from ..snapshots import Cell, Ref, digest, same_bytes, weak

_Array = Any  # mx.nd.NDArray or mx.np.ndarray


def _layout(arrays: list[_Array]) -> tuple[Any, ...]:
    return tuple((tuple(a.shape), np.dtype(a.dtype).name, str(a.ctx)) for a in arrays)


def _describe(layout: tuple[Any, ...]) -> str:
    shape, dtype, _ = layout[0]
    return f"{dtype} {shape} on {', '.join(ctx for _, _, ctx in layout)}"


def _digest(arrays: list[_Array]) -> str:
    with autograd.pause():
        return ":".join(digest(np.ascontiguousarray(a.asnumpy()).view(np.uint8)) for a in arrays)


def _bind_param(block: gluon.Block, name: str, param: gluon.Parameter, as_attribute: bool) -> None:
    block._reg_params[name] = param
    if as_attribute:
        object.__setattr__(block, name, param)  # Block.__setattr__ refuses to rebind a Parameter attribute


def _as_kind(value: _Array, target: _Array) -> _Array:
    """`value` as the same array kind (nd or np) as `target`, which set_data writes into."""
    if isinstance(target, mx.np.ndarray) and not isinstance(value, mx.np.ndarray):
        return value.as_np_ndarray()
    if not isinstance(target, mx.np.ndarray) and isinstance(value, mx.np.ndarray):
        return value.as_nd_ndarray()
    return value


class Values(Cell):
    """The values of one parameter on each of its contexts (all its paths)."""

    def __init__(self, param: gluon.Parameter, paths: list[str]) -> None:
        super().__init__(paths)
        self._ref: Ref = weak(param)
        self._strong: gluon.Parameter | None = param  # until sealed: a failing action must find it
        current = param.list_data()
        self._saved = [arr.copyto(mx.cpu()) for arr in current]
        self._layout = _layout(current)
        self._after: tuple[tuple[Any, ...], str] | None = None
        self.nbytes = sum(int(a.size) * np.dtype(a.dtype).itemsize for a in self._saved)

    def _live(self) -> gluon.Parameter | None:
        param: gluon.Parameter | None = self._strong if self._strong is not None else self._ref()
        return param

    def _now(self, param: gluon.Parameter) -> tuple[tuple[Any, ...], str] | None:
        if param._data is None:
            return None
        arrays = param.list_data()
        return _layout(arrays), _digest(arrays)

    def changed(self) -> bool:
        param = self._live()
        if param is None:
            return False
        if param._data is None:
            return True
        arrays = param.list_data()
        if _layout(arrays) != self._layout:
            return True
        with autograd.pause():
            return not all(same_bytes(np.ascontiguousarray(a.asnumpy()), np.ascontiguousarray(b.asnumpy()))
                           for a, b in zip(arrays, self._saved, strict=True))

    def moved(self) -> str | None:
        param = self._live()
        now = None if param is None else self._now(param)
        if now is None or now[0] == self._layout:
            return None
        return (f"{self.paths[0]} went from {_describe(self._layout)} to {_describe(now[0])}; it must keep its "
                "dtype, shape and contexts")

    def seal(self) -> None:
        param = self._live()
        assert param is not None
        self._after = self._now(param)
        self._strong = None

    def conflict(self) -> str | None:
        param = self._ref()
        if param is None:
            return f"{self.paths[0]} is gone (its block was replaced or deleted since)"
        now = self._now(param)
        assert self._after is not None
        if now is None:
            return f"{self.paths[0]} has no values now (its initialization was reset since)"
        if now[0] != self._after[0]:
            return (f"{self.paths[0]} is {_describe(now[0])} now, the action left it {_describe(self._after[0])} "
                    "(cast or moved since: net.cast(...), reset_ctx(...)?)")
        if now[1] != self._after[1]:
            return f"{self.paths[0]} has other values now (set_data, an edit by hand or a training step since)"
        return None

    def restore(self, force: bool) -> str | None:
        param = self._live()
        if param is None:
            return "it is gone (its block was replaced or deleted since)"
        if param._data is None:
            return "it has no values now (its initialization was reset since)"
        current = param.list_data()
        layout = _layout(current)
        note = None
        saved = self._saved
        if layout != self._layout:
            if [s for s, _, _ in layout] != [s for s, _, _ in self._layout] or len(current) != len(saved):
                return (f"its shape or contexts are {_describe(layout)} now; the saved values have "
                        f"{_describe(self._layout)}")
            saved = [value.astype(target.dtype) for value, target in zip(saved, current, strict=True)]
            note = f"restored as {_describe(layout)}, as the model is now (saved as {_describe(self._layout)})"
        with autograd.pause():
            param.set_data(_as_kind(saved[0], current[0]))  # set_data keeps a Trainer's kvstore copy in step
            for target, value in zip(current[1:], saved[1:], strict=True):
                value.copyto(target)
        return note


class ParamSlot(Cell):
    """Which parameter one use binds: `_reg_params[name]`, the attribute of that name, the block's
    ParameterDict. The parameter there before the action is kept; the block and the one left, weakly."""

    order = 1

    def __init__(self, block: gluon.Block, name: str, param: gluon.Parameter, path: str) -> None:
        super().__init__([path])
        self._block: Ref = weak(block)
        self._strong_block: gluon.Block | None = block
        self._name = name
        self._before = param
        self._as_attribute = block.__dict__.get(name) is param
        self._table = list(block._params._params.items())
        self._after: tuple[Ref, list[tuple[str, Ref]]] | None = None

    def _block_now(self) -> gluon.Block | None:
        block: gluon.Block | None = self._strong_block if self._strong_block is not None else self._block()
        return block

    def changed(self) -> bool:
        block = self._block_now()
        if block is None:
            return False
        table = list(block._params._params.items())
        return block._reg_params.get(self._name) is not self._before or [
            (k, id(v)) for k, v in table] != [(k, id(v)) for k, v in self._table]

    def seal(self) -> None:
        block = self._block_now()
        assert block is not None
        self._after = (weak(block._reg_params.get(self._name)),
                       [(k, weak(v)) for k, v in block._params._params.items()])
        self._strong_block = None

    def conflict(self) -> str | None:
        block = self._block()
        if block is None:
            return f"{self.paths[0]} is gone (its block was replaced or deleted since)"
        assert self._after is not None
        bound, table = self._after
        now = block._reg_params.get(self._name)
        if now is not bound() or [
                (k, v) for k, v in block._params._params.items()] != [(k, ref()) for k, ref in table]:
            return f"{self.paths[0]} was rebound since (another parameter was put there)"
        if now is not None and np.dtype(now.dtype) != np.dtype(self._before.dtype):
            return (f"{self.paths[0]} is {np.dtype(now.dtype).name} now and the parameter undo would put back is "
                    f"{np.dtype(self._before.dtype).name} (the model was cast since)")
        return None

    def restore(self, force: bool) -> str | None:
        block = self._block_now()
        if block is None:
            return "its block is gone (replaced or deleted since)"
        now = block._reg_params.get(self._name)
        note = None
        if force and now is not None and np.dtype(now.dtype) != np.dtype(self._before.dtype):
            self._before.cast(now.dtype)  # the model was cast since: the parameter put back follows it
            note = f"the parameter put back was cast to {np.dtype(now.dtype).name}, as the model is now"
        _bind_param(block, self._name, self._before, self._as_attribute)
        table = block._params._params
        if list(table.items()) != self._table:
            table.clear()
            table.update(OrderedDict(self._table))
        return note


class ChildSlot(Cell):
    """Which block sits at `parent._children[name]` (and the attribute of that name, if it is one)."""

    order = 0

    def __init__(self, parent: gluon.Block, name: str, child: gluon.Block, path: str) -> None:
        super().__init__([path])
        self._parent: Ref = weak(parent)
        self._strong_parent: gluon.Block | None = parent
        self._name = name
        self._before = child
        self._as_attribute = parent.__dict__.get(name) is child
        self._after: Ref = weak(None)

    def _parent_now(self) -> gluon.Block | None:
        parent: gluon.Block | None = self._strong_parent if self._strong_parent is not None else self._parent()
        return parent

    def changed(self) -> bool:
        parent = self._parent_now()
        return parent is not None and parent._children.get(self._name) is not self._before

    def seal(self) -> None:
        parent = self._parent_now()
        assert parent is not None
        self._after = weak(parent._children.get(self._name))
        self._strong_parent = None

    def conflict(self) -> str | None:
        parent = self._parent()
        if parent is None:
            return f"{self.paths[0]} is gone (its parent block was replaced or deleted since)"
        if parent._children.get(self._name) is not self._after():
            return f"block {self.paths[0]} was replaced since"
        return None

    def restore(self, force: bool) -> str | None:
        parent = self._parent_now()
        if parent is None:
            return "its parent block is gone (replaced or deleted since)"
        parent._children[self._name] = self._before
        if self._as_attribute:
            object.__setattr__(parent, self._name, self._before)
        return None
