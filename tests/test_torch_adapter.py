"""PyTorch specifics beyond the chapter: odd states, dtypes, buffers, shared modules, chunked stats."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed in this environment")
from torch import nn  # noqa: E402

import paramscope as ps  # noqa: E402
from paramscope.adapters import adapter_for  # noqa: E402
from paramscope.stats import tensor_values  # noqa: E402


def nodes(model, **kw):
    return {n.path: n for n in ps.inspect(model, **kw).walk()}


def test_paths_are_exactly_the_frameworks_keys():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(2))
    got = nodes(net)
    assert [p for p, n in got.items() if n.kind == "param"] == [
        k for k, _ in net.named_parameters(remove_duplicate=False)]
    assert [p for p, n in got.items() if n.kind == "buffer"] == [
        k for k, _ in net.named_buffers(remove_duplicate=False)]
    assert [p for p, n in got.items() if n.kind in ("model", "block")] == [
        k for k, _ in net.named_modules(remove_duplicate=False)]


def test_batchnorm_buffers_are_not_trainable_and_not_counted():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    got = nodes(net)
    assert got["1.running_mean"].kind == "buffer" and got["1.running_mean"].trainable is False
    assert got["1.num_batches_tracked"].dtype == "int64"
    assert got[""].n_params == sum(p.numel() for p in net.parameters())
    assert got[""].nbytes == sum(t.numel() * t.element_size() for t in [*net.parameters(), *net.buffers()])


def test_default_reinit_of_batchnorm_resets_running_stats_and_undo_restores_them():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    net.train()
    net(torch.randn(8, 3))
    mean = net[1].running_mean.clone()
    ps.reinit(net, "1", "default")
    assert torch.equal(net[1].running_mean, torch.zeros(4))
    ps.undo(net)
    assert torch.equal(net[1].running_mean, mean)


def test_lazy_linear_shows_the_known_part_of_its_shape():
    net = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.LazyConv2d(6, 3))
    got = nodes(net)
    assert got["0.weight"].state == "lazy" and got["0.weight"].shape == [8, None]
    assert got["0.bias"].shape == [8]
    assert got["2.weight"].shape == [6, None, 3, 3]
    assert got["0.weight"].numel == 0 and got[""].state == "lazy"
    assert ps.stats(net, "0.weight#grad")["available"] is False
    with pytest.raises(ps.ActionError, match="lazy"):
        ps.set_value(net, "0.weight", 1.0)
    with pytest.raises(ps.ActionError, match=r"lazy|shape"):
        ps.tie(net, "0.bias", "0.weight")


def test_meta_model_is_shown_with_shapes_and_explains_missing_values():
    with torch.device("meta"):
        net = nn.Sequential(nn.Linear(1000, 1000), nn.Linear(1000, 10))
    got = nodes(net)
    assert got["0.weight"].state == "meta" and got["0.weight"].device == "meta"
    assert got["0.weight"].shape == [1000, 1000] and got[""].n_params == 1000 * 1000 + 1000 + 10010
    why = ps.stats(net, "0.weight")
    assert why["available"] is False and "meta" in why["reason"] and "to_empty" in why["reason"]
    with pytest.raises(ps.ActionError, match="meta"):
        ps.reinit(net, "", "normal")
    net.to_empty(device="cpu")
    ps.reinit(net, "", "default", seed=0)
    assert ps.stats(net, "0.weight")["available"]


def test_frozen_params_are_marked_and_their_grad_is_explained():
    net = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 1))
    net[0].requires_grad_(False)
    got = nodes(net)
    assert got["0.weight"].trainable is False and got["1.weight"].trainable is True
    net(torch.rand(2, 4)).sum().backward()
    assert "frozen" in ps.stats(net, "0.weight#grad")["reason"]
    assert ps.stats(net, "1.weight#grad")["available"]
    assert nodes(net)["1.weight"].has_grad and not nodes(net)["0.weight"].has_grad


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_low_and_high_precision_params(dtype):
    net = nn.Linear(16, 16).to(dtype)
    got = nodes(net)
    assert got["weight"].dtype == str(dtype).replace("torch.", "")
    assert got["weight"].nbytes == 256 * torch.finfo(dtype).bits // 8
    s = ps.stats(net, "weight")
    expected = net.weight.detach().double()
    assert s["mean"] == pytest.approx(expected.mean().item(), abs=1e-12)
    ps.reinit(net, "weight", "normal", seed=1)
    ps.set_value(net, "weight", 0.5, index=(0, 0))
    assert net.weight[0, 0].item() == 0.5


def test_int8_params_accept_constants_and_refuse_random_draws():
    class Quantized(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.q = nn.Parameter(torch.ones(4, 4, dtype=torch.int8), requires_grad=False)

    net = Quantized()
    assert nodes(net)["q"].dtype == "int8"
    with pytest.raises(ps.ActionError, match="int8"):
        ps.reinit(net, "q", "normal")
    ps.reinit(net, "q", "constant", value=3)
    assert (net.q == 3).all()
    with pytest.raises(ps.ActionError, match="NaN"):
        ps.set_value(net, "q", float("nan"))
    assert (net.q == 3).all()
    assert ps.stats(net, "q")["mean"] == 3


def test_module_used_twice_points_to_its_first_use():
    shared = nn.Linear(8, 8)
    net = nn.Sequential(nn.Linear(4, 8), shared, nn.ReLU(), shared)
    got = nodes(net)
    assert got["3"].tied_to == "1" and got["1"].aliases == ["3"]
    assert got["3.weight"].tied_to == "1.weight"
    assert got[""].n_params == 40 + 72 and got[""].n_params_with_aliases == 40 + 72 * 2
    assert got["3"].n_params == 72


def test_nanogpt_style_tied_embedding_is_counted_once_and_reinit_once():
    class TinyGPT(nn.Module):
        def __init__(self, vocab: int = 50, dim: int = 16) -> None:
            super().__init__()
            self.transformer = nn.ModuleDict({"wte": nn.Embedding(vocab, dim), "ln_f": nn.LayerNorm(dim)})
            self.lm_head = nn.Linear(dim, vocab, bias=False)
            self.transformer.wte.weight = self.lm_head.weight  # weight tying, as nanoGPT does

    gpt = TinyGPT()
    got = nodes(gpt, name="gpt")
    assert got[""].n_params == sum(p.numel() for p in gpt.parameters())
    assert got["lm_head.weight"].tied_to == "transformer.wte.weight"
    assert got["transformer.wte.weight"].code == "gpt.transformer['wte'].weight"
    result = ps.reinit(gpt, "", "normal", std=0.02, seed=0)
    assert "lm_head.weight" not in result["changed"]  # the same tensor, initialized once
    ps.untie(gpt, "lm_head.weight")
    assert gpt.lm_head.weight is not gpt.transformer.wte.weight
    ps.undo(gpt)
    assert gpt.lm_head.weight is gpt.transformer.wte.weight


def test_tie_makes_gradients_add_up():
    net = nn.Sequential(nn.Linear(4, 4, bias=False), nn.Linear(4, 4, bias=False))
    ps.tie(net, "1.weight", "0.weight")
    x = torch.rand(3, 4)
    net(x).sum().backward()
    w = net[0].weight.detach().clone().requires_grad_(True)
    (x @ w.T @ w.T).sum().backward()
    torch.testing.assert_close(net[0].weight.grad, w.grad)
    assert ps.stats(net, "1.weight#grad")["mean"] == pytest.approx(w.grad.double().mean().item())


def test_parameter_list_and_dict_codes_evaluate_to_the_param():
    class Holder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.plist = nn.ParameterList([nn.Parameter(torch.ones(2)), nn.Parameter(torch.zeros(3))])
            self.pdict = nn.ParameterDict({"scale": nn.Parameter(torch.ones(1))})
            self.layers = nn.ModuleList([nn.Linear(2, 2)])
            self.add_module("odd name", nn.Linear(1, 1))

    h = Holder()
    for node in ps.inspect(h, name="h").walk():
        if node.kind == "param":
            assert eval(node.code, {"h": h}) is dict(h.named_parameters(remove_duplicate=False))[node.path]
    assert nodes(h, name="h")["odd name.weight"].code == "getattr(h, 'odd name').weight"


def test_custom_tensor_initializer_forms():
    net = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))

    def fill(tensor):
        tensor.fill_(0.25)

    ps.reinit(net, "0", fill)
    assert (net[0].weight == 0.25).all() and (net[0].bias == 0.25).all()
    ps.reinit(net, "1.weight", lambda t: torch.full_like(t, 2.0))
    assert (net[1].weight == 2).all()
    ps.reinit(net, "1.bias", nn.init.ones_)
    assert (net[1].bias == 1).all()
    with pytest.raises(ps.ActionError, match="returned a str"):
        ps.reinit(net, "1.bias", lambda t: "nope")


def test_module_form_initializer_on_one_param_changes_only_that_param():
    net = nn.Sequential(nn.Linear(4, 3))
    bias = net[0].bias.detach().clone()

    def my_init(m):
        if isinstance(m, nn.Linear):
            nn.init.constant_(m.weight, 9)
            nn.init.constant_(m.bias, 9)

    result = ps.reinit(net, "0.weight", my_init)
    assert result["changed"] == ["0.weight"]
    assert (net[0].weight == 9).all() and torch.equal(net[0].bias, bias)


def test_default_reinit_without_reset_parameters_is_explained():
    class Raw(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.ones(3))

    with pytest.raises(ps.ActionError, match="reset_parameters"):
        ps.reinit(Raw(), "", "default")


def test_stats_match_numpy_across_chunks(monkeypatch):
    monkeypatch.setattr("paramscope.adapters.torch.CHUNK_ELEMS", 1000)
    g = torch.Generator().manual_seed(0)
    w = torch.randn(37, 101, generator=g) * 3 + 1
    w[0, :5] = 0
    w[1, 0] = float("nan")
    w[2, 0] = float("inf")
    w[2, 1] = float("-inf")
    net = nn.Module()
    net.w = nn.Parameter(w)
    s = ps.stats(net, "w", bins=16)
    values = w.double().numpy().ravel()
    finite = values[np.isfinite(values)]
    assert s["numel"] == values.size and s["nan"] == 1 and s["inf"] == 2
    # float32 partial sums merged in float64: exact to float32 rounding (see tests/test_stats.py)
    assert s["mean"] == pytest.approx(finite.mean(), rel=1e-6)
    assert s["std"] == pytest.approx(finite.std(), rel=1e-6)
    assert (s["min"], s["max"]) == (finite.min(), finite.max())
    assert s["zeros"] == pytest.approx(5 / values.size)
    counts, _ = np.histogram(finite, bins=16, range=(finite.min(), finite.max()))
    assert s["hist"]["counts"] == counts.tolist()
    # Non-contiguous (transposed) tensors are read in row blocks with the same result.
    net.w = nn.Parameter(w.t())
    assert ps.stats(net, "w", bins=16)["hist"]["counts"] == counts.tolist()


def test_values_are_downsampled_to_a_2d_grid():
    net = nn.Module()
    net.conv = nn.Parameter(torch.arange(64 * 3 * 5 * 5, dtype=torch.float32).reshape(64, 3, 5, 5))
    adapter = adapter_for(net)
    index = adapter.index(net)
    v = tensor_values(adapter, index.tensors["conv"], max_elems=256)
    assert v["rows"] * v["cols"] <= 256
    assert v["data"][0][0] == 0 and v["data"][1][0] == v["row_step"] * 75
    assert v["data"][0][1] == v["col_step"]


@pytest.mark.slow
@pytest.mark.parametrize("nan", [False, True], ids=["finite", "NaN in every chunk"])
def test_stats_of_a_1gib_tensor_use_at_most_64mb_extra(nan):
    """Peak resident memory while computing stats of a 1 GiB float32 tensor grows by at most 64 MB; with a NaN in
    every chunk too, where the kernels pass each chunk back and the eager path masks it a piece at a time."""
    script = textwrap.dedent(
        f"""
        import json, torch, paramscope as ps
        from torch import nn
        def peak():
            for line in open('/proc/self/status'):
                if line.startswith('VmHWM'):
                    return int(line.split()[1]) * 1024
        net = nn.Module()
        net.w = nn.Parameter(torch.empty(2**28).uniform_(-1, 1))  # 1 GiB
        if {nan}:
            net.w.data[::2**19] = float('nan')
        net.small = nn.Parameter(torch.rand(2**23))
        if {nan}:
            net.small.data[::2**19] = float('nan')
        ps.stats(net, 'small')  # two chunks, as w: loads the kernels and the eager ops once, not a cost of size
        before = peak()
        s = ps.stats(net, 'w')
        print(json.dumps({{'extra': peak() - before, 'numel': s['numel'], 'max': s['max'], 'nan': s['nan']}}))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["numel"] == 2**28 and result["max"] <= 1 and result["nan"] == (2**9 if nan else 0)
    assert result["extra"] <= 64 * 2**20, result


def test_untie_a_module_used_twice_gives_that_use_its_own_copy():
    shared = nn.Linear(8, 8)
    net = nn.Sequential(nn.Linear(4, 8), shared, nn.ReLU(), shared)
    with pytest.raises(ps.ActionError, match="untie the block"):
        ps.untie(net, "3.weight")
    ps.untie(net, "3")
    assert net[3] is not net[1] and torch.equal(net[3].weight, net[1].weight)
    assert nodes(net)["3"].tied_to is None and nodes(net)[""].n_params == 40 + 72 * 2
    ps.undo(net)
    assert net[3] is net[1]
    with pytest.raises(ps.ActionError, match="only once"):
        ps.untie(net, "0")
