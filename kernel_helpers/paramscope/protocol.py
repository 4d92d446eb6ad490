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
from . import actions, freshness, initializers, listing, ranks, rewind, session, stats_jobs, tree
from ._errors import ActionError, UndoConflict
from .stats import tensor_values
from .watch import latest as latest_watch
from .watch import watch as start_watch

MIME = "application/vnd.paramscope+json"
VERSION = 1

Op = Literal["models", "tree", "stats", "stats_poll", "stats_cancel", "values", "fingerprints", "initializers",
             "reinit", "set_value", "tie", "untie", "undo", "history", "watch_start", "watch_stop", "watch_poll",
             "watch_focus"]


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


def handle(request: Mapping[str, Any] | str, *, models: Mapping[str, Any] | None = None,
           namespace: Mapping[str, Any] | None = None) -> Response:
    """Answer one request. `models` maps names to models (default: the models of `namespace`, itself
    defaulting to IPython's user namespace); `namespace` is where custom initializers are looked up."""
    req_id = None
    model = None
    try:
        if isinstance(request, str):
            request = json.loads(request)
        if not isinstance(request, Mapping):
            raise BadRequest("a request is a JSON object")
        req_id = request.get("id")
        ns = session.user_namespace() if namespace is None else namespace
        found = session.models(ns) if models is None else models
        op = _field(request, "op", str)
        ranks.forward(request)  # led by ps.lead(): the other ranks read the same values (collectives)
        name = request.get("model")
        if op != "models":
            model = _model(found, name)
        with _gc_paused():
            result = _dispatch(op, request, model, name, found, ns)
        return _ok(req_id, result, model)
    except UndoConflict as e:  # the front ends offer "Undo anyway" (force) for this one
        return _error(req_id, "UndoConflict", str(e), model)
    except ActionError as e:
        return _error(req_id, "ActionError", str(e), model)
    except BadRequest as e:
        return _error(req_id, "BadRequest", str(e), model)
    except Exception as e:  # noqa: BLE001 - the kernel must answer, whatever went wrong
        return _error(req_id, type(e).__name__, f"{type(e).__name__}: {e}", model)


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
            node = tree.build(index, path, _field(req, "depth", int, 1, optional=True),
                              _field(req, "offset", int, 0), _field(req, "limit", int, None, optional=True))
            return {"node": node.to_json(), "framework": index.framework}
        case "stats" | "values":
            adapter = actions.require_adapter(model)
            index = adapter.index(model, root)
            path, grad = _split_grad(_field(req, "path", str))
            entry = _tensor(index, path)
            if op == "stats":
                return stats_jobs.start(adapter, entry, model, grad=grad, bins=_field(req, "bins", int, 64),
                                        budget_ms=_field(req, "budget_ms", int, None, optional=True))
            return tensor_values(adapter, entry, grad=grad, max_elems=_field(req, "max_elems", int, 4096))
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
            handle = start_watch(model, every, max_records=_field(req, "max_records", int, 1000), root=root,
                                 focus=_field(req, "focus", list, []))
            return handle.poll(handle.step + 1)
        case "watch_stop" | "watch_poll" | "watch_focus":
            running = latest_watch(model)
            if running is None:
                raise ActionError(f"{name!r} is not being watched: start a watch first")
            if op == "watch_stop":
                running.stop()
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


def _ok(req_id: Any, result: Any, model: Any) -> Response:
    return {"id": req_id, "ok": True, "result": result, "revision": _revision(model)}


def _error(req_id: Any, kind: str, message: str, model: Any) -> Response:
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
        request = json.loads(base64.b64decode(encoded).decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        return Reply(to_json(_error(None, "BadRequest", f"request is not base64 JSON: {e}", None)))
    return Reply(to_json(handle(request)))
