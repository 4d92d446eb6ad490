"""NumPy shim MXNet 1.9.1 needs on NumPy >= 1.24: `import paramscope.adapters.mxnet_compat` before `import mxnet`.

MXNet 1.9.1 (the last release) refers to `numpy.bool`, an alias NumPy 1.24 removed, so `import mxnet` fails
with an AttributeError on the NumPy versions that TensorFlow also accepts (1.26). Importing this module puts
the alias back (as the builtin `bool`, which it always was) only where it is missing; NumPy 2 has `numpy.bool`
again, so there it does nothing. paramscope's MXNet adapter applies it too, never `import paramscope` itself.

    import paramscope.adapters.mxnet_compat  # noqa: F401  (before mxnet)
    import mxnet as mx
"""

from __future__ import annotations

import numpy


def apply() -> None:
    """Restore `numpy.bool` if this NumPy lacks it (checked in `__dict__`: `hasattr` would warn)."""
    if "bool" not in numpy.__dict__:
        numpy.bool = bool  # type: ignore[attr-defined]


apply()
