"""What differs between Keras backends: PyTorch's `.grad` and devices, JAX's compiled and stateless steps, and
the refusals of what a backend cannot do. Each test runs on the backend it is about (KERAS_BACKEND)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import require

CHAPTER = require("keras")

import keras  # noqa: E402 - after the skip helper, so a missing Keras skips with its reason
from keras import layers  # noqa: E402

import paramscope as ps  # noqa: E402
from paramscope import protocol  # noqa: E402
from tests.chapters.keras_chapter import uniform  # noqa: E402

BACKEND = keras.backend.backend()
ops = keras.ops


def on(backend):
    return pytest.mark.skipif(backend != BACKEND, reason=f"about the {backend} backend (KERAS_BACKEND={backend})")


def numpy(x):
    return np.array(ops.convert_to_numpy(x), copy=True)


def small_net(name="net"):
    return keras.Sequential([keras.Input((4,)), layers.Dense(3, name="d")], name=name)


def test_the_model_row_and_the_tree_name_the_backend():
    net = small_net()
    listed = protocol.handle({"id": 1, "op": "models"}, namespace={"net": net})
    assert listed["result"]["models"][0]["framework"] == f"keras/{BACKEND}"
    tree = protocol.handle({"id": 2, "op": "tree", "model": "net"}, namespace={"net": net})
    assert tree["ok"] and tree["result"]["framework"] == f"keras/{BACKEND}"


# -- PyTorch -------------------------------------------------------------------------------------------------

@on("torch")
def test_torch_backward_alone_leaves_a_grad_that_stats_read():
    net = small_net()
    x = uniform(8, 4)
    ops.sum(net(x) ** 2).backward()  # no optimizer step: the gradient sits in the Parameter's .grad
    stats = ps.stats(net, "net/d/kernel#grad")
    expected = numpy(net.layers[0].kernel.value.grad)
    assert stats["available"] and stats["device"] == "cpu"
    np.testing.assert_allclose([stats["mean"], stats["max"]], [expected.mean(), expected.max()], rtol=1e-6)
    assert ps.inspect(net).find("net/d/kernel").has_grad


@on("torch")
def test_torch_set_value_writes_the_parameter_in_place_and_leaves_autograd_alone():
    net = small_net()
    parameter = net.layers[0].kernel.value
    ps.set_value(net, "net/d/kernel", lambda w: w * 0 + 2, index=(slice(0, 2), ...))
    assert net.layers[0].kernel.value is parameter and parameter.requires_grad
    np.testing.assert_array_equal(numpy(parameter)[:2], np.full((2, 3), 2.0))
    ops.sum(net(uniform(2, 4))).backward()
    assert parameter.grad is not None


@on("torch")
@pytest.mark.skipif("not __import__('torch').cuda.is_available()", reason="no CUDA device here")
def test_torch_stats_run_on_the_variables_cuda_device():
    with keras.device("cuda:0"):
        net = small_net()
    stats = ps.stats(net, "net/d/kernel")
    values = numpy(net.layers[0].kernel)
    assert stats["device"] == "cuda:0"
    np.testing.assert_allclose([stats["mean"], stats["min"]], [values.mean(), values.min()], rtol=1e-6)
    ps.reinit(net, "net/d/kernel", "normal", std=0.5, seed=3)
    assert str(net.layers[0].kernel.value.device) == "cuda:0"


# -- JAX -----------------------------------------------------------------------------------------------------

@on("jax")
def test_jax_compiled_fit_keeps_no_gradient_and_says_how_to_get_one():
    net = small_net()
    net.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss="mse")  # jit_compile: auto, on
    net.fit(uniform(8, 4), uniform(8, 3), batch_size=8, verbose=0)
    stats = ps.stats(net, "net/d/kernel#grad")
    assert stats["available"] is False and "ps.watch" in stats["reason"] and "jit_compile=False" in stats["reason"]
    eager = small_net("eager")
    eager.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss="mse", jit_compile=False)
    before = numpy(eager.layers[0].kernel)
    eager.fit(uniform(8, 4), uniform(8, 3), batch_size=8, verbose=0)
    applied = before - numpy(eager.layers[0].kernel)
    stats = ps.stats(eager, "eager/d/kernel#grad")
    assert stats["available"]
    np.testing.assert_allclose([stats["mean"], stats["max"]], [applied.mean(), applied.max()], rtol=1e-4, atol=1e-6)


@on("jax")
def test_jax_fit_hands_values_back_only_at_the_end_of_an_epoch_and_stats_say_so():
    net = small_net()
    net.compile(optimizer="sgd", loss="mse")
    seen = []
    during = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(
        ps.stats(net, "net/d/kernel")))
    net.fit(uniform(16, 4), uniform(16, 3), batch_size=8, verbose=0, callbacks=[during])
    assert seen and all(s["available"] is False and "end of each epoch" in s["reason"] for s in seen)
    assert ps.stats(net, "net/d/kernel")["available"]


@on("jax")
def test_jax_tie_and_untie_under_a_built_optimizer_are_refused_and_change_nothing():
    inputs = keras.Input((4,))
    shared = layers.Dense(4, name="s")
    net = keras.Model(inputs, layers.Dense(4, name="t")(shared(shared(inputs))), name="m")
    net.compile(optimizer="adam", loss="mse")
    net.fit(uniform(8, 4), uniform(8, 4), verbose=0)
    before = CHAPTER.state(net)
    for act in (lambda: ps.tie(net, "t/kernel", "s/kernel"), lambda: ps.untie(net, "s@2")):
        with pytest.raises(ps.ActionError, match="stateless"):
            act()
        assert CHAPTER.state(net) == before and ps.history(net)["entries"] == []
    net.compile(optimizer="adam", loss="mse")  # a new optimizer, not built yet: the untie goes ahead
    ps.untie(net, "s@2")
    net.fit(uniform(8, 4), uniform(8, 4), verbose=0)
    assert len(net.trainable_variables) == 6


@on("jax")
def test_jax_set_value_refuses_an_index_out_of_range_that_jax_would_clamp():
    net = small_net()
    before = numpy(net.layers[0].kernel)
    with pytest.raises(ps.ActionError, match="out of bounds"):
        ps.set_value(net, "net/d/kernel", 1.0, index=(4, 0))
    np.testing.assert_array_equal(numpy(net.layers[0].kernel), before)
    ps.set_value(net, "net/d/kernel", 1.0, index=(3, slice(None, None, 2)))
    assert (numpy(net.layers[0].kernel)[3, ::2] == 1).all()


@on("jax")
def test_jax_stats_are_float64_exact_without_turning_x64_on():
    import jax

    net = keras.Sequential([keras.Input((4,)), layers.Dense(4096, name="d")], name="wide")
    ps.set_value(net, "wide/d/kernel", 1e8 + np.arange(4 * 4096, dtype=np.float32).reshape(4, 4096) % 7)
    values = numpy(net.layers[0].kernel).astype(np.float64)
    stats = ps.stats(net, "wide/d/kernel")
    np.testing.assert_allclose([stats["mean"], stats["std"]], [values.mean(), values.std()], rtol=1e-12)
    assert not jax.config.jax_enable_x64
