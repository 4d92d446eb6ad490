"""TensorFlow side of the Keras adapter: devices, the tf.Variable under a Keras variable, seeded TF generators."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.python.eager import context as tf_context
from tensorflow.python.ops import control_flow_util, stateful_random_ops

from ..._errors import ActionError
from .. import numba_stats
from . import distribute


class TensorFlowBackend:
    name = "tensorflow"
    how_to_record = (
        "Run a training step: net.fit(...), or in your own loop `grads = tape.gradient(loss, "
        "net.trainable_variables)` then `optimizer.apply_gradients(zip(grads, net.trainable_variables))`. A "
        "tf.function step traced before paramscope was loaded records nothing: re-create it")
    stateless_optimizer = False
    records_in_trace = True

    def native(self, var: Any) -> Any:
        """The tf.Variable under a Keras variable (its `.value` would autocast inside a mixed-precision scope)."""
        value = getattr(var, "_value", None)
        return value if value is not None else var.value

    def device(self, var: Any) -> str | None:
        """"/job:localhost/replica:0/task:0/device:GPU:0" -> "GPU:0", as `tf.device` accepts it."""
        device = self.native(var).device
        spec = tf.DeviceSpec.from_string(device)
        if spec.device_type is None:
            return str(device)
        return f"{spec.device_type}:{spec.device_index or 0}"

    def on_device(self, tensor: Any) -> contextlib.AbstractContextManager[None]:
        return tf.device(str(getattr(tensor, "device", "") or ""))

    def host_view(self, tensor: Any) -> np.ndarray | None:
        # A tf.Variable's read tensor shares its buffer; the variable's numpy() copies.
        read = getattr(tensor, "read_value", None)
        return np.asarray(read() if callable(read) else tensor)

    def transient(self, error: BaseException) -> bool:
        return False

    def kernel_threads(self) -> int | None:
        return numba_stats.THREADS or tf.config.threading.get_intra_op_parallelism_threads() or numba_stats.cpus()

    def reread(self, get: Callable[[], Any], read: Callable[[Any], Any]) -> Any:
        return read(get())

    def write(self, var: Any, where: tuple[Any, ...], value: Any) -> None:
        native = self.native(var)
        if not distribute.write(native, where, value):  # a mirrored variable: every replica
            native[where].assign(value)

    @contextlib.contextmanager
    def seeded(self, seed: int) -> Iterator[None]:
        """TF's op-level seed and global `tf.random.Generator` set from `seed`, then put back."""
        ctx = tf_context.context()
        tf_seed, tf_rng = ctx._seed, getattr(ctx, "_rng", None)
        tf_generator = stateful_random_ops.global_generator
        try:
            tf.random.set_seed(seed)
            stateful_random_ops.global_generator = tf.random.Generator.from_seed(seed)
            yield
        finally:
            ctx._seed = tf_seed
            if tf_rng is None:
                if hasattr(ctx, "_rng"):
                    del ctx._rng
            else:
                ctx._rng = tf_rng
            stateful_random_ops.global_generator = tf_generator


    def outside_compile(self, function: Callable[..., Any]) -> Callable[..., Any]:
        return function  # tf.function traces it; traced_step and record_traced handle that

    def tracing(self, grads: list[Any]) -> bool:
        return bool(tf.inside_function())

    def dense(self, grad: Any) -> Any:
        return tf.convert_to_tensor(grad) if isinstance(grad, tf.IndexedSlices) else grad

    def record_eager(self, record: Any, grad: Any) -> None:
        if record.holder is not None:
            record.holder.assign(tf.cast(grad, record.holder.dtype))
            record.holder_written = True
        else:
            record.eager = grad

    def record_traced(self, held: list[tuple[Any, Any, Any]], optimizer: Any,
                      wanted: Callable[[], bool] | None) -> None:
        """A holder tf.Variable per gradient, made once outside the graph on the variable's device, assigned in
        it (an assignment in the graph costs less than asking the host whether to make it)."""
        for record, variable, grad in held:
            _hold(record, variable, grad, optimizer)

    def settle(self, outputs: Any) -> None:
        return None  # its steps have finished when they return

    def latest(self, record: Any) -> Any:
        if record.holder is not None and (record.holder_written or _traced_step_ran(record)):
            record.holder_written = True  # it stays written: no read of the optimizer's counter next time
            return record.holder
        return record.eager

    def own_grad(self, variable: Any) -> Any:
        return None

    def fit_values(self, model: Any, state: Any) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def retrace(self, model: Any) -> None:
        return None  # traced steps record into holder variables whether or not a watch listens

    def traced_step(self, apply: Callable[[], Any], variables: list[Any], grads: Mapping[int, Any],
                    records: Mapping[int, Any], on_start: Callable[[], int],
                    on_end: Callable[[list[int], Any], int]) -> Any:
        if control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()):
            raise ActionError(
                "ps.watch cannot record a training step compiled with XLA (tf.function(jit_compile=True)): XLA "
                "runs no Python per step. Stop the watch, or trace the step without jit_compile")
        start = tf.py_function(on_start, [], Tout=tf.int32, name="paramscope_step_start")
        with tf.control_dependencies([start]):
            result = apply()
        held = [record for v in variables if (record := records.get(id(v))) is not None and record.holder is not None]

        def end() -> int:
            for record in held:  # this step wrote them (the optimizer's counter may not show it yet)
                record.holder_written = True
            return on_end([], [])

        # No gradient leaves the graph here: the step's holders are assigned in it, and a listener reads them
        # from Python on the steps it records only. The host call waits for their assignments (automatic
        # control dependencies keep an assignment and a later read of the same variable in program order).
        with tf.control_dependencies([record.holder.read_value() for record in held]):
            tf.py_function(end, [], Tout=tf.int32, name="paramscope_step_end")
        return result


def _hold(record: Any, variable: Any, grad: Any, optimizer: Any) -> None:
    if record.holder is None:
        with tf.init_scope():
            with tf.device(BACKEND.native(variable).device):
                record.holder = tf.Variable(tf.zeros(variable.shape, grad.dtype), trainable=False,
                                            name="paramscope_grad")
            record.optimizer = weakref.ref(optimizer)
            record.iterations_at_trace = int(optimizer._iterations.numpy())
            record.holder_written = False
    record.holder.assign(tf.cast(grad, record.holder.dtype))


def _traced_step_ran(record: Any) -> bool:
    optimizer = record.optimizer() if record.optimizer is not None else None
    if optimizer is None:
        return False
    return int(optimizer._iterations.numpy()) > record.iterations_at_trace


BACKEND = TensorFlowBackend()
