"""Finding models in a namespace, and not holding on to them."""

from __future__ import annotations

import gc
import weakref

import pytest

import paramscope as ps
from paramscope import protocol

torch = pytest.importorskip("torch", reason="PyTorch is not installed in this environment")
from torch import nn  # noqa: E402


def test_models_in_a_plain_dict_in_definition_order():
    ns = {"net": nn.Linear(2, 2), "_hidden": nn.Linear(2, 2), "relu": nn.ReLU(), "Cls": nn.Linear, "n": 3,
          "other": nn.Sequential(nn.Linear(1, 1))}
    assert list(ps.models(ns)) == ["net", "other"]


def test_models_in_the_ipython_namespace():
    from IPython.testing.globalipapp import get_ipython

    shell = get_ipython()
    shell.user_ns["ipy_net"] = nn.Linear(3, 3)
    try:
        assert "ipy_net" in ps.models()
        assert ps.inspect(shell.user_ns["ipy_net"]).code == "ipy_net"
    finally:
        del shell.user_ns["ipy_net"]


def test_paramscope_holds_no_reference_to_models():
    ns = {"net": nn.Sequential(nn.Linear(4, 4))}
    ref = weakref.ref(ns["net"])
    protocol.handle({"id": 1, "op": "models"}, namespace=ns)
    protocol.handle({"id": 2, "op": "reinit", "model": "net", "init": "zeros"}, namespace=ns)
    ps.inspect(ns["net"])
    del ns["net"]
    gc.collect()
    assert ref() is None


def test_a_broken_object_does_not_break_the_listing():
    class Weird:
        @property
        def __class__(self):
            raise RuntimeError("no")

    assert list(ps.models({"w": Weird(), "net": nn.Linear(1, 1)})) == ["net"]
