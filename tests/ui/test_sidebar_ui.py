"""The Models sidebar in a real JupyterLab and Notebook 7: lists a PyTorch and a Keras model without the notebook
importing paramscope, expands, reinitializes from the sidebar (checked in the kernel), follows `del`, a long
cell, a kernel restart, the dark theme and the settings."""

from __future__ import annotations

import json
import re
import time
import urllib.request

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.ui.conftest import ARTIFACTS, notebook

pytestmark = pytest.mark.ui

PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
SIDEBAR = "#paramscope-models"

# No `import paramscope`: the sidebar finds the models by itself.
SETUP = """\
import weakref
import torch
import keras
from torch import nn

torch.manual_seed(0)
tnet = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
knet = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="dense")], name="knet")
kref = weakref.ref(knet)
print("READY")"""
CHECK = 'print("CHECK", bool((tnet[0].weight == 7).all()), bool((tnet[2].weight == 7).all()), sep="|")'
DELETE = 'del knet\nimport gc\ngc.collect()\nprint("GONE", kref() is None)'
SLEEP = 'import time\ntime.sleep(4)\nprint("SLEPT")'
CELLS = [SETUP, CHECK, DELETE, SLEEP]


class Lab:
    """One notebook page (JupyterLab or Notebook 7) and the Models sidebar beside it."""

    def __init__(self, page: Page, server, name: str) -> None:
        self.page, self.server, self.name = page, server, name
        (server.root / name).write_text(json.dumps(notebook(CELLS)))
        self.panel = page.locator(PANEL)
        self.sidebar = page.locator(SIDEBAR)

    def open(self, path: str) -> None:
        self.page.goto(self.server.page_url(path))
        expect(self.panel.locator(".jp-CodeCell")).to_have_count(len(CELLS), timeout=60_000)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            url = f"{self.server.url}/api/sessions?token={self.server.token}"
            with urllib.request.urlopen(url, timeout=5) as answer:
                sessions = json.load(answer)
            if any(s["path"] == self.name and s["kernel"]["execution_state"] == "idle" for s in sessions):
                return
            time.sleep(0.2)
        raise AssertionError(f"the kernel of {self.name} did not become idle")

    def show_sidebar(self) -> None:
        self.page.locator(f'.lm-TabBar-tab[data-id="{SIDEBAR[1:]}"]').click()
        expect(self.sidebar).to_be_visible()

    def widen_sidebar(self, width: int) -> None:
        """Drag the handle between the sidebar and the notebook, as a user makes room for the tree."""
        box = self.sidebar.bounding_box()
        assert box is not None
        handle = self.page.locator("#jp-main-split-panel > .lm-SplitPanel-handle").first
        start = handle.bounding_box()
        assert start is not None
        x, y = start["x"] + start["width"] / 2, start["y"] + 300
        self.page.mouse.move(x, y)
        self.page.mouse.down()
        self.page.mouse.move(x + width - box["width"], y, steps=5)
        self.page.mouse.up()

    def cell(self, index: int) -> Locator:
        return self.panel.locator(".jp-CodeCell").nth(index)

    def run(self, index: int, wait: bool = True) -> None:
        prompt = self.cell(index).locator(".jp-InputPrompt")
        before = prompt.inner_text()
        self.cell(index).locator(".cm-content").click()
        self.page.keyboard.press("Shift+Enter")
        if wait:
            expect(prompt).not_to_have_text(before, timeout=60_000)
            expect(prompt).not_to_have_text(re.compile(r"\*"), timeout=60_000)

    def output(self, index: int) -> str:
        return self.cell(index).locator(".jp-OutputArea-output").inner_text()

    def prompt(self, index: int) -> str:
        return self.cell(index).locator(".jp-InputPrompt").inner_text().strip()

    def model(self, name: str) -> Locator:
        return self.sidebar.locator(f'.jp-ParamScope-model[data-model="{name}"]')

    def row(self, model: str, path: str) -> Locator:
        return self.model(model).locator(f'.jp-ParamScope-row[data-path="{path}"]')

    @property
    def status(self) -> Locator:
        return self.sidebar.locator(".jp-ParamScope-sidebar-status")

    def expand(self, model: str) -> None:
        header = self.model(model).locator(".jp-ParamScope-model-header")
        if header.get_attribute("aria-expanded") != "true":
            header.click()
        expect(self.row(model, "")).to_be_visible()


