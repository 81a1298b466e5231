"""The compiled numba kernels (``pip install xcrop[numba]``), imported on first use.

Kernel modules: ``crop`` (crop_and_resize), ``random`` (xcrop's Threefry streams, the
samplers and the glimpse kernel), ``gradients`` (both gradients). They are module-level
``cache=True`` functions: compiled once per machine, then loaded from numba's on-disk
cache. Host drivers that run them on NumPy arrays live in ``drivers`` and
``grad_drivers``.

Without numba (or with ``XCROP_NO_NUMBA`` set, read per call) the NumPy / torch-op fast
paths serve instead.

Exactness by construction: the kernels perform, per output element, exactly the
reference's float32 operations in its order. numba compiles float32 ``+ - *`` to single
IEEE float32 instructions: without ``fastmath`` LLVM neither reassociates nor contracts
``a * b + c`` into an FMA, and the process runs with the default MXCSR (no hardware
flush-to-zero), so the explicit flushes are the only flushing, as in the reference.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

from ..._core import env

__all__ = ["available", "kernels"]

_lock = threading.Lock()
_kernels: Any = None
_failed = False


def kernels() -> Any:
    """The kernel modules (``.crop``, ``.random``, ``.gradients``), imported once under a
    lock (concurrent first calls must not import twice); None for good when numba is
    missing or broken."""
    global _kernels, _failed
    if _kernels is None and not _failed:
        with _lock:
            if _kernels is None and not _failed:
                try:
                    from . import crop, gradients, random  # import numba

                    _kernels = SimpleNamespace(crop=crop, random=random, gradients=gradients)
                except Exception:  # numba missing or broken: the array paths serve
                    _failed = True
    return _kernels


def available() -> bool:
    """Whether the kernels may serve this call (numba importable, not switched off)."""
    return not env.flag(env.NO_NUMBA) and kernels() is not None
