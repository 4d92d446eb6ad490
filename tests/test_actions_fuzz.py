"""Fuzzing `protocol.handle` for undo safety: 10,000 seeded requests per framework, valid and broken, against a
model whose names hold spaces, quotes and a lone surrogate. Every answer is strict UTF-8 JSON, no request
raises, a failed request changes nothing, and undoing everything afterwards gives each earlier state back."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from paramscope import actions, protocol
from paramscope.adapters import adapter_for
from tests.undo_kit import Kit, kit

REQUESTS = 10_000
OPS = ["models", "tree", "stats", "values", "fingerprints", "initializers", "reinit", "set_value", "tie", "untie",
       "undo", "history", "watch_poll", "watch_stop", "nonsense", None, 7]
MUTATING = {"reinit", "set_value", "tie", "untie"}
ODD = [None, True, False, 0, -1, 2**70, 1.5, float("nan"), float("inf"), "", " ", "\ud800", "0", [], {}, [[]],
       {"a": 1}, "x" * 300]


def _oddly(rng: random.Random, good: list[Any]) -> Any:
    """Usually one of `good`, sometimes a value of the wrong kind."""
    return rng.choice(good) if good and rng.random() < 0.8 else rng.choice(ODD)


def _path(rng: random.Random, paths: list[str]) -> Any:
    roll = rng.random()
    if roll < 0.75:
        return rng.choice(paths)
    if roll < 0.85:  # near misses: a prefix, a suffix, the escaped spelling, another quote
        path = rng.choice(paths)
        return rng.choice([path[:-1], path + ".", path + "#grad", path.replace("'", '"'), path.replace(" ", "_"),
                           protocol.actions.utf8(path), path.upper()])
    return rng.choice(ODD)


def _request(rng: random.Random, paths: list[str], params: list[str], names: list[str]) -> dict[str, Any]:
    op = rng.choice(OPS)
    req: dict[str, Any] = {"id": rng.randrange(10**6), "op": op, "model": _oddly(rng, ["net", "net", "net", "other"])}
    if rng.random() < 0.05:
        del req["model"]
    if op in ("tree", "stats", "values", "reinit", "set_value", "tie", "untie"):
        req["path"] = _path(rng, paths if op in ("tree", "reinit", "untie") else params)
    if op == "tree":
        req.update(depth=_oddly(rng, [0, 1, 2, None]), offset=_oddly(rng, [0, 1]), limit=_oddly(rng, [None, 2]))
    elif op == "fingerprints":
        req["paths"] = _oddly(rng, [rng.sample(params, 2), [rng.choice(ODD)]])
    elif op == "reinit":
        req["init"] = _oddly(rng, ["normal", "zeros", "default", "constant", "normal(0, 0.02)", "orthogonal",
                                   "uniform(1, 0)", "nope", *names])
        req["args"] = _oddly(rng, [{}, {"value": 2.0}, {"std": -1.0}, {"mean": "x"}, {"gain": 1.0}])
        req["seed"] = _oddly(rng, [None, 0, 3, 2**31])
        if rng.random() < 0.2:
            req["bias"] = _oddly(rng, ["zeros", "keep", "same", "other"])
    elif op == "set_value":
        if rng.random() < 0.15:
            req["fn"] = _oddly(rng, names)
        else:
            req["value"] = _oddly(rng, [0.5, -3, 1e30, [1.0, 2.0], [[1.0]], float("nan"), "1", [1, "a"]])
        req["index"] = _oddly(rng, [None, "0", "0, 1:3", "[1]", "1:2:3:4", [0], [None, 0], "..."])
        req["mode"] = _oddly(rng, ["set", "add", "mul", "div"])
    elif op == "tie":
        req["to"] = _path(rng, params)
    elif op == "undo":
        if rng.random() < 0.3:
            req["force"] = _oddly(rng, [True, False])
        if rng.random() < 0.1:
            req["to"] = _oddly(rng, [0, -1, 100])
    if rng.random() < 0.03:
        req[rng.choice(["path", "op", "extra"])] = rng.choice(ODD)
    return req


def _namespace(k: Kit) -> dict[str, Any]:
    ns: dict[str, Any] = dict(k.custom_inits())

    def bad_value(old):  # set_value fn that raises
        raise ValueError("no value for you")

    ns["bad_value"] = bad_value
    ns["double_it"] = lambda old: old * 2
    return ns


def _odd_model(k: Kit) -> Any:
    """The kit's model, plus a block with a lone surrogate in its name where the framework takes one."""
    net = k.make()
    if k.name == "pytorch":
        net.add_module("\ud800", k.nn.Linear(4, 4))  # type: ignore[attr-defined]
    elif k.name == "mxnet":
        child = k.mx.gluon.nn.Dense(4, in_units=4)  # type: ignore[attr-defined]
        child.initialize()
        net.register_child(child, "\ud800")
    return net


# Keras answers take the longest (TensorFlow eager ops per variable): about a minute for its 10,000.
@pytest.mark.parametrize("framework", ["pytorch", pytest.param("keras", marks=pytest.mark.slow), "mxnet"])
def test_fuzzed_requests_never_crash_never_half_change_and_undo_all_restores(framework):
    k = kit(framework)
    rng = random.Random(f"fuzz-{framework}")
    net = _odd_model(k)
    ns = _namespace(k)
    models = {"net": net}
    index = adapter_for(net).index(net)
    paths = ["", *index.blocks, *index.tensors]
    params = [p for p, e in index.tensors.items() if e.kind == "param"]
    names = list(ns)
    state = k.state(net)
    stack: list[dict[str, Any]] = []  # the state before each action that is in the history
    counts = {"ok": 0, "failed": 0, "mutations": 0}
    for _ in range(REQUESTS):
        req = _request(rng, paths, params, names)
        response = protocol.handle(req, models=models, namespace=ns)
        text = protocol.to_json(response)
        text.encode("utf-8")  # every string can be sent
        answer = json.loads(text)
        assert answer["ok"] in (True, False) and answer["id"] == req["id"]
        after = k.state(net)
        if not answer["ok"]:
            counts["failed"] += 1
            assert isinstance(answer["error"]["message"], str) and answer["error"]["message"]
            assert after == state, f"a failed request changed the model: {req} -> {answer['error']}"
            continue
        counts["ok"] += 1
        if req["op"] in MUTATING:
            counts["mutations"] += 1
            stack.append(state)
            del stack[: len(stack) - len(actions._state(net).entries)]  # the history keeps the latest 100
        elif req["op"] == "undo":
            undone = answer["result"]["undone"]
            for _ in undone if isinstance(undone, list) else [undone]:
                expected = stack.pop()
            assert after == expected, f"undo did not restore bit for bit: {req}"
        else:
            assert after == state, f"a read changed the model: {req}"
        state = after
    assert counts["mutations"] > 100 and counts["failed"] > 1000, counts
    while stack:  # undo all: nothing was edited by hand, so each undo must succeed and restore exactly
        response = protocol.handle({"op": "undo", "model": "net"}, models=models, namespace=ns)
        assert response["ok"], response
        assert k.state(net) == stack.pop()
