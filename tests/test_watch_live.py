"""ps.watch: update ratio, flags, export, following ties and replaced layers, hooks removed, pushes, no leaks."""

from __future__ import annotations

import csv
import gc
import math
import time
import weakref

import pytest

import paramscope as ps
from paramscope import protocol, watch_push
from paramscope.rewind import undo_to

torch = pytest.importorskip("torch", reason="PyTorch is not installed in this environment")
from torch import nn  # noqa: E402


def train(net, steps, lr=0.1):
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    torch.manual_seed(0)
    for _ in range(steps):
        opt.zero_grad()
        net(torch.rand(4, 4)).pow(2).sum().backward()
        opt.step()


def test_update_ratio_is_the_norm_of_the_step_over_the_norm_of_the_weights():
    net = nn.Linear(4, 4)
    handle = ps.watch(net, every=2)
    before, after = [], []
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for step in range(1, 6):
        opt.zero_grad()
        if step % 2 == 1:
            before.append(net.weight.detach().clone())
        net(torch.rand(4, 4)).pow(2).sum().backward()
        opt.step()
        if step % 2 == 1:
            after.append(net.weight.detach().clone())
    net(torch.rand(1, 4))  # the forward that closes step 5's update
    for record, w0, w1 in zip(handle.records, before, after, strict=True):
        expected = float((w1 - w0).double().norm() / w0.double().norm())
        assert record["update"]["weight"] == pytest.approx(expected, rel=1e-4)
    handle.stop()


def test_nonfinite_and_exploding_gradients_are_flagged():
    net = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 1))
    handle = ps.watch(net, every=1)
    train(net, 2, lr=0.0)
    assert handle.flags() == {}
    with torch.no_grad():
        net[0].weight[0, 0] = float("nan")
    train(net, 1, lr=0.0)
    found = handle.flags()
    assert "nonfinite" in found["0.weight"]
    assert handle.poll()["flags"] == found
    handle.stop()
    net = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 1))
    handle = ps.watch(net, every=1)
    train(net, 1, lr=0.0)
    with torch.no_grad():
        net[1].weight.mul_(1e6)  # the gradients of layer 0 grow by the same factor
    train(net, 1, lr=0.0)
    assert "exploding" in handle.flags()["0.weight"]
    with torch.no_grad():
        net[1].weight.mul_(1e-16)
    train(net, 1, lr=0.0)
    assert "vanishing" in handle.flags()["0.weight"]
    handle.stop()


def test_rows_and_csv_export(tmp_path):
    net = nn.Linear(4, 2)
    handle = ps.watch(net, every=1)
    train(net, 3)
    handle.stop()
    rows = handle.rows()
    assert len(rows) == 6 and {r["param"] for r in rows} == {"weight", "bias"}
    assert all(isinstance(r, dict) for r in rows) and rows[0]["grad_norm"] > 0
    out = tmp_path / "watch.csv"
    assert handle.to_csv(str(out)) == 6
    with open(out, newline="") as f:
        read = list(csv.DictReader(f))
    assert [r["step"] for r in read] == ["1", "1", "2", "2", "3", "3"]
    assert float(read[0]["value_mean"]) == pytest.approx(rows[0]["value_mean"], rel=1e-12)


def test_stop_removes_every_hook():
    net = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 1))
    handle = ps.watch(net, every=1)
    assert net._forward_pre_hooks and all(p._post_accumulate_grad_hooks for p in net.parameters())
    handle.stop()
    assert not net._forward_pre_hooks
    assert all(not getattr(p, "_post_accumulate_grad_hooks", None) for p in net.parameters())


def test_a_running_watch_follows_ties_unties_and_replaced_layers():
    net = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))
    handle = ps.watch(net, every=1)
    train(net, 1)
    assert set(handle.records[-1]["grads"]) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    ps.tie(net, "2.weight", "0.weight")
    train(net, 1)
    assert set(handle.records[-1]["grads"]) == {"0.weight", "0.bias", "2.bias"}  # one series for the tied one
    ps.untie(net, "2.weight")
    train(net, 1)
    assert "2.weight" in handle.records[-1]["grads"]
    net[2] = nn.Linear(4, 4)  # replaced by code: no revision, found at the next recorded step
    with torch.no_grad():
        net[2].weight.fill_(0.5)
    train(net, 1, lr=0.0)
    assert handle.records[-1]["values"]["2.weight"]["mean"] == pytest.approx(0.5)
    assert handle.records[-1]["grads"]["2.weight"]["norm"] > 0
    handle.stop()


