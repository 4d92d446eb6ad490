"""Search and folding (#13) in real JupyterLab: the Models sidebar and the inline widget find the 12 attention
weights of a GPT-2-shaped model, explain a bad query under the box and come back to the tree; its 12 layers fold
into one row that opens; the treemap's biggest block is the layers, a click selects it, and coloured by RMS its
blocks and legend change."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tests.ui.conftest import ARTIFACTS, notebook
from tests.ui.driver import Notebook

pytestmark = pytest.mark.ui

SIDEBAR = "#paramscope-models"
SETUP = """\
import torch
from torch import nn

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(16)
        self.attn = nn.ModuleDict({"c_attn": nn.Linear(16, 48), "c_proj": nn.Linear(16, 16)})
        self.ln_2 = nn.LayerNorm(16)
        self.mlp = nn.ModuleDict({"c_fc": nn.Linear(16, 64), "c_proj": nn.Linear(64, 16)})

class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.transformer = nn.ModuleDict({"wte": nn.Embedding(100, 16), "wpe": nn.Embedding(32, 16),
                                          "h": nn.ModuleList([Block() for _ in range(12)]), "ln_f": nn.LayerNorm(16)})
        self.lm_head = nn.Linear(16, 100, bias=False)
        self.lm_head.weight = self.transformer["wte"].weight

