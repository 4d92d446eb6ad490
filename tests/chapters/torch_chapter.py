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


CHAPTER = TorchChapter()
