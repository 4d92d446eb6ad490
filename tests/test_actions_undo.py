"""Undo never loses the user's work and every action changes exactly what it reports (issue #15's cases, one by
one, in each framework): the owner's whole module is saved, failures leave everything bit for bit, dtype moves
are refused, and undo refuses (force=True overrides) when what it would revert was changed since."""

from __future__ import annotations

import pytest

from paramscope import protocol
from tests.undo_kit import kit, ps


@pytest.fixture
def torch_kit():
    return kit("pytorch")


def _conflict(model, match):
    with pytest.raises(ps.ActionError, match=match) as caught:
        ps.undo(model)
    assert type(caught.value).__name__ == "UndoConflict" and "force=True" in str(caught.value)


def test_default_reinit_of_a_param_changes_only_it_although_the_modules_reset_writes_a_child(torch_kit):
    net = torch_kit.make()
    with torch_kit.torch.no_grad():
        net.s.scale.fill_(3.0)
    before = torch_kit.state(net)
    result = ps.reinit(net, "s.scale", "default")  # Scaled.reset_parameters also resets s.lin
    assert result["changed"] == ["s.scale"]
    after = torch_kit.state(net)
    assert {p for p in before if before[p] != after[p]} == {"s.scale"}
    ps.undo(net)
    assert torch_kit.state(net) == before


def test_a_module_initializer_that_writes_children_reports_them_and_undo_gives_them_back(torch_kit):
    net = torch_kit.make()
    before = torch_kit.state(net)
    result = ps.reinit(net, "s", torch_kit.custom_inits()["writes_children"])
    assert result["changed"] == ["s.scale", "s.lin.weight", "s.lin.bias"]
    ps.undo(net)
    assert torch_kit.state(net) == before


def test_an_initializer_that_raises_after_writing_children_and_grads_changes_nothing(torch_kit):
    net = torch_kit.make()
    before = torch_kit.state(net)
    for target in ("s", "s.scale", ""):
        with pytest.raises(ps.ActionError, match=r"failed half way.*nothing was changed"):
            ps.reinit(net, target, torch_kit.custom_inits()["fails_after_writing"])
        assert torch_kit.state(net) == before  # values, gradients and bindings, bit for bit
    assert ps.history(net)["entries"] == []


def test_an_initializer_that_changes_the_dtype_is_refused(torch_kit):
    net = torch_kit.make()
    before = torch_kit.state(net)
    with pytest.raises(ps.ActionError, match=r"a.weight went from float32 .* to float64 .*keep its dtype"):
        ps.reinit(net, "a.weight", torch_kit.custom_inits()["to_double"])
    assert torch_kit.state(net) == before and net.a.weight.dtype == torch_kit.torch.float32


def test_undo_refuses_to_overwrite_a_later_edit_and_force_restores(torch_kit):
    torch = torch_kit.torch
    net = torch_kit.make()
    saved = net.a.weight.detach().clone()
    ps.reinit(net, "a", "normal")
    net.a.weight.data[0, 0] = 7.0  # .data writes move no version counter: the values' digest sees it
    edited = torch_kit.state(net)
    _conflict(net, r"a.weight has other values now")
    assert torch_kit.state(net) == edited
    result = ps.undo(net, force=True)
    assert result["forced"] and result["conflicts"] and torch.equal(net.a.weight, saved)


def test_undo_of_an_untouched_neighbour_is_not_refused(torch_kit):
    net = torch_kit.make()
    before = torch_kit.state(net)
    ps.reinit(net, "a.weight", "zeros")
    net.b.weight.data[:] = 1.0  # another tensor: nothing undo would revert
    ps.undo(net)
    after = torch_kit.state(net)
    assert after["a.weight"] == before["a.weight"] and after["b.weight"] != before["b.weight"]


def test_undo_of_a_tie_refuses_when_the_slot_was_rebound_since(torch_kit):
    nn = torch_kit.nn
    net = torch_kit.make()
    ps.tie(net, "b.bias", "bn.bias")
    net.b.bias = nn.Parameter(net.b.bias.detach().clone())
    _conflict(net, r"b.bias (is another object now|was rebound since)")


