"""A notebook whose kernel is rank 0 of a 2-process gloo group (the second process started by the notebook, as the
README shows): the widget and the Models sidebar show the FSDP2-sharded model's global view -- global counts,
the placement of each shard, and statistics equal to those of the unsharded copy."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.ui.conftest import ARTIFACTS, notebook
from tests.ui.driver import Notebook

pytestmark = pytest.mark.ui

RANK1 = '''\
import copy, datetime, os, sys, threading, time
import torch, torch.distributed as dist
from torch import nn
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
import paramscope as ps

parent = os.getppid()
def _orphaned():  # the notebook's kernel went away: nobody will lead any more
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)
threading.Thread(target=_orphaned, daemon=True).start()
os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=sys.argv[1])
dist.init_process_group("gloo", rank=1, world_size=2, timeout=datetime.timedelta(seconds=120))
mesh = init_device_mesh("cpu", (2,))
torch.manual_seed(0)
plain = nn.Sequential(nn.Linear(7, 9), nn.ReLU(), nn.Linear(9, 3))
net = copy.deepcopy(plain)
fully_shard(net, mesh=mesh)
ps.follow({"net": net}, namespace=globals())
dist.destroy_process_group()
'''

SETUP = f"""\
import copy, datetime, os, socket, subprocess, sys
import torch, torch.distributed as dist
from torch import nn
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
import paramscope as ps

with open("rank1.py", "w") as f:
    f.write({RANK1!r})
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
rank1 = subprocess.Popen([sys.executable, "rank1.py", str(port)])
dist.init_process_group("gloo", rank=0, world_size=2, timeout=datetime.timedelta(seconds=120))
mesh = init_device_mesh("cpu", (2,))
torch.manual_seed(0)
plain = nn.Sequential(nn.Linear(7, 9), nn.ReLU(), nn.Linear(9, 3))
net = copy.deepcopy(plain)
fully_shard(net, mesh=mesh)
leader = ps.lead()
print("READY")"""
# Run again at the end: releases rank 1.
CHECK = """\
RUNS = globals().get("RUNS", 0) + 1
if RUNS > 1:
    leader.stop()
    rank1.wait(timeout=60)
print("CHECK", RUNS, rank1.poll(), ps.inspect(net).n_params, sep="|")"""
CELLS = [SETUP, "ps.show(net)", "ps.show(plain)", CHECK]


def _mean(root, path: str):
    return root.locator(f'[data-tensor="{path}"] [data-stat="mean"] .jp-ParamScope-stat-value')


def test_rank0_notebook_shows_the_global_sharded_model(jupyter, page):
    (jupyter.root / "sharded.ipynb").write_text(json.dumps(notebook(CELLS)))
    nb = Notebook(page)
    nb.open(jupyter, "/lab/tree/sharded.ipynb?reset", "sharded.ipynb")
    try:
        nb.run_all()
        assert nb.output(3).inner_text().strip() == "CHECK|1|None|102"
        sharded, plain = nb.widget(0), nb.widget(1)
        expect(sharded.root.locator(".jp-ParamScope-title")).to_contain_text("102 params")
        for w in (sharded, plain):
            w.expand("0")
            w.row("0.weight").click()
            expect(_mean(w.root, "0.weight")).not_to_have_text("")
        # The global statistics (merged across both ranks) are those of the unsharded copy.
        expect(_mean(sharded.root, "0.weight")).to_have_text(_mean(plain.root, "0.weight").inner_text())
        placement = sharded.root.locator(".jp-ParamScope-placement")
        expect(placement.locator(".jp-ParamScope-placement-slot")).to_have_text(["rank 0", "rank 1"])
        expect(placement.locator("tbody tr").nth(1)).to_contain_text("[5:9, 0:7]")
        expect(sharded.root.locator(".jp-ParamScope-meta")).to_contain_text("sharded [Shard(0)]")
        expect(plain.root.locator(".jp-ParamScope-placement")).to_have_count(0)
        ARTIFACTS.mkdir(exist_ok=True)
        sharded.root.screenshot(path=str(ARTIFACTS / "sharded-widget.png"))

        # The sidebar shows the same global view of the same kernel.
        page.locator('.lm-TabBar-tab[data-id="paramscope-models"]').click()
        sidebar = page.locator("#paramscope-models")
        model = sidebar.locator('.jp-ParamScope-model[data-model="net"]')
        expect(model.locator(".jp-ParamScope-model-stats")).to_contain_text("102 params")
        model.locator(".jp-ParamScope-model-header").click()
        row = model.locator('.jp-ParamScope-row[data-path="0"]')
        expect(row).to_be_visible()
        row.locator(".jp-ParamScope-twisty").click()
        model.locator('.jp-ParamScope-row[data-path="0.weight"]').click()
        expect(_mean(model, "0.weight")).to_have_text(_mean(plain.root, "0.weight").inner_text())
        expect(model.locator(".jp-ParamScope-placement-slot")).to_have_count(2)
        sidebar.screenshot(path=str(ARTIFACTS / "sharded-sidebar.png"))
    finally:
        assert nb.run_cell(3).strip() == "CHECK|2|0|102"


MIRRORED = [
    """\
import os
os.environ["KERAS_BACKEND"] = "tensorflow"
import tensorflow as tf
tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import paramscope as ps
with tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]).scope():
    knet = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, name="dense")], name="knet")
print("READY")""",
    "ps.show(knet)",
    'knet.weights[0]._value.values[1].assign(tf.zeros((5, 4)))\nprint("DIVERGED")',
    'print("CHECK")',
]


def test_mirrored_keras_variables_show_their_replicas(jupyter, page):
    (jupyter.root / "mirrored.ipynb").write_text(json.dumps(notebook(MIRRORED)))
    nb = Notebook(page)
    nb.open(jupyter, "/lab/tree/mirrored.ipynb?reset", "mirrored.ipynb")
    nb.run_all()
    assert "DIVERGED" in nb.output(2).inner_text()
    w = nb.widget(0)
    expect(w.root.locator(".jp-ParamScope-title")).to_contain_text("24 params")
    w.expand("knet/dense")
    w.row("knet/dense/kernel").click()
    placement = w.root.locator(".jp-ParamScope-placement")
    expect(placement.locator(".jp-ParamScope-placement-summary")).to_contain_text(
        "mirrored by MirroredStrategy on CPU:0, CPU:1")
    # The third cell wrote zeros into the second replica only: the check says so.
    expect(w.root.locator(".jp-ParamScope-meta")).to_contain_text("mirrored on CPU:0, CPU:1 (MirroredStrategy)")
    check = w.root.locator('[data-tensor="knet/dense/kernel"] .jp-ParamScope-replicas')
    expect(check).to_have_text("read from CPU:0; the replicas on CPU:1 hold other values")
    ARTIFACTS.mkdir(exist_ok=True)
    w.root.screenshot(path=str(ARTIFACTS / "mirrored-widget.png"))
