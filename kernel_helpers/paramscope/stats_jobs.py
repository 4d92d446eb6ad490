"""Statistics that take longer than a request should: a job that advances one time slice per request.

The sidebar and VS Code talk to the kernel by silent executes, one at a time, and the widget by comm messages;
all three are answered on the kernel's main thread. So a long `stats` request does up to `budget_ms` of work
and answers `pending` with a job id; each `stats_poll` does the next slice and answers the result or `pending`
again with the progress, and `stats_cancel` drops the job. Between slices the kernel answers other requests
(the tree stays usable) and runs cells. No thread reads tensors behind the framework's back: the work runs
where every other request runs. A tensor written between slices (a training cell) restarts the job, twice at
most; after that the result says `changed: true`.
"""

from __future__ import annotations

import contextlib
import itertools
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._errors import ActionError
from .adapters import Adapter
from .stats import Steps, run, sharded, steps
from .tree import TensorEntry

DEFAULT_BUDGET_MS = 300
MAX_BUDGET_MS = 10_000
MAX_JOBS = 8  # open jobs per kernel; the least recently polled goes first
IDLE_S = 120.0  # a job nobody polled for this long is dropped (its front end went away)
RESTARTS = 2


@dataclass
class _Job:
    id: str
    model: Callable[[], Any]  # the model the job reads, held weakly: a job never keeps a model (or its tensor) alive
    adapter: Adapter
    entry: TensorEntry
    grad: bool
    bins: int
    work: Steps
    token: str
    touched: float
    progress: float = 0.0
    restarts: int = 0
    changed: bool = False


_JOBS: dict[str, _Job] = {}
_IDS = itertools.count(1)


def start(adapter: Adapter, entry: TensorEntry, model: Any, *, grad: bool, bins: int,
          budget_ms: int | None) -> dict[str, Any]:
    """The statistics when they are ready within `budget_ms` (None: however long it takes), else a pending
    answer `{path, pending: True, job, progress}` to poll."""
    work = steps(adapter, entry, grad=grad, bins=bins)
    if budget_ms is None or sharded(adapter, entry, grad):
        return run(work)  # a sharded tensor's collectives must run in one go on every rank
    _expire()
    job = _Job(f"stats-{next(_IDS)}", _weak(model), adapter, entry, grad, bins, work,
               _token(adapter, entry, grad), time.monotonic())
    answer = _advance(job, _budget(budget_ms))
    if job.id in _JOBS:
        # The model gone, its job goes with it (the tensor it reads included); a new model at the same id is
        # another model, which `_find` tells apart by identity.
        _finalize(model, job.id)
    return answer


def poll(job_id: str, model: Any, budget_ms: int) -> dict[str, Any]:
    """The next slice of a job: its result, or pending with the progress so far."""
    job = _find(job_id, model)
    job.touched = time.monotonic()
    token = _token(job.adapter, job.entry, job.grad)
    if token != job.token:  # written since the last slice: the moments so far are stale
        job.token = token
        if job.restarts < RESTARTS:
            job.restarts += 1
            job.work.close()
            job.work = steps(job.adapter, job.entry, grad=job.grad, bins=job.bins)
            job.progress = 0.0
        else:
            job.changed = True
    return _advance(job, _budget(budget_ms))


def cancel(job_id: str, model: Any) -> dict[str, Any]:
    """Drop a job; `cancelled` is False when it had already finished or expired (nothing to stop)."""
    job = _JOBS.get(job_id)
    if job is None or job.model() is not model:
        return {"job": job_id, "cancelled": False}
    _drop(job)
    return {"job": job_id, "cancelled": True}


def pending() -> list[str]:
    """Ids of the open jobs (for tests and diagnostics)."""
    return list(_JOBS)


def _advance(job: _Job, budget_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + budget_s
    try:
        while True:
            try:
                job.progress = next(job.work)
            except StopIteration as done:
                _drop(job)
                result: dict[str, Any] = done.value
                if job.changed and result.get("available"):
                    result["changed"] = True
                return result
            if job.progress < 1 and time.monotonic() >= deadline:  # at 1 only the answer is left to build
                break
    except BaseException:
        _drop(job)
        raise
    _JOBS.pop(job.id, None)
    _JOBS[job.id] = job  # most recently used last
    while len(_JOBS) > MAX_JOBS:
        _drop(next(iter(_JOBS.values())))
    return {"path": job.entry.path + ("#grad" if job.grad else ""), "pending": True, "job": job.id,
            "progress": round(job.progress, 4)}


def _find(job_id: str, model: Any) -> _Job:
    job = _JOBS.get(job_id)
    if job is None or job.model() is not model:
        raise ActionError(f"statistics job {job_id!r} is gone (finished, cancelled, or idle for over "
                          f"{IDLE_S:.0f} s): ask for the statistics again")
    return job


def _drop(job: _Job) -> None:
    _JOBS.pop(job.id, None)
    job.work.close()


def _drop_id(job_id: str) -> None:
    job = _JOBS.get(job_id)
    if job is not None:
        _drop(job)


def _weak(model: Any) -> Callable[[], Any]:
    try:
        return weakref.ref(model)
    except TypeError:  # not weak-referenceable: held until the job ends or expires
        return lambda: model


def _finalize(model: Any, job_id: str) -> None:
    with contextlib.suppress(TypeError):  # not weak-referenceable: the job ends or expires by itself
        weakref.finalize(model, _drop_id, job_id)


def _expire() -> None:
    now = time.monotonic()
    for job in [j for j in _JOBS.values() if now - j.touched > IDLE_S]:
        _drop(job)


def _budget(budget_ms: int) -> float:
    if isinstance(budget_ms, bool) or not isinstance(budget_ms, int) or not 1 <= budget_ms <= MAX_BUDGET_MS:
        raise ActionError(f"budget_ms must be an integer between 1 and {MAX_BUDGET_MS}, got {budget_ms!r}")
    return budget_ms / 1000


def _token(adapter: Adapter, entry: TensorEntry, grad: bool) -> str:
    fingerprint = getattr(adapter, "fingerprint", None)
    if fingerprint is None:
        return ""
    try:
        token: str = fingerprint(entry, grad)
    except Exception:  # noqa: BLE001 - no token: the job cannot notice writes, which only costs the restart
        return ""
    return token
