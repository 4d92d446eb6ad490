"""The search grammar: a query string parsed into terms (src/tree/SearchQuery.ts parses the same way)."""

from __future__ import annotations

import re
from typing import Any

from ._errors import ActionError

MAX_QUERY = 1_000  # characters in one query
MAX_TERMS = 32  # terms in one query

FIELDS = ("type", "dtype", "device", "state", "kind")
FLAGS = ("trainable", "frozen", "tied")
STATES = ("ready", "lazy", "meta", "deferred", "unbuilt")
KINDS = ("model", "block", "param", "buffer")

_COMPARE = re.compile(r"(numel|nbytes)\s*(>=|<=|!=|=|>|<)\s*")
_NUMBER = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_SUFFIX = {"k": 1e3, "m": 1e6, "g": 1e9}
WILD = re.compile(r"[*?\[]")


def parse(query: str) -> list[dict[str, Any]]:
    """Terms of `query` (all must hold: spaces mean AND). ActionError with the position for a bad query.

    Terms: text (substring of the path, any case), a glob (`h.*.attn.c_attn.weight`, whole path), "quoted text"
    (a literal substring, spaces allowed), `type:` `dtype:` `device:` `state:` `kind:` filters, the flags
    `trainable` `frozen` `tied`, size comparisons `numel>1e6` `nbytes<=4M` (suffixes k M G: powers of 1,000);
    `-term` negates."""
    if len(query) > MAX_QUERY:
        raise ActionError(f"the query is {len(query):,} characters long; the limit is {MAX_QUERY:,}")
    terms: list[dict[str, Any]] = []
    pos = 0
    while True:
        while pos < len(query) and query[pos].isspace():
            pos += 1
        if pos >= len(query):
            return terms
        if len(terms) == MAX_TERMS:
            raise ActionError(f"a query holds at most {MAX_TERMS} terms")
        start = pos
        negate = query[pos] == "-"
        if negate:
            pos += 1
            if pos >= len(query) or query[pos].isspace():
                raise ActionError(f"'-' at {start + 1} must be followed by a term to leave out (e.g. -bias)")
        term, pos = _term(query, pos)
        term["negate"] = negate
        terms.append(term)


def _term(query: str, pos: int) -> tuple[dict[str, Any], int]:
    if query[pos] == '"':
        end = query.find('"', pos + 1)
        if end < 0:
            raise ActionError(f'the quote at {pos + 1} is not closed: add a " after the text')
        if end == pos + 1:
            raise ActionError(f'empty quotes at {pos + 1}: put the text to find between them')
        return {"kind": "text", "value": query[pos + 1 : end]}, end + 1
    compare = _COMPARE.match(query, pos)
    if compare:
        return _comparison(query, compare)
    end = pos
    while end < len(query) and not query[end].isspace():
        end += 1
    word = query[pos:end]
    if word in FLAGS:
        return {"kind": "flag", "flag": word}, end
    head, colon, value = word.partition(":")
    if colon and re.fullmatch(r"[A-Za-z_]+", head):
        return _field(head, value, pos), end
    return {"kind": "glob" if WILD.search(word) else "text", "value": word}, end


def _comparison(query: str, found: re.Match[str]) -> tuple[dict[str, Any], int]:
    field, op = found.group(1), found.group(2)
    number = _NUMBER.match(query, found.end())
    if not number:
        raise ActionError(f"{field}{op} at {found.start() + 1} needs a number, e.g. {field}{op}1e6")
    value = float(number.group())
    end = number.end()
    if end < len(query) and query[end].lower() in _SUFFIX:
        value *= _SUFFIX[query[end].lower()]
        end += 1
    if end < len(query) and not query[end].isspace():
        raise ActionError(f"{field}{op} at {found.start() + 1} needs a number, e.g. {field}{op}1e6")
    return {"kind": "compare", "field": field, "op": "==" if op == "=" else op,
            "value": int(value) if value.is_integer() else value}, end


def _field(head: str, value: str, pos: int) -> dict[str, Any]:
    if head not in FIELDS:
        raise ActionError(f"unknown filter '{head}:' at {pos + 1}; filters are {', '.join(f + ':' for f in FIELDS)}"
                          " (quote text that holds a colon)")
    if not value:
        raise ActionError(f"'{head}:' at {pos + 1} needs a value, e.g. {_EXAMPLES[head]}")
    if head == "state" and value.lower() not in STATES:
        raise ActionError(f"state:{value} at {pos + 1}: a state is one of {', '.join(STATES)}")
    if head == "kind" and value.lower() not in KINDS:
        raise ActionError(f"kind:{value} at {pos + 1}: a kind is one of {', '.join(KINDS)}")
    return {"kind": "field", "field": head, "value": value}


_EXAMPLES = {"type": "type:Linear", "dtype": "dtype:float16", "device": "device:cuda:0", "state": "state:lazy",
             "kind": "kind:param"}
