"""Compare (#13) in real JupyterLab: the inline widget takes a snapshot of a GPT-2-shaped model, a training cell
moves one layer, and Compare now shows that layer (and the blocks above it) moved and the others did not; the
Models sidebar compares against the same snapshot; the widget's map coloured by the change shows the same layers."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tests.ui.conftest import ARTIFACTS, notebook
from tests.ui.driver import Notebook
from tests.ui.test_search_ui import SETUP, SHOW

pytestmark = pytest.mark.ui

TRAIN_DEF = """\
ARMED = False

def train(steps=3):
    blk = gpt.transformer["h"][3]
    opt = torch.optim.SGD(blk.parameters(), lr=0.1)
    x = torch.randn(8, 16)
    for _ in range(steps):
        opt.zero_grad()
        h = x + blk.attn["c_proj"](blk.attn["c_attn"](blk.ln_1(x))[:, :16])
        loss = blk.mlp["c_proj"](torch.relu(blk.mlp["c_fc"](blk.ln_2(h)))).pow(2).mean()
        loss.backward()
        opt.step()
"""
TRAIN = 'if ARMED:\n    train()\nprint("TRAINED" if ARMED else "idle")'
CELLS = [SETUP + "\n" + TRAIN_DEF, SHOW, TRAIN, 'ARMED = True\nprint("CHECK")']


def test_widget_compare_shows_the_layer_that_trained(jupyter, page):
    (jupyter.root / "compare.ipynb").write_text(json.dumps(notebook(CELLS)))
    nb = Notebook(page)
    nb.open(jupyter, "/lab/tree/compare.ipynb?reset", "compare.ipynb")
    nb.run_all()
    widget = nb.widget(0)
    expect(widget.row("")).to_be_visible()
    root = widget.root
    root.locator(".jp-ParamScope-compare-toggle").click()
    bar = root.locator(".jp-ParamScope-compare-bar")
    expect(bar).to_be_visible()
    root.locator(".jp-ParamScope-compare-take").click()
    expect(bar.locator(".jp-ParamScope-compare-status")).to_contain_text("snapshot of 148 parameters")

    assert "TRAINED" in nb.run_cell(2)
    root.locator(".jp-ParamScope-compare-now").click()
    status = bar.locator(".jp-ParamScope-compare-status")
    expect(status).to_contain_text("12 of 148 parameters changed since the snapshot")
    widget.expand("transformer")
    expect(widget.row("transformer.h").locator(".jp-ParamScope-compare-cell")).to_have_class(
        "jp-ParamScope-compare-cell jp-ParamScope-compare-moved")
    expect(widget.row("transformer.wte").locator(".jp-ParamScope-compare-cell")).to_have_text("same")
    widget.row("transformer.h").locator(".jp-ParamScope-twisty").click()
    expect(widget.row("transformer.h.3").locator(".jp-ParamScope-compare-cell")).to_have_class(
        "jp-ParamScope-compare-cell jp-ParamScope-compare-moved")
    expect(widget.row("transformer.h.2").locator(".jp-ParamScope-compare-cell")).to_have_text("same")
    items = bar.locator(".jp-ParamScope-compare-item").evaluate_all("els => els.map(e => e.dataset.path)")
    assert items and all(p.startswith("transformer.h.3.") for p in items)
    ARTIFACTS.mkdir(exist_ok=True)
    root.screenshot(path=str(ARTIFACTS / "compare-widget.png"))
    bar.locator(".jp-ParamScope-compare-item").first.click()
    expect(widget.row(items[0])).to_have_attribute("aria-selected", "true")

    # The map coloured by the change since the same snapshot: the layers (h.3 trained) at the ramp's top, the
    # embeddings that did not move at its bottom; the legend names the statistic.
    root.locator(".jp-ParamScope-map-toggle").click()
    colour = root.locator(".jp-ParamScope-treemap-colour")
    expect(colour.locator('option[value="change"]')).to_have_count(1)
    colour.select_option("change")
    legend = root.locator(".jp-ParamScope-treemap-legend")
    expect(legend).to_have_attribute("data-colour", "change")
    expect(legend.locator(".jp-ParamScope-treemap-legend-label")).to_contain_text("change since the snapshot")
    background = "e => getComputedStyle(e).backgroundColor"
    layers = root.locator('.jp-ParamScope-treemap-inner[data-path="transformer.h"]')
    expect(layers).to_have_attribute("title", re.compile(r"change since the snapshot ‖Δw‖/‖w‖: [0-9.e-]+$"))
    assert layers.evaluate(background) == "rgb(253, 231, 37)"
    assert root.locator('.jp-ParamScope-treemap-inner[data-path="transformer.wte"]').evaluate(background) == \
        "rgb(68, 1, 84)"
    root.screenshot(path=str(ARTIFACTS / "treemap-change-widget.png"))

    # The Models sidebar shares the kernel's snapshot: Compare now there shows the same moved layer.
    page.locator('.lm-TabBar-tab[data-id="paramscope-models"]').click()
    model = page.locator('#paramscope-models .jp-ParamScope-model[data-model="gpt"]')
    model.locator(".jp-ParamScope-model-header").click()
    explorer = model.locator(".jp-ParamScope-explorer")
    expect(explorer.locator('.jp-ParamScope-row[data-path=""]')).to_be_visible()
    explorer.locator(".jp-ParamScope-compare-toggle").click()
    explorer.locator(".jp-ParamScope-compare-now").click()
    expect(explorer.locator(".jp-ParamScope-compare-status")).to_contain_text("12 of 148 parameters changed")
    expect(explorer.locator('.jp-ParamScope-row[data-path=""] .jp-ParamScope-compare-cell')).to_have_class(
        "jp-ParamScope-compare-cell jp-ParamScope-compare-moved")