def test_lab_sidebar_lists_expands_reinits_follows_del_busy_and_restart(jupyter, page):
    lab = Lab(page, jupyter, "sidebar.ipynb")
    lab.open("/lab/tree/sidebar.ipynb?reset")
    lab.show_sidebar()
    lab.widen_sidebar(440)
    expect(lab.status).to_contain_text("No models in this kernel yet")
    expect(lab.sidebar.locator(".jp-ParamScope-sidebar-kernel")).to_contain_text("sidebar.ipynb")

    # One cell builds both models; the list follows without a refresh click.
    lab.run(0)
    assert "READY" in lab.output(0)
    done = time.monotonic()
    expect(lab.model("knet")).to_be_visible()
    refresh_s = time.monotonic() - done
    expect(lab.model("tnet").locator(".jp-ParamScope-framework")).to_have_text("pytorch")
    expect(lab.model("knet").locator(".jp-ParamScope-framework")).to_have_text("keras/tensorflow")
    expect(lab.model("tnet").locator(".jp-ParamScope-model-stats")).to_contain_text("58 params")
    expect(lab.model("knet").locator(".jp-ParamScope-model-stats")).to_contain_text("15 params")
    expect(lab.status).to_have_text("2 models")

    # Expand the PyTorch model: the shared explorer, with PyTorch's own paths; reinit block 0 with constant 7.
    lab.expand("tnet")
    expect(lab.row("tnet", "2")).to_be_visible()
    explorer = lab.model("tnet").locator(".jp-ParamScope-explorer")
    lab.row("tnet", "0").click(button="right")
    explorer.locator('.jp-ParamScope-menu button[data-action="reinit"]').click()
    form = explorer.locator(".jp-ParamScope-dialog")
    form.locator("select[name=init]").select_option("constant")
    form.locator("input[name=arg-value]").fill("7")
    form.locator("select[name=bias]").select_option("same")  # biases too (default: zeroed)
    form.get_by_role("button", name="Reinitialize").click()
    expect(explorer.locator(".jp-ParamScope-banner")).to_contain_text("reinit 0 with constant(value=7.0)")
    expect(explorer.locator(".jp-ParamScope-revision")).to_have_text("rev 1")
    lab.row("tnet", "0").locator(".jp-ParamScope-twisty").click()
    lab.row("tnet", "0.weight").click()
    expect(explorer.locator('[data-tensor="0.weight"] [data-stat="mean"] .jp-ParamScope-stat-value')).to_have_text("7")

    # The kernel has the new values; the sidebar's requests never took an execution count.
    lab.run(1)
    assert lab.output(1).strip() == "CHECK|True|False"
    assert lab.prompt(1) == "[2]:"

    # A picture of the widened sidebar (the README's, at the default width, come from test_readable_ui).
    lab.row("tnet", "2").locator(".jp-ParamScope-twisty").click()
    lab.row("tnet", "2.weight").click()
    expect(explorer.locator('[data-tensor="2.weight"] .jp-ParamScope-heatmap-plot')).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    lab.model("tnet").locator(".jp-ParamScope-model-header").scroll_into_view_if_needed()
    page.mouse.move(0, 0)
    page.screenshot(path=str(ARTIFACTS / "sidebar-wide.png"))

    # The Keras model expands too (Keras paths).
    lab.expand("knet")
    expect(lab.row("knet", "knet/dense")).to_be_visible()

    # `del` removes it from the list, and nothing in paramscope keeps it alive.
    lab.run(2)
    assert lab.output(2).strip() == "GONE True"
    expect(lab.model("knet")).to_have_count(0)
    expect(lab.status).to_have_text("1 model")

    # A long cell: the sidebar says busy, its own requests wait, and it stays usable (collapse needs no kernel).
    lab.run(3, wait=False)
    expect(lab.status).to_contain_text("busy", timeout=10_000)
    lab.sidebar.locator(".jp-ParamScope-sidebar-refresh").click()
    header = lab.model("tnet").locator(".jp-ParamScope-model-header")
    header.click()
    expect(header).to_have_attribute("aria-expanded", "false")
    header.click()
    expect(header).to_have_attribute("aria-expanded", "true")
    expect(lab.status).to_have_text("1 model", timeout=30_000)
    assert "SLEPT" in lab.output(3)

    # Restart: the panel empties, then shows the models again once the cell runs; tnet is still expanded.
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Kernel$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Restart Kernel…$")).click()
    page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept").click()
    expect(lab.model("tnet")).to_have_count(0)
    expect(lab.status).to_contain_text("No models in this kernel yet", timeout=60_000)
    lab.run(0)
    expect(lab.model("knet")).to_be_visible()
    expect(lab.row("tnet", "2")).to_be_visible()
    expect(lab.sidebar.locator(".jp-ParamScope-banner.jp-mod-error")).to_have_count(0)
    print(f"sidebar refresh after a cell: {refresh_s:.2f} s")


