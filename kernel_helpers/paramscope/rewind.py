"""Undo back to any entry of the history, atomically: the steps are undone one by one, newest first; if one
fails, everything undone before it is put back (from a copy taken first) and the history is as it was."""

from __future__ import annotations

import inspect
from typing import Any

from . import actions
from ._errors import ActionError


def undo_to(model: Any, to: int, force: bool = False, *, root: str = "net") -> dict[str, Any]:
    """Undo history entry `to` and every later one (the model is then as it was before action `to`)."""
    adapter = actions.require_adapter(model)
    state = actions._state(model)
    count = len(state.entries)
    if isinstance(to, bool) or not isinstance(to, int) or not 0 <= to < count:
        raise ActionError(f"no history entry #{to!r}: the history has entries 0 to {count - 1}" if count
                          else "nothing to undo: the history is empty")
    if not isinstance(force, bool):
        raise ActionError(f"force is True or False, got {force!r}")
    steps = state.entries[to:]
    blocked = next((e for e in steps if e.snapshot is None), None)
    if blocked is not None:
        raise ActionError(f"cannot undo back to #{to}: '{blocked.description}' cannot be undone (its saved copy was "
                          "larger than the undo limit); undo back to a later entry instead")
    index = adapter.index(model, root)
    known = set(index.tensors) | set(index.blocks)
    touched = [p for e in steps for p in (*e.paths, *e.changed) if p in known]
    paths = list(dict.fromkeys(touched))
    # Gradients too, where the adapter saves them (an undone custom init may have written them).
    takes_grads = "grads" in inspect.signature(adapter.snapshot).parameters
    guard = adapter.snapshot(index, paths, grads=True) if takes_grads else adapter.snapshot(index, paths)
    undone: list[dict[str, Any]] = []
    try:
        for _ in steps:
            undone.append(actions.undo(model, force=force, root=root))
    except BaseException as error:
        if not undone:
            raise  # nothing was undone: the error (e.g. a conflict that force=True would pass) says why
        guard.restore()
        state.entries.extend(steps[len(steps) - len(undone):])
        state.revision += 1
        actions._changed(model, state.revision)
        failed = steps[len(steps) - len(undone) - 1]
        raise ActionError(
            f"undo back to #{to} stopped at '{failed.description}': {error}. The {len(undone)} newer step(s) undone "
            "before it were put back, so nothing changed"
        ) from error
    return {
        "undone": [u["undone"] for u in undone],
        "revision": state.revision,
        "forced": any(u.get("forced") for u in undone),
        "notes": [n for u in undone for n in u.get("notes", [])],
    }
