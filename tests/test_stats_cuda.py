"""Statistics of tensors on a CUDA device: exact against the float64 reference (the cases of test_stats, and a
tensor of several chunks), and nothing but scalars and bin counts copied to the host. Runs where PyTorch sees a
CUDA device (skipped elsewhere, with the reason); on a GPU machine: `python -m pytest tests/test_stats_cuda.py`."""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_stats import cases, check

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")

import paramscope as ps  # noqa: E402 - after the skip


def _copies(monkeypatch) -> list[tuple[str, int]]:
    """Every read of a CUDA tensor's values into host memory while the test runs: (how, number of values)."""
    seen: list[tuple[str, int]] = []
    for name in ("tolist", "item", "cpu", "numpy", "__array__"):
        real = getattr(torch.Tensor, name)

        def spy(self, *args, _real=real, _name=name, **kwargs):
            if self.is_cuda:
                seen.append((_name, self.numel()))
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, spy)
    real_to = torch.Tensor.to

    def to(self, *args, **kwargs):
        out = real_to(self, *args, **kwargs)
        if self.is_cuda and not out.is_cuda:
            seen.append(("to", self.numel()))
        return out

    monkeypatch.setattr(torch.Tensor, "to", to)
    return seen


def _stats_on_cuda(values: np.ndarray, dtype: str, monkeypatch) -> tuple[dict, list[tuple[str, int]]]:
    net = torch.nn.Module()
    net.register_buffer("v", torch.from_numpy(np.asarray(values).astype(dtype)).cuda())
    seen = _copies(monkeypatch)
    got = ps.stats(net, "v")
    monkeypatch.undo()
    return got, seen


@pytest.mark.parametrize("name", list(cases()))
def test_cuda(name, monkeypatch):
    values, dtype = cases()[name]
    got, seen = _stats_on_cuda(values, dtype, monkeypatch)
    check(got, np.asarray(values).astype(dtype))
    assert got["device"].startswith("cuda")
    assert seen and max(n for _, n in seen) <= 256 + 1, seen  # scalars, and bin counts (a uint8 code's 256 at most)


def test_cuda_several_chunks_of_bfloat16_and_float32(monkeypatch):
    rng = np.random.default_rng(3)
    values = (rng.standard_normal(20_000_000) * 0.02).astype(np.float32)
    values[::1_000_003] = np.nan
    for dtype in ("float32", "bfloat16"):
        tensor = torch.from_numpy(values).to(getattr(torch, dtype))
        held = tensor.float().numpy()
        net = torch.nn.Module()
        net.register_buffer("v", tensor.cuda())
        seen = _copies(monkeypatch)
        got = ps.stats(net, "v")
        monkeypatch.undo()
        check(got, held)
        assert got["nan"] == 20
        assert max(n for _, n in seen) <= 256 + 1, seen
        assert len(seen) <= 64, len(seen)  # a few transfers per chunk (8M values a chunk on a device)
