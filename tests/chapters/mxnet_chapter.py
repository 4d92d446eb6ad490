"""The "Parameter Management" chapter's models in MXNet Gluon, and framework-native readers to check them."""

from __future__ import annotations

import os
import pickle
from typing import Any

import paramscope.adapters.mxnet_compat  # noqa: F401 - before mxnet: MXNet 1.9.1 needs numpy.bool

# isort: split
import mxnet as mx
import numpy as np
from mxnet import autograd, init, nd
from mxnet.gluon import nn


class FancyMLP(nn.Block):
    """The chapter's custom block: a constant (frozen) weight, a reused layer and Python control flow."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rand_weight = self.params.get_constant("rand_weight", nd.random.uniform(shape=(20, 20)))
        self.dense = nn.Dense(20, activation="relu")

    def forward(self, x: Any) -> Any:
        x = self.dense(x)
        x = nd.relu(nd.dot(x, self.rand_weight.data()) + 1)
        x = self.dense(x)  # the same layer twice: its parameters are used twice
        while x.norm().asscalar() > 1:
            x /= 2
        return x.sum()


def block1() -> nn.Block:
    net = nn.Sequential()
    net.add(nn.Dense(32, activation="relu"))
    net.add(nn.Dense(16, activation="relu"))
    return net


def block2() -> nn.Block:
    net = nn.Sequential()
    for _ in range(4):
        net.add(block1())  # nested here, as in the chapter
    return net


class MyInit(init.Initializer):
    """The chapter's "strange distribution": U(-10, 10), then zero where |w| < 5."""

    def _init_weight(self, name: Any, data: Any) -> None:
        data[:] = nd.random.uniform(low=-10, high=10, shape=data.shape)
        data *= data.abs() >= 5


class FailingInit(init.Initializer):
    """Changes a weight, then raises: atomicity must undo the partial change."""

    def _init_weight(self, name: Any, data: Any) -> None:
        data[:] = 7.0
        raise RuntimeError("boom")


class WrongShapeInit(init.Initializer):
    """Writes three values into whatever it is given: MXNet refuses to broadcast them."""

    def _init_weight(self, name: Any, data: Any) -> None:
        data[:] = nd.zeros(3)


