"""MXNet Gluon specifics beyond the chapter: deferred and unbuilt states, np semantics, running statistics,
tying after construction (hybridized too), Gluon's initializer rules, seeded draws, contexts, dtypes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("paramscope.adapters.mxnet_compat")
mx = pytest.importorskip("mxnet", reason="MXNet is not installed in this environment")
from mxnet import autograd, gluon, nd, npx  # noqa: E402
from mxnet.gluon import nn  # noqa: E402

import paramscope as ps  # noqa: E402
from paramscope import protocol  # noqa: E402
from paramscope.adapters import adapter_for  # noqa: E402
from paramscope.stats import tensor_values  # noqa: E402


def nodes(model, **kw):
    return {n.path: n for n in ps.inspect(model, **kw).walk()}


def mlp(hybrid: bool = False, in_units: int = 0) -> nn.Block:
    net = nn.HybridSequential() if hybrid else nn.Sequential()
    net.add(nn.Dense(8, activation="relu", in_units=in_units), nn.Dense(1, in_units=8 if in_units else 0))
    net.initialize()
    net(nd.random.uniform(shape=(2, 4)))
    return net


def peek_mx_random() -> np.ndarray:
    """Draws that show where MXNet's generator is; call it after mx.random.seed in both twins."""
    return nd.random.uniform(shape=(64,)).asnumpy()


# -- paths, names and code -----------------------------------------------------------------------------------

def test_paths_are_save_parameters_names_and_parameter_names_work_too():
    net = nn.Sequential()
    net.add(nn.Dense(4), nn.BatchNorm(), nn.Dense(2))
    net.initialize()
    net(nd.ones((3, 5)))
    got = nodes(net)
    tensors = [p for p, n in got.items() if n.kind in ("param", "buffer")]
    assert tensors == list(net._collect_params_with_prefix())
    weight = net[0].weight
    assert got["0.weight"].alt_name == weight.name
    by_name = ps.stats(net, weight.name)
    assert by_name["available"] and by_name["path"] == "0.weight"
    ps.set_value(net, weight.name, 0.5, index=(0, 0))
    assert net[0].weight.data()[0, 0].asscalar() == 0.5


def test_code_evaluates_to_the_block_or_parameter():
    class Net(nn.Block):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential()
            self.body.add(nn.Dense(3), nn.Dense(3))
            self.register_child(nn.Dense(2), "head")  # a child with no attribute
            self.scale = self.params.get("scale", shape=(1,))

        def forward(self, x):
            return self._children["head"](self.body(x)) * self.scale.data()

    net = Net()
    net.initialize()
    net(nd.ones((2, 4)))
    tree = nodes(net, name="model")
    for path, node in tree.items():
        if node.kind == "param":
            assert eval(node.code, {"model": net}) is net._collect_params_with_prefix()[path], node.code
    assert tree["body.1.bias"].code == "model.body[1].bias"
    assert tree["head.weight"].code == "model._children['head'].weight"
    assert tree["scale"].code == "model.scale"
    assert eval(tree["head"].code, {"model": net}) is net._children["head"]


# -- odd states ----------------------------------------------------------------------------------------------

def test_deferred_layer_shows_known_dims_and_its_bias_is_ready():
    net = nn.Sequential()
    net.add(nn.Dense(8, activation="relu"), nn.Dense(1))
    net.initialize()
    got = nodes(net)
    assert got["0.weight"].state == "deferred" and got["0.weight"].shape == [8, None]
    assert got["0.weight"].numel == 0 and got["0.weight"].device == "cpu(0)"
    assert got["0.bias"].state == "ready" and got["0.bias"].shape == [8]  # Gluon initializes it at once
    assert got[""].state == "deferred"
    why = ps.stats(net, "0.weight")
    assert why["available"] is False and "forward" in why["reason"]
    assert ps.stats(net, "0.weight#grad")["available"] is False
    with pytest.raises(ps.ActionError, match="forward"):
        ps.set_value(net, "0.weight", 1.0)
    with pytest.raises(ps.ActionError, match="shape is not known"):
        ps.tie(net, "1.weight", "0.weight")
    net(nd.ones((2, 4)))
    got = nodes(net)
    assert got["0.weight"].shape == [8, 4] and {n.state for n in got.values()} == {"ready"}


