"""Gradients a Keras optimizer applies, recorded so that `ps.stats(net, path + "#grad")` can show them.

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

Step listeners (`listen`, used by `ps.watch`) hear each outermost `apply` that updates one of their variables
(a LossScaleOptimizer's inner apply is part of its outer one): `on_start()` before the optimizer changes
anything, `on_end(variables)` once the step's gradients are recorded. In an eager step they are called
directly; in a step traced while a listener exists, two `tf.py_function` calls are put in the graph (the
first one ordered before the update, the second one given the recorded gradients), and they call whichever
listeners exist when the step runs. XLA cannot run Python, so tracing an XLA-compiled step while a listener
exists raises ActionError. A paused listener (`model.fit`, which counts its steps itself) hears nothing.
"""

from __future__ import annotations

import contextlib
import functools
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import tensorflow as tf
from keras.src.optimizers.base_optimizer import BaseOptimizer
from tensorflow.python.ops import control_flow_util

from ..._errors import ActionError
from .backend import BACKEND


@dataclass
class _Record:
    eager: Any = None  # latest gradient of an eager step
    holder: tf.Variable | None = None  # written by traced steps (and by eager ones once it exists)
    optimizer: weakref.ref[Any] | None = None
    iterations_at_trace: int = 0
    holder_written: bool = False  # set by eager writes; traced writes are detected by the iteration counter


_RECORDS: dict[int, _Record] = {}
# Models whose train function paramscope re-made because it was traced before gradients were recorded.
_RETRACED: weakref.WeakSet[Any] = weakref.WeakSet()


@dataclass(eq=False)
class Listener:
    """Hears the optimizer steps that update any of `ids` (variable ids); see the module docstring."""

    ids: set[int]
    on_start: Callable[[], None]
    on_end: Callable[[list[Any]], None]
    paused: int = 0
    active: bool = True
    variables: dict[int, Any] = field(default_factory=dict)


_LISTENERS: list[Listener] = []
_DEPTH = [0]  # nesting of apply calls: only the outermost one is a step
_OVERRIDE: dict[int, Any] = {}  # variable id -> the gradient a traced step hands to its listeners


def listen(variables: list[Any], on_start: Callable[[], None],
           on_end: Callable[[list[Any]], None]) -> Listener:
    """Start a listener; `stop(listener)` ends it."""
    listener = Listener({id(v) for v in variables}, on_start, on_end,
                        variables={id(v): v for v in variables})
    _LISTENERS.append(listener)
    return listener


def stop(listener: Listener) -> None:
    listener.active = False
    with contextlib.suppress(ValueError):
        _LISTENERS.remove(listener)


def _hearing(variables: list[Any]) -> list[Listener]:
    ids = {id(v) for v in variables}
    return [li for li in list(_LISTENERS) if li.active and not li.paused and li.ids & ids]


@contextlib.contextmanager
def _overriding(grads: dict[int, Any]) -> Iterator[None]:
    _OVERRIDE.update(grads)
    try:
        yield
    finally:
        for key in grads:
            _OVERRIDE.pop(key, None)


def install() -> None:
    """Wrap `BaseOptimizer.apply` once so that every Keras optimizer records what it applies."""
    if getattr(BaseOptimizer.apply, "__paramscope_original__", None) is not None:
        return
    original = BaseOptimizer.apply

    @functools.wraps(original)
    def apply(self: Any, grads: Any, trainable_variables: Any = None) -> Any:
        grads = list(grads)
        with contextlib.suppress(Exception):  # a failed record must never stop the user's training step
            _record(self, grads, trainable_variables)
        if not _LISTENERS or _DEPTH[0]:
            return original(self, grads, trainable_variables)
        variables = list(trainable_variables if trainable_variables is not None
                         else getattr(self, "_trainable_variables", None) or [])
        if not _hearing(variables):
            return original(self, grads, trainable_variables)
        _DEPTH[0] += 1
        try:
            if tf.inside_function():
                return _traced_step(self, grads, trainable_variables, variables, original)
            for listener in _hearing(variables):
                listener.on_start()
            result = original(self, grads, trainable_variables)
            for listener in _hearing(variables):
                listener.on_end(variables)
            return result
        finally:
            _DEPTH[0] -= 1

    setattr(apply, "__paramscope_original__", original)  # noqa: B010 - marks the wrapper, for mypy too
    BaseOptimizer.apply = apply


def _traced_step(optimizer: Any, grads: list[Any], trainable_variables: Any, variables: list[Any],
                 original: Callable[..., Any]) -> Any:
    if control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()):
        raise ActionError(
            "ps.watch cannot record a training step compiled with XLA (tf.function(jit_compile=True)): XLA "
            "runs no Python per step. Stop the watch, or trace the step without jit_compile")
    ids = [id(v) for v in variables]
    start = tf.py_function(lambda: _dispatch_start(ids), [], Tout=tf.int32, name="paramscope_step_start")
    with tf.control_dependencies([start]):
        result = original(optimizer, grads, trainable_variables)
    holders = [(i, record.holder) for i in ids
               if (record := _RECORDS.get(i)) is not None and record.holder is not None]
    # Reading a holder after its assignment: automatic control dependencies keep the two in program order.
    values = [holder.read_value() for _, holder in holders]
    held = [i for i, _ in holders]
    tf.py_function(lambda *v: _dispatch_end(ids, held, v), values, Tout=tf.int32, name="paramscope_step_end")
    return result


def _dispatch_start(ids: list[int]) -> int:
    for listener in [li for li in list(_LISTENERS) if li.active and not li.paused and li.ids & set(ids)]:
        listener.on_start()
    return 0


def _dispatch_end(ids: list[int], held: list[int], values: Any) -> int:
    with _overriding(dict(zip(held, values, strict=True))):
        for listener in [li for li in list(_LISTENERS) if li.active and not li.paused and li.ids & set(ids)]:
            listener.on_end([listener.variables[i] for i in ids if i in listener.variables])
    return 0


def latest(variable: Any) -> Any:
    """The latest recorded gradient of `variable` (a tensor or holder variable), or None."""
    if id(variable) in _OVERRIDE:
        return _OVERRIDE[id(variable)]
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
                    with tf.device(BACKEND.native(variable).device):
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


def retrace_unrecorded(model: Any) -> None:
    """A model.fit traced before paramscope loaded records no gradients: re-make its train function once."""
    if getattr(model, "train_function", None) is None or model in _RETRACED:
        return
    _RETRACED.add(model)
    if not any(has_traced_record(v) for v in model.trainable_variables):
        model.make_train_function(force=True)
