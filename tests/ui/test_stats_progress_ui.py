"""Statistics of a 1 GiB parameter in the inline widget: a progress bar with Cancel shows while the kernel
works through it; Cancel stops the job in the kernel; Compute again runs it to the statistics."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.ui.conftest import ARTIFACTS, notebook
from tests.ui.driver import Notebook

pytestmark = [pytest.mark.ui, pytest.mark.slow]

SETUP = """\
import torch
from torch import nn
import paramscope as ps
import paramscope.adapters.torch as torch_adapter
from paramscope.adapters import torch_stats
from paramscope import stats_jobs

# 16K-value chunks, for the numba kernels too: a slow machine's pace (thousands of slices), so that Cancel lands
# while the job runs.
torch_adapter.CHUNK_ELEMS = 1 << 14
torch_stats.KERNEL_CHUNKS = 1
big = nn.Module()
big.w = nn.Parameter(torch.empty(2**28).uniform_(-1, 1))  # 1 GiB of float32"""
PENDING = 'print("PENDING", stats_jobs.pending(), sep="|")'
CELLS = [SETUP, "ps.show(big)", PENDING, 'print("CHECK")']


def test_widget_shows_progress_and_cancels_stats_of_a_1gib_parameter(jupyter, page):
    (jupyter.root / "big.ipynb").write_text(json.dumps(notebook(CELLS)))
    nb = Notebook(page)
    nb.open(jupyter, "/lab/tree/big.ipynb?reset", "big.ipynb")
    nb.run_all()
    w = nb.widget(0)
    section = w.root.locator('[data-tensor="w"]')
    w.row("w").click()

    # Longer than 300 ms: the kernel answers "pending" and the panel shows a bar that moves, with Cancel.
    bar = section.locator(".jp-ParamScope-progress-bar")
    expect(bar).to_be_visible(timeout=30_000)
    expect(section.locator(".jp-ParamScope-progress-label")).to_contain_text("reading values…")
    first = float(bar.evaluate("b => b.value"))
    # The bar moves on as the kernel works through the tensor's chunks.
    page.wait_for_function("([b, first]) => b.value > first", arg=[bar.element_handle(), first], timeout=60_000)
    ARTIFACTS.mkdir(exist_ok=True)
    w.root.screenshot(path=str(ARTIFACTS / "stats-progress.png"))

    section.get_by_role("button", name="Cancel").click()
    expect(section.locator("[data-cancelled]")).to_contain_text("Statistics cancelled", timeout=30_000)
    expect(bar).to_have_count(0)
    assert nb.run_cell(2).strip() == "PENDING|[]"  # the kernel dropped the job

    # Compute again: the same job from the start, to the statistics.
    section.get_by_role("button", name="Compute again").click()
    expect(section.locator(".jp-ParamScope-progress-bar")).to_be_visible(timeout=30_000)
    mean = section.locator('[data-stat="mean"] .jp-ParamScope-stat-value')
    expect(mean).to_be_visible(timeout=300_000)
    assert abs(float(mean.inner_text())) < 0.01
    expect(section.locator('[data-stat="NaN"] .jp-ParamScope-stat-value')).to_have_text("0")
    expect(section.locator(".jp-ParamScope-bar")).to_have_count(48)
    assert nb.run_cell(2).strip() == "PENDING|[]"