def test_never_initialized_block_is_unbuilt_and_says_to_initialize():
    net = nn.Sequential()
    net.add(nn.Dense(8, in_units=4), nn.Dense(1))
    got = nodes(net)
    assert got["0.weight"].state == "unbuilt" and got["0.weight"].shape == [8, 4]
    assert got["1.weight"].shape == [1, None] and got["0.weight"].device is None
    assert got[""].state == "unbuilt" and got[""].n_params == 8 * 4 + 8 + 1
    assert "initialize()" in ps.stats(net, "0.weight")["reason"]
    with pytest.raises(ps.ActionError, match=r"initialize\(\)"):
        ps.reinit(net, "", "normal")


@pytest.fixture
def np_semantics():
    """MXNet's NumPy mode (`npx.set_np()`, as the chapter's MXNet edition runs), switched off afterwards."""
    npx.set_np()
    yield mx.np
    npx.reset_np()


def test_numpy_semantics_deferred_dims_and_every_action(np_semantics):
    mnp = np_semantics
    net = nn.Sequential()
    net.add(nn.Dense(8, activation="relu"), nn.Dense(1))
    net.initialize()
    assert net[0].weight.shape == (8, -1)
    assert nodes(net)["0.weight"].shape == [8, None]
    net(mnp.random.uniform(size=(2, 4)))
    assert isinstance(net[0].weight.data(), mnp.ndarray)
    assert ps.stats(net, "0.weight")["numel"] == 32
    ps.reinit(net, "", "normal", seed=1)
    first = net[0].weight.data().asnumpy()
    ps.reinit(net, "", "xavier_uniform")
    ps.reinit(net, "", "normal", seed=1)
    np.testing.assert_array_equal(net[0].weight.data().asnumpy(), first)
    ps.set_value(net, "0.weight", lambda w: w + 1)
    np.testing.assert_allclose(net[0].weight.data().asnumpy(), first + 1)
    ps.set_value(net, "0.weight", 42, index=(0, 0))
    assert isinstance(net[0].weight.data(), mnp.ndarray) and net[0].weight.data()[0, 0] == 42
    ps.undo(net)
    np.testing.assert_allclose(net[0].weight.data().asnumpy(), first + 1)


# -- kinds: running statistics, constants --------------------------------------------------------------------

def test_batchnorm_running_stats_are_buffers_not_trainable_and_not_counted():
    net = nn.Sequential()
    net.add(nn.Dense(4, in_units=3), nn.BatchNorm(in_channels=4))
    net.initialize()
    got = nodes(net)
    assert got["1.running_mean"].kind == "buffer" and got["1.running_mean"].trainable is False
    assert got["1.gamma"].kind == "param" and got["1.gamma"].trainable is True
    assert got[""].n_params == 3 * 4 + 4 + 4 + 4  # Dense weight and bias, gamma, beta
    with pytest.raises(ps.ActionError, match="buffer"):
        ps.tie(net, "1.running_var", "1.gamma")
    assert "no gradient" in ps.stats(net, "1.running_mean#grad")["reason"]


def test_default_reinit_of_batchnorm_resets_running_stats_and_undo_restores_them():
    net = nn.Sequential()
    net.add(nn.Dense(4, in_units=3), nn.BatchNorm(in_channels=4))
    net.initialize()
    net[1].running_mean.set_data(nd.array([1.0, 2.0, 3.0, 4.0]))  # as after some training
    mean = net[1].running_mean.data().asnumpy()
    ps.reinit(net, "1", "normal")  # catalogue names leave running statistics alone
    np.testing.assert_array_equal(net[1].running_mean.data().asnumpy(), mean)
    result = ps.reinit(net, "1", "default")
    assert "1.running_mean" in result["changed"] and "1.running_var" in result["changed"]
    assert (net[1].running_mean.data().asnumpy() == 0).all()
    assert (net[1].running_var.data().asnumpy() == 1).all()
    ps.undo(net)
    np.testing.assert_array_equal(net[1].running_mean.data().asnumpy(), mean)


