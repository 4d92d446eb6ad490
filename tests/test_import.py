"""`import paramscope` imports no framework (and no widget stack)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_import_paramscope_imports_no_framework():
    code = (
        "import sys, json, paramscope, paramscope.protocol; "
        "print(json.dumps(sorted(m for m in ('torch', 'tensorflow', 'keras', 'mxnet', 'numpy', 'anywidget',"
        " 'ipywidgets') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_adapters_load_only_for_imported_frameworks():
    code = (
        "import sys, json, torch, paramscope as ps; ps.inspect(torch.nn.Linear(1, 1)); "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('paramscope.adapters.') "
        "or m in ('tensorflow', 'keras', 'mxnet'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    # The PyTorch adapter and its own helper modules (torch_stats, torch_undo), nothing of another framework; and
    # numba_stats, which imports nothing until the first CPU stats call.
    assert "paramscope.adapters.torch" in loaded
    own = [m for m in loaded if m.startswith("paramscope.adapters.torch") or m == "paramscope.adapters.numba_stats"]
    assert own == loaded, loaded
