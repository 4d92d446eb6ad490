"""A watched Keras fit records each recorded step's exact gradients (JAX hands them to the host on those only)."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import paramscope as ps  # noqa: E402

LR, BATCH, STEPS = 0.5, 8, 7


def _model() -> object:
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(3)])
    model.compile(keras.optimizers.SGD(LR), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def test_keras_fit_records_the_exact_gradients_of_its_recorded_steps() -> None:
    keras.utils.set_random_seed(0)
    watched, twin = _model(), _model()
    rng = np.random.default_rng(0)
    x = rng.random((BATCH * STEPS, 5), dtype=np.float32)
    y = rng.integers(0, 3, BATCH * STEPS)
    watched.fit(x[:BATCH], y[:BATCH], batch_size=BATCH, verbose=0)  # trace the step before the watch
    twin.set_weights(watched.get_weights())
    handle = ps.watch(watched, every=3)
    watched.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
    handle.stop()
    # Plain SGD: the gradient of step k is (weights before - weights after) / lr, on an unwatched twin.
    expected: dict[int, dict[str, float]] = {}
    for k in range(STEPS):
        before = twin.get_weights()
        twin.train_on_batch(x[k * BATCH:(k + 1) * BATCH], y[k * BATCH:(k + 1) * BATCH])
        after = twin.get_weights()
        expected[k + 1] = {v.path: float(np.linalg.norm((b - a) / LR))
                           for v, b, a in zip(twin.trainable_variables, before, after, strict=True)}
    paths = {v.path: w.path for v, w in zip(watched.trainable_variables, twin.trainable_variables, strict=True)}
    records = handle.records
    assert [r["step"] for r in records] == [1, 4, 7]
    for record in records:
        assert set(record["grads"]) == set(paths)
        for path, stats in record["grads"].items():
            want = expected[record["step"]][paths[path]]
            assert stats["norm"] == pytest.approx(want, rel=1e-4), (record["step"], path)
    assert np.allclose(watched.get_weights()[0], twin.get_weights()[0], atol=1e-5)
