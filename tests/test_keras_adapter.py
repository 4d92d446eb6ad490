"""Keras-only behaviour of the adapter on the backend KERAS_BACKEND names (each backend runs this file in its own
process): unbuilt layers, BatchNorm statistics, shared layers, tying, gradients recorded from custom training
steps and model.fit, initializer seeding, dtypes and devices. TensorFlow-only features are marked `tf_only`."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import require

CHAPTER = require("keras")

import keras  # noqa: E402 - after the skip helper, so a missing Keras skips with its reason
from keras import layers  # noqa: E402
from keras.src.optimizers.base_optimizer import BaseOptimizer  # noqa: E402

import paramscope as ps  # noqa: E402
from paramscope import protocol  # noqa: E402
from paramscope.adapters import keras as keras_adapter  # noqa: E402
from paramscope.adapters.keras import cloning  # noqa: E402
from paramscope.adapters.keras import grads as keras_grads  # noqa: E402
from paramscope.adapters.keras import values as keras_values  # noqa: E402
from tests.chapters.keras_chapter import uniform  # noqa: E402

BACKEND = keras.backend.backend()
ops = keras.ops
tf_only = pytest.mark.skipif(BACKEND != "tensorflow", reason="a TensorFlow feature (tf.function, tf.data, XLA)")


def params(net, name="net"):
    return {n.path: n for n in ps.inspect(net, name=name).walk() if n.kind == "param"}


def X(n=8):
    return uniform(n, 4)


def numpy(x):
    return np.array(ops.convert_to_numpy(x), copy=True)


def gradients(loss, variables):
    """d loss() / d variables as a user of the backend computes them: a tape, torch.autograd, jax.grad."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = loss()
        return [numpy(g) for g in tape.gradient(value, variables)]
    if BACKEND == "torch":
        import torch

        return [numpy(g) for g in torch.autograd.grad(loss(), [v.value for v in variables])]
    import jax

    def of(values):
        with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
            return loss()

    return [numpy(g) for g in jax.grad(of)([v.value for v in variables])]


def twin_dense_net():
    """Two Dense layers of one shape (8 -> 8), so their kernels can be tied."""
    return keras.Sequential([layers.Dense(8, name="a"), layers.Dense(8, name="b"), layers.Dense(8, name="c")],
                            name="twin")


# -- unbuilt models ------------------------------------------------------------------------------------------

def test_unbuilt_layers_show_the_known_part_of_the_shape():
    net = keras.Sequential([layers.Conv2D(4, 3, name="conv"), layers.BatchNormalization(name="bn"),
                            layers.Flatten(name="flat"), layers.Dense(2, name="out")], name="cnn")
    nodes = params(net)
    assert nodes["cnn/conv/kernel"].shape == [3, 3, None, 4]
    assert nodes["cnn/conv/bias"].shape == [4]
    assert nodes["cnn/bn/moving_mean"].trainable is False and nodes["cnn/bn/gamma"].trainable is True
    assert nodes["cnn/out/kernel"].shape == [None, 2]
    assert {n.state for n in nodes.values()} == {"unbuilt"}
    reply = protocol.handle({"id": 1, "op": "models"}, namespace={"net": net})
    assert reply["ok"] and reply["result"]["models"][0]["state"] == "unbuilt"
    net(uniform(2, 6, 6, 3))
    nodes = params(net)
    assert nodes["cnn/conv/kernel"].shape == [3, 3, 3, 4] and nodes["cnn/out/kernel"].shape == [64, 2]
    assert {n.state for n in nodes.values()} == {"ready"}


def test_unbuilt_set_value_and_tie_are_refused_clearly():
    net = CHAPTER.lazy_net()
    with pytest.raises(ps.ActionError, match="forward"):
        ps.set_value(net, "sequential/dense/bias", 1.0)
    twin = twin_dense_net()
    with pytest.raises(ps.ActionError, match="forward"):
        ps.tie(twin, "twin/c/kernel", "twin/a/kernel")


# -- BatchNorm -----------------------------------------------------------------------------------------------

def test_batchnorm_moving_stats_are_running_statistics_apart_from_params():
    net = keras.Sequential([keras.Input((3,)), layers.BatchNormalization(name="bn")], name="norm")
    net(uniform(16, 3) * 10, training=True)  # moves the moving statistics
    tree = ps.inspect(net)
    buffers = [n.path for n in tree.walk() if n.kind == "buffer"]
    assert buffers == ["norm/bn/moving_mean", "norm/bn/moving_variance"]  # as PyTorch's running_mean/var
    assert all(n.trainable for n in params(net).values())
    assert tree.n_params == 6 and tree.n_buffers == 6 and tree.n_params + tree.n_buffers == net.count_params()
    stats = ps.stats(net, "norm/bn/moving_mean#grad")
    assert stats["available"] is False and "not trainable" in stats["reason"]
    assert not np.allclose(CHAPTER.to_numpy(net.layers[0].moving_mean), 0)
    ps.reinit(net, "norm/bn", "default")  # each variable's own initializer: zeros and ones
    np.testing.assert_array_equal(CHAPTER.to_numpy(net.layers[0].moving_mean), np.zeros(3))
    np.testing.assert_array_equal(CHAPTER.to_numpy(net.layers[0].moving_variance), np.ones(3))


