"""TensorFlow side of the Keras adapter: devices, the tf.Variable under a Keras variable, seeded TF generators."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import tensorflow as tf
from tensorflow.python.eager import context as tf_context
from tensorflow.python.ops import stateful_random_ops


class TensorFlowBackend:
    name = "tensorflow"
    how_to_record = (
        "Run a training step: net.fit(...), or in your own loop `grads = tape.gradient(loss, "
        "net.trainable_variables)` then `optimizer.apply_gradients(zip(grads, net.trainable_variables))`. A "
        "tf.function step traced before paramscope was loaded records nothing: re-create it")

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

    def write(self, var: Any, where: tuple[Any, ...], value: Any) -> None:
        self.native(var)[where].assign(value)

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


BACKEND = TensorFlowBackend()
