"""Where the parameters are: a bounded hierarchy of parameter counts and bytes for the treemap."""

from __future__ import annotations

from typing import Any

from . import size_colors
from .size_colors import Acc
from .tree import ModelIndex

MAX_DEPTH = 6  # levels below the asked block
MAX_PER_BLOCK = 200  # children listed per block (the rest merged into one "more" entry)
MAX_NODES = 5_000  # entries in one answer


def sizes(index: ModelIndex, path: str, depth: int = 3, per_block: int = 40, stat: str | None = None,
          values: dict[str, Acc] | None = None) -> dict[str, Any]:
    """`path` and its descendants `depth` levels down: `{path, name, kind, type, dtype, n_params, nbytes, children}`.
    Every tensor is counted once, at its first use (a tied use and a second use of a block weigh nothing, so the
    areas add up to the model); each block keeps its largest `per_block` children and merges the others into one
    `{more, n_params, nbytes}` entry; at most MAX_NODES entries in all. With `stat` and `values` (its accumulator
    per first-use parameter path, `size_colors.per_tensor`), every entry also has `value`: the statistic of the
    parameters it counts (None where none has one)."""
    order = _walk(index, path)
    totals = _totals(index, order)
    accs = _accs(index, order, stat, values) if stat is not None and values is not None else None
    budget = [MAX_NODES]

    def entry(p: str, left: int) -> dict[str, Any]:
        budget[0] -= 1
        params, nbytes, dtypes = totals[p]
        kind: str
        if p in index.tensors:
            name, kind, kind_type = index.tensors[p].name, index.tensors[p].kind, index.tensors[p].type
        else:
            name, kind, kind_type = index.blocks[p].name, "model" if p == "" else "block", index.blocks[p].type
        out: dict[str, Any] = {"path": p, "name": name, "kind": kind, "type": kind_type, "n_params": params,
                               "nbytes": nbytes, "dtype": next(iter(dtypes)) if len(dtypes) == 1 else
                               ("mixed" if dtypes else None)}
        if accs is not None and stat is not None:
            out["value"] = size_colors.finish(stat, accs.get(p))
        if p in index.blocks and left > 0:
            kids = sorted((c for c in index.blocks[p].children if totals[c][0] or totals[c][1]),
                          key=lambda c: (-totals[c][0], -totals[c][1]))
            shown, rest = kids[:per_block], kids[per_block:]
            children = []
            for i, child in enumerate(shown):
                if budget[0] <= 0:
                    rest = shown[i:] + rest
                    break
                children.append(entry(child, left - 1))
            if rest:
                more: dict[str, Any] = {"more": len(rest), "n_params": sum(totals[c][0] for c in rest),
                                        "nbytes": sum(totals[c][1] for c in rest)}
                if accs is not None and stat is not None:
                    found = [a for c in rest if (a := accs.get(c)) is not None]
                    more["value"] = size_colors.finish(stat, size_colors.merge(stat, found))
                children.append(more)
            out["children"] = children
        return out

    return entry(path, depth)


def _walk(index: ModelIndex, root: str) -> list[str]:
    """Paths under `root` in pre-order, a second use of a block not entered (no recursion: 10,000-deep chains)."""
    order: list[str] = []
    stack = [root]
    while stack:
        p = stack.pop()
        order.append(p)
        if p in index.blocks and index.canonical_block(p) == p:
            stack.extend(index.blocks[p].children)
    return order


def _accs(index: ModelIndex, order: list[str], stat: str, values: dict[str, Acc]) -> dict[str, Acc]:
    """The merged accumulator of each path of `order` (`_walk`) that counts a parameter with a value (ties once)."""
    out: dict[str, Acc] = {}
    for p in reversed(order):
        if p in index.tensors:
            if index.canonical_tensor(p) == p and p in values:
                out[p] = values[p]
        elif index.canonical_block(p) == p:
            found = [a for c in index.blocks[p].children if (a := out.get(c)) is not None]
            merged = size_colors.merge(stat, found)
            if merged is not None:
                out[p] = merged
    return out


def _totals(index: ModelIndex, order: list[str]) -> dict[str, tuple[int, int, frozenset[str]]]:
    """(parameter elements, bytes of parameters and buffers, dtypes of the parameters) per path of `order`
    (`_walk`), each tensor object and each block object counted at its first use only."""
    out: dict[str, tuple[int, int, frozenset[str]]] = {}
    for p in reversed(order):  # summed in reverse pre-order
        if p in index.tensors:
            entry = index.tensors[p]
            first = index.canonical_tensor(p) == p
            is_param = entry.kind == "param"
            out[p] = (entry.meta.numel if first and is_param else 0, entry.meta.nbytes if first else 0,
                      frozenset([entry.meta.dtype]) if first and is_param and entry.meta.dtype else frozenset())
        elif index.canonical_block(p) != p:
            out[p] = (0, 0, frozenset())
        else:
            kids = [out[c] for c in index.blocks[p].children]
            out[p] = (sum(k[0] for k in kids), sum(k[1] for k in kids), frozenset().union(*(k[2] for k in kids)))
    return out