# -- shared layers and tying ---------------------------------------------------------------------------------

def test_functional_shared_layer_is_shown_at_both_calls():
    net = CHAPTER.shared_net()
    tree = ps.inspect(net, name="net")
    first, second = tree.find("shared"), tree.find("shared@2")
    assert second.tied_to == "shared" and first.aliases == ["shared@2"]
    assert eval(first.code, {"net": net}) is eval(second.code, {"net": net}) is net.layers[2]
    for node in tree.walk():
        if node.kind == "param":
            assert eval(node.code, {"net": net}) is CHAPTER.param(net, node.path)


def test_tie_rebinds_the_forward_pass_and_lists_the_variable_once():
    net = twin_dense_net()
    x = uniform(2, 8)
    net(x)
    n_vars = len(net.trainable_variables)
    ps.tie(net, "twin/c/kernel", "twin/a/kernel")
    assert net.layers[2].kernel is net.layers[0].kernel
    assert len(net.trainable_variables) == n_vars - 1
    a, b, c = net.layers
    expected = (x @ a.kernel + a.bias) @ b.kernel + b.bias
    expected = expected @ a.kernel + c.bias
    np.testing.assert_allclose(numpy(net(x)), numpy(expected), rtol=1e-5, atol=1e-6)
    ps.set_value(net, "twin/a/kernel", 0.5)
    assert (CHAPTER.to_numpy(c.kernel) == 0.5).all()
    ps.untie(net, "twin/c/kernel")
    assert c.kernel is not a.kernel and len(net.trainable_variables) == n_vars
    assert c.kernel.path == "twin/c/kernel"
    ps.undo(net)
    ps.undo(net)
    ps.undo(net)
    assert c.kernel is not a.kernel and len(net.trainable_variables) == n_vars


