"""JAX side of the Keras adapter: jax devices, float64 statistics, immutable arrays, host callbacks in jitted steps."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import jax
import jax.experimental
import jax.numpy as jnp
import numpy as np
from jax.experimental import io_callback
from keras.src.backend.common.stateless_scope import get_stateless_scope

from .. import Unavailable, numba_stats


class JaxBackend:
    name = "jax"
    how_to_record = (
        "Run a training step: net.fit(...) (a compiled fit step records them while ps.watch runs, or always "
        "with model.compile(jit_compile=False)), or in your own loop `grads = jax.grad(loss_fn)(values)` then "
        "`optimizer.stateless_apply(...)`: an eager step records them, a jax.jit step only when it was traced "
        "while ps.watch ran")
    stateless_optimizer = True
    records_in_trace = False

    def native(self, var: Any) -> Any:
        """The jax Array under a Keras variable (its `.value` would autocast inside a mixed-precision scope); in
        a stateless step (`stateless_apply` run eagerly), the step's value of it."""
        scope = get_stateless_scope()
        value = scope.get_current_value(var) if scope is not None else None
        if value is None:
            value = _settled(var)
        if value is None:
            raise Unavailable(
                f"{var.path} has no value now: Keras on JAX moves a model's values into the compiled training "
                "step while model.fit runs and gives them back at the end of each epoch")
        return value

    def device(self, var: Any) -> str | None:
        """"cpu:0", "gpu:0" (what keras.device accepts); a sharded array lists its devices."""
        value = getattr(var, "_value", None)
        sharding = getattr(value, "sharding", None)
        if sharding is None:
            return None
        # The placement, not the buffer: a training step on another thread may have donated the buffer
        # (`devices()` would raise "Array has been deleted"); its new value lands on the same devices.
        return ",".join(sorted(f"{d.platform}:{d.id}" for d in sharding.device_set))

    @contextlib.contextmanager
    def on_device(self, tensor: Any) -> Iterator[None]:
        # JAX computes in float32 unless x64 is on: a local (thread's) switch, put back on exit.
        sharding = getattr(tensor, "sharding", None)
        devices = list(sharding.device_set) if sharding is not None else []
        with jax.experimental.enable_x64():
            if len(devices) == 1:
                with jax.default_device(devices[0]):
                    yield
            else:
                yield

    def host_view(self, tensor: Any) -> np.ndarray | None:
        """numpy's view of a CPU array's buffer. While the view lives, a training step that donates the array
        to its update copies it instead (XLA does not donate a buffer with outside references)."""
        sharding = getattr(tensor, "sharding", None)
        if sharding is None or len(sharding.device_set) != 1 or next(iter(sharding.device_set)).platform != "cpu":
            return None
        view = np.asarray(tensor)
        return view if not view.flags.owndata else None  # a copy would be no better than the device path

    def transient(self, error: BaseException) -> bool:
        return _donated(error)

    def kernel_threads(self) -> int | None:
        return numba_stats.THREADS or numba_stats.cpus()  # XLA's CPU client runs a thread per CPU

    def reread(self, get: Callable[[], Any], read: Callable[[Any], Any]) -> Any:
        deadline = time.monotonic() + _WAIT_S
        while True:
            value = get()
            try:
                return read(value)
            except RuntimeError as error:
                if not _donated(error) or time.monotonic() > deadline:
                    raise
            time.sleep(0.001)  # the step assigns the new array when its update returns

    def write(self, var: Any, where: tuple[Any, ...], value: Any) -> None:
        var.assign(self.native(var).at[where].set(value))

    def seeded(self, seed: int) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()  # JAX has no global generator (Keras' own SeedGenerator is set apart)

    def outside_compile(self, function: Callable[..., Any]) -> Callable[..., Any]:
        return function  # jax.jit traces it; record_traced and traced_step hand values to the host

    def tracing(self, grads: list[Any]) -> bool:
        return any(isinstance(g, jax.core.Tracer) for g in grads)

    def dense(self, grad: Any) -> Any:
        return grad

    def record_eager(self, record: Any, grad: Any) -> None:
        record.eager = grad

    def record_traced(self, held: list[tuple[Any, Any, Any]], optimizer: Any,
                      wanted: Callable[[], bool] | None) -> None:
        """While a watch listens, the jitted step asks the host whether a watch reads this step's gradients (one
        call, no values) and hands them over only then: unrecorded steps keep them on the device."""
        if wanted is None:
            return
        records = [record for record, _, _ in held]

        def keep(*grads: Any) -> None:
            for record, grad in zip(records, grads, strict=True):
                record.eager = jnp.asarray(grad)

        def hand_over(grads: list[Any]) -> None:
            jax.debug.callback(keep, *grads)  # unordered: an ordered host call takes JAX off its fast dispatch

        asked = io_callback(lambda: np.asarray(wanted()), jax.ShapeDtypeStruct((), np.bool_))
        jax.lax.cond(asked, hand_over, lambda _: None, [grad for _, _, grad in held])

    def settle(self, outputs: Any) -> None:
        jax.block_until_ready(outputs)  # a recorded step's gradients reach the host before the watch reads them

    def latest(self, record: Any) -> Any:
        return record.eager

    def own_grad(self, variable: Any) -> Any:
        return None

    def fit_values(self, model: Any, state: Any) -> contextlib.AbstractContextManager[None]:
        """JAX's fit state is (trainable, non-trainable, optimizer, metrics values): lend the model's two."""
        if state is None:
            return contextlib.nullcontext()
        return lend([*model.trainable_variables, *model.non_trainable_variables], [*state[0], *state[1]])

    def retrace(self, model: Any) -> None:
        if getattr(model, "train_function", None) is not None:
            model.make_train_function(force=True)

    def traced_step(self, apply: Callable[[], Any], variables: list[Any], grads: Mapping[int, Any],
                    records: Mapping[int, Any], on_start: Callable[[], int],
                    on_end: Callable[[list[int], Any], int]) -> Any:
        """Host callbacks before and after the update; the first one sees the step's values (a stateless step's
        variables hold none of them) lent to the variables while it runs."""
        scope = get_stateless_scope()
        current = [_current(scope, v) for v in variables]
        def start(*values: Any) -> None:
            with lend(variables, values):
                on_start()

        def end(*values: Any) -> None:
            on_end(held, values)

        jax.debug.callback(start, *current, ordered=True)
        result = apply()
        held = [i for i in (id(v) for v in variables) if i in grads]
        jax.debug.callback(end, *[grads[i] for i in held], ordered=True)
        return result


