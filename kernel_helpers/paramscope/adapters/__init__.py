"""The Adapter protocol every framework implements, and `adapter_for(obj)`, which never imports a framework.

An adapter is found from the module of the object's type (and its bases): a `torch.nn.Module` subclass defined
in the user's notebook still has `torch.nn.modules.module.Module` in its MRO. An adapter module is imported
only when its framework is already in `sys.modules`, so `import paramscope` stays free of frameworks.
"""

from __future__ import annotations

import importlib
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..tree import ModelIndex, TensorEntry

# Top-level module of a type -> (framework module that must be loaded, adapter module).
_ADAPTERS: dict[str, tuple[str, str]] = {
    # PyTorch modules and parameters.
    "torch": ("torch", "paramscope.adapters.torch"),
    # Keras 3, standalone or as tf.keras (whose classes live in the keras package).
    "keras": ("keras", "paramscope.adapters.keras"),
    # MXNet Gluon blocks.
    "mxnet": ("mxnet", "paramscope.adapters.mxnet"),
}


class Snapshot(Protocol):
    """Saved values, gradients and slot bindings of some tensor and block uses (a `snapshots.Record`).

    Before an action: saved. `seal()` once the action succeeded: keeps only what it changed (and returns
    those paths), refuses a dtype/shape/device it moved (ActionError). `conflicts()`: what differs now from
    the state the action left. `restore()`: puts the saved state back bit for bit (all of it when the action
    failed); with `force`, what cannot be put back is left and listed."""

    nbytes: int

    def seal(self) -> list[str]: ...

    def conflicts(self) -> list[str]: ...

    def restore(self, force: bool = False) -> list[dict[str, str]]: ...


@dataclass
class InitSpec:
    """A resolved initializer: a catalogue name with its arguments, or a user's callable/initializer object."""

    name: str  # catalogue name, or the custom object's name for messages
    args: dict[str, Any] = field(default_factory=dict)
    custom: Any = None

    def describe(self) -> str:
        if self.custom is not None or not self.args:
            return self.name
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.args.items())})"


@dataclass
class ReinitResult:
    changed: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"path", "reason"}


@dataclass
class Moments:
    """Partial statistics of one chunk (or of several, merged)."""

    count: int = 0  # finite values
    mean: float = 0.0
    m2: float = 0.0  # sum of squared deviations from mean, in units of 4**exp
    min: float = float("inf")
    max: float = float("-inf")
    zeros: int = 0
    nan: int = 0
    inf: int = 0
    # Binary scale of m2: 0 except for float64 values beyond 2**450 or below 2**-450, whose squares would
    # overflow or underflow (the chunk is reduced as x * 2**-exp, exactly).
    exp: int = 0


class Adapter(Protocol):
    """What paramscope needs from a framework. Each method name is the same in every adapter."""

    framework: str

    def is_model(self, obj: Any) -> bool:
        """True for a block/layer/module with parameters (or able to get them, e.g. lazy/unbuilt)."""

    def index(self, model: Any, root: str = "net") -> ModelIndex:
        """Blocks and tensor uses with metadata, in the framework's own order, reading no values; `root` is the
        variable name that starts every node's `code`."""

    def snapshot(self, index: ModelIndex, paths: list[str], grads: bool = False) -> Snapshot:
        """Save values and the slot binding of each tensor use in `paths` (and its gradient, with `grads`, where
        the framework keeps one on the parameter), and the slot binding of each block path in `paths` (which
        child object sits at it), for atomicity and undo. Holds the model's objects weakly.

        Optional: `transient(error) -> bool`, whether an action failed only because a training step on another
        thread held the values at that moment (Keras on JAX: a donated array); the action then runs again."""

    def rebound(self, model: Any) -> None:
        """A restore put other objects back into slots: drop what captured the old ones (traced graphs)."""

    def fingerprint(self, entry: TensorEntry, grad: bool = False) -> str:
        """A cheap token that changes when the tensor (or its grad) is written, rebound, converted or moved:
        object id, version counter / storage address where the framework has them, shape, dtype, device and
        a digest of a small strided sample (so that writes no counter sees, like torch's `.data[:] = x`, show
        too). Equal tokens mean "very likely unchanged"; undo also compares full digests."""

    def chunks(self, entry: TensorEntry, grad: bool) -> Iterator[Any]:
        """1-D chunks of the tensor (or its grad) on its own device (about `stats.CHUNK_ELEMS` values each, more
        on an accelerator), the same chunks each time for the same tensor: `stats` reads them twice, once for
        the moments and once for the histogram, and reports progress between chunks.

        Raises `ActionError`-free `Unavailable(reason)` when values cannot be read (meta, lazy, no grad)."""

    def chunk_moments(self, chunk: Any) -> Moments:
        """count, mean, m2, min, max of the finite values and the zero/NaN/Inf counts of one chunk, with fused
        reductions on the chunk's device and one transfer of the scalars (no per-element host copies)."""

    def chunk_hist(self, chunk: Any, lo: float, hi: float, bins: int, finite: bool = False) -> list[int]:
        """Counts of the finite values of `chunk` in `bins` equal bins over [lo, hi] (`hi` in the last bin; a
        value outside the range, written since the moments were read, goes to the nearest end bin). `finite`:
        `chunk_moments` found no NaN/Inf in this chunk, so no mask is needed.

        Optional, like `collective` and `replicas`: `chunk_stats(chunk, bins) -> (Moments, counts or None)`, the
        moments of a tensor's only chunk and its counts over its own range from one pass of the adapter's loops
        (the numba kernels, for PyTorch and Keras on any backend); `stats` then does not call `chunk_hist` for it."""

    def sample_2d(self, entry: TensorEntry, grad: bool, rows: int, cols: int, rstep: int,
                  cstep: int) -> list[list[float]]:
        """Values of the tensor viewed as (shape[0], prod(shape[1:])), strided by (rstep, cstep)."""

    def host_copy(self, entry: TensorEntry) -> Any:
        """A fresh numpy copy of the tensor's values on the host (for `ps.snapshot` / `compare`), in its dtype
        where numpy has it (else float32). Raises `Unavailable(reason)` when values cannot be read."""

    def reinit(self, index: ModelIndex, target: str, entries: list[TensorEntry], init: InitSpec,
               seed: int | None) -> ReinitResult:
        """Re-initialize `entries` (unique params under `target`); raise ActionError on bad input."""

    def set_value(self, entry: TensorEntry, value: Any, where: tuple[Any, ...] | None, mode: str) -> None:
        """Write `value` (scalar, array-like, or callable of the old values) into the tensor or its slice."""

    def tie(self, index: ModelIndex, entry: TensorEntry, to: TensorEntry) -> None:
        """Bind the slot of `entry` to the parameter object of `to`."""

    def untie(self, index: ModelIndex, entry: TensorEntry) -> None:
        """Bind the slot of `entry` to a fresh copy of its parameter."""

    def untie_block(self, index: ModelIndex, path: str) -> None:
        """Bind the block slot at `path` (a block used at several places) to a deep copy of that block."""

    def hook_steps(self, model: Any, index: ModelIndex, on_forward: Callable[[], ModelIndex | None],
                   on_grads: Callable[[list[TensorEntry]], None], recorded: Callable[[], bool]) -> Callable[[], None]:
        """Call `on_forward()` as each forward pass of `model` starts and `on_grads(entries)` when gradients of
        those params are final for the step; return a function that removes the hooks. When `on_forward()`
        returns an index (a tie, untie or replaced layer changed the params), hook that index's params from then
        on. `recorded()` tells, after `on_forward()`, whether the watch records this step (an adapter whose
        compiled steps hand gradients to the host skips that on the others; `on_grads` ignores unrecorded steps
        anyway). The hooks must not keep `model` alive beyond the cycle through the model itself (#15)."""

    def is_initializer(self, obj: Any) -> bool:
        """True for a custom initializer this framework can apply (a callable or initializer object)."""


