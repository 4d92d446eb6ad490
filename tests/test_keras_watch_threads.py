"""Keras watch hooks against a training thread, and no framework import the user did not make (each backend)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from tests.conftest import require

require("keras")

import keras  # noqa: E402 - after the skip helper, so a missing Keras skips with its reason

import paramscope as ps  # noqa: E402


def _net(cls=keras.Sequential):
    net = cls([keras.Input((4,)), keras.layers.Dense(3, name="d")], name="net")
    net.compile(keras.optimizers.SGD(0.01), "mse")
    return net


def _hooked(net) -> bool:
    return "make_train_function" in vars(net) or getattr(
        getattr(net, "train_function", None), "__paramscope_fit_step__", None) is not None


class _TrainsWhenPublished(keras.Sequential):
    """Runs a batch through the train function the moment it is assigned, as a training thread could."""

    batch = (np.ones((2, 4), "float32"), np.zeros((2, 3), "float32"))
    calls = 0

    def __setattr__(self, name, value):
        super().__setattr__(name, value)
        if name == "train_function" and getattr(value, "__paramscope_fit_step__", None) is not None:
            type(self).calls += 1
            x, y = self.batch
            if keras.backend.backend() == "jax":
                return  # JAX's train function takes the trainer's state too: the thread test covers JAX
            value(iter([(x, y, None)]) if keras.backend.backend() == "tensorflow" else [(x, y, None)])


def test_keras_the_train_function_is_published_only_with_its_listener():
    # The hook used to wrap the train function before its listener was set: a step run in between (a training
    # thread) raised AttributeError '_FitHook' object has no attribute 'listener'.
    net = _net(_TrainsWhenPublished)
    net.train_on_batch(*_TrainsWhenPublished.batch)  # makes the train function
    before = _TrainsWhenPublished.calls
    handle = ps.watch(net, every=1)
    handle.stop()
    assert not _hooked(net)
    if keras.backend.backend() != "jax":
        assert _TrainsWhenPublished.calls > before  # the step ran at the moment of publishing, and passed


_X, _Y = np.ones((8, 4), "float32"), np.zeros((8, 3), "float32")


@contextlib.contextmanager
def _training(net) -> Iterator[list[int]]:
    """A thread running `net.train_on_batch` in a loop while inside (the count of its steps yielded); on the way
    out it is stopped, and an error it raised fails the test."""
    net.train_on_batch(_X, _Y)
    errors: list[BaseException] = []
    done = threading.Event()
    steps = [0]

    def train() -> None:
        try:
            while not done.is_set():
                net.train_on_batch(_X, _Y)
                steps[0] += 1
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    thread = threading.Thread(target=train)
    thread.start()
    try:
        yield steps
    finally:
        done.set()
        thread.join(60)
    assert not errors, errors


def test_keras_watch_start_and_stop_while_a_thread_runs_train_on_batch():
    net = _net()
    with _training(net):
        for _ in range(30):
            ps.watch(net, every=1).stop()
    assert not _hooked(net)  # a make_train_function of the thread did not wrap again after stop()
    net.train_on_batch(_X, _Y)  # and training goes on unwatched


def test_keras_tree_and_stats_read_while_a_thread_runs_train_on_batch():
    # On JAX a training step donates the variables' arrays to its compiled update and assigns new ones after:
    # a read in between met "Array has been deleted" (the index's device, the stats' value).
    net = _net()
    with _training(net) as steps:
        for _ in range(200):
            tree = ps.inspect(net)
            kernel = tree.children[0].children[0]
            assert kernel.path == "net/d/kernel" and kernel.device is not None and kernel.shape == [4, 3]
            got = ps.stats(net, "net/d/kernel")
            assert got["numel"] == 12 and np.isfinite(got["mean"]) and got["min"] <= got["max"]
    assert steps[0] > 0


def test_keras_actions_and_reads_while_a_thread_runs_train_on_batch():
    # Each action either happens whole or says why not in its own words (an undo meets the training's writes):
    # on JAX a try that met the step's donated array runs again instead of failing with "Array has been deleted".
    from paramscope._errors import UndoConflict
    from paramscope.adapters import adapter_for
    from paramscope.stats import tensor_values

    net = _net()
    adapter = adapter_for(net)
    failed: list[str] = []
    with _training(net):
        for _ in range(60):
            before = ps.snapshot(net)
            for act in (lambda: ps.set_value(net, "net/d/kernel", np.zeros((4, 3))),
                        lambda: ps.reinit(net, "net/d", seed=1),
                        lambda: ps.undo(net)):
                try:
                    act()
                except UndoConflict:
                    pass  # the training step wrote since: undo says so, by design
                except Exception as error:  # noqa: BLE001 - collected, asserted below
                    failed.append(f"{type(error).__name__}: {error}")
            assert ps.compare(net, before)["totals"]["params"] == 2
            entry = adapter.index(net).tensors["net/d/kernel"]
            values = tensor_values(adapter, entry)
            assert values["available"] and len(values["data"]) == 4
    assert failed == []


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_keras_on_torch_or_jax_never_imports_tensorflow(backend):
    code = (
        "import sys, numpy as np, keras, paramscope as ps\n"
        "net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name='d')], name='net')\n"
        "net.compile(keras.optimizers.SGD(0.01), 'mse')\n"
        "ps.inspect(net); ps.models({'net': net}); ps.stats(net, 'net/d/kernel')\n"
        "h = ps.watch(net, every=1); net.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0); h.stop()\n"
        "ps.stats(net, 'net/d/kernel#grad'); ps.reinit(net, '', seed=1)\n"
        "assert len(h.records) == 1, h.records\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'tensorflow'))\n"
    )
    env = {**os.environ, "KERAS_BACKEND": backend}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
