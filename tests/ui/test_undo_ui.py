"""Undo in the inline widget (JupyterLab) when the user edited the model by hand since: the widget says what
changed and offers "Undo anyway", which puts the saved values back (checked in the kernel)."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.ui.conftest import ARTIFACTS, SETUP, notebook
from tests.ui.driver import Notebook

pytestmark = pytest.mark.ui

CELLS = [SETUP + "\norig = rgnet[1].weight.detach().clone()",
         "ps.show(rgnet)",
         'ps.reinit(rgnet, "1", "constant", value=3.0)\nrgnet[1].weight.data[:] = 7.0  # an edit by hand since',
         'print("CHECK", bool(torch.equal(rgnet[1].weight, orig)), sep="|")']


def test_widget_undo_refuses_to_lose_an_edit_and_undo_anyway_restores(jupyter, page):
    (jupyter.root / "undo.ipynb").write_text(json.dumps(notebook(CELLS)))
    nb = Notebook(page)
    nb.open(jupyter, "/lab/tree/undo.ipynb?reset", "undo.ipynb")
    nb.run_all()
    assert nb.output(3).inner_text().strip() == "CHECK|False"
    w = nb.widget(0)
    expect(w.root.locator(".jp-ParamScope-title")).to_contain_text("309 params")
    w.root.get_by_role("button", name="↶ Undo").click()
    expect(w.banner).to_contain_text("1.weight has other values now")
    expect(w.banner).to_contain_text("force=True")
    anyway = w.banner.get_by_role("button", name="Undo anyway")
    expect(anyway).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    w.root.screenshot(path=str(ARTIFACTS / "undo_conflict.png"))
    assert nb.run_cell(3).strip() == "CHECK|False"  # the refusal changed nothing
    anyway.click()
    expect(w.banner).to_contain_text('undid "reinit 1 with constant(value=3.0)')
    expect(w.banner).to_contain_text("anyway")
    assert nb.run_cell(3).strip() == "CHECK|True"