def test_notebook7_sidebar_lists_and_expands(jupyter, page):
    lab = Lab(page, jupyter, "sidebar_nb7.ipynb")
    lab.open("/notebooks/sidebar_nb7.ipynb")
    # Notebook 7 has no ILabShell: the panel sits in its left area, opened from View > Left Sidebar.
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^View$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Left Sidebar$")).hover()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Show Models \(paramscope\)$")).click()
    expect(lab.sidebar).to_be_visible()
    lab.run(0)
    expect(lab.model("tnet")).to_be_visible()
    expect(lab.model("knet")).to_be_visible()
    lab.expand("tnet")
    expect(lab.row("tnet", "2.bias")).to_have_count(0)
    lab.row("tnet", "2").locator(".jp-ParamScope-twisty").click()
    expect(lab.row("tnet", "2.bias")).to_be_visible()


def _settings(server, method: str = "GET", raw: str | None = None) -> dict:
    url = f"{server.url}/lab/api/settings/paramscope:plugin?token={server.token}"
    data = None if raw is None else json.dumps({"raw": raw}).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        body = answer.read()
    return json.loads(body) if body else {}


def _theme(page: Page, name: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Settings$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Theme$")).hover()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{name}$")).click()


def test_lab_sidebar_dark_theme_and_settings(jupyter, page):
    # The settings are in the Settings Editor's registry, with the schema the extension ships.
    schema = _settings(jupyter)["schema"]["properties"]
    assert schema["autoRefresh"]["default"] is True
    assert schema["maxChildrenPerPage"]["default"] == 200

    lab = Lab(page, jupyter, "sidebar_dark.ipynb")
    lab.open("/lab/tree/sidebar_dark.ipynb?reset")
    lab.show_sidebar()
    lab.widen_sidebar(440)
    _settings(jupyter, "PUT", '{"autoRefresh": false}')
    _theme(page, "JupyterLab Dark")
    try:
        expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "false", timeout=30_000)
        page.reload()
        expect(lab.sidebar).to_be_visible(timeout=60_000)
        expect(lab.status).to_contain_text("No models in this kernel yet", timeout=60_000)
        # Auto-refresh off: a cell does not re-list; the refresh button does.
        lab.run(0)
        page.wait_for_timeout(1500)
        expect(lab.model("tnet")).to_have_count(0)
        lab.sidebar.locator(".jp-ParamScope-sidebar-refresh").click()
        expect(lab.model("tnet")).to_be_visible()
        lab.expand("tnet")
        lab.row("tnet", "0").locator(".jp-ParamScope-twisty").click()
        lab.row("tnet", "0.weight").click()
        expect(lab.model("tnet").locator('[data-tensor="0.weight"] .jp-ParamScope-heatmap-plot')).to_be_visible()
        # Host colours: a dark background and light text, from JupyterLab's theme variables.
        colours = lab.sidebar.locator(".jp-ParamScope-sidebar").evaluate(
            "e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).color]")
        background, text = (_luminance(c) for c in colours)
        assert background < 0.2 < 0.6 < text, colours
        page.mouse.move(0, 0)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "sidebar-wide-dark.png"))
    finally:
        _settings(jupyter, "PUT", "{}")
        _theme(page, "JupyterLab Light")
        expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "true", timeout=30_000)


def _luminance(css: str) -> float:
    r, g, b = (int(v) / 255 for v in re.findall(r"\d+", css)[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b