def test_constant_is_a_frozen_param_and_its_grad_is_explained():
    class WithConstant(nn.Block):
        def __init__(self):
            super().__init__()
            self.rand_weight = self.params.get_constant("rand_weight", nd.ones((3, 3)))
            self.dense = nn.Dense(3, in_units=3)

        def forward(self, x):
            return self.dense(nd.dot(x, self.rand_weight.data()))

    net = WithConstant()
    net.initialize()
    got = nodes(net)
    assert got["rand_weight"].kind == "param" and got["rand_weight"].trainable is False
    assert got["rand_weight"].type == "Constant"
    why = ps.stats(net, "rand_weight#grad")
    assert why["available"] is False and "grad_req='null'" in why["reason"]
    ps.set_value(net, "rand_weight", 2.0)
    ps.reinit(net, "", "default")  # a Constant's own initializer is its value
    assert (net.rand_weight.data().asnumpy() == 1).all()


# -- gradients -----------------------------------------------------------------------------------------------

def test_grad_stats_before_backward_after_backward_and_after_a_trainer_step():
    net = mlp()
    assert nodes(net)["0.weight"].has_grad is False
    why = ps.stats(net, "0.weight#grad")
    assert why["available"] is False and "autograd.record()" in why["reason"]
    X = nd.random.uniform(shape=(4, 4))
    with autograd.record():
        loss = net(X).sum()
    loss.backward()
    assert nodes(net)["0.weight"].has_grad is True
    grad = net[0].weight.grad().asnumpy()
    got = ps.stats(net, "0.weight#grad")
    np.testing.assert_allclose(got["mean"], grad.mean(), rtol=1e-5, atol=1e-9)
    gluon.Trainer(net.collect_params(), "sgd").step(1)
    assert nodes(net)["0.weight"].has_grad is False  # Trainer.step marks the gradient stale
    assert ps.stats(net, "0.weight#grad")["available"]  # ... but its values are still there to look at


def test_tied_param_grad_is_sum():
    """`params=shared.params` (the chapter's way): the shared weight's gradient adds both uses up."""
    shared = nn.Dense(4, in_units=4)
    net = nn.Sequential()
    net.add(shared, nn.Dense(4, in_units=4, params=shared.params))
    net.initialize()
    twin = nn.Sequential()
    twin.add(nn.Dense(4, in_units=4), nn.Dense(4, in_units=4))
    twin.initialize()
    for i in range(2):
        twin[i].weight.set_data(shared.weight.data())
        twin[i].bias.set_data(shared.bias.data())
    X = nd.random.uniform(shape=(3, 4))
    for model in (net, twin):
        with autograd.record():
            loss = model(X).sum()
        loss.backward()
    expected = twin[0].weight.grad().asnumpy() + twin[1].weight.grad().asnumpy()
    np.testing.assert_allclose(shared.weight.grad().asnumpy(), expected, rtol=1e-5)
    got = ps.stats(net, "1.weight#grad")
    np.testing.assert_allclose(got["mean"], expected.mean(), rtol=1e-5)


# -- tying after construction --------------------------------------------------------------------------------

def tie_pair_net(hybrid: bool) -> nn.Block:
    net = nn.HybridSequential() if hybrid else nn.Sequential()
    net.add(nn.Dense(4, in_units=4), nn.Dense(4, in_units=4), nn.Dense(1, in_units=4))
    net.initialize()
    if hybrid:
        net.hybridize()
    net(nd.ones((2, 4)))  # a hybridized net has traced its graph now
    return net


