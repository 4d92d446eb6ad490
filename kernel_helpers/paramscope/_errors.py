"""The one exception paramscope raises for a refused or failed action."""

from __future__ import annotations


class ActionError(Exception):
    """An action was refused or failed; the model is unchanged. The message says what to do instead."""
