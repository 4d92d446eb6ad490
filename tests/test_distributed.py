"""Models beyond one device: sharded PyTorch parameters on 2 CPU processes (gloo on 127.0.0.1) -- FSDP2 on a small
transformer, DTensors on 1-D and 2-D meshes, rank 0 answering protocol requests for both ranks -- and Keras
variables under tf.distribute.MirroredStrategy on two logical CPUs. The workers (tests/distributed_worker.py,
tests/distributed_keras_worker.py) run once, together (about 40 s, mostly imports); the tests compare what they
saw on the sharded models with the same calls on unsharded copies."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch.distributed")
pytestmark = pytest.mark.slow  # one ~40 s start of three processes, shared by every test here

ROOT = Path(__file__).resolve().parents[1]
STAT_KEYS = ("mean", "std", "min", "max", "rms", "zeros")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Workers:
    """The two torch ranks and the Keras worker, started together (most of their time is importing)."""

    def __init__(self, tmp: Path) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "kernel_helpers")]),
               "OMP_NUM_THREADS": "1"}
        self.torch_out, self.keras_out = tmp / "rank0.json", tmp / "mirrored.json"
        port = str(_free_port())
        self.ranks = [self._start(["tests.distributed_worker", str(rank), "2", port, str(self.torch_out)], env)
                      for rank in (0, 1)]
        has_tf = importlib.util.find_spec("tensorflow") is not None
        self.keras = self._start(["tests.distributed_keras_worker", str(self.keras_out)], env) if has_tf else None

    @staticmethod
    def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    @staticmethod
    def wait(procs: list[subprocess.Popen[str]], out: Path) -> dict[str, Any]:
        logs = []
        try:
            for proc in procs:
                logs.append(proc.communicate(timeout=300)[0])
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
        for proc, log in zip(procs, logs, strict=True):
            assert proc.returncode == 0, f"{' '.join(proc.args[2:4])} failed:\n{log[-6000:]}"
        result: dict[str, Any] = json.loads(out.read_text())
        return result


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> _Workers:
    return _Workers(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def runs(workers: _Workers) -> dict[str, Any]:
    return workers.wait(workers.ranks, workers.torch_out)


@pytest.fixture(scope="module")
def mirrored(workers: _Workers) -> dict[str, Any]:
    if workers.keras is None:
        pytest.skip("tensorflow is not installed")
    return workers.wait([workers.keras], workers.keras_out)


def _close(a: Any, b: Any, rel: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=rel, abs_tol=rel * 1e-3)


def _same_stats(sharded: dict[str, Any], plain: dict[str, Any], rel: float = 1e-6, exact_hist: bool = True) -> None:
    assert sharded.keys() == plain.keys()
    for path, s in sharded.items():
        p = plain[path]
        assert s["available"] and p["available"], (path, s, p)
        assert s["numel"] == p["numel"] and s["nan"] == p["nan"] and s["inf"] == p["inf"], path
        assert s["shape"] == p["shape"], path
        for key in STAT_KEYS:
            assert _close(s[key], p[key], rel), (path, key, s[key], p[key])
        if exact_hist:
            assert s["hist"]["counts"] == p["hist"]["counts"], path
        else:
            assert sum(s["hist"]["counts"]) == sum(p["hist"]["counts"]), path


def _same_values(a: Any, b: Any, tol: float = 0.0) -> None:
    assert a.keys() == b.keys()
    for path in a:
        x, y = _flat(a[path]), _flat(b[path])
        assert len(x) == len(y), path
        bad = [(i, u, v) for i, (u, v) in enumerate(zip(x, y, strict=True))
               if not (u == v or (u != u and v != v) or abs(u - v) <= tol * max(1.0, abs(v)))]
        assert not bad, (path, bad[:5])


def _flat(x: Any) -> list[float]:
    return [v for item in x for v in _flat(item)] if isinstance(x, list) else [float(x)]


def test_fsdp_tree_has_global_shapes_and_counts(runs: dict[str, Any]) -> None:
    tree, plain = runs["fsdp"]["tree"], runs["fsdp"]["tree_plain"]
    assert tree.keys() == plain.keys()
    for path, node in tree.items():
        assert node["shape"] == plain[path]["shape"], path
        assert node["n_params"] == plain[path]["n_params"], path
        assert node["nbytes"] == plain[path]["nbytes"], path
    embed = tree["embed.weight"]["sharding"]
    assert embed["global_shape"] == [37, 12] and embed["local_shape"] == [19, 12]
    assert embed["placements"] == ["Shard(0)"] and embed["mesh"]["shape"] == [2]
    assert [(r["rank"], r["offsets"], r["shape"]) for r in embed["layout"]] == [(0, [0, 0], [19, 12]),
                                                                                 (1, [19, 0], [18, 12])]
    assert sum(r["nbytes"] for r in embed["layout"]) == 37 * 12 * 4
    assert "sharding" not in plain["embed.weight"] or plain["embed.weight"]["sharding"] is None


def test_fsdp_stats_equal_unsharded(runs: dict[str, Any]) -> None:
    _same_stats(runs["fsdp"]["stats"], runs["fsdp"]["stats_plain"])


def test_fsdp_grad_stats_equal_unsharded(runs: dict[str, Any]) -> None:
    # FSDP2 reduce-scatters (averages) the gradients of the two ranks' identical batches: float32 rounding apart.
    _same_stats(runs["fsdp"]["grads"], runs["fsdp"]["grads_plain"], rel=1e-4, exact_hist=False)


def test_fsdp_heatmap_sample_equals_unsharded(runs: dict[str, Any]) -> None:
    heat, plain = runs["fsdp"]["heat"], runs["fsdp"]["heat_plain"]
    assert heat["available"] and (heat["rows"], heat["cols"]) == (plain["rows"], plain["cols"])
    assert heat["data"] == plain["data"]


def test_fsdp_seeded_reinit_and_set_value_equal_unsharded(runs: dict[str, Any]) -> None:
    _same_values(runs["fsdp"]["after"], runs["fsdp"]["after_plain"], tol=1e-6)


def test_fsdp_undo_errors_and_unseeded_draws(runs: dict[str, Any]) -> None:
    fsdp = runs["fsdp"]
    assert fsdp["undone_equal"], "six undos put every shard back"
    assert "sharded" in fsdp["tie_error"] and "fully_shard" in fsdp["tie_error"]
    assert "out of range" in fsdp["bad_index"]
    assert "does not fit" in fsdp["bad_shape"]
    assert "does not record sharded" in fsdp["watch_error"]
    assert fsdp["unchanged_after_errors"]
    assert fsdp["unseeded_same_on_ranks"], "an unseeded reinit draws one global tensor for every rank"


@pytest.mark.parametrize("mesh", ["1d", "2d_1x2", "2d_2x1"])
def test_mesh_stats_values_and_writes_equal_unsharded(runs: dict[str, Any], mesh: str) -> None:
    case = runs["meshes"][mesh]
    _same_stats(case["stats"], case["stats_plain"])
    assert case["stats"]["0.weight"]["nan"] == 1 and case["stats"]["2.weight"]["inf"] == 1
    for path, heat in case["heat"].items():
        assert heat["data"] == case["heat_plain"][path]["data"], path
    _same_values(case["after"], case["after_plain"], tol=1e-6)
    for path, node in case["tree"].items():
        assert node["n_params"] == case["tree_plain"][path]["n_params"], path
    assert "rank 1" in case["describe"] and "placements" in case["describe"]


def test_mesh_placements_are_reported(runs: dict[str, Any]) -> None:
    assert runs["meshes"]["1d"]["tree"]["2.weight"]["sharding"]["placements"] == ["Shard(1)"]
    two = runs["meshes"]["2d_1x2"]["tree"]["0.weight"]["sharding"]
    assert two["placements"] == ["Replicate()", "Shard(1)"] and two["mesh"]["shape"] == [1, 2]
    assert [r["shape"] for r in two["layout"]] == [[7, 5], [7, 4]]


def test_rank0_protocol_answers_for_both_ranks(runs: dict[str, Any]) -> None:
    led = runs["led"]
    for key in ("tree", "stats", "values", "reinit", "set", "stats_after", "undo"):
        assert led[key]["ok"], (key, led[key])
    node = led["tree"]["result"]["node"]
    assert node["n_params"] == 6 * 11 + 11 + 11 * 4 + 4
    assert node["children"][0]["children"][0]["sharding"]["placements"] == ["Shard(0)"]
    stats, plain = led["stats"]["result"], led["stats_plain"]
    stats.pop("sharding", None)
    _same_stats({"w": stats}, {"w": plain})
    cell, cell_plain = dict(led["cell_stats"]), led["cell_stats_plain"]
    cell.pop("sharding", None)
    _same_stats({"b": cell}, {"b": cell_plain})
    assert led["stats_after"]["result"]["mean"] == pytest.approx(2.5)
    for path, mine in led["after"].items():  # rank 0's shard of the global values the plain model has
        rows = slice(mine["offsets"][0], mine["offsets"][0] + mine["shape"][0])
        expected = led["after_plain"][path][rows] if path != "2.bias" else [1.0, 2.0, 3.0, 4.0][rows]
        _same_values({path: mine["values"]}, {path: expected})
    _same_values({k: v["values"] for k, v in led["undone"].items() if k != "2.bias"},
                 {k: v["values"] for k, v in led["after"].items() if k != "2.bias"})
    assert led["undone"]["2.bias"] != led["after"]["2.bias"]


def test_mirrored_variables_shown_once_with_replicas(mirrored: dict[str, Any]) -> None:
    nodes = mirrored["param_nodes"]
    assert [n["path"] for n in nodes] == mirrored["names"]
    assert mirrored["n_params"] == mirrored["n_params_plain"] == 5 * 4 + 4 + 4 * 2 + 2
    sharding = nodes[0]["sharding"]
    assert sharding["strategy"] == "MirroredStrategy" and sharding["devices"] == ["CPU:0", "CPU:1"]
    assert sharding["placements"] == ["Replicate()"] and sharding["global_shape"] == [5, 4]


def test_mirrored_stats_from_one_replica_checked_against_all(mirrored: dict[str, Any]) -> None:
    stats, plain = dict(mirrored["stats"]), mirrored["stats_plain"]
    assert stats.pop("replicas") == {"count": 2, "read_from": "CPU:0", "agree": True, "differ": []}
    stats.pop("sharding")
    _same_stats({"k": {**stats, "path": ""}}, {"k": {**plain, "path": ""}})
    assert mirrored["diverged"] == {"count": 2, "read_from": "CPU:0", "agree": False, "differ": ["CPU:1"]}


def test_mirrored_writes_and_undo_reach_every_replica(mirrored: dict[str, Any]) -> None:
    assert mirrored["agree_after"]["agree"]
    for replicas, plain in zip(mirrored["after"], mirrored["after_plain"], strict=True):
        assert replicas[0] == replicas[1] == plain  # a slice write too, on both replicas
    assert mirrored["undone"] == mirrored["initial"]


def test_lead_and_follow_need_an_initialized_group() -> None:
    import torch.distributed as dist

    import paramscope as ps

    if dist.is_initialized():
        pytest.skip("a process group is already initialized in this process")
    for call in (ps.lead, lambda: ps.follow({})):
        with pytest.raises(ps.ActionError, match="init_process_group"):
            call()
