"""The inline notebook widget: an anywidget whose front end (static/widget.js) speaks `protocol.handle`."""

from __future__ import annotations

import contextlib
import json
import pathlib
import weakref
from collections.abc import Callable
from typing import Any

import anywidget
import traitlets

from . import protocol, session
from .actions import require_adapter

_STATIC = pathlib.Path(__file__).parent / "static"

if not (_STATIC / "widget.js").is_file():
    raise ImportError(
        "paramscope's widget front end is not built: in a source checkout run `make setup` (or `npm ci && "
        "npm run build:widget`); installed wheels include it"
    )


class ParamScopeWidget(anywidget.AnyWidget):
    """Explorer for one model. Requests arrive as custom messages and are answered the same way."""

    _esm = _STATIC / "widget.js"
    _css = _STATIC / "widget.css"
    model_name = traitlets.Unicode("").tag(sync=True)
    framework = traitlets.Unicode("").tag(sync=True)

    def __init__(self, model: Any, name: str, **kwargs: Any) -> None:
        framework = require_adapter(model).framework
        super().__init__(model_name=name, framework=framework, **kwargs)
        # A model that is a notebook variable is held weakly, so that `del net` frees it even while its widget
        # is still on screen; an unnamed one (`ps.show(make_net())`) lives as long as its widget.
        self._model: Callable[[], Any] = lambda: model
        if session.name_of(model) is not None:
            with contextlib.suppress(TypeError):  # not weak-referenceable: held like an unnamed one
                self._model = weakref.ref(model)
        self.on_msg(self._answer)

    def _answer(self, _widget: Any, content: Any, _buffers: Any) -> None:
        model = self._model()
        models = {} if model is None else {self.model_name: model}
        response = protocol.handle(content, models=models, namespace=session.user_namespace())
        # Strict JSON: NaN/Infinity (e.g. from a diverged tensor) would make the browser reject the message.
        self.send(json.loads(protocol.to_json(response)))


def show(model: Any, *, name: str) -> ParamScopeWidget:
    """The widget for `model`, which requests call `name` (its variable name, used in "copy as code")."""
    return ParamScopeWidget(model, name)
