"""paramscope: explore, re-initialize, set, tie and untie the parameters of PyTorch, Keras 3 and MXNet models.

Importing paramscope imports no framework: adapters load only for frameworks the user already imported.
"""

from __future__ import annotations

from typing import Any

from . import actions as _actions
from . import changes as _changes
from . import ranks as _ranks
from . import session as _session
from . import stats as _stats
from . import tree as _tree
from . import watch as _watch
from ._errors import ActionError
from .actions import history, set_value, tie, undo, untie
from .changes import Snapshot
from .ranks import follow, lead
from .tree import Node

__version__ = "0.1.0"

__all__ = [
    "ActionError",
    "Node",
    "Snapshot",
    "__version__",
    "compare",
    "follow",
    "history",
    "inspect",
    "lead",
    "models",
    "reinit",
    "set_value",
    "show",
    "snapshot",
    "stats",
    "tie",
    "undo",
    "untie",
    "watch",
]


def _root(model: Any, name: str | None) -> str:
    return name or _session.name_of(model) or "net"


def inspect(model: Any, depth: int | None = None, *, name: str | None = None) -> Node:
    """Tree of blocks, parameters and buffers of `model` (metadata only; no tensor value is read).

    `depth` limits how many levels are expanded (None: all); `name` is the variable name used in each
    node's `code` (default: found in the notebook namespace)."""
    adapter = _actions.require_adapter(model)
    return _tree.build(adapter.index(model, _root(model, name)), "", depth)


def models(namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    """Live models in `namespace` (default: the IPython user namespace), by variable name."""
    return _session.models(namespace)


def stats(model: Any, path: str, bins: int = 64) -> dict[str, Any]:
    """Statistics and a histogram of the parameter/buffer at `path`, or of its gradient (`path + "#grad"`).

    When values cannot be read (meta device, lazy, no gradient yet) the result has `available: False` and a
    `reason`. For a sharded (DTensor) parameter the statistics are of the global tensor, merged with
    torch.distributed collectives: call it on every rank, as training code is (or lead them with `ps.lead()`);
    `sharding` in the result says which rank holds which slice."""
    _ranks.mirror("stats", model, path=path, bins=bins)
    adapter = _actions.require_adapter(model)
    index = adapter.index(model, _root(model, None))
    grad = path.endswith("#grad")
    found = _actions.resolve(index, path[: -len("#grad")] if grad else path)
    if found not in index.tensors:
        raise ActionError(f"{found or 'the model'!r} is a block; stats are for a parameter or buffer")
    entry = index.tensors[found]
    result = _stats.tensor_stats(adapter, entry, grad=grad, bins=bins)
    return {**result, "sharding": entry.meta.sharding} if entry.meta.sharding and not grad else result


def reinit(model: Any, path: str = "", init: Any = "default", seed: int | None = None, *, bias: str | None = None,
           **args: Any) -> dict[str, Any]:
    """Re-initialize the block or parameter at `path` ("" is the whole model), in the framework's own order.

    `init` is a catalogue name ("normal", "constant", "xavier_uniform", ...; "normal(0, 0.02)" also works),
    with its arguments as keywords (`value=42`), or a custom initializer: a callable, a framework initializer
    object or class, or the name of one defined in the notebook. `seed` makes the values reproducible and
    leaves the global random state untouched. On a block, `bias` says what a catalogue initializer does to
    biases: "zeros" (the default, as the chapter's init_normal / init_constant), "keep" (the default for
    xavier and the other matrix initializers, as init_xavier / init_42) or "same" (draw them too)."""
    return _actions.reinit(model, path, init, seed, bias=bias, namespace=_session.user_namespace(),
                           root=_root(model, None), **args)


def watch(model: Any, every: int = 10, *, max_records: int = 1000) -> Any:
    """Record statistics of every parameter and gradient each `every` training steps (forward passes), in a
    ring buffer of `max_records`; returns a handle with `.records`, `.poll(since)` and `.stop()`."""
    return _watch.watch(model, every, max_records=max_records, root=_root(model, None))


def snapshot(model: Any, path: str = "", *, limit_bytes: int = _changes.LIMIT_BYTES) -> Snapshot:
    """Copy the values of the parameters under `path` (a tied one once) to host memory, for `compare`.

    Refused past `limit_bytes` (512 MiB by default). The snapshot holds the model weakly and becomes the model's
    latest one, which `compare(model)` uses; it is freed with the model."""
    adapter = _actions.require_adapter(model)
    index = adapter.index(model, _root(model, None))
    return _changes.take(model, index, _actions.resolve(index, path), limit_bytes)


def compare(model: Any, snap: Snapshot | None = None, *, limit: int = 200) -> dict[str, Any]:
    """Per-parameter change since `snap` (default: the model's latest snapshot): ‖Δw‖, max|Δw|, the fraction of
    values changed and ‖Δw‖/‖w‖, the largest relative changes first (`params`), each block's too (`blocks`);
    a parameter whose shape or dtype changed, or that left the model, says so (`status`, `reason`)."""
    adapter = _actions.require_adapter(model)
    return _changes.compare(model, adapter.index(model, _root(model, None)), snap, limit)


def show(model: Any, *, name: str | None = None, locale: str | None = None) -> Any:
    """An inline widget with the live tree of `model`: statistics, plots and actions; in `locale` ("tr", "pt-BR",
    "en"), by default in JupyterLab's language (Settings → Language), else the browser's."""
    from .widget import show as _show

    return _show(model, name=_root(model, name), locale=locale)
