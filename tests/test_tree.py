"""The Node model: JSON round trip, paging, wide and deep models without recursion limits."""

from __future__ import annotations

import json

import pytest

import paramscope as ps
from paramscope import protocol

torch = pytest.importorskip("torch", reason="PyTorch is not installed in this environment")
from torch import nn  # noqa: E402


def test_json_round_trip():
    tree = ps.inspect(nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8)))
    data = json.loads(json.dumps(tree.to_json()))
    assert ps.Node.from_json(data) == tree
    assert set(data) >= {"path", "name", "kind", "type", "shape", "dtype", "device", "trainable", "state", "numel",
                         "nbytes", "n_params", "n_params_with_aliases", "tied_to", "aliases", "has_grad",
                         "n_children", "children", "code"}


def test_ten_thousand_children_page_quickly_and_small():
    wide = nn.Sequential(*[nn.Linear(2, 2) for _ in range(10_000)])
    reply = protocol.handle({"id": 1, "op": "tree", "model": "wide", "depth": 1, "offset": 9_990, "limit": 50},
                            namespace={"wide": wide})
    node = reply["result"]["node"]
    assert node["n_children"] == 10_000 and len(node["children"]) == 10
    assert node["n_params"] == 60_000


def test_deep_chain_does_not_hit_the_recursion_limit():
    net: nn.Module = nn.Linear(1, 1)
    for _ in range(3000):
        net = nn.Sequential(net)
    root = protocol.handle({"id": 1, "op": "tree", "model": "deep", "depth": 1}, namespace={"deep": net})
    assert root["ok"] and root["result"]["node"]["n_params"] == 2


def test_first_payload_of_a_gpt2_sized_model_is_a_few_kb():
    """GPT-2 small layout (12 blocks, 768 wide) on the meta device: the root with one level is tiny."""
    with torch.device("meta"):
        blocks = nn.ModuleList(
            nn.ModuleDict({"ln_1": nn.LayerNorm(768), "attn": nn.Linear(768, 3 * 768), "proj": nn.Linear(768, 768),
                           "ln_2": nn.LayerNorm(768), "fc": nn.Linear(768, 3072), "out": nn.Linear(3072, 768)})
            for _ in range(12)
        )
        gpt = nn.ModuleDict({"wte": nn.Embedding(50257, 768), "wpe": nn.Embedding(1024, 768), "h": blocks,
                             "ln_f": nn.LayerNorm(768)})
    reply = protocol.handle({"id": 1, "op": "tree", "model": "gpt", "depth": 1}, namespace={"gpt": gpt})
    payload = protocol.to_json(reply)
    assert reply["result"]["node"]["n_params"] > 120_000_000
    assert len(payload) < 4096, len(payload)
