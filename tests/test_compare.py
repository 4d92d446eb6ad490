"""Compare (#13): snapshots of parameter values and the per-parameter change against one, in every framework:
exact numbers, ties once, shape/dtype changes, bounds, the protocol ops, and that nothing keeps the model alive."""

from __future__ import annotations

import gc
import json
import math
import weakref

import numpy as np
import pytest

from paramscope import protocol
from paramscope.adapters import adapter_for
from tests.undo_kit import kit, paths, ps, same_shape_pairs

FRAMEWORKS = ["pytorch", "keras", "mxnet"]


def _host(model, path):
    adapter = adapter_for(model)
    return adapter.host_copy(adapter.index(model).tensors[path]).astype(np.float64)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_compare_reports_exactly_what_moved(framework):
    model = kit(framework).make()
    _blocks, params = paths(model)
    with pytest.raises(ps.ActionError, match="no snapshot"):
        ps.compare(model)
    snap = ps.snapshot(model)
    assert snap.model is model and snap.describe()["params"] == len(adapter_for(model).index(model).unique_params(""))
    still = ps.compare(model)
    assert still["totals"]["changed"] == 0
    assert all(r["status"] == "same" and r["delta_norm"] == 0 for r in still["params"])
    target = params[0]
    before = _host(model, target)
    ps.set_value(model, target, lambda old: old * 3 + 1)
    after = _host(model, target)
    result = ps.compare(model, snap)
    rows = {r["path"]: r for r in result["params"]}
    row = rows[target]
    delta = after - before
    assert row["status"] == "changed"
    assert row["delta_norm"] == pytest.approx(np.linalg.norm(delta))
    assert row["max_abs"] == pytest.approx(np.abs(delta).max())
    assert row["changed"] == pytest.approx(np.count_nonzero(delta) / delta.size)
    assert row["rel"] == pytest.approx(np.linalg.norm(delta) / np.linalg.norm(before))
    assert result["params"][0]["path"] == target  # the largest relative change first
    assert all(r["status"] == "same" for p, r in rows.items() if p != target)
    assert result["totals"]["changed"] == 1
    assert result["totals"]["delta_norm"] == pytest.approx(np.linalg.norm(delta))
    owner = adapter_for(model).index(model).tensors[target].owner
    block = {b["path"]: b for b in result["blocks"]}
    assert block[owner]["changed_params"] == 1 and block[owner]["delta_norm"] == pytest.approx(np.linalg.norm(delta))
    assert block[""]["params"] == len(rows)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_snapshot_is_bounded_and_refusal_keeps_nothing(framework):
    model = kit(framework).make()
    with pytest.raises(ps.ActionError, match="over the snapshot limit"):
        ps.snapshot(model, limit_bytes=1)
    with pytest.raises(ps.ActionError, match="no snapshot"):
        ps.compare(model)
    with pytest.raises(ps.ActionError, match="limit_bytes"):
        ps.snapshot(model, limit_bytes=0)
    blocks, _params = paths(model)
    sub = ps.snapshot(model, blocks[0])
    index = adapter_for(model).index(model)
    assert set(sub.saved) == {e.path for e in index.unique_params(blocks[0])}


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_snapshots_let_the_model_go(framework):
    k = kit(framework)
    model = k.make()
    ref = weakref.ref(model)
    snap = ps.snapshot(model)
    ps.compare(model)
    models = {"net": model}
    for i, request in enumerate([{"op": "snapshot_take"}, {"op": "compare"}, {"op": "snapshot_clear"},
                                 {"op": "snapshot_take"}]):
        assert protocol.handle({"id": i, "model": "net", **request}, models=models)["ok"]
    del model, models
    gc.collect()
    assert ref() is None and snap.model is None  # the user's snapshot keeps its copies, never the model