@pytest.mark.parametrize("hybrid", [False, True], ids=["imperative", "hybridized"])
def test_tie_after_construction_makes_gradients_add_up(hybrid):
    net = tie_pair_net(hybrid)
    X = nd.random.uniform(shape=(3, 4))
    ps.tie(net, "1.weight", "0.weight")
    shared = net[0].weight
    assert net[1].weight is shared and net[1]._reg_params["weight"] is shared
    assert shared.name in net.collect_params() and len(net.collect_params().keys()) == 5
    with autograd.record():
        loss = net(X).sum()
    loss.backward()
    tied_grad = shared.grad().asnumpy()
    ps.untie(net, "1.weight")  # the untied copy has the same values: two uses, two gradients
    with autograd.record():
        loss = net(X).sum()
    loss.backward()
    np.testing.assert_allclose(tied_grad, net[0].weight.grad().asnumpy() + net[1].weight.grad().asnumpy(),
                               rtol=1e-5)


@pytest.mark.parametrize("hybrid", [False, True], ids=["imperative", "hybridized"])
def test_forward_uses_the_tied_parameter_and_undo_brings_back_the_old_one(hybrid):
    net = tie_pair_net(hybrid)
    X = nd.random.uniform(shape=(3, 4))
    before = net(X).asnumpy()
    old = net[1].weight
    ps.tie(net, "1.weight", "0.weight")
    ps.set_value(net, "0.weight", 0.0)  # both uses are zero now: the output is the last bias only
    np.testing.assert_allclose(net(X).asnumpy(), np.broadcast_to(net[2].bias.data().asnumpy(), (3, 1)),
                               rtol=1e-6)
    ps.undo(net)
    ps.undo(net)
    assert net[1].weight is old and net[1]._reg_params["weight"] is old
    assert old.name in net.collect_params()
    np.testing.assert_allclose(net(X).asnumpy(), before, rtol=1e-6)


def test_trainer_made_after_tying_updates_the_shared_weight_once():
    net = tie_pair_net(hybrid=False)
    ps.tie(net, "1.weight", "0.weight")
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    before = net[0].weight.data().asnumpy()
    with autograd.record():
        loss = net(nd.ones((2, 4))).sum()
    loss.backward()
    trainer.step(1)  # no stale gradient: the old, now unused weight is not in collect_params()
    np.testing.assert_allclose(net[0].weight.data().asnumpy(), before - 0.1 * net[0].weight.grad().asnumpy(),
                               rtol=1e-5)


def test_untie_names_the_copy_after_its_block_and_keeps_grad_req():
    net = nn.Sequential()
    shared = nn.Dense(4, in_units=4)
    net.add(shared, nn.Dense(4, in_units=4, params=shared.params))
    net.initialize()
    shared.weight.lr_mult = 0.5
    ps.untie(net, "1.weight")
    copy_ = net[1].weight
    assert copy_ is not shared.weight and copy_.name == net[1].prefix + "weight"
    assert copy_.lr_mult == 0.5 and copy_.grad_req == "write"
    np.testing.assert_array_equal(copy_.data().asnumpy(), shared.weight.data().asnumpy())
    assert list(net.collect_params().keys()) == [shared.weight.name, shared.bias.name, copy_.name]


@pytest.mark.parametrize("hybrid", [False, True], ids=["imperative", "hybridized"])
def test_block_used_twice_is_one_block_and_untie_block_copies_it(hybrid):
    net = nn.HybridSequential() if hybrid else nn.Sequential()
    twice = nn.Dense(4, in_units=4)
    net.add(twice, twice, nn.Dense(1, in_units=4))
    net.initialize()
    if hybrid:
        net.hybridize()
    X = nd.random.uniform(shape=(2, 4))
    before = net(X).asnumpy()
    got = nodes(net)
    assert got["1"].tied_to == "0" and got["1.weight"].tied_to == "0.weight"
    with pytest.raises(ps.ActionError, match="untie the block"):
        ps.untie(net, "1.weight")
    ps.untie(net, "1")
    assert net[1] is not twice and net[1].weight is not twice.weight
    np.testing.assert_allclose(net(X).asnumpy(), before, rtol=1e-6)
    ps.set_value(net, "1.weight", 0.0)
    assert (twice.weight.data().asnumpy() != 0).any()
    assert len(set(net.collect_params().keys())) == 6
    ps.undo(net)
    ps.undo(net)
    assert net[1] is twice
    np.testing.assert_allclose(net(X).asnumpy(), before, rtol=1e-6)


