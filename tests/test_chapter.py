"""The "Parameter Management" chapter as the acceptance suite, run unchanged in every framework.

Each framework's models and native readers live in tests/chapters/<framework>_chapter.py behind one interface
(see torch_chapter.py); every test here reads like a section of the chapter.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

import paramscope as ps
from paramscope import actions, protocol
from paramscope.initializers import CATALOGUE


def param_nodes(node: ps.Node) -> dict[str, ps.Node]:
    return {n.path: n for n in node.walk() if n.kind == "param"}


# -- Parameter access ----------------------------------------------------------------------------------------------

def test_access_parameters_of_one_layer(chapter):
    net = chapter.mlp()
    tree = ps.inspect(net, name="net")
    bias = tree.find(chapter.mlp_last_bias)
    assert bias is not None and bias.kind == "param"
    assert bias.code == chapter.mlp_last_bias_code
    assert bias.dtype == "float32"
    assert bias.shape == list(chapter.read(net, chapter.mlp_last_bias).shape)
    assert bias.state == "ready"
    evaluated = eval(bias.code, {"net": net})  # "copy as code" reaches the same object
    np.testing.assert_array_equal(chapter.to_numpy(evaluated), chapter.read(net, chapter.mlp_last_bias))


def test_all_parameters_at_once(chapter):
    net = chapter.mlp()
    tree = ps.inspect(net)
    assert list(param_nodes(tree)) == chapter.own_param_paths(net)
    assert tree.n_params == chapter.n_unique_params(net)
    assert tree.kind == "model" and tree.path == ""
    for node in tree.walk():
        assert node.n_children == len(node.children or [])


def test_nested_blocks_have_the_frameworks_paths(chapter):
    rgnet = chapter.rgnet()
    tree = ps.inspect(rgnet, name="rgnet")
    blocks = [n.path for n in tree.walk() if n.kind in ("model", "block")]
    assert blocks == chapter.own_block_paths(rgnet)
    deep = tree.find(chapter.rgnet_deep_bias)
    assert deep is not None and deep.code == chapter.rgnet_deep_bias_code
    np.testing.assert_array_equal(chapter.to_numpy(eval(deep.code, {"rgnet": rgnet})),
                                  chapter.read(rgnet, chapter.rgnet_deep_bias))
    assert tree.find(chapter.rgnet_inner_block).n_params == sum(
        n.numel for p, n in param_nodes(tree).items() if p.startswith(chapter.rgnet_inner_block))


def test_inspect_depth_limits_expansion(chapter):
    tree = ps.inspect(chapter.rgnet(), depth=1)
    assert tree.children is not None
    assert all(child.children is None for child in tree.children)
    assert tree.n_children == len(tree.children)


def test_custom_block_shows_constant_weight_as_frozen(chapter):
    net = chapter.fancy()
    nodes = param_nodes(ps.inspect(net))
    assert list(nodes) == chapter.own_param_paths(net)
    frozen = [n for n in nodes.values() if n.trainable is False]
    assert len(frozen) == 1 and frozen[0].n_params == 400


# -- Parameter initialization --------------------------------------------------------------------------------------

def test_builtin_normal_init(chapter):
    net = chapter.mlp()
    result = ps.reinit(net, "", "normal", mean=0.0, std=0.01)
    assert sorted(result["changed"]) == sorted(chapter.own_param_paths(net))
    for path in chapter.own_param_paths(net):
        values = chapter.read(net, path)
        assert np.abs(values).max() < 0.1
    assert np.std(chapter.read(net, chapter.mlp_first_weight)) > 0


def test_builtin_constant_init_on_one_block(chapter):
    net = chapter.mlp()
    before = chapter.read(net, chapter.mlp_last_bias)
    ps.reinit(net, chapter.mlp_first, "constant", value=1)
    assert (chapter.read(net, chapter.mlp_first_weight) == 1).all()
    np.testing.assert_array_equal(chapter.read(net, chapter.mlp_last_bias), before)


def test_constant_written_as_text(chapter):
    net = chapter.mlp()
    ps.reinit(net, chapter.mlp_first_weight, "constant(42)")
    assert (chapter.read(net, chapter.mlp_first_weight) == 42).all()


def test_xavier_on_a_model_writes_weights_only(chapter):
    net = chapter.mlp()
    before = chapter.read(net, chapter.mlp_last_bias)
    result = ps.reinit(net, "", "xavier_uniform")  # the chapter's init_xavier: biases are kept
    assert chapter.mlp_first_weight in result["changed"]
    kept = {s["path"]: s["reason"] for s in result["kept"]}
    assert "bias kept" in kept[chapter.mlp_last_bias]
    np.testing.assert_array_equal(chapter.read(net, chapter.mlp_last_bias), before)
    drawn_too = ps.reinit(net, "", "xavier_uniform", bias="same")  # asked for biases too: they cannot be
    skipped = {s["path"]: s["reason"] for s in drawn_too["skipped"]}
    assert "2 dimensions" in skipped[chapter.mlp_last_bias]
    np.testing.assert_array_equal(chapter.read(net, chapter.mlp_last_bias), before)


def test_every_catalogue_initializer_runs(chapter):
    for name in CATALOGUE:
        net = chapter.mlp()
        result = ps.reinit(net, chapter.mlp_first_weight, name, seed=0)
        assert result["changed"] == [chapter.mlp_first_weight], name


def test_default_init_draws_new_values(chapter):
    net = chapter.mlp()
    first = chapter.read(net, chapter.mlp_first_weight)
    ps.reinit(net, "", "default")
    second = chapter.read(net, chapter.mlp_first_weight)
    ps.reinit(net, "", "default")
    third = chapter.read(net, chapter.mlp_first_weight)
    assert not np.array_equal(first, second) and not np.array_equal(second, third)


def test_custom_init_strange_distribution(chapter):
    net = chapter.mlp()
    result = ps.reinit(net, "", chapter.my_init)
    assert chapter.mlp_first_weight in result["changed"]
    w = chapter.read(net, chapter.mlp_first_weight)
    assert ((w == 0) | ((np.abs(w) >= 5) & (np.abs(w) <= 10))).all()
    assert (w != 0).any()


def test_custom_init_found_by_name_in_the_namespace(chapter):
    net = chapter.mlp()
    reply = protocol.handle(
        {"id": 1, "op": "reinit", "model": "net", "path": "", "init": "my_init"},
        models={"net": net}, namespace={"net": net, "my_init": chapter.my_init},
    )
    assert reply["ok"], reply
    w = chapter.read(net, chapter.mlp_first_weight)
    assert ((w == 0) | (np.abs(w) >= 5)).all()
    listed = protocol.handle({"id": 2, "op": "initializers", "model": "net"}, models={"net": net},
                             namespace={"net": net, "my_init": chapter.my_init})
    assert "my_init" in listed["result"]["custom"]


def test_seeded_reinit_is_reproducible_and_leaves_global_rng_alone(chapter):
    net = chapter.mlp()
    rng_before = chapter.rng_state()
    ps.reinit(net, "", "normal", seed=3)
    a = chapter.read(net, chapter.mlp_first_weight)
    ps.reinit(net, "", "normal", seed=3)
    b = chapter.read(net, chapter.mlp_first_weight)
    ps.reinit(net, "", "default", seed=5)
    c = chapter.read(net, chapter.mlp_first_weight)
    ps.reinit(net, "", "default", seed=5)
    d = chapter.read(net, chapter.mlp_first_weight)
    assert chapter.rng_state() == rng_before
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(c, d)
    ps.reinit(net, "", "normal", seed=4)
    assert not np.array_equal(a, chapter.read(net, chapter.mlp_first_weight))


def test_unseeded_reinit_draws_different_values(chapter):
    net = chapter.mlp()
    ps.reinit(net, "", "normal")
    a = chapter.read(net, chapter.mlp_first_weight)
    ps.reinit(net, "", "normal")
    assert not np.array_equal(a, chapter.read(net, chapter.mlp_first_weight))


# -- Setting values directly ---------------------------------------------------------------------------------------

def test_set_value_plus_one_as_a_function(chapter):
    net = chapter.mlp()
    before = chapter.read(net, chapter.mlp_first_weight)
    ps.set_value(net, chapter.mlp_first_weight, lambda w: w + 1)
    np.testing.assert_allclose(chapter.read(net, chapter.mlp_first_weight), before + 1)


def test_set_value_plus_one_as_mode_add(chapter):
    net = chapter.mlp()
    before = chapter.read(net, chapter.mlp_first_weight)
    ps.set_value(net, chapter.mlp_first_weight, 1, mode="add")
    np.testing.assert_allclose(chapter.read(net, chapter.mlp_first_weight), before + 1)


def test_set_one_element_to_42(chapter):
    net = chapter.mlp()
    before = chapter.read(net, chapter.mlp_first_weight)
    ps.set_value(net, chapter.mlp_first_weight, 42, index=(0, 0))
    after = chapter.read(net, chapter.mlp_first_weight)
    assert after[0, 0] == 42
    before[0, 0] = 42
    np.testing.assert_array_equal(after, before)


def test_set_a_slice_from_text_index(chapter):
    net = chapter.mlp()
    ps.set_value(net, chapter.mlp_first_weight, 0, index="1:3, :")
    w = chapter.read(net, chapter.mlp_first_weight)
    assert (w[1:3] == 0).all() and (w[0] != 0).any()


def test_set_whole_param_from_array(chapter):
    net = chapter.mlp()
    shape = chapter.read(net, chapter.mlp_first_weight).shape
    value = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    ps.set_value(net, chapter.mlp_first_weight, value.tolist())
    np.testing.assert_array_equal(chapter.read(net, chapter.mlp_first_weight), value)


# -- Tied parameters -----------------------------------------------------------------------------------------------

def test_tied_params_are_counted_once_and_shown_at_every_use(chapter):
    net = chapter.shared_net()
    tree = ps.inspect(net)
    a, b = chapter.shared_uses
    assert tree.n_params == chapter.n_unique_params(net)
    assert tree.n_params_with_aliases > tree.n_params
    nodes = param_nodes(tree)
    assert nodes[a].tied_to is None and b in nodes[a].aliases
    assert nodes[b].tied_to == a and nodes[b].aliases == [a]


def test_tied_params_change_together(chapter):
    net = chapter.shared_net()
    a, b = chapter.shared_uses
    ps.set_value(net, a, 42, index=(0, 0))
    assert chapter.read(net, b)[0, 0] == 42
    np.testing.assert_array_equal(chapter.read(net, a), chapter.read(net, b))


def test_tied_param_grad_is_sum(chapter):
    net = chapter.shared_net()
    a, b = chapter.shared_uses
    chapter.backward(net, chapter.X())
    grad = chapter.grad(net, a)
    stats = ps.stats(net, a + "#grad")
    assert stats["available"], stats
    assert stats["numel"] == grad.size
    np.testing.assert_allclose(stats["mean"], grad.mean(), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(stats["max"], grad.max(), rtol=1e-6)
    assert ps.stats(net, b + "#grad")["mean"] == stats["mean"]


def test_grad_stats_before_backward_say_why(chapter):
    net = chapter.mlp()
    stats = ps.stats(net, chapter.mlp_first_weight + "#grad")
    assert stats["available"] is False
    assert "gradient" in stats["reason"]


def test_tie_then_untie_then_undo(chapter):
    rgnet = chapter.rgnet()
    a, b = chapter.tie_pair
    n_before = ps.inspect(rgnet).n_params
    ps.tie(rgnet, b, a)
    assert chapter.same_param(rgnet, a, b)
    tree = ps.inspect(rgnet)
    assert tree.n_params == n_before - chapter.read(rgnet, a).size
    assert param_nodes(tree)[b].tied_to == a
    chapter.forward(rgnet, chapter.X())
    ps.untie(rgnet, b)
    assert not chapter.same_param(rgnet, a, b)
    np.testing.assert_array_equal(chapter.read(rgnet, a), chapter.read(rgnet, b))
    ps.undo(rgnet)
    assert chapter.same_param(rgnet, a, b)
    ps.undo(rgnet)
    assert not chapter.same_param(rgnet, a, b)
    assert ps.inspect(rgnet).n_params == n_before


# -- Deferred initialization ---------------------------------------------------------------------------------------

def test_deferred_init_is_shown_then_filled_in(chapter):
    net = chapter.lazy_net()
    tree = ps.inspect(net)
    # Gluon gives values at once to params whose shape is known (a Dense bias), as the chapter shows.
    ready = set(getattr(chapter, "ready_before_forward", ()))
    nodes = param_nodes(tree)
    assert {n.state for p, n in nodes.items() if p not in ready} == {chapter.lazy_state}
    assert all(nodes[p].state == "ready" for p in ready)
    assert tree.state == chapter.lazy_state
    stats = ps.stats(net, next(p for p in nodes if p not in ready))
    assert stats["available"] is False and stats["reason"]
    chapter.forward(net, chapter.X())
    tree = ps.inspect(net)
    assert {n.state for n in param_nodes(tree).values()} == {"ready"}
    assert tree.n_params == chapter.n_unique_params(net) > 0


def test_deferred_params_refuse_reinit_clearly(chapter):
    net = chapter.lazy_net()
    ready = set(getattr(chapter, "ready_before_forward", ()))
    path = next(p for p in param_nodes(ps.inspect(net)) if p not in ready)
    with pytest.raises(ps.ActionError, match="forward"):
        ps.reinit(net, path, "normal")


# -- Atomicity and undo --------------------------------------------------------------------------------------------

FAILURES = {
    "unknown path": lambda ch, net: ps.reinit(net, "no.such.layer", "normal"),
    "unknown initializer": lambda ch, net: ps.reinit(net, "", "gaussian"),
    "bad initializer argument": lambda ch, net: ps.reinit(net, "", "normal", sigma=2),
    "set value of the wrong shape": lambda ch, net: ps.set_value(net, ch.mlp_first_weight, ch.wrong_shape_value),
    "index out of range": lambda ch, net: ps.set_value(net, ch.mlp_first_weight, 1.0, index=(99, 0)),
    "value that is not a number": lambda ch, net: ps.set_value(net, ch.mlp_first_weight, "abc"),
    "tie params of different shapes": lambda ch, net: ps.tie(net, ch.mlp_first_weight, ch.mlp_last_bias),
    "untie a param that is not tied": lambda ch, net: ps.untie(net, ch.mlp_first_weight),
    "custom init that raises half way": lambda ch, net: ps.reinit(net, "", ch.failing_init),
    "custom init of the wrong shape": lambda ch, net: ps.reinit(net, ch.mlp_first_weight, ch.wrong_shape_init),
    "stats of a block": lambda ch, net: ps.stats(net, ch.mlp_first),
    "bad seed": lambda ch, net: ps.reinit(net, "", "normal", seed=-1),
}


@pytest.mark.parametrize("failure", list(FAILURES))
def test_failing_action_leaves_model_bit_identical(chapter, failure):
    net = chapter.mlp()
    before = chapter.state(net)
    revision = actions.revision(net)
    with pytest.raises(ps.ActionError) as error:
        FAILURES[failure](chapter, net)
    assert str(error.value)
    assert chapter.state(net) == before
    assert actions.revision(net) == revision


def test_non_model_object_is_refused():
    with pytest.raises(ps.ActionError, match="not a model"):
        ps.inspect(object())
    with pytest.raises(ps.ActionError, match="not a model"):
        ps.reinit([1, 2, 3], "", "normal")


def random_action(chapter, net, rng: random.Random, paths: list[str]) -> None:
    kind = rng.choice(["reinit", "reinit_block", "set", "set_fn", "tie", "untie"])
    path = rng.choice(paths)
    try:
        if kind == "reinit":
            ps.reinit(net, path, rng.choice(["normal", "zeros", "uniform", "constant(3)", "default"]),
                      seed=rng.randrange(100))
        elif kind == "reinit_block":
            ps.reinit(net, rng.choice(chapter.own_block_paths(net)), "normal", seed=rng.randrange(100))
        elif kind == "set":
            ps.set_value(net, path, rng.uniform(-5, 5))
        elif kind == "set_fn":
            ps.set_value(net, path, lambda w: w * 2)
        elif kind == "tie":
            ps.tie(net, path, rng.choice(paths))
        else:
            ps.untie(net, path)
    except ps.ActionError:
        pass  # refused actions (tie of different shapes, nothing to untie) are part of the mix


@pytest.mark.parametrize("seed", range(4))
def test_undo_random_action_sequences_is_bit_identical(chapter, seed):
    net = chapter.rgnet()
    paths = chapter.own_param_paths(net)
    rng = random.Random(seed)
    states = [chapter.state(net)]
    for _ in range(20):
        n = len(ps.history(net)["entries"])
        random_action(chapter, net, rng, paths)
        if len(ps.history(net)["entries"]) > n:
            states.append(chapter.state(net))
    assert len(states) > 4
    while len(states) > 1:
        assert chapter.state(net) == states.pop()
        ps.undo(net)
    assert chapter.state(net) == states[0]
    with pytest.raises(ps.ActionError, match="nothing to undo"):
        ps.undo(net)


def test_history_is_bounded_and_says_so(chapter, monkeypatch):
    monkeypatch.setattr(actions, "HISTORY_LIMIT_ENTRIES", 3)
    net = chapter.mlp()
    for i in range(5):
        result = ps.set_value(net, chapter.mlp_first_weight, float(i))
    assert "dropped" in result["note"]
    hist = ps.history(net)
    assert len(hist["entries"]) == 3 and hist["dropped"] == 2
    for _ in range(3):
        ps.undo(net)
    with pytest.raises(ps.ActionError, match="dropped"):
        ps.undo(net)


def test_history_byte_limit(chapter, monkeypatch):
    net = chapter.mlp()
    size = chapter.read(net, chapter.mlp_first_weight).nbytes
    monkeypatch.setattr(actions, "HISTORY_LIMIT_BYTES", size - 1)
    result = ps.set_value(net, chapter.mlp_first_weight, 1.0)
    assert "cannot be undone" in result["note"]
    assert result["action"]["undoable"] is False
    with pytest.raises(ps.ActionError, match="cannot be undone"):
        ps.undo(net)


# -- The protocol, as every front end uses it ----------------------------------------------------------------------

def test_protocol_tree_stats_and_actions(chapter):
    net = chapter.mlp()
    models = {"net": net}

    def ask(**req):
        return protocol.handle({"id": 7, **req}, models=models, namespace=models)

    listed = ask(op="models")
    assert listed["ok"] and listed["result"]["models"][0]["name"] == "net"
    assert listed["result"]["models"][0]["framework"] == chapter.framework
    root = ask(op="tree", model="net", path="", depth=1)
    assert root["ok"] and root["id"] == 7 and root["revision"] == 0
    assert [c["path"] for c in root["result"]["node"]["children"]] == [
        c.path for c in ps.inspect(net, depth=1).children]
    stats = ask(op="stats", model="net", path=chapter.mlp_first_weight, bins=8)
    assert stats["ok"] and len(stats["result"]["hist"]["counts"]) == 8
    assert sum(stats["result"]["hist"]["counts"]) == stats["result"]["numel"]
    values = ask(op="values", model="net", path=chapter.mlp_first_weight, max_elems=8)
    assert values["ok"] and values["result"]["rows"] * values["result"]["cols"] <= 8
    done = ask(op="reinit", model="net", path=chapter.mlp_first, init="constant", args={"value": 42})
    assert done["ok"] and done["revision"] == 1
    assert (chapter.read(net, chapter.mlp_first_weight) == 42).all()
    bad = ask(op="set_value", model="net", path=chapter.mlp_first_weight, value=chapter.wrong_shape_value)
    assert bad["ok"] is False and bad["error"]["type"] == "ActionError" and "shape" in bad["error"]["message"]
    assert bad["revision"] == 1
    undone = ask(op="undo", model="net")
    assert undone["ok"] and undone["revision"] == 2
    assert not (chapter.read(net, chapter.mlp_first_weight) == 42).all()
    json_text = protocol.to_json(ask(op="tree", model="net", depth=None))
    assert "NaN" not in json_text
