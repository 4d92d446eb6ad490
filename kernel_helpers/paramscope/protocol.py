"""The request/response protocol and `handle(request)`: the only entry point for every front end.

A request is data, never code: front ends send JSON (base64 over a kernel execute for the sidebar and VS
Code, a widget message for the inline widget) and every name in it is looked up, never evaluated.
"""

from __future__ import annotations

import base64
import contextlib
import gc
import json
import math
from collections.abc import Iterator, Mapping
from typing import Any, Literal, TypedDict

# `paramscope.stats` and `paramscope.watch` are public functions that shadow their submodules on the package,
# so import from the modules.
from . import (
    actions,
    changes,
    freshness,
    initializers,
    limits,
    listing,
    ranks,
    repeats,
    rewind,
    search,
    session,
    size_colors,
    sizes,
    stats_jobs,
    threads,
    tree,
)
from ._errors import ActionError, UndoConflict
from .stats import tensor_values
from .watch import latest as latest_watch
from .watch import watch as start_watch

MIME = "application/vnd.paramscope+json"
VERSION = 1

Op = Literal["models", "tree", "stats", "stats_poll", "stats_cancel", "values", "fingerprints", "initializers",
             "reinit", "set_value", "tie", "untie", "undo", "history", "watch_start", "watch_stop", "watch_poll",
             "watch_focus", "search", "repeats", "sizes", "snapshot_take", "snapshot_clear", "compare"]


class ErrorBody(TypedDict):
    type: str
    message: str


class Response(TypedDict, total=False):
    id: Any
    ok: bool
    result: Any
    error: ErrorBody
    revision: int | None


class BadRequest(Exception):
    """The request itself is malformed (a front-end bug, not a user mistake)."""


# Ops that write the model: refused while another thread trains it (a write would mix with the optimizer's).
_WRITES = frozenset({"reinit", "set_value", "tie", "untie", "undo"})
# Ops that read values: answers taken while another thread trains say so (`during_step`).
_READS = frozenset({"stats", "stats_poll", "values"})


def handle(request: Mapping[str, Any] | str, *, models: Mapping[str, Any] | None = None,
           namespace: Mapping[str, Any] | None = None) -> Response:
    """Answer one request. `models` maps names to models (default: the models of `namespace`, itself
    defaulting to IPython's user namespace); `namespace` is where custom initializers are looked up."""
    req_id = None
    model = None
    try:
        if isinstance(request, str):
            request = _parse(request)
        if not isinstance(request, Mapping):
            raise BadRequest("a request is a JSON object")
        req_id = request.get("id")
        if not (req_id is None or _plain_id(req_id)):
            req_id = None
            raise BadRequest("'id' is an integer or a string of at most 256 characters")
        try:
            limits.check_request(request)
        except limits.TooBig as e:
            raise BadRequest(str(e)) from None
        ns = session.user_namespace() if namespace is None else namespace
        found = session.models(ns) if models is None else models
        op = _field(request, "op", str)
        ranks.forward(request)  # led by ps.lead(): the other ranks read the same values (collectives)
        name = request.get("model")
        if op != "models":
            model = _model(found, name)
        busy = _training(model, op) if op in _WRITES or op in _READS else []
        with _gc_paused():
            result = _dispatch(op, request, model, name, found, ns)
        if op in _READS:
            result = _mark(result, busy, model)
        return _ok(req_id, result, model)
    except UndoConflict as e:  # the front ends offer "Undo anyway" (force) for this one
        return _error(req_id, "UndoConflict", str(e), model)
    except ActionError as e:
        return _error(req_id, "ActionError", str(e), model)
    except BadRequest as e:
        return _error(req_id, "BadRequest", str(e), model)
    except MemoryError:
        return _error(req_id, "ActionError", "not enough memory for this request: free some (del unused tensors, "
                      "gc.collect()) or ask for less", model)
    except Exception as e:  # noqa: BLE001 - the kernel must answer, whatever went wrong
        return _error(req_id, "InternalError", f"paramscope failed ({type(e).__name__}: {e}); the model is "
                      "unchanged. This is a bug: please report it with this message", model)