# -- initializers --------------------------------------------------------------------------------------------

class PrintingInit(mx.init.Initializer):
    """The chapter's MyInit, with its print."""

    def _init_weight(self, name, data):
        print("Init", name, data.shape)
        data[:] = nd.random.uniform(low=-10, high=10, shape=data.shape)
        data *= data.abs() >= 5


class NumpyInit(mx.init.Initializer):
    """Draws from NumPy's global generator, as some user initializers do."""

    def _init_weight(self, name, data):
        data[:] = np.random.normal(size=data.shape)


def test_default_is_the_layers_own_initializer_else_uniform():
    net = nn.Sequential()
    net.add(nn.Dense(3, in_units=2, weight_initializer=mx.init.Constant(3.0), bias_initializer="ones"),
            nn.Dense(1, in_units=3))
    net.initialize(init=mx.init.Normal(5.0))
    ps.reinit(net, "", "default")
    assert (net[0].weight.data().asnumpy() == 3).all() and (net[0].bias.data().asnumpy() == 1).all()
    w = net[1].weight.data().asnumpy()
    assert np.abs(w).max() <= 0.07  # Gluon's default Uniform(0.07): initialize(init=...) is not kept
    assert (net[1].bias.data().asnumpy() == 0).all()


def test_custom_initializer_on_a_block_follows_gluon_and_on_a_param_is_applied():
    net = mlp()
    result = ps.reinit(net, "", PrintingInit())
    # Biases get their own 'zeros' again: written (the values they had), so changed, in Gluon's order.
    assert result["changed"] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert result["skipped"] == [] and (net[0].bias.data().asnumpy() == 0).all()
    ps.reinit(net, "0.bias", PrintingInit())  # on one parameter the given initializer is used
    b = net[0].bias.data().asnumpy()
    assert ((b == 0) | (np.abs(b) >= 5)).all() and (b != 0).any()


def test_initializer_class_is_instantiated_and_one_needing_arguments_is_explained():
    net = mlp()
    ps.reinit(net, "0.weight", PrintingInit)

    class NeedsArgs(mx.init.Initializer):
        def __init__(self, scale):
            super().__init__(scale=scale)

        def _init_weight(self, name, data):
            data[:] = 1

    with pytest.raises(ps.ActionError, match="pass an instance"):
        ps.reinit(net, "0.weight", NeedsArgs)


@pytest.mark.parametrize("name, check", [
    ("xavier_uniform", lambda w, fi, fo: np.abs(w).max() <= np.sqrt(6 / (fi + fo))),
    ("kaiming_uniform", lambda w, fi, fo: np.abs(w).max() <= np.sqrt(6 / fi)),
    ("xavier_normal", lambda w, fi, fo: abs(w.std() / np.sqrt(2 / (fi + fo)) - 1) < 0.05),
    ("kaiming_normal", lambda w, fi, fo: abs(w.std() / np.sqrt(2 / fi) - 1) < 0.05),
    ("orthogonal", lambda w, fi, fo: np.allclose(w.T @ w, np.eye(fi), atol=1e-4)),
])
def test_catalogue_scales_match_torchs_conventions(name, check):
    net = nn.Dense(400, in_units=300)
    net.initialize()
    ps.reinit(net, "weight", name, seed=0)
    w = net.weight.data().asnumpy().astype(np.float64)
    assert check(w, 300, 400), name