def test_tied_param_grad_is_sum():
    """A variable used twice gets the sum of the gradients of both uses, as with two copies of it."""
    net = CHAPTER.shared_net()
    x = X()
    twin_in = keras.Input((4,))
    h = layers.Dense(8, activation="relu")(twin_in)
    one, two = layers.Dense(8, activation="relu"), layers.Dense(8, activation="relu")
    twin = keras.Model(twin_in, layers.Dense(1)(two(one(h))))
    twin.set_weights(net.get_weights()[:4] + net.get_weights()[2:])
    g_one, g_two = gradients(lambda: ops.sum(twin(x)), [one.kernel, two.kernel])
    CHAPTER.backward(net, x)
    stats = ps.stats(net, "shared/kernel#grad")
    summed = g_one + g_two
    np.testing.assert_allclose(stats["mean"], summed.mean(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose([stats["min"], stats["max"]], [summed.min(), summed.max()], rtol=1e-5,
                               atol=1e-7)


def graph(net):
    """Which layer object each call node of a functional model runs, its node keys and its tracked layers."""
    calls = [(id(node), id(node.operation)) for d in sorted(net._nodes_by_depth)
             for node in net._nodes_by_depth[d]]
    return calls, set(net._nodes), [id(op) for op in net._operations], [id(layer) for layer in net._layers]


def test_untie_of_one_variable_of_a_shared_layer_call_says_to_untie_the_block():
    net = CHAPTER.shared_net()
    before = CHAPTER.state(net)
    with pytest.raises(ps.ActionError, match="untie the block"):
        ps.untie(net, "shared@2/kernel")
    assert CHAPTER.state(net) == before


def test_untie_one_call_of_a_shared_layer_gives_it_its_own_weights():
    net = CHAPTER.shared_net()
    x = X()
    shared = net.get_layer("shared")
    y = numpy(net(x))
    before, before_graph = CHAPTER.state(net), graph(net)
    variables, n_params = list(net.trainable_variables), net.count_params()
    ps.untie(net, "shared@2")
    clone = net.get_layer("shared_2")
    assert clone is not shared and clone.get_config() == {**shared.get_config(), "name": "shared_2"}
    assert clone.kernel is not shared.kernel and clone.kernel.path == "shared_2/kernel"
    np.testing.assert_array_equal(CHAPTER.to_numpy(clone.kernel), CHAPTER.to_numpy(shared.kernel))
    np.testing.assert_array_equal(numpy(net(x)), y)  # the same function, now with two layers
    assert [op.name for op in net.layers][1:] == ["dense", "shared", "shared_2", "dense_1"]
    assert len(net.trainable_variables) == len(variables) + 2 and net.count_params() == n_params + 72
    tree = ps.inspect(net, name="net")
    assert tree.n_params == n_params + 72 and tree.find("shared_2").tied_to is None
    assert "shared@2" not in [n.path for n in tree.walk()] and tree.find("shared").aliases == []
    assert eval(tree.find("shared_2/kernel").code, {"net": net}) is clone.kernel
    # The two calls have their own gradients now: those of a model built with two layers from the start.
    twin_in = keras.Input((4,))
    one, two = layers.Dense(8, activation="relu"), layers.Dense(8, activation="relu")
    twin = keras.Model(twin_in, layers.Dense(1)(two(one(layers.Dense(8, activation="relu")(twin_in)))))
    twin.set_weights(net.get_weights())
    g_first, g_second = gradients(lambda: ops.sum(net(x)), [shared.kernel, clone.kernel])
    g_one, g_two = gradients(lambda: ops.sum(twin(x)), [one.kernel, two.kernel])
    np.testing.assert_allclose(g_first, g_one, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(g_second, g_two, rtol=1e-5, atol=1e-7)
    assert not np.allclose(g_first, g_second)
    ps.set_value(net, "shared_2/kernel", 0.0)  # the forward pass reads the clone at the second call
    assert (CHAPTER.to_numpy(shared.kernel) != 0).any()
    np.testing.assert_allclose(numpy(net(x)), numpy(twin.layers[-1].bias) + 0 * y, atol=1e-6)
    rebuilt = keras.Model.from_config(net.get_config())  # Keras' own serialization sees two layers
    assert [op.name for op in rebuilt.layers][1:] == ["dense", "shared", "shared_2", "dense_1"]
    ps.undo(net)
    ps.undo(net)
    assert CHAPTER.state(net) == before and graph(net) == before_graph
    assert all(node.operation is shared for node in shared._inbound_nodes[:2])
    assert [id(v) for v in net.trainable_variables] == [id(v) for v in variables]
    assert clone not in net._layers and net.count_params() == n_params
    assert ps.inspect(net, name="net").find("shared@2").tied_to == "shared"
    np.testing.assert_array_equal(numpy(net(x)), y)


@pytest.mark.skipif(BACKEND == "jax", reason="refused on JAX, whose optimizer is stateless (test_keras_backends.py)")
def test_untie_a_shared_layer_call_of_a_compiled_model_then_fit_and_undo():
    net = CHAPTER.shared_net()
    # Compiled steps elsewhere: JAX's records gradients only while a watch runs (test_keras_backends.py), and
    # torch.compile takes minutes on a small CPU.
    net.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse",
                jit_compile="auto" if BACKEND == "tensorflow" else False)
    data, target = X(16), uniform(16, 1)
    net.fit(data, target, epochs=1, verbose=0)
    optimizer = net.optimizer
    n_known, n_slots = len(optimizer._trainable_variables), len(optimizer.variables)
    ps.untie(net, "shared@2")
    clone, shared = net.get_layer("shared_2"), net.get_layer("shared")
    # The optimizer knows the clone's variables, with a copy of the original's moments.
    assert len(optimizer._trainable_variables) == n_known + 2 and len(optimizer.variables) == n_slots + 4
    i, j = optimizer._get_variable_index(shared.kernel), optimizer._get_variable_index(clone.kernel)
    np.testing.assert_array_equal(numpy(optimizer._momentums[i]), numpy(optimizer._momentums[j]))
    net.fit(data, target, epochs=1, verbose=0)  # the train function was re-made for the new graph
    assert not np.array_equal(CHAPTER.to_numpy(shared.kernel), CHAPTER.to_numpy(clone.kernel))
    assert ps.stats(net, "shared_2/kernel#grad")["available"]
    ps.undo(net)
    assert len(optimizer._trainable_variables) == n_known and len(optimizer.variables) == n_slots
    assert net.get_layer("shared") is shared and "shared_2" not in [op.name for op in net.layers]
    net.fit(data, target, epochs=1, verbose=0)


def test_untie_of_calls_of_a_layer_called_three_times_and_of_a_nested_model():
    inputs = keras.Input((4,))
    d = layers.Dense(4, name="d")
    net = keras.Model(inputs, d(d(d(inputs))))
    x = X()
    y = numpy(net(x))
    ps.untie(net, "d@2")
    assert [(n.path, n.tied_to) for n in ps.inspect(net).walk() if n.kind == "block"] == [
        ("d", None), ("d@2", "d"), ("d_2", None)]  # the third call is now the second use of d
    ps.untie(net, "d@2")
    assert [layer.name for layer in net.layers][1:] == ["d", "d_2", "d_3"]
    np.testing.assert_allclose(numpy(net(x)), y, rtol=1e-6)
    inner_in = keras.Input((4,))
    sub = keras.Model(inner_in, layers.Dense(4, name="inner")(inner_in), name="sub")
    outer_in = keras.Input((4,))
    outer = keras.Model(outer_in, sub(sub(outer_in)), name="outer")
    before = CHAPTER.state(outer)
    ps.untie(outer, "sub@2")
    assert len(outer.trainable_variables) == 4 and outer.get_layer("sub_2").get_layer("inner") is not None
    np.testing.assert_allclose(numpy(outer(x)), numpy(sub(sub(x))), rtol=1e-6)
    ps.undo(outer)
    assert CHAPTER.state(outer) == before


@pytest.mark.skipif(BACKEND == "jax", reason="refused on JAX, whose optimizer is stateless (test_keras_backends.py)")
def test_failed_untie_of_a_layer_call_changes_nothing(monkeypatch):
    net = CHAPTER.shared_net()
    net.compile(optimizer="adam", loss="mse")
    net.fit(X(), uniform(8, 1), verbose=0)
    x = X()
    y = numpy(net(x))
    before, before_graph = CHAPTER.state(net), graph(net)
    n_slots = len(net.optimizer.variables)

    extend = cloning._extend_optimizers

    def broken(*args):
        extend(*args)  # the graph is rewired and the optimizer taught the clone's variables: then it fails
        raise RuntimeError("late failure")

    monkeypatch.setattr(cloning, "_extend_optimizers", broken)
    with pytest.raises(ps.ActionError, match=r"late failure.*nothing was changed"):
        ps.untie(net, "shared@2")
    monkeypatch.undo()
    assert CHAPTER.state(net) == before and graph(net) == before_graph
    assert len(net.optimizer.variables) == n_slots and ps.history(net)["entries"] == []
    np.testing.assert_array_equal(numpy(net(x)), y)
    net.fit(X(), uniform(8, 1), verbose=0)


def test_untie_of_a_layer_keras_cannot_copy_is_refused_and_changes_nothing():
    class Scaled(layers.Layer):
        def __init__(self, table, **kwargs):  # an argument Keras cannot put into a config
            super().__init__(**kwargs)
            self.table = table

        def build(self, input_shape):
            self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")

        def call(self, x):
            return x * self.scale

    inputs = keras.Input((4,))
    scaled = Scaled(object(), name="scaled")
    net = keras.Model(inputs, scaled(scaled(inputs)))
    before, before_graph = CHAPTER.state(net), graph(net)
    with pytest.raises(ps.ActionError, match="get_config"):
        ps.untie(net, "scaled@2")
    assert CHAPTER.state(net) == before and graph(net) == before_graph


def test_untie_of_a_layer_call_is_refused_where_keras_has_no_call_node_to_rewire():
    # A graph that another live model was built from: rewiring the node would change that model too.
    inputs = keras.Input((4,))
    shared = layers.Dense(4, name="s")
    code = shared(shared(inputs))
    encoder = keras.Model(inputs, code)
    autoencoder = keras.Model(inputs, layers.Dense(4, name="dec")(code))
    before = CHAPTER.state(autoencoder)
    with pytest.raises(ps.ActionError, match="another live model"):
        ps.untie(autoencoder, "s@2")
    assert CHAPTER.state(autoencoder) == before and encoder.layers[1] is shared
    # One layer object in two Sequentials: each runs it from its own layer list, not a call node.
    dense = layers.Dense(4, name="dd")
    first = keras.Sequential([keras.Input((4,)), dense], name="s1")
    second = keras.Sequential([keras.Input((4,)), dense], name="s2")
    outer_in = keras.Input((4,))
    net = keras.Model(outer_in, second(first(outer_in)))
    with pytest.raises(ps.ActionError, match=r"Sequential 's2'.*layer list"):
        ps.untie(net, "s2/dd")

    # A subclassed model calling one layer twice in call(): Python code, no graph; shown as one block.
    class Twice(keras.Model):
        def __init__(self):
            super().__init__(name="twice")
            self.dense = layers.Dense(4, name="dense")

        def call(self, x):
            return self.dense(self.dense(x))

    twice = Twice()
    twice(X())
    with pytest.raises(ps.ActionError, match="used only once"):
        ps.untie(twice, "twice/dense")


def test_tie_two_variables_of_one_layer_is_refused_and_changes_nothing():
    net = keras.Sequential([keras.Input((5,)), layers.LayerNormalization(name="ln")], name="m")
    before = CHAPTER.state(net)
    with pytest.raises(ps.ActionError, match="one layer"):
        ps.tie(net, "m/ln/beta", "m/ln/gamma")
    assert CHAPTER.state(net) == before


@pytest.mark.skipif(BACKEND == "jax", reason="refused on JAX, whose optimizer is stateless (test_keras_backends.py)")
def test_untie_gives_back_the_variable_the_optimizer_knows():
    net = twin_dense_net()
    net.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    data, target = uniform(16, 8), uniform(16, 8)
    net.fit(data, target, epochs=1, verbose=0)
    original = net.layers[2].kernel
    ps.tie(net, "twin/c/kernel", "twin/a/kernel")
    net.fit(data, target, epochs=1, verbose=0)  # the train function was re-made for the tied variable
    ps.untie(net, "twin/c/kernel")
    assert net.layers[2].kernel is original
    np.testing.assert_array_equal(CHAPTER.to_numpy(original), CHAPTER.to_numpy(net.layers[0].kernel))
    net.fit(data, target, epochs=1, verbose=0)  # the optimizer knows every variable again


# -- gradients -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("jit_compile", [False, pytest.param(True, marks=pytest.mark.skipif(
    BACKEND != "tensorflow", reason="a compiled step: torch.compile is slow; JAX's is in test_keras_backends"))])
