"""Drives a notebook in JupyterLab or Notebook 7 (same Lumino menus and cells) and the widget in it."""

from __future__ import annotations

import json
import re
import time
import urllib.request

from playwright.sync_api import Locator, Page, expect

PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"


class Notebook:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.panel = page.locator(PANEL)

    def open(self, server, path: str, name: str) -> None:
        """Open notebook `name` at page `path` and wait until its kernel is idle (so Run All is not lost)."""
        self.page.goto(server.page_url(path))
        expect(self.panel.locator(".jp-Notebook")).to_be_visible(timeout=60_000)
        expect(self.panel.locator(".jp-CodeCell")).to_have_count(4)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            url = f"{server.url}/api/sessions?token={server.token}"
            with urllib.request.urlopen(url, timeout=5) as answer:
                sessions = json.load(answer)
            if any(s["path"] == name and s["kernel"]["execution_state"] == "idle" for s in sessions):
                return
            time.sleep(0.2)
        raise AssertionError(f"the kernel of {name} did not become idle: {sessions}")

    def run_all(self, last_output: str = "CHECK") -> None:
        self.menu("Run", "Run All Cells")
        # The last cell prints `last_output` once the kernel has run everything above it.
        expect(self.output(3)).to_contain_text(last_output, timeout=90_000)

    def menu(self, *labels: str) -> None:
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{labels[0]}$")).click()
        for label in labels[1:]:
            item = self.page.locator(".lm-Menu:visible .lm-Menu-itemLabel", has_text=re.compile(f"^{label}$"))
            item.click()

    def cell(self, index: int) -> Locator:
        return self.panel.locator(".jp-CodeCell").nth(index)

    def output(self, index: int) -> Locator:
        return self.cell(index).locator(".jp-OutputArea-output")

    def run_cell(self, index: int) -> str:
        """Run cell `index` again and return its printed output once the new run has finished."""
        prompt = self.cell(index).locator(".jp-InputPrompt")
        before = prompt.inner_text()
        self.cell(index).locator(".cm-content").click()
        self.page.keyboard.press("Shift+Enter")
        # A cell importing a framework takes several seconds on a loaded machine.
        expect(prompt).not_to_have_text(before, timeout=60_000)
        expect(prompt).not_to_have_text(re.compile(r"\*"), timeout=60_000)
        return self.output(index).inner_text()

    def widget(self, index: int) -> Widget:
        return Widget(self.page, self.panel.locator(".jp-ParamScope").nth(index))


class Widget:
    def __init__(self, page: Page, root: Locator) -> None:
        self.page = page
        self.root = root

    def row(self, path: str) -> Locator:
        return self.root.locator(f'.jp-ParamScope-row[data-path="{path}"]')

    def paths(self) -> list[str]:
        return self.root.locator(".jp-ParamScope-row[data-path]").evaluate_all(
            "rows => rows.map(r => r.dataset.path)")

    def expand(self, *paths: str) -> None:
        for path in paths:
            row = self.row(path)
            if row.get_attribute("aria-expanded") != "true":
                row.locator(".jp-ParamScope-twisty").click()
            expect(row).to_have_attribute("aria-expanded", "true")

    def menu(self, path: str, action: str) -> None:
        self.row(path).click(button="right")
        self.root.locator(f'.jp-ParamScope-menu button[data-action="{action}"]').click()

    @property
    def banner(self) -> Locator:
        return self.root.locator(".jp-ParamScope-banner")

    @property
    def form(self) -> Locator:
        return self.root.locator(".jp-ParamScope-dialog")
