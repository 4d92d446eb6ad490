"""Framework-neutral model index and the Node tree built from it (JSON in and out, lazy children)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any, Literal

Kind = Literal["model", "block", "param", "buffer"]
State = Literal["ready", "lazy", "meta", "deferred", "unbuilt"]


@dataclass
class TensorMeta:
    """What an adapter reads off a parameter or buffer without touching its values."""

    shape: list[int | None] | None  # None where even the rank is unknown; None entries are unknown dims
    dtype: str | None
    device: str | None
    trainable: bool
    state: State
    numel: int  # 0 while the shape is not fully known
    nbytes: int
    has_grad: bool
    # A sharded tensor (PyTorch DTensor): global/local shape, mesh, placements and per-rank layout; shape,
    # numel and nbytes above are the global tensor's.
    sharding: dict[str, Any] | None = None


@dataclass
class TensorEntry:
    """One use of a parameter or buffer at one path. Tied uses share `obj`."""

    path: str
    name: str
    kind: Literal["param", "buffer"]
    owner: str  # path of the block that holds it
    code: str
    obj: Any
    type: str
    meta: TensorMeta
    alt_name: str | None = None  # a second name the framework uses (MXNet's "dense0_weight")


@dataclass
class BlockEntry:
    """One use of a block at one path; `children` are child block and tensor paths in order."""

    path: str
    name: str
    code: str
    obj: Any
    type: str
    children: list[str] = field(default_factory=list)
    state: State = "ready"


@dataclass
class ModelIndex:
    """Everything the tree needs, read once per request by an adapter's `index(model)`."""

    framework: str
    blocks: dict[str, BlockEntry]  # "" is the root
    tensors: dict[str, TensorEntry]
    alt_names: dict[str, str] = field(default_factory=dict)  # alternative name -> path

    def canonical_tensor(self, path: str) -> str:
        """First path, in index order, at which the same tensor object is used."""
        return self._canonical_tensors().get(path, path)

    def canonical_block(self, path: str) -> str:
        """First path, in index order, at which the same block object is used."""
        return self._canonical_blocks().get(path, path)

    def _canonical_tensors(self) -> dict[str, str]:
        cached: dict[str, str] | None = getattr(self, "_ct", None)
        if cached is None:
            cached = _first_use(self.tensors)
            object.__setattr__(self, "_ct", cached)
        return cached

    def _canonical_blocks(self) -> dict[str, str]:
        cached: dict[str, str] | None = getattr(self, "_cb", None)
        if cached is None:
            cached = _first_use(self.blocks)
            object.__setattr__(self, "_cb", cached)
        return cached

    def aliases(self, path: str) -> list[str]:
        """Every path of the tensor at `path`, canonical first."""
        groups: dict[str, list[str]] | None = getattr(self, "_groups", None)
        if groups is None:
            groups = {}
            for p, canon in self._canonical_tensors().items():
                groups.setdefault(canon, []).append(p)
            object.__setattr__(self, "_groups", groups)
        return groups.get(self.canonical_tensor(path), [path])

    def block_uses(self, path: str) -> list[str]:
        """Every path of the block at `path`, canonical first."""
        groups: dict[str, list[str]] | None = getattr(self, "_bgroups", None)
        if groups is None:
            groups = {}
            for p, canon in self._canonical_blocks().items():
                groups.setdefault(canon, []).append(p)
            object.__setattr__(self, "_bgroups", groups)
        return groups.get(self.canonical_block(path), [path])

    def subtree_tensors(self, path: str) -> Iterator[TensorEntry]:
        """Tensor uses under block `path` (depth first, in order), following every block use."""
        # Children in their own order (a block's tensors where the framework lists them, then its sub-blocks):
        # the order of named_parameters() / weights / collect_params(), which is the order draws are made in.
        stack = [iter(self.blocks[path].children)]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
            elif child in self.tensors:
                yield self.tensors[child]
            else:
                stack.append(iter(self.blocks[child].children))

    def unique_params(self, path: str) -> list[TensorEntry]:
        """Trainable-or-not parameters under `path` (block or tensor), each tied object once."""
        entries = [self.tensors[path]] if path in self.tensors else list(self.subtree_tensors(path))
        seen: set[int] = set()
        out = []
        for entry in entries:
            if entry.kind == "param" and id(entry.obj) not in seen:
                seen.add(id(entry.obj))
                out.append(entry)
        return out


def _first_use(entries: dict[str, Any]) -> dict[str, str]:
    first: dict[int, str] = {}
    out = {}
    for path, entry in entries.items():
        out[path] = first.setdefault(id(entry.obj), path)
    return out


@dataclass
class Node:
    """One row of the tree, as every front end receives it (JSON primitives only)."""

    path: str
    name: str
    kind: Kind
    type: str
    shape: list[int | None] | None
    dtype: str | None
    device: str | None
    trainable: bool | None
    state: State
    numel: int
    nbytes: int
    n_params: int
    n_params_with_aliases: int
    n_buffers: int  # elements of buffers / running statistics (each once), counted apart from n_params
    tied_to: str | None
    aliases: list[str]
    has_grad: bool
    n_children: int
    code: str
    alt_name: str | None = None
    sharding: dict[str, Any] | None = None
    children: list[Node] | None = None
    children_offset: int = 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "children":
                if value is not None:
                    out["children"] = [child.to_json() for child in value]
            elif f.name == "sharding":  # optional: present only on sharded tensors
                if value is not None:
                    out["sharding"] = value
            else:
                out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Node:
        kwargs = {f.name: data[f.name] for f in fields(cls) if f.name in data and f.name != "children"}
        children = data.get("children")
        return cls(**kwargs, children=None if children is None else [cls.from_json(c) for c in children])

    def find(self, path: str) -> Node | None:
        """The expanded descendant (or self) at `path`."""
        if self.path == path:
            return self
        for child in self.children or ():
            hit = child.find(path)
            if hit is not None:
                return hit
        return None

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children or ():
            yield from child.walk()


