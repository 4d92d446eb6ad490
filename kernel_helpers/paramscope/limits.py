"""The bounds on every size a front end sends (docs/protocol.md lists them), checked before any work is done."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._errors import ActionError

MAX_REQUEST_BYTES = 64 * 2**20  # one request's JSON text
MAX_NESTING = 64  # arrays and objects inside each other (a set_value value has one level per dimension)
MAX_STRING = 65_536  # characters in any string (a path in a 10,000-deep chain of blocks is ~20,000)
MAX_LIST = 100_000  # entries of a list field (fingerprints paths, watch focus); set_value values: MAX_NUMBERS
MAX_NUMBERS = 2**24  # numbers in one set_value value (and never more than the target has elements)
MAX_INT = 2**63 - 1  # magnitude of any integer outside a set_value value
MAX_INDEX_TEXT = 1_000  # characters in a set_value index ("0, 1:3")
MAX_MESSAGE = 2_000  # characters in an error message (the middle of a longer one is cut)
MAX_VALUES = 65_536  # values: max_elems above this is answered with this many (a 256 x 256 heatmap)
MAX_TREE_LIMIT = 10_000  # tree: children per page
MAX_TREE_DEPTH = 100_000  # tree: levels below the node (null: all)
MAX_TREE_NODES = 200_000  # tree: nodes in one answer; ask for a smaller depth or a page instead


class TooBig(Exception):
    """A request field is outside its documented bound (protocol.py answers BadRequest with the message)."""


def check_request(request: Mapping[str, Any]) -> None:
    """Nesting, string, list and integer bounds of a whole request, walked without recursion."""
    stack: list[tuple[Any, int, str]] = [(request, 0, "request")]
    while stack:
        value, depth, where = stack.pop()
        if where == "value":
            continue  # a set_value value is user input: count_numbers bounds it against the target
        if isinstance(value, str):
            if len(value) > MAX_STRING:
                raise TooBig(f"{where} is {len(value):,} characters long; the limit is {MAX_STRING:,}")
        elif isinstance(value, bool) or value is None or isinstance(value, float):
            continue
        elif isinstance(value, int):
            if abs(value) > MAX_INT:
                raise TooBig(f"{where} = {value} does not fit in 64 bits")
        elif isinstance(value, (Mapping, list, tuple)):
            if depth >= MAX_NESTING:
                raise TooBig(f"{where} nests arrays/objects more than {MAX_NESTING} deep")
            if len(value) > MAX_LIST:
                raise TooBig(f"{where} has {len(value):,} entries; the limit is {MAX_LIST:,}")
            if isinstance(value, Mapping):
                for key, item in value.items():
                    if not isinstance(key, str):
                        raise TooBig(f"{where} has a key that is not a string: {key!r}")
                    stack.append((key, depth + 1, f"a key of {where}"))
                    stack.append((item, depth + 1, key if where == "request" else f"{where}.{key}"))
            elif not _flat_ok(value, where):
                stack.extend((item, depth + 1, f"{where}[]") for item in value)


def _flat_ok(items: list[Any] | tuple[Any, ...], where: str) -> bool:
    """True when `items` holds only in-bound numbers or strings (checked in one C-level pass, not item by item)."""
    kinds = set(map(type, items))
    if kinds <= {float, bool, type(None)}:
        return True
    if kinds <= {int, bool}:
        if max(map(abs, items)) > MAX_INT:
            raise TooBig(f"{where} holds an integer that does not fit in 64 bits")
        return True
    if kinds == {str}:
        if max(map(len, items)) > MAX_STRING:
            raise TooBig(f"{where} holds a string longer than {MAX_STRING:,} characters")
        return True
    return False


def check_value(value: Any, numel: int) -> None:
    """A set_value value for a target of `numel` elements: ActionError when it nests more than MAX_NESTING deep
    or holds more numbers (or lists) than the target has elements. Walked level by level, without recursion."""
    most = min(max(numel, 1), MAX_NUMBERS)
    numbers = lists_seen = 0
    level: list[Any] = [value]
    for _depth in range(MAX_NESTING + 1):
        lists = [x for x in level if type(x) is list or type(x) is tuple]  # JSON makes plain lists
        numbers += len(level) - len(lists)
        lists_seen += len(lists)
        if numbers > most or lists_seen > most or sum(map(len, lists)) > most:  # each entry holds a number
            cap = f" (a request carries at most {MAX_NUMBERS:,})" if numel > MAX_NUMBERS else ""
            raise ActionError(f"the value holds more than {most:,} numbers, and the target has {numel:,} elements"
                              f"{cap}: give a number or an array of the target's shape (or one that broadcasts)")
        if not lists:
            return
        level = [x for item in lists for x in item]
    raise ActionError(f"the value nests lists more than {MAX_NESTING} deep; give one level per dimension")


def tree_size(index: Any, path: str, depth: int | None, offset: int, limit: int | None) -> int:
    """Nodes a tree answer would hold (counting stops just past MAX_TREE_NODES)."""
    count = 0
    stack: list[tuple[str, int | None, int, int | None]] = [(path, depth, offset, limit)]
    while stack and count <= MAX_TREE_NODES:
        p, d, off, lim = stack.pop()
        count += 1
        if p in index.tensors or (d is not None and d <= 0):
            continue
        children = index.blocks[p].children
        page = children[off:] if lim is None else children[off : off + lim]
        stack.extend((c, None if d is None else d - 1, 0, None) for c in page)
    return count
