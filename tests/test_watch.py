"""ps.watch: statistics of params and grads recorded every N training steps, in a bounded ring buffer."""

from __future__ import annotations

import math

import pytest

import paramscope as ps
from paramscope import protocol

torch = pytest.importorskip("torch", reason="PyTorch is not installed in this environment")
from torch import nn  # noqa: E402


def train(net, steps, seen=None):
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    torch.manual_seed(0)
    for _ in range(steps):
        opt.zero_grad()  # set_to_none: grads are None when the next forward starts
        loss = net(torch.rand(4, 4)).pow(2).sum()
        loss.backward()
        if seen is not None:
            seen.append({n: p.grad.double().mean().item() for n, p in net.named_parameters()})
        opt.step()


def test_watch_records_values_and_grads_every_n_steps():
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    handle = ps.watch(net, every=3)
    seen = []
    train(net, 10, seen)
    records = handle.records
    assert [r["step"] for r in records] == [1, 4, 7, 10]
    for record in records:
        assert set(record["values"]) == {"0.weight", "0.bias", "2.weight", "2.bias"}
        assert set(record["grads"]) == set(record["values"])
        expected = seen[record["step"] - 1]["0.weight"]
        assert record["grads"]["0.weight"]["mean"] == pytest.approx(expected, rel=1e-5, abs=1e-9)
        assert record["grads"]["0.weight"]["rms"] > 0
    handle.stop()
    train(net, 5)
    assert len(handle.records) == 4 and not handle.active


def test_watch_of_tied_params_records_the_summed_grad_once():
    shared = nn.Linear(4, 4)
    net = nn.Sequential(shared, nn.ReLU(), shared)
    handle = ps.watch(net, every=1)
    seen = []
    train(net, 2, seen)
    assert set(handle.records[-1]["grads"]) == {"0.weight", "0.bias"}
    assert handle.records[-1]["grads"]["0.weight"]["mean"] == pytest.approx(seen[-1]["0.weight"], rel=1e-5)
    handle.stop()


def test_ring_buffer_is_bounded_and_poll_pages():
    net = nn.Linear(4, 1)
    handle = ps.watch(net, every=1, max_records=5)
    train(net, 12)
    assert [r["step"] for r in handle.records] == [8, 9, 10, 11, 12]
    page = handle.poll(since=10)
    assert [r["seq"] for r in page["records"]] == [10, 11] and page["next"] == 12
    handle.stop()


def test_watch_over_the_protocol():
    net = nn.Linear(4, 1)
    ns = {"net": net}
    started = protocol.handle({"id": 1, "op": "watch_start", "model": "net", "every": 2}, namespace=ns)
    assert started["ok"] and started["result"]["active"] and started["result"]["records"] == []
    train(net, 4)
    polled = protocol.handle({"id": 2, "op": "watch_poll", "model": "net", "since": 0}, namespace=ns)
    assert [r["step"] for r in polled["result"]["records"]] == [1, 3]
    assert all(math.isfinite(r["grads"]["weight"]["std"]) for r in polled["result"]["records"])
    stopped = protocol.handle({"id": 3, "op": "watch_stop", "model": "net"}, namespace=ns)
    assert stopped["ok"] and stopped["result"]["active"] is False
    # A stopped watch's records stay readable (a front end opened later shows them).
    again = protocol.handle({"id": 4, "op": "watch_poll", "model": "net"}, namespace=ns)
    assert again["ok"] and again["result"]["active"] is False and len(again["result"]["records"]) == 2
    never = protocol.handle({"id": 5, "op": "watch_poll", "model": "other"}, namespace={"other": nn.Linear(1, 1)})
    assert never["ok"] is False and "not being watched" in never["error"]["message"]


def test_bad_watch_arguments_are_refused():
    with pytest.raises(ps.ActionError, match="every"):
        ps.watch(nn.Linear(1, 1), every=0)