def lend(variables: Sequence[Any], values: Sequence[Any]) -> contextlib.AbstractContextManager[None]:
    """The values of a stateless step (model.fit's state) held by the variables while inside."""
    return _Lent(list(variables), list(values))


class _Lent:
    def __init__(self, variables: list[Any], values: list[Any]) -> None:
        self.variables, self.values = variables, values
        self.saved: list[Any] = []

    def __enter__(self) -> None:
        self.saved = [getattr(v, "_value", None) for v in self.variables]
        for var, value in zip(self.variables, self.values, strict=False):
            var._value = value if isinstance(value, jax.Array) else jnp.asarray(value)

    def __exit__(self, *exc: object) -> None:
        for var, value in zip(self.variables, self.saved, strict=False):
            var._value = value


_WAIT_S = 2.0  # how long a read waits for a training step to give back the array it donated


def _donated(error: BaseException) -> bool:
    """JAX's errors for a read of an array that a jitted step took as a donated buffer: a plain RuntimeError
    "Array has been deleted with shape=float32[4,3]." where jax checks first, XLA's "INVALID_ARGUMENT: Invalid
    buffer passed: buffer has been deleted or donated." (an XlaRuntimeError) where the step took it meanwhile."""
    text = str(error)
    return isinstance(error, RuntimeError) and (
        text.startswith("Array has been deleted") or "buffer has been deleted or donated" in text)


def _settled(var: Any) -> Any:
    """The variable's jax Array; while a training step on another thread has donated it to its compiled update
    (the array is deleted until the step assigns the new one), the new one."""
    deadline = time.monotonic() + _WAIT_S
    while True:
        value = getattr(var, "_value", None)
        if value is None or not isinstance(value, jax.Array) or not value.is_deleted():
            return value
        if time.monotonic() > deadline:
            raise Unavailable(
                f"{var.path} is being written: a training step on another thread holds its value and has not "
                "given it back; try again when the step is done")
        time.sleep(0.001)


def _current(scope: Any, var: Any) -> Any:
    value = scope.get_current_value(var) if scope is not None else None
    return var.value if value is None else value


BACKEND = JaxBackend()
