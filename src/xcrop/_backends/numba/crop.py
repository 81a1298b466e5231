"""The numba crop kernels, compiled on first use and cached on disk (``cache=True``).

Imported by ``loader`` when a kernel is first needed (importing this module
imports numba). The kernels are module-level functions that call each other as globals:
numba can then cache them across processes (``__pycache__`` beside this file, or
numba's user-wide cache directory when that is read-only), so only the very first call
on a machine pays the compilation. Kernels built by closures inside a factory cannot be
cached: their cache key includes the closure cells, which differ in every process.

Exactness: see ``loader``; the operations are the reference's (``_reference.crop_and_resize``).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

_FLT_MIN = np.float32(2.0**-126)
_ZERO = np.float32(0.0)


@numba.njit(inline="always")
def _ftz(v: Any) -> Any:
    if abs(v) < _FLT_MIN:
        return np.float32(np.copysign(_ZERO, v))
    return v


@numba.njit(inline="always")
def _lerp(pixels, tl_row, tr_row, bl_row, br_row, d, xl, yl, flush):  # TF's order
    if flush:
        tl = _ftz(np.float32(pixels[tl_row, d]))
        tr = _ftz(np.float32(pixels[tr_row, d]))
        bl = _ftz(np.float32(pixels[bl_row, d]))
        br = _ftz(np.float32(pixels[br_row, d]))
        top = _ftz(tl + _ftz(_ftz(tr - tl) * xl))
        bot = _ftz(bl + _ftz(_ftz(br - bl) * xl))
        return _ftz(top + _ftz(_ftz(bot - top) * yl))
    tl = np.float32(pixels[tl_row, d])
    tr = np.float32(pixels[tr_row, d])
    bl = np.float32(pixels[bl_row, d])
    br = np.float32(pixels[br_row, d])
    top = tl + (tr - tl) * xl
    bot = bl + (br - bl) * xl
    return top + (bot - top) * yl


@numba.njit(inline="always")
def _crop(pixels, rows_a, rows_b, cols_a, cols_b, y_lerp, x_lerp, inside_y, inside_x, fill,
          out, i0, i1, flush):
    # The loops of both methods, inlined into each kernel below. The nearest kernel passes
    # None for the bilinear-only arrays: numba prunes the ``is None`` branches at compile
    # time, and a constant ``flush`` leaves each bilinear kernel a branch-free inner loop.
    ch = rows_a.shape[1]
    cw = cols_a.shape[1]
    depth = pixels.shape[1]
    for i in range(i0, i1):
        for y in range(ch):
            if not inside_y[i, y]:
                out[i, y, :, :] = fill
                continue
            ra = rows_a[i, y]
            if y_lerp is not None:
                rb = rows_b[i, y]
                yl = y_lerp[i, y]
            for x in range(cw):
                if not inside_x[i, x]:
                    out[i, y, x, :] = fill
                    continue
                ca = cols_a[i, x]
                if y_lerp is None:  # nearest: a copy (flushed for float64 images)
                    for d in range(depth):
                        v = np.float32(pixels[ra + ca, d])
                        out[i, y, x, d] = _ftz(v) if flush else v
                    continue
                xl = x_lerp[i, x]
                cb = cols_b[i, x]
                tl_row = ra + ca
                tr_row = ra + cb
                bl_row = rb + ca
                br_row = rb + cb
                if depth == 3:
                    # RGB images: an unrolled body (a runtime-length loop of 3 costs
                    # about 20% more, measured on the "small crops" workload).
                    out[i, y, x, 0] = _lerp(pixels, tl_row, tr_row, bl_row, br_row, 0,
                                            xl, yl, flush)
                    out[i, y, x, 1] = _lerp(pixels, tl_row, tr_row, bl_row, br_row, 1,
                                            xl, yl, flush)
                    out[i, y, x, 2] = _lerp(pixels, tl_row, tr_row, bl_row, br_row, 2,
                                            xl, yl, flush)
                else:
                    for d in range(depth):
                        out[i, y, x, d] = _lerp(pixels, tl_row, tr_row, bl_row, br_row, d,
                                                xl, yl, flush)


@numba.njit(nogil=True, cache=True)
def bilinear_flushed(pixels, rows_a, rows_b, cols_a, cols_b, y_lerp, x_lerp, inside_y,
                     inside_x, fill, out, i0, i1):
    """Bilinear boxes ``i0 .. i1-1`` into ``out``, flushing subnormals after every
    operation as TF's CPU kernel does (``_reference.indexing.CropPlan`` holds the index arrays)."""
    _crop(pixels, rows_a, rows_b, cols_a, cols_b, y_lerp, x_lerp, inside_y, inside_x,
          fill, out, i0, i1, True)


@numba.njit(nogil=True, cache=True)
def bilinear_plain(pixels, rows_a, rows_b, cols_a, cols_b, y_lerp, x_lerp, inside_y,
                   inside_x, fill, out, i0, i1):
    """As :func:`bilinear_flushed` without the flushes: only for calls where
    ``_backends.exactness`` proves every flush is the identity."""
    _crop(pixels, rows_a, rows_b, cols_a, cols_b, y_lerp, x_lerp, inside_y, inside_x,
          fill, out, i0, i1, False)


@numba.njit(nogil=True, cache=True)
def nearest(pixels, rows, cols, inside_y, inside_x, fill, flush, out, i0, i1):
    """Nearest-neighbour boxes ``i0 .. i1-1`` into ``out`` (``flush``: float64 images,
    whose conversion to float32 can make subnormals)."""
    _crop(pixels, rows, None, cols, None, None, None, inside_y, inside_x, fill, out, i0, i1,
          flush)


@numba.njit(nogil=True, cache=True)
def any_tiny(flat, threshold):
    """True if some nonzero ``|v|`` is below ``threshold`` (NaN compares false).

    Branch-free blocks of 4096 (LLVM vectorizes them; an early exit per element does not
    vectorize and ran 5x slower), checked between blocks.
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


_LANES = 64


@numba.njit(nogil=True, cache=True)
def smallest_magnitude(flat):
    """The smallest nonzero ``|v|`` of the 1-D ``flat`` as float64 (inf if there is none;
    NaN is skipped): ``any_tiny(flat, t)`` is ``smallest_magnitude(flat) < t`` for every
    threshold ``t`` that ``flat``'s dtype holds exactly. One pass; :data:`_LANES`
    independent accumulators let LLVM vectorize it (compare and select, no fast-math)."""
    n = flat.shape[0]
    best = np.full(_LANES, np.inf, flat.dtype)
    full = n - n % _LANES
    for s in range(0, full, _LANES):
        for j in range(_LANES):
            a = abs(flat[s + j])
            best[j] = a if (a < best[j]) & (a != 0) else best[j]
    smallest = np.inf
    for j in range(_LANES):
        if best[j] < smallest:
            smallest = np.float64(best[j])
    for k in range(full, n):
        a = abs(flat[k])
        if a < smallest and a != 0:
            smallest = np.float64(a)
    return smallest
