"""PyTorch undo cells: a tensor's values (and requires_grad), a parameter's `.grad`, and a slot of a module's
`_parameters` / `_buffers` / `_modules` table.

Values are compared by a digest of their bytes, never by the version counter alone: `weight.data[:] = 2`
writes through a tensor with its own counter, so `weight._version` does not move.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..snapshots import Cell, Ref, digest, same_bytes, weak

Layout = tuple[tuple[int, ...], torch.dtype, torch.device]


def _layout(tensor: torch.Tensor) -> Layout:
    return tuple(tensor.shape), tensor.dtype, tensor.device


def _describe(layout: Layout) -> str:
    shape, dtype, device = layout
    return f"{str(dtype).replace('torch.', '')} {shape} on {device}"


def _bytes(tensor: torch.Tensor) -> Any:
    """The tensor's bytes as a numpy view on the host (a copy only off the CPU or when not contiguous)."""
    shard = getattr(tensor, "_local_tensor", None)  # a DTensor (a sharded grad): this rank's shard
    flat = (tensor if shard is None else shard).detach().to("cpu").contiguous().reshape(-1)
    return flat.view(torch.uint8).numpy()


def _digest(tensor: torch.Tensor) -> str:
    return digest(_bytes(tensor))


class Values(Cell):
    """The values, dtype, shape, device and requires_grad of one tensor object (all its paths)."""

    def __init__(self, tensor: torch.Tensor, paths: list[str]) -> None:
        super().__init__(paths)
        self._ref: Ref = weak(tensor)
        self._strong: torch.Tensor | None = tensor  # until sealed: a failing action must find it
        self._saved = tensor.detach().to("cpu", copy=True)
        self._layout = _layout(tensor)
        self._requires_grad = bool(tensor.requires_grad)
        self._after: tuple[Layout, str] | None = None
        self.nbytes = self._saved.numel() * self._saved.element_size()

    def _live(self) -> torch.Tensor | None:
        tensor: torch.Tensor | None = self._strong if self._strong is not None else self._ref()
        return tensor

    def changed(self) -> bool:
        tensor = self._live()
        return tensor is not None and (
            _layout(tensor) != self._layout or bool(tensor.requires_grad) != self._requires_grad
            or not same_bytes(_bytes(tensor), _bytes(self._saved))
        )

    def moved(self) -> str | None:
        tensor = self._live()
        if tensor is None or _layout(tensor) == self._layout:
            return None
        return (f"{self.paths[0]} went from {_describe(self._layout)} to {_describe(_layout(tensor))}; it must "
                "keep its dtype, shape and device")

    def seal(self) -> None:
        tensor = self._live()
        assert tensor is not None
        self._after = (_layout(tensor), _digest(tensor))
        self._strong = None

    def conflict(self) -> str | None:
        tensor = self._ref()
        assert self._after is not None
        if tensor is None:
            return f"{self.paths[0]} is gone (its layer was replaced or deleted since)"
        layout, values = self._after
        if _layout(tensor) != layout:
            return (f"{self.paths[0]} is {_describe(_layout(tensor))} now, the action left it {_describe(layout)} "
                    "(converted or moved since: net.half(), net.double(), net.to(...)?)")
        if _digest(tensor) != values:
            return f"{self.paths[0]} has other values now (edited by hand, .data written, or trained since)"
        return None

    def restore(self, force: bool) -> str | None:
        tensor = self._live()
        if tensor is None:
            return "it is gone (its layer was replaced or deleted since)"
        note = None
        with torch.no_grad():
            if _layout(tensor) == self._layout:
                tensor.copy_(self._saved)
            elif not force:  # undoing a failed action: the old storage, dtype and shape come back exactly
                tensor.data = self._saved.to(self._layout[2])
            elif tuple(tensor.shape) != self._layout[0]:
                return f"its shape is {tuple(tensor.shape)} now and the saved values have {self._layout[0]}"
            else:
                tensor.copy_(self._saved)
                note = (f"restored as {_describe(_layout(tensor))}, as the model is now (saved as "
                        f"{_describe(self._layout)}), so not bit for bit")
        if isinstance(tensor, nn.Parameter) and tensor.is_leaf:
            tensor.requires_grad_(self._requires_grad)
        return note


