"""Issue #18 item 1 in real JupyterLab: the Reinitialize list offers only initializers of the model's framework,
what a custom initializer prints shows in the banner, and an initializer that exits never hangs a cell."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.ui.conftest import notebook
from tests.ui.driver import Notebook

pytestmark = pytest.mark.ui

SETUP = """\
import torch
from torch import nn
import paramscope as ps

tiny = nn.Linear(2, 2)

def loud(m):
    if type(m) is nn.Linear:
        print("hello from loud:", tuple(m.weight.shape))
        nn.init.constant_(m.weight, 3.0)

def bye(m):
    exit(m)  # what picking `exit` itself did: SystemExit(Linear(...)), which the kernel could not answer

def keras_style(shape, dtype=None):
    return shape

def block1():
    return nn.Sequential(nn.Linear(4, 8))"""
CELLS = [SETUP, "ps.show(tiny)", 'print("NEXT", 6 * 7)', 'print("CHECK", tiny.weight.detach().sum().item())']


def test_initializer_list_output_and_exit(jupyter, page):
    (jupyter.root / "inits.ipynb").write_text(json.dumps(notebook(CELLS)))
    nb = Notebook(page)
    nb.open(jupyter, "/lab/tree/inits.ipynb?reset", "inits.ipynb")
    nb.run_all()
    w = nb.widget(0)

    # Only real PyTorch initializers from the notebook: no builtins, no factories, no Keras-style function.
    w.menu("", "reinit")
    custom = w.form.locator('select[name=init] optgroup option').evaluate_all("os => os.map(o => o.value)")
    assert sorted(custom) == ["bye", "loud"], custom
    expect(w.form.locator("select[name=bias]")).to_be_hidden()  # "default": each layer decides
    w.form.locator("select[name=init]").select_option("normal")
    expect(w.form.locator("select[name=bias]")).to_have_value("zeros")  # the chapter's init_normal
    w.form.locator("select[name=init]").select_option("xavier_uniform")
    expect(w.form.locator("select[name=bias]")).to_have_value("keep")  # the chapter's init_xavier
    w.form.locator("select[name=init]").select_option("loud")
    expect(w.form.locator("select[name=bias]")).to_be_hidden()  # a custom one decides biases itself
    w.form.get_by_role("button", name="Reinitialize").click()
    expect(w.banner).to_contain_text("hello from loud: (2, 2)")  # what it printed, in the banner
    assert nb.run_cell(3).strip() == "CHECK 12.0"

    # An initializer that calls exit(): an error in the banner, nothing changed, and the next cell completes.
    w.menu("", "reinit")
    w.form.locator("select[name=init]").select_option("bye")
    w.form.get_by_role("button", name="Reinitialize").click()
    expect(w.root.locator("[role=alert]").filter(has_text="called exit").first).to_be_visible()
    page.keyboard.press("Escape")
    assert nb.run_cell(2).strip() == "NEXT 42"
    assert nb.run_cell(3).strip() == "CHECK 12.0"
