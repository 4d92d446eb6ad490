"""Repeated structure: runs of consecutive child blocks with the same type and parameter shapes (transformer layers)."""

from __future__ import annotations

from typing import Any

from .tree import ModelIndex

MIN_RUN = 3  # blocks in a run worth folding (two alike layers stay apart)


def runs(index: ModelIndex, path: str) -> list[dict[str, Any]]:
    """Runs of at least MIN_RUN consecutive child blocks of `path` with one structural signature: the block's type,
    the type of every sub-block and the kind, shape and dtype of every tensor, by relative path. Each run is
    `{start, count, first, last, first_name, last_name}` (`start`: position among the children)."""
    children = index.blocks[path].children
    signatures = [_signature(index, child) if child in index.blocks else None for child in children]
    out = []
    start = 0
    while start < len(children):
        end = start + 1
        if signatures[start] is not None:
            while end < len(children) and signatures[end] == signatures[start]:
                end += 1
        if end - start >= MIN_RUN:
            first, last = index.blocks[children[start]], index.blocks[children[end - 1]]
            out.append({"start": start, "count": end - start, "first": first.path, "last": last.path,
                        "first_name": first.name, "last_name": last.name})
        start = end
    return out


def _signature(index: ModelIndex, path: str) -> tuple[Any, ...] | None:
    """What makes two blocks "the same shape"; None for a second use of a block (it stays a row of its own)."""
    if index.canonical_block(path) != path:
        return None
    cut = len(path) + 1
    parts: list[tuple[Any, ...]] = [(index.blocks[path].type,)]
    stack = [iter(index.blocks[path].children)]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
        elif child in index.tensors:
            entry = index.tensors[child]
            shape = tuple(entry.meta.shape) if entry.meta.shape is not None else None
            parts.append((child[cut:], entry.kind, shape, entry.meta.dtype, entry.meta.trainable))
        else:
            parts.append((child[cut:], index.blocks[child].type))
            stack.append(iter(index.blocks[child].children))
    return tuple(parts)