def _plain_id(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= 256
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= limits.MAX_INT


def _parse(text: str) -> Any:
    if len(text) > limits.MAX_REQUEST_BYTES:
        raise BadRequest(f"the request is {len(text):,} characters; the limit is {limits.MAX_REQUEST_BYTES:,}")
    try:
        return json.loads(text)
    except RecursionError:
        raise BadRequest(f"the request nests arrays/objects more than {limits.MAX_NESTING} deep") from None
    except ValueError as e:
        raise BadRequest(f"the request is not JSON: {e}") from None


def _training(model: Any, op: str) -> list[str]:
    """Threads training `model`'s framework; ActionError for an op that writes the model while one does."""
    adapter = actions.require_adapter(model)
    busy = threads.training(adapter.framework)
    if busy and op in _WRITES:
        raise ActionError(f"{op} refused while {threads.describe(busy)} trains a {adapter.framework} model: a write "
                          "during a training step would mix with the optimizer's. Stop the thread (or change the "
                          "model from the training loop with ps.*) and retry")
    return busy


def _mark(result: Any, busy: list[str], model: Any) -> Any:
    """Flag values read while another thread trains: they may mix two steps (or change between two reads)."""
    if not isinstance(result, dict) or not result.get("available"):
        return result
    busy = sorted({*busy, *threads.training(actions.require_adapter(model).framework)})
    if busy:
        result["during_step"] = True
        result["training"] = busy
    return result


def _dispatch(op: str, req: Mapping[str, Any], model: Any, name: str | None, found: Mapping[str, Any],
              ns: Mapping[str, Any]) -> Any:
    root = name or "net"
    match op:
        case "models":
            return {"models": [listing.summary(n, m) for n, m in found.items()], "version": VERSION}
        case "tree":
            adapter = actions.require_adapter(model)
            index = adapter.index(model, root)
            path = actions.resolve(index, _field(req, "path", str, ""))
            depth = _bounded(req, "depth", 1, 0, limits.MAX_TREE_DEPTH, optional=True)
            offset = _bounded(req, "offset", 0, 0, limits.MAX_INT)
            limit = _bounded(req, "limit", None, 0, limits.MAX_TREE_LIMIT, optional=True)
            if limits.tree_size(index, path, depth, offset, limit) > limits.MAX_TREE_NODES:
                raise ActionError(f"the answer would hold more than {limits.MAX_TREE_NODES:,} nodes: ask for a "
                                  "smaller depth or a page of children (limit)")
            node = tree.build(index, path, depth, offset, limit)
            return {"node": node.to_json(), "framework": index.framework}
        case "search":
            adapter = actions.require_adapter(model)
            limit = _bounded(req, "limit", search.DEFAULT_LIMIT, 1, search.MAX_LIMIT)
            return search.search(adapter.index(model, root), _field(req, "query", str), limit)
        case "repeats":
            index = actions.require_adapter(model).index(model, root)
            path = actions.resolve(index, _field(req, "path", str, ""))
            if path not in index.blocks:
                raise ActionError(f"{path!r} is a parameter or buffer; repeated blocks are among a block's children")
            return {"path": path, "runs": repeats.runs(index, path)}
        case "sizes":
            index = actions.require_adapter(model).index(model, root)
            path = actions.resolve(index, _field(req, "path", str, ""))
            depth = _bounded(req, "depth", 3, 0, sizes.MAX_DEPTH)
            per_block = _bounded(req, "per_block", 40, 1, sizes.MAX_PER_BLOCK)
            stat = _field(req, "color", str, None, optional=True)
            values = None
            if stat is not None:
                size_colors.check(stat)
                if stat != "dtype":
                    values = size_colors.per_tensor(model, actions.require_adapter(model), index, path, stat)
            return {"root": sizes.sizes(index, path, depth, per_block, stat, values), "framework": index.framework,
                    "color": stat or "dtype", "colors": size_colors.available(model, index, path)}
        case "snapshot_take":
            index = actions.require_adapter(model).index(model, root)
            path = actions.resolve(index, _field(req, "path", str, ""))
            limit_bytes = _bounded(req, "limit_bytes", changes.LIMIT_BYTES, 1, changes.MAX_LIMIT_BYTES)
            return {"snapshot": changes.take(model, index, path, limit_bytes).describe()}
        case "snapshot_clear":
            return {"cleared": changes.clear(model)}
        case "compare":
            index = actions.require_adapter(model).index(model, root)
            return changes.compare(model, index, None, _bounded(req, "limit", 200, 1, search.MAX_LIMIT))
        case "stats" | "values":
            adapter = actions.require_adapter(model)
            index = adapter.index(model, root)
            path, grad = _split_grad(_field(req, "path", str))
            entry = _tensor(index, path)
            if op == "stats":
                return stats_jobs.start(adapter, entry, model, grad=grad, bins=_field(req, "bins", int, 64),
                                        budget_ms=_field(req, "budget_ms", int, None, optional=True))
            max_elems = min(_bounded(req, "max_elems", 4096, 1, limits.MAX_INT), limits.MAX_VALUES)
            return tensor_values(adapter, entry, grad=grad, max_elems=max_elems)
        case "stats_poll":
            return stats_jobs.poll(_field(req, "job", str), model,
                                   _field(req, "budget_ms", int, stats_jobs.DEFAULT_BUDGET_MS))
        case "stats_cancel":
            return stats_jobs.cancel(_field(req, "job", str), model)
        case "fingerprints":
            adapter = actions.require_adapter(model)
            return freshness.fingerprints(adapter, model, root, _field(req, "paths", list))
        case "initializers":
            adapter = actions.require_adapter(model)
            return {"catalogue": initializers.describe_catalogue(),
                    "custom": initializers.custom_initializers(ns, adapter)}
        case "reinit":
            args = _field(req, "args", dict, {})
            return actions.reinit(model, _field(req, "path", str, ""), _field(req, "init", str, "default"),
                                  _field(req, "seed", int, None, optional=True),
                                  bias=_field(req, "bias", str, None, optional=True), namespace=ns, root=root, **args)
        case "set_value":
            fn_name = _field(req, "fn", str, None, optional=True)
            if fn_name is not None:
                value = ns.get(fn_name)
                if not callable(value):
                    raise ActionError(f"{fn_name!r} is not a function defined in the notebook")
            elif "value" not in req:
                raise BadRequest("set_value needs 'value' or 'fn'")
            else:
                value = req["value"]
                limits.check_value(value, _numel(model, root, _field(req, "path", str)))
            if isinstance(req.get("index"), str) and len(req["index"]) > limits.MAX_INDEX_TEXT:
                raise ActionError(f"the index is {len(req['index']):,} characters long; write at most "
                                  f"{limits.MAX_INDEX_TEXT:,}, e.g. '0, 1:3'")
            return actions.set_value(model, _field(req, "path", str), value, req.get("index"),
                                     mode=_field(req, "mode", str, "set"), root=root)
        case "tie":
            return actions.tie(model, _field(req, "path", str), _field(req, "to", str), root=root)
        case "untie":
            return actions.untie(model, _field(req, "path", str), root=root)
        case "undo":
            force = _field(req, "force", bool, False)
            to = _field(req, "to", int, None, optional=True)
            if to is not None:  # back to history entry `to`: that one and every later one, atomically
                return rewind.undo_to(model, to, force, root=root)
            return actions.undo(model, force, root=root)
        case "history":
            return actions.history(model)
        case "watch_start":
            every = _field(req, "every", int, 10)
            display = _field(req, "display", bool, False)
            handle = start_watch(model, every, max_records=_field(req, "max_records", int, 1000), root=root,
                                 focus=_field(req, "focus", list, []))
            handle.display = display
            return handle.poll(handle.step + 1)
        case "watch_stop" | "watch_poll" | "watch_focus":
            running = latest_watch(model)
            if running is None:
                raise ActionError(f"{name!r} is not being watched: start a watch first")
            if op == "watch_stop":
                running.stop()
            if op == "watch_focus":
                running.set_focus(_field(req, "focus", list))
            return running.poll(_field(req, "since", int, 0))
    raise BadRequest(f"unknown op {op!r}")


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Reading a big model makes tens of thousands of small objects; the cyclic collector would otherwise scan
    the whole (large) heap several times per request. It runs again as soon as the answer is ready."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _model(found: Mapping[str, Any], name: Any) -> Any:
    if not isinstance(name, str):
        raise BadRequest("this op needs 'model': the variable name of a model")
    if name not in found:
        raise ActionError(f"no model named {name!r} in the kernel (deleted or renamed?); refresh the list")
    return found[name]


def _tensor(index: tree.ModelIndex, path: str) -> tree.TensorEntry:
    found = actions.resolve(index, path)
    if found not in index.tensors:
        raise ActionError(f"{found or 'the model'!r} is a block; statistics are for a parameter or buffer")
    return index.tensors[found]


def _numel(model: Any, root: str, path: str) -> int:
    """Elements of the tensor at `path` (the most numbers a set_value value can hold); 1 if unknown yet."""
    index = actions.require_adapter(model).index(model, root)
    entry = index.tensors.get(actions.resolve(index, path))
    return entry.meta.numel if entry is not None else 1


def _split_grad(path: str) -> tuple[str, bool]:
    return (path[: -len("#grad")], True) if path.endswith("#grad") else (path, False)


_MISSING = object()


def _field(req: Mapping[str, Any], key: str, kind: type, default: Any = _MISSING, optional: bool = False) -> Any:
    value = req.get(key, default)
    if value is _MISSING:
        raise BadRequest(f"missing field {key!r}")
    if value is None and optional:
        return None
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadRequest(f"field {key!r} must be {kind.__name__}, got {type(value).__name__}")
    return value


def _bounded(req: Mapping[str, Any], key: str, default: Any, low: int, high: int, optional: bool = False) -> Any:
    value = _field(req, key, int, default, optional=optional)
    if value is not None and not low <= value <= high:
        raise BadRequest(f"field {key!r} must be between {low} and {high:,}, got {value}")
    return value


def _ok(req_id: Any, result: Any, model: Any) -> Response:
    return {"id": req_id, "ok": True, "result": result, "revision": _revision(model)}


def _error(req_id: Any, kind: str, message: str, model: Any) -> Response:
    if len(message) > limits.MAX_MESSAGE:  # a message quoting a huge path or value stays readable
        message = message[: limits.MAX_MESSAGE // 2] + " … " + message[-limits.MAX_MESSAGE // 2 :]
    return {"id": req_id, "ok": False, "error": {"type": kind, "message": message}, "revision": _revision(model)}


def _revision(model: Any) -> int | None:
    return None if model is None else actions.revision(model)


def to_json(response: Response) -> str:
    """Strict JSON (no NaN/Infinity, which JSON.parse rejects): stray non-finite floats become null, and every
    string is valid UTF-8 (a lone surrogate in a name is written as the text `\\udxxx`, which requests may use
    to name it)."""
    return json.dumps(_finite(response), allow_nan=False, separators=(",", ":"))


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return actions.utf8(value)
    if isinstance(value, dict):
        return {actions.utf8(k) if isinstance(k, str) else k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class Reply:
    """What `call()` returns: IPython renders it as MIME JSON for the sidebar's user_expressions."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {MIME: json.loads(self.text), "text/plain": self.text}


def call(encoded: str) -> Reply:
    """Kernel entry for execute-based transports: `call("<base64 JSON request>")`."""
    try:
        if not isinstance(encoded, str) or len(encoded) > limits.MAX_REQUEST_BYTES * 4 // 3 + 4:
            raise BadRequest(f"a request is a base64 string of at most {limits.MAX_REQUEST_BYTES:,} bytes of JSON")
        request = _parse(base64.b64decode(encoded, validate=True).decode("utf-8"))
    except (BadRequest, ValueError) as e:  # binascii.Error and UnicodeDecodeError are ValueErrors
        return Reply(to_json(_error(None, "BadRequest", f"request is not base64 JSON: {e}", None)))
    return Reply(to_json(handle(request)))
