"""Records the gradients a Keras optimizer applies, so that `ps.stats(net, path + "#grad")` can show them.

TensorFlow keeps no `.grad` on a variable: a gradient lives only as long as the user's `GradientTape` result.
Every Keras training step, in a custom loop (`optimizer.apply_gradients(zip(grads, vars))`) or in `model.fit`,
passes the gradients through `BaseOptimizer.apply`, so the Keras adapter wraps that one method when it loads
(`install()`, idempotent) and keeps, per variable, only the latest gradient:

- eager steps: a reference to the gradient tensor (no copy; freed when the next step replaces it);
- traced steps (`tf.function`, `model.fit`, also under XLA): a holder `tf.Variable` of the variable's shape,
  created once outside the graph with `tf.init_scope()` and assigned inside it, on the variable's device. It
  counts as written once the optimizer's iteration counter has moved past its value at trace time.

Gradients are recorded unscaled (`loss_scale_factor`, `LossScaleOptimizer` hands unscaled ones to its inner
optimizer). Recording never breaks training: any failure while recording skips the record. A step traced
before `install()` has no recording op in its graph; the adapter re-makes a model's train function for that
case.
"""

from __future__ import annotations

import contextlib
import functools
import weakref
from dataclasses import dataclass
from typing import Any

import tensorflow as tf
from keras.src.optimizers.base_optimizer import BaseOptimizer


@dataclass
class _Record:
    eager: Any = None  # latest gradient of an eager step
    holder: tf.Variable | None = None  # written by traced steps (and by eager ones once it exists)
    optimizer: weakref.ref[Any] | None = None
    iterations_at_trace: int = 0
    holder_written: bool = False  # set by eager writes; traced writes are detected by the iteration counter


_RECORDS: dict[int, _Record] = {}


def install() -> None:
    """Wrap `BaseOptimizer.apply` once so that every Keras optimizer records what it applies."""
    if getattr(BaseOptimizer.apply, "__paramscope_original__", None) is not None:
        return
    original = BaseOptimizer.apply

    @functools.wraps(original)
    def apply(self: Any, grads: Any, trainable_variables: Any = None) -> Any:
        with contextlib.suppress(Exception):  # a failed record must never stop the user's training step
            _record(self, list(grads), trainable_variables)
        return original(self, grads, trainable_variables)

    setattr(apply, "__paramscope_original__", original)  # noqa: B010 - marks the wrapper, for mypy too
    BaseOptimizer.apply = apply


def latest(variable: Any) -> Any:
    """The latest recorded gradient of `variable` (a tensor or holder variable), or None."""
    record = _RECORDS.get(id(variable))
    if record is None:
        return None
    if record.holder is not None and (record.holder_written or _traced_step_ran(record)):
        return record.holder
    return record.eager


def has_traced_record(variable: Any) -> bool:
    """Whether a traced training step (tf.function / model.fit) records this variable's gradient."""
    record = _RECORDS.get(id(variable))
    return record is not None and record.holder is not None


def _traced_step_ran(record: _Record) -> bool:
    optimizer = record.optimizer() if record.optimizer is not None else None
    if optimizer is None:
        return False
    return int(optimizer._iterations.numpy()) > record.iterations_at_trace


def _record(optimizer: Any, grads: list[Any], variables: Any) -> None:
    if variables is None:
        variables = getattr(optimizer, "_trainable_variables", None) or []
    variables = list(variables)
    scale = getattr(optimizer, "loss_scale_factor", None)
    traced = tf.inside_function()
    for grad, variable in zip(grads, variables, strict=False):
        if grad is None:
            continue
        if isinstance(grad, tf.IndexedSlices):
            grad = tf.convert_to_tensor(grad)  # sparse (Embedding) gradients are shown dense
        if scale is not None:
            grad = grad / scale
        record = _RECORDS.get(id(variable))
        if record is None:
            record = _RECORDS[id(variable)] = _Record()
            weakref.finalize(variable, _RECORDS.pop, id(variable), None)
        if traced:
            if record.holder is None:
                with tf.init_scope():
                    with tf.device(_tf_variable(variable).device):
                        record.holder = tf.Variable(tf.zeros(variable.shape, grad.dtype), trainable=False,
                                                    name="paramscope_grad")
                    record.optimizer = weakref.ref(optimizer)
                    record.iterations_at_trace = int(optimizer._iterations.numpy())
                    record.holder_written = False
            record.holder.assign(tf.cast(grad, record.holder.dtype))
        elif record.holder is not None:
            record.holder.assign(tf.cast(grad, record.holder.dtype))
            record.holder_written = True
        else:
            record.eager = grad


def _tf_variable(variable: Any) -> Any:
    """The tf.Variable under a Keras variable (its `.value` would autocast inside a mixed-precision scope)."""
    value = getattr(variable, "_value", None)
    return value if value is not None else variable.value
