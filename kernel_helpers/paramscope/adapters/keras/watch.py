"""Training steps of a Keras model for `ps.watch`: model.fit batches and custom-loop optimizer applies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..._errors import ActionError
from ...tree import ModelIndex, TensorEntry
from . import grads
from .paths import Pending


def hook_steps(model: Any, index: ModelIndex, on_forward: Callable[[], None],
               on_grads: Callable[[list[TensorEntry]], None]) -> Callable[[], None]:
    # A step is one training step: one model.fit batch, or, in a custom loop, one optimizer apply that
    # updates a variable of the model (values are read before the apply changes them).
    if getattr(model, "steps_per_execution", 1) > 1:
        raise ActionError(
            f"ps.watch cannot record a model compiled with steps_per_execution={model.steps_per_execution}: "
            "model.fit then runs several steps in one traced call, with no Python between them. Compile "
            "with steps_per_execution=1 to watch it")
    trainable = {id(e.obj): e for e in index.unique_params("")
                 if not isinstance(e.obj, Pending) and e.meta.trainable}
    carried = [False]  # a fit call counted as a step that found no batch: the next step is that one

    def start() -> None:
        if carried[0]:
            carried[0] = False
            return
        on_forward()

    def end(variables: list[Any]) -> None:
        ready = [trainable[id(v)] for v in variables
                 if id(v) in trainable and grads.latest(v) is not None]
        if ready:
            on_grads(ready)

    listener = grads.listen([e.obj for e in trainable.values()], start, end)
    fit = _FitHook(model, listener, start, end, carried)
    return fit.remove


class _FitHook:
    """Counts each model.fit step: wraps the model's train function (and make_train_function, which makes it
    anew) on the instance; `remove` puts both back."""

    def __init__(self, model: Any, listener: grads.Listener, start: Callable[[], None],
                 end: Callable[[list[Any]], None], carried: list[bool]) -> None:
        self.model, self.listener, self.start, self.end, self.carried = model, listener, start, end, carried
        self.had_make = "make_train_function" in vars(model)
        self.own_make = vars(model).get("make_train_function")
        original_make = model.make_train_function

        def make_train_function(force: bool = False) -> Any:
            made = original_make(force=force)
            model.train_function = self.wrap(model.train_function)
            return model.train_function if made is not None else made

        setattr(model, "make_train_function", make_train_function)  # noqa: B010
        if getattr(model, "train_function", None) is not None:
            model.train_function = self.wrap(model.train_function)

    def wrap(self, function: Any) -> Any:
        if function is None or getattr(function, "__paramscope_fit_step__", None) is not None:
            return function
        model, listener = self.model, self.listener

        def train_function(iterator: Any) -> Any:
            if not listener.active or getattr(model, "steps_per_execution", 1) > 1:
                return function(iterator)
            self.start()
            listener.paused += 1
            try:
                logs = function(iterator)
            except BaseException:
                # No step ran (the end of an epoch of unknown length raises OutOfRangeError; the optimizer's
                # counter may move all the same): the next step takes the one counted here.
                self.carried[0] = True
                raise
            finally:
                listener.paused -= 1
            self.end(list(model.trainable_variables))
            return logs

        setattr(train_function, "__paramscope_fit_step__", function)  # noqa: B010
        return train_function

    def remove(self) -> None:
        grads.stop(self.listener)
        model = self.model
        if self.had_make:
            setattr(model, "make_train_function", self.own_make)  # noqa: B010
        else:
            vars(model).pop("make_train_function", None)
        function = getattr(model, "train_function", None)
        while function is not None and getattr(function, "__paramscope_fit_step__", None) is not None:
            function = function.__paramscope_fit_step__
        if getattr(model, "train_function", None) is not None:
            model.train_function = function