def test_normal_and_uniform_honour_mean_and_bounds():
    net = nn.Dense(200, in_units=200)
    net.initialize()
    ps.reinit(net, "weight", "normal", mean=3.0, std=0.5)
    w = net.weight.data().asnumpy()
    assert abs(w.mean() - 3.0) < 0.01 and abs(w.std() - 0.5) < 0.01
    ps.reinit(net, "weight", "uniform", low=2.0, high=4.0)
    w = net.weight.data().asnumpy()
    assert w.min() >= 2.0 and w.max() <= 4.0 and abs(w.mean() - 3.0) < 0.01


def test_seeded_reinit_leaves_mxnets_and_numpys_generators_alone():
    """Twin check: the draws after a seeded reinit are the draws the generators would have given anyway."""
    net = mlp()
    mx.random.seed(11)
    np.random.seed(11)
    expected = (peek_mx_random(), np.random.rand(8))
    mx.random.seed(11)
    np.random.seed(11)
    for init in ("normal", "default", "orthogonal", PrintingInit(), NumpyInit()):
        ps.reinit(net, "", init, seed=3)
    actual = (peek_mx_random(), np.random.rand(8))
    np.testing.assert_array_equal(actual[0], expected[0])
    np.testing.assert_array_equal(actual[1], expected[1])
    mx.random.seed(11)  # the check can fail: an unseeded reinit does move MXNet's generator
    ps.reinit(net, "", "normal")
    assert not np.array_equal(peek_mx_random(), expected[0])


def test_seeded_custom_initializers_are_reproducible_and_still_print():
    net = mlp()
    printed = []
    for init in (PrintingInit(), NumpyInit()):
        printed.append(ps.reinit(net, "0.weight", init, seed=7).get("output", ""))
        first = net[0].weight.data().asnumpy()
        ps.reinit(net, "0.weight", init, seed=8)
        ps.reinit(net, "0.weight", init, seed=7)
        np.testing.assert_array_equal(net[0].weight.data().asnumpy(), first)
    assert "Init " + net[0].weight.name in printed[0]  # what the forked draw printed comes back in the result


def test_seeded_initializer_that_raises_reports_its_error_and_changes_nothing():
    class Boom(mx.init.Initializer):
        def _init_weight(self, name, data):
            data[:] = 7
            raise ValueError("no such distribution")

    net = mlp()
    before = net[0].weight.data().asnumpy()
    with pytest.raises(ps.ActionError, match="ValueError: no such distribution"):
        ps.reinit(net, "", Boom(), seed=1)
    np.testing.assert_array_equal(net[0].weight.data().asnumpy(), before)


# -- dtypes and contexts -------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float16", "float64"])
def test_low_and_high_precision_params(dtype):
    net = nn.Dense(8, in_units=4, dtype=dtype)
    net.initialize()
    got = nodes(net)
    assert got["weight"].dtype == dtype and got["weight"].nbytes == 32 * np.dtype(dtype).itemsize
    ps.reinit(net, "", "normal", seed=0)
    ps.set_value(net, "weight", 0.25, index=(1, 2))
    w = net.weight.data()
    assert w.dtype == np.dtype(dtype) and w[1, 2].asscalar() == 0.25
    s = ps.stats(net, "weight")
    np.testing.assert_allclose(s["mean"], w.asnumpy().astype(np.float64).mean(), rtol=1e-6)


def test_int_params_accept_constants_and_refuse_random_draws():
    class Counter(nn.Block):
        def __init__(self):
            super().__init__()
            self.steps = self.params.get("steps", shape=(3,), dtype="int32", init="zeros", grad_req="null")

    net = Counter()
    net.initialize()
    assert nodes(net)["steps"].dtype == "int32"
    ps.reinit(net, "steps", "constant", value=4)
    assert net.steps.data().asnumpy().tolist() == [4, 4, 4]
    with pytest.raises(ps.ActionError, match="draws real numbers"):
        ps.reinit(net, "steps", "normal")
    with pytest.raises(ps.ActionError, match="NaN"):
        ps.set_value(net, "steps", float("nan"))


