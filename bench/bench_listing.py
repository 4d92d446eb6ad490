"""What a view costs the kernel after every cell: the `models` listing (sidebar, VS Code) and the fingerprints of
the rows in sight (every open view), with two 10,000-module PyTorch models in the namespace; writes
bench/results_listing.md. Run: `python bench/bench_listing.py` (or `make bench`)."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

from common import timed, write_results

import paramscope  # noqa: F401 - the package, before its submodules
from paramscope import listing, protocol

OUT = Path(__file__).with_name("results_listing.md")


def _namespace(big: bool) -> dict[str, Any]:
    import torch
    from torch import nn

    torch.manual_seed(0)
    shared = nn.Linear(8, 8)
    ns: dict[str, Any] = {
        "net": nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1)),
        "snet": nn.Sequential(nn.Linear(4, 8), nn.ReLU(), shared, nn.ReLU(), shared, nn.ReLU(), nn.Linear(8, 1)),
    }
    if big:
        ns["wide"] = nn.Sequential(*[nn.Linear(2, 2) for _ in range(10_000)])
        ns["deep"] = nn.Sequential(*[nn.Sequential(nn.Linear(2, 2)) for _ in range(5_000)])
    return ns


def _listing_of(ns: dict[str, Any]) -> Any:
    # As in a kernel: the models are found in the namespace (session.models), then summarized.
    from paramscope import session

    return protocol.handle({"id": 1, "op": "models"}, models=session.models(ns), namespace=ns)


def _uncached(ns: dict[str, Any]) -> Any:
    listing._CACHE.clear()
    return _listing_of(ns)


def _fingerprints(ns: dict[str, Any], name: str, paths: list[str]) -> Any:
    response = protocol.handle({"id": 1, "op": "fingerprints", "model": name, "paths": paths}, models=ns, namespace=ns)
    assert response["ok"], response
    return response


def main() -> None:
    import torch

    small, big = _namespace(False), _namespace(True)
    rows: list[tuple[str, float]] = []
    base, _ = timed(lambda: _listing_of(small))
    rows.append(("listing, chapter models only", base))
    rows.append(("listing, + two 10,000-module models, cached (revision and structure key unchanged)",
                 timed(lambda: _listing_of(big))[0]))
    walk = timed(lambda: [sum(1 for _ in big[name].modules()) for name in ("wide", "deep")])[0]
    rows.append(("peer: one `modules()` walk of the two big models (the least any structure check costs)", walk))
    rows.append(("listing, + two 10,000-module models, no cache (every model indexed, as before)",
                 timed(lambda: _uncached(big))[0]))

    def changed() -> Any:
        from torch import nn

        big["wide"][17] = nn.Linear(2, 2)  # replaced by code: the structure key differs, that model is re-read
        return _listing_of(big)

    rows.append(("listing after code replaced a layer of one big model", timed(changed)[0]))
    visible = [f"{i}.{p}" for i in range(20) for p in ("weight", "bias")]
    rows.append(("fingerprints of the selected row, chapter net",
                 timed(lambda: _fingerprints(big, "snet", ["0.weight"]))[0]))
    rows.append(("fingerprints of 40 rows in sight, 10,000-module model",
                 timed(lambda: _fingerprints(big, "wide", visible))[0]))
    lines = [
        "# What a view costs the kernel after each cell",
        "",
        f"torch {torch.__version__}, Python {platform.python_version()}; median of 5 runs after a warm-up. "
        "The listing is the `models` op the sidebar and VS Code send after each cell; the fingerprints are what "
        "each open view sends to find changed values. Measured on a shared 2-core machine: compare the ratios.",
        "",
        "| request | time | x one `modules()` walk of the big models | x chapter-only listing |",
        "|---|---:|---:|---:|",
        *[f"| {name} | {t * 1000:.2f} ms | {t / walk:.2f}x | {t / base:.1f}x |" for name, t in rows],
        "",
    ]
    write_results(OUT, lines)


if __name__ == "__main__":
    main()
