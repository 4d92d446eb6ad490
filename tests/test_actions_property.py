"""Property-based undo: random sequences of paramscope actions with edits by hand, dtype moves and replaced
layers between them; undo either gives the model back bit for bit or refuses with a clear error, never a
silent partial restore, and a failed action changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paramscope.adapters import adapter_for
from tests.undo_kit import Kit, kit, paths, ps, same_shape_pairs

ACTIONS = ("reinit", "reinit", "set_value", "tie", "untie", "undo")
# Examples per framework: Keras actions cost the most (TensorFlow ops), so it gets the fewest.
EXAMPLES = {"pytorch": 40, "keras": 10, "mxnet": 25}


def _steps(k: Kit) -> Any:
    kinds = st.sampled_from([*ACTIONS, *ACTIONS, *(f"edit:{name}" for name in k.edits)])
    return st.lists(st.tuples(kinds, st.integers(0, 10**6)), min_size=1, max_size=10)


class _Run:
    """One sequence against one model, with the checks after every step."""

    def __init__(self, k: Kit) -> None:
        self.k = k
        self.net = k.make()
        # Per recorded action: the state before it, the state it left, and whether the user edited since.
        self.done: list[tuple[dict[str, Any], dict[str, Any], bool]] = []
        self.log: list[str] = []

    def step(self, kind: str, r: int) -> None:
        k, net = self.k, self.net
        if kind.startswith("edit:"):
            self.log.append(k.edits[kind[5:]](net, r) or kind)
            self.done = [(before, after, True) for before, after, _ in self.done]
            return
        if kind == "undo":
            if self.done:
                self.undo(force=False) or self.undo(force=True)
            return
        before = k.state(net)
        try:
            self.act(kind, r)
        except ps.ActionError as e:
            assert k.state(net) == before, f"a failed {kind} changed the model: {e}\n{self.log}"
            self.log.append(f"{kind}: refused ({str(e)[:80]})")
            return
        self.done.append((before, k.state(net), False))
        assert len(ps.history(net)["entries"]) == len(self.done)

    def act(self, kind: str, r: int) -> None:
        net = self.net
        blocks, params = paths(net)
        if kind == "reinit":
            customs = self.k.custom_inits()
            names = [*self.k.inits, *customs]
            init = names[(r // 7) % len(names)]
            targets = ["", *blocks, *params]
            target = targets[r % len(targets)]
            self.log.append(f"reinit {target!r} {init}")
            ps.reinit(net, target, customs.get(init, init), seed=r if r % 3 == 0 else None)
        elif kind == "set_value":
            target = params[r % len(params)]
            mode = ("set", "add", "mul")[r % 3]
            self.log.append(f"set_value {target!r} {mode}")
            ps.set_value(net, target, float(r % 11) - 5, mode=mode)
        elif kind == "tie":
            pairs = same_shape_pairs(net)
            if not pairs:
                raise ps.ActionError("no pair to tie")
            a, b = pairs[r % len(pairs)]
            self.log.append(f"tie {a!r} to {b!r}")
            ps.tie(net, a, b)
        elif kind == "untie":
            index = adapter_for(net).index(net)
            tied = [p for p in params if len(index.aliases(p)) > 1] or params
            target = tied[r % len(tied)]
            self.log.append(f"untie {target!r}")
            ps.untie(net, target)

    def undo(self, force: bool) -> bool:
        net, k = self.net, self.k
        before, after, edited = self.done[-1]
        pre = k.state(net)
        try:
            out = ps.undo(net, force=force)
        except ps.ActionError as e:
            assert not force, f"undo(force=True) refused: {e}\n{self.log}"
            assert k.state(net) == pre, f"a refused undo changed the model: {e}\n{self.log}"
            assert "force=True" in str(e), f"a refusal must offer force=True: {e}"
            assert edited, f"undo refused although nothing was changed since the action: {e}\n{self.log}"
            self.log.append(f"undo: refused ({str(e)[:120]})")
            return False
        self.done.pop()
        now = k.state(net)
        self.log.append("undo" + (" (forced)" if out.get("forced") else ""))
        if not edited:
            assert not out.get("forced")
            assert now == before, f"undo did not restore bit for bit:\n{_diff(before, now)}\n{self.log}"
            return True
        # Edited since: what the action changed is back (where dtype and shape allow), nothing else moved.
        changed = out["undone"]["changed"]
        touched = {s[p][0] for s in (pre, now, before) for p in changed if p in s}
        for p in changed:
            if p not in now or p not in before or p not in pre or p.startswith("block ") or after.get(p) == before[p]:
                continue  # (an action may report what it wrote with the values it had)
            if now[p][0] != pre[p][0]:  # undo rebound the slot: to the object it had before the action
                assert now[p][0] == before[p][0], f"{p} rebound to another object\n{self.log}"
            elif now[p][0] != before[p][0]:  # another object than the action's (its layer was replaced)
                assert out.get("forced"), f"{p} is another object, but undo did not need force\n{self.log}"
            elif now[p][1:3] == before[p][1:3]:  # values put back (dtype and shape as they were)
                assert now[p][:4] == before[p][:4], f"{p} not restored\n{_diff(before, now)}\n{self.log}"
        for p, value in pre.items():
            if p in now and not p.startswith("block ") and value[0] not in touched and now[p][0] not in touched:
                assert now[p] == value, f"undo moved {p}, which the action did not change\n{self.log}"
        return True


def _diff(a: dict[str, Any], b: dict[str, Any]) -> str:
    keys = sorted(set(a) | set(b))
    return "\n".join(f"  {k}: {a.get(k)} -> {b.get(k)}" for k in keys if a.get(k) != b.get(k))


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["pytorch", "keras", "mxnet"])
def test_random_actions_and_edits_then_undo_all(framework):
    k = kit(framework)

    @settings(max_examples=EXAMPLES[framework], deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(_steps(k))
    def check(steps):
        run = _Run(k)
        for kind, r in steps:
            run.step(kind, r)
        while run.done:  # undo all: each step restores exactly or refuses (and then force=True goes ahead)
            run.undo(force=False) or run.undo(force=True)
        assert ps.history(run.net)["entries"] == []

    check()
