"""Finds the live models of the user's namespace (IPython's, or a given dict) without holding on to them."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from .adapters import adapter_for


def user_namespace() -> Mapping[str, Any]:
    """IPython's user namespace in a kernel; the `__main__` globals in plain Python."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None:
        namespace: Mapping[str, Any] = shell.user_ns
        return namespace
    main = sys.modules.get("__main__")
    return vars(main) if main is not None else {}


def models(namespace: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Variables in `namespace` that hold a model of a framework the user imported, in definition order.

    Names starting with "_" (IPython's output cache, private helpers) are left out. The returned dict holds
    references only as long as the caller keeps it."""
    ns = user_namespace() if namespace is None else namespace
    found = {}
    for name, obj in list(ns.items()):
        if name.startswith("_"):
            continue
        try:
            if not isinstance(obj, type) and adapter_for(obj) is not None:
                found[name] = obj
        except Exception:  # noqa: BLE001 - a half-built user object must not break the listing
            continue
    return found


def name_of(model: Any, namespace: Mapping[str, Any] | None = None) -> str | None:
    """The first public variable name bound to `model`, for "copy as code"."""
    ns = user_namespace() if namespace is None else namespace
    for name, obj in list(ns.items()):
        if obj is model and not name.startswith("_"):
            return name
    return None