def _peek_mx_random(n: int = 16) -> bytes:
    """The next `n` draws of MXNet's global generator, taken in a forked child so that this process's
    generator does not move (MXNet has no public way to read its state)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(read_fd)
            with os.fdopen(write_fd, "wb") as pipe:
                pickle.dump(nd.random.uniform(shape=(n,)).asnumpy().tobytes(), pipe)
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        drawn: bytes = pickle.load(pipe)
    os.waitpid(pid, 0)
    return drawn


class MXNetChapter:
    framework = "mxnet"
    # Where the chapter's named places are, in this framework's own paths.
    mlp_first = "0"
    mlp_first_weight = "0.weight"
    mlp_last_bias = "1.bias"
    mlp_last_bias_code = "net[1].bias"
    rgnet_deep_bias = "0.1.0.bias"
    rgnet_deep_bias_code = "rgnet[0][1][0].bias"
    rgnet_inner_block = "0.1"
    shared_uses = ("1.weight", "2.weight")
    tie_pair = ("0.0.1.weight", "0.1.1.weight")  # two untied params of one shape (16, 32) in rgnet
    lazy_state = "deferred"
    # Parameters of lazy_net that have values before the first forward: Gluon initializes a parameter of known
    # shape at once, and a Dense bias's shape (units,) is known (its weight waits for the input size).
    ready_before_forward = ("0.bias", "1.bias")
    # A value of the wrong shape for mlp_first_weight (8x4 here).
    wrong_shape_value = ((1.0, 2.0, 3.0),)
    my_init = MyInit()
    failing_init = FailingInit()
    wrong_shape_init = WrongShapeInit()

    def X(self) -> Any:
        return nd.random.uniform(shape=(2, 4))

    def forward(self, net: Any, X: Any) -> Any:
        return net(X)

    def mlp(self) -> nn.Block:
        net = nn.Sequential()
        net.add(nn.Dense(8, activation="relu"), nn.Dense(1))
        net.initialize()
        net(self.X())
        return net

    def rgnet(self) -> nn.Block:
        net = nn.Sequential()
        net.add(block2())
        net.add(nn.Dense(10))
        net.initialize()
        net(self.X())
        return net

    def fancy(self) -> nn.Block:
        net = FancyMLP()
        net.initialize()
        net(nd.random.uniform(shape=(2, 20)))
        return net

    def shared_net(self) -> nn.Block:
        net = nn.Sequential()
        shared = nn.Dense(8, activation="relu")
        net.add(nn.Dense(8, activation="relu"), shared, nn.Dense(8, activation="relu", params=shared.params),
                nn.Dense(10))
        net.initialize()
        net(self.X())
        return net

    def lazy_net(self) -> nn.Block:
        net = nn.Sequential()
        net.add(nn.Dense(8, activation="relu"), nn.Dense(1))
        net.initialize()
        return net

    def own_param_paths(self, net: nn.Block) -> list[str]:
        """Every parameter use (the names save_parameters writes), running statistics left out."""
        return [path for path, p in net._collect_params_with_prefix().items() if p._differentiable]

    def own_block_paths(self, net: nn.Block) -> list[str]:
        """Child names joined by ".", depth first, as in save_parameters' names."""
        paths = []
        stack = [("", net)]
        while stack:
            path, block = stack.pop()
            paths.append(path)
            prefix = path + "." if path else ""
            stack.extend(reversed([(prefix + name, child) for name, child in block._children.items()]))
        return paths

    def n_unique_params(self, net: nn.Block) -> int:
        return sum(int(np.prod(p.shape)) for p in net.collect_params().values() if p._differentiable)

    def param(self, net: nn.Block, path: str) -> Any:
        return net._collect_params_with_prefix()[path]

    def read(self, net: nn.Block, path: str) -> np.ndarray:
        return self.param(net, path).data().asnumpy().copy()

    def to_numpy(self, obj: Any) -> np.ndarray:
        return obj.data().asnumpy() if hasattr(obj, "list_ctx") else obj.asnumpy()

    def read_any(self, net: nn.Block, path: str) -> np.ndarray:
        """Any parameter (running statistics too) by its save_parameters name."""
        return self.param(net, path).data().asnumpy().copy()

    def backward(self, net: nn.Block, X: Any) -> None:
        """Forward inside autograd.record(), sum, backward: gradients are then where paramscope reads them."""
        with autograd.record():
            loss = net(X).sum()
        loss.backward()

    def grad(self, net: nn.Block, path: str) -> np.ndarray:
        return self.param(net, path).grad().asnumpy().copy()

    def same_param(self, net: nn.Block, a: str, b: str) -> bool:
        return self.param(net, a) is self.param(net, b)

    def state(self, net: nn.Block) -> dict[str, Any]:
        """Raw bytes of every parameter use on every context, which uses share one object, how each use is
        bound (attribute too) and the names collect_params() gives: bit-identity."""
        first: dict[int, str] = {}
        out: dict[str, Any] = {}
        blocks = {"": net}
        for path in self.own_block_paths(net)[1:]:
            parent, _, name = path.rpartition(".")
            blocks[path] = blocks[parent]._children[name]
        for path, p in net._collect_params_with_prefix().items():
            owner, _, name = path.rpartition(".")
            block = blocks[owner]
            values = tuple(a.asnumpy().tobytes() for a in p.list_data()) if p._data is not None else None
            out[path] = (values, np.dtype(p.dtype).name, tuple(p.shape), first.setdefault(id(p), path),
                         p.name, p.grad_req, block.__dict__.get(name, p) is p)
        out["#collect_params"] = tuple(net.collect_params().keys())
        return out

    def rng_state(self) -> Any:
        state = np.random.get_state()
        return (state[0], state[1].tobytes(), state[2:], _peek_mx_random())

    # -- the chapter's initialization section, exactly (issue #19) ---------------------------------------------

    def init_normal_loop(self, net: nn.Block, seed: int) -> None:
        """The chapter's `net.initialize(init=init.Normal(sigma=0.01), force_reinit=True)` from
        `mx.random.seed(seed)`: Dense's bias_initializer keeps the biases zero."""
        mx.random.seed(seed)
        net.initialize(init=init.Normal(sigma=0.01), force_reinit=True)

    def normal_everything_loop(self, net: nn.Block, seed: int) -> None:
        """Every parameter drawn from Normal(0.01), biases too, in collect_params() order."""
        mx.random.seed(seed)
        for param in net.collect_params().values():
            param.initialize(init=init.Normal(sigma=0.01), force_reinit=True)

    init_constant = init.Constant(1)  # the chapter's net.initialize(init=init.Constant(1), force_reinit=True)
    init_constant_values = (1.0, 0.0)  # on a block, Dense's bias_initializer ('zeros') wins, as in Gluon
    my_init_as_written = MyInit

    def initializer_namespace(self) -> tuple[dict[str, Any], set[str]]:
        import builtins

        def torch_style(m: Any) -> None:
            """fn(module): not an MXNet initializer."""

        namespace = {
            "MyInit": MyInit, "my_init": MyInit(), "Xavier": init.Xavier, "const": init.Constant(1),
            "Constant": init.Constant,  # needs its value: not offered as a class
            "exit": builtins.exit, "quit": builtins.quit, "open": open, "print": print, "block1": block1,
            "net": self.mlp(), "torch_style": torch_style, "np": np, "X": self.X(), "FancyMLP": FancyMLP,
        }
        return namespace, {"MyInit", "my_init", "Xavier", "const"}

    def depthwise_net(self) -> nn.Block:
        net = nn.Sequential()
        net.add(nn.Conv2D(4, 3, groups=4, in_channels=4), nn.Conv2D(8, 1), nn.Embedding(5, 3))
        net.initialize()
        net[0](nd.random.uniform(shape=(1, 4, 6, 6)))
        net[1](net[0](nd.random.uniform(shape=(1, 4, 6, 6))))
        return net

    def bn_net(self) -> nn.Block:
        net = nn.Sequential()
        net.add(nn.Dense(8), nn.BatchNorm(), nn.Dense(1))
        net.initialize()
        for _ in range(2):
            with autograd.record():
                net(nd.random.uniform(shape=(16, 4)) * 3 + 1)
        return net

    bn_running_var = "1.running_var"
    bn_running_mean = "1.running_mean"

    def native_counts(self, net: nn.Block) -> tuple[int, int, int]:
        """(parameters, running statistics, collect_params() total): Gluon's own count includes the statistics."""
        sizes = [(int(np.prod(p.shape)), p._differentiable) for p in net.collect_params().values()]
        params = sum(n for n, learned in sizes if learned)
        stats = sum(n for n, learned in sizes if not learned)
        return params, stats, params + stats

    def forward_eval(self, net: nn.Block) -> np.ndarray:
        return net(nd.random.uniform(shape=(4, 4))).asnumpy()

    def user_seeded_init(self) -> tuple[Any, Any]:
        def draw(shape: Any) -> np.ndarray:
            return np.random.RandomState(3).normal(size=tuple(shape)).astype("float32")

        class NumpySeeded(init.Initializer):
            def _init_weight(self, name: Any, data: Any) -> None:
                data[:] = nd.array(draw(data.shape))

        return NumpySeeded(), draw

    class _Printing(init.Initializer):
        def _init_weight(self, name: Any, data: Any) -> None:
            print(f"init {data.shape[0]} rows")
            data[:] = 0

    class _Exiting(init.Initializer):
        def _init_weight(self, name: Any, data: Any) -> None:
            raise SystemExit(data)

    printing_init = _Printing()
    exiting_init = _Exiting()


CHAPTER = MXNetChapter()
