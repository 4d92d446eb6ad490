"""The "Parameter Management" chapter's models in PyTorch, and framework-native readers to check paramscope."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn


class FancyMLP(nn.Module):
    """The chapter's custom block: a constant (non-trainable) weight, a reused layer and Python control flow."""

    def __init__(self) -> None:
        super().__init__()
        self.rand_weight = nn.Parameter(torch.rand(20, 20), requires_grad=False)
        self.linear = nn.Linear(20, 20)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        X = self.linear(X)
        X = torch.relu(X @ self.rand_weight + 1)
        X = self.linear(X)  # the same layer twice: its parameters are used twice
        while X.abs().sum() > 1:
            X /= 2
        return X.sum()


def block1() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4), nn.ReLU())


def block2() -> nn.Module:
    net = nn.Sequential()
    for i in range(4):
        net.add_module(f"block {i}", block1())  # nested here, as in the chapter
    return net


class TorchChapter:
    framework = "pytorch"
    # Where the chapter's named places are, in this framework's own paths.
    mlp_first = "0"
    mlp_first_weight = "0.weight"
    mlp_last_bias = "2.bias"
    mlp_last_bias_code = "net[2].bias"
    rgnet_deep_bias = "0.block 1.0.bias"
    rgnet_deep_bias_code = "rgnet[0][1][0].bias"
    rgnet_inner_block = "0.block 1"
    shared_uses = ("2.weight", "4.weight")
    tie_pair = ("0.block 0.0.weight", "0.block 1.0.weight")  # two untied params of one shape in rgnet
    lazy_state = "lazy"
    # A value of the wrong shape for mlp_first_weight (8x4 here).
    wrong_shape_value = ((1.0, 2.0, 3.0),)

    def X(self) -> torch.Tensor:
        return torch.rand(2, 4)

    def forward(self, net: Any, X: Any) -> Any:
        return net(X)

    def mlp(self) -> nn.Module:
        net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
        net(self.X())
        return net

    def rgnet(self) -> nn.Module:
        net = nn.Sequential(block2(), nn.Linear(4, 1))
        net(self.X())
        return net

    def fancy(self) -> nn.Module:
        net = FancyMLP()
        net(torch.rand(2, 20))
        return net

    def shared_net(self) -> nn.Module:
        shared = nn.Linear(8, 8)
        net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), shared, nn.ReLU(), shared, nn.ReLU(), nn.Linear(8, 1))
        net(self.X())
        return net

    def lazy_net(self) -> nn.Module:
        return nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.LazyLinear(1))

    def own_param_paths(self, net: nn.Module) -> list[str]:
        """Every parameter use, from the framework's own API."""
        return [name for name, _ in net.named_parameters(remove_duplicate=False)]

    def own_block_paths(self, net: nn.Module) -> list[str]:
        return [name for name, _ in net.named_modules(remove_duplicate=False)]

    def n_unique_params(self, net: nn.Module) -> int:
        return sum(p.numel() for p in net.parameters())

    def param(self, net: nn.Module, path: str) -> Any:
        return dict(net.named_parameters(remove_duplicate=False))[path]

    def read(self, net: nn.Module, path: str) -> np.ndarray:
        return self.param(net, path).detach().cpu().numpy().copy()

    def to_numpy(self, obj: Any) -> np.ndarray:
        return obj.detach().cpu().numpy()

    def read_any(self, net: nn.Module, path: str) -> np.ndarray:
        """A parameter or buffer by its path (state_dict's name)."""
        return net.state_dict(keep_vars=True)[path].detach().cpu().numpy().copy()

    def backward(self, net: nn.Module, X: Any) -> None:
        """Forward, sum, backward: gradients are then stored where paramscope reads them."""
        net.zero_grad()
        net(X).sum().backward()

    def grad(self, net: nn.Module, path: str) -> np.ndarray:
        return self.param(net, path).grad.detach().cpu().numpy().copy()

    def same_param(self, net: nn.Module, a: str, b: str) -> bool:
        return self.param(net, a) is self.param(net, b)

    def state(self, net: nn.Module) -> dict[str, Any]:
        """Raw bytes of every parameter and buffer use, and which uses share one object: bit-identity."""
        tensors = list(net.named_parameters(remove_duplicate=False)) + list(net.named_buffers(remove_duplicate=False))
        first: dict[int, str] = {}
        return {
            path: (t.detach().cpu().numpy().tobytes(), str(t.dtype), tuple(t.shape), first.setdefault(id(t), path),
                   t.requires_grad)
            for path, t in tensors
        }

    def rng_state(self) -> Any:
        return torch.get_rng_state().numpy().tobytes()

    @staticmethod
    def my_init(m: nn.Module) -> None:
        """The chapter's "strange distribution": U(-10, 10), then zero where |w| < 5."""
        if type(m) is nn.Linear:
            nn.init.uniform_(m.weight, -10, 10)
            m.weight.data *= m.weight.data.abs() >= 5

    @staticmethod
    def failing_init(m: nn.Module) -> None:
        """Changes a weight, then raises: atomicity must undo the partial change."""
        if type(m) is nn.Linear:
            with torch.no_grad():
                m.weight.fill_(7.0)
            raise RuntimeError("boom")

    @staticmethod
    def wrong_shape_init(t: torch.Tensor) -> torch.Tensor:
        return torch.zeros(3)

    # -- the chapter's initialization section, exactly (issue #19) ---------------------------------------------

    def init_normal_loop(self, net: nn.Module, seed: int) -> None:
        """The chapter's init_normal from `torch.manual_seed(seed)`: weights N(0, 0.01), biases zero."""

        def init_normal(module: nn.Module) -> None:
            if type(module) is nn.Linear:
                nn.init.normal_(module.weight, mean=0, std=0.01)
                nn.init.zeros_(module.bias)

        torch.manual_seed(seed)
        net.apply(init_normal)

    def normal_everything_loop(self, net: nn.Module, seed: int) -> None:
        """Every parameter N(0, 0.01) in the framework's own order, from the same seed."""
        torch.manual_seed(seed)
        for param in net.parameters():
            nn.init.normal_(param, mean=0, std=0.01)

    @staticmethod
    def init_constant(module: nn.Module) -> None:
        """The chapter's init_constant: weights 1, biases zero."""
        if type(module) is nn.Linear:
            nn.init.constant_(module.weight, 1)
            nn.init.zeros_(module.bias)

    # The values init_constant leaves in (mlp_first_weight, mlp_last_bias).
    init_constant_values = (1.0, 0.0)
    # The chapter's custom initializer as the chapter writes it (a function here; a class in Keras and MXNet).
    my_init_as_written = my_init

    def initializer_namespace(self) -> tuple[dict[str, Any], set[str]]:
        """A notebook's namespace: the initializers a user defined, and things that are not initializers for this
        framework (builtins, a model, a block factory, a Keras-style fn(shape, dtype), a module, a tensor)."""
        import builtins

        def keras_style(shape: Any, dtype: Any = None) -> Any:
            return np.zeros(shape)

        def from_tensor(t: torch.Tensor) -> None:
            nn.init.zeros_(t)

        namespace = {
            "my_init": self.my_init, "init_constant": self.init_constant, "from_tensor": from_tensor,
            "xavier": nn.init.xavier_uniform_,
            "exit": builtins.exit, "quit": builtins.quit, "open": open, "print": print, "block1": block1,
            "net": self.mlp(), "keras_style": keras_style, "np": np, "X": self.X(), "FancyMLP": FancyMLP,
            "total": 3,
        }
        return namespace, {"my_init", "init_constant", "from_tensor", "xavier"}

    def depthwise_net(self) -> nn.Module:
        """A depthwise (groups = channels) and a pointwise convolution, as MobileNet's blocks have."""
        net = nn.Sequential(nn.Conv2d(4, 4, 3, groups=4), nn.Conv2d(4, 8, 1), nn.Embedding(5, 3))
        net[:2](torch.rand(1, 4, 6, 6))
        return net

    def bn_net(self) -> nn.Module:
        """Linear, BatchNorm, Linear, after two training steps' forward: running stats are not 0/1 any more."""
        net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1))
        net.train()
        for _ in range(2):
            net(torch.rand(16, 4) * 3 + 1)
        return net

    bn_running_var = "1.running_var"
    bn_running_mean = "1.running_mean"

    def native_counts(self, net: nn.Module) -> tuple[int, int, int]:
        """(parameters, buffers, what the framework's own summary counts): sum(p.numel() for p in parameters())."""
        params = sum(p.numel() for p in net.parameters())
        return params, sum(b.numel() for b in net.buffers()), params

    def forward_eval(self, net: nn.Module) -> np.ndarray:
        net.eval()
        with torch.no_grad():
            out = net(torch.rand(4, 4)).numpy()
        net.train()
        return out

    def user_seeded_init(self) -> tuple[Any, Any]:
        """An initializer with its own seed (its own torch.Generator), and what it gives for a shape."""

        def draw(shape: Any) -> np.ndarray:
            return torch.randn(tuple(shape), generator=torch.Generator().manual_seed(3)).numpy()

        def seeded(t: torch.Tensor) -> None:
            with torch.no_grad():
                t.copy_(torch.from_numpy(draw(t.shape)))

        return seeded, draw

    @staticmethod
    def printing_init(module: nn.Module) -> None:
        if type(module) is nn.Linear:
            print(f"init {module.weight.shape[0]} rows")
            nn.init.zeros_(module.weight)

    @staticmethod
    def exiting_init(module: nn.Module) -> None:
        """What picking `exit` did: exit(module) raises SystemExit with the module as its code."""
        if type(module) is nn.Linear:
            nn.init.ones_(module.weight)
            raise SystemExit(module)


CHAPTER = TorchChapter()