class _Counts:
    """Unique and with-alias parameter counts per block, computed once per index."""

    def __init__(self, index: ModelIndex) -> None:
        self.index = index
        self._memo: dict[str, tuple[dict[int, TensorEntry], int]] = {}

    def of(self, path: str) -> tuple[dict[int, TensorEntry], int]:
        """(unique tensors by object id, params numel counted at every use) under block `path`."""
        if path in self._memo:
            return self._memo[path]
        # Iterative post-order so that 10,000-deep chains do not hit the recursion limit.
        order: list[str] = []
        stack = [path]
        while stack:
            p = stack.pop()
            if p in self._memo:
                continue
            order.append(p)
            stack.extend(c for c in self.index.blocks[p].children if c in self.index.blocks)
        for p in reversed(order):
            if p in self._memo:
                continue
            unique: dict[int, TensorEntry] = {}
            with_aliases = 0
            for child in self.index.blocks[p].children:
                if child in self.index.tensors:
                    entry = self.index.tensors[child]
                    unique.setdefault(id(entry.obj), entry)
                    if entry.kind == "param":
                        with_aliases += entry.meta.numel
                else:
                    sub_unique, sub_with = self._memo[child]
                    for key, entry in sub_unique.items():
                        unique.setdefault(key, entry)
                    with_aliases += sub_with
            self._memo[p] = (unique, with_aliases)
        return self._memo[path]


def build(
    index: ModelIndex,
    path: str = "",
    depth: int | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> Node:
    """Node at `path` with children expanded `depth` levels (None: all); the first level paged by offset/limit."""
    counts = _Counts(index)
    return _node(index, counts, path, depth, offset, limit)


def shallow(index: ModelIndex) -> Callable[[str], Node]:
    """A maker of depth-0 nodes of `index` sharing one count memo: many rows, each subtree counted once."""
    counts = _Counts(index)
    return lambda path: _node(index, counts, path, 0, 0, None)


def _node(
    index: ModelIndex, counts: _Counts, path: str, depth: int | None, offset: int, limit: int | None
) -> Node:
    if path in index.tensors:
        return _tensor_node(index, index.tensors[path])
    block = index.blocks[path]
    unique, with_aliases = counts.of(path)
    params = [e for e in unique.values() if e.kind == "param"]
    canon = index.canonical_block(path)
    block_aliases = [p for p in index.block_uses(path) if p != path]
    devices = {e.meta.device for e in unique.values() if e.meta.device}
    dtypes = {e.meta.dtype for e in params if e.meta.dtype}
    states = {e.meta.state for e in unique.values()}
    node = Node(
        path=path,
        name=block.name,
        kind="model" if path == "" else "block",
        type=block.type,
        shape=None,
        dtype=dtypes.pop() if len(dtypes) == 1 else ("mixed" if dtypes else None),
        device=devices.pop() if len(devices) == 1 else ("mixed" if devices else None),
        trainable=any(e.meta.trainable for e in params) if params else None,
        state=_block_state(block.state, states),
        numel=sum(e.meta.numel for e in params),
        nbytes=sum(e.meta.nbytes for e in unique.values()),
        n_params=sum(e.meta.numel for e in params),
        n_params_with_aliases=with_aliases,
        n_buffers=sum(e.meta.numel for e in unique.values() if e.kind == "buffer"),
        tied_to=canon if canon != path else None,
        aliases=block_aliases,
        has_grad=any(e.meta.has_grad for e in params),
        n_children=len(block.children),
        code=block.code,
    )
    if depth is None or depth > 0:
        stop = None if limit is None else offset + limit
        node.children = [
            _node(index, counts, child, None if depth is None else depth - 1, 0, None)
            for child in block.children[offset:stop]
        ]
        node.children_offset = offset
    return node


def _block_state(own: State, tensor_states: set[State]) -> State:
    if own != "ready":
        return own
    order: tuple[State, ...] = ("unbuilt", "deferred", "lazy", "meta")
    for state in order:
        if state in tensor_states:
            return state
    return "ready"


def _tensor_node(index: ModelIndex, entry: TensorEntry) -> Node:
    meta = entry.meta
    canon = index.canonical_tensor(entry.path)
    is_param = entry.kind == "param"
    return Node(
        path=entry.path,
        name=entry.name,
        kind=entry.kind,
        type=entry.type,
        shape=meta.shape,
        dtype=meta.dtype,
        device=meta.device,
        trainable=meta.trainable,
        state=meta.state,
        numel=meta.numel,
        nbytes=meta.nbytes,
        n_params=meta.numel if is_param else 0,
        n_params_with_aliases=meta.numel if is_param else 0,
        n_buffers=0 if is_param else meta.numel,
        tied_to=canon if canon != entry.path else None,
        aliases=[p for p in index.aliases(entry.path) if p != entry.path],
        has_grad=meta.has_grad,
        n_children=0,
        code=entry.code,
        alt_name=entry.alt_name,
        sharding=meta.sharding,
    )
