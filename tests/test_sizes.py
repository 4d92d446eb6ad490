"""The treemap's colours (#13): op `sizes` with `color`, in every framework: each entry's statistic equals numpy's
over the unique parameters it counts (size-weighted, ties once), gradients, the change since the compare snapshot,
the watch's latest step, and clear errors for what cannot be coloured."""

from __future__ import annotations

import math

import numpy as np
import pytest

from paramscope import protocol
from paramscope.adapters import adapter_for
from tests.undo_kit import kit, paths, ps, same_shape_pairs

FRAMEWORKS = ["pytorch", "keras", "mxnet"]


def _sizes(model, **fields):
    return protocol.handle({"id": 1, "op": "sizes", "model": "m", "depth": 6, "per_block": 200, **fields},
                           models={"m": model})


def _values(model, color, **fields):
    reply = _sizes(model, color=color, **fields)
    assert reply["ok"], reply
    out = {}
    stack = [reply["result"]["root"]]
    while stack:
        node = stack.pop()
        if "path" in node:
            out[node["path"]] = node["value"]
        stack.extend(node.get("children", []))
    return out, reply["result"]


def _host(model, path, grad=False):
    adapter = adapter_for(model)
    entry = adapter.index(model).tensors[path]
    if grad:
        return np.asarray(model.get_parameter(path).grad, np.float64).reshape(-1)
    return adapter.host_copy(entry).astype(np.float64).reshape(-1)


def _unique(model, path):
    return [e.path for e in adapter_for(model).index(model).unique_params(path)]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_each_block_is_coloured_by_the_statistic_of_all_its_values(framework):
    model = kit(framework).make()
    blocks, params = paths(model)
    ps.set_value(model, params[0], 0.0)  # some exact zeros
    for color, fn in [("rms", lambda x: math.sqrt(np.mean(x * x))), ("std", np.std), ("mean", np.mean),
                      ("zeros", lambda x: np.count_nonzero(x == 0) / x.size)]:
        values, result = _values(model, color)
        assert result["color"] == color and {"dtype", "rms", "std", "mean", "zeros"} <= set(result["colors"])
        for path in ["", *blocks, *params]:
            if values.get(path) is None and path not in values:
                continue  # a second use, or under a block past the answer's depth
            members = _unique(model, path)
            if not members:
                continue
            expected = fn(np.concatenate([_host(model, p) for p in members]))
            assert values[path] == pytest.approx(expected, rel=1e-5, abs=1e-7), (color, path)
    assert values[params[0]] == 1.0


def test_colours_count_a_tied_parameter_once_and_add_up_the_gradient():
    k = kit("pytorch")
    model = k.make()
    a, b = same_shape_pairs(model)[0]
    ps.tie(model, a, b)
    values, result = _values(model, "rms")
    unique = _unique(model, "")
    assert len(unique) < len(adapter_for(model).index(model).tensors)
    everything = np.concatenate([_host(model, p) for p in unique])
    assert values[""] == pytest.approx(math.sqrt(np.mean(everything**2)), rel=1e-6)
    grads, result = _values(model, "grad_norm")
    assert {"grad_norm", "grad_rms"} <= set(result["colors"])
    expected = math.sqrt(sum(float(np.sum(_host(model, p, grad=True) ** 2)) for p in unique))
    assert grads[""] == pytest.approx(expected, rel=1e-6)
    rms, _ = _values(model, "grad_rms")
    numel = sum(_host(model, p).size for p in unique)
    assert rms[""] == pytest.approx(expected / math.sqrt(numel), rel=1e-6)
    for p in model.parameters():
        p.grad = None
    none, result = _values(model, "grad_norm")
    assert none[""] is None and "grad_norm" not in result["colors"]  # no gradient: no value, not an error


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_colour_by_the_change_since_the_compare_snapshot(framework):
    model = kit(framework).make()
    _blocks, params = paths(model)
    reply = _sizes(model, color="change")
    assert not reply["ok"] and reply["error"]["type"] == "ActionError" and "no snapshot" in reply["error"]["message"]
    ps.snapshot(model)
    target = params[0]
    before = _host(model, target)
    ps.set_value(model, target, lambda old: old * 2 + 1)
    values, result = _values(model, "change")
    assert "change" in result["colors"]
    delta = _host(model, target) - before
    assert values[target] == pytest.approx(np.linalg.norm(delta) / np.linalg.norm(before), rel=1e-5)
    assert all(values[p] == 0 for p in params if p != target and p in values and values[p] is not None)
    # the root's ratio is over the snapshot's values: the target's own before, the others unchanged
    norm2 = sum(float(np.sum(_host(model, p) ** 2)) for p in _unique(model, "") if p != target) + float(
        np.sum(before**2))
    assert values[""] == pytest.approx(math.sqrt(float(np.sum(delta**2)) / norm2), rel=1e-5)


def test_colour_by_the_watch_latest_step():
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    reply = _sizes(model, color="watch_update")
    assert not reply["ok"] and "no watch" in reply["error"]["message"]
    watch = ps.watch(model, every=1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    try:
        for _ in range(3):
            opt.zero_grad()
            model(torch.randn(16, 4)).pow(2).mean().backward()
            opt.step()
        model(torch.randn(1, 4))  # the next forward closes the step's update ratio
    finally:
        watch.stop()
    record = next(r for r in reversed(watch.records) if r["grads"])
    grads, result = _values(model, "watch_grad_norm")
    assert {"watch_grad_norm", "watch_update"} <= set(result["colors"])
    assert grads["0.weight"] == pytest.approx(record["grads"]["0.weight"]["norm"])
    assert grads[""] == pytest.approx(math.sqrt(sum(g["norm"] ** 2 for g in record["grads"].values())))
    updates, _ = _values(model, "watch_update")
    record = next(r for r in reversed(watch.records) if r["update"])
    assert updates["2.bias"] == pytest.approx(record["update"]["2.bias"])


def test_bad_colours_are_refused_clearly_and_the_plain_answer_is_unchanged():
    model = kit("pytorch").make()
    plain = _sizes(model)
    assert plain["ok"] and "value" not in plain["result"]["root"] and plain["result"]["color"] == "dtype"
    assert _sizes(model, color="dtype")["result"]["root"] == plain["result"]["root"]
    bad = _sizes(model, color="loudness")
    assert bad["error"]["type"] == "ActionError"
    assert "unknown statistic 'loudness'" in bad["error"]["message"] and "rms" in bad["error"]["message"]
    assert _sizes(model, color=3)["error"]["type"] == "BadRequest"


def test_a_more_entry_is_coloured_by_the_blocks_it_merges():
    from torch import nn

    model = nn.Sequential(*[nn.Linear(3, 3) for _ in range(6)])
    reply = protocol.handle({"id": 1, "op": "sizes", "model": "m", "depth": 1, "per_block": 2, "color": "rms"},
                            models={"m": model})
    more = reply["result"]["root"]["children"][-1]
    assert more["more"] == 4
    shown = {c["path"] for c in reply["result"]["root"]["children"][:-1]}
    members = [p.detach().numpy().reshape(-1) for name, m in model.named_children() if name not in shown
               for p in m.parameters()]
    rest = np.concatenate(members)
    assert more["value"] == pytest.approx(math.sqrt(np.mean(rest.astype(np.float64) ** 2)), rel=1e-6)
