"""Fingerprints of the tensors a view shows, so that after each cell it can tell which values changed."""

from __future__ import annotations

from typing import Any

from . import listing
from ._errors import ActionError

MAX_PATHS = 2000  # a view asks for the rows in sight and the selection: a few dozen


def fingerprints(adapter: Any, model: Any, root: str, paths: list[Any]) -> dict[str, Any]:
    """`{"fingerprints": {path: {"value", "grad"} | None}, "supported"}`: a token per tensor and per gradient
    ("none" while there is no gradient), None for a path that is no tensor of the model any more. Tokens are
    only compared for equality; `supported` is false for a framework without fingerprints (refresh instead)."""
    if len(paths) > MAX_PATHS:
        raise ActionError(f"ask for at most {MAX_PATHS} fingerprints at a time, not {len(paths)}")
    fingerprint = getattr(adapter, "fingerprint", None)
    table, alt_names = listing.tensors(adapter, model, root) if fingerprint is not None else ({}, {})
    out: dict[str, Any] = {}
    for path in paths:
        if not isinstance(path, str):
            raise ActionError(f"a path is a string, got {type(path).__name__}")
        if fingerprint is None:
            out[path] = None
            continue
        # A plain lookup: a missing path is an answer here (the view refreshes), not a mistake to explain.
        entry = table.get(alt_names.get(path, path))
        if entry is None:
            out[path] = None
            continue
        grad = fingerprint(entry, True) if entry.kind == "param" else "none"
        out[path] = {"value": fingerprint(entry, False), "grad": grad}
    return {"fingerprints": out, "supported": fingerprint is not None}
