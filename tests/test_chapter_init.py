"""The chapter's initialization section, exactly, in every framework (issue #19): draw order, repeated custom
inits, initializer classes and the list, each layer's own default, one count rule, user seeds, biases."""

from __future__ import annotations

import numpy as np
import pytest

import paramscope as ps
from paramscope import protocol
from paramscope._errors import ActionError


def values(chapter, net) -> dict[str, np.ndarray]:
    return {path: chapter.read(net, path) for path in chapter.own_param_paths(net)}


def assert_same_values(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert list(a) == list(b)
    for path in a:
        np.testing.assert_array_equal(a[path], b[path], err_msg=path)


# -- 1. draw order: the framework's own parameter order ----------------------------------------------------------

def test_seeded_normal_equals_the_chapters_own_init_normal(chapter):
    ours, theirs = chapter.mlp(), chapter.mlp()
    result = ps.reinit(ours, "", "normal", std=0.01, seed=0)
    chapter.init_normal_loop(theirs, 0)
    assert_same_values(values(chapter, ours), values(chapter, theirs))
    assert result["changed"] == chapter.own_param_paths(ours)  # weights and zeroed biases, in the model's order
    assert result["bias"] == "zeros"
    assert (chapter.read(ours, chapter.mlp_last_bias) == 0).all()


def test_normal_on_everything_draws_in_the_frameworks_own_order(chapter):
    ours, theirs = chapter.rgnet(), chapter.rgnet()
    result = ps.reinit(ours, "", "normal", std=0.01, seed=7, bias="same")
    chapter.normal_everything_loop(theirs, 7)
    assert result["changed"] == chapter.own_param_paths(ours)
    assert result["bias"] == "same"
    assert_same_values(values(chapter, ours), values(chapter, theirs))


# -- 2. a custom init that writes the values a tensor already has succeeds --------------------------------------

def test_repeated_constant_init_succeeds(chapter):
    net = chapter.mlp()
    first = ps.reinit(net, "", chapter.init_constant)
    second = ps.reinit(net, "", chapter.init_constant)
    assert first["changed"] == second["changed"] and chapter.mlp_first_weight in second["changed"]
    weight, bias = chapter.init_constant_values
    assert (chapter.read(net, chapter.mlp_first_weight) == weight).all()
    assert (chapter.read(net, chapter.mlp_last_bias) == bias).all()
    assert len(ps.history(net)["entries"]) == 2


def test_repeated_seeded_custom_init_succeeds_with_the_same_values(chapter):
    net = chapter.mlp()
    ps.reinit(net, "", chapter.my_init_as_written, seed=0)
    once = values(chapter, net)
    result = ps.reinit(net, "", chapter.my_init_as_written, seed=0)
    assert chapter.mlp_first_weight in result["changed"]
    assert_same_values(once, values(chapter, net))


# -- 3. initializer classes work, and the list offers initializers only ------------------------------------------

def test_the_chapters_my_init_as_written_works(chapter):
    net = chapter.mlp()
    result = ps.reinit(net, chapter.mlp_first, chapter.my_init_as_written)
    assert chapter.mlp_first_weight in result["changed"]
    w = chapter.read(net, chapter.mlp_first_weight)
    assert ((w == 0) | ((np.abs(w) >= 5) & (np.abs(w) <= 10))).all() and (w != 0).any()


def test_only_real_initializers_of_the_models_framework_are_listed(chapter):
    namespace, expected = chapter.initializer_namespace()
    net = chapter.mlp()
    namespace["net"] = net
    reply = protocol.handle({"id": 1, "op": "initializers", "model": "net"}, models={"net": net},
                            namespace=namespace)
    assert reply["ok"], reply
    assert set(reply["result"]["custom"]) == expected
    for name in expected:  # every listed one applies from the protocol
        applied = protocol.handle({"id": 2, "op": "reinit", "model": "net", "path": chapter.mlp_first_weight,
                                   "init": name}, models={"net": net}, namespace=namespace)
        assert applied["ok"], (name, applied)
    for name in ("exit", "quit", "open", "print", "block1"):
        refused = protocol.handle({"id": 3, "op": "reinit", "model": "net", "path": "", "init": name},
                                  models={"net": net}, namespace=namespace)
        assert not refused["ok"] and "not an initializer" in refused["error"]["message"], (name, refused)


def test_exit_is_refused_and_an_initializer_that_exits_changes_nothing(chapter):
    import builtins

    net = chapter.mlp()
    before = chapter.state(net)
    with pytest.raises(ActionError, match="not an initializer"):
        ps.reinit(net, "", builtins.exit)
    with pytest.raises(ActionError, match="called exit"):
        ps.reinit(net, "", chapter.exiting_init)
    assert chapter.state(net) == before
    reply = protocol.handle({"id": 1, "op": "reinit", "model": "net", "path": "", "init": "bye"},
                            models={"net": net}, namespace={"net": net, "bye": chapter.exiting_init})
    assert not reply["ok"] and "called exit" in reply["error"]["message"]
    assert protocol.to_json(reply)  # the answer is valid JSON, whatever the initializer raised with
    assert chapter.state(net) == before


def test_printed_output_comes_back_in_the_result(chapter):
    net = chapter.mlp()
    result = ps.reinit(net, "", chapter.printing_init)
    assert "init " in result["output"] and "rows" in result["output"]
    reply = protocol.handle({"id": 1, "op": "reinit", "model": "net", "path": "", "init": "p"},
                            models={"net": net}, namespace={"net": net, "p": chapter.printing_init})
    assert reply["ok"] and "rows" in reply["result"]["output"]


# -- 4. default reinit uses each built-in layer's own initializer -------------------------------------------------

def test_default_reinit_of_depthwise_and_embedding_layers(chapter):
    net = chapter.depthwise_net()
    before = values(chapter, net)
    result = ps.reinit(net, "", "default")
    assert result["skipped"] == []
    assert [p for p in result["changed"] if p in before] == chapter.own_param_paths(net)
    kernels = [p for p in before if before[p].ndim > 1]
    assert kernels and all(not np.array_equal(before[p], chapter.read(net, p)) for p in kernels)


# -- 5. one count rule: parameters (trainable + frozen), running statistics apart -------------------------------

def test_counts_mean_the_same_thing_in_every_framework(chapter):
    net = chapter.bn_net()
    params, stats, native = chapter.native_counts(net)
    tree = ps.inspect(net)
    assert tree.n_params == params
    assert tree.n_buffers >= stats > 0  # PyTorch adds num_batches_tracked
    assert native in (tree.n_params, tree.n_params + tree.n_buffers)
    summary = protocol.handle({"id": 1, "op": "models"}, models={"net": net}, namespace={"net": net})
    assert summary["result"]["models"][0]["n_buffers"] == tree.n_buffers
    running = tree.find(chapter.bn_running_var)
    assert running is not None and running.kind == "buffer" and running.n_params == 0 and running.n_buffers > 0


# -- 6. a seed the user gave an initializer is respected ----------------------------------------------------------

def test_a_users_seeded_initializer_is_not_reseeded(chapter):
    net = chapter.mlp()
    init, draw = chapter.user_seeded_init()
    path = chapter.mlp_first_weight
    for seed in (None, 11):
        ps.reinit(net, path, init, seed=seed)
        np.testing.assert_array_equal(chapter.read(net, path), draw(chapter.read(net, path).shape))


# -- 7. catalogue inits on a block: the chapter's bias choice, and running statistics ---------------------------

def test_bias_choice_on_a_block(chapter):
    net = chapter.mlp()
    before = chapter.read(net, chapter.mlp_last_bias)
    kept = ps.reinit(net, "", "constant", value=42, bias="keep")  # the chapter's init_42
    assert (chapter.read(net, chapter.mlp_first_weight) == 42).all()
    np.testing.assert_array_equal(chapter.read(net, chapter.mlp_last_bias), before)
    assert kept["bias"] == "keep" and chapter.mlp_last_bias in {k["path"] for k in kept["kept"]}
    assert chapter.mlp_last_bias not in kept["changed"] and "biases kept" in kept["action"]["description"]
    ps.reinit(net, "", "constant", value=3, bias="same")
    assert (chapter.read(net, chapter.mlp_last_bias) == 3).all()
    ps.reinit(net, "", "constant", value=1)  # the chapter's init_constant: biases zero
    assert (chapter.read(net, chapter.mlp_last_bias) == 0).all()
    xavier = ps.reinit(net, "", "xavier_uniform")  # the chapter's init_xavier: weights only
    assert xavier["bias"] == "keep" and (chapter.read(net, chapter.mlp_last_bias) == 0).all()
    with pytest.raises(ActionError, match="bias must be one of"):
        ps.reinit(net, "", "normal", bias="half")
    with pytest.raises(ActionError, match="single parameter"):
        ps.reinit(net, chapter.mlp_first_weight, "normal", bias="keep")


def test_bias_choice_from_the_protocol(chapter):
    net = chapter.mlp()
    before = chapter.read(net, chapter.mlp_last_bias)
    reply = protocol.handle({"id": 1, "op": "reinit", "model": "net", "path": "", "init": "normal",
                             "args": {"std": 0.5}, "seed": 1, "bias": "keep"}, models={"net": net},
                            namespace={"net": net})
    assert reply["ok"] and reply["result"]["bias"] == "keep"
    np.testing.assert_array_equal(chapter.read(net, chapter.mlp_last_bias), before)
    listed = protocol.handle({"id": 2, "op": "initializers", "model": "net"}, models={"net": net},
                             namespace={"net": net})
    biases = {i["name"]: i["bias"] for i in listed["result"]["catalogue"]}
    assert biases["normal"] == "zeros" and biases["xavier_uniform"] == "keep" and biases["default"] is None


def test_catalogue_init_of_a_block_leaves_running_statistics_valid(chapter):
    net = chapter.bn_net()
    var, mean = chapter.read_any(net, chapter.bn_running_var), chapter.read_any(net, chapter.bn_running_mean)
    result = ps.reinit(net, "", "normal", std=1.0, seed=0)
    np.testing.assert_array_equal(chapter.read_any(net, chapter.bn_running_var), var)
    np.testing.assert_array_equal(chapter.read_any(net, chapter.bn_running_mean), mean)
    kept = {k["path"]: k["reason"] for k in result["kept"]}
    assert "running statistic" in kept[chapter.bn_running_var]
    assert np.isfinite(chapter.forward_eval(net)).all()
    ps.reinit(net, "", "default")  # the layer's own initializers: moving mean 0, variance 1
    np.testing.assert_array_equal(chapter.read_any(net, chapter.bn_running_var), np.ones_like(var))
    np.testing.assert_array_equal(chapter.read_any(net, chapter.bn_running_mean), np.zeros_like(mean))


def test_ipython_exit_inside_an_initializer_is_an_error_and_queues_nothing(monkeypatch):
    """In a notebook `exit` is IPython's autocall: exit(m) queued an "ask_exit" payload holding the module, and
    the next cell's reply could not be serialized (the cell hung at [*]); exit() would end the kernel."""
    IPython = pytest.importorskip("IPython")
    zmqshell = pytest.importorskip("ipykernel.zmqshell")
    from IPython.core.payload import PayloadManager

    torch = pytest.importorskip("torch")

    class Shell:
        ask_exit = zmqshell.ZMQInteractiveShell.ask_exit

        def __init__(self) -> None:
            self.exit_now, self.keepkernel_on_exit = False, None
            self.payload_manager, self.user_ns = PayloadManager(), {}

    shell = Shell()
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    exit_ = zmqshell.ZMQExitAutocall(shell)

    def bye(m):
        exit_(m)

    def bye_now(m):
        exit_()

    net = torch.nn.Sequential(torch.nn.Linear(2, 2))
    before = net[0].weight.detach().clone()
    for init in (bye, bye_now):
        with pytest.raises(ActionError, match="called exit"):
            ps.reinit(net, "", init)
        assert shell.payload_manager.read_payload() == [] and shell.exit_now is False
        assert torch.equal(net[0].weight.detach(), before)
    ps.reinit(net, "", "normal")  # the next action (and cell) works as usual
