"""The wheel carries the built front ends: the widget bundle and the prebuilt JupyterLab extension."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_contains_the_widget_bundle_and_the_labextension(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path)], check=True, cwd=ROOT)
    [wheel] = tmp_path.glob("paramscope-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"paramscope/static/widget.js", "paramscope/static/widget.css", "paramscope/protocol.py"} <= names
    data = f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.data/data/share/jupyter/labextensions/paramscope"
    assert {f"{data}/package.json", f"{data}/install.json", f"{data}/schemas/paramscope/plugin.json"} <= names
    assert any(n.startswith(f"{data}/static/remoteEntry.") for n in names)
    assert not any("/labextension/" in n for n in names if n.startswith("paramscope/"))  # shipped once, as data
