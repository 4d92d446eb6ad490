"""One JupyterLab server (which also serves Notebook 7) and one headless Chromium for the whole UI session.

The server runs on 127.0.0.1 with a random port and token, with every Jupyter and XDG directory in a temp dir,
so that nothing of the user's settings, workspaces or kernels leaks in or out."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import CHROMIUM, CHROMIUM_ARGS, free_port, require_chromium, stop, wait_for_http

STATIC = Path(__file__).resolve().parents[2] / "kernel_helpers" / "paramscope" / "static" / "widget.js"
ARTIFACTS = Path(__file__).parent / "artifacts"

# The chapter's nested rgnet, a net with a shared layer, and a cell that reads the model back in the kernel.
SETUP = """\
import torch
from torch import nn
import paramscope as ps

def block1():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4), nn.ReLU())

def block2():
    net = nn.Sequential()
    for i in range(4):
        net.add_module(f'block {i}', block1())
    return net

torch.manual_seed(0)
rgnet = nn.Sequential(block2(), nn.Linear(4, 1))
X = torch.rand(size=(2, 4))
rgnet(X).sum().backward()
shared = nn.Linear(8, 8)
net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), shared, nn.ReLU(), shared, nn.ReLU(), nn.Linear(8, 1))"""
CHECK = """\
print("CHECK", bool((rgnet[0][0][0].weight == 42).all()), bool((rgnet[0][0][2].bias == 42).all()),
      rgnet[0][2][0].weight is rgnet[0][1][0].weight, sep="|")"""
CELLS = [SETUP, "ps.show(rgnet)", "ps.show(net)", CHECK]
# For the screenshots and the wide-block timing: block 3's first layer is block 1's (a tied block), and a
# block with 10,000 children.
GALLERY = [SETUP + "\nrgnet[0][3][0] = rgnet[0][1][0]",
           "ps.show(rgnet)",
           "wide = nn.Sequential(nn.ModuleList([nn.Linear(2, 2) for _ in range(10_000)]))\nps.show(wide)",
           'print("READY")']


def notebook(cells: list[str]) -> dict:
    return {
        "cells": [{"cell_type": "code", "execution_count": None, "id": f"cell{i}", "metadata": {},
                   "outputs": [], "source": source} for i, source in enumerate(cells)],
        "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                                    "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


class Server:
    def __init__(self, url: str, token: str, root: Path) -> None:
        self.url, self.token, self.root = url, token, root

    def page_url(self, path: str) -> str:
        return f"{self.url}{path}{'&' if '?' in path else '?'}token={self.token}"


@contextlib.contextmanager
def lab_server(home: Path, root: Path, user_settings: dict[str, dict] | None = None) -> Iterator[Server]:
    """A JupyterLab server on 127.0.0.1 serving `root`, every Jupyter and XDG directory under `home`;
    `user_settings` ("@jupyterlab/translation-extension:plugin" -> {"locale": "tr_TR"}) are its user settings."""
    # No "get notified about Jupyter news?" toast over the page.
    settings = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false"}, **(user_settings or {})}
    for plugin, values in settings.items():
        package, name = plugin.split(":")
        path = home / "config" / "lab" / "user-settings" / package / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = {**os.environ, "HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_DATA_DIR": str(home / "data"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "XDG_CONFIG_HOME": str(home / "xdg-config"), "XDG_DATA_HOME": str(home / "xdg-data"),
           "XDG_CACHE_HOME": str(home / "xdg-cache"), "XDG_RUNTIME_DIR": str(home / "xdg-runtime"),
           "JUPYTER_PLATFORM_DIRS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    port, token = free_port(), secrets.token_hex(16)
    log = (home / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
         f"--port={port}", f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}",
         "--ServerApp.port_retries=0",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/api/status?token={token}", process, home / "server.log", "JupyterLab")
        yield Server(url, token, root)
    finally:
        stop(process)
        log.close()


@pytest.fixture(scope="session")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not STATIC.is_file():
        pytest.fail("the widget bundle is not built: run `make setup` (or `npm run build:widget`)")
    home = tmp_path_factory.mktemp("home")
    root = home / "notebooks"
    root.mkdir()
    for name in ("lab.ipynb", "nb7.ipynb"):
        (root / name).write_text(json.dumps(notebook(CELLS)))
    (root / "gallery.ipynb").write_text(json.dumps(notebook(GALLERY)))
    with lab_server(home, root) as server:
        yield server


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report


def copy_to_docs(source: Path, name: str) -> None:
    """Screenshots go to docs/ only when asked (PARAMSCOPE_UPDATE_DOCS=1): test runs leave the tree clean."""
    if os.environ.get("PARAMSCOPE_UPDATE_DOCS") == "1":
        shutil.copy(source, Path(__file__).resolve().parents[2] / "docs" / name)
