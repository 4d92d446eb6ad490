"""The built .vsix in a real VS Code (code-server on 127.0.0.1) driven by Debian Chromium: the Models view sits in
the activity bar and shows the tree of the notebook's kernel, with plots, an action and "copy as code".

The Jupyter extension cannot be installed here, so a test fake takes its id (test/fake-jupyter): its kernel
answers paramscope's handler call from tests/fixtures/torch_rgnet.json, answers recorded from a real kernel.
The paramscope extension itself runs unchanged. Needs `make vsix` and code-server (`make test-vscode` does both)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.browser import CHROMIUM, CHROMIUM_ARGS, free_port, require_chromium, stop, wait_for_http

EXTENSION = Path(__file__).resolve().parents[2]
ROOT = EXTENSION.parent
VSIX = EXTENSION / "paramscope.vsix"
CODE_SERVER = Path(os.environ.get(
    "PARAMSCOPE_CODE_SERVER", ROOT / ".make" / "code-server" / "node_modules" / ".bin" / "code-server"))
ARTIFACTS = ROOT / "tests" / "ui" / "artifacts"
SETTINGS = {
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "workbench.enableExperiments": False,
    "extensions.autoUpdate": False,
    "extensions.autoCheckUpdates": False,
    "security.workspace.trust.enabled": False,
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "chat.disableAIFeatures": True,
}


def _notebook() -> dict:
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": "w = "}
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return {"cells": [cell], "metadata": {"kernelspec": kernelspec},
            "nbformat": 4, "nbformat_minor": 5}


@pytest.fixture(scope="module")
def code_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not VSIX.is_file():
        pytest.fail(f"{VSIX.name} is not built: run `make vsix`")
    if not CODE_SERVER.exists():
        pytest.fail("code-server is not installed: run `make test-vscode` (it installs it into .make/code-server)")
    home = tmp_path_factory.mktemp("vscode-home")
    data, extensions, work = home / "data", home / "extensions", home / "work"
    (data / "User").mkdir(parents=True)
    (data / "User" / "settings.json").write_text(json.dumps(SETTINGS))
    work.mkdir()
    (work / "chapter.ipynb").write_text(json.dumps(_notebook()))
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
           "XDG_DATA_HOME": str(home / "xdg-data"),
           "XDG_CACHE_HOME": str(home / "cache")}
    base = [str(CODE_SERVER), f"--user-data-dir={data}", f"--extensions-dir={extensions}"]
    subprocess.run(["node", str(EXTENSION / "test" / "fake-jupyter" / "build.mjs"), str(home)], check=True,
                   cwd=EXTENSION,
                   capture_output=True)
    installed = subprocess.run([*base, "--install-extension", str(home / "fake-jupyter.vsix"),
                                "--install-extension", str(VSIX)],
                               env=env, capture_output=True, text=True, timeout=180)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    port = free_port()
    log = (home / "code-server.log").open("w")
    process = subprocess.Popen(
        [*base, "--auth=none", f"--bind-addr=127.0.0.1:{port}", "--disable-telemetry", "--disable-update-check",
         "--disable-workspace-trust", "--disable-getting-started-override", "--ignore-last-opened", str(work)],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/healthz", process, home / "code-server.log", "code-server")
        yield f"{url}/?folder={work}"
    finally:
        stop(process)
        log.close()


@pytest.fixture
def page(code_server: str, request: pytest.FixtureRequest):
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 950})
        page = context.new_page()
        page.set_default_timeout(30_000)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
        page.goto(code_server)
        yield page, errors
        if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
        browser.close()


def test_models_view_renders_the_kernels_tree_and_acts_in_it(page) -> None:
    page, csp_errors = page
    # The view's container in the activity bar; once it is there the extensions are known, and the notebook
    # opens in the notebook editor (built-in ipynb serializer) rather than as JSON text.
    tab = page.get_by_role("tab", name="paramscope")
    tab.wait_for()
    # Open the notebook and put the cursor at the end of its cell.
    page.locator(".explorer-folders-view .monaco-list-row", has_text="chapter.ipynb").dblclick()
    cell = page.locator(".notebook-editor .cell-editor-container .view-lines").first
    cell.wait_for()
    cell.click()
    page.keyboard.press("End")

    tab.click()
    view = page.frame_locator('iframe.webview[src*="purpose=webviewView"]').frame_locator("iframe#active-frame")
    # The tree of the first model of the kernel, read through the Jupyter API fake.
    view.locator(".jp-ParamScope-title").get_by_text("rgnet").wait_for()
    assert "309 params" in view.locator(".jp-ParamScope-title").inner_text()
    picker = view.locator(".jp-ParamScope-vscode-picker")
    assert picker.locator("option").all_inner_texts() == [
        "rgnet (Sequential, pytorch)", "shared (Linear, pytorch)", "net (Sequential, pytorch)"]
    assert view.locator(".jp-ParamScope-vscode-notebook").inner_text() == "chapter.ipynb"

    # Expand block 1, select its weight: statistics, histogram and heatmap render under the webview's CSP.
    row = view.locator('.jp-ParamScope-row[data-path="1"]')
    row.locator(".jp-ParamScope-twisty").click()
    weight = view.locator('.jp-ParamScope-row[data-path="1.weight"]')
    weight.click()
    details = view.locator(".jp-ParamScope-details")
    details.locator('[data-tensor="1.weight"] .jp-ParamScope-histogram-plot rect').first.wait_for()
    details.locator('[data-tensor="1.weight"] canvas').first.wait_for()
    assert details.locator('[data-tensor="1.weight"] [data-stat="mean"]').count() == 1

    # "Copy as code" puts the expression at the cursor of the notebook cell.
    details.locator('button[data-action="copy"]').click()
    view.locator(".jp-ParamScope-banner").get_by_text("inserted rgnet[1].weight at the cursor").wait_for()
    page.locator(".notebook-editor .view-lines").first.get_by_text("w = rgnet[1].weight").wait_for()

    # An action: reinitialize block 0.block 0 with constant(42); the tree is read again at the new revision.
    view.locator('.jp-ParamScope-row[data-path="0"] .jp-ParamScope-twisty').click()
    view.locator('.jp-ParamScope-row[data-path="0.block 0"]').click()
    details.locator('button[data-action="reinit"]').click()
    form = view.locator("form.jp-ParamScope-dialog")
    form.locator('select[name="init"]').select_option("constant")
    form.locator('input[name="arg-value"]').fill("42")
    form.locator('button[type="submit"]').click()
    view.locator(".jp-ParamScope-revision").get_by_text("rev 1").wait_for()
    view.locator(".jp-ParamScope-banner").get_by_text("constant").first.wait_for()

    # Another model of the kernel: net, whose shared Linear is used twice (tied).
    picker.select_option("net")
    view.locator(".jp-ParamScope-title").get_by_text("net").first.wait_for()
    view.locator('.jp-ParamScope-row[data-path="4"] .jp-ParamScope-tie').wait_for()

    # The commands are there: Refresh keeps the view, Reveal model lists the kernel's models.
    page.keyboard.press("Control+Shift+P")
    page.keyboard.type("paramscope: Reveal model")
    page.keyboard.press("Enter")
    page.locator(".quick-input-widget .monaco-list-row").get_by_text("rgnet").wait_for()
    page.keyboard.press("Enter")
    view.locator(".jp-ParamScope-title").get_by_text("rgnet").wait_for()
    assert picker.input_value() == "rgnet"
    assert csp_errors == []
    if os.environ.get("PARAMSCOPE_UPDATE_DOCS") == "1":
        page.screenshot(path=str(ROOT / "docs" / "vscode-models-view.png"))
