"""The sample coordinates in numba, for code that computes them inside a compiled
handler (``ffi_checks``, ``ffi_grad``): ports, operation for operation, of
``_core.coordinates.sample_coordinates`` (the forward's, docs/semantics.md §1.3) and of
``_reference.gradients.box_coordinates`` / ``edge_weights`` (the box gradient's own).

Every function fills one box's coordinates along one axis (or one axis' weights) into a
float32 array whose length is the crop extent; the same float32 operations, the same
flushes (``crop._ftz``) as the array-API definitions, so the same bits.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from .crop import _ftz

f32 = np.float32


@numba.njit(inline="always")
def sample_coordinates(lo: Any, hi: Any, size: int, out: Any) -> None:
    """``_core.coordinates.sample_coordinates`` of one box (edges ``lo``, ``hi``, float32)
    along an axis of ``size`` pixels, into float32 ``out (count,)``."""
    count = out.shape[0]
    extent = f32(size - 1)
    lo, hi = _ftz(lo), _ftz(hi)
    if count == 1:
        out[0] = _ftz(_ftz(lo + hi) * f32(0.5 * (size - 1)))
        return
    scale = _ftz(_ftz(_ftz(hi - lo) * extent) / f32(count - 1))
    start = _ftz(lo * extent)
    for k in range(count):
        out[k] = _ftz(start + _ftz(f32(k) * scale))


@numba.njit(inline="always")
def box_coordinates(lo: Any, hi: Any, size: int, out: Any) -> None:
    """``_reference.gradients.box_coordinates`` of one box, into float32 ``out (count,)``:
    the box gradient scales by the float32 quotient ``(size - 1) / (count - 1)`` (one
    float64 division rounded once) where the forward divides in float32."""
    count = out.shape[0]
    if count == 1:
        sample_coordinates(lo, hi, size, out)
        return
    lo, hi = _ftz(lo), _ftz(hi)
    ratio = f32((size - 1) / (count - 1))
    scale = _ftz(_ftz(hi - lo) * ratio)
    start = _ftz(lo * f32(size - 1))
    for k in range(count):
        out[k] = _ftz(start + _ftz(f32(k) * scale))


@numba.njit(inline="always")
def edge_weights(size: int, lo_w: Any, hi_w: Any) -> None:
    """``_reference.gradients.edge_weights`` into float32 ``lo_w``, ``hi_w`` ``(count,)``,
    ``count >= 2``: the per-sample weights of ``d[lo]`` and ``d[hi]``."""
    count = lo_w.shape[0]
    ratio = f32((size - 1) / (count - 1))
    for k in range(count):
        hi_w[k] = _ftz(f32(k) * ratio)
        lo_w[k] = _ftz(f32(size - 1) - hi_w[k])
