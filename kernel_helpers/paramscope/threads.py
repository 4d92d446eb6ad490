"""Which other threads run a framework's code now: a model training in a background thread of the notebook.

Requests are answered on the kernel's main thread. PyTorch does not allow reading `.grad` while a backward
pass or `zero_grad` runs in another thread (the process dies: "free(): corrupted unsorted chunks"), and a
value read during an optimizer step sees half-updated values. So metadata reads skip gradients while such a
thread is seen, gradient reads answer why they wait, and value reads say they were taken during a step.

A thread counts as training while its Python stack holds a frame of the framework's package, and for
`STICKY_S` seconds after (a loop spends a moment in its own code between steps). A thread seen for the first
time is sampled a few times, so one sample taken between two steps does not miss it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from types import FrameType

STICKY_S = 2.0
_FIRST_SAMPLES = 4
_MAX_DEPTH = 400

# Framework name (adapter.framework; Keras names its backend: "keras/jax") -> packages a training step runs.
PACKAGES: dict[str, tuple[str, ...]] = {
    "pytorch": ("torch",),
    "mxnet": ("mxnet",),
    "keras/tensorflow": ("keras", "tensorflow"),
    "keras/torch": ("keras", "torch"),
    "keras/jax": ("keras", "jax", "jaxlib"),
}

_seen: dict[tuple[int, str], float] = {}  # (thread ident, framework) -> when last seen in its code
_known: set[int] = set()  # thread idents sampled before


def training(framework: str) -> list[str]:
    """Names of the other live threads running (or, within `STICKY_S`, having run) `framework`'s code."""
    dirs = _dirs(PACKAGES.get(framework, ()))
    if not dirs:
        return []
    me = threading.get_ident()
    frames = sys._current_frames()
    rounds = _FIRST_SAMPLES if any(tid not in _known for tid in frames if tid != me) else 1
    now = time.monotonic()
    for n in range(rounds):
        if n:
            time.sleep(0.0005)
            frames = sys._current_frames()
            now = time.monotonic()
        for tid, frame in frames.items():
            if tid != me and _runs(frame, dirs):
                _seen[(tid, framework)] = now
    alive = set(frames)
    _known.clear()
    _known.update(alive)
    for key in [k for k in _seen if k[0] not in alive]:
        del _seen[key]
    del frames
    names = {t.ident: t.name for t in threading.enumerate()}
    return [names.get(tid, f"thread {tid}") for (tid, fw), when in _seen.items()
            if fw == framework and tid in alive and now - when <= STICKY_S]


def describe(names: list[str]) -> str:
    """'thread "Thread-3"' or 'threads "A", "B"', for messages."""
    quoted = ", ".join(f'"{n}"' for n in names)
    return f"thread {quoted}" if len(names) == 1 else f"threads {quoted}"


def _dirs(packages: tuple[str, ...]) -> tuple[str, ...]:
    out = []
    for name in packages:
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if path:
            out.append(os.path.dirname(path) + os.sep)
    return tuple(out)


def _runs(frame: FrameType | None, dirs: tuple[str, ...]) -> bool:
    depth = 0
    while frame is not None and depth < _MAX_DEPTH:
        if frame.f_code.co_filename.startswith(dirs):
            return True
        frame = frame.f_back
        depth += 1
    return False
