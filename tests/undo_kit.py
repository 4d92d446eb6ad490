"""Per-framework kits for the undo, fuzz and lifetime tests: a small model with awkward names, its exact state
(bit for bit, object identities included) and the edits a user makes by hand between paramscope actions."""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable
from typing import Any

import pytest

import paramscope as ps
from paramscope.adapters import adapter_for

# An edit by hand: (model, a random integer) -> what it did, or None when it does not apply to this model.
Edit = Callable[[Any, int], str | None]


def _bytes(arr: Any) -> str:
    return hashlib.blake2b(arr.tobytes(), digest_size=12).hexdigest()


class Kit:
    """What the tests need from one framework."""

    def __init__(self) -> None:
        self.edits = {}

    name = ""
    edits: dict[str, Edit]
    inits: tuple[str, ...] = ("normal", "zeros", "ones", "uniform", "xavier_uniform", "default")

    def make(self) -> Any:
        raise NotImplementedError


    def tensor_state(self, obj: Any) -> tuple[Any, ...]:
        raise NotImplementedError

    def state(self, model: Any) -> dict[str, Any]:
        """Every block and tensor path -> object identity (and dtype, shape, bytes, gradient for tensors)."""
        index = adapter_for(model).index(model)
        out: dict[str, Any] = {f"block {p}": id(b.obj) for p, b in index.blocks.items()}
        for path, entry in index.tensors.items():
            out[path] = (id(entry.obj), *self.tensor_state(entry.obj))
        return out

    def custom_inits(self) -> dict[str, Any]:
        """Custom initializers by name: some write more than the target, some raise after writing."""
        return {}