def test_tied_parameters_are_compared_once_and_shape_or_dtype_changes_are_reported():
    k = kit("pytorch")
    torch = k.torch
    model = k.make()
    a, b = same_shape_pairs(model)[0]
    ps.tie(model, a, b)
    snap = ps.snapshot(model)
    assert (a in snap.saved) != (b in snap.saved)  # one copy for the tied pair
    _blocks, params = paths(model)
    index = adapter_for(model).index(model)
    others = [p for p in params if p not in (a, b) and index.tensors[p].meta.numel > 1]
    reshaped, halved = others[0], others[1]
    owner, name = reshaped.rsplit(".", 1) if "." in reshaped else ("", reshaped)
    module = model.get_submodule(owner) if owner else model
    setattr(module, name, torch.nn.Parameter(torch.zeros(3, 3, 3)))
    with torch.no_grad():
        model.get_parameter(halved).data = model.get_parameter(halved).data.half()
    rows = {r["path"]: r for r in ps.compare(model)["params"]}
    assert rows[reshaped]["status"] == "shape" and "→ [3, 3, 3]" in rows[reshaped]["reason"]
    assert rows[halved]["status"] == "dtype" and "float16" in rows[halved]["reason"]
    assert ps.compare(model)["params"][0]["status"] in ("shape", "dtype")  # listed first


def test_nan_in_both_places_is_no_change_and_bfloat16_compares():
    torch = pytest.importorskip("torch")
    model = torch.nn.Linear(4, 3).to(torch.bfloat16)
    with torch.no_grad():
        model.weight[0, 0] = math.nan
    ps.snapshot(model)
    rows = {r["path"]: r for r in ps.compare(model)["params"]}
    assert rows["weight"]["status"] == "same"
    with torch.no_grad():
        model.bias.add_(1)
    rows = {r["path"]: r for r in ps.compare(model)["params"]}
    assert rows["bias"]["changed"] == 1.0 and rows["weight"]["status"] == "same"


def test_protocol_ops_are_bounded_and_explain_errors():
    torch = pytest.importorskip("torch")
    models = {"net": torch.nn.Sequential(*[torch.nn.Linear(4, 4) for _ in range(6)])}

    def call(**req):
        return protocol.handle({"id": 1, "model": "net", **req}, models=models)

    assert call(op="compare")["error"]["type"] == "ActionError"
    taken = call(op="snapshot_take", path="1")["result"]["snapshot"]
    assert taken["params"] == 2 and taken["path"] == "1" and taken["nbytes"] == 80
    assert call(op="snapshot_take", limit_bytes=0)["error"]["type"] == "BadRequest"
    assert call(op="snapshot_take", limit_bytes=10)["error"]["type"] == "ActionError"
    assert call(op="snapshot_take")["ok"]
    with torch.no_grad():
        models["net"][4].weight.mul_(2)
    answer = call(op="compare", limit=3)["result"]
    assert answer["truncated"] and len(answer["params"]) == 3 and answer["total_params"] == 12
    assert answer["params"][0]["path"] == "4.weight" and answer["params"][0]["rel"] == pytest.approx(1.0)
    assert answer["blocks"][0]["path"] in ("4", "") and len(answer["blocks"]) == 3
    assert call(op="compare", limit=0)["error"]["type"] == "BadRequest"
    assert call(op="snapshot_clear")["result"] == {"cleared": True}
    assert call(op="snapshot_clear")["result"] == {"cleared": False}


def test_diff_of_non_finite_values():
    from paramscope.changes import _diff

    old = np.array([1.0, np.nan, np.inf, 2.0, 5.0], np.float32)
    new = np.array([1.5, np.nan, np.inf, np.inf, 5.0], np.float32)
    delta2, norm2, top, changed = _diff(old, new)
    assert (delta2, changed, top) == (0.25, 2, math.inf)
    assert norm2 == pytest.approx(1 + 4 + 25)
    assert _diff(np.zeros(0, np.float32), np.zeros(0, np.float32)) == (0.0, 0.0, 0.0, 0)