def test_the_tied_gradient_is_the_sum_over_its_uses():
    shared = nn.Linear(4, 4, bias=False)
    net = nn.Sequential(shared, nn.Tanh(), shared)
    handle = ps.watch(net, every=1)
    x = torch.rand(3, 4)
    net(x).sum().backward()
    # The same gradient computed use by use with two independent copies.
    a, b = nn.Linear(4, 4, bias=False), nn.Linear(4, 4, bias=False)
    with torch.no_grad():
        a.weight.copy_(shared.weight)
        b.weight.copy_(shared.weight)
    b(torch.tanh(a(x))).sum().backward()
    total = (a.weight.grad + b.weight.grad).double()
    assert handle.records[-1]["grads"]["0.weight"]["norm"] == pytest.approx(float(total.norm()), rel=1e-5)
    handle.stop()


def test_pushes_reach_sinks_throttled_and_the_last_step_arrives(monkeypatch):
    got = []
    unsubscribe = watch_push.on_push(lambda model, payload: got.append(payload))
    try:
        net = nn.Linear(4, 1)
        handle = ps.watch(net, every=1)
        start = time.monotonic()
        train(net, 200)
        took = time.monotonic() - start
        watch_push._after_cell()  # IPython's post_execute: the push that had to wait goes out
        assert 1 <= len(got) <= 10 * took + 2  # at most 10 pushes a second, and the last one
        assert got[-1]["state"]["step"] == 200 and got[-1]["model"] == "net"
        seqs = {r["seq"] for p in got for r in p["state"]["records"]}
        assert seqs == set(range(200))  # nothing lost between pushes
        handle.stop()
    finally:
        unsubscribe()


def test_no_strong_reference_keeps_the_model_alive():
    net = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 1))
    ns = {"net": net}
    handle = ps.watch(net, every=1)
    train(net, 2)
    assert protocol.handle({"op": "watch_start", "model": "net", "every": 1}, namespace=ns)["ok"]
    train(net, 1)
    gone = weakref.ref(net)
    del net, ns
    gc.collect()
    assert gone() is None
    assert not handle.active and len(handle.records) == 2  # the records stay readable


def test_undo_back_to_an_entry_is_bit_exact_and_atomic():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    ps.reinit(net, "0", "normal", seed=1)
    at_entry_1 = {k: v.clone() for k, v in net.state_dict().items()}
    ps.set_value(net, "1.bias", 3.0)
    ps.tie(net, "1.weight", "0.weight")
    ps.reinit(net, "1", "zeros")
    result = undo_to(net, 1)
    assert len(result["undone"]) == 3 and len(ps.history(net)["entries"]) == 1
    assert net[1].weight is not net[0].weight
    for key, value in net.state_dict().items():
        assert torch.equal(value, at_entry_1[key]), key
    with pytest.raises(ps.ActionError, match="no history entry"):
        undo_to(net, 5)


def test_undo_back_that_fails_midway_changes_nothing():
    net = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    ps.reinit(net, "0", "normal", seed=1)
    ps.reinit(net, "1", "normal", seed=2)
    ps.set_value(net, "1.bias", 7.0)
    with torch.no_grad():
        net[0].weight.add_(1.0)  # a manual edit: undoing entry 0 would overwrite it
    now = {k: v.clone() for k, v in net.state_dict().items()}
    before = len(ps.history(net)["entries"])
    with pytest.raises(ps.ActionError, match=r"nothing changed|cannot undo"):
        undo_to(net, 0)
    assert len(ps.history(net)["entries"]) == before
    for key, value in net.state_dict().items():
        assert torch.equal(value, now[key]), key
    assert math.isfinite(float(net[1].bias.detach()[0]))


def test_a_display_watch_writes_one_updated_output_per_cell(monkeypatch):
    """For hosts without a comm (VS Code): the push goes into the running cell's output, updated in place."""
    import IPython
    import IPython.display

    shown: list[tuple[str, dict, str]] = []

    class Shell:
        execution_count = 3

    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell)
    monkeypatch.setattr(IPython.display, "display", lambda b, raw, display_id: shown.append(("display", b, display_id)))
    monkeypatch.setattr(IPython.display, "update_display",
                        lambda b, raw, display_id: shown.append(("update", b, display_id)))
    net = nn.Linear(4, 1)
    ns = {"net": net}
    assert protocol.handle({"op": "watch_start", "model": "net", "every": 1, "display": True}, namespace=ns)["ok"]
    train(net, 3)
    watch_push._after_cell()
    Shell.execution_count = 4
    time.sleep(0.11)  # past the throttle interval: the next step's push goes out at once
    train(net, 1)
    watch_push._after_cell()
    kinds = [k for k, _, _ in shown]
    assert kinds[0] == "display" and "update" in kinds and kinds.count("display") == 2  # one per cell
    assert len({d for _, _, d in shown}) == 1
    last = shown[-1][1]
    assert last[watch_push.DISPLAY_MIME]["state"]["step"] == 4 and last[watch_push.DISPLAY_MIME]["model"] == "net"
    assert "paramscope: watching net, step 4" in last["text/plain"]
    protocol.handle({"op": "watch_stop", "model": "net"}, namespace=ns)