class TorchKit(Kit):
    name = "pytorch"

    def __init__(self) -> None:
        self.torch = importlib.import_module("torch")
        nn = self.nn = self.torch.nn

        class Scaled(nn.Module):
            """A module whose reset_parameters also resets its child."""

            def __init__(self) -> None:
                super().__init__()
                self.scale = nn.Parameter(self_torch.ones(4))
                self.lin = nn.Linear(4, 4)

            def reset_parameters(self) -> None:
                nn.init.ones_(self.scale)
                self.lin.reset_parameters()

            def forward(self, x: Any) -> Any:
                return self.lin(x) * self.scale

        class Heads(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.heads = nn.ParameterDict({"a b": nn.Parameter(self_torch.randn(4)),
                                               "c'd": nn.Parameter(self_torch.randn(4))})

        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.a = nn.Linear(3, 4)
                self.bn = nn.BatchNorm1d(4)
                self.s = Scaled()
                self.h = Heads()
                self.b = nn.Linear(4, 4)

        self_torch = self.torch
        self._net = Net
        self.edits = {
            "write values": self._write, "write .data": self._write_data, "write a grad": self._write_grad,
            "rebind a param": self._rebind, "replace a layer": self._replace, "half": self._half,
            "double": self._double, "float": self._float,
        }

    def make(self) -> Any:
        self.torch.manual_seed(0)
        net = self._net()
        for p in net.parameters():
            p.grad = self.torch.randn_like(p)
        return net

    def tensor_state(self, obj: Any) -> tuple[Any, ...]:
        t = obj.detach().cpu().contiguous()
        grad = getattr(obj, "grad", None)
        return (str(t.dtype), tuple(t.shape), _bytes(t.view(-1).view(self.torch.uint8).numpy()),
                None if grad is None else _bytes(grad.detach().cpu().contiguous().view(-1).view(self.torch.uint8)
                                                 .numpy()))

    def _params(self, model: Any) -> list[tuple[str, Any]]:
        return list(model.named_parameters())

    def _write(self, model: Any, r: int) -> str:
        name, p = self._params(model)[r % len(self._params(model))]
        with self.torch.no_grad():
            p.view(-1)[r % p.numel()] += 1.5
        return f"{name} += 1.5 (one element)"

    def _write_data(self, model: Any, r: int) -> str:
        name, p = self._params(model)[r % len(self._params(model))]
        p.data[...] = float(r % 7)
        return f"{name}.data[...] = {r % 7}"

    def _write_grad(self, model: Any, r: int) -> str:
        name, p = self._params(model)[r % len(self._params(model))]
        p.grad = self.torch.full_like(p, 0.25)
        return f"{name}.grad = 0.25"

    def _rebind(self, model: Any, r: int) -> str:
        layer = [model.a, model.b, model.s.lin][r % 3]
        layer.weight = self.nn.Parameter(layer.weight.detach().clone() + 1)
        return "a layer's weight rebound to a new Parameter"

    def _replace(self, model: Any, r: int) -> str:
        name = ["a", "b"][r % 2]
        setattr(model, name, self.nn.Linear(3 if name == "a" else 4, 4).to(model.b.weight.dtype))
        return f"net.{name} replaced by a new Linear"

    def _half(self, model: Any, r: int) -> str:
        model.half()
        return "net.half()"

    def _double(self, model: Any, r: int) -> str:
        model.double()
        return "net.double()"

    def _float(self, model: Any, r: int) -> str:
        model.float()
        return "net.float()"

    def custom_inits(self) -> dict[str, Any]:
        torch = self.torch

        def writes_children(m):  # fn(module): writes every parameter of the module, children included
            for p in m.parameters():
                p.data.fill_(0.5)

        def fails_after_writing(m):  # writes children and gradients, then raises
            for p in m.parameters():
                p.data.fill_(9.0)
                p.grad = torch.zeros_like(p)
            raise RuntimeError("the initializer failed half way")

        def to_double(t):  # changes the dtype: refused
            t.data = t.data.double()

        return {"writes_children": writes_children, "fails_after_writing": fails_after_writing,
                "to_double": to_double}


class KerasKit(Kit):
    name = "keras"

    def __init__(self) -> None:
        self.keras = keras = importlib.import_module("keras")
        self.np = importlib.import_module("numpy")

        class Net(keras.Model):
            def __init__(self, odd: bool = True) -> None:
                super().__init__()
                self.a = keras.layers.Dense(4, name="a b" if odd else "a")
                self.b = keras.layers.Dense(4, name="c'd" if odd else "b")
                self.bn = keras.layers.BatchNormalization()
                self.c = keras.layers.Dense(4)

            def call(self, x: Any) -> Any:
                return self.c(self.bn(self.b(self.a(x))))

        self._net = Net
        self.edits = {"assign": self._assign, "assign one element": self._assign_one}

    def make(self, odd: bool = True) -> Any:
        from keras.src.backend.common import global_state

        self.keras.utils.set_random_seed(0)
        scopes = list(global_state.get_global_attribute("name_scope_stack") or [])
        net = self._net(odd)
        net(self.np.ones((2, 4), "float32"))
        # Keras (TensorFlow backend) leaves a name scope on its global stack for a layer whose name TensorFlow
        # refuses (a space, a quote): later models would be named under it. Put the stack back.
        global_state.set_global_attribute("name_scope_stack", scopes)
        return net


    def tensor_state(self, obj: Any) -> tuple[Any, ...]:
        arr = self.np.ascontiguousarray(self.keras.ops.convert_to_numpy(obj.value))
        return (str(arr.dtype), arr.shape, _bytes(arr), bool(obj.trainable))

    def _assign(self, model: Any, r: int) -> str:
        var = model.weights[r % len(model.weights)]
        var.assign(self.np.full(var.shape, float(r % 5), "float32"))
        return f"{var.path}.assign({r % 5})"

    def _assign_one(self, model: Any, r: int) -> str:
        var = model.weights[r % len(model.weights)]
        arr = self.np.array(self.keras.ops.convert_to_numpy(var.value))
        arr.reshape(-1)[r % arr.size] += 1.5
        var.assign(arr)
        return f"{var.path}: one element += 1.5"

    def custom_inits(self) -> dict[str, Any]:
        def raises(shape, dtype=None):
            raise RuntimeError("the initializer failed")

        return {"raises": raises}


class MXNetKit(Kit):
    name = "mxnet"

    def __init__(self) -> None:
        importlib.import_module("paramscope.adapters.mxnet_compat")
        self.mx = mx = importlib.import_module("mxnet")
        self.np = importlib.import_module("numpy")
        nn = mx.gluon.nn

        class Net(mx.gluon.Block):
            def __init__(self) -> None:
                super().__init__()
                self.a = nn.Dense(4, in_units=3)
                self.bn = nn.BatchNorm(in_channels=4)
                self.b = nn.Dense(4, in_units=4)
                self.register_child(nn.Dense(4, in_units=4), "c d")
                self.register_child(nn.Dense(4, in_units=4), "e'f")

            def forward(self, x: Any) -> Any:
                return self._children["e'f"](self._children["c d"](self.b(self.bn(self.a(x)))))

        self._net = Net
        self.edits = {"set_data": self._set_data, "edit one element": self._one, "replace a layer": self._replace,
                      "cast float16": self._half, "cast float32": self._float}

    def make(self) -> Any:
        self.mx.random.seed(0)
        net = self._net()
        net.initialize(self.mx.init.Normal(0.5))
        return net

    def tensor_state(self, obj: Any) -> tuple[Any, ...]:
        if obj._data is None:
            return ("none",)
        arrays = [self.np.ascontiguousarray(a.asnumpy()) for a in obj.list_data()]
        return (str(arrays[0].dtype), arrays[0].shape, *(_bytes(a) for a in arrays))

    def _params(self, model: Any) -> list[Any]:
        return [p for p in model.collect_params().values() if p._data is not None]

    def _set_data(self, model: Any, r: int) -> str:
        p = self._params(model)[r % len(self._params(model))]
        p.set_data(self.mx.nd.full(p.shape, float(r % 5), dtype=p.dtype))
        return f"{p.name}.set_data({r % 5})"

    def _one(self, model: Any, r: int) -> str:
        p = self._params(model)[r % len(self._params(model))]
        arr = p.data().asnumpy()
        arr.reshape(-1)[r % arr.size] += 1.5
        p.set_data(self.mx.nd.array(arr, dtype=arr.dtype))
        return f"{p.name}: one element += 1.5"

    def _replace(self, model: Any, r: int) -> str:
        new = self.mx.gluon.nn.Dense(4, in_units=4 if r % 2 else 3)
        new.initialize()
        new.cast(model.a.weight.dtype)
        if r % 2:
            model.b = new
        else:
            model.a = new
        return "a layer replaced"

    def _half(self, model: Any, r: int) -> str:
        model.cast("float16")
        return "net.cast('float16')"

    def _float(self, model: Any, r: int) -> str:
        model.cast("float32")
        return "net.cast('float32')"

    def custom_inits(self) -> dict[str, Any]:
        mx = self.mx

        class Raises(mx.init.Initializer):
            def _init_weight(self, name, data):
                data[:] = 3
                raise RuntimeError("the initializer failed")

        return {"raises": Raises()}


_KITS = {"pytorch": TorchKit, "keras": KerasKit, "mxnet": MXNetKit}


def kit(framework: str) -> Kit:
    """The kit of `framework`, or a loud skip when it is not installed."""
    try:
        return _KITS[framework]()
    except ModuleNotFoundError as e:
        pytest.skip(f"{framework} is not installed in this environment: {e}")


def paths(model: Any) -> tuple[list[str], list[str]]:
    """(block paths, parameter paths) of `model`, from paramscope's own index."""
    index = adapter_for(model).index(model)
    return [p for p in index.blocks if p], [p for p, e in index.tensors.items() if e.kind == "param"]


def same_shape_pairs(model: Any) -> list[tuple[str, str]]:
    index = adapter_for(model).index(model)
    params = [e for e in index.tensors.values() if e.kind == "param" and e.meta.state == "ready"]
    return [(a.path, b.path) for a in params for b in params
            if a.path != b.path and a.meta.shape == b.meta.shape and a.meta.dtype == b.meta.dtype]


__all__ = ["Kit", "kit", "paths", "ps", "same_shape_pairs"]