def test_params_on_two_contexts_are_shown_written_and_restored_together():
    net = nn.Dense(3, in_units=2)
    net.initialize(ctx=[mx.cpu(0), mx.cpu(1)])
    got = nodes(net)
    assert got["weight"].device == "cpu(0),cpu(1)"
    before = [a.asnumpy() for a in net.weight.list_data()]
    ps.set_value(net, "weight", 5.0, index=(0, 1))
    assert [a[0, 1].asscalar() for a in net.weight.list_data()] == [5.0, 5.0]
    ps.reinit(net, "weight", "normal", seed=2)
    a, b = (x.asnumpy() for x in net.weight.list_data())
    np.testing.assert_array_equal(a, b)
    ps.undo(net)
    ps.undo(net)
    for arr, old in zip(net.weight.list_data(), before, strict=True):
        np.testing.assert_array_equal(arr.asnumpy(), old)


# -- stats ---------------------------------------------------------------------------------------------------

def test_stats_match_numpy_across_chunks(monkeypatch):
    monkeypatch.setattr("paramscope.adapters.mxnet.CHUNK_ELEMS", 7)  # CPU chunks (numpy_stats)
    net = nn.Dense(10, in_units=10)
    net.initialize()
    values = np.random.default_rng(0).normal(size=(10, 10)).astype(np.float32)
    values[0, 0], values[1, 1], values[2, 2], values[3, :3] = np.nan, np.inf, -np.inf, 0
    net.weight.set_data(nd.array(values))
    got = ps.stats(net, "weight", bins=16)
    finite = values[np.isfinite(values)].astype(np.float64)
    assert got["numel"] == 100 and got["nan"] == 1 and got["inf"] == 2 and got["zeros"] == 0.03
    np.testing.assert_allclose([got["mean"], got["std"], got["min"], got["max"]],
                               [finite.mean(), finite.std(), finite.min(), finite.max()], rtol=1e-6)
    counts, _ = np.histogram(finite, bins=16, range=(finite.min(), finite.max()))
    assert got["hist"]["counts"] == counts.tolist()


