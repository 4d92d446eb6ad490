"""reinit / set_value / tie / untie, each atomic, with a bounded undo history and a revision per model."""

from __future__ import annotations

import ast
import contextlib
import difflib
import io
import math
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import initializers, ranks
from ._errors import ActionError, UndoConflict
from .adapters import Adapter, InitSpec, ReinitResult, Snapshot, adapter_for, format_index
from .snapshots import subtree_paths, weak
from .tree import ModelIndex, TensorEntry

# Undo keeps CPU copies of what an action overwrote. Past these bounds the oldest entries are dropped (and
# history() says how many); an action whose own copy exceeds the byte bound is done but cannot be undone.
HISTORY_LIMIT_BYTES = 512 * 1024 * 1024
HISTORY_LIMIT_ENTRIES = 100
DROPPED_SHOWN = 20  # history() lists this many of the dropped entries, newest last


@dataclass
class _Entry:
    op: str
    description: str
    paths: list[str]
    snapshot: Snapshot | None
    nbytes: int
    time: float
    changed: list[str] = field(default_factory=list)  # every tensor (or slot) path the action changed
    order: dict[str, int] | None = None  # path -> position in the model, until `_done` has sorted `changed`

    def to_json(self, index: int) -> dict[str, Any]:
        return {
            "index": index,
            "op": self.op,
            "description": self.description,
            "paths": self.paths,
            "changed": self.changed,
            "bytes": self.nbytes,
            "undoable": self.snapshot is not None,
            "time": self.time,
        }


@dataclass
class _State:
    model: Callable[[], Any]  # weak reference: the state never keeps its model alive
    revision: int = 0
    entries: list[_Entry] = field(default_factory=list)
    dropped: int = 0
    dropped_log: list[dict[str, Any]] = field(default_factory=list)  # the latest dropped entries, for the history
    note: str | None = None


_STATES: dict[int, _State] = {}
# Called with (model, revision) after every change, whichever front end or cell made it (open widgets listen).
_LISTENERS: list[Callable[[Any, int], None]] = []


def on_change(listener: Callable[[Any, int], None]) -> Callable[[], None]:
    """Call `listener(model, revision)` after each change paramscope makes; returns the unsubscribe function."""
    _LISTENERS.append(listener)
    return lambda: _LISTENERS.remove(listener) if listener in _LISTENERS else None


def _changed(model: Any, revision: int) -> None:
    for listener in list(_LISTENERS):
        with contextlib.suppress(Exception):  # a closed front end must not turn a done action into an error
            listener(model, revision)


def _state(model: Any) -> _State:
    key = id(model)
    state = _STATES.get(key)
    if state is not None and state.model() is not model:  # a new model at the id of one that is gone
        state = None
    if state is None:
        state = _STATES[key] = _State(weak(model))
        with contextlib.suppress(TypeError):  # not weak-referenceable: the state lives as long as the kernel
            weakref.finalize(model, _forget, key, state)
    return state


def _forget(key: int, state: _State) -> None:
    if _STATES.get(key) is state:
        del _STATES[key]


def revision(model: Any) -> int:
    """Number of changes paramscope has made to `model` (and undone); front ends refresh when it moves."""
    state = _STATES.get(id(model))
    return state.revision if state is not None and state.model() is model else 0


def require_adapter(model: Any) -> Adapter:
    adapter = adapter_for(model)
    if adapter is None:
        raise ActionError(
            f"{type(model).__module__}.{type(model).__name__} is not a model paramscope knows: pass a PyTorch "
            "nn.Module, a Keras 3 model or layer, or an MXNet Gluon block (with parameters)"
        )
    return adapter


def resolve(index: ModelIndex, path: str) -> str:
    """The index path for `path` (accepting the framework's alternative names, and a name with a lone
    surrogate written as the front ends receive it, `utf8(name)`); ActionError if unknown."""
    if not isinstance(path, str):
        raise ActionError(f"a path is a string such as '0.weight', got {type(path).__name__}")
    if path in index.blocks or path in index.tensors:
        return path
    if path in index.alt_names:
        return index.alt_names[path]
    if "\\" in path:
        escaped = {utf8(p): p for p in [*index.blocks, *index.tensors, *index.alt_names] if utf8(p) != p}
        if path in escaped:
            return resolve(index, escaped[path])
    known = list(index.tensors) + [p for p in index.blocks if p] + list(index.alt_names)
    close = difflib.get_close_matches(path, known, n=3)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return _raise(f"no block or parameter at {path!r}{hint} (paths are as in named_parameters(), "
                  "e.g. '0.weight'; '' is the whole model)")


