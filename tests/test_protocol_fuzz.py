"""The error contract under fuzzing (issue #20): 10,000 seeded requests per framework with sizes past every
documented bound, values of the wrong kind, deep nesting, broken JSON and base64. Every answer is strict JSON
of a bounded size, every error is an `ActionError` or a `BadRequest` with a message, and no request raises.
(tests/test_actions_fuzz.py fuzzes the same entry point for undo safety.)"""

from __future__ import annotations

import base64
import json
import random
from typing import Any

import pytest

from paramscope import limits, protocol
from paramscope.adapters import adapter_for
from tests.undo_kit import kit

REQUESTS = 10_000
DOCUMENTED = {"ActionError", "BadRequest", "UndoConflict"}
OPS = ["models", "tree", "stats", "stats_poll", "stats_cancel", "values", "fingerprints", "initializers", "reinit",
       "set_value", "tie", "untie", "undo", "history", "watch_poll", "watch_stop", "watch_focus", "nonsense"]
BIG = [2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**70, 10**30, -1, -(2**40), 1e308, -1e308, 1e-320]
ODD: list[Any] = [None, True, False, 0, 1.5, float("nan"), float("inf"), "", "\ud800", "x" * 300, [], {}, [[]],
                  {"a": [1]}, *BIG]


def _sized(rng: random.Random) -> Any:
    """A value around a bound: a huge integer, a long string, a long list, a deep list."""
    roll = rng.random()
    if roll < 0.4:
        return rng.choice(BIG)
    if roll < 0.6:
        return "p" * rng.choice([limits.MAX_STRING - 1, limits.MAX_STRING + 1, limits.MAX_INDEX_TEXT + 1])
    if roll < 0.8:
        return [0] * rng.choice([limits.MAX_LIST, limits.MAX_LIST + 1])
    deep: Any = [1.0]
    for _ in range(rng.choice([limits.MAX_NESTING - 2, limits.MAX_NESTING + 1, 500])):
        deep = [deep]
    return deep


def _any(rng: random.Random, good: list[Any]) -> Any:
    roll = rng.random()
    if roll < 0.7 and good:
        return rng.choice(good)
    return rng.choice(ODD) if roll < 0.93 else _sized(rng)


def _request(rng: random.Random, paths: list[str]) -> dict[str, Any]:
    op = rng.choice(OPS)
    req: dict[str, Any] = {"id": rng.randrange(10**6), "op": op, "model": "net"}
    tensors = [p for p in paths if p] + [p + "#grad" for p in paths if p]
    fields: dict[str, list[Any]] = {
        "path": paths if op in ("tree", "reinit", "untie") else tensors,
        "depth": [0, 1, 2, None, limits.MAX_TREE_DEPTH, limits.MAX_TREE_DEPTH + 1],
        "offset": [0, 1, 10**6], "limit": [None, 1, limits.MAX_TREE_LIMIT, limits.MAX_TREE_LIMIT + 1],
        "bins": [1, 64, 4096, 4097, 0], "max_elems": [1, 4096, 10**9, 0], "budget_ms": [None, 0, 5, 10**6],
        "job": ["stats-1", "nope"], "paths": [paths[:3], [], ["nope"]], "init": ["normal", "zeros", "normal(0, 1e308)",
                                                                                  "nope", "x" * 2000],
        "args": [{}, {"std": 1e308}, {"value": 2**70}], "seed": [None, 0, 2**32 - 1, 2**32],
        "value": [0.5, [1.0, 2.0], [[1.0] * 5] * 5, 2**70, [2**70], [[[[1.0]]]], [1.0] * 1000],
        "index": [None, "0", "0, 1:3", "9" * 40, ":" * 50, [0], [None, 0]], "mode": ["set", "add", "mul"],
        "to": paths, "since": [0, 2**63 - 1], "focus": [paths[:2], []], "force": [False],
    }
    for key in rng.sample(list(fields), rng.randrange(1, 6)):
        req[key] = _any(rng, fields[key])
    if rng.random() < 0.05:
        req["id"] = rng.choice(ODD)
    if rng.random() < 0.03:
        req["model"] = _any(rng, ["net", "other"])
    return req


