"""paramscope against its Keras 3 peers, in one run: time to the first view, payload, tied-parameter counts.

Peers: model.summary() (captured with print_fn), model.count_params(), treescope (HTML pretty-printer) and
repr(model) (what a notebook shows). Every number is a ratio against paramscope measured in the same process,
so machines compare. Writes bench/results_keras.md. Run with `make bench`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
from common import TABLE_HEAD, import_time, numpy_stats, paramscope_views, table_rows, timed
from keras import layers

import paramscope as ps

WIDE = 1_000
BACKENDS = ("tensorflow", "torch", "jax")
# A built Sequential of WIDE layers is a functional graph that Keras walks recursively (RecursionError at the
# default limit of 1,000 frames).
sys.setrecursionlimit(max(sys.getrecursionlimit(), 20 * WIDE))


def gpt2(n_layer: int = 12, dim: int = 768, vocab: int = 50257) -> keras.Model:
    """GPT-2 small's parameter layout as a functional model, built from code (random weights).

    The output projection is not tied to the embedding (Keras has no stock way to share a transposed
    variable), so the model has 163M parameters: GPT-2's 124M plus lm_head's 38.6M."""
    ids = keras.Input((None,), dtype="int32", name="ids")
    pos = keras.Input((None,), dtype="int32", name="pos")
    x = layers.Embedding(vocab, dim, name="wte")(ids) + layers.Embedding(1024, dim, name="wpe")(pos)
    for i in range(n_layer):
        h = layers.LayerNormalization(name=f"h{i}_ln_1")(x)
        h = layers.Dense(3 * dim, name=f"h{i}_attn_c_attn")(h)
        x = x + layers.Dense(dim, name=f"h{i}_attn_c_proj")(h[..., :dim])  # the layout, not attention
        h = layers.LayerNormalization(name=f"h{i}_ln_2")(x)
        h = layers.Dense(4 * dim, name=f"h{i}_mlp_c_fc")(h)
        x = x + layers.Dense(dim, name=f"h{i}_mlp_c_proj")(h)
    x = layers.LayerNormalization(name="ln_f")(x)
    return keras.Model([ids, pos], layers.Dense(vocab, use_bias=False, name="lm_head")(x), name="gpt2")


def chapter_shared() -> keras.Model:
    """A functional MLP calling one Dense layer twice."""
    x = keras.Input((4,))
    shared = layers.Dense(8, activation="relu", name="shared")
    h = shared(shared(layers.Dense(8, activation="relu", name="first")(x)))
    return keras.Model(x, layers.Dense(1, name="out")(h), name="chapter")


def tied_by_paramscope() -> keras.Model:
    """Two Dense layers of one shape whose kernels ps.tie made one variable."""
    model = keras.Sequential([keras.Input((8,)), layers.Dense(8, name="a"), layers.Dense(8, name="b")],
                             name="tied")
    ps.tie(model, "tied/b/kernel", "tied/a/kernel")
    return model


def wide(n: int = WIDE) -> keras.Model:
    return keras.Sequential([keras.Input((4,))] + [layers.Dense(4) for _ in range(n)], name="wide")


def summary_text(model: keras.Model) -> str:
    out: list[str] = []
    model.summary(print_fn=lambda line, line_break=True: out.append(line))
    return "\n".join(out)


def peers(model: keras.Model) -> dict[str, Callable[[], str]]:
    import treescope

    return {
        **paramscope_views(model),
        "model.summary()": lambda: summary_text(model),
        "model.count_params()": lambda: str(model.count_params()),
        "treescope.render_to_html (repr fallback)": lambda: treescope.render_to_html(model, ignore_exceptions=True),
        "repr(model)": lambda: repr(model),
    }


def unique_params(model: keras.Model) -> int:
    """The truth: sizes summed over the distinct variables (by id) of every layer, the model's included."""
    seen: dict[int, Any] = {}
    for layer in [model, *model._flatten_layers(include_self=False, recursive=True)]:
        for v in layer.weights:
            seen[id(v)] = v
    return sum(int(np.prod(v.shape)) for v in seen.values())


def tied_counts(model: keras.Model) -> dict[str, Any]:
    total = re.search(r"Total params:\s*([\d,]+)", summary_text(model))
    return {
        "truth": unique_params(model),
        "paramscope": ps.inspect(model).n_params,
        "count_params": model.count_params(),
        "summary": int(total.group(1).replace(",", "")) if total else "?",
    }


