"""One notebook for a torch.distributed group: the kernel on rank 0 leads, every other rank follows.

Statistics and writes of sharded (DTensor) parameters are collectives, so every rank must make the same call.
A notebook's sidebar or widget only talks to the kernel of rank 0; `ps.lead()` there sends each request that
reads or writes values (and the same `ps.*` calls made in cells) to the other ranks, where `ps.follow(models)`
answers them, over a gloo group of its own. torch is imported only by these two calls.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Mapping
from typing import Any

from ._errors import ActionError

# Reads of tensor values (collectives for a DTensor); the actions send themselves (`mirror`), from the protocol
# or a cell alike, and everything else is answered by rank 0 alone.
FORWARDED = frozenset({"stats", "values"})
_STOP = "_stop"


class Leader:
    """Rank 0's side: sends requests to the followers until `stop()`."""

    def __init__(self, group: Any, models: Mapping[str, Any] | None) -> None:
        self._group = group
        self._models = models
        self.sent = 0

    def send(self, request: Mapping[str, Any]) -> None:
        import torch.distributed as dist

        dist.broadcast_object_list([dict(request)], group_src=0, group=self._group)
        self.sent += 1

    def name_of(self, model: Any) -> str:
        from . import session

        found = self._models if self._models is not None else session.models()
        for name, obj in found.items():
            if obj is model:
                return name
        raise ActionError("this model is not one the other ranks know by name: give it a variable name in the "
                          "notebook (or pass models={'name': model} to ps.lead) and in ps.follow on each rank")

    def stop(self) -> None:
        """Release the followers (their `ps.follow` returns) and stop forwarding."""
        global _LEADER
        if _LEADER is self:
            self.send({"op": _STOP})
            _LEADER = None

    def __enter__(self) -> Leader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


_LEADER: Leader | None = None


def lead(models: Mapping[str, Any] | None = None) -> Leader:
    """Make this process (rank 0 of an initialized torch.distributed group) send value requests to the other
    ranks, which must call `follow` at the same time. `models` maps the names the requests use to models
    (default: the notebook's variables). Returns the leader; `.stop()` releases the followers."""
    global _LEADER
    dist = _distributed()
    if dist.get_rank() != 0:
        raise ActionError(f"ps.lead() runs on rank 0; this is rank {dist.get_rank()}: call ps.follow(models) here")
    if _LEADER is None:
        _LEADER = Leader(dist.new_group(backend="gloo"), models)  # a collective, met by follow()'s new_group
    return _LEADER


def follow(models: Mapping[str, Any], namespace: Mapping[str, Any] | None = None) -> int:
    """On a rank other than 0: answer rank 0's requests for `models` (name -> model, the same names as on rank 0)
    until rank 0 stops leading; returns how many were answered. Custom initializers and set_value functions
    are looked up by name in `namespace`. Errors are printed here (rank 0 shows its own)."""
    from . import protocol

    dist = _distributed()
    if dist.get_rank() == 0:
        raise ActionError("ps.follow() runs on the ranks other than 0; rank 0 calls ps.lead()")
    group = dist.new_group(backend="gloo")
    answered = 0
    while True:
        box: list[Any] = [None]
        dist.broadcast_object_list(box, group_src=0, group=group)
        request = box[0]
        if not isinstance(request, dict) or request.get("op") == _STOP:
            return answered
        try:
            response = protocol.handle(request, models=models, namespace=namespace or {})
        except Exception:  # noqa: BLE001 - handle() answers errors itself; this guards the loop alone
            traceback.print_exc()
            continue
        answered += 1
        if not response.get("ok"):
            error = response.get("error")
            print(f"paramscope rank {dist.get_rank()}: {request.get('op')} {request.get('path', '')!r}: "
                  f"{error['message'] if error else 'failed'}", file=sys.stderr)


def forward(request: Mapping[str, Any]) -> None:
    """Called by `protocol.handle` with each request: sent to the followers when leading and it reads values."""
    if _LEADER is not None and request.get("op") in FORWARDED:
        _LEADER.send(request)


def mirror(op: str, model: Any, **fields: Any) -> None:
    """The request form of a `ps.*` call made in a cell on the leader, sent to the followers."""
    if _LEADER is not None:
        _LEADER.send({"op": op, "model": _LEADER.name_of(model), **fields})


def by_name(obj: Any) -> Any:
    """A custom initializer or set_value function as the followers find it: by its name in their namespace."""
    if isinstance(obj, str) or _LEADER is None:
        return obj
    name = getattr(obj, "__name__", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise ActionError(f"{obj!r} has no name the other ranks can look up: define it with def (not a lambda) "
                          "on every rank and pass namespace=globals() to ps.follow")
    return name


def _distributed() -> Any:
    if "torch" not in sys.modules:
        raise ActionError("ps.lead / ps.follow are for torch.distributed: import torch and call "
                          "torch.distributed.init_process_group first")
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_initialized():
        raise ActionError("torch.distributed is not initialized: call torch.distributed.init_process_group(...) "
                          "on every rank first")
    return dist
