"""Long statistics over the protocol: `stats` with a budget answers pending with a job, `stats_poll` advances it a
slice at a time with progress, `stats_cancel` drops it; writes between slices restart it."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from paramscope import protocol, stats_jobs  # noqa: E402


@pytest.fixture
def small_chunks(monkeypatch):
    """64-element chunks: a 4,096-element tensor takes 128 slices of one chunk each with a 1 ms budget."""
    monkeypatch.setattr("paramscope.adapters.torch.CHUNK_ELEMS", 64)
    yield
    for job in list(stats_jobs._JOBS.values()):  # what a test left open
        stats_jobs._drop(job)


def model() -> nn.Module:
    net = nn.Module()
    net.w = nn.Parameter(torch.randn(4096, generator=torch.Generator().manual_seed(0)))
    return net


def ask(models, **request):
    return protocol.handle({"id": 1, **request}, models=models, namespace={})


def run_out(models, first, budget_ms=1):
    answers = [first]
    while answers[-1]["ok"] and answers[-1]["result"].get("pending"):
        answers.append(ask(models, op="stats_poll", model="net", job=answers[-1]["result"]["job"],
                           budget_ms=budget_ms))
    return answers


def test_a_long_request_answers_pending_then_polls_to_the_same_result(small_chunks, monkeypatch):
    models = {"net": model()}
    with monkeypatch.context() as clock:
        clock.setattr("time.monotonic", _ticks())  # every chunk "takes" 1 ms: one chunk per slice
        answers = run_out(models, ask(models, op="stats", model="net", path="w", budget_ms=1))
    pending = [a["result"] for a in answers[:-1]]
    assert len(pending) > 100 and all(p["pending"] and p["path"] == "w" for p in pending)
    assert len({p["job"] for p in pending}) == 1
    progress = [p["progress"] for p in pending]
    assert progress == sorted(progress) and 0 < progress[0] < 0.05 and 0.95 < progress[-1] < 1
    done = answers[-1]["result"]
    whole = ask(models, op="stats", model="net", path="w")["result"]  # no budget: in one go, as before
    assert done == whole and done["available"] and done["numel"] == 4096 and "changed" not in done
    assert stats_jobs.pending() == []
    # A quick tensor within its budget answers at once.
    quick = ask({"net": model()}, op="stats", model="net", path="w", budget_ms=5000)["result"]
    assert quick == whole


def test_cancel_drops_the_job_and_a_poll_after_it_says_what_to_do(small_chunks, monkeypatch):
    models = {"net": model()}
    monkeypatch.setattr("time.monotonic", _ticks())
    first = ask(models, op="stats", model="net", path="w", budget_ms=1)["result"]
    job = first["job"]
    assert ask(models, op="stats_cancel", model="net", job=job)["result"] == {"job": job, "cancelled": True}
    assert ask(models, op="stats_cancel", model="net", job=job)["result"] == {"job": job, "cancelled": False}
    gone = ask(models, op="stats_poll", model="net", job=job)
    assert not gone["ok"] and gone["error"]["type"] == "ActionError" and "ask for the statistics again" in \
        gone["error"]["message"]
    assert stats_jobs.pending() == []


def test_a_job_belongs_to_its_model(small_chunks, monkeypatch):
    models = {"net": model(), "other": model()}
    monkeypatch.setattr("time.monotonic", _ticks())
    job = ask(models, op="stats", model="net", path="w", budget_ms=1)["result"]["job"]
    wrong = ask(models, op="stats_poll", model="other", job=job)
    assert not wrong["ok"] and wrong["error"]["type"] == "ActionError"
    assert ask(models, op="stats_cancel", model="other", job=job)["result"]["cancelled"] is False
    assert job in stats_jobs.pending()


def test_writes_between_slices_restart_the_job_then_mark_the_result(small_chunks, monkeypatch):
    net = model()
    models = {"net": net}
    monkeypatch.setattr("time.monotonic", _ticks())
    answer = ask(models, op="stats", model="net", path="w", budget_ms=1)
    restarts = []
    for _ in range(3):  # a training step between polls
        with torch.no_grad():
            net.w.add_(1.0)
        answer = ask(models, op="stats_poll", model="net", job=answer["result"]["job"], budget_ms=1)
        restarts.append(answer["result"]["progress"])
    assert restarts[0] < 0.05 and restarts[1] < 0.05  # started over twice
    done = run_out(models, answer)[-1]["result"]
    assert done["available"] and done["changed"] is True
    clean = run_out(models, ask(models, op="stats", model="net", path="w", budget_ms=1))[-1]["result"]
    assert "changed" not in clean and clean["mean"] - 3 == pytest.approx(float(net.w.detach().double().mean()) - 3)
    assert 2 < done["mean"] < clean["mean"]  # partly read before the last write: a mix, and it says so


def test_bad_budgets_and_fields_are_refused():
    models = {"net": model()}
    for budget in (0, -5, 10**6, True):
        answer = ask(models, op="stats", model="net", path="w", budget_ms=budget)
        assert not answer["ok"] and answer["error"]["type"] in ("ActionError", "BadRequest"), budget
    assert ask(models, op="stats_poll", model="net")["error"]["type"] == "BadRequest"  # no job
    assert ask(models, op="stats_poll", model="net", job=3)["error"]["type"] == "BadRequest"
    assert ask(models, op="stats_poll", model="net", job="stats-0")["error"]["type"] == "ActionError"
    assert stats_jobs.pending() == []


def test_old_jobs_go_first_and_idle_ones_expire(small_chunks, monkeypatch):
    models = {"net": model()}
    clock = _ticks()
    monkeypatch.setattr("time.monotonic", clock)
    jobs = [ask(models, op="stats", model="net", path="w", budget_ms=1)["result"]["job"]
            for _ in range(stats_jobs.MAX_JOBS + 2)]
    assert stats_jobs.pending() == jobs[2:]
    clock.now += stats_jobs.IDLE_S + 1
    fresh = ask(models, op="stats", model="net", path="w", budget_ms=1)["result"]["job"]
    assert stats_jobs.pending() == [fresh]


def test_unavailable_values_answer_at_once_with_the_reason():
    net = nn.Module()
    net.w = nn.Parameter(torch.empty(4, device="meta"))
    answer = ask({"net": net}, op="stats", model="net", path="w", budget_ms=300)["result"]
    assert answer["available"] is False and "meta" in answer["reason"]
    assert stats_jobs.pending() == []


class _ticks:
    """A monotonic clock that moves 1 ms each time it is read."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


def test_a_pending_job_keeps_no_model_alive_and_goes_with_it(small_chunks):
    import gc
    import weakref

    net = model()
    first = ask({"net": net}, op="stats", model="net", path="w", budget_ms=1)
    assert first["result"]["pending"]
    job = first["result"]["job"]
    assert job in stats_jobs.pending()
    gone = weakref.ref(net)
    del net
    gc.collect()
    assert gone() is None  # the job held neither the model nor, through it, anything that holds the model
    assert job not in stats_jobs.pending()  # and it went with the model, the tensor it reads included
    other = model()  # a new model (perhaps at the same id) cannot poll the old job
    reply = ask({"net": other}, op="stats_poll", model="net", job=job, budget_ms=1)
    assert not reply["ok"] and "is gone" in reply["error"]["message"]
