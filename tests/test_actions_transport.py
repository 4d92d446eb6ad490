"""Every string that reaches a transport is valid UTF-8 JSON, tested through a real kernel: a module whose name
holds a lone surrogate ("\\ud800", as a name made from raw bytes) is listed, named back by its escaped
spelling and acted on, over the sidebar's execute transport and over the widget's comm messages."""

from __future__ import annotations

import base64
import json
import os
import queue
import time

import pytest

from paramscope.protocol import MIME

SETUP = """
import torch, paramscope
from torch import nn
net = nn.Sequential(nn.Linear(2, 2))
net.add_module("\\ud800", nn.Linear(2, 2))
net.add_module("a\\udcffb c'd", nn.Linear(2, 2))
"""


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    pytest.importorskip("torch")
    from ipykernel.kernelspec import install
    from jupyter_client.manager import KernelManager

    home = tmp_path_factory.mktemp("home")
    prefix = tmp_path_factory.mktemp("kernels")
    install(prefix=str(prefix), kernel_name="paramscope-b1")
    saved = {k: os.environ.get(k) for k in ("JUPYTER_PATH", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR")}
    os.environ["JUPYTER_PATH"] = str(prefix / "share" / "jupyter")
    os.environ["JUPYTER_RUNTIME_DIR"] = str(home / "runtime")
    os.environ["JUPYTER_DATA_DIR"] = str(home / "data")
    manager = KernelManager(kernel_name="paramscope-b1")
    manager.start_kernel(env={**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / "cache")})
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=120)
    _execute(client, SETUP)
    yield client
    client.stop_channels()
    manager.shutdown_kernel(now=True)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _execute(client, code, **kwargs):
    msg_id = client.execute(code, **kwargs)
    reply = client.get_shell_msg(timeout=120)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = client.get_shell_msg(timeout=120)
    assert reply["content"]["status"] == "ok", reply["content"]
    return reply


def _sidebar(client, request):
    """One request the way the sidebar and VS Code send it: a silent execute read back as a user expression."""
    encoded = base64.b64encode(json.dumps(request).encode("utf-8")).decode("ascii")
    expression = f'__import__("paramscope.protocol", fromlist=["call"]).call("{encoded}")'
    reply = _execute(client, "", silent=True, user_expressions={"r": expression})
    result = reply["content"]["user_expressions"]["r"]
    assert result["status"] == "ok", result
    return result["data"][MIME]


def test_the_sidebar_lists_and_acts_on_a_name_with_a_lone_surrogate(kernel):
    answer = _sidebar(kernel, {"id": 1, "op": "tree", "model": "net", "path": "", "depth": 1})
    assert answer["ok"], answer
    names = [child["path"] for child in answer["result"]["node"]["children"]]
    assert names == ["0", "\\ud800", "a\\udcffb c'd"]  # escaped as text, every other name as it is
    weight = _sidebar(kernel, {"id": 2, "op": "tree", "model": "net", "path": "\\ud800", "depth": 1})
    assert weight["ok"] and weight["result"]["node"]["children"][0]["path"] == "\\ud800.weight"
    done = _sidebar(kernel, {"id": 3, "op": "reinit", "model": "net", "path": "a\\udcffb c'd.weight", "init": "zeros"})
    assert done["ok"] and done["result"]["changed"] == ["a\\udcffb c'd.weight"]
    stats = _sidebar(kernel, {"id": 4, "op": "stats", "model": "net", "path": "a\\udcffb c'd.weight"})
    assert stats["ok"] and stats["result"]["max"] == 0
    undone = _sidebar(kernel, {"id": 5, "op": "undo", "model": "net"})
    assert undone["ok"] and undone["result"]["undone"]["changed"] == ["a\\udcffb c'd.weight"]
    missing = _sidebar(kernel, {"id": 6, "op": "tree", "model": "net", "path": "\\ud801"})
    assert not missing["ok"] and "\\ud801" in missing["error"]["message"]


def test_the_widget_sends_escaped_names_over_its_comm(kernel):
    pytest.importorskip("anywidget")
    _execute(kernel, "w = paramscope.show(net, name='net')\n"
                     "w._answer(w, {'id': 7, 'op': 'tree', 'model': 'net', 'path': '', 'depth': 1}, [])")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            msg = kernel.get_iopub_msg(timeout=5)
        except queue.Empty:
            continue
        data = msg["content"].get("data", {})
        if msg["msg_type"] == "comm_msg" and data.get("method") == "custom" and data["content"].get("id") == 7:
            answer = data["content"]
            assert answer["ok"]
            assert [c["path"] for c in answer["result"]["node"]["children"]] == ["0", "\\ud800", "a\\udcffb c'd"]
            return
    pytest.fail("the widget's answer never arrived on the comm")
