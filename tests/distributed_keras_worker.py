"""Keras on TensorFlow under tf.distribute.MirroredStrategy on two logical CPU devices, for
tests/test_distributed.py: `python -m tests.distributed_keras_worker OUT` writes what paramscope saw as JSON.
(Logical devices must be configured before TensorFlow starts, hence a process of its own.)"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf

tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

import paramscope as ps  # noqa: E402


def _build() -> keras.Model:
    return keras.Sequential([keras.Input((5,)), keras.layers.Dense(4), keras.layers.Dense(2)])


def _replicas(model: keras.Model) -> list[list[Any]]:
    return [[r.numpy().tolist() for r in w._value.values] for w in model.weights]


def main() -> None:
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    keras.utils.set_random_seed(0)
    with strategy.scope():
        mirrored = _build()
    plain = _build()
    plain.set_weights(mirrored.get_weights())
    kernel = mirrored.weights[0].path
    initial = [[w.tolist()] * 2 for w in mirrored.get_weights()]  # each replica holds the same
    out: dict[str, Any] = {"names": [w.path for w in mirrored.weights]}
    nodes = [n for n in ps.inspect(mirrored).walk() if n.kind == "param"]
    out["param_nodes"] = [n.to_json() for n in nodes]
    out["n_params"], out["n_params_plain"] = ps.inspect(mirrored).n_params, ps.inspect(plain).n_params
    out["stats"] = ps.stats(mirrored, kernel, bins=8)
    out["stats_plain"] = ps.stats(plain, plain.weights[0].path, bins=8)
    for model in (mirrored, plain):
        ps.reinit(model, "", "normal", seed=3)
        ps.set_value(model, model.weights[0].path, 2.5, index=(1, 2))
        ps.set_value(model, model.weights[1].path, [1.0, 2.0, 3.0, 4.0], mode="add")
    out["after"] = _replicas(mirrored)
    out["after_plain"] = [w.numpy().tolist() for w in plain.weights]
    out["agree_after"] = ps.stats(mirrored, kernel)["replicas"]
    for _ in range(3):
        ps.undo(mirrored)
    out["undone"] = _replicas(mirrored)
    out["initial"] = initial
    mirrored.weights[0]._value.values[1].assign(tf.zeros((5, 4)))
    out["diverged"] = ps.stats(mirrored, kernel)["replicas"]
    with open(sys.argv[1], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
