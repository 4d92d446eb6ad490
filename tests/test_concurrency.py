"""Requests while a model trains in another thread (issue #20): the kernel never dies (models, tree, stats,
values, history, fingerprints, watch start/poll/stop), PyTorch gradients wait for the thread, writes are refused,
value reads say they were taken during a step, and all works again afterwards.

The 10-second runs per framework happen in a subprocess (tests/concurrency_worker.py), so that a crash is a
failed test with the child's exit status instead of a dead pytest."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from paramscope import protocol, threads

ROOT = Path(__file__).resolve().parents[1]
SECONDS = 10
FRAMEWORKS = {"pytorch": ["torch"], "keras": ["keras"], "mxnet": ["paramscope.adapters.mxnet_compat", "mxnet"]}


@pytest.mark.slow
@pytest.mark.parametrize("framework", list(FRAMEWORKS))
def test_ten_seconds_of_requests_while_a_thread_trains(framework: str) -> None:
    for module in FRAMEWORKS[framework]:
        pytest.importorskip(module)
    proc = subprocess.run([sys.executable, "-m", "tests.concurrency_worker", framework, str(SECONDS)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"the process died (exit status {proc.returncode}):\n{proc.stderr[-4000:]}"
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["problems"] == []
    assert summary["train_failure"] == []
    assert summary["steps"] >= 3, summary  # the model really trained while the requests ran (slow on 2 cores)
    assert set(summary["requests"]) == {"models", "tree", "history", "fingerprints", "stats", "values", "stats#grad",
                                        "values#grad", "watch_start", "watch_poll", "watch_stop"}
    assert all(n >= 3 for n in summary["requests"].values()), summary
    assert summary["during_step"].get("stats", 0) + summary["during_step"].get("values", 0) > 0, summary
    assert summary["grad_after"] is True  # gradients are read again once the thread has stopped


@pytest.fixture
def trainer() -> Iterator[threading.Thread]:
    """A thread that runs PyTorch code (an optimizer step on a small model) until the test ends."""
    torch = pytest.importorskip("torch")
    net = torch.nn.Linear(64, 64)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x = torch.randn(8, 64)
    stop = threading.Event()

    def train() -> None:
        while not stop.is_set():
            opt.zero_grad()
            net(x).pow(2).mean().backward()
            opt.step()

    thread = threading.Thread(target=train, name="trainer", daemon=True)
    thread.net = net  # type: ignore[attr-defined]
    thread.start()
    yield thread
    stop.set()
    thread.join()


def _ask(net: object, **req: object) -> dict:
    return protocol.handle({"model": "net", **req}, models={"net": net}, namespace={})  # type: ignore[return-value]


def test_a_training_thread_is_seen_and_forgotten_when_it_stops(trainer: threading.Thread) -> None:
    assert threads.training("pytorch") == ["trainer"]
    assert threads.training("mxnet") == []  # another framework's threads are not this one's
    net = trainer.net  # type: ignore[attr-defined]
    tree = _ask(net, op="tree", depth=None)["result"]["node"]
    assert tree["children"][0]["has_grad"] is True  # trainable: the thread computes one; .grad is not read
    grad = _ask(net, op="stats", path="weight#grad")["result"]
    assert grad["available"] is False and '"trainer" trains' in grad["reason"] and "ps.watch" in grad["reason"]
    values = _ask(net, op="stats", path="weight")["result"]
    assert values["available"] is True and values["during_step"] is True and values["training"] == ["trainer"]
    heat = _ask(net, op="values", path="weight")["result"]
    assert heat["during_step"] is True
    for req in ({"op": "reinit", "path": "", "init": "zeros"}, {"op": "set_value", "path": "bias", "value": 1.0},
                {"op": "undo"}):
        answer = _ask(net, **req)
        assert answer["error"]["type"] == "ActionError" and "trains" in answer["error"]["message"], answer


def test_after_the_thread_stops_everything_reads_and_writes_again() -> None:
    torch = pytest.importorskip("torch")
    net = torch.nn.Linear(4, 4)
    net(torch.ones(1, 4)).sum().backward()
    worker = threading.Thread(target=lambda: [torch.ones(1) + 1 for _ in range(200)], name="short")
    worker.start()
    worker.join()
    assert threads.training("pytorch") == []  # a dead thread is forgotten at once
    stats = _ask(net, op="stats", path="weight#grad")["result"]
    assert stats["available"] is True and "during_step" not in stats
    assert _ask(net, op="reinit", path="bias", init="zeros")["ok"]


def test_a_thread_between_two_steps_still_counts(trainer: threading.Thread) -> None:
    assert threads.training("pytorch") == ["trainer"]
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:  # sampled many times: never reported idle while it trains
        assert threads.training("pytorch") == ["trainer"]
