"""Overhead of ps.watch on a 784-256-10 MLP (batch 64, 500 steps): PyTorch loop and Keras fit, not watched vs
watched every 10 steps (with and without a front end listening for pushes) vs after stop(); writes
bench/results_watch.md. The variants run interleaved, round after round, and each ratio is the median over the
rounds, so that a busy machine slows every variant alike."""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from common import write_results

import paramscope as ps
from paramscope import watch_push

STEPS, BATCH, ROUNDS = 500, 64, 7
OUT = Path(__file__).parent / "results_watch.md"


def _rounds(variants: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(ROUNDS):
        for name, run in variants.items():
            times[name].append(run())
    return times


def _torch() -> tuple[dict[str, list[float]], list[str]]:
    import torch
    from torch import nn

    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x, y = torch.randn(BATCH, 784), torch.randint(0, 10, (BATCH,))
    loss = nn.CrossEntropyLoss()

    def train() -> float:
        start = time.perf_counter()
        for _ in range(STEPS):
            opt.zero_grad()
            loss(net(x), y).backward()
            opt.step()
        return time.perf_counter() - start

    return _compare(net, train, lambda: bool(net._forward_pre_hooks) or any(
        getattr(p, "_post_accumulate_grad_hooks", None) for p in net.parameters()))


def _keras() -> tuple[dict[str, list[float]], list[str]]:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(256, activation="relu"), keras.layers.Dense(10)])
    model.compile(keras.optimizers.SGD(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.rand(STEPS * BATCH, 784).astype("float32")
    y = np.random.randint(0, 10, STEPS * BATCH)
    model.fit(x[:BATCH], y[:BATCH], batch_size=BATCH, verbose=0)  # trace the train step once

    def train() -> float:
        start = time.perf_counter()
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
        return time.perf_counter() - start

    return _compare(model, train, lambda: "make_train_function" in vars(model))


def _compare(model: object, train: Callable[[], float],
             hooked: Callable[[], bool]) -> tuple[dict[str, list[float]], list[str]]:
    train()  # warm up
    notes = []

    def watched(listening: bool) -> Callable[[], float]:
        def run() -> float:
            unsubscribe = watch_push.on_push(lambda _m, _p: None) if listening else None
            handle = ps.watch(model, every=10)
            try:
                took = train()
            finally:
                handle.stop()
                if unsubscribe:
                    unsubscribe()
            if len(handle.records) != STEPS // 10:
                raise AssertionError(f"{len(handle.records)} records, expected {STEPS // 10}")
            return took

        return run

    def after_stop() -> float:
        ps.watch(model, every=10).stop()
        if hooked():
            raise AssertionError("a hook is left after stop()")
        return train()

    times = _rounds({"not watched": train, "watched, every=10": watched(False),
                     "watched, every=10, a front end listening": watched(True), "after stop()": after_stop})
    notes.append("hooks after stop(): none (checked after every round)")
    return times, notes


def _table(name: str, times: dict[str, list[float]]) -> list[str]:
    base = times["not watched"]
    rows = []
    for variant, runs in times.items():
        ratios = [t / b for t, b in zip(runs, base, strict=True)]
        ms = statistics.median(runs) / STEPS * 1000
        rows.append(f"| {name} | {variant} | {ms:.3f} ms | {statistics.median(ratios):.3f}x | "
                    f"{(statistics.median(ratios) - 1) * 100:+.1f}% |")
    return rows


def main() -> None:
    lines = ["# ps.watch overhead", "",
             f"784-256-10 MLP, batch {BATCH}, {STEPS} steps per run, {ROUNDS} interleaved rounds; time per step "
             "(median) and the median over rounds of each run's ratio to the unwatched run of the same round.", "",
             "| framework | variant | time per step | x not watched | overhead |", "|---|---|---:|---:|---:|"]
    notes: list[str] = []
    load = os.getloadavg()[0]
    for name, bench in (("pytorch", _torch), ("keras (fit)", _keras)):
        times, found = bench()
        lines += _table(name, times)
        notes += [f"{name}: {n}" for n in found]
    notes.append(f"Keras backend {os.environ.get('KERAS_BACKEND', 'tensorflow')}; load average (1 min) "
                 f"{load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, on {os.cpu_count()} cores")
    lines += ["", *[f"- {n}" for n in notes], ""]
    write_results(OUT, lines)


if __name__ == "__main__":
    main()
