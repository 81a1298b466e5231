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
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["LazyKernels", "any_tiny", "available", "crop", "run_split"]

class LazyKernels:
    """numba kernels compiled on first use (once, under a lock: concurrent first calls
    must not compile twice); permanently unavailable when numba is missing or fails, so
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
    import numba
    import numpy as np

    flt_min = np.float32(2.0**-126)
    zero = np.float32(0.0)

    @numba.njit(inline="always")
    def _ftz(v: Any) -> Any:
        if abs(v) < flt_min:
            return np.float32(np.copysign(zero, v))
        return v

    @numba.njit(inline="always")
    def _same(v: Any) -> Any:
        return v

    def make_bilinear(_ftz: Any) -> Any:
        @numba.njit(inline="always")
        def lerp(pixels, tl_row, tr_row, bl_row, br_row, d, xl, yl):  # TF's order
            tl = _ftz(np.float32(pixels[tl_row, d]))
            tr = _ftz(np.float32(pixels[tr_row, d]))
            bl = _ftz(np.float32(pixels[bl_row, d]))
            br = _ftz(np.float32(pixels[br_row, d]))
            top = _ftz(tl + _ftz(_ftz(tr - tl) * xl))
            bot = _ftz(bl + _ftz(_ftz(br - bl) * xl))
            return _ftz(top + _ftz(_ftz(bot - top) * yl))

        @numba.njit(nogil=True)
        def bilinear(pixels, rows_a, rows_b, cols_a, cols_b, y_lerp, x_lerp,
                     inside_y, inside_x, fill, out, i0, i1):
            ch = rows_a.shape[1]
            cw = cols_a.shape[1]
            depth = pixels.shape[1]
            for i in range(i0, i1):
                for y in range(ch):
                    if not inside_y[i, y]:
                        out[i, y, :, :] = fill
                        continue
                    ra = rows_a[i, y]
                    rb = rows_b[i, y]
                    yl = y_lerp[i, y]
                    for x in range(cw):
                        if not inside_x[i, x]:
                            out[i, y, x, :] = fill
                            continue
                        xl = x_lerp[i, x]
                        ca = cols_a[i, x]
                        cb = cols_b[i, x]
                        tl_row = ra + ca
                        tr_row = ra + cb
                        bl_row = rb + ca
                        br_row = rb + cb
                        if depth == 3:
                            # RGB images: an unrolled body (a runtime-length loop of 3 costs
                            # about 20% more, measured on the "small crops" workload).
                            out[i, y, x, 0] = lerp(pixels, tl_row, tr_row, bl_row, br_row, 0,
                                                   xl, yl)
                            out[i, y, x, 1] = lerp(pixels, tl_row, tr_row, bl_row, br_row, 1,
                                                   xl, yl)
                            out[i, y, x, 2] = lerp(pixels, tl_row, tr_row, bl_row, br_row, 2,
                                                   xl, yl)
                        else:
                            for d in range(depth):
                                out[i, y, x, d] = lerp(pixels, tl_row, tr_row, bl_row,
                                                       br_row, d, xl, yl)
        return bilinear

    @numba.njit(cache=True, nogil=True)
    def any_tiny(flat, threshold):
        """True if some nonzero ``|v|`` is below ``threshold`` (NaN compares false).

        Branch-free blocks of 4096 (LLVM vectorizes them; an early exit per element does
        not vectorize and ran 5x slower), checked between blocks.
        """
        for s in range(0, flat.shape[0], 4096):
            block = flat[s:s + 4096]
            hit = np.int32(0)
            for k in range(block.shape[0]):
                a = abs(block[k])
                hit |= np.int32(a < threshold) & np.int32(a != 0)
            if hit:
                return True
        return False

    @numba.njit(nogil=True, cache=True)
    def nearest(pixels, rows, cols, inside_y, inside_x, fill, flush, out, i0, i1):
        ch = rows.shape[1]
        cw = cols.shape[1]
        depth = pixels.shape[1]
        for i in range(i0, i1):
            for y in range(ch):
                if not inside_y[i, y]:
                    out[i, y, :, :] = fill
                    continue
                for x in range(cw):
                    if not inside_x[i, x]:
                        out[i, y, x, :] = fill
                        continue
                    row = rows[i, y] + cols[i, x]
                    for d in range(depth):
                        v = np.float32(pixels[row, d])
                        out[i, y, x, d] = _ftz(v) if flush else v

    return make_bilinear(_ftz), make_bilinear(_same), nearest, any_tiny



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
