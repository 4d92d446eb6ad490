"""ps.watch in Keras and MXNet: the model is freed after `del` (also a watch started over the protocol), stop()
removes the hooks, and a running watch follows a re-tied parameter."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import paramscope as ps
from paramscope import protocol


def _keras():
    return pytest.importorskip("keras", reason="Keras is not installed in this environment")


def _mxnet():
    pytest.importorskip("paramscope.adapters.mxnet_compat")  # numpy shim before mxnet
    mx = pytest.importorskip("mxnet", reason="MXNet is not installed in this environment")
    from mxnet import autograd, gluon

    return mx, autograd, gluon


def _keras_model():
    keras = _keras()
    inp = keras.Input((4,))
    shared = keras.layers.Dense(4)
    out = keras.layers.Dense(1)(shared(shared(inp)))
    model = keras.Model(inp, out)
    model.compile("sgd", "mse")
    return model


def test_keras_fit_is_recorded_and_the_model_is_freed():
    model = _keras_model()
    ns = {"m": model}
    assert protocol.handle({"op": "watch_start", "model": "m", "every": 2}, namespace=ns)["ok"]
    x, y = np.random.rand(32, 4).astype("float32"), np.random.rand(32, 1).astype("float32")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    polled = protocol.handle({"op": "watch_poll", "model": "m"}, namespace=ns)["result"]
    assert [r["step"] for r in polled["records"]] == [1, 3]
    assert all(r["grads"] for r in polled["records"])
    gone = weakref.ref(model)
    del model, ns
    gc.collect()
    assert gone() is None


def test_keras_stop_puts_the_train_function_back():
    model = _keras_model()
    handle = ps.watch(model, every=1)
    assert "make_train_function" in vars(model)
    handle.stop()
    assert "make_train_function" not in vars(model)
    from paramscope.adapters.keras import grads

    assert not [li for li in grads._LISTENERS if li.active]


def _mxnet_net():
    _mx, _autograd, gluon = _mxnet()
    net = gluon.nn.Sequential()
    net.add(gluon.nn.Dense(4, in_units=4), gluon.nn.Dense(4, in_units=4))
    net.initialize()
    return net


def _mxnet_train(net, steps):
    mx, autograd, gluon = _mxnet()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    for _ in range(steps):
        with autograd.record():
            loss = (net(mx.nd.ones((2, 4))) ** 2).sum()
        loss.backward()
        trainer.step(2)


def test_mxnet_trainer_loop_is_recorded_and_the_model_is_freed():
    net = _mxnet_net()
    ns = {"net": net}
    assert protocol.handle({"op": "watch_start", "model": "net", "every": 1}, namespace=ns)["ok"]
    _mxnet_train(net, 3)
    records = protocol.handle({"op": "watch_poll", "model": "net"}, namespace=ns)["result"]["records"]
    assert [r["step"] for r in records] == [1, 2, 3]
    assert records[1]["grads"] and records[0]["update"]["0.weight"] > 0
    gone = weakref.ref(net)
    del net, ns
    gc.collect()
    assert gone() is None


def test_mxnet_stop_removes_the_hook_and_a_tie_is_followed():
    net = _mxnet_net()
    handle = ps.watch(net, every=1)
    _mxnet_train(net, 1)
    ps.tie(net, "1.weight", "0.weight")
    _mxnet_train(net, 2)
    # Gluon has no gradient hooks: a step's gradients are read as the next forward starts.
    assert "1.weight" not in handle.records[-2]["grads"] and "0.weight" in handle.records[-2]["grads"]
    handle.stop()
    assert not net._forward_pre_hooks