def main() -> None:
    started = time.perf_counter()
    build_times = {}
    models = {}
    for name, make in (("chapter MLP with a shared layer", chapter_shared),
                       (f"{WIDE:,} Dense layers in a Sequential", wide),
                       ("GPT-2 small layout, untied (163M)", gpt2)):
        start = time.perf_counter()
        models[name] = make()
        build_times[name] = time.perf_counter() - start
    lines = ["# paramscope vs Keras 3 peers", "",
             f"keras {keras.__version__} (TensorFlow backend {_tf_version()}), Python {sys.version.split()[0]}; "
             f"median of 5 runs after a warm-up; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at "
             "the start. Models are built from code with random weights; build times: "
             + ", ".join(f"{n} {t:.1f} s" for n, t in build_times.items()) + ".", "",
             "GPT-2 small's layout: Embeddings 50257x768 and 1024x768, 12 blocks of LayerNorm, Dense 768→2304, "
             "768→768, LayerNorm, Dense 768→3072, 3072→768, a final LayerNorm and an lm_head Dense 768→50257 "
             "without bias. "
             "Unlike the PyTorch and MXNet benchmarks, lm_head is not tied to the embedding (Keras has no stock "
             "way to share a transposed variable), so the model holds 163M parameters. treescope has no Keras "
             "handler: it renders Keras models as their one-line repr (no layers, no parameters), so its time and "
             "payload measure that fallback, as `repr(model)` and `count_params()` (a number) show nothing of "
             "the tree either.", ""]
    lines += TABLE_HEAD
    for name, model in models.items():
        lines += table_rows(name, peers(model))
        print(f"{name}: done at {time.perf_counter() - started:.0f} s", file=sys.stderr)
    lines += ["", "## Tied parameters counted once?", "",
              "Truth: sizes summed over the distinct variables (by `id`) of all layers.", "",
              "| model | truth | paramscope | model.count_params() | model.summary() total |",
              "|---|---:|---:|---:|---:|"]
    tied = {"chapter MLP with a shared layer (one Dense called twice)": models["chapter MLP with a shared layer"],
            "two Dense layers, kernels tied with ps.tie": tied_by_paramscope(),
            "GPT-2 small layout, untied (163M)": models["GPT-2 small layout, untied (163M)"]}
    for name, model in tied.items():
        c = tied_counts(model)
        lines.append(f"| {name} | {c['truth']:,} | {c['paramscope']:,} | {c['count_params']:,} | "
                     f"{c['summary']:,} |")
    big = models["GPT-2 small layout, untied (163M)"]
    largest = max(big.weights, key=lambda v: int(np.prod(v.shape)))
    t, s = timed(lambda: ps.stats(big, largest.path), repeat=3)
    lines += ["", "## Statistics of the largest tensor", "",
              f"`ps.stats(gpt2, {largest.path!r})` ({s['numel']:,} values, 64-bin histogram): {t * 1000:.0f} ms; "
              f"numpy on a copy: {timed(lambda: numpy_stats(largest.numpy()), repeat=3)[0] * 1000:.0f} ms. "
              "paramscope reads the tensor in chunks on its own device, in float64, and counts NaN, Inf and zeros "
              "besides mean/std/min/max (one pass), then bins it (a second pass); numpy computes mean, std, min, "
              "max and a 64-bin histogram of one float64 copy (no NaN/Inf handling)."]
    lines += per_backend()
    lines += ["", "## Import time", "", "| import | time | x paramscope |", "|---|---:|---:|"]
    base = None
    for module in ("paramscope", "treescope", "keras", "tensorflow"):
        took = import_time(f"import {module}")
        base = base or took
        lines.append(f"| `import {module}` | {took * 1000:.0f} ms | {took / base:.1f}x |")
    out = Path(__file__).with_name("results_keras.md")
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"total {time.perf_counter() - started:.0f} s", file=sys.stderr)


def backend_numbers() -> dict[str, Any]:
    """The GPT-2 layout on this process's Keras backend: paramscope's first view and statistics of the largest
    tensor against model.summary(), count_params() and numpy on a copy, in seconds."""
    model = gpt2()
    largest = max(model.weights, key=lambda v: int(np.prod(v.shape)))
    view = paramscope_views(model)["paramscope (first view)"]
    stats = ps.stats(model, largest.path)
    return {
        "first_view": timed(view)[0], "summary": timed(lambda: summary_text(model))[0],
        "count_params": timed(lambda: str(model.count_params()))[0],
        "stats": timed(lambda: ps.stats(model, largest.path), repeat=3)[0],
        "numpy": timed(lambda: numpy_stats(keras.ops.convert_to_numpy(largest.value)), repeat=3)[0],
        "n_params": ps.inspect(model).n_params, "count": model.count_params(), "largest": largest.path,
        "numel": stats["numel"], "device": stats["device"],
    }


def per_backend() -> list[str]:
    """One process per Keras backend (a process cannot switch), each timing its own peers."""
    lines = ["", "## Each Keras backend", "",
             "The GPT-2 layout built on each backend in its own process (KERAS_BACKEND), paramscope's first view "
             "against that backend's `model.summary()` and `count_params()`, and `ps.stats` of the largest tensor "
             "against numpy on a host copy, same process. Ratios are to paramscope's first view (and to ps.stats).",
             "", "| backend | paramscope first view | model.summary() | x | count_params() | x | params (paramscope / "
             "count_params) | ps.stats(wte) | numpy on a copy | x |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for backend in BACKENDS:
        run = subprocess.run([sys.executable, __file__, "--backend"], capture_output=True, text=True,
                             env={**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"})
        if run.returncode:
            lines.append(f"| {backend} | fails: {run.stderr.strip().splitlines()[-1][:80]} | | | | | | | | |")
            continue
        n = json.loads(run.stdout.strip().splitlines()[-1])
        base = n["first_view"]
        lines.append(
            f"| {backend} ({n['device']}) | {base * 1000:.2f} ms | {n['summary'] * 1000:.1f} ms | "
            f"{n['summary'] / base:.1f}x | {n['count_params'] * 1000:.2f} ms | {n['count_params'] / base:.1f}x | "
            f"{n['n_params']:,} / {n['count']:,} | {n['stats'] * 1000:.0f} ms | {n['numpy'] * 1000:.0f} ms | "
            f"{n['numpy'] / n['stats']:.1f}x |")
        print(f"backend {backend}: done", file=sys.stderr)
    return lines


def _tf_version() -> str:
    import tensorflow as tf

    return tf.__version__


if __name__ == "__main__":
    if "--backend" in sys.argv:
        print(json.dumps(backend_numbers()))
    else:
        main()
