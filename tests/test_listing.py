"""The per-cell requests of the views: the `models` listing (cached per revision and structure key, never stale,
holding no model alive) and the `fingerprints` op (changed values, new gradients, removed tensors)."""

from __future__ import annotations

import gc
import weakref

import pytest

from paramscope import listing, protocol
from tests.conftest import require

torch = pytest.importorskip("torch", reason="PyTorch is not installed in this environment")
from torch import nn  # noqa: E402


def models(ns):
    reply = protocol.handle({"id": 1, "op": "models"}, namespace=ns)
    assert reply["ok"], reply
    return {m["name"]: m for m in reply["result"]["models"]}


def prints(ns, name, *paths):
    reply = protocol.handle({"id": 1, "op": "fingerprints", "model": name, "paths": list(paths)}, namespace=ns)
    assert reply["ok"], reply
    assert reply["result"]["supported"] is True
    return reply["result"]["fingerprints"]


@pytest.fixture
def ns():
    torch.manual_seed(0)
    return {"net": nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))}


def test_listing_is_cached_but_follows_every_change_code_makes(ns, monkeypatch):
    net = ns["net"]
    first = models(ns)["net"]
    assert first["n_params"] == 49 and first["dtype"] == "float32"
    # Unchanged: the second listing builds no index.
    calls: list[str] = []
    found = listing.adapter_for(net)
    assert found is not None
    adapter = type(found)
    real = adapter.index

    def counted(self, model, root="net"):
        calls.append(root)
        return real(self, model, root)

    monkeypatch.setattr(adapter, "index", counted)
    assert models(ns)["net"] == first and calls == []
    # Code replaces a layer, converts the model, adds a buffer: each shows at the next listing.
    net[2] = nn.Linear(8, 3)
    assert models(ns)["net"]["n_params"] == 67
    net.double()
    assert models(ns)["net"]["dtype"] == "float64" and models(ns)["net"]["nbytes"] == 67 * 8
    net[0].register_buffer("scale", torch.ones(2))
    assert models(ns)["net"]["nbytes"] == 67 * 8 + 2 * 4
    del net[1]
    assert models(ns)["net"]["type"] == "Sequential" and len(calls) == 4
    # A paramscope action moves the revision: listed again with it.
    protocol.handle({"id": 2, "op": "reinit", "model": "net", "path": "0", "init": "zeros"}, namespace=ns)
    assert models(ns)["net"]["revision"] == 1


def test_listing_cache_keeps_no_model_alive(ns):
    models(ns)
    prints(ns, "net", "0.weight")
    ref = weakref.ref(ns["net"])
    weight = weakref.ref(ns["net"][0].weight)
    del ns["net"]
    gc.collect()
    assert ref() is None and weight() is None
    assert all(entry.ref() is not None for entry in listing._CACHE.values())


def test_a_lazy_model_is_listed_again_once_materialized():
    ns = {"lazy": nn.Sequential(nn.LazyLinear(3))}
    assert models(ns)["lazy"]["state"] == "lazy"
    ns["lazy"](torch.ones(2, 5))
    assert models(ns)["lazy"]["state"] == "ready" and models(ns)["lazy"]["n_params"] == 18


def test_fingerprints_change_with_values_written_behind_paramscopes_back(ns):
    net = ns["net"]
    before = prints(ns, "net", "0.weight", "0.bias")
    assert before == prints(ns, "net", "0.weight", "0.bias")  # reading changes nothing
    net[0].weight.data[:] += 1  # no version counter sees a write through .data
    after = prints(ns, "net", "0.weight", "0.bias")
    assert after["0.weight"]["value"] != before["0.weight"]["value"]
    assert after["0.bias"] == before["0.bias"]


def test_fingerprints_show_a_gradient_appearing_and_a_tensor_going(ns):
    net = ns["net"]
    assert prints(ns, "net", "0.weight")["0.weight"]["grad"] == "none"
    net(torch.ones(2, 4)).sum().backward()
    grad = prints(ns, "net", "0.weight")["0.weight"]["grad"]
    assert grad != "none"
    net(torch.ones(2, 4)).sum().backward()  # accumulates in place: still a new token
    assert prints(ns, "net", "0.weight")["0.weight"]["grad"] != grad
    net[0] = nn.Identity()
    bias = prints(ns, "net", "2.bias")["2.bias"]
    assert prints(ns, "net", "0.weight", "2.bias") == {"0.weight": None, "2.bias": bias}


def test_fingerprints_refuse_bad_requests_and_change_nothing(ns):
    ask = lambda **r: protocol.handle({"id": 1, "op": "fingerprints", "model": "net", **r}, namespace=ns)  # noqa: E731
    assert ask()["error"]["type"] == "BadRequest"
    assert ask(paths="0.weight")["error"]["type"] == "BadRequest"
    assert ask(paths=[3])["error"]["type"] == "ActionError"
    too_many = ask(paths=["0.weight"] * (2001))
    assert too_many["error"]["type"] == "ActionError" and "at most 2000" in too_many["error"]["message"]


def test_mxnet_listing_follows_deferred_init_and_replaced_blocks():
    chapter = require("mxnet")
    from mxnet.gluon import nn as mnn

    net = chapter.lazy_net()  # Dense(8), Dense(1), shapes deferred until the first forward
    ns = {"net": net}
    assert models(ns)["net"]["state"] == "deferred"
    chapter.forward(net, chapter.X())
    assert models(ns)["net"]["state"] == "ready" and models(ns)["net"]["n_params"] == 49
    net._children["1"] = mnn.Dense(3, in_units=8)  # replaced by code: listed again
    net._children["1"].initialize()
    assert models(ns)["net"]["n_params"] == 67


def test_keras_listing_follows_build_and_added_layers():
    chapter = require("keras")
    import keras

    net = keras.Sequential([keras.layers.Dense(8), keras.layers.Dense(1)])
    ns = {"net": net}
    assert models(ns)["net"]["state"] == "unbuilt"
    chapter.forward(net, chapter.X())
    assert models(ns)["net"]["state"] == "ready" and models(ns)["net"]["n_params"] == 49
    net.add(keras.layers.Dense(3))  # added by code: listed again once built
    chapter.forward(net, chapter.X())
    assert models(ns)["net"]["n_params"] == 55
    net.layers[2].kernel.assign(net.layers[2].kernel * 0)  # values only: the cached summary stays right
    assert models(ns)["net"]["n_params"] == 55
