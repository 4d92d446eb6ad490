"""What undo safety costs: ps.reinit (saved copy, what changed, the state it left) and ps.undo (checked first)
against doing it by hand in the same run (copy the weights yourself, initialize, load the copy back)."""

from __future__ import annotations

import os
import pathlib

from common import timed

import paramscope as ps

RESULTS = pathlib.Path(__file__).parent / "results_undo.md"


def _torch() -> list[str]:
    import torch
    from torch import nn

    net = nn.Sequential(*[nn.Linear(1000, 1000) for _ in range(25)])  # 25 M params, 100 MB

    def by_hand() -> None:
        saved = {k: v.clone() for k, v in net.state_dict().items()}
        with torch.no_grad():
            for p in net.parameters():
                p.normal_(0, 0.01)
        net.load_state_dict(saved)

    def paramscope() -> None:
        ps.reinit(net, "", "normal", std=0.01, mean=0.0)
        ps.undo(net)

    def init_only() -> None:
        with torch.no_grad():
            for p in net.parameters():
                p.normal_(0, 0.01)

    return _rows("PyTorch 25 x Linear(1000, 1000), 100 MB", by_hand, paramscope, init_only)


def _mxnet() -> list[str]:
    import paramscope.adapters.mxnet_compat  # before mxnet: puts numpy.bool back

    # isort: split
    import mxnet as mx
    from mxnet.gluon import nn

    net = nn.HybridSequential()
    for _ in range(25):
        net.add(nn.Dense(1000, in_units=1000))
    net.initialize()
    params = list(net.collect_params().values())

    def by_hand() -> None:
        saved = [p.data().copy() for p in params]
        for p in params:
            p.set_data(mx.nd.random.normal(0, 0.01, shape=p.shape))
        for p, value in zip(params, saved, strict=True):
            p.set_data(value)
        mx.nd.waitall()  # MXNet's engine is asynchronous: wait for the work to be done

    def paramscope() -> None:
        ps.reinit(net, "", "normal", std=0.01, mean=0.0)
        ps.undo(net)

    def init_only() -> None:
        for p in params:
            p.set_data(mx.nd.random.normal(0, 0.01, shape=p.shape))
        mx.nd.waitall()

    return _rows("MXNet 25 x Dense(1000, in_units=1000), 100 MB", by_hand, paramscope, init_only)


def _keras() -> list[str]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    net = keras.Sequential([keras.Input((1000,)), *[keras.layers.Dense(1000) for _ in range(25)]])

    def by_hand() -> None:
        saved = net.get_weights()
        for v in net.weights:
            v.assign(np.random.normal(0, 0.01, v.shape).astype("float32"))
        net.set_weights(saved)

    def paramscope() -> None:
        ps.reinit(net, "", "normal", std=0.01, mean=0.0)
        ps.undo(net)

    def init_only() -> None:
        for v in net.weights:
            v.assign(np.random.normal(0, 0.01, v.shape).astype("float32"))

    return _rows("Keras 25 x Dense(1000), 100 MB", by_hand, paramscope, init_only)


def _rows(name: str, by_hand, paramscope, init_only) -> list[str]:  # type: ignore[no-untyped-def]
    times = {tool: timed(fn, repeat=3)[0] for tool, fn in (
        ("by hand: copy, init, load the copy back", by_hand), ("ps.reinit + ps.undo (checked)", paramscope),
        ("the init alone (no way back)", init_only))}
    base = times["by hand: copy, init, load the copy back"]
    return [f"| {name} | {tool} | {t * 1000:.0f} ms | {t / base:.2f} |" for tool, t in times.items()]


def main() -> None:
    lines = ["# Undo safety: cost of an action and its undo", "",
             "Median of 3 runs after a warm-up, all in one process; the ratio is to doing it by hand.", "",
             "| model | what | time | x by hand |", "|---|---|---:|---:|"]
    for bench in (_torch, _mxnet, _keras):
        try:
            lines += bench()
        except ImportError as e:
            lines.append(f"| {bench.__name__[1:]} | not installed: {e} | | |")
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
