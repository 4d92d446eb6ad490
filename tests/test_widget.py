"""The inline widget's Python side: messages in, `protocol.handle` answers out; the first answer's size."""

from __future__ import annotations

import gc
import json

import pytest

from tests.conftest import require


@pytest.fixture
def torch_nn():
    require("pytorch")
    import torch
    from torch import nn

    return torch, nn


TREE = {"op": "tree", "path": "", "depth": 1, "offset": 0, "limit": 200}


def _answers(widget, *requests):
    sent = []
    widget.send = sent.append
    for request in requests:
        widget._answer(widget, request, [])
    return sent


def test_show_answers_tree_requests_for_its_model(torch_nn):
    import paramscope as ps

    _, nn = torch_nn
    shared = nn.Linear(8, 8)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), shared, nn.ReLU(), shared)
    widget = ps.show(net, name="net")
    assert (widget.model_name, widget.framework) == ("net", "pytorch")
    [reply] = _answers(widget, {**TREE, "id": 7, "model": "net"})
    assert reply["id"] == 7 and reply["ok"]
    node = reply["result"]["node"]
    assert node["n_params"] == 40 + 72
    assert [c["tied_to"] for c in node["children"]] == [None, None, None, None, "2"]


def test_actions_change_the_model_and_errors_change_nothing(torch_nn):
    import paramscope as ps

    torch, nn = torch_nn
    net = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 8))
    widget = ps.show(net, name="net")
    before = net[0].weight.detach().clone()
    ok, refused = _answers(
        widget,
        {"id": 1, "op": "reinit", "model": "net", "path": "0", "init": "constant", "args": {"value": 42},
         "seed": None},
        {"id": 2, "op": "tie", "model": "net", "path": "0.weight", "to": "1.weight"},
    )
    assert ok["ok"] and ok["revision"] == 1
    assert torch.all(net[0].weight == 42)
    assert not refused["ok"] and "shapes differ" in refused["error"]["message"]
    assert refused["revision"] == 1
    [undone] = _answers(widget, {"id": 3, "op": "undo", "model": "net"})
    assert undone["ok"] and torch.equal(net[0].weight, before)


def test_answers_are_strict_json(torch_nn):
    import paramscope as ps

    torch, nn = torch_nn
    net = nn.Sequential(nn.Linear(2, 2))
    with torch.no_grad():
        net[0].weight.fill_(float("nan"))
    widget = ps.show(net, name="net")
    [reply] = _answers(widget, {"id": 1, "op": "values", "model": "net", "path": "0.weight"})
    json.dumps(reply, allow_nan=False)
    assert reply["result"]["data"] == [[None, None], [None, None]]


def test_the_widget_does_not_keep_a_deleted_model_alive(torch_nn):
    import paramscope as ps

    _, nn = torch_nn
    from paramscope import session

    namespace = session.user_namespace()  # IPython's if a shell exists in this process, else __main__
    namespace["net"] = nn.Sequential(nn.Linear(2, 2))
    widget = ps.show(namespace["net"], name="net")
    del namespace["net"]
    gc.collect()
    [reply] = _answers(widget, {"id": 1, "op": "tree", "model": "net", "path": ""})
    assert not reply["ok"] and "no model named 'net'" in reply["error"]["message"]


def test_an_unnamed_model_lives_as_long_as_its_widget(torch_nn):
    import paramscope as ps

    _, nn = torch_nn
    widget = ps.show(nn.Sequential(nn.Linear(2, 2)), name="net")
    gc.collect()
    [reply] = _answers(widget, {"id": 1, "op": "tree", "model": "net", "path": ""})
    assert reply["ok"] and reply["result"]["node"]["n_params"] == 6


def test_bad_requests_get_a_clear_error(torch_nn):
    import paramscope as ps

    _, nn = torch_nn
    widget = ps.show(nn.Linear(2, 2), name="layer")
    replies = _answers(widget, ["not", "an", "object"], {"id": 2, "op": "tree", "model": "layer", "path": 3},
                       {"id": 3, "op": "launch", "model": "layer"})
    assert [r["ok"] for r in replies] == [False, False, False]
    messages = [r["error"]["message"] for r in replies]
    assert "a request is a JSON object" in messages[0]
    assert "field 'path' must be str" in messages[1]
    assert "unknown op 'launch'" in messages[2]


def test_show_refuses_what_is_not_a_model():
    import paramscope as ps

    with pytest.raises(ps.ActionError, match="not a model paramscope knows"):
        ps.show(object(), name="thing")


def _gpt2(nn, torch):
    """GPT-2 small's structure (124M parameters, wte tied to lm_head) built from code on the meta device."""

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln_1 = nn.LayerNorm(768)
            self.attn = nn.ModuleDict({"c_attn": nn.Linear(768, 3 * 768), "c_proj": nn.Linear(768, 768)})
            self.ln_2 = nn.LayerNorm(768)
            self.mlp = nn.ModuleDict({"c_fc": nn.Linear(768, 4 * 768), "c_proj": nn.Linear(4 * 768, 768)})

    class GPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = nn.ModuleDict({
                "wte": nn.Embedding(50257, 768),
                "wpe": nn.Embedding(1024, 768),
                "h": nn.ModuleList([Block() for _ in range(12)]),
                "ln_f": nn.LayerNorm(768),
            })
            self.lm_head = nn.Linear(768, 50257, bias=False)
            self.lm_head.weight = self.transformer["wte"].weight

    with torch.device("meta"):
        return GPT()


def test_first_tree_answer_of_a_gpt2_sized_model_is_a_few_kb(torch_nn):
    import paramscope as ps

    torch, nn = torch_nn
    gpt = _gpt2(nn, torch)
    [reply] = _answers(ps.show(gpt, name="gpt"), {**TREE, "id": 1, "model": "gpt"})
    node = reply["result"]["node"]
    assert node["n_params"] == 124_439_808
    size = len(json.dumps(reply, separators=(",", ":")))
    assert size < 4096, size


def test_a_change_made_elsewhere_reaches_the_open_widget(torch_nn):
    """The sidebar (protocol.handle in a silent execute) or a cell changes the model: the widget is told."""
    import paramscope as ps
    from paramscope import protocol

    _, nn = torch_nn
    net = nn.Sequential(nn.Linear(2, 2))
    widget = ps.show(net, name="net")
    other = ps.show(nn.Sequential(nn.Linear(2, 2)), name="other")
    sent, other_sent = [], []
    widget.send, other.send = sent.append, other_sent.append
    protocol.handle({"id": 1, "op": "reinit", "model": "net", "init": "zeros"}, models={"net": net}, namespace={})
    ps.set_value(net, "0.bias", 1.0)
    ps.undo(net)
    assert sent == [{"event": "revision", "revision": r} for r in (1, 2, 3)]
    assert other_sent == []
    widget.close()
    ps.set_value(net, "0.bias", 2.0)
    assert len(sent) == 3
    other.close()


def test_the_widget_that_acts_is_not_told_twice(torch_nn):
    import paramscope as ps

    _, nn = torch_nn
    net = nn.Sequential(nn.Linear(2, 2))
    widget = ps.show(net, name="net")
    [reply] = _answers(widget, {"id": 1, "op": "reinit", "model": "net", "init": "zeros"})
    assert reply["ok"] and reply["revision"] == 1  # the answer only: no separate change notice
    widget.close()
