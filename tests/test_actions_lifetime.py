"""Nothing of paramscope keeps a model alive: after any action (and its undo history), after the protocol ops
the sidebar and VS Code send, after widget use and after a watch started from a front end, `del net` frees it;
a layer the user replaced is not kept through the history, and a new model at a freed id has no history."""

from __future__ import annotations

import contextlib
import gc
import weakref
from collections.abc import Callable
from typing import Any

import pytest

from paramscope import actions, protocol, session
from tests.undo_kit import kit, paths, ps, same_shape_pairs

FRAMEWORKS = ["pytorch", "keras", "mxnet"]


def _freed(make: Callable[[], Any], use: Callable[[Any], None]) -> bool:
    """Build a model, use it, drop every reference the test has: is it gone after one collection?"""
    model = make()
    ref = weakref.ref(model)
    use(model)
    del model
    gc.collect()
    return ref() is None


def _actions(model: Any) -> None:
    blocks, params = paths(model)
    ps.reinit(model, "", "normal")
    ps.reinit(model, params[0], "default")
    ps.reinit(model, blocks[0], "default")
    ps.set_value(model, params[0], 0.5)
    ps.set_value(model, params[0], lambda old: old * 2)
    a, b = same_shape_pairs(model)[0]
    ps.tie(model, a, b)
    ps.untie(model, a)
    ps.tie(model, a, b)
    with pytest.raises(ps.ActionError):
        ps.reinit(model, "", "no such initializer")
    ps.undo(model)
    assert ps.history(model)["entries"]  # the history still holds the other actions


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_every_action_and_its_history_let_the_model_go(framework):
    k = kit(framework)
    assert _freed(k.make, lambda m: None)  # the frameworks themselves do not keep it
    assert _freed(k.make, _actions)


def _custom_and_failing(k: Any) -> Callable[[Any], None]:
    def use(model: Any) -> None:
        for init in k.custom_inits().values():
            with contextlib.suppress(ps.ActionError):  # refused or failed: nothing must hold on to the model
                ps.reinit(model, "", init)

    return use


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_custom_initializers_refused_or_failed_let_the_model_go(framework):
    k = kit(framework)
    assert _freed(k.make, _custom_and_failing(k))


def _protocol(model: Any) -> None:
    models, ns = {"net": model}, {}
    _, params = paths(model)
    requests: list[dict[str, Any]] = [
        {"op": "models"}, {"op": "tree", "path": "", "depth": None}, {"op": "stats", "path": params[0]},
        {"op": "values", "path": params[0]}, {"op": "fingerprints", "paths": params},
        {"op": "initializers"}, {"op": "reinit", "path": "", "init": "normal"},
        {"op": "set_value", "path": params[0], "value": 1.0}, {"op": "history"},
        {"op": "reinit", "path": params[0], "init": "nope"}, {"op": "undo"}, {"op": "undo", "force": True},
        {"op": "reinit", "path": "", "init": "zeros"},
    ]
    for i, request in enumerate(requests):
        response = protocol.handle({"id": i, "model": "net", **request}, models=models, namespace=ns)
        assert "ok" in response
        protocol.to_json(response)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_protocol_ops_of_the_sidebar_and_vs_code_let_the_model_go(framework):
    k = kit(framework)
    assert _freed(k.make, _protocol)


def _watched_from_a_front_end(model: Any) -> None:
    models = {"net": model}
    started = protocol.handle({"id": 1, "op": "watch_start", "model": "net", "every": 1}, models=models)
    assert started["ok"], started
    protocol.handle({"id": 2, "op": "watch_poll", "model": "net"}, models=models)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_watch_started_from_a_front_end_lets_the_model_go(framework):
    k = kit(framework)
    assert _freed(k.make, _watched_from_a_front_end)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_widget_lets_a_named_model_go_while_it_is_open(framework):
    pytest.importorskip("anywidget")
    k = kit(framework)
    namespace = session.user_namespace()
    widgets: list[Any] = []

    def use(model: Any) -> None:
        namespace["net_b1"] = model
        widget = ps.show(model, name="net_b1")
        widgets.append(widget)
        widget.send = lambda _msg: None  # no front end in this process
        _, params = paths(model)
        for i, request in enumerate([{"op": "tree", "path": ""}, {"op": "stats", "path": params[0]},
                                     {"op": "reinit", "path": "", "init": "normal"}, {"op": "history"}]):
            widget._answer(widget, {"id": i, "model": "net_b1", **request}, [])
        del namespace["net_b1"]

    try:
        assert _freed(k.make, use)
    finally:
        namespace.pop("net_b1", None)
        for widget in widgets:
            widget.close()


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_closed_widget_lets_an_unnamed_model_go(framework):
    pytest.importorskip("anywidget")
    k = kit(framework)

    def use(model: Any) -> None:
        widget = ps.show(model, name="unnamed")
        widget.send = lambda _msg: None
        widget._answer(widget, {"id": 1, "model": "unnamed", "op": "reinit", "path": "", "init": "normal"}, [])
        widget.close()

    assert _freed(k.make, use)


def test_a_replaced_layer_is_not_kept_by_the_history_and_undo_says_it_is_gone():
    k = kit("pytorch")
    nn = k.nn  # type: ignore[attr-defined]
    net = nn.Sequential(nn.Linear(1024, 1024), nn.Linear(1024, 2))  # 4 MB in layer 0
    ps.reinit(net, "0", "normal")
    old = weakref.ref(net[0])
    net[0] = nn.Linear(1024, 1024)
    gc.collect()
    assert old() is None  # the history held it weakly
    with pytest.raises(ps.ActionError, match=r"0.weight is gone .*force=True"):
        ps.undo(net)
    new_weight = net[0].weight.detach().clone()
    result = ps.undo(net, force=True)
    assert result["forced"] and {n["path"] for n in result["notes"]} == {"0.weight", "0.bias"}
    assert all("gone" in n["reason"] for n in result["notes"])
    assert k.torch.equal(net[0].weight, new_weight)  # type: ignore[attr-defined] - the new layer is untouched
    assert ps.history(net)["entries"] == []


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_model_that_is_gone_leaves_no_history_behind(framework):
    k = kit(framework)
    net = k.make()
    ps.reinit(net, "", "normal")
    key = id(net)
    assert key in actions._STATES
    del net
    gc.collect()
    assert key not in actions._STATES
    for _ in range(50):  # CPython often puts a new object of the same class at that address
        new = k.make()
        if id(new) == key:
            break
    assert ps.history(new)["entries"] == [] and actions.revision(new) == 0
