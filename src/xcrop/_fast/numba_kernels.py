"""Optional compiled crop kernels (numba), used by the NumPy and torch-CPU fast paths.

Install with ``pip install xcrop[numba]``; without numba (or with ``XCROP_NO_NUMBA=1``)
the pure-NumPy / torch-op fast paths serve instead.

Exactness by construction: the kernel performs, per output element, exactly the generic
path's float32 operations in its order — convert each of the four pixels to float32 and
flush it, then ``ftz(a + ftz(ftz(b - a) * t))`` for the two x-lerps and the y-lerp — and
writes ``extrapolation_value`` where the generic path's ``where(inside, ...)`` would.
numba compiles float32 ``+ - *`` to single IEEE float32 instructions: without
``fastmath`` LLVM neither reassociates nor contracts ``a * b + c`` into an FMA, and the
process runs with the default MXCSR (no hardware flush-to-zero), so the explicit
``_ftz`` is the only flushing, as in the generic path. No value check is needed, unlike
the unflushed array paths.

The kernels themselves live in ``jit_crop`` (module-level, ``cache=True``: compiled once
per machine, then loaded from numba's on-disk cache); this module imports it, and so
numba, only when a kernel is first needed.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["LazyKernels", "any_tiny", "available", "crop", "run_split"]

class LazyKernels:
    """numba kernels imported on first use (once, under a lock: concurrent first calls
    must not import twice); permanently unavailable when numba is missing or fails, so
    the array paths serve. ``XCROP_NO_NUMBA=1`` (read per call) switches them off."""

    def __init__(self, compile_kernels: Callable[[], Any]) -> None:
        self._compile = compile_kernels
        self._kernels: Any = None
        self._failed = False
        self._lock = threading.Lock()

    def get(self) -> Any:
        if self._kernels is None and not self._failed:
            with self._lock:
                if self._kernels is None and not self._failed:
                    try:
                        self._kernels = self._compile()
                    except Exception:  # numba missing or broken: the array paths serve
                        self._failed = True
        return self._kernels

    def available(self) -> bool:
        if os.environ.get("XCROP_NO_NUMBA", "").strip() not in ("", "0"):
            return False
        return self.get() is not None


def _compile() -> Any:
    from . import jit_crop  # imports numba; raises ImportError without it

    return jit_crop.bilinear_flushed, jit_crop.bilinear_plain, jit_crop.nearest, \
        jit_crop.any_tiny


_KERNELS = LazyKernels(_compile)
available = _KERNELS.available
_load = _KERNELS.get

def crop(pixels: Any, plan: Any, method: str, fill: float, flush_nearest: bool,
         out: Any, unflushed_ok: bool = False) -> None:
    """Fill ``out`` (float32 ``(n, ch, cw, D)`` NumPy) from NumPy ``pixels`` ``(N, D)``.

    ``plan`` holds NumPy arrays (see ``_plan.crop_plan``). float16 pixels must be
    converted to float32 first (exact).
    """
    import numpy as np

    bilinear_flushed, bilinear_plain, nearest, _ = _load()
    bilinear = bilinear_plain if unflushed_ok else bilinear_flushed
    f = np.float32(fill)
    if method == "nearest":
        def kernel(i0: int, i1: int) -> None:
            nearest(pixels, plan.rows_a, plan.cols_a, plan.inside_y, plan.inside_x, f,
                    flush_nearest, out, i0, i1)
    else:
        def kernel(i0: int, i1: int) -> None:
            bilinear(pixels, plan.rows_a, plan.rows_b, plan.cols_a, plan.cols_b,
                     plan.y_lerp, plan.x_lerp, plan.inside_y, plan.inside_x, f, out, i0, i1)
    run_split(kernel, out.shape[0], out.size)


#: Output elements below which a call runs on the calling thread only.
SERIAL_ELEMENTS = 2**16


def run_split(kernel: Any, n: int, elements: int) -> None:
    """Run ``kernel(i0, i1)`` over ``range(n)`` in contiguous parts on xcrop's thread pool.

    The kernels are compiled ``nogil``: plain Python threads run them in parallel. numba's
    own ``parallel=True`` (its OpenMP threading layer) is not used: its spinning workers
    and PyTorch's OpenMP pool slowed each other down badly in one process (torch ops of
    a call taking 10x longer right after a parallel kernel, measured on 2 cores).
    """
    from .numpy_paths import _executor, num_threads

    threads = min(num_threads(), n)
    if threads <= 1 or elements < SERIAL_ELEMENTS:
        kernel(0, n)
        return
    # A few parts per thread even out boxes of unequal cost (fill vs interpolation).
    parts = min(n, threads * 4)
    bounds = [n * k // parts for k in range(parts + 1)]
    jobs = [_executor(threads).submit(kernel, a, b)
            for a, b in itertools.pairwise(bounds) if a < b]
    for job in jobs:
        job.result()


def any_tiny(flat: Any, threshold: float) -> bool:
    """Whether the 1-D float NumPy array ``flat`` holds a nonzero ``|v| < threshold``:
    one pass, no temporaries (``_exact``'s criterion as a threshold test)."""
    import numpy as np

    return bool(_load()[3](flat, flat.dtype.type(threshold) if flat.dtype != np.float16
                           else np.float32(threshold)))
