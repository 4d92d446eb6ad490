"""PyTorch side of the Keras adapter: torch devices, the Parameter under a Keras variable, `.grad`, torch's RNG."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import keras
import numpy as np
import torch

from ... import threads
from ..._errors import ActionError
from .. import Unavailable, numba_stats

_NO_NUMPY = (torch.bfloat16, torch.complex32)


class TorchBackend:
    name = "torch"
    how_to_record = (
        "Run a training step: net.fit(...), or in your own loop `loss.backward()` then `optimizer.apply([v.value"
        ".grad for v in net.trainable_variables], net.trainable_variables)` (paramscope also reads the .grad "
        "that backward leaves on each variable)")
    stateless_optimizer = False
    records_in_trace = False

    def native(self, var: Any) -> Any:
        """The torch Parameter under a Keras variable (its `.value` would autocast inside a mixed-precision
        scope)."""
        value = getattr(var, "_value", None)
        return value if value is not None else var.value

    def device(self, var: Any) -> str | None:
        """torch's own name: "cpu", "cuda:0", "mps:0"."""
        device = self.native(var).device
        return str(device) if device.index is not None or device.type == "cpu" else f"{device.type}:0"

    @contextlib.contextmanager
    def on_device(self, tensor: Any) -> Iterator[None]:
        # keras.ops puts new tensors on Keras' current device; a scope makes that the tensor's own.
        device = getattr(tensor, "device", None)
        with torch.no_grad(), keras.device(str(device)) if device is not None else contextlib.nullcontext():
            yield

    def host_view(self, tensor: Any) -> np.ndarray | None:
        if tensor.device.type != "cpu" or tensor.dtype in _NO_NUMPY or not tensor.is_contiguous():
            return None  # numpy has no bfloat16 nor complex32; a strided view would be copied by reshape
        return tensor.detach().numpy()

    def transient(self, error: BaseException) -> bool:
        return False

    def kernel_threads(self) -> int | None:
        return numba_stats.THREADS or torch.get_num_threads()  # as the PyTorch adapter

    def reread(self, get: Callable[[], Any], read: Callable[[Any], Any]) -> Any:
        return read(get())

    def write(self, var: Any, where: tuple[Any, ...], value: Any) -> None:
        with torch.no_grad():
            self.native(var)[where] = value

    @contextlib.contextmanager
    def seeded(self, seed: int) -> Iterator[None]:
        """torch's global generators (CPU and every CUDA device) set from `seed`, then put back (fork_rng)."""
        devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

    def outside_compile(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """A graph break: a compiled step (jit_compile=True) runs `function` eagerly, with real tensors."""
        disabled: Callable[..., Any] = torch.compiler.disable(function)
        return disabled

    def tracing(self, grads: list[Any]) -> bool:
        # torch.compile (jit_compile=True) runs this Python while it traces: nothing to record then.
        return bool(torch.compiler.is_compiling())

    def dense(self, grad: Any) -> Any:
        return grad.to_dense() if isinstance(grad, torch.Tensor) and grad.is_sparse else grad

    def record_eager(self, record: Any, grad: Any) -> None:
        record.eager = grad.detach() if isinstance(grad, torch.Tensor) else grad

    def record_traced(self, held: list[tuple[Any, Any, Any]], optimizer: Any,
                      wanted: Callable[[], bool] | None) -> None:
        return None  # a compiled step keeps no Python record; the variable's .grad still is read

    def settle(self, outputs: Any) -> None:
        return None  # its steps have finished when they return

    def latest(self, record: Any) -> Any:
        return record.eager

    def own_grad(self, variable: Any) -> Any:
        busy = threads.training("keras/torch")
        if busy:  # reading .grad while another thread runs backward kills the process (see paramscope.threads)
            raise Unavailable(f"not read while {threads.describe(busy)} trains: PyTorch does not allow reading "
                              ".grad during another thread's backward pass; it shows when the thread stops")
        grad = getattr(self.native(variable), "grad", None)
        return None if grad is None else grad.detach()

    def fit_values(self, model: Any, state: Any) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def retrace(self, model: Any) -> None:
        return None

    def traced_step(self, apply: Callable[[], Any], variables: list[Any], grads: Mapping[int, Any],
                    records: Mapping[int, Any], on_start: Callable[[], int],
                    on_end: Callable[[list[int], Any], int]) -> Any:
        raise ActionError(
            "ps.watch cannot record a training step compiled with torch.compile (model.compile(jit_compile="
            "True) on the torch backend): the compiled step runs no Python per step. Stop the watch, or compile "
            "with jit_compile=False")


BACKEND = TorchBackend()
