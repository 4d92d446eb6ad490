"""The one exception paramscope raises for a refused or failed action."""

from __future__ import annotations


class ActionError(Exception):
    """An action was refused or failed; the model is unchanged. The message says what to do instead."""


class UndoConflict(ActionError):
    """Undo refused: the state the action left was changed since; `conflicts` says what, one phrase each."""

    def __init__(self, message: str, conflicts: list[str]) -> None:
        super().__init__(message)
        self.conflicts = conflicts
