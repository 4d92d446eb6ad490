"""Issue #6, "changes made in the sidebar show in open widgets and vice versa (revision)", in a real JupyterLab:
one PyTorch model, shown inline with `ps.show(net)` and expanded in the Models sidebar. A reinit from the
sidebar, an undo from the widget and `ps.set_value` in a cell each show in the other views without a Refresh
click (the kernel's revision notices), and the kernel has the values."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Locator, expect

from tests.ui.conftest import notebook
from tests.ui.driver import Notebook, Widget
from tests.ui.test_sidebar_ui import SIDEBAR, Lab

pytestmark = pytest.mark.ui

NAME = "sync.ipynb"
SETUP = """\
import torch
from torch import nn
import paramscope as ps

torch.manual_seed(0)
net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
print("READY")"""
CHECK = 'print("CHECK", bool((net[0].weight == 7).all()), bool((net[0].bias == 7).all()), sep="|")'
SET = 'ps.set_value(net, "0.weight", 3)\nprint("SET", bool((net[0].weight == 3).all()), ps.history(net)["revision"])'
CELLS = [SETUP, "ps.show(net)", CHECK, SET]
# Each update goes kernel -> front end -> kernel (the refresh) and may take a while on a loaded machine: every
# wait is an `expect` with this timeout, never a sleep.
WAIT = 30_000


class Sidebar(Lab):
    """The Models sidebar helpers of test_sidebar_ui, beside a notebook this module writes and drives."""

    def __init__(self, page, server) -> None:  # not Lab's: that one writes its own notebook
        self.page, self.server, self.name = page, server, NAME
        self.panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
        self.sidebar = page.locator(SIDEBAR)


def mean(root: Locator, path: str) -> Locator:
    return root.locator(f'[data-tensor="{path}"] [data-stat="mean"] .jp-ParamScope-stat-value')


def test_sidebar_widget_and_cell_changes_show_everywhere(jupyter, page):
    (jupyter.root / NAME).write_text(json.dumps(notebook(CELLS)))
    nb = Notebook(page)
    nb.open(jupyter, f"/lab/tree/{NAME}?reset", NAME)
    assert "READY" in nb.run_cell(0)
    nb.run_cell(1)
    w: Widget = nb.widget(0)
    w.expand("0")
    w.row("0.weight").click()
    widget_mean = mean(w.root, "0.weight")
    expect(widget_mean).not_to_have_text("", timeout=WAIT)
    original = widget_mean.inner_text()
    assert original != "7"
    expect(w.root.locator(".jp-ParamScope-revision")).to_have_text("rev 0")

    # The same model in the sidebar, its 0.weight selected too.
    lab = Sidebar(page, jupyter)
    lab.show_sidebar()
    lab.widen_sidebar(440)
    expect(lab.model("net")).to_be_visible(timeout=WAIT)
    lab.expand("net")
    explorer = lab.model("net").locator(".jp-ParamScope-explorer")
    lab.row("net", "0").locator(".jp-ParamScope-twisty").click()
    lab.row("net", "0.weight").click()
    sidebar_mean = mean(explorer, "0.weight")
    expect(sidebar_mean).to_have_text(original, timeout=WAIT)

    # (1) Reinit block 0 with constant 7 from the sidebar: the widget follows without its Refresh button.
    lab.row("net", "0").click(button="right")
    explorer.locator('.jp-ParamScope-menu button[data-action="reinit"]').click()
    form = explorer.locator(".jp-ParamScope-dialog")
    form.locator("select[name=init]").select_option("constant")
    form.locator("input[name=arg-value]").fill("7")
    form.locator("select[name=bias]").select_option("same")  # biases too (default: zeroed)
    form.get_by_role("button", name="Reinitialize").click()
    expect(explorer.locator(".jp-ParamScope-banner")).to_contain_text("reinit 0 with constant(value=7.0)",
                                                                      timeout=WAIT)
    expect(explorer.locator(".jp-ParamScope-revision")).to_have_text("rev 1", timeout=WAIT)
    lab.row("net", "0.weight").click()  # the right click selected block 0
    expect(sidebar_mean).to_have_text("7", timeout=WAIT)
    expect(w.root.locator(".jp-ParamScope-revision")).to_have_text("rev 1", timeout=WAIT)
    expect(widget_mean).to_have_text("7", timeout=WAIT)
    w.row("0.bias").click()
    expect(mean(w.root, "0.bias")).to_have_text("7", timeout=WAIT)
    assert nb.run_cell(2).strip() == "CHECK|True|True"

    # (2) Undo from the widget's toolbar: the sidebar's explorer follows (its revision and the stats).
    w.row("0.weight").click()
    w.root.get_by_role("button", name="↶ Undo").click()
    expect(w.banner).to_contain_text('undid "reinit 0 with constant(value=7.0)"', timeout=WAIT)
    expect(widget_mean).to_have_text(original, timeout=WAIT)
    expect(explorer.locator(".jp-ParamScope-revision")).to_have_text("rev 2", timeout=WAIT)
    expect(sidebar_mean).to_have_text(original, timeout=WAIT)
    assert nb.run_cell(2).strip() == "CHECK|False|False"

    # (3) ps.set_value in a cell: the widget (and the sidebar) follow without a Refresh click.
    assert nb.run_cell(3).strip() == "SET True 3"
    expect(w.root.locator(".jp-ParamScope-revision")).to_have_text("rev 3", timeout=WAIT)
    expect(widget_mean).to_have_text("3", timeout=WAIT)
    expect(explorer.locator(".jp-ParamScope-revision")).to_have_text("rev 3", timeout=WAIT)
    expect(sidebar_mean).to_have_text("3", timeout=WAIT)
    # No error anywhere along the way.
    expect(w.root.locator(".jp-ParamScope-banner.jp-mod-error")).to_have_count(0)
    expect(lab.sidebar.locator(".jp-ParamScope-banner.jp-mod-error")).to_have_count(0)
