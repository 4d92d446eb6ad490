"""What the benchmarks share: timing, paramscope's two views, the comparison table, import times."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paramscope as ps
from paramscope import protocol

TABLE_HEAD = ["| model | tool | time | x paramscope first view | payload | x paramscope first view |",
              "|---|---|---:|---:|---:|---:|"]


def timed(fn: Callable[[], Any], repeat: int = 5) -> tuple[float, Any]:
    """Median wall time of `repeat` runs (after one warm-up) and the last result."""
    result = fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def ask(model: Any, **request: Any) -> str:
    """The JSON text of paramscope's answer to one protocol request about `model` (as "m"); raises on a refusal."""
    response = protocol.handle({"id": 1, "model": "m", **request}, models={"m": model}, namespace={})
    if not response["ok"]:
        raise RuntimeError(json.dumps(response)[:300])
    return protocol.to_json(response)


def write_results(out: Path, lines: list[str]) -> None:
    """Write a results table (markdown) and print it."""
    out.write_text("\n".join(lines))
    print("\n".join(lines))


def paramscope_views(model: Any) -> dict[str, Callable[[], str]]:
    """paramscope's first view (as the front ends ask: the root and its first page of 200 children) and the
    whole tree, as JSON text."""

    return {
        "paramscope (first view)": lambda: ask(model, op="tree", depth=1, limit=200),
        "paramscope (whole tree)": lambda: json.dumps(ps.inspect(model, name="m").to_json()),
    }


def table_rows(name: str, tools: dict[str, Callable[[], str]]) -> list[str]:
    """One row per tool: time and payload, each as a ratio to the first tool (paramscope's first view)."""
    rows = []
    base_t = base_n = None
    for tool, fn in tools.items():
        try:
            t, out = timed(fn)
            size = len(out.encode())
        except Exception as e:  # noqa: BLE001 - a failing peer is a result too
            rows.append(f"| {name} | {tool} | fails: {type(e).__name__}: {str(e)[:60]} | | | |")
            continue
        if base_t is None or base_n is None:
            base_t, base_n = t, size
        rows.append(f"| {name} | {tool} | {t * 1000:.2f} ms | {t / base_t:.1f}x | {size:,} B | {size / base_n:.1f}x |")
    return rows


def import_time(code: str) -> float:
    """Median wall time of a fresh interpreter running `code` (imports), minus one running nothing."""

    def run(source: str) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", source], check=True, stderr=subprocess.DEVNULL,
                           env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    return max(0.0, run(code) - run("pass"))


def numpy_stats(a: Any) -> Any:
    """What ps.stats reports, computed by numpy on one float64 copy (the peer for statistics)."""
    import numpy as np

    a = np.asarray(a, dtype=np.float64)
    return a.mean(), a.std(), a.min(), a.max(), np.histogram(a, bins=64)