def _train_batchnorm(framework, model):
    """One forward pass in training mode: the BatchNorm layer's running statistics move, no weight does."""
    if framework == "pytorch":
        import torch

        model.bn.train()
        model.bn(torch.randn(8, 4) * 3 + 1)
    elif framework == "keras":
        model.bn(np.random.default_rng(0).normal(1, 3, (8, 4)).astype("float32"), training=True)
    else:
        import mxnet as mx

        with mx.autograd.record():
            out = model(mx.nd.array(np.random.default_rng(0).normal(1, 3, (8, 3))))
        out.backward()  # MXNet's BatchNorm moves its running statistics in the backward pass
        mx.nd.waitall()


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_buffers_are_snapshotted_and_compared_apart(framework):
    model = kit(framework).make()
    index = adapter_for(model).index(model)
    buffers = [p for p, e in index.tensors.items() if e.kind == "buffer"]
    stats = [p for p in buffers if "running" in p or "moving" in p]
    assert len(stats) == 2
    snap = ps.snapshot(model)
    assert snap.describe()["buffers"] == len(buffers) and snap.describe()["params"] == len(index.unique_params(""))
    before = {p: _host(model, p) for p in stats}
    _train_batchnorm(framework, model)
    reply = protocol.handle({"id": 1, "op": "compare", "model": "m"}, models={"m": model})
    assert reply["ok"], reply
    result = reply["result"]
    rows = {r["path"]: r for r in result["buffers"]}
    assert set(rows) == set(buffers) and result["total_buffers"] == len(buffers)
    for path in stats:
        delta = _host(model, path) - before[path]
        assert rows[path]["status"] == "changed" and rows[path]["kind"] == "buffer"
        assert rows[path]["delta_norm"] == pytest.approx(np.linalg.norm(delta), rel=1e-5)
        norm = np.linalg.norm(before[path])  # a running mean starts at 0: no relative change
        assert rows[path]["rel"] == (pytest.approx(np.linalg.norm(delta) / norm, rel=1e-5) if norm else None)
    assert result["totals"]["changed_buffers"] >= 2 and result["totals"]["buffers"] == len(buffers)
    assert all(r["kind"] == "param" for r in result["params"])
    assert result["totals"]["changed"] == 0  # the running statistics moved, no weight did
    owner = index.tensors[stats[0]].owner
    block = {b["path"]: b for b in result["blocks"]}[owner]
    assert block["buffers"] == sum(index.tensors[p].owner == owner for p in buffers)
    assert block["changed_buffers"] >= 2 and block["changed_params"] == 0
    assert block["rel"] == 0  # buffers stay out of the weights' norms


@pytest.mark.slow
def test_sharded_parameters_are_compared_shard_by_shard(tmp_path):
    """DTensor parameters on 2 CPU ranks: each rank snapshots its own shard, and the change is added up across
    the shards (five numbers travel): the same numbers as the unsharded model's."""
    pytest.importorskip("torch.distributed")
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    out = tmp_path / "rank0.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root / "kernel_helpers")]),
           "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "tests.compare_dist_worker", str(rank), "2", port, str(out)],
                              cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for rank in (0, 1)]
    try:
        logs = [p.communicate(timeout=240)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert all(p.returncode == 0 for p in procs), "\n".join(log[-4000:] for log in logs)
    result = json.loads(out.read_text())
    rows = {label: {r["path"]: r for r in result[label]["compare"]["result"]["params"]} for label in result}
    assert set(rows["sharded"]) == set(rows["plain"]) == {f"{i}.{n}" for i in range(3) for n in ("weight", "bias")}
    for path, want in rows["plain"].items():
        got = rows["sharded"][path]
        assert got["status"] == want["status"], path
        assert got["numel"] == want["numel"]
        for key in ("delta_norm", "max_abs", "changed", "norm", "rel"):
            assert got[key] == pytest.approx(want[key], rel=1e-6, abs=1e-9), (path, key)
    assert {p for p, r in rows["plain"].items() if r["status"] == "changed"} == {"0.weight", "1.weight", "2.bias"}
    assert 0 < rows["sharded"]["1.weight"]["changed"] < 1
    colours = {label: result[label]["sizes"]["result"]["root"]["value"] for label in result}
    assert colours["sharded"] == pytest.approx(colours["plain"], rel=1e-6) and colours["plain"] > 0
