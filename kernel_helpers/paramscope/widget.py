"""The inline notebook widget: an anywidget whose front end (static/widget.js) speaks `protocol.handle`."""

from __future__ import annotations

import contextlib
import json
import pathlib
import re
import sys
import weakref
from collections.abc import Callable
from typing import Any

import anywidget
import traitlets

from . import actions, protocol, session, watch_push
from .actions import require_adapter

_STATIC = pathlib.Path(__file__).parent / "static"

if not (_STATIC / "widget.js").is_file():
    raise ImportError(
        "paramscope's widget front end is not built: in a source checkout run `make setup` (or `npm ci && "
        "npm run build:widget`); installed wheels include it"
    )


class ParamScopeWidget(anywidget.AnyWidget):
    """Explorer for one model. Requests arrive as custom messages and are answered the same way."""

    # Text, not paths: for a path anywidget connects each widget to a class-wide file watcher that holds it
    # (and so an unnamed model) for ever, closed or not.
    _esm = (_STATIC / "widget.js").read_text(encoding="utf-8")
    _css = (_STATIC / "widget.css").read_text(encoding="utf-8")
    model_name = traitlets.Unicode("").tag(sync=True)
    framework = traitlets.Unicode("").tag(sync=True)
    # The widget's language ("tr", "pt-BR", "en"); "" follows JupyterLab's language, else the browser's.
    locale = traitlets.Unicode("").tag(sync=True)

    def __init__(self, model: Any, name: str, **kwargs: Any) -> None:
        framework = require_adapter(model).framework
        super().__init__(model_name=name, framework=framework, **kwargs)
        # A model that is a notebook variable is held weakly, so that `del net` frees it even while its widget
        # is still on screen; an unnamed one (`ps.show(make_net())`) lives as long as its widget.
        self._model: Callable[[], Any] = lambda: model
        if session.name_of(model) is not None:
            with contextlib.suppress(TypeError):  # not weak-referenceable: held like an unnamed one
                self._model = weakref.ref(model)
        self._answering = False
        self.on_msg(self._answer)
        # Changes made elsewhere (the sidebar, another widget, ps.reinit in a cell) refresh this widget at once.
        self._unsubscribe = actions.on_change(_notify(weakref.ref(self)))
        # A running ps.watch of this model pushes its new records while the training cell runs.
        self._unwatch = watch_push.on_push(_forward_watch(weakref.ref(self)))
        # After each cell it compares the fingerprints of what it shows (values changed by code, new gradients).
        _OPEN.add(self)
        _listen_to_cells()

    @traitlets.validate("locale")
    def _valid_locale(self, proposal: dict[str, Any]) -> str:
        return check_locale(proposal["value"])

    def close(self) -> None:
        unsubscribe = getattr(self, "_unsubscribe", None)  # close() also runs for a widget that failed to build
        if unsubscribe is not None:
            unsubscribe()
        unwatch = getattr(self, "_unwatch", None)
        if unwatch is not None:
            unwatch()
        _OPEN.discard(self)
        super().close()

    def _answer(self, _widget: Any, content: Any, _buffers: Any) -> None:
        model = self._model()
        models = {} if model is None else {self.model_name: model}
        self._answering = True
        try:
            response = protocol.handle(content, models=models, namespace=session.user_namespace())
        finally:
            self._answering = False
        # Strict JSON: NaN/Infinity (e.g. from a diverged tensor) would make the browser reject the message.
        self.send(json.loads(protocol.to_json(response)))


def _notify(widget_ref: Callable[[], ParamScopeWidget | None]) -> Callable[[Any, int], None]:
    """A change listener that holds the widget weakly, so a widget nobody shows any more can be freed."""

    def listener(model: Any, revision: int) -> None:
        widget = widget_ref()
        # The widget that made the change learns the revision from its own answer.
        if widget is not None and not widget._answering and widget._model() is model:
            widget.send({"event": "revision", "revision": revision})

    return listener


_OPEN: weakref.WeakSet[ParamScopeWidget] = weakref.WeakSet()
_LISTENING: list[Any] = []  # the IPython shell whose post_run_cell event tells the widgets


def _listen_to_cells() -> None:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or any(s is shell for s in _LISTENING):
        return
    shell.events.register("post_run_cell", _after_cell)
    _LISTENING.append(shell)


def _after_cell(_result: Any) -> None:
    """A user's cell finished (silent executes, like the sidebar's, do not count): tell every open widget."""
    for widget in list(_OPEN):
        if widget.comm is not None:
            widget.send({"event": "cell"})


def _forward_watch(widget_ref: Callable[[], ParamScopeWidget | None]) -> Callable[[Any, dict[str, Any]], None]:
    """A watch-push sink that holds the widget weakly; it sends only the pushes about the widget's model."""

    def sink(model: Any, payload: dict[str, Any]) -> None:
        widget = widget_ref()
        if widget is not None and widget.comm is not None and widget._model() is model:
            widget.send(watch_push.strict_json(payload))  # the comm's send is safe from a training thread

    return sink


# The languages the front end has a catalogue for (src/i18n): English, Turkish, Portuguese (Brazil); a region
# other than these languages' own is refused rather than shown in a language the user did not ask for.
_LOCALE = re.compile(r"(?i)(en([-_][a-z]{2})?|tr([-_]tr)?|pt([-_]br)?)")
LOCALES = ("en", "tr", "pt-BR")


def check_locale(locale: str) -> str:
    """`locale` if the widget speaks it ("" follows the page); a clear ValueError otherwise."""
    if not isinstance(locale, str) or (locale and not _LOCALE.fullmatch(locale.strip())):
        raise ValueError(f"locale={locale!r} is not a language paramscope speaks: use one of {', '.join(LOCALES)}, "
                         "or leave it out to follow JupyterLab's language")
    return locale.strip()


def show(model: Any, *, name: str, locale: str | None = None) -> ParamScopeWidget:
    """The widget for `model`, which requests call `name` (its variable name, used in "copy as code"), in
    `locale` (default: JupyterLab's language, else the browser's)."""
    return ParamScopeWidget(model, name, locale=check_locale(locale or ""))