def test_grad_stats_after_model_fit_are_the_applied_gradient(jit_compile):
    net = keras.Sequential([keras.Input((4,)), layers.Dense(3, name="d")], name="fit")
    net.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss="mse", jit_compile=jit_compile)
    before = CHAPTER.to_numpy(net.layers[0].kernel)
    net.fit(X(), uniform(8, 3), batch_size=8, epochs=1, shuffle=False, verbose=0)
    applied = before - CHAPTER.to_numpy(net.layers[0].kernel)  # plain SGD with rate 1: w -= grad
    stats = ps.stats(net, "fit/d/kernel#grad")
    assert stats["available"], stats
    np.testing.assert_allclose(stats["mean"], applied.mean(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(stats["max"], applied.max(), rtol=1e-4, atol=1e-6)
    assert params(net)["fit/d/kernel"].has_grad


@tf_only
def test_grad_stats_of_a_tf_function_training_step():
    import tensorflow as tf

    net = CHAPTER.mlp()
    optimizer = keras.optimizers.SGD(learning_rate=0.1)
    x = X()

    def tape_grad():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(net(x))
        return tape.gradient(loss, net.layers[0].kernel).numpy()

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(net(x))
        grads = tape.gradient(loss, net.trainable_variables)
        optimizer.apply_gradients(zip(grads, net.trainable_variables, strict=True))

    for _ in range(2):  # the second traced step overwrites the recorded gradient with its own
        expected = tape_grad()
        step(x)
        stats = ps.stats(net, "sequential/dense/kernel#grad")
        assert stats["available"], stats
        np.testing.assert_allclose(stats["mean"], expected.mean(), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(stats["max"], expected.max(), rtol=1e-5, atol=1e-7)


@tf_only
def test_fit_traced_before_paramscope_records_after_the_train_function_is_remade(monkeypatch):
    net = keras.Sequential([keras.Input((4,)), layers.Dense(3, name="d")], name="early")
    net.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    recording = BaseOptimizer.apply
    monkeypatch.setattr(BaseOptimizer, "apply", recording.__paramscope_original__)
    net.fit(X(), uniform(8, 3), epochs=1, verbose=0)  # traced with no recording in it
    monkeypatch.setattr(BaseOptimizer, "apply", recording)
    stats = ps.stats(net, "early/d/kernel#grad")
    assert stats["available"] is False and "gradient" in stats["reason"]
    net.fit(X(), uniform(8, 3), epochs=1, verbose=0)
    assert ps.stats(net, "early/d/kernel#grad")["available"]


def test_recording_never_breaks_training(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("recorder bug")

    monkeypatch.setattr(keras_grads, "_record", broken)
    net = CHAPTER.mlp()
    CHAPTER.backward(net, X())  # the optimizer still applies the gradients


def test_frozen_weight_has_no_gradient_and_says_so():
    net = CHAPTER.fancy()
    stats = ps.stats(net, "fancy_mlp/rand_weight#grad")
    assert stats["available"] is False and "not trainable" in stats["reason"]


# -- initializers --------------------------------------------------------------------------------------------

def test_default_reinit_uses_each_layers_initializer():
    net = keras.Sequential([keras.Input((4,)), layers.Dense(3, kernel_initializer="ones",
                                                            bias_initializer=keras.initializers.Constant(3.0),
                                                            name="d")], name="m")
    ps.set_value(net, "m/d/kernel", 0.0)
    ps.set_value(net, "m/d/bias", 0.0)
    ps.reinit(net, "m/d", "default")
    assert (CHAPTER.read(net, "m/d/kernel") == 1).all() and (CHAPTER.read(net, "m/d/bias") == 3).all()


def test_unseeded_keras_initializer_object_draws_new_values_each_reinit():
    net = CHAPTER.mlp()
    init = keras.initializers.RandomNormal(stddev=0.5)  # seed=None: calling it again repeats its values
    np.testing.assert_array_equal(init((4, 8)), init((4, 8)))
    path = "sequential/dense/kernel"
    ps.reinit(net, path, init)
    a = CHAPTER.read(net, path)
    ps.reinit(net, path, init)
    assert not np.array_equal(a, CHAPTER.read(net, path))
    ps.reinit(net, path, init, seed=1)
    b = CHAPTER.read(net, path)
    ps.set_value(net, path, 0.0)
    ps.reinit(net, path, init, seed=1)
    np.testing.assert_array_equal(b, CHAPTER.read(net, path))
    assert 0.3 < b.std() < 0.7


def test_seeded_custom_init_drawing_from_global_generators_is_reproducible_and_leaves_them_alone():
    def noisy(shape, dtype=None):
        c = keras.random.normal(shape, dtype=dtype)  # Keras' global SeedGenerator
        return numpy(c) + np.random.standard_normal(shape).astype(dtype) + backend_noise(shape, dtype)

    if BACKEND == "tensorflow":
        import tensorflow as tf

        tf.random.set_seed(1234)  # a user's global seed, whose op-seed stream must not move
    net = CHAPTER.mlp()
    before = CHAPTER.rng_state()
    ps.reinit(net, "", noisy, seed=9)
    first = CHAPTER.read(net, "sequential/dense/kernel")
    ps.reinit(net, "", "zeros")
    ps.reinit(net, "", noisy, seed=9)
    np.testing.assert_array_equal(first, CHAPTER.read(net, "sequential/dense/kernel"))
    assert CHAPTER.rng_state() == before


def backend_noise(shape, dtype):
    """Draws from the backend's own global generators (TensorFlow's op seed and global Generator, torch's)."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return (tf.random.uniform(shape, dtype=dtype) + tf.random.get_global_generator().normal(shape, dtype=dtype)
                ).numpy()
    if BACKEND == "torch":
        import torch

        return torch.rand(tuple(shape)).numpy().astype(dtype)
    return np.zeros(shape, dtype)  # JAX has no global generator


def test_catalogue_initializers_scale_with_their_arguments():
    net = keras.Sequential([keras.Input((400,)), layers.Dense(400, name="d")], name="big")
    path = "big/d/kernel"
    ps.reinit(net, path, "kaiming_normal", seed=0)
    he = CHAPTER.read(net, path).std()
    ps.reinit(net, path, "xavier_uniform", gain=2.0, seed=0)
    glorot2 = CHAPTER.read(net, path).std()
    np.testing.assert_allclose(he, np.sqrt(2 / 400), rtol=0.05)
    np.testing.assert_allclose(glorot2, 2 * np.sqrt(2 / 800), rtol=0.05)
    ps.reinit(net, path, "orthogonal", seed=0)
    w = CHAPTER.read(net, path)
    np.testing.assert_allclose(w.T @ w, np.eye(400), atol=1e-4)


# -- dtypes, devices, values ---------------------------------------------------------------------------------

def test_float16_variables():
    net = keras.Sequential([keras.Input((4,)), layers.Dense(3, dtype="float16", name="h")], name="half")
    node = params(net)["half/h/kernel"]
    assert node.dtype == "float16" and node.nbytes == 12 * 2
    ps.set_value(net, "half/h/kernel", 42, index=(0, 0))
    assert CHAPTER.read(net, "half/h/kernel")[0, 0] == np.float16(42)
    ps.reinit(net, "half/h/kernel", "normal", std=0.1, seed=0)
    stats = ps.stats(net, "half/h/kernel")
    assert stats["available"] and stats["numel"] == 12 and stats["dtype"] == "float16"


def test_integer_variable_refuses_nan_and_random_initializers():
    class Counter(layers.Layer):
        def build(self, input_shape):
            self.count = self.add_weight(shape=(3,), dtype="int32", initializer="zeros", trainable=False,
                                         name="count")

        def call(self, x):
            return x

    net = keras.Sequential([keras.Input((2,)), Counter(name="counter")], name="ints")
    ps.set_value(net, "ints/counter/count", 5)
    assert (CHAPTER.read(net, "ints/counter/count") == 5).all()
    with pytest.raises(ps.ActionError, match="NaN"):
        ps.set_value(net, "ints/counter/count", float("nan"))
    with pytest.raises(ps.ActionError, match="real numbers"):
        ps.reinit(net, "ints/counter/count", "normal")


def test_devices_are_the_backends_device_strings():
    with keras.device("cpu:0"):
        net = CHAPTER.mlp()
    expected = {"tensorflow": "CPU:0", "torch": "cpu", "jax": "cpu:0"}[BACKEND]
    assert {n.device for n in params(net).values()} == {expected}
    assert ps.stats(net, "sequential/dense/kernel")["device"] == expected


def test_stats_over_many_chunks_match_numpy(monkeypatch):
    monkeypatch.setattr(keras_values, "CHUNK_ELEMS", 7)
    net = CHAPTER.mlp()
    values = CHAPTER.read(net, "sequential/dense/kernel")
    values[0, :3] = [np.nan, np.inf, 0.0]
    ps.set_value(net, "sequential/dense/kernel", values.tolist())
    stats = ps.stats(net, "sequential/dense/kernel", bins=5)
    finite = values[np.isfinite(values)]
    np.testing.assert_allclose([stats["mean"], stats["std"]], [finite.mean(), finite.std()], rtol=1e-6)
    assert (stats["nan"], stats["inf"], stats["numel"]) == (1, 1, 32)
    assert sum(stats["hist"]["counts"]) == finite.size


def test_every_code_reaches_its_object():
    for net in (CHAPTER.rgnet(), CHAPTER.fancy(), CHAPTER.shared_net()):
        tree = ps.inspect(net, name="net")
        for node in tree.walk():
            if node.kind == "param":
                assert eval(node.code, {"net": net}) is CHAPTER.param(net, node.path), node.path
            elif node.kind == "block":
                assert eval(node.code, {"net": net}).name == node.name


def test_models_finds_keras_and_pytorch_models_in_one_namespace():
    torch = pytest.importorskip("torch")
    namespace = {"net": CHAPTER.mlp(), "tnet": torch.nn.Linear(2, 2), "unbuilt": CHAPTER.lazy_net(),
                 "dense": layers.Dense(3), "x": X()}
    found = ps.models(namespace)
    assert list(found) == ["net", "tnet", "unbuilt", "dense"]
    reply = protocol.handle({"id": 1, "op": "models"}, namespace=namespace)
    keras_row = f"keras/{keras.backend.backend()}"
    assert [m["framework"] for m in reply["result"]["models"]] == [keras_row, "pytorch", keras_row, keras_row]


@pytest.mark.skipif(BACKEND == "jax", reason="Keras' LossScaleOptimizer applies on JAX only in a stateless step, whose "
                    "inner apply runs traced inside a cond: nothing to record without a watch")
def test_loss_scaled_steps_record_the_unscaled_gradient():
    net = keras.Sequential([keras.Input((4,)), layers.Dense(3, dtype="mixed_float16", name="d")],
                           name="mixed")
    optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1), initial_scale=64.0)
    x = X()
    (expected,) = gradients(lambda: ops.sum(ops.cast(net(x), "float32")), [net.layers[0].kernel])
    grads = gradients(lambda: optimizer.scale_loss(ops.sum(ops.cast(net(x), "float32"))), net.trainable_variables)
    optimizer.apply([ops.convert_to_tensor(g) for g in grads], net.trainable_variables)
    stats = ps.stats(net, "mixed/d/kernel#grad")
    assert stats["available"] and stats["dtype"] == "float32"  # mixed precision keeps float32 variables
    np.testing.assert_allclose(stats["mean"], expected.mean(), rtol=1e-3)


# -- watch ---------------------------------------------------------------------------------------------------

def custom_loop(net, steps, *, traced=False, seen=None):
    """SGD steps of the backend's own custom loop (a tape, torch's backward, jax.grad with stateless_apply;
    `traced`: tf.function / jax.jit); `seen` gets each step's gradients and values, by variable path."""
    optimizer = keras.optimizers.SGD(learning_rate=0.1)
    names = [v.path for v in net.trainable_variables]
    loop = {"tensorflow": _tf_loop, "torch": _torch_loop, "jax": _jax_loop}[BACKEND]
    for i, (values, grads) in enumerate(loop(net, optimizer, steps, traced)):
        if seen is not None:
            assert i == len(seen)
            seen.append({"grads": {n: numpy(g).astype(np.float64) for n, g in zip(names, grads, strict=True)},
                         "values": {n: v.astype(np.float64) for n, v in zip(names, values, strict=True)}})


def _batch(i):
    return ops.convert_to_tensor(np.random.default_rng(i).uniform(size=(8, 4)).astype("float32"))


def _tf_loop(net, optimizer, steps, traced):
    import tensorflow as tf

    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(net(x) ** 2)
        grads = tape.gradient(loss, net.trainable_variables)
        optimizer.apply_gradients(zip(grads, net.trainable_variables, strict=True))
        return grads

    run = tf.function(step) if traced else step
    for i in range(steps):
        values = [numpy(v) for v in net.trainable_variables]
        yield values, run(_batch(i))


def _torch_loop(net, optimizer, steps, traced):
    import torch

    for i in range(steps):
        values = [numpy(v) for v in net.trainable_variables]
        for v in net.trainable_variables:
            v.value.grad = None
        ops.sum(net(_batch(i)) ** 2).backward()
        grads = [v.value.grad for v in net.trainable_variables]
        with torch.no_grad():
            optimizer.apply(grads, net.trainable_variables)
        yield values, grads


def _jax_loop(net, optimizer, steps, traced):
    """Keras' JAX guide: a stateless step over (trainable, non-trainable, optimizer) values, assigned back at
    the end."""
    import jax

    optimizer.build(net.trainable_variables)

    def loss_of(trainable, frozen, x):
        y, frozen = net.stateless_call(trainable, frozen, x)
        return ops.sum(y**2), frozen

    grad_of = jax.value_and_grad(loss_of, has_aux=True)

    def step(state, x):
        trainable, frozen, slots = state
        (_, frozen), grads = grad_of(trainable, frozen, x)
        trainable, slots = optimizer.stateless_apply(slots, grads, trainable)
        return (trainable, frozen, slots), grads

    run = jax.jit(step) if traced else step
    state = ([v.value for v in net.trainable_variables], [v.value for v in net.non_trainable_variables],
             [v.value for v in optimizer.variables])
    for i in range(steps):
        values = [numpy(v) for v in state[0]]
        state, grads = run(state, _batch(i))
        yield values, grads
    for var, value in zip([*net.trainable_variables, *net.non_trainable_variables, *optimizer.variables],
                          [*state[0], *state[1], *state[2]], strict=True):
        var.assign(value)


def by_variable(net, record, key):
    """A record's statistics by the Keras path of the variable (records are keyed by paramscope paths)."""
    paths = {e.path: e.obj.path for e in keras_adapter.KerasAdapter().index(net).unique_params("")}
    return {paths[p]: s for p, s in record[key].items()}


@pytest.mark.parametrize("traced", [False, pytest.param(True, marks=pytest.mark.skipif(
    BACKEND == "torch", reason="torch.compile steps are refused (test_keras_backends.py)"))])
def test_watch_records_a_custom_training_loop(traced):
    net = CHAPTER.mlp()
    handle = ps.watch(net, every=2)
    seen = []
    custom_loop(net, 5, traced=traced, seen=seen)
    assert handle.step == 5
    assert [r["step"] for r in handle.records] == [1, 3, 5]
    for record in handle.records:
        step = seen[record["step"] - 1]
        grads, values = by_variable(net, record, "grads"), by_variable(net, record, "values")
        assert set(grads) == set(values) == set(step["grads"]) and len(grads) == 4
        for name, grad in step["grads"].items():
            assert grads[name]["mean"] == pytest.approx(grad.mean(), rel=1e-5, abs=1e-7)
            assert grads[name]["rms"] == pytest.approx(np.sqrt((grad**2).mean()), rel=1e-5, abs=1e-7)
            assert values[name]["mean"] == pytest.approx(step["values"][name].mean(), rel=1e-5, abs=1e-7)
    handle.stop()
    custom_loop(net, 3, traced=traced)
    assert len(handle.records) == 3 and handle.step == 5 and not handle.active


def test_watch_records_model_fit():
    net = keras.Sequential([keras.Input((4,)), layers.Dense(3, name="d")], name="fit")
    net.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    original_make = net.make_train_function
    handle = ps.watch(net, every=3)
    net.fit(X(40), uniform(40, 3), batch_size=8, epochs=2, shuffle=False, verbose=0)  # 10 steps
    assert handle.step == 10
    assert [r["step"] for r in handle.records] == [1, 4, 7, 10]
    assert all(set(r["grads"]) == set(r["values"]) and len(r["grads"]) == 2 for r in handle.records)
    kernel = net.layers[0].kernel.path
    assert all(by_variable(net, r, "grads")[kernel]["rms"] > 0 for r in handle.records)
    before = CHAPTER.to_numpy(net.layers[0].kernel)
    net.fit(X(8), uniform(8, 3), batch_size=8, epochs=1, verbose=0)  # step 11: not recorded
    net.fit(X(8), uniform(8, 3), batch_size=8, epochs=1, verbose=0)
    assert handle.step == 12 and handle.records[-1]["step"] == 10
    handle.stop()
    handle = ps.watch(net, every=1)
    before = CHAPTER.to_numpy(net.layers[0].kernel)
    net.fit(X(8), uniform(8, 3), batch_size=8, epochs=1, verbose=0)
    applied = (before - CHAPTER.to_numpy(net.layers[0].kernel)) / 0.1  # SGD: w -= rate * grad
    grads = by_variable(net, handle.records[-1], "grads")[kernel]
    np.testing.assert_allclose([grads["mean"], grads["rms"]], [applied.mean(), np.sqrt((applied**2).mean())],
                               rtol=1e-4, atol=1e-6)
    values = by_variable(net, handle.records[-1], "values")[kernel]
    assert values["mean"] == pytest.approx(before.mean(), rel=1e-5, abs=1e-7)
    handle.stop()
    assert "make_train_function" not in vars(net) and net.make_train_function == original_make
    assert not hasattr(net.train_function, "__paramscope_fit_step__")
    net.fit(X(16), uniform(16, 3), batch_size=8, epochs=1, verbose=0)
    assert handle.step == 1 and len(handle.records) == 1
    assert not keras_grads._LISTENERS


@tf_only
def test_watch_of_model_fit_counts_an_epoch_of_unknown_length_once_per_batch():
    import tensorflow as tf

    net = keras.Sequential([keras.Input((4,)), layers.Dense(3, name="d")], name="gen")
    net.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    data = tf.data.Dataset.from_tensor_slices((X(24), uniform(24, 3))).batch(8)
    data = data.filter(lambda x, y: True)  # unknown cardinality: the epoch ends on a call that finds no batch
    handle = ps.watch(net, every=1)
    net.fit(data, epochs=2, verbose=0)
    net.fit(data, epochs=1, verbose=0)
    assert [r["step"] for r in handle.records if r["grads"]] == list(range(1, 10))
    handle.stop()


def test_watch_of_a_run_eagerly_fit_counts_each_step_once():
    net = keras.Sequential([keras.Input((4,)), layers.Dense(3, name="d")], name="eager")
    net.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse", run_eagerly=True)
    handle = ps.watch(net, every=1)
    net.fit(X(16), uniform(16, 3), batch_size=8, epochs=1, verbose=0)
    assert [r["step"] for r in handle.records] == [1, 2] and all(r["grads"] for r in handle.records)
    handle.stop()


def test_watch_of_a_tied_layer_records_the_summed_grad_once():
    net = CHAPTER.shared_net()
    handle = ps.watch(net, every=1)
    seen = []
    custom_loop(net, 2, seen=seen)
    grads = by_variable(net, handle.records[-1], "grads")
    assert len(grads) == 6  # dense, shared (once), dense_1
    shared = net.get_layer("shared").kernel.path
    assert grads[shared]["mean"] == pytest.approx(seen[-1]["grads"][shared].mean(), rel=1e-5, abs=1e-7)
    handle.stop()


def test_watch_refuses_a_model_that_runs_several_steps_per_call():
    net = keras.Sequential([keras.Input((4,)), layers.Dense(3, name="d")], name="multi")
    net.compile(optimizer="sgd", loss="mse", steps_per_execution=4)
    with pytest.raises(ps.ActionError, match="steps_per_execution=4"):
        ps.watch(net, every=1)
    assert not keras_grads._LISTENERS


@tf_only
def test_watch_refuses_an_xla_step():
    import tensorflow as tf

    net = CHAPTER.mlp()
    optimizer = keras.optimizers.SGD(learning_rate=0.1)

    @tf.function(jit_compile=True)
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(net(x))
        optimizer.apply_gradients(zip(tape.gradient(loss, net.trainable_variables), net.trainable_variables,
                                      strict=True))

    handle = ps.watch(net, every=1)
    with pytest.raises(ps.ActionError, match="XLA"):
        step(X())
    handle.stop()
    step(X())  # with no watch, the XLA step trains as before
    assert not keras_grads._LISTENERS