def utf8(text: str) -> str:
    """`text` if it encodes as UTF-8; else with each lone surrogate (a module named from raw bytes) written as
    the text `\\udxxx`, so that every transport can send it and a request can name it back."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _raise(message: str) -> str:
    raise ActionError(message)


def _param(index: ModelIndex, path: str) -> TensorEntry:
    found = resolve(index, path)
    if found not in index.tensors:
        raise ActionError(f"{found!r} is a block; this action needs a parameter such as {found + '.weight'!r}")
    entry = index.tensors[found]
    if entry.kind != "param":
        raise ActionError(f"{found!r} is a buffer (running statistics, not learned); only parameters can be tied")
    return entry


# How long an action tries again while a training step on another thread holds the values it reads (Keras on JAX
# donates a variable's array to the compiled update until the step assigns the new one).
RETRY_S = 2.0


def _retried(adapter: Adapter, work: Callable[[], Any]) -> Any:
    """`work()`, again (from the start) while it fails only because a training step on another thread held the
    values it read at that moment (`adapter.transient`); every try is atomic, so a failed one changed nothing."""
    transient = getattr(adapter, "transient", None)
    deadline = time.monotonic() + RETRY_S
    while True:
        try:
            return work()
        except Exception as error:
            cause = error.__cause__ if isinstance(error, ActionError) and error.__cause__ is not None else error
            if transient is None or not transient(cause) or time.monotonic() > deadline:
                raise
        time.sleep(0.001)


def _run(model: Any, adapter: Adapter, index: ModelIndex, op: str, description: str, paths: list[str],
         paths_to_save: list[str], action: Callable[[], Any], grads: bool = False) -> Any:
    """Run `action` with everything in `paths_to_save` saved first (and the gradients, with `grads`); on any
    error, or a dtype/shape/device the action moved, put it all back and raise."""
    return _retried(adapter, lambda: _run_once(model, adapter, index, op, description, paths, paths_to_save,
                                               action, grads))


def _run_once(model: Any, adapter: Adapter, index: ModelIndex, op: str, description: str, paths: list[str],
              paths_to_save: list[str], action: Callable[[], Any], grads: bool) -> Any:
    snapshot = adapter.snapshot(index, paths_to_save, grads=grads)
    try:
        result = action()
        changed = snapshot.seal()
    except BaseException as error:
        snapshot.restore()
        if isinstance(error, ActionError):
            raise ActionError(f"{description}: {error} (nothing was changed)") from error
        if not isinstance(error, Exception):
            raise
        raise ActionError(
            f"{description} failed with {type(error).__name__}: {error} (nothing was changed)"
        ) from error
    order = {p: i for i, p in enumerate([*index.tensors, *index.blocks])}
    _record(model, _Entry(op, description, paths, snapshot, snapshot.nbytes, time.time(), changed, order))
    _changed(model, _state(model).revision)
    return result


def _record(model: Any, entry: _Entry) -> None:
    state = _state(model)
    state.revision += 1
    state.note = None
    if entry.nbytes > HISTORY_LIMIT_BYTES:
        entry.snapshot = None
        state.note = (f"'{entry.description}' saved {entry.nbytes / 2**20:.0f} MiB, more than the undo limit of "
                      f"{HISTORY_LIMIT_BYTES / 2**20:.0f} MiB, so it cannot be undone")
    state.entries.append(entry)
    dropped = 0
    while len(state.entries) > HISTORY_LIMIT_ENTRIES or (
        sum(e.nbytes for e in state.entries if e.snapshot) > HISTORY_LIMIT_BYTES and len(state.entries) > 1
    ):
        gone = state.entries.pop(0)
        state.dropped_log = [*state.dropped_log, {"description": gone.description, "time": gone.time,
                                                  "bytes": gone.nbytes}][-DROPPED_SHOWN:]
        dropped += 1
    if dropped:
        state.dropped += dropped
        state.note = (f"the oldest {dropped} undo step(s) were dropped to keep the history under "
                      f"{HISTORY_LIMIT_BYTES / 2**20:.0f} MiB / {HISTORY_LIMIT_ENTRIES} steps")


def _done(model: Any, result: dict[str, Any]) -> dict[str, Any]:
    state = _state(model)
    entry = state.entries[-1]
    # What the action reports changed is what it wrote (an initializer may write the values a tensor had)
    # and every tensor whose values, gradient or binding differ afterwards (a module's code may write more).
    order = entry.order or {}
    changed = sorted(dict.fromkeys([*entry.changed, *result.get("changed", [])]),
                     key=lambda p: order.get(p, len(order)))
    entry.changed, entry.order = changed, None
    out = {**result, "changed": changed, "revision": state.revision, "action": entry.to_json(len(state.entries) - 1)}
    if "skipped" in out:
        out["skipped"] = [s for s in out["skipped"] if s["path"] not in changed]
    if state.note:
        out["note"] = state.note
    return out


def reinit(model: Any, path: str = "", init: Any = "default", seed: int | None = None, *, bias: str | None = None,
           namespace: Mapping[str, Any] | None = None, root: str = "net", **args: Any) -> dict[str, Any]:
    """Re-initialize the block or parameter at `path` (all parameters under a block, each tied one once, in the
    framework's own order). `bias` ("zeros" | "keep" | "same") says what a catalogue initializer on a block does
    to biases; unset, it does as the chapter does (initializers.default_bias)."""
    ranks.mirror("reinit", model, path=path, init=ranks.by_name(init), seed=seed, bias=bias, args=args)
    adapter = require_adapter(model)
    index = adapter.index(model, root)
    target = resolve(index, path)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32):
        raise ActionError(f"seed must be an integer between 0 and 2**32 - 1, got {seed!r}")
    spec = initializers.resolve(init, args, adapter, namespace)
    mode = initializers.bias_mode(spec, bias, on_block=target in index.blocks)
    entries = index.unique_params(target)
    if not entries:
        raise ActionError(f"{target or 'the model'!r} has no parameters to initialize")
    # "default" and custom initializers run the module's own code, which may write anything under the module
    # (children, buffers, gradients, or rebind a child): all of it is saved, and what changed is reported.
    runs_code = spec.custom is not None or spec.name == "default"
    if target in index.tensors:
        owner = index.tensors[target].owner
        save = (subtree_paths(index, owner) if runs_code else []) + index.aliases(target)
    else:
        save = subtree_paths(index, target)
    biases = [e for e in entries if mode in ("zeros", "keep") and initializers.is_biases(e)]
    bias_paths = {e.path for e in biases}
    main = [e for e in entries if e.path not in bias_paths]
    described = spec.describe() + (f", biases {'zeroed' if mode == 'zeros' else 'kept'}" if biases else "")
    description = f"reinit {target or 'model'} with {described}" + (f" (seed {seed})" if seed is not None else "")
    output = io.StringIO()

    def action() -> Any:
        try:
            with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output), \
                    initializers.exit_guard(spec.name):
                result = adapter.reinit(index, target, main, spec, seed) if main else ReinitResult()
                if mode == "zeros" and biases:
                    zeroed = adapter.reinit(index, target, biases, InitSpec("zeros"), None)
                    result.changed += zeroed.changed
                    result.skipped += zeroed.skipped
        except SystemExit as e:  # exit()/quit()/sys.exit() picked as an initializer: an error, never the kernel's end
            raise ActionError(f"{spec.name} called exit (SystemExit({_short_repr(e.code)}))"
                              f"{_printed(output)}") from None
        except ActionError as e:
            raise ActionError(f"{e}{_printed(output)}") from None
        if not result.changed:
            reasons = "; ".join(f"{s['path']}: {s['reason']}" for s in result.skipped)
            raise ActionError(f"nothing to initialize ({reasons}){_printed(output)}")
        return result

    result = _run(model, adapter, index, "reinit", description, [target], list(dict.fromkeys(save)), action,
                  grads=runs_code)
    walk = index.subtree_tensors(target) if target in index.blocks else entries
    order = {e.path: i for i, e in enumerate(walk)}
    kept = [{"path": e.path, "reason": "bias kept (bias='keep')"} for e in biases if mode == "keep"]
    if mode is not None:  # running statistics are not parameters: a catalogue initializer leaves them alone
        kept += [{"path": e.path, "reason": "running statistic, left as it was ('default' resets it)"}
                 for e in _unique_buffers(index, target)]
    out: dict[str, Any] = {
        "changed": sorted(result.changed, key=lambda p: order.get(p, len(order))),
        "skipped": sorted(result.skipped, key=lambda s: order.get(s["path"], len(order))),
        "kept": kept,
        "bias": mode,
    }
    if output.getvalue():
        out["output"] = _clip(output.getvalue())
    return _done(model, out)


def _unique_buffers(index: ModelIndex, target: str) -> list[TensorEntry]:
    found: dict[int, TensorEntry] = {}
    for entry in index.subtree_tensors(target):
        if entry.kind == "buffer":
            found.setdefault(id(entry.obj), entry)
    return list(found.values())


_OUTPUT_LIMIT = 20_000  # characters of a custom initializer's printed output kept for the front ends


def _clip(text: str) -> str:
    if len(text) <= _OUTPUT_LIMIT:
        return text
    half = _OUTPUT_LIMIT // 2
    return f"{text[:half]}\n… {len(text) - _OUTPUT_LIMIT} characters left out …\n{text[-half:]}"


def _printed(output: io.StringIO) -> str:
    text = output.getvalue().strip()
    return f"; it printed: {_clip(text)}" if text else ""


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a repr that raises must not hide the real error
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."


def set_value(model: Any, path: str, value: Any, index: Any = None, *, mode: str = "set",
              root: str = "net") -> dict[str, Any]:
    """Set a whole parameter/buffer or the element/slice `index` to `value` (number, array, or fn(old))."""
    ranks.mirror("set_value", model, path=path, index=index, mode=mode,
                 **({"fn": ranks.by_name(value)} if callable(value) else {"value": value}))
    if mode not in ("set", "add", "mul"):
        raise ActionError(f"mode must be 'set', 'add' or 'mul', got {mode!r}")
    adapter = require_adapter(model)
    model_index = adapter.index(model, root)
    target = resolve(model_index, path)
    if target not in model_index.tensors:
        raise ActionError(f"{target or 'the model'!r} is a block; set_value needs a parameter or buffer path")
    entry = model_index.tensors[target]
    where = parse_index(index)
    what = {"set": "set", "add": "add to", "mul": "multiply"}[mode]
    shown = "a function" if callable(value) else _short(value)
    where_text = "" if where is None else format_index(where)
    description = f"{what} {target}{where_text} {'by' if mode == 'mul' else 'with'} {shown}"
    _run(model, adapter, model_index, "set_value", description, [target], model_index.aliases(target),
         lambda: adapter.set_value(entry, value, where, mode))
    return _done(model, {"changed": [target]})


def tie(model: Any, path: str, to: str, *, root: str = "net") -> dict[str, Any]:
    """Make the parameter at `path` the same parameter object as the one at `to` (gradients then add up)."""
    ranks.mirror("tie", model, path=path, to=to)
    adapter = require_adapter(model)
    index = adapter.index(model, root)
    entry, other = _param(index, path), _param(index, to)
    if entry.obj is other.obj:
        raise ActionError(f"{entry.path} and {other.path} are already the same parameter")
    a, b = entry.meta, other.meta
    if a.shape is None or b.shape is None or None in a.shape or None in b.shape:
        raise ActionError(f"cannot tie {entry.path} to {other.path}: a shape is not known yet ({a.state}/{b.state}); "
                          "run a forward pass first")
    if a.shape != b.shape:
        raise ActionError(f"cannot tie {entry.path} {tuple(a.shape)} to {other.path} {tuple(b.shape)}: shapes differ")
    if a.dtype != b.dtype or a.device != b.device:
        raise ActionError(f"cannot tie {entry.path} ({a.dtype} on {a.device}) to {other.path} ({b.dtype} on "
                          f"{b.device}): convert one first so dtype and device match")
    description = f"tie {entry.path} to {other.path}"
    _run(model, adapter, index, "tie", description, [entry.path], [entry.path],
         lambda: adapter.tie(index, entry, other))
    return _done(model, {"changed": [entry.path]})


def untie(model: Any, path: str, *, root: str = "net") -> dict[str, Any]:
    """Give the parameter use at `path` its own copy again (values kept, no longer shared); for a block used
    at several places, give that use its own deep copy of the block."""
    ranks.mirror("untie", model, path=path)
    adapter = require_adapter(model)
    index = adapter.index(model, root)
    found = resolve(index, path)
    if found in index.blocks:
        if len(index.block_uses(found)) < 2:
            raise ActionError(f"block {found or 'model'!r} is used only once; nothing to untie")
        if found == "":
            raise ActionError("the model itself cannot be untied; untie one of its blocks")
        _run(model, adapter, index, "untie", f"untie block {found}", [found], [found],
             lambda: adapter.untie_block(index, found))
        return _done(model, {"changed": [found]})
    entry = _param(index, found)
    if len(index.aliases(entry.path)) < 2:
        raise ActionError(f"{entry.path} is not tied to anything; nothing to untie")
    owner_uses = index.block_uses(entry.owner)
    if len(owner_uses) > 1:
        raise ActionError(
            f"{entry.path} is shared because block {entry.owner!r} is one module used at "
            f"{', '.join(repr(u) for u in owner_uses)}; untie the block instead: untie(model, {entry.owner!r})"
        )
    _run(model, adapter, index, "untie", f"untie {entry.path}", [entry.path], [entry.path],
         lambda: adapter.untie(index, entry))
    return _done(model, {"changed": [entry.path]})


def undo(model: Any, force: bool = False, *, root: str = "net") -> dict[str, Any]:
    """Revert the most recent paramscope action on `model`, after checking that what it changed is still as
    the action left it. When the user changed it since (an edit by hand, a training step, a rebinding, a
    replaced layer, a dtype conversion), undo refuses and says what; `force=True` puts the saved state back
    anyway and reports what it could not put back (a layer that is gone, a shape that changed)."""
    ranks.mirror("undo", model, force=force)
    adapter = require_adapter(model)
    if not isinstance(force, bool):
        raise ActionError(f"force is True or False, got {force!r}")
    state = _state(model)
    if not state.entries:
        more = f" ({state.dropped} older step(s) were dropped to bound memory)" if state.dropped else ""
        raise ActionError(f"nothing to undo{more}")
    entry = state.entries[-1]
    if entry.snapshot is None:
        raise ActionError(f"'{entry.description}' cannot be undone: its saved copy was larger than the undo limit")
    conflicts = _retried(adapter, entry.snapshot.conflicts)
    if conflicts and not force:
        if root == "net":  # called from a cell: the variable's own name in the advice
            from .session import name_of

            root = name_of(model) or root
        raise UndoConflict(
            f"cannot undo '{entry.description}': {'; '.join(conflicts)}. Undoing would overwrite that: "
            f"ps.undo({root}, force=True) puts the saved state back anyway", conflicts
        )
    left = entry.snapshot.restore(force=bool(conflicts))
    state.entries.pop()
    state.revision += 1
    _changed(model, state.revision)
    out: dict[str, Any] = {"undone": entry.to_json(len(state.entries)), "revision": state.revision,
                           "forced": bool(conflicts)}
    if conflicts:
        out["conflicts"] = conflicts
        out["notes"] = left
    return out


def history(model: Any) -> dict[str, Any]:
    """The actions that can be undone, oldest first, and how many were dropped."""
    require_adapter(model)
    state = _state(model)
    return {
        "entries": [e.to_json(i) for i, e in enumerate(state.entries)],
        "dropped": state.dropped,
        "dropped_entries": state.dropped_log,
        "bytes": sum(e.nbytes for e in state.entries if e.snapshot),
        "limit_bytes": HISTORY_LIMIT_BYTES,
        "limit_entries": HISTORY_LIMIT_ENTRIES,
        "revision": state.revision,
    }


def parse_index(index: Any) -> tuple[Any, ...] | None:
    """None, an int, a slice, a tuple, a JSON list (ints, null for ':', [start, stop, step], "...") or text
    such as "0, :3" -> a tuple of ints/slices/Ellipsis. Nothing is evaluated."""
    if index is None:
        return None
    if isinstance(index, str):
        return tuple(_parse_index_text(part) for part in index.strip().strip("[]").split(","))
    items = index if isinstance(index, (tuple, list)) else (index,)
    return tuple(_index_item(i) for i in items)


def _index_item(item: Any) -> Any:
    if item is None:
        return slice(None)
    if item is Ellipsis or item == "...":
        return Ellipsis
    if isinstance(item, bool):
        raise ActionError(f"an index is an integer or a slice, got {item!r}")
    if isinstance(item, int):
        return item
    if isinstance(item, slice):
        return item
    if isinstance(item, str):
        return _parse_index_text(item)
    if isinstance(item, (list, tuple)) and 1 <= len(item) <= 3 and all(x is None or isinstance(x, int) for x in item):
        return slice(*item)
    raise ActionError(f"cannot use {item!r} as an index: give integers, slices such as '1:3', or ':'")


def _parse_index_text(part: str) -> Any:
    part = part.strip()
    if part == "...":
        return Ellipsis
    try:
        if ":" in part:
            bits = [b.strip() for b in part.split(":")]
            if len(bits) > 3:
                raise ValueError
            return slice(*[int(ast.literal_eval(b)) if b else None for b in bits])
        return int(ast.literal_eval(part))
    except (ValueError, SyntaxError, TypeError) as e:
        raise ActionError(f"cannot read index {part!r}: write integers and slices, e.g. '0, 0' or '1:3, :'") from e


def _short(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value) if math.isfinite(value) else str(value)
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"an array of shape {tuple(shape)}"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)}"
    return type(value).__name__
