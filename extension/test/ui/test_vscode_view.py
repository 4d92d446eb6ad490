"""The built .vsix in a real VS Code (code-server on 127.0.0.1) driven by Debian Chromium: the Models view sits in
the activity bar and shows the tree of the notebook's kernel, with plots, an action and "copy as code".

The Jupyter extension cannot be installed here, so a test fake takes its id (test/fake-jupyter): its kernel
answers paramscope's handler call from tests/fixtures/torch_rgnet.json, answers recorded from a real kernel.
The paramscope extension itself runs unchanged. Needs `make vsix` and code-server (`make test-vscode` does both)."""

from __future__ import annotations

import hashlib
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


def _register_language_pack(data: Path, extensions: Path, locale: str) -> None:
    """What VS Code's language pack service writes into the user data folder when a pack is installed from the UI
    (an install through the CLI leaves it out, and without it --locale falls back to English): the pack's
    translations by language, with the hash of its id and version."""
    [folder] = extensions.glob(f"paramscope-test.language-pack-{locale}-*")
    manifest = json.loads((folder / "package.json").read_text())
    identifier = f"{manifest['publisher']}.{manifest['name']}"
    [localization] = manifest["contributes"]["localizations"]
    pack = {
        "hash": hashlib.md5((identifier + manifest["version"]).encode()).hexdigest(),
        "extensions": [{"extensionIdentifier": {"id": identifier}, "version": manifest["version"]}],
        "translations": {t["id"]: str(folder / t["path"]) for t in localization["translations"]},
        "label": localization["localizedLanguageName"],
    }
    (data / "languagepacks.json").write_text(json.dumps({localization["languageId"]: pack}))


def _serve(home: Path, locale: str | None = None) -> Iterator[str]:
    """code-server with the built .vsix and the Jupyter fake; with `locale`, in that display language (through the
    test language pack, without which VS Code stays English whatever --locale says)."""
    if not VSIX.is_file():
        pytest.fail(f"{VSIX.name} is not built: run `make vsix`")
    if not CODE_SERVER.exists():
        pytest.fail("code-server is not installed: run `make test-vscode` (it installs it into .make/code-server)")
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
    packages = [home / "fake-jupyter.vsix", VSIX]
    if locale is not None:
        subprocess.run(["node", str(EXTENSION / "test" / "language-pack" / "build.mjs"), str(home)], check=True,
                       cwd=EXTENSION, capture_output=True)
        packages.append(home / f"language-pack-{locale}.vsix")
        base.append(f"--locale={locale}")
    installed = subprocess.run([*base, *(arg for vsix in packages for arg in ("--install-extension", str(vsix)))],
                               env=env, capture_output=True, text=True, timeout=180)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    if locale is not None:
        _register_language_pack(data, extensions, locale)
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


# One server per test (not per module): two code-servers at once would share the CI's two cores.
@pytest.fixture
def code_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _serve(tmp_path_factory.mktemp("vscode-home"))


@pytest.fixture
def code_server_tr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _serve(tmp_path_factory.mktemp("vscode-home-tr"), locale="tr")


@pytest.fixture
def page(code_server: str, request: pytest.FixtureRequest):
    yield from _browse(code_server, request)


@pytest.fixture
def page_tr(code_server_tr: str, request: pytest.FixtureRequest):
    yield from _browse(code_server_tr, request)


def _browse(code_server: str, request: pytest.FixtureRequest):
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


def _open_notebook_and_view(page) -> None:
    """Open the chapter notebook with the cursor at the end of its cell, then the paramscope view."""
    # The view's container in the activity bar; once it is there the extensions are known, and the notebook
    # opens in the notebook editor (built-in ipynb serializer) rather than as JSON text.
    tab = page.get_by_role("tab", name="paramscope")
    tab.wait_for()
    page.locator(".explorer-folders-view .monaco-list-row", has_text="chapter.ipynb").dblclick()
    cell = page.locator(".notebook-editor .cell-editor-container .view-lines").first
    cell.wait_for()
    cell.click()
    page.keyboard.press("End")
    tab.click()


def test_models_view_renders_the_kernels_tree_and_acts_in_it(page) -> None:
    page, csp_errors = page
    _open_notebook_and_view(page)
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
    view.locator(".jp-ParamScope-banner").get_by_text("Inserted rgnet[1].weight at the cursor").wait_for()
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


@pytest.mark.slow
def test_models_view_speaks_vscodes_display_language(page_tr) -> None:
    """VS Code in Turkish (env.language "tr"): the contributed names, the host's vscode.l10n texts and the
    webview's explorer are Turkish, numbers grouped the Turkish way; VS Code's own texts stay English (the test
    language pack translates none of them)."""
    page, csp_errors = page_tr
    _open_notebook_and_view(page)
    # package.nls.tr.json: the view's name.
    title = page.locator(".part.sidebar .title-label")
    title.wait_for()
    assert (title.text_content() or "").lower() == "paramscope: modeller"
    view = page.frame_locator('iframe.webview[src*="purpose=webviewView"]').frame_locator("iframe#active-frame")
    view.locator(".jp-ParamScope-title").get_by_text("rgnet").wait_for()
    assert view.locator("html").get_attribute("lang") == "tr-TR"
    # The webview's own texts and the shared explorer's, in Turkish.
    assert view.locator(".jp-ParamScope-vscode-picker").get_attribute("title") == "Çekirdekteki model"
    toolbar = view.locator(".jp-ParamScope-toolbar").text_content() or ""
    assert "Yenile" in toolbar and "Tekrarları katla" in toolbar
    search = view.locator("input.jp-ParamScope-search-input")
    assert search.get_attribute("placeholder") == "Bloklarda ve parametrelerde ara"
    assert "309 parametre" in view.locator(".jp-ParamScope-title").inner_text()

    # The host's texts (l10n/bundle.l10n.tr.json): copy as code reports where the code went.
    view.locator('.jp-ParamScope-row[data-path="1"] .jp-ParamScope-twisty').click()
    view.locator('.jp-ParamScope-row[data-path="1.weight"]').click()
    view.locator('.jp-ParamScope-details button[data-action="copy"]').click()
    view.locator(".jp-ParamScope-banner").get_by_text("rgnet[1].weight imlecin bulunduğu yere eklendi").wait_for()

    # package.nls.tr.json: the command's title in the palette; the quick pick's texts from the host.
    page.keyboard.press("Control+Shift+P")
    page.keyboard.type("paramscope: Modeli göster")
    page.locator(".quick-input-widget .monaco-list-row", has_text="Modeli göster").first.wait_for()
    page.keyboard.press("Enter")
    rows = page.locator(".quick-input-widget .monaco-list-row")
    rows.filter(has_text="Sequential · pytorch · 309 parametre").first.wait_for()
    placeholder = page.locator(".quick-input-widget input").get_attribute("placeholder")
    assert placeholder == "chapter.ipynb içinden bir model seçin"
    page.keyboard.press("Escape")
    assert csp_errors == []
