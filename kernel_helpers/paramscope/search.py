"""Search over a model index: the rows matching a query, with their ancestors and counts (never the whole tree)."""

from __future__ import annotations

import fnmatch
import operator
import re
from collections.abc import Callable
from typing import Any

from . import search_query, tree
from .tree import ModelIndex, Node

DEFAULT_LIMIT = 200  # matching rows sent by default
MAX_LIMIT = 5_000  # matching rows one answer may hold (their ancestors come on top)

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne}
# Filters that only tensors (parameters and buffers) have; a block never matches them, negated or not.
_TENSOR_ONLY = {"dtype", "device"}

# A test on one row: True / False, or None where the term does not apply to that kind of row.
_Test = Callable[["_Row"], bool | None]


class _Row:
    """A block or tensor use being tested; sizes of blocks are counted only when a term asks for them."""

    __slots__ = ("block", "path", "state", "tensor")

    def __init__(self, search: _Search, path: str) -> None:
        self.state = search
        self.path = path
        self.tensor = search.index.tensors.get(path)
        self.block = None if self.tensor is not None else search.index.blocks[path]

    def size(self, field: str) -> int:
        if self.tensor is not None:
            return self.tensor.meta.numel if field == "numel" else self.tensor.meta.nbytes
        node = self.state.node(self.path)
        return node.n_params if field == "numel" else node.nbytes


class _Search:
    def __init__(self, index: ModelIndex) -> None:
        self.index = index
        self.node = _memo(tree.shallow(index))


def _memo(make: Callable[[str], Node]) -> Callable[[str], Node]:
    cache: dict[str, Node] = {}

    def get(path: str) -> Node:
        if path not in cache:
            cache[path] = make(path)
        return cache[path]

    return get


def search(index: ModelIndex, query: str, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    """Rows of `index` matching every term of `query`, in tree order: the first `limit` matches, each with the
    blocks above it (`match: false`), every row with `hits` (matches at or under it) and its depth-0 node."""
    terms = search_query.parse(query)
    tests = [_compile(term) for term in terms]
    state = _Search(index)
    parents: dict[str, str] = {}
    matches: list[str] = []
    stack = [""]
    while stack:  # depth first in the tree's own order (children pushed reversed)
        path = stack.pop()
        row = _Row(state, path)
        if tests and all(test(row) for test in tests):
            matches.append(path)
        if row.block is not None:
            for child in row.block.children:
                parents.setdefault(child, path)
            stack.extend(reversed(row.block.children))
    return _answer(state, terms, matches, parents, limit)


def _answer(state: _Search, terms: list[dict[str, Any]], matches: list[str], parents: dict[str, str],
            limit: int) -> dict[str, Any]:
    hits: dict[str, int] = {}
    for path in matches:
        hits[path] = hits.get(path, 0) + 1
        up = parents.get(path) if path else None
        while up is not None:
            hits[up] = hits.get(up, 0) + 1
            up = parents.get(up) if up else None
    shown = set(matches[:limit])
    rows: list[dict[str, Any]] = []
    listed: set[str] = set()
    for path in matches[:limit]:
        chain = [path]
        while chain[-1] and chain[-1] in parents and parents[chain[-1]] not in listed:
            chain.append(parents[chain[-1]])
        for depth_path in reversed(chain):
            if depth_path in listed:
                continue
            listed.add(depth_path)
            rows.append({"node": state.node(depth_path).to_json(), "parent": parents.get(depth_path) if depth_path
                         else None, "depth": _depth(depth_path, parents), "match": depth_path in shown,
                         "hits": hits.get(depth_path, 0)})
    seen: set[int] = set()
    params = nbytes = 0
    for path in matches:
        entry = state.index.tensors.get(path)
        if entry is not None and id(entry.obj) not in seen:
            seen.add(id(entry.obj))
            nbytes += entry.meta.nbytes
            params += entry.meta.numel if entry.kind == "param" else 0
    return {"terms": terms, "total": len(matches), "truncated": len(matches) > limit, "rows": rows,
            "params": params, "nbytes": nbytes, "framework": state.index.framework}


def _depth(path: str, parents: dict[str, str]) -> int:
    depth = 0
    while path:
        path = parents[path]
        depth += 1
    return depth


def _compile(term: dict[str, Any]) -> _Test:
    test = _positive(term)
    if not term["negate"]:
        return test

    def negated(row: _Row) -> bool | None:
        result = test(row)
        return None if result is None else not result

    return negated


def _positive(term: dict[str, Any]) -> _Test:
    kind = term["kind"]
    if kind in ("text", "glob"):
        return _path_test(term["value"], kind == "glob")
    if kind == "flag":
        return _flag_test(term["flag"])
    if kind == "compare":
        field, op, value = term["field"], _OPS[term["op"]], term["value"]
        return lambda row: op(row.size(field), value)
    return _field_test(term["field"], term["value"])


def _path_test(value: str, glob: bool) -> _Test:
    if glob:
        # The whole path, or its end from a separator on: `h.*.attn.c_attn.weight` finds transformer.h.0.attn...
        pattern = re.compile(r"(?:.*[./])?" + fnmatch.translate(value), re.IGNORECASE)

        def globbed(row: _Row) -> bool:
            alt = row.tensor.alt_name if row.tensor is not None else None
            return bool(pattern.match(row.path) or (alt and pattern.match(alt)))

        return globbed
    needle = value.lower()

    def contains(row: _Row) -> bool:
        alt = row.tensor.alt_name if row.tensor is not None else None
        return needle in row.path.lower() or bool(alt and needle in alt.lower())

    return contains


def _flag_test(flag: str) -> _Test:
    def test(row: _Row) -> bool | None:
        if flag == "tied":
            index = row.state.index
            uses = index.aliases(row.path) if row.tensor is not None else index.block_uses(row.path)
            return len(uses) > 1
        if row.tensor is None or row.tensor.kind != "param":
            return None  # trainable/frozen: parameters only (a buffer is neither)
        return row.tensor.meta.trainable == (flag == "trainable")

    return test


def _field_test(field: str, value: str) -> _Test:
    wanted = value.lower()
    pattern = re.compile(fnmatch.translate(value), re.IGNORECASE) if search_query.WILD.search(value) else None

    def same(text: str | None) -> bool:
        if text is None:
            return False
        if pattern is not None:
            return bool(pattern.match(text))
        text = text.lower()
        # device:cuda matches cuda:0 and cuda:1; dtype and type are whole names
        return text == wanted or (field == "device" and text.startswith(wanted + ":"))

    def test(row: _Row) -> bool | None:
        if field in _TENSOR_ONLY and row.tensor is None:
            return None
        if field == "type":
            return same(row.tensor.type if row.tensor is not None else row.block.type if row.block else None)
        if field == "kind":
            kind = row.tensor.kind if row.tensor is not None else "model" if row.path == "" else "block"
            return kind == wanted
        if field == "state":
            return (row.tensor.meta.state if row.tensor is not None else row.block.state if row.block else "") == wanted
        meta = row.tensor.meta if row.tensor is not None else None
        return same(None if meta is None else meta.dtype if field == "dtype" else meta.device)

    return test