@pytest.mark.slow
def test_stats_of_a_256mib_parameter_use_at_most_64mb_extra():
    """Peak resident memory while computing stats of a 256 MiB float32 parameter grows by at most 64 MB."""
    script = textwrap.dedent(
        """
        import json
        import paramscope.adapters.mxnet_compat
        import mxnet as mx, paramscope as ps
        from mxnet.gluon import nn
        def peak():
            for line in open('/proc/self/status'):
                if line.startswith('VmHWM'):
                    return int(line.split()[1]) * 1024
        net = nn.Dense(2**16, in_units=2**10)  # 2**26 float32 values: 256 MiB
        net.initialize(init=mx.init.Uniform(1.0))
        small = nn.Dense(2**10, in_units=2**10)
        small.initialize()
        ps.stats(small, 'weight')  # loads MXNet's kernels and starts its threads: not a cost of size
        mx.nd.waitall()
        with open('/proc/self/clear_refs', 'w') as f:  # initialize() peaked at twice the size: reset the mark
            f.write('5')
        before = peak()
        s = ps.stats(net, 'weight')
        print(json.dumps({'extra': peak() - before, 'numel': s['numel'], 'max': s['max']}))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["numel"] == 2**26 and result["max"] <= 1
    assert result["extra"] <= 64 * 2**20, result


def test_values_are_downsampled_to_a_2d_grid():
    net = nn.Dense(40, in_units=30)
    net.initialize()
    w = net.weight.data().asnumpy()
    adapter = adapter_for(net)
    entry = adapter.index(net).tensors["weight"]
    got = tensor_values(adapter, entry, max_elems=100)
    assert got["rows"] * got["cols"] <= 100
    np.testing.assert_allclose(got["data"], w[:: got["row_step"], :: got["col_step"]], rtol=1e-6)


# -- watch ---------------------------------------------------------------------------------------------------

def test_watch_records_each_steps_grads_at_the_next_forward_even_after_trainer_step():
    net = mlp()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    handle = ps.watch(net, every=3)
    seen = []
    for _ in range(11):
        with autograd.record():
            loss = (net(nd.random.uniform(shape=(4, 4))) ** 2).sum()
        loss.backward()
        seen.append(net[0].weight.grad().asnumpy().astype(np.float64).mean())
        trainer.step(4)  # clears MXNet's fresh-gradient flag
    handle.stop()
    records = list(handle.records)
    assert [r["step"] for r in records] == [1, 4, 7, 10]
    for record in records:  # step 10's gradients were read as step 11 started
        assert set(record["grads"]) == set(record["values"]) == {"0.weight", "0.bias", "1.weight", "1.bias"}
        assert record["grads"]["0.weight"]["mean"] == pytest.approx(seen[record["step"] - 1], rel=1e-6)
    handle = ps.watch(net, every=1)
    with autograd.record():
        loss = net(nd.ones((2, 4))).sum()
    loss.backward()
    assert handle.records[-1]["grads"] == {}  # the last step's gradients wait for a next forward
    handle.stop()


def test_watch_of_inference_records_no_grads():
    net = mlp()
    handle = ps.watch(net, every=1)
    for _ in range(3):
        net(nd.ones((2, 4)))
    handle.stop()
    assert [r["grads"] for r in handle.records] == [{}, {}, {}]
    assert set(handle.records[0]["values"]) == {"0.weight", "0.bias", "1.weight", "1.bias"}


# -- the namespace, the protocol, the import -----------------------------------------------------------------

def test_protocol_answers_for_an_mxnet_model_by_parameter_name():
    net = mlp()
    models = {"net": net}
    reply = protocol.handle({"id": 1, "op": "stats", "model": "net", "path": net[0].weight.name + "#grad"},
                            models=models, namespace=models)
    assert reply["ok"] and reply["result"]["available"] is False
    request = {"id": 2, "op": "reinit", "model": "net", "path": "0", "init": "normal", "seed": 4}
    reply = protocol.handle(request, models=models, namespace=models)
    assert reply["ok"] and reply["revision"] == 1
    json.loads(protocol.to_json(protocol.handle({"id": 3, "op": "tree", "model": "net", "depth": None},
                                                models=models, namespace=models)))


def test_very_deep_nesting_is_found_and_indexed_without_recursion():
    net = inner = nn.Sequential()
    for _ in range(3000):  # deeper than Python's recursion limit (Gluon's own collect_params gives up here)
        deeper = nn.Sequential()
        inner.add(deeper)
        inner = deeper
    inner.add(nn.Dense(2, in_units=2))
    assert list(ps.models({"net": net})) == ["net"]
    assert ps.inspect(net, depth=1).n_params == 6


def test_models_finds_mxnet_next_to_pytorch():
    torch = pytest.importorskip("torch")
    namespace = {"gluon_net": mlp(), "torch_net": torch.nn.Linear(2, 2), "array": nd.ones(3),
                 "dense_param": nn.Dense(2, in_units=2).weight}
    assert list(ps.models(namespace)) == ["gluon_net", "torch_net"]


def test_importing_paramscope_leaves_numpy_alone_and_the_one_line_import_makes_mxnet_work():
    code = textwrap.dedent("""
        import json, sys, numpy
        import paramscope, paramscope.protocol
        before = "bool" in numpy.__dict__
        import paramscope.adapters.mxnet_compat
        import mxnet
        print(json.dumps([before, "mxnet" in sys.modules, numpy.bool is bool]))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    numpy_has_bool = "bool" in np.__dict__ and np.__dict__["bool"] is not bool  # NumPy 2 brings its own back
    assert json.loads(out.stdout) == [numpy_has_bool, True, not numpy_has_bool]


def test_a_stuck_seeded_draw_is_stopped_with_a_clear_error(monkeypatch):
    import time

    from paramscope.adapters import mxnet_seeded

    monkeypatch.setattr(mxnet_seeded, "TIMEOUT_S", 0.5)
    with pytest.raises(ps.ActionError, match="did not finish"):
        mxnet_seeded.draw_seeded(1, lambda: time.sleep(30))
