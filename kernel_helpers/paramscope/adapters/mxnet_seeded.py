"""Seeded MXNet draws in a forked child process, so that the kernel's global random state stays untouched.

MXNet 1.9 has no public way to read or restore its global generator (`mx.random.seed` only sets it), so a
seeded reinit cannot seed, draw and put the old state back the way PyTorch's `fork_rng` does. Instead the draw
runs in an `os.fork()` child: the child inherits the model and the initializers, seeds MXNet's CPU generator,
NumPy's and Python's global generators with `seed`, runs the draw and sends the values back through a pipe.
The parent never seeds and never draws, so the user's next `mx.nd.random` / `numpy.random` values are the ones
they would have been. MXNet supports fork (its DataLoader workers rely on it: pthread_atfork handlers stop and
restart the engine), and the child runs only CPU work, as Gluon's own `initialize` does.

Whatever the draw prints (the chapter's `MyInit` prints each name) is captured in the child and printed here.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import random
import select
import signal
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from .._errors import ActionError

T = TypeVar("T")

# Drawing even GPT-2-sized parameters takes seconds; past this the child is assumed stuck and is stopped.
TIMEOUT_S = 300.0


def draw_seeded(seed: int, draw: Callable[[], T]) -> T:
    """`draw()` with MXNet, NumPy and Python seeded by `seed`, run in a forked child; returns its (picklable)
    result. Exceptions raised by `draw` are raised here; output it prints is printed here."""
    if not hasattr(os, "fork"):
        raise ActionError("a seeded MXNet reinit draws in a forked process (MXNet cannot save and restore "
                          "its global random state), and this platform has no os.fork: leave seed out")
    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():
        # Python >= 3.12 warns that fork() in a multi-threaded process may deadlock; the child only runs the
        # draw (no locks shared with the kernel's threads) and leaves with os._exit.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_fd)
        _child(seed, draw, write_fd)
    os.close(write_fd)
    try:
        status, value, printed = pickle.loads(_read_all(read_fd, TIMEOUT_S))
    except TimeoutError:
        _end(pid)
        raise ActionError(f"the seeded MXNet draw did not finish within {TIMEOUT_S:.0f} s and was stopped; "
                          "try again without seed") from None
    except (EOFError, pickle.UnpicklingError):
        status, value, printed = "error", RuntimeError("the seeded draw's process ended with no answer"), ""
    except BaseException:  # interrupted (KeyboardInterrupt): do not leave the child running
        _end(pid)
        raise
    os.waitpid(pid, 0)
    if printed:
        sys.stdout.write(printed)
    if status == "error":
        raise value
    result: T = value
    return result


def _read_all(fd: int, timeout: float) -> bytes:
    """Everything the child writes, until it closes the pipe; TimeoutError if it takes longer than `timeout`
    (a child stuck on a lock inherited through fork must not hang the kernel, nor the sidebar waiting on it)."""
    deadline = time.monotonic() + timeout
    parts: list[bytes] = []
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
            part = os.read(fd, 1 << 20)
            if not part:
                return b"".join(parts)
            parts.append(part)
    finally:
        os.close(fd)


def _child(seed: int, draw: Callable[[], Any], write_fd: int) -> None:
    code = 1
    try:
        import mxnet as mx
        import numpy

        captured = io.StringIO()
        with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
            try:
                mx.random.seed(seed, ctx=mx.cpu())
                numpy.random.seed(seed)
                random.seed(seed)
                answer: tuple[str, Any] = ("ok", draw())
            except BaseException as error:  # noqa: BLE001 - every failure (KeyboardInterrupt too) goes back
                answer = ("error", _portable(error))
        with os.fdopen(write_fd, "wb") as pipe:
            pickle.dump((*answer, captured.getvalue()), pipe)
        code = 0
    finally:
        os._exit(code)  # never run the kernel's exit handlers or flush its buffers from here


def _portable(error: BaseException) -> BaseException:
    """`error` if it survives pickling (most do), else a RuntimeError that names it."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - some exceptions pickle but cannot be rebuilt
        return RuntimeError(f"{type(error).__name__}: {error}")


def _end(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
