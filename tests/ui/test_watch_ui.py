"""Issue #10 in a real JupyterLab: a watch started from the sidebar draws points while the training cell still
runs (pushed over a comm), the tied layer shows one series whose gradient is the sum over its uses, and the
History panel undoes back to an older entry, leaving the model bit-identical to that point."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.ui.conftest import ARTIFACTS
from tests.ui.test_sidebar_ui import Lab

pytestmark = [pytest.mark.ui, pytest.mark.slow]

# The chapter's MLP with a shared layer (used at 2 and 4).
SETUP = """\
import time
import torch
from torch import nn

torch.manual_seed(0)
shared = nn.Linear(8, 8)
net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), shared, nn.ReLU(), shared, nn.ReLU(), nn.Linear(8, 1))
X, y = torch.rand(16, 4), torch.rand(16, 1)
print("READY")"""
# Slow on purpose: the points must appear while it still runs.
TRAIN = """\
opt = torch.optim.SGD(net.parameters(), lr=0.05)
for step in range(40):
    opt.zero_grad()
    (net(X) - y).pow(2).mean().backward()
    opt.step()
    time.sleep(0.15)
print("TRAINED")"""
# The shared layer's gradient against the sum of the gradients of two independent copies, one per use.
TIED = """\
import copy
from paramscope.watch import latest
opt.zero_grad()
(net(X) - y).pow(2).mean().backward()
uses = copy.deepcopy(net)
uses[4] = copy.deepcopy(uses[2])
(uses(X) - y).pow(2).mean().backward()
total = uses[2].weight.grad + uses[4].weight.grad
record = latest(net).records[-1]
print("TIED", torch.allclose(net[2].weight.grad, total, atol=1e-7),
      abs(record["grads"]["2.weight"]["norm"] - float(total.norm())) < 1e-5 * float(total.norm()),
      "4.weight" not in record["grads"], sep="|")"""
ACTIONS = """\
import paramscope as ps
ps.reinit(net, "0", "constant", value=1.0)
saved = {k: v.clone() for k, v in net.state_dict().items()}
ps.set_value(net, "6.bias", 5.0)
ps.reinit(net, "2", "normal", seed=3)
print("ACTED", len(ps.history(net)["entries"]))"""
SAME = 'print("SAME", all(torch.equal(v, saved[k]) for k, v in net.state_dict().items()), ' \
       'len(ps.history(net)["entries"]), net[2] is net[4], sep="|")'
CELLS = [SETUP, TRAIN, TIED, ACTIONS, SAME]


def test_watch_from_the_sidebar_draws_during_the_cell_and_history_undoes_back(jupyter, page, monkeypatch):
    monkeypatch.setattr("tests.ui.test_sidebar_ui.CELLS", CELLS)
    lab = Lab(page, jupyter, "watch.ipynb")
    lab.open("/lab/tree/watch.ipynb?reset")
    lab.show_sidebar()
    lab.widen_sidebar(560)
    lab.run(0)
    expect(lab.model("net")).to_be_visible()
    lab.expand("net")
    explorer = lab.model("net").locator(".jp-ParamScope-explorer")
    lab.row("net", "2").locator(".jp-ParamScope-twisty").click()
    lab.row("net", "4").locator(".jp-ParamScope-twisty").click()
    lab.row("net", "2.weight").click()  # selected when the watch starts: its histograms are recorded too
    bar = explorer.locator(".jp-ParamScope-watch-bar")
    bar.locator(".jp-ParamScope-watch-every").fill("2")
    bar.locator(".jp-ParamScope-watch-toggle").click()
    expect(bar.locator(".jp-ParamScope-watch-status")).to_contain_text("watching")

    # Train: points appear on the shared layer's row while the cell is still running.
    lab.run(1, wait=False)
    spark = lab.row("net", "2.weight").locator('.jp-ParamScope-watch-cell[data-watch="2.weight"] svg')
    expect(spark).to_have_attribute("data-count", re.compile(r"^([3-9]|\d\d+)$"), timeout=20_000)
    assert "*" in lab.prompt(1), "the points must come while the training cell runs"
    during = int(spark.get_attribute("data-count") or 0)
    latencies = []
    for _ in range(10):  # from a step's forward in the kernel to its point on screen
        latencies.append(int(bar.get_attribute("data-latency-ms") or 0))
        time.sleep(0.2)
    expect(lab.cell(1).locator(".jp-InputPrompt")).not_to_have_text(re.compile(r"\*"), timeout=60_000)
    assert "TRAINED" in lab.output(1)
    expect(spark).to_have_attribute("data-count", "20", timeout=10_000)  # 40 steps, every 2
    assert during < 20
    # The tied use shows the same series (one parameter), and the details chart it over steps.
    expect(lab.row("net", "4.weight").locator('.jp-ParamScope-watch-cell[data-watch="2.weight"]')).to_be_visible()
    detail = explorer.locator(".jp-ParamScope-watch-detail")
    expect(detail).to_contain_text("watch · 2.weight")
    expect(detail.locator(".jp-ParamScope-chart-grad")).to_have_attribute("data-count", "20")
    expect(detail.locator(".jp-ParamScope-heat")).to_have_count(2)  # values and gradient over time
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "watch.png"))

    lab.run(2)
    assert lab.output(2).strip() == "TIED|True|True|True"

    # Stop: the row keeps its series; the kernel's hooks are gone (checked in the unit tests).
    bar.locator(".jp-ParamScope-watch-toggle").click()
    expect(bar.locator(".jp-ParamScope-watch-status")).to_contain_text("stopped")

    # History: three actions from code; undo back to #1 from the panel.
    lab.run(3)
    assert lab.output(3).strip() == "ACTED 3"
    explorer.locator(".jp-ParamScope-history-toggle").click()
    history = explorer.locator(".jp-ParamScope-history")
    expect(history.locator(".jp-ParamScope-history-entry")).to_have_count(3)
    expect(history).to_contain_text("reinit 2 with normal")
    expect(history).to_contain_text("set 6.bias with 5.0")
    expect(history.locator(".jp-ParamScope-history-bound")).to_contain_text("keeps the last 100 actions")
    history.locator('.jp-ParamScope-history-entry[data-index="1"] .jp-ParamScope-history-undo').click()
    expect(explorer.locator(".jp-ParamScope-banner")).to_contain_text("undid")
    expect(history.locator(".jp-ParamScope-history-entry")).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "history.png"))
    lab.run(4)
    assert lab.output(4).strip() == "SAME|True|1|True"
    print(f"watch: {during} of 20 points drawn during the cell; step-to-screen latency ms: "
          f"median {sorted(latencies)[len(latencies) // 2]}, max {max(latencies)}")


def test_watch_from_the_inline_widget_draws_during_the_cell(jupyter, page, monkeypatch):
    cells = [SETUP + "\nimport paramscope as ps", "ps.show(net)", TRAIN, 'print("DONE")']
    monkeypatch.setattr("tests.ui.test_sidebar_ui.CELLS", cells)
    lab = Lab(page, jupyter, "watch_widget.ipynb")
    lab.open("/lab/tree/watch_widget.ipynb?reset")
    lab.run(0)
    lab.run(1)
    widget = lab.cell(1).locator(".jp-ParamScope-explorer")
    expect(widget.locator('.jp-ParamScope-row[data-path="2"]')).to_be_visible(timeout=30_000)
    widget.locator('.jp-ParamScope-row[data-path="2"] .jp-ParamScope-twisty').click()
    bar = widget.locator(".jp-ParamScope-watch-bar")
    bar.locator(".jp-ParamScope-watch-every").fill("2")
    bar.locator(".jp-ParamScope-watch-toggle").click()
    expect(bar.locator(".jp-ParamScope-watch-status")).to_contain_text("watching")
    lab.run(2, wait=False)
    spark = widget.locator('.jp-ParamScope-row[data-path="2.weight"] .jp-ParamScope-watch-cell svg')
    expect(spark).to_have_attribute("data-count", re.compile(r"^([3-9]|\d\d+)$"), timeout=20_000)
    assert "*" in lab.prompt(2), "the points must come while the training cell runs"
    expect(lab.cell(2).locator(".jp-InputPrompt")).not_to_have_text(re.compile(r"\*"), timeout=60_000)
    expect(spark).to_have_attribute("data-count", "20", timeout=10_000)