def split_writable(entries: list[TensorEntry], why_not: Callable[[TensorEntry], str | None],
                   result: ReinitResult) -> list[TensorEntry]:
    """The entries that can be written; the others go to `result.skipped` with the reason `why_not` gives."""
    ready = []
    for entry in entries:
        why = why_not(entry)
        if why:
            result.skipped.append({"path": entry.path, "reason": why})
        else:
            ready.append(entry)
    return ready


def regroup_sums(numels: list[int | None], sums: list[float]) -> list[tuple[int, float, float, int] | None]:
    """`watch_sums`' answer from one flat list of (sum, norm, non-zeros) per readable tensor, as read back from the
    device in one transfer: `(numel, sum, norm, non-zeros)` per tensor, None where `numels` has None."""
    out: list[tuple[int, float, float, int] | None] = []
    k = 0
    for n in numels:
        if n is None:
            out.append(None)
            continue
        out.append((n, sums[k], sums[k + 1], int(sums[k + 2])))
        k += 3
    return out


class Unavailable(Exception):
    """Values cannot be read (meta device, lazy or deferred shape, no gradient yet); the message says why."""


def adapter_for(obj: Any) -> Adapter | None:
    """The adapter for `obj`'s framework, or None. Imports nothing the user has not imported."""
    for cls in type(obj).__mro__:
        top = (cls.__module__ or "").split(".", 1)[0]
        found = _ADAPTERS.get(top)
        if found is None or found[0] not in sys.modules:
            continue
        adapter = _load(found[1])
        if adapter is not None and adapter.is_model(obj):
            return adapter
    return None


_LOADED: dict[str, Adapter | None] = {}


def _load(module: str) -> Adapter | None:
    if module not in _LOADED:
        try:
            _LOADED[module] = importlib.import_module(module).ADAPTER
        except ImportError:
            # The adapter exists but its framework is not importable in this kernel: no adapter.
            _LOADED[module] = None
    return _LOADED[module]


SAMPLE_POINTS = 64  # elements a fingerprint reads: strided over the tensor, plus its last one


def sample_digest(data: bytes) -> str:
    """Short hex digest of a sample's raw bytes, the same in every kernel."""
    return format(zlib.crc32(data), "08x")


def format_index(where: tuple[Any, ...]) -> str:
    """(0, slice(1, 3), Ellipsis) -> "[0, 1:3, ...]", as the user would write it."""

    def one(item: Any) -> str:
        if item is Ellipsis:
            return "..."
        if isinstance(item, slice):
            text = f"{'' if item.start is None else item.start}:{'' if item.stop is None else item.stop}"
            return text + (f":{item.step}" if item.step is not None else "")
        return str(item)

    return "[" + ", ".join(one(i) for i in where) + "]"


def python_name(name: str) -> bool:
    """Whether `name` can follow a dot in Python source."""
    import keyword

    return name.isidentifier() and not keyword.iskeyword(name)


def attr_code(base: str, name: str) -> str:
    """`base.name`, or `getattr(base, 'name')` when `name` is not an identifier."""
    return f"{base}.{name}" if python_name(name) else f"getattr({base}, {name!r})"
