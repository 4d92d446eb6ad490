"""The seam between the Keras adapter and the backend Keras runs on: one small Protocol, one module per backend."""

from __future__ import annotations

import importlib
from contextlib import AbstractContextManager
from typing import Any, Protocol

import keras


class Backend(Protocol):
    """What differs between Keras backends; everything else goes through `keras` and `keras.ops`."""

    name: str  # keras.backend.backend(): "tensorflow", "torch", "jax"
    how_to_record: str  # how a training step of this backend gets its gradients recorded (for "no gradient")

    def native(self, var: Any) -> Any:
        """The backend's own tensor or variable under a Keras variable (never autocast)."""

    def device(self, var: Any) -> str | None:
        """The variable's device, short ("CPU:0", "cuda:0"), as the backend accepts it back."""

    def on_device(self, tensor: Any) -> AbstractContextManager[None]:
        """Run `keras.ops` on the tensor's own device (float64 allowed, no autograd graph) while inside."""

    def write(self, var: Any, where: tuple[Any, ...], value: Any) -> None:
        """`var[where] = value` in place (`value` already has the slice's shape and the variable's dtype)."""

    def seeded(self, seed: int) -> AbstractContextManager[None]:
        """Set the backend's own global generators from `seed` while inside; put them back after."""


def _load() -> Backend:
    name = keras.backend.backend()
    module = importlib.import_module(f"{__package__}.backend_{name}")
    backend: Backend = module.BACKEND
    return backend


BACKEND = _load()
