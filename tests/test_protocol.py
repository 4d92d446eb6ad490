"""The protocol edge: malformed requests, errors as data, base64 kernel calls, revisions, deleted models."""

from __future__ import annotations

import base64
import json

import pytest

from paramscope import protocol

torch = pytest.importorskip("torch", reason="PyTorch is not installed in this environment")
from torch import nn  # noqa: E402


@pytest.fixture
def ns():
    return {"net": nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1)), "x": 3}


def ask(ns, **req):
    return protocol.handle({"id": "r1", **req}, namespace=ns)


def test_models_lists_only_models(ns):
    reply = ask(ns, op="models")
    assert reply["ok"] and [m["name"] for m in reply["result"]["models"]] == ["net"]
    summary = reply["result"]["models"][0]
    assert summary["n_params"] == 49 and summary["framework"] == "pytorch" and summary["type"] == "Sequential"


@pytest.mark.parametrize(
    ("request_", "kind"),
    [
        ({"op": "tree"}, "BadRequest"),  # no model
        ({"op": "fly", "model": "net"}, "BadRequest"),
        ({"op": "tree", "model": "net", "depth": "deep"}, "BadRequest"),
        ({"op": "stats", "model": "net"}, "BadRequest"),
        ({"op": "tree", "model": "gone"}, "ActionError"),
        ({"op": "tree", "model": "net", "path": "9.weight"}, "ActionError"),
        ({"op": "set_value", "model": "net", "path": "0.weight"}, "BadRequest"),
        ({"op": "set_value", "model": "net", "path": "0.weight", "fn": "x"}, "ActionError"),
    ],
)
def test_bad_requests_are_answered_not_raised(ns, request_, kind):
    before = {k: v.clone() for k, v in ns["net"].state_dict().items()}
    reply = ask(ns, **request_)
    assert reply["ok"] is False and reply["error"]["type"] == kind and reply["error"]["message"]
    assert reply["id"] == "r1"
    assert all(torch.equal(before[k], v) for k, v in ns["net"].state_dict().items())


def test_request_as_json_text(ns):
    reply = protocol.handle(json.dumps({"id": 5, "op": "tree", "model": "net", "depth": 0}), namespace=ns)
    assert reply["ok"] and "children" not in reply["result"]["node"]


def test_tree_pages_children(ns):
    wide = nn.Sequential(*[nn.Linear(2, 2) for _ in range(25)])
    reply = protocol.handle({"id": 1, "op": "tree", "model": "wide", "depth": 1, "offset": 10, "limit": 5},
                            namespace={"wide": wide})
    node = reply["result"]["node"]
    assert node["n_children"] == 25 and node["children_offset"] == 10
    assert [c["path"] for c in node["children"]] == ["10", "11", "12", "13", "14"]


def test_call_decodes_base64_and_renders_mime_json(ns, monkeypatch):
    monkeypatch.setattr(protocol.session, "user_namespace", lambda: ns)
    encoded = base64.b64encode(json.dumps({"id": 9, "op": "stats", "model": "net", "path": "2.bias"}).encode())
    bundle = protocol.call(encoded.decode())._repr_mimebundle_()
    reply = bundle[protocol.MIME]
    assert reply["id"] == 9 and reply["ok"] and reply["result"]["numel"] == 1
    assert json.loads(bundle["text/plain"]) == reply
    broken = protocol.call("not base64 json!")._repr_mimebundle_()[protocol.MIME]
    assert broken["ok"] is False and broken["error"]["type"] == "BadRequest"


def test_revision_counts_actions_and_undo(ns):
    assert ask(ns, op="tree", model="net")["revision"] == 0
    assert ask(ns, op="reinit", model="net", path="0", init="zeros")["revision"] == 1
    assert ask(ns, op="set_value", model="net", path="0.weight", value=1, index=[0, 0])["revision"] == 2
    assert ask(ns, op="undo", model="net")["revision"] == 3
    history = ask(ns, op="history", model="net")["result"]
    assert [e["op"] for e in history["entries"]] == ["reinit"]


def test_set_value_with_a_function_from_the_namespace(ns):
    ns["plus_one"] = lambda w: w + 1
    before = ns["net"][0].weight.detach().clone()
    reply = ask(ns, op="set_value", model="net", path="0.weight", fn="plus_one")
    assert reply["ok"], reply
    assert torch.equal(ns["net"][0].weight.detach(), before + 1)


def test_index_as_json_list_and_text(ns):
    assert ask(ns, op="set_value", model="net", path="0.weight", value=5, index=[1, None])["ok"]
    assert (ns["net"][0].weight[1] == 5).all()
    assert ask(ns, op="set_value", model="net", path="0.weight", value=6, index="2, 1:3")["ok"]
    assert (ns["net"][0].weight[2, 1:3] == 6).all() and ns["net"][0].weight[2, 0] != 6
    assert ask(ns, op="set_value", model="net", path="0.weight", value=7, index=[[0, 2], 0])["ok"]
    assert (ns["net"][0].weight[0:2, 0] == 7).all()


def test_deleted_model_disappears(ns):
    assert ask(ns, op="tree", model="net")["ok"]
    del ns["net"]
    reply = ask(ns, op="tree", model="net")
    assert reply["ok"] is False and "refresh" in reply["error"]["message"]
    assert ask(ns, op="models")["result"]["models"] == []


def test_strict_json_has_no_nan():
    reply = {"id": 1, "ok": True, "result": {"mean": float("nan"), "list": [float("inf"), 1.0]}}
    assert json.loads(protocol.to_json(reply)) == {"id": 1, "ok": True, "result": {"mean": None, "list": [None, 1.0]}}


def test_reinit_args_and_seed_over_the_protocol(ns):
    a = ask(ns, op="reinit", model="net", path="", init="normal", args={"std": 0.5}, seed=11)
    first = ns["net"][0].weight.detach().clone()
    b = ask(ns, op="reinit", model="net", path="", init="normal(0, 0.5)", seed=11)
    assert a["ok"] and b["ok"]
    assert torch.equal(first, ns["net"][0].weight.detach())


def test_typescript_mirror_lists_the_same_ops():
    """src/protocol.ts declares one entry per op in `interface Ops`; it must match protocol.Op."""
    import pathlib
    import re
    import typing

    source = (pathlib.Path(__file__).parent.parent / "src" / "protocol.ts").read_text()
    body = source[source.index("export interface Ops {"):]
    body = body[: body.index("\n}\n")]
    ts_ops = set(re.findall(r"^  (\w+): \{", body, flags=re.M))
    assert ts_ops == set(typing.get_args(protocol.Op))
    for op in ts_ops:
        handled = protocol.handle({"id": 1, "op": op, "model": "nothing"}, models={}, namespace={})
        assert "unknown op" not in str(handled.get("error", {}).get("message", "")), op
