"""Run by tests/test_concurrency.py in a subprocess (a crash is a failed test, not a dead pytest): a model trains
in a background thread while the main thread sends every read-only request, as the front ends do, for a few
seconds. Prints one JSON line: requests per op, training steps, answers marked during_step, problems found."""

from __future__ import annotations

import importlib
import json
import math
import os
import sys
import threading
import time
from collections import Counter
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DOCUMENTED = {"ActionError", "BadRequest", "UndoConflict"}


def _torch() -> tuple[Any, Any]:
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(*[nn.Linear(256, 256) for _ in range(8)], nn.BatchNorm1d(256))
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x = torch.randn(32, 256)

    def step() -> None:
        opt.zero_grad()
        net(x).pow(2).mean().backward()
        opt.step()

    return net, step


def _mxnet() -> tuple[Any, Any]:
    importlib.import_module("paramscope.adapters.mxnet_compat")  # before mxnet: its numpy shim

    import mxnet as mx
    from mxnet import autograd, gluon
    from mxnet.gluon import nn

    mx.random.seed(0)
    net = nn.HybridSequential()
    for _ in range(8):
        net.add(nn.Dense(256, in_units=256))
    net.add(nn.BatchNorm(in_channels=256))
    net.initialize()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.01})
    x = mx.nd.random.normal(shape=(32, 256))

    def step() -> None:
        with autograd.record():
            loss = (net(x) ** 2).mean()
        loss.backward()
        trainer.step(32)
        mx.nd.waitall()

    return net, step


def _keras() -> tuple[Any, Any]:
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((256,)), *[keras.layers.Dense(256) for _ in range(8)],
                            keras.layers.BatchNormalization()])
    net.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    x = np.random.default_rng(0).normal(size=(32, 256)).astype("float32")
    y = np.zeros((32, 256), "float32")

    def step() -> None:
        net.train_on_batch(x, y)

    return net, step


def _requests(paths: list[str]) -> list[dict[str, Any]]:
    """Rounds of every op, as a front end sends them; each round reads the next parameter or buffer."""
    out: list[dict[str, Any]] = []
    for path in paths:
        out += [{"op": "models"}, {"op": "tree", "path": "", "depth": None},
                {"op": "tree", "path": "", "depth": 1, "offset": 2, "limit": 3}, {"op": "tree", "path": path},
                {"op": "stats", "path": path}, {"op": "values", "path": path}, {"op": "stats", "path": path + "#grad"},
                {"op": "values", "path": path + "#grad"}, {"op": "history"}, {"op": "fingerprints", "paths": [path]},
                {"op": "watch_start", "every": 1}, {"op": "watch_poll"}, {"op": "watch_stop"}]
    for req in out:
        req.setdefault("model", "net")
    return out


def _strict(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"non-strict JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def _check(op: str, answer: dict[str, Any], problems: list[str]) -> None:
    if not answer["ok"]:
        if answer["error"]["type"] not in DOCUMENTED:
            problems.append(f"{op}: {answer['error']}")
        return
    result = answer["result"]
    if op in ("stats", "values") and result.get("available"):
        numbers = [result.get(k) for k in ("mean", "std", "min", "max", "rms")]
        if any(v is not None and not math.isfinite(v) for v in numbers):
            problems.append(f"{op}: non-finite number in {result}")
        if "during_step" in result and not isinstance(result["during_step"], bool):
            problems.append(f"{op}: during_step is {result['during_step']!r}")


def main(framework: str, seconds: float) -> None:
    from paramscope import protocol

    net, step = {"pytorch": _torch, "mxnet": _mxnet, "keras": _keras}[framework]()
    step()  # build and give every parameter a gradient before the thread starts
    stop = threading.Event()
    steps = 0
    failure: list[str] = []

    def train() -> None:
        nonlocal steps
        try:
            while not stop.is_set():
                step()
                steps += 1
        except Exception as e:  # noqa: BLE001 - reported in the summary
            failure.append(repr(e))

    index = protocol.handle({"op": "tree", "model": "net", "depth": None}, models={"net": net}, namespace={})
    paths = [n["path"] for n in _walk(index["result"]["node"]) if n["kind"] in ("param", "buffer")]
    requests = _requests(paths)
    thread = threading.Thread(target=train, name="trainer")
    thread.start()
    counts: Counter[str] = Counter()
    during: Counter[str] = Counter()
    problems: list[str] = []
    deadline = time.monotonic() + seconds
    i = 0
    try:
        while time.monotonic() < deadline and len(problems) < 20:
            req = dict(requests[i % len(requests)], id=i)
            i += 1
            answer = _strict(protocol.to_json(protocol.handle(req, models={"net": net}, namespace={})))
            op = req["op"] + ("#grad" if str(req.get("path", "")).endswith("#grad") else "")
            counts[op] += 1
            _check(req["op"], answer, problems)
            if answer["ok"] and isinstance(answer["result"], dict) and answer["result"].get("during_step"):
                during[op] += 1
    finally:
        stop.set()
        thread.join()
    after = protocol.handle({"op": "stats", "model": "net", "path": paths[0] + "#grad"}, models={"net": net},
                            namespace={})
    print(json.dumps({"requests": dict(counts), "steps": steps, "during_step": dict(during), "problems": problems,
                      "train_failure": failure, "grad_after": after["ok"] and after["result"].get("available")}))


def _walk(node: dict[str, Any]) -> list[dict[str, Any]]:
    out = [node]
    for child in node.get("children") or ():
        out += _walk(child)
    return out


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