@pytest.mark.parametrize("convert", ["half", "double"])
def test_undo_after_a_dtype_conversion_refuses_and_force_keeps_the_model_one_dtype(torch_kit, convert):
    torch = torch_kit.torch
    net = torch_kit.make()
    ps.reinit(net, "a", "normal")
    ps.tie(net, "b.bias", "bn.bias")
    getattr(net, convert)()
    dtype = net.a.weight.dtype
    _conflict(net, r"b.bias is (float16|float64) .* now and the parameter undo would put back is float32")
    ps.undo(net, force=True)  # the tie: the parameter put back is converted as the model was
    _conflict(net, r"a.weight is (float16|float64) .* now, the action left it float32")
    result = ps.undo(net, force=True)
    assert all("restored as" in n["reason"] for n in result["notes"])
    assert {p.dtype for p in net.parameters()} == {dtype}
    if convert == "double":
        net.eval()
        net.s(net.bn(net.a(torch.ones(2, 3, dtype=dtype))))  # forward works: no mixed dtypes


def test_paths_with_spaces_and_quotes_act_fail_and_undo_exactly(torch_kit):
    net = torch_kit.make()
    models = {"net": net}
    before = torch_kit.state(net)
    for path in ("h.heads.a b", "h.heads.c'd"):
        now = torch_kit.state(net)
        bad = protocol.handle({"op": "set_value", "model": "net", "path": path, "value": [1.0, 2.0]}, models=models)
        assert not bad["ok"] and torch_kit.state(net) == now  # shape mismatch: refused, nothing written
        good = protocol.handle({"op": "set_value", "model": "net", "path": path, "value": 2.0, "index": "0"},
                               models=models)
        assert good["ok"] and good["result"]["changed"] == [path]
    for _ in range(2):
        assert protocol.handle({"op": "undo", "model": "net"}, models=models)["ok"]
    assert torch_kit.state(net) == before


def test_keras_assign_since_is_not_overwritten_and_untie_after_tie_undoes_bit_for_bit():
    k = kit("keras")
    np = k.np  # type: ignore[attr-defined]
    net = k.make()
    paths = [p for p in k.state(net) if not p.startswith("block ")]
    kernel = next(p for p in paths if p.endswith(f"{net.c.name}/kernel"))
    before = k.state(net)
    ps.reinit(net, kernel, "normal")
    net.c.kernel.assign(np.ones(net.c.kernel.shape, "float32"))
    _conflict(net, r"kernel has other values now \(assign\(\)")
    ps.undo(net, force=True)
    assert k.state(net) == before
    bias_c = next(p for p in paths if p.endswith(f"{net.c.name}/bias"))
    gamma = next(p for p in paths if p.endswith("/gamma"))
    ps.tie(net, bias_c, gamma)
    ps.untie(net, bias_c)  # gives the slot its old variable back, with the shared values
    ps.undo(net)
    ps.undo(net)
    assert k.state(net) == before


def test_keras_untie_gives_a_variable_its_own_storage():
    k = kit("keras")
    net = k.make()
    paths = [p for p in k.state(net) if not p.startswith("block ")]
    a = next(p for p in paths if p.endswith(f"{net.a.name}/bias"))
    b = next(p for p in paths if p.endswith(f"{net.b.name}/bias"))
    ps.tie(net, a, b)
    ps.untie(net, b)
    net.a.bias.assign(net.a.bias.numpy() + 1)
    assert not (net.a.bias.numpy() == net.b.bias.numpy()).all()


def test_mxnet_set_data_and_cast_since_make_undo_refuse():
    k = kit("mxnet")
    mx = k.mx  # type: ignore[attr-defined]
    net = k.make()
    before = k.state(net)
    ps.reinit(net, "a", "normal")
    net.a.weight.set_data(mx.nd.ones(net.a.weight.shape))
    _conflict(net, r"a.weight has other values now \(set_data")
    ps.undo(net, force=True)
    assert k.state(net) == before
    ps.reinit(net, "b", "normal")
    net.cast("float16")
    _conflict(net, r"b.weight is float16 .* now, the action left it float32")
    result = ps.undo(net, force=True)
    # (Gluon keeps BatchNorm's parameters float32 under cast("float16").)
    assert {net.a.weight.dtype, net.b.weight.dtype, net.b.bias.dtype} == {"float16"} and result["notes"]


def test_mxnet_replaced_block_makes_undo_refuse():
    k = kit("mxnet")
    mx = k.mx  # type: ignore[attr-defined]
    net = k.make()
    ps.reinit(net, "b", "normal")
    new = mx.gluon.nn.Dense(4, in_units=4)
    new.initialize()
    net.b = new
    _conflict(net, r"b.weight (is gone|is another object now)")
