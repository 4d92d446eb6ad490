"""Keras variables under a tf.distribute strategy (MirroredStrategy and the other mirrored ones).

Such a variable is one Keras variable whose tf.Variable is a `DistributedVariable` with one copy per replica
(device). It is shown once, with its replicas in `sharding` (the placement schema of a sharded tensor: a
1-D mesh of replicas, every one holding the whole tensor); statistics read the primary replica and check
on the devices that every other replica holds the same values (bit for bit, NaN equal to NaN); writes go to
every replica. Nothing here imports TensorFlow unless the variable is a TensorFlow one.
"""

from __future__ import annotations

import sys
from typing import Any


def replicas(native: Any) -> list[Any] | None:
    """The per-replica tf.Variables of a distributed variable, or None for a plain one."""
    if "tensorflow" not in sys.modules:
        return None
    import tensorflow as tf

    if not isinstance(native, tf.distribute.DistributedValues):
        return None
    values = list(native.values)
    return values if len(values) > 1 else None


def sharding(native: Any, shape: list[int], nbytes: int) -> dict[str, Any] | None:
    """The replicas of a distributed variable as a placement: a 1-D mesh of replicas, all `Replicate()`."""
    copies = replicas(native)
    if copies is None:
        return None
    strategy = getattr(native, "_distribute_strategy", None)
    devices = [_short(c.device) for c in copies]
    return {
        "global_shape": shape,
        "local_shape": shape,
        "local_nbytes": nbytes,
        "mesh": {"shape": [len(copies)], "dim_names": ["replica"], "device_type": devices[0].split(":")[0],
                 "ranks": list(range(len(copies)))},
        "placements": ["Replicate()"],
        "rank": 0,
        "layout": [{"rank": i, "coord": [i], "offsets": [0] * len(shape), "shape": shape, "nbytes": nbytes,
                    "device": device} for i, device in enumerate(devices)],
        "layout_complete": True,
        "strategy": type(strategy).__name__ if strategy is not None else type(native).__name__,
        "devices": devices,
    }


def agreement(native: Any) -> dict[str, Any] | None:
    """Whether every replica holds the primary's values: compared on each replica's device, one bool back."""
    copies = replicas(native)
    if copies is None:
        return None
    import tensorflow as tf

    primary = copies[0]
    differ = []
    for copy in copies[1:]:
        with tf.device(copy.device):
            mine, first = tf.convert_to_tensor(copy), tf.identity(primary)
            same = tf.reduce_all(tf.logical_or(tf.equal(mine, first),
                                               tf.logical_and(tf.math.is_nan(mine), tf.math.is_nan(first))))
        if not bool(same):
            differ.append(_short(copy.device))
    return {"count": len(copies), "read_from": _short(primary.device), "agree": not differ, "differ": differ}


def write(native: Any, where: tuple[Any, ...], value: Any) -> bool:
    """`native[where] = value` on every replica of a distributed variable; False for a plain variable."""
    copies = replicas(native)
    if copies is None:
        return False
    import tensorflow as tf

    for copy in copies:
        with tf.device(copy.device):
            copy[where].assign(value)
    return True


def _short(device: str) -> str:
    """"/job:localhost/replica:0/task:0/device:CPU:1" -> "CPU:1"."""
    return device.rsplit("device:", 1)[-1] if "device:" in device else device
