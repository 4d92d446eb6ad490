"""Search (#13): the query grammar (shared fixtures with vitest) and the `search` op over a GPT-2-shaped model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require

QUERIES = json.loads((Path(__file__).parent / "fixtures" / "search_queries.json").read_text())


@pytest.mark.parametrize("case", QUERIES["valid"], ids=lambda c: c["query"] or "empty")
def test_valid_queries_parse_to_the_shared_terms(case):
    from paramscope import search_query

    assert search_query.parse(case["query"]) == case["terms"]


@pytest.mark.parametrize("case", QUERIES["invalid"], ids=lambda c: c["query"][:20])
def test_bad_queries_are_refused_with_the_shared_message(case):
    import paramscope as ps
    from paramscope import search_query

    with pytest.raises(ps.ActionError) as raised:
        search_query.parse(case["query"])
    assert str(raised.value) == case["error"]


@pytest.fixture(scope="module")
def gpt():
    require("pytorch")
    import torch
    from torch import nn

    from tests.test_widget import _gpt2

    model = _gpt2(nn, torch)
    model.transformer["ln_f"].requires_grad_(False)
    model.transformer["wpe"].half()
    model.register_buffer("mask", torch.ones(4, 4, device="meta"))
    return model


def _search(model: Any, query: str, limit: int | None = None) -> dict[str, Any]:
    from paramscope import protocol

    request = {"id": 1, "op": "search", "model": "gpt", "query": query, **({"limit": limit} if limit else {})}
    reply = protocol.handle(request, models={"gpt": model})
    assert reply["ok"], reply
    json.dumps(reply, allow_nan=False)
    return reply["result"]


def _matches(result: dict[str, Any]) -> list[str]:
    return [row["node"]["path"] for row in result["rows"] if row["match"]]


def test_a_glob_finds_the_12_attention_weights_with_their_ancestors(gpt):
    result = _search(gpt, "h.*.attn.c_attn.weight")
    assert _matches(result) == [f"transformer.h.{i}.attn.c_attn.weight" for i in range(12)]
    assert result["total"] == 12 and not result["truncated"]
    assert result["params"] == 12 * 768 * 2304
    rows = {row["node"]["path"]: row for row in result["rows"]}
    # Every ancestor once, in tree order, at its depth, with the number of matches under it.
    assert [p for p in rows if not rows[p]["match"]][:4] == ["", "transformer", "transformer.h", "transformer.h.0"]
    assert rows[""]["hits"] == 12 and rows["transformer.h.3"]["hits"] == 1
    assert rows["transformer.h.3.attn.c_attn.weight"]["depth"] == 6
    assert rows["transformer.h.3.attn.c_attn.weight"]["parent"] == "transformer.h.3.attn.c_attn"
    assert "children" not in rows[""]["node"] and rows[""]["node"]["n_params"] == 124_439_808
    assert len(result["rows"]) == 12 * 4 + 3


def test_substring_is_any_case_and_terms_combine(gpt):
    assert len(_matches(_search(gpt, "C_ATTN"))) == 36  # the 12 blocks, their weights and biases
    assert _matches(_search(gpt, "c_attn weight")) == [f"transformer.h.{i}.attn.c_attn.weight" for i in range(12)]
    assert _matches(_search(gpt, "c_attn -bias -weight")) == [f"transformer.h.{i}.attn.c_attn" for i in range(12)]
    fc = "transformer.h.11.mlp.c_fc"
    assert _matches(_search(gpt, '"h.11.mlp.c_fc"')) == [fc, f"{fc}.weight", f"{fc}.bias"]


def test_filters_by_type_dtype_device_state_and_kind(gpt):
    assert len(_matches(_search(gpt, "type:Linear"))) == 12 * 4 + 1
    assert _matches(_search(gpt, "type:*norm h.0.")) == ["transformer.h.0.ln_1", "transformer.h.0.ln_2"]
    assert _matches(_search(gpt, "dtype:float16")) == ["transformer.wpe.weight"]
    assert len(_matches(_search(gpt, "device:meta kind:param"))) == 149
    assert _search(gpt, "device:cuda")["total"] == 0
    assert _matches(_search(gpt, "kind:buffer")) == ["mask"]
    assert _search(gpt, "state:meta")["total"] == 150  # tensors and, from them, every block on meta


def test_trainable_frozen_tied_and_sizes(gpt):
    assert _matches(_search(gpt, "frozen")) == ["transformer.ln_f.weight", "transformer.ln_f.bias"]
    assert _search(gpt, "trainable")["total"] == 147  # params only: the buffer is neither
    assert _search(gpt, "-frozen kind:param")["total"] == 147
    assert _matches(_search(gpt, "tied")) == ["transformer.wte.weight", "lm_head.weight"]
    big = _search(gpt, "numel>1e6 kind:param")
    assert big["total"] == 1 + 12 * 3 + 1 and big["params"] == 50257 * 768 + 12 * (768 * 2304 + 2 * 768 * 3072)
    # Blocks are compared by their parameters (each tied one once).
    assert _matches(_search(gpt, "numel>=100M")) == ["", "transformer"]
    assert _matches(_search(gpt, "nbytes=32 kind:buffer")) == []  # on meta a buffer still has its size
    assert _matches(_search(gpt, "nbytes=64")) == ["mask"]


def test_the_answer_is_bounded_and_counts_every_match(gpt):
    result = _search(gpt, "weight", limit=5)
    assert result["total"] > 5 and result["truncated"]
    assert len(_matches(result)) == 5
    assert result["rows"][0]["hits"] == result["total"]
    assert _search(gpt, "")["total"] == 0 and _search(gpt, "")["rows"] == []


def test_bad_queries_and_bounds_answer_errors(gpt):
    from paramscope import protocol

    def ask(**fields: Any) -> dict[str, Any]:
        return protocol.handle({"id": 1, "op": "search", "model": "gpt", **fields}, models={"gpt": gpt})

    assert ask(query="numel>")["error"]["type"] == "ActionError"
    assert ask(query="x", limit=0)["error"]["type"] == "BadRequest"
    assert ask(query="x", limit=10**6)["error"]["type"] == "BadRequest"
    assert ask()["error"]["type"] == "BadRequest"
    assert ask(query=5)["error"]["type"] == "BadRequest"


def test_mxnet_own_parameter_names_are_searched():
    require("mxnet")
    from mxnet.gluon import nn

    from paramscope import protocol

    net = nn.Sequential()
    net.add(nn.Dense(4, in_units=3), nn.Dense(2, in_units=4))
    net.initialize()
    own = net[1].weight.name  # "dense1_weight": Gluon's own name, found as well as the structural "1.weight"
    reply = protocol.handle({"id": 1, "op": "search", "model": "net", "query": own}, models={"net": net})
    assert [r["node"]["path"] for r in reply["result"]["rows"] if r["match"]] == ["1.weight"]


def test_the_replayed_answers_are_what_the_kernel_answers_today():
    require("pytorch")
    from tests.fixtures import search_gpt2

    assert json.loads(search_gpt2.FILE.read_text()) == search_gpt2.generate(), (
        "search_gpt2.json is out of date: run `python -m tests.fixtures.search_gpt2` and commit it")


def test_repeated_blocks_are_found_as_runs(gpt):
    from paramscope import protocol

    def runs(model: Any, path: str) -> list[dict[str, Any]]:
        reply = protocol.handle({"id": 1, "op": "repeats", "model": "m", "path": path}, models={"m": model})
        assert reply["ok"], reply
        return reply["result"]["runs"]

    assert runs(gpt, "transformer.h") == [{"start": 0, "count": 12, "first": "transformer.h.0",
                                           "last": "transformer.h.11", "first_name": "0", "last_name": "11"}]
    assert runs(gpt, "") == [] and runs(gpt, "transformer") == []
    from torch import nn

    # A different shape, dtype or frozen parameter breaks a run; two alike blocks are no run; a second use of
    # one block is not folded with the others.
    layers = [nn.Linear(4, 4) for _ in range(9)] + [nn.Linear(4, 5), nn.Linear(4, 4), nn.Linear(4, 4)]
    layers[4].requires_grad_(False)
    layers[7] = layers[7].double()
    net = nn.Sequential(*layers, nn.ReLU(), nn.ReLU(), nn.ReLU())
    assert [(r["start"], r["count"]) for r in runs(net, "")] == [(0, 4), (12, 3)]
    shared = nn.Linear(2, 2)
    net = nn.Sequential(shared, shared, shared, shared)
    assert runs(net, "") == []
    reply = protocol.handle({"id": 1, "op": "repeats", "model": "m", "path": "0.weight"}, models={"m": net})
    assert reply["error"]["type"] == "ActionError"


def test_sizes_add_up_to_the_model_with_ties_counted_once(gpt):
    from paramscope import protocol

    def ask(**fields: Any) -> dict[str, Any]:
        reply = protocol.handle({"id": 1, "op": "sizes", "model": "m", **fields}, models={"m": gpt})
        assert reply["ok"], reply
        json.dumps(reply, allow_nan=False)
        return reply["result"]["root"]

    root = ask(depth=2)
    assert root["n_params"] == 124_439_808 and root["dtype"] == "mixed"  # wpe is float16
    names = [c["name"] for c in root["children"]]
    assert names == ["transformer", "mask"]  # lm_head's only weight is wte's: counted there; mask a buffer
    transformer = root["children"][0]
    assert [c["name"] for c in transformer["children"]] == ["h", "wte", "wpe", "ln_f"]  # largest first
    assert sum(c["n_params"] for c in transformer["children"]) == transformer["n_params"] == root["n_params"]
    assert "children" not in transformer["children"][0]  # depth 2 stops there
    h = ask(path="transformer.h", depth=1, per_block=5)
    assert len(h["children"]) == 6 and h["children"][-1]["more"] == 7
    assert sum(c["n_params"] for c in h["children"]) == h["n_params"] == 12 * 7_087_872
    leaf = ask(path="transformer.wpe.weight")
    assert leaf["dtype"] == "float16" and leaf["nbytes"] == 1024 * 768 * 2
    bad = protocol.handle({"id": 1, "op": "sizes", "model": "m", "depth": 99}, models={"m": gpt})
    assert bad["error"]["type"] == "BadRequest"