class Grad(Cell):
    """A parameter's `.grad` (None or a tensor): a custom initializer may write or clear it."""

    order = 3

    def __init__(self, param: torch.Tensor, paths: list[str]) -> None:
        super().__init__(paths)
        self._ref: Ref = weak(param)
        self._strong: torch.Tensor | None = param
        grad = param.grad
        self._saved = None if grad is None else grad.detach().to("cpu", copy=True)
        self._after: str | None = None
        self.nbytes = 0 if self._saved is None else self._saved.numel() * self._saved.element_size()

    def _state(self, param: torch.Tensor) -> str:
        grad = param.grad
        return "none" if grad is None else f"{_describe(_layout(grad))}:{_digest(grad)}"

    def _saved_state(self) -> str:
        saved = self._saved
        return "none" if saved is None else f"{_describe(_layout(saved))}:{_digest(saved)}"

    def _live(self) -> torch.Tensor | None:
        param: torch.Tensor | None = self._strong if self._strong is not None else self._ref()
        return param

    def changed(self) -> bool:
        param = self._live()
        if param is None:
            return False
        grad = param.grad
        if (grad is None) != (self._saved is None):
            return True
        return grad is not None and self._saved is not None and (
            tuple(grad.shape) != tuple(self._saved.shape) or grad.dtype != self._saved.dtype
            or not same_bytes(_bytes(grad), _bytes(self._saved))
        )

    def seal(self) -> None:
        param = self._live()
        assert param is not None
        self._after = self._state(param)
        self._strong = None

    def conflict(self) -> str | None:
        param = self._ref()
        if param is None or self._state(param) == self._after:
            return None
        return f"the gradient of {self.paths[0]} has changed since (a backward pass?)"

    def restore(self, force: bool) -> str | None:
        param = self._live()
        if param is None:
            return "it is gone (its layer was replaced or deleted since)"
        if self._saved is None:
            param.grad = None
        elif tuple(param.shape) != tuple(self._saved.shape):
            return f"its shape is {tuple(param.shape)} now; the saved gradient does not fit"
        else:
            param.grad = self._saved.to(device=param.device, dtype=param.dtype, copy=True)
        return None


_TABLES = {"param": "_parameters", "buffer": "_buffers", "module": "_modules"}


class Slot(Cell):
    """Which object sits at `owner.<table>[name]`; the object there before the action is kept (a displaced
    parameter lives only here), the owner and the object the action left only weakly."""

    def __init__(self, owner: nn.Module, kind: str, name: str, obj: Any, path: str) -> None:
        super().__init__([path])
        self.order = 0 if kind == "module" else 1
        self._owner: Ref = weak(owner)
        self._strong_owner: nn.Module | None = owner
        self._table = _TABLES[kind]
        self._name = name
        self._before = obj
        self._after: Ref = weak(None)

    def _owner_now(self) -> nn.Module | None:
        owner: nn.Module | None = self._strong_owner if self._strong_owner is not None else self._owner()
        return owner

    def _bound(self, owner: nn.Module) -> Any:
        return getattr(owner, self._table).get(self._name)

    def changed(self) -> bool:
        owner = self._owner_now()
        return owner is not None and self._bound(owner) is not self._before

    def seal(self) -> None:
        owner = self._owner_now()
        assert owner is not None
        self._after = weak(self._bound(owner))
        self._strong_owner = None

    def conflict(self) -> str | None:
        owner = self._owner()
        if owner is None:
            return f"{self.paths[0]} is gone (its layer was replaced or deleted since)"
        now = self._bound(owner)
        if now is not self._after():
            return f"{self.paths[0]} was rebound since (another object was put there)"
        before = self._before
        if isinstance(now, torch.Tensor) and isinstance(before, torch.Tensor) and (
                now.dtype, now.device) != (before.dtype, before.device):
            return (f"{self.paths[0]} is {_describe(_layout(now))} now and the parameter undo would put back is "
                    f"{_describe(_layout(before))} (the model was converted or moved since)")
        return None

    def restore(self, force: bool) -> str | None:
        owner = self._owner_now()
        if owner is None:
            return "its layer is gone (replaced or deleted since)"
        now = self._bound(owner)
        note = None
        before = self._before
        if (force and isinstance(now, torch.Tensor) and isinstance(before, torch.Tensor)
                and (now.dtype, now.device) != (before.dtype, before.device) and now.shape == before.shape):
            # The model was converted since: the parameter put back follows it, so the model stays one dtype.
            with torch.no_grad():
                before.data = before.data.to(device=now.device, dtype=now.dtype)
            note = f"the parameter put back was converted to {_describe(_layout(now))}, as the model is now"
        getattr(owner, self._table)[self._name] = before
        return note
