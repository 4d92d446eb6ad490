"""Training steps of a Keras model for `ps.watch`: model.fit batches and custom-loop optimizer applies."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from ..._errors import ActionError
from ...tree import ModelIndex, TensorEntry
from .. import Unavailable, regroup_sums
from . import grads, values
from .backend import BACKEND
from .paths import Pending

ops = keras.ops


def hook_steps(model: Any, index: ModelIndex, on_forward: Callable[[], ModelIndex | None],
               on_grads: Callable[[list[TensorEntry]], None], recorded: Callable[[], bool]) -> Callable[[], None]:
    # A step is one training step: one model.fit batch, or, in a custom loop, one optimizer apply that
    # updates a variable of the model (values are read before the apply changes them).
    if getattr(model, "steps_per_execution", 1) > 1:
        raise ActionError(
            f"ps.watch cannot record a model compiled with steps_per_execution={model.steps_per_execution}: "
            "model.fit then runs several steps in one traced call, with no Python between them. Compile "
            "with steps_per_execution=1 to watch it")
    trainable = _trainable(index)
    carried = [False]  # a fit call counted as a step that found no batch: the next step is that one

    def start() -> None:
        if carried[0]:
            carried[0] = False
            return
        changed = on_forward()
        fit.listener.wants = recorded()  # a compiled JAX step hands its gradients to the host only then
        if changed is not None:  # a tie, untie or replaced layer: hear the variables the model uses now
            trainable.clear()
            trainable.update(_trainable(changed))
            fit.listener.ids = set(trainable)
            fit.listener.variables = {key: e.obj for key, e in trainable.items()}

    def end(variables: list[Any] | None) -> None:
        # The watch reads the gradients only on a step it records (a missing one is skipped there). A fit step
        # (None) updates every variable heard: no walk of model.trainable_variables per step.
        ready = list(trainable.values()) if variables is None else [
            trainable[id(v)] for v in variables if id(v) in trainable]
        if ready:
            on_grads(ready)

    fit = _FitHook(model, start, end, carried)
    # The optimizer's listener list is global: it reaches the hook (and so the watch and the model) only
    # weakly, and stops listening when the model (which holds the hook) is gone.
    hook = weakref.ref(fit)

    def heard_start() -> None:
        found = hook()
        if found is not None:
            found.start()

    def heard_end(variables: list[Any]) -> None:
        found = hook()
        if found is not None:
            found.end(variables)

    fit.listener = grads.listen([e.obj for e in trainable.values()], heard_start, heard_end)
    weakref.finalize(fit, grads.stop, fit.listener)
    fit.install()  # only now may a training thread (fit, train_on_batch) reach the hook: it is complete
    BACKEND.retrace(model)  # a step compiled before the watch has no host calls for it
    return fit.remove


def _trainable(index: ModelIndex) -> dict[int, TensorEntry]:
    return {id(e.obj): e for e in index.unique_params("") if not isinstance(e.obj, Pending) and e.meta.trainable}


class _FitHook:
    """Counts each model.fit step: wraps the model's train function (and make_train_function, which makes it
    anew) on the instance; `remove` puts both back.

    Another thread may train while a watch starts or stops (#20): `install` publishes the wrappers only once
    the hook is complete, and a lock keeps a make_train_function running in that thread from wrapping the
    train function again after `remove`."""

    listener: grads.Listener

    def __init__(self, model: Any, start: Callable[[], None], end: Callable[[list[Any] | None], None],
                 carried: list[bool]) -> None:
        self.model, self.start, self.end, self.carried = model, start, end, carried
        self.had_make = "make_train_function" in vars(model)
        self.own_make = vars(model).get("make_train_function")
        self.lock = threading.Lock()
        self.removed = False

    def install(self) -> None:
        model = self.model
        original_make = model.make_train_function

        def make_train_function(force: bool = False) -> Any:
            made = original_make(force=force)
            with self.lock:
                if not self.removed:
                    model.train_function = self.wrap(model.train_function)
            return model.train_function if made is not None else made

        with self.lock:
            setattr(model, "make_train_function", make_train_function)  # noqa: B010
            if getattr(model, "train_function", None) is not None:
                model.train_function = self.wrap(model.train_function)

    def wrap(self, function: Any) -> Any:
        if function is None or getattr(function, "__paramscope_fit_step__", None) is not None:
            return function
        model = self.model

        def train_function(*args: Any) -> Any:  # (iterator), or JAX's (state, iterator)
            listener = self.listener  # set before `install` published this wrapper
            if not listener.active or getattr(model, "steps_per_execution", 1) > 1:
                return function(*args)
            with BACKEND.fit_values(model, args[0] if len(args) > 1 else None):
                self.start()
            listener.paused += 1
            try:
                logs = function(*args)
            except BaseException:
                # No step ran (the end of an epoch of unknown length raises OutOfRangeError; the optimizer's
                # counter may move all the same): the next step takes the one counted here.
                self.carried[0] = True
                raise
            finally:
                listener.paused -= 1
            if listener.wants:  # the watch reads nothing else: no lending, no end-of-step work
                BACKEND.settle(logs)
                with BACKEND.fit_values(model, logs[1] if len(args) > 1 else None):
                    self.end(None)
            return logs

        setattr(train_function, "__paramscope_fit_step__", function)  # noqa: B010
        return train_function

    def remove(self) -> None:
        grads.stop(self.listener)
        model = self.model
        with self.lock:
            if self.removed:
                return
            self.removed = True
            if self.had_make:
                setattr(model, "make_train_function", self.own_make)  # noqa: B010
            else:
                vars(model).pop("make_train_function", None)
            function = getattr(model, "train_function", None)
            while function is not None and getattr(function, "__paramscope_fit_step__", None) is not None:
                function = function.__paramscope_fit_step__
            if getattr(model, "train_function", None) is not None:
                model.train_function = function
        BACKEND.retrace(model)


def watch_sums(entries: list[TensorEntry], grad: bool) -> list[tuple[int, float, float, int] | None]:
    """Sum, L2 norm and non-zero count of each variable (or its recorded gradient), float32 at least, with one
    transfer for all of them (the watch's fast path; NaN/Inf take the exact path)."""
    numels: list[int | None] = []
    parts: list[Any] = []
    for entry in entries:
        try:
            x = _tensor(values.readable(entry, grad))
        except Unavailable:
            numels.append(None)
            continue
        dtype = keras.backend.standardize_dtype(x.dtype)
        size = int(np.prod(x.shape)) if None not in x.shape else 0
        if "float" not in dtype or size == 0:
            numels.append(None)
            continue
        numels.append(size)
        if _on_cpu(x):  # numpy on a host view/copy: far fewer dispatches than eager keras.ops
            flat = _host(x).reshape(-1)
            flat = flat if flat.dtype in (np.float32, np.float64) else flat.astype(np.float32)
            parts += [np.sum(flat), np.linalg.norm(flat), np.count_nonzero(flat)]
            continue
        flat = ops.reshape(x if dtype in ("float32", "float64") else ops.cast(x, "float32"), [-1])
        parts += [ops.sum(flat), ops.sqrt(ops.sum(ops.square(flat))), ops.cast(ops.count_nonzero(flat), flat.dtype)]
    sums = [float(np.asarray(ops.convert_to_numpy(p) if not isinstance(p, (np.generic, int)) else p)) for p in parts]
    return regroup_sums(numels, sums)


def _on_cpu(tensor: Any) -> bool:
    device = getattr(tensor, "device", None)
    return "cpu" in str(device() if callable(device) else device).lower()


def _tensor(value: Any) -> Any:
    """A backend tensor of a variable or gradient (TensorFlow: a tf.Variable's read, which shares its buffer)."""
    read = getattr(value, "read_value", None) if BACKEND.name == "tensorflow" else None
    return read() if callable(read) else ops.convert_to_tensor(value)


def _host(x: Any) -> np.ndarray:
    """A CPU tensor as numpy: TensorFlow's as a read-only view of its buffer (no copy), others converted."""
    return np.asarray(x) if BACKEND.name == "tensorflow" else np.asarray(ops.convert_to_numpy(x))


def watch_copy(entry: TensorEntry) -> Any:
    x = _tensor(values.readable(entry, False))
    return np.array(_host(x)) if _on_cpu(x) else ops.copy(x)


def watch_delta_norm(entry: TensorEntry, saved: Any) -> float:
    now = _tensor(values.readable(entry, False))
    if tuple(now.shape) != tuple(saved.shape):
        raise Unavailable("the variable changed shape since the saved step")
    if isinstance(saved, np.ndarray):
        current = _host(now)
        if current.dtype != saved.dtype:
            raise Unavailable("the variable changed dtype since the saved step")
        return float(np.linalg.norm(current - saved))
    if now.dtype != saved.dtype:
        raise Unavailable("the variable changed dtype since the saved step")
    return float(ops.convert_to_numpy(ops.sqrt(ops.sum(ops.square(now - saved)))))
