"""Gradients a Keras optimizer applies, recorded so that `ps.stats(net, path + "#grad")` can show them.

TensorFlow and JAX keep no gradient on a variable (PyTorch's `.grad` is read as well): a gradient lives only as
long as the user's tape, `backward` or `jax.grad` result. Every Keras training step, in a custom loop
(`optimizer.apply_gradients`, `optimizer.apply`, `optimizer.stateless_apply`) or in `model.fit`, passes the
gradients through `BaseOptimizer.apply`, so the Keras adapter wraps that one method when it loads (`install()`,
idempotent) and keeps, per variable, only the latest gradient:

- eager steps: a reference to the gradient tensor (no copy; freed when the next step replaces it);
- traced steps: what the backend can keep (`Backend.record_traced`): TensorFlow (`tf.function`, `model.fit`,
  also under XLA) assigns a holder `tf.Variable`, created once outside the graph and counted as written once
  the optimizer's iteration counter has moved past its value at trace time; JAX (`jax.jit`) hands the values
  to the host with `jax.debug.callback`, in steps traced while a `ps.watch` listens, and only in the steps it
  records (`wanted()`, asked by the step as it runs, gates the hand-off with `lax.cond`).

Gradients are recorded unscaled (`loss_scale_factor`, `LossScaleOptimizer` hands unscaled ones to its inner
optimizer). Recording never breaks training: any failure while recording skips the record. A TensorFlow step
traced before `install()` has no recording op in its graph; the adapter re-makes a model's train function for
that case.

Step listeners (`listen`, used by `ps.watch`) hear each outermost `apply` that updates one of their variables
(a LossScaleOptimizer's inner apply is part of its outer one): `on_start()` before the optimizer changes
anything, `on_end(variables)` once the step's gradients are recorded. In an eager step they are called
directly; in a step traced while a listener exists the backend puts two host calls in the graph
(`Backend.traced_step`: `tf.py_function`, `jax.debug.callback`), the first one ordered before the update, the
second one given the gradients, and they call whichever listeners exist when the step runs. A paused listener
(`model.fit`, which counts its steps itself) hears nothing.
"""

from __future__ import annotations

import contextlib
import functools
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from keras.src.optimizers.base_optimizer import BaseOptimizer

from .backend import BACKEND


@dataclass
class Record:
    """The latest gradient of one variable, as its backend keeps it."""

    eager: Any = None  # latest gradient of an eager step (or one a traced JAX step handed over)
    holder: Any = None  # TensorFlow: a tf.Variable written by traced steps (and by eager ones once it exists)
    optimizer: weakref.ref[Any] | None = None
    iterations_at_trace: int = 0
    holder_written: bool = False  # set by eager writes; traced writes are detected by the iteration counter


_RECORDS: dict[int, Record] = {}
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
    wants: bool = True  # whether the step now running is one whose gradients the watch reads (set per step)
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


def wanted() -> bool:
    """Whether a listener reads the gradients of the step now running (a compiled JAX step asks as it runs)."""
    return any(li.active and li.wants for li in list(_LISTENERS))


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
    # torch.compile runs these two outside the compiled graph (values, not traced ones); elsewhere as they are.
    record, heard = BACKEND.outside_compile(_record_safely), BACKEND.outside_compile(_heard_step)

    @functools.wraps(original)
    def apply(self: Any, grads: Any, trainable_variables: Any = None) -> Any:
        grads = list(grads)
        record(self, grads, trainable_variables)
        if not _LISTENERS or _DEPTH[0]:
            return original(self, grads, trainable_variables)
        variables = list(trainable_variables if trainable_variables is not None
                         else getattr(self, "_trainable_variables", None) or [])
        if not _hearing(variables):
            return original(self, grads, trainable_variables)
        return heard(self, grads, trainable_variables, variables, original)

    setattr(apply, "__paramscope_original__", original)  # noqa: B010 - marks the wrapper, for mypy too
    BaseOptimizer.apply = apply


def _record_safely(optimizer: Any, grads: list[Any], variables: Any) -> None:
    with contextlib.suppress(Exception):  # a failed record must never stop the user's training step
        _record(optimizer, grads, variables)


def _heard_step(optimizer: Any, grads: list[Any], trainable_variables: Any, variables: list[Any],
                original: Callable[..., Any]) -> Any:
    """One optimizer step that listeners hear: on_start before the update, on_end after it."""
    _DEPTH[0] += 1
    try:
        if BACKEND.tracing(grads):
            return _traced_step(optimizer, grads, trainable_variables, variables, original)
        for listener in _hearing(variables):
            listener.on_start()
        result = original(optimizer, grads, trainable_variables)
        for listener in _hearing(variables):
            listener.on_end(variables)
        return result
    finally:
        _DEPTH[0] -= 1


def _traced_step(optimizer: Any, grads: list[Any], trainable_variables: Any, variables: list[Any],
                 original: Callable[..., Any]) -> Any:
    ids = [id(v) for v in variables]
    traced = {id(v): g for g, v in zip(grads, variables, strict=False) if g is not None}
    return BACKEND.traced_step(lambda: original(optimizer, grads, trainable_variables), variables, traced,
                               _RECORDS, lambda: _dispatch_start(ids), lambda held, v: _dispatch_end(ids, held, v))


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
        return BACKEND.own_grad(variable)
    return BACKEND.latest(record)


def has_traced_record(variable: Any) -> bool:
    """Whether a traced training step (tf.function / model.fit) records this variable's gradient."""
    record = _RECORDS.get(id(variable))
    return record is not None and record.holder is not None


def _record(optimizer: Any, grads: list[Any], variables: Any) -> None:
    if variables is None:
        variables = getattr(optimizer, "_trainable_variables", None) or []
    variables = list(variables)
    scale = getattr(optimizer, "loss_scale_factor", None)
    traced = BACKEND.tracing(grads)
    held: list[tuple[Record, Any, Any]] = []
    for grad, variable in zip(grads, variables, strict=False):
        if grad is None:
            continue
        grad = BACKEND.dense(grad)
        if scale is not None:
            grad = grad / scale
        record = _RECORDS.get(id(variable))
        if record is None:
            record = _RECORDS[id(variable)] = Record()
            weakref.finalize(variable, _RECORDS.pop, id(variable), None)
        if traced:
            held.append((record, variable, grad))
        else:
            BACKEND.record_eager(record, grad)
    if held:
        BACKEND.record_traced(held, optimizer, wanted if _LISTENERS else None)


def retrace_unrecorded(model: Any) -> None:
    """A model.fit traced before paramscope loaded records no gradients: re-make its train function once."""
    if not BACKEND.records_in_trace or getattr(model, "train_function", None) is None or model in _RETRACED:
        return
    _RETRACED.add(model)
    if not any(has_traced_record(v) for v in model.trainable_variables):
        model.make_train_function(force=True)
