"""The seam between the Keras adapter and the backend Keras runs on: one small Protocol, one module per backend."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol

import keras
import numpy as np


class Backend(Protocol):
    """What differs between Keras backends; everything else goes through `keras` and `keras.ops`."""

    name: str  # keras.backend.backend(): "tensorflow", "torch", "jax"
    how_to_record: str  # how a training step of this backend gets its gradients recorded (for "no gradient")
    stateless_optimizer: bool  # the optimizer steps 1:1 over the variables it was built with (JAX)
    records_in_trace: bool  # a traced step records gradients without a listener (so re-trace one made before)

    def native(self, var: Any) -> Any:
        """The backend's own tensor or variable under a Keras variable (never autocast)."""

    def device(self, var: Any) -> str | None:
        """The variable's device, short ("CPU:0", "cuda:0"), as the backend accepts it back."""

    def on_device(self, tensor: Any) -> AbstractContextManager[None]:
        """Run `keras.ops` on the tensor's own device (float64 allowed, no autograd graph) while inside."""

    def host_view(self, tensor: Any) -> np.ndarray | None:
        """A numpy view of a CPU tensor's own buffer (no copy) that stays readable while it is held (a variable's
        buffer too), or None where the backend has none (another device, a dtype numpy cannot view)."""

    def transient(self, error: BaseException) -> bool:
        """Whether `error` only says that a training step on another thread held a value read at that moment
        (JAX: the array it donated to its update); reading again a moment later succeeds."""

    def kernel_threads(self) -> int | None:
        """Threads for the numba kernels on a CPU chunk (PARAMSCOPE_STATS_THREADS where set): as many as the
        backend's own reductions use (PyTorch's intra-op count; TensorFlow's, or every CPU when it is left to
        TensorFlow; every CPU for XLA on JAX)."""

    def reread(self, get: Callable[[], Any], read: Callable[[Any], Any]) -> Any:
        """`read(get())`; where a training step on another thread can take the tensor `get` gave (JAX donates a
        variable's array to its compiled update), `read` again on the one `get` gives then."""

    def write(self, var: Any, where: tuple[Any, ...], value: Any) -> None:
        """`var[where] = value` in place (`value` already has the slice's shape and the variable's dtype)."""

    def seeded(self, seed: int) -> AbstractContextManager[None]:
        """Set the backend's own global generators from `seed` while inside; put them back after."""


    # -- gradients (see grads.py) ----------------------------------------------------------------------------

    def outside_compile(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """`function`, run outside a graph the backend compiles from Python (torch.compile) if it has one."""

    def tracing(self, grads: list[Any]) -> bool:
        """Whether an optimizer apply runs while a step is traced (symbolic tensors, no values yet)."""

    def dense(self, grad: Any) -> Any:
        """The gradient as a dense tensor (an Embedding's sparse one, densified)."""

    def record_eager(self, record: Any, grad: Any) -> None:
        """Keep `grad`, a tensor with values, as the variable's latest gradient."""

    def record_traced(self, held: list[tuple[Any, Any, Any]], optimizer: Any,
                      wanted: Callable[[], bool] | None) -> None:
        """Have the step being traced keep each (record, variable, grad) gradient when it runs (if the backend
        can); `wanted`: None when no watch listens, else asked at run time whether a watch reads this step's."""

    def settle(self, outputs: Any) -> None:
        """Wait until a step that ran asynchronously (JAX) has finished, its host calls included."""

    def latest(self, record: Any) -> Any:
        """The latest gradient a record holds, or None."""

    def own_grad(self, variable: Any) -> Any:
        """A gradient the framework keeps on the variable itself (PyTorch's `.grad`), or None."""

    def fit_values(self, model: Any, state: Any) -> AbstractContextManager[None]:
        """While inside, the model's variables hold the values of a model.fit step's `state` (JAX's trainer
        passes them through the compiled step and keeps none on the variables); elsewhere nothing to do."""

    def retrace(self, model: Any) -> None:
        """Re-make a compiled train function whose trace depends on whether a watch listens (JAX's host calls)."""

    def traced_step(self, apply: Callable[[], Any], variables: list[Any], grads: Mapping[int, Any],
                    records: Mapping[int, Any], on_start: Callable[[], int],
                    on_end: Callable[[list[int], Any], int]) -> Any:
        """Run `apply` in a traced step with `on_start()` ordered before it and `on_end(ids, grads)` after,
        both called from the running step; refuse (ActionError) where the step cannot call Python."""


def _load() -> Backend:
    name = keras.backend.backend()
    module = importlib.import_module(f"{__package__}.backend_{name}")
    backend: Backend = module.BACKEND
    return backend


BACKEND = _load()