torch.manual_seed(0)
gpt = GPT()
print("READY")"""
SHOW = 'import paramscope as ps\nps.show(gpt, name="gpt")'
CELLS = [SETUP, SHOW, 'print("nothing")', 'print("CHECK")']
WEIGHTS = [f"transformer.h.{i}.attn.c_attn.weight" for i in range(12)]


def _search(root, query: str) -> None:
    box = root.locator(".jp-ParamScope-search-input")
    box.fill(query)
    box.press("Enter")


def _matches(root) -> list[str]:
    return root.locator(".jp-ParamScope-row.jp-mod-match[data-path]").evaluate_all(
        "rows => rows.map(r => r.dataset.path)")


def test_sidebar_and_widget_find_the_attention_weights(jupyter, page):
    (jupyter.root / "search.ipynb").write_text(json.dumps(notebook(CELLS)))
    nb = Notebook(page)
    nb.open(jupyter, "/lab/tree/search.ipynb?reset", "search.ipynb")
    nb.run_all()

    # The inline widget: a glob finds the 12 weights, shown with the blocks above them.
    widget = nb.widget(0)
    expect(widget.row("")).to_be_visible()
    _search(widget.root, "h.*.attn.c_attn.weight")
    status = widget.root.locator(".jp-ParamScope-search-status")
    expect(status).to_have_text(re.compile(r"^12 found · 9,216 params · 36(\.0+)? KiB$"))
    assert _matches(widget.root)[:5] == WEIGHTS[:5]  # the rest is below the fold of the virtualized list
    expect(widget.row("transformer.h").locator(".jp-ParamScope-badge")).to_have_text("12 found")

    # Repeated blocks fold into one row, which opens.
    widget.root.locator(".jp-ParamScope-search-input").press("Escape")
    expect(widget.root.locator(".jp-ParamScope-row.jp-mod-match")).to_have_count(0)
    widget.root.locator(".jp-ParamScope-fold-toggle").click()
    expect(widget.root.locator(".jp-ParamScope-fold-toggle")).to_have_attribute("aria-pressed", "true")
    widget.expand("transformer")
    widget.row("transformer.h").locator(".jp-ParamScope-twisty").click()
    folded = widget.row("transformer.h.0")
    expect(folded.locator(".jp-ParamScope-name")).to_have_text("h.0 … h.11 × 12")
    expect(folded).to_contain_text("same shape")
    assert widget.paths() == ["", "transformer", "transformer.wte", "transformer.wpe", "transformer.h",
                              "transformer.h.0", "transformer.ln_f", "lm_head"]
    ARTIFACTS.mkdir(exist_ok=True)
    widget.root.screenshot(path=str(ARTIFACTS / "fold-widget.png"))
    folded.locator(".jp-ParamScope-twisty").click()
    expect(widget.row("transformer.h.11")).to_be_visible()
    expect(widget.row("transformer.h.0").locator(".jp-ParamScope-name")).to_have_text("0")

    # The treemap: the layers are the biggest block inside `transformer`; clicking it selects it in the tree.
    widget.root.locator(".jp-ParamScope-map-toggle").click()
    layers = widget.root.locator('.jp-ParamScope-treemap-inner[data-path="transformer.h"]')
    expect(layers).to_be_visible()
    box = layers.bounding_box()
    wte = widget.root.locator('.jp-ParamScope-treemap-inner[data-path="transformer.wte"]').bounding_box()
    assert box is not None and wte is not None and box["width"] * box["height"] > wte["width"] * wte["height"]
    widget.root.screenshot(path=str(ARTIFACTS / "treemap-widget.png"))
    layers.click()
    expect(widget.row("transformer.h")).to_have_attribute("aria-selected", "true")
    expect(widget.root.locator(".jp-ParamScope-details")).to_contain_text("transformer.h")

    # Coloured by a statistic: the kernel adds up each block's RMS; the blocks take the ramp's colours and the legend
    # names the statistic with its range (dtype colours and their legend before).
    legend = widget.root.locator(".jp-ParamScope-treemap-legend")
    expect(legend).to_have_text("float32")
    float32 = layers.evaluate("e => getComputedStyle(e).backgroundColor")
    widget.root.locator(".jp-ParamScope-treemap-colour").select_option("rms")
    expect(legend).to_have_attribute("data-colour", "rms")
    expect(legend.locator(".jp-ParamScope-treemap-legend-label")).to_have_text("RMS of the values")
    low = float(legend.locator(".jp-ParamScope-treemap-legend-min").inner_text())
    high = float(legend.locator(".jp-ParamScope-treemap-legend-max").inner_text())
    assert 0 < low < high
    colours = widget.root.locator(".jp-ParamScope-treemap-inner").evaluate_all(
        "cells => cells.map(c => getComputedStyle(c).backgroundColor)")
    assert float32 not in colours and len(set(colours)) > 1
    assert "RMS of the values: " in (layers.get_attribute("title") or "")
    widget.root.screenshot(path=str(ARTIFACTS / "treemap-rms-widget.png"))

    # The sidebar: `c_attn` shows the 12 weights among the rows (the blocks and biases match too).
    page.locator(f'.lm-TabBar-tab[data-id="{SIDEBAR[1:]}"]').click()
    sidebar = page.locator(SIDEBAR)
    model = sidebar.locator('.jp-ParamScope-model[data-model="gpt"]')
    model.locator(".jp-ParamScope-model-header").click()
    explorer = model.locator(".jp-ParamScope-explorer")
    expect(explorer.locator('.jp-ParamScope-row[data-path=""]')).to_be_visible()
    _search(explorer, "c_attn weight")
    expect(explorer.locator(".jp-ParamScope-search-status")).to_contain_text("12 found")
    scroller = explorer.locator(".jp-ParamScope-scroller")
    seen: set[str] = set()
    for _ in range(20):  # scroll the virtualized rows through
        seen.update(_matches(explorer))
        scroller.evaluate("s => { s.scrollTop += 200; s.dispatchEvent(new Event('scroll')); }")
    assert seen == set(WEIGHTS)
    ARTIFACTS.mkdir(exist_ok=True)
    scroller.evaluate("s => { s.scrollTop = 0; s.dispatchEvent(new Event('scroll')); }")
    sidebar.screenshot(path=str(ARTIFACTS / "search-sidebar.png"))

    # A bad query is explained under the box, and the rows of the last good one stay.
    _search(explorer, "numel>lots")
    expect(explorer.locator(".jp-ParamScope-search-status")).to_have_text("numel> at 1 needs a number, e.g. numel>1e6")
    expect(explorer.locator(".jp-ParamScope-search-input")).to_have_attribute("aria-invalid", "true")

    # Selecting a match shows its details; Esc in the box gives the tree back.
    _search(explorer, "tied")
    explorer.locator('.jp-ParamScope-row[data-path="lm_head.weight"] .jp-ParamScope-name').click()
    expect(page.locator('[data-tensor="lm_head.weight"]').first).to_be_visible()  # details: a tab or a pane
    explorer.locator(".jp-ParamScope-search-input").press("Escape")
    expect(explorer.locator(".jp-ParamScope-row.jp-mod-match")).to_have_count(0)
    expect(explorer.locator('.jp-ParamScope-row[data-path="transformer"]')).to_be_visible()