def _wire(rng: random.Random, req: dict[str, Any]) -> tuple[str, Any]:
    """How the request travels: as a dict (widget), as JSON text, or base64 for `call` (sidebar, VS Code)."""
    roll = rng.random()
    if roll < 0.8:
        return "dict", req
    text = json.dumps(req)
    if roll < 0.85:  # broken: cut short, deeply nested, not an object, NaN literal
        text = rng.choice([text[: len(text) // 2], "[" * 5000 + "]" * 5000, "[1, 2]", '{"op": NaN}', "", "\x00"])
    if roll < 0.93:
        return "text", text
    encoded = base64.b64encode(text.encode("utf-8", "surrogatepass")).decode()
    return "call", rng.choice([encoded, encoded[:-3], "!" + encoded, encoded + "="])


def _strict(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"non-strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("framework", ["pytorch", "keras", "mxnet"])
def test_fuzzed_requests_get_documented_errors_and_bounded_strict_answers(framework: str) -> None:
    k = kit(framework)
    net = k.make()
    index = adapter_for(net).index(net)
    paths = ["", *index.blocks, *index.tensors]
    rng = random.Random(f"contract-{framework}")
    seen: dict[str, int] = {}
    for n in range(REQUESTS):
        req = _request(rng, paths)
        how, sent = _wire(rng, req)
        if how == "call":
            text = protocol.call(sent).text
        else:
            text = protocol.to_json(protocol.handle(sent, models={"net": net}, namespace={}))
        assert len(text) < 4 * 2**20, f"answer of {len(text):,} characters to {req}"
        answer = _strict(text)
        if answer["ok"]:
            seen["ok"] = seen.get("ok", 0) + 1
            continue
        kind, message = answer["error"]["type"], answer["error"]["message"]
        assert kind in DOCUMENTED, f"request {n} ({how}) {str(req)[:500]} -> {kind}: {message}"
        assert isinstance(message, str) and 0 < len(message) <= limits.MAX_MESSAGE + 10
        seen[kind] = seen.get(kind, 0) + 1
    assert seen.get("ok", 0) > 1000 and seen.get("BadRequest", 0) > 500 and seen.get("ActionError", 0) > 500, seen


def test_every_bound_answers_a_bad_request_or_a_bounded_answer() -> None:
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Embedding(10000, 2000))
    models = {"net": net}

    def ask(**req: Any) -> dict[str, Any]:
        return _strict(protocol.to_json(protocol.handle({"model": "net", "id": 1, **req}, models=models,
                                                        namespace={})))

    values = ask(op="values", path="0.weight", max_elems=10**9)["result"]
    assert values["rows"] * values["cols"] <= limits.MAX_VALUES
    assert ask(op="tree", limit=limits.MAX_TREE_LIMIT + 1)["error"]["type"] == "BadRequest"
    assert ask(op="tree", depth=-1)["error"]["type"] == "BadRequest"
    assert ask(op="tree", offset=-1)["error"]["type"] == "BadRequest"
    assert ask(op="tree", path="x" * (limits.MAX_STRING + 1))["error"]["type"] == "BadRequest"
    assert ask(op="stats", path="0.weight", bins=4097)["error"]["type"] == "ActionError"
    assert ask(op="fingerprints", paths=["0.weight"] * (limits.MAX_LIST + 1))["error"]["type"] == "BadRequest"
    too_many = ask(op="set_value", path="0.weight", value=[0.0] * (10000 * 2000 + 1))["error"]
    assert too_many["type"] == "ActionError" and "20,000,000 elements" in too_many["message"]
    assert ask(op="set_value", path="0.weight", value=1.0, index="0," * 600)["error"]["type"] == "ActionError"
    assert ask(op="reinit", path="0.weight", init="normal", seed=2**64)["error"]["type"] == "BadRequest"
    long_path = ask(op="stats", path="y" * 50_000)["error"]
    assert long_path["type"] == "ActionError" and len(long_path["message"]) <= limits.MAX_MESSAGE + 10
    deep = "[" * 100_000 + "]" * 100_000
    assert protocol.handle(deep)["error"]["type"] == "BadRequest"  # type: ignore[index]
    assert _strict(protocol.call(base64.b64encode(deep.encode()).decode()).text)["error"]["type"] == "BadRequest"
    assert _strict(protocol.call("not base64!").text)["error"]["type"] == "BadRequest"
    odd_id = protocol.handle({"op": "models", "id": {"nested": [1]}})
    assert odd_id["id"] is None and odd_id["error"]["type"] == "BadRequest"  # type: ignore[index]
