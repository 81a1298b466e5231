"""Sample coordinates of crop_and_resize, rounded exactly as TensorFlow's CPU kernel.

This is the part of the algorithm that decides bit-exactness, so every fast path takes
its coordinates from here instead of recomputing them (docs/semantics.md §1.3).
"""

from __future__ import annotations

from typing import Any

from .float32 import flush_subnormals

__all__ = ["sample_coordinates"]


def sample_coordinates(xp: Any, lo: Any, hi: Any, size: int, count: int, device: Any) -> Any:
    """Source coordinates along one axis for every box.

    Parameters
    ----------
    lo, hi
        float32 arrays of shape ``(n, 1)``: the normalized box edges (``y1, y2`` or
        ``x1, x2``).
    size
        The image extent along the axis (``H`` or ``W``), ``>= 1``.
    count
        The crop extent along the axis (``crop_height`` or ``crop_width``), ``>= 1``.

    Returns
    -------
    float32 array of shape ``(n, count)``; ``coord[i, k]`` is where output row/column ``k``
    of box ``i`` samples the image. It is NaN only where the float32 arithmetic
    overflowed (TF indexes garbage memory there; the caller rejects it). Never
    subnormal: TF's kernel flushes subnormals to zero.
    """
    def ftz(x: Any) -> Any:
        return flush_subnormals(xp, x)

    f32 = xp.float32
    extent = size - 1
    lo, hi = ftz(lo), ftz(hi)  # denormals-are-zero on the box edges
    if count == 1:
        # TF evaluates 0.5 * (lo + hi) * (size - 1) in float64 and rounds once. With
        # size - 1 < 2**24, 0.5 * (size - 1) is exact in float32 and the float64 product
        # of two 24-bit significands is exact, so one float32 multiply rounds the same.
        return ftz(ftz(lo + hi) * (0.5 * extent))
    numerator = ftz(ftz(hi - lo) * extent)
    # IEEE division by count - 1 (docs/semantics.md §1.3). XLA rewrites x / constant as
    # x * (1 / constant), not correctly rounded, and folds a full() divisor into a constant;
    # a divisor that depends on the data (NaN -> 1 leaves NaN / 1 = NaN) stays a division.
    divisor = xp.full(numerator.shape, count - 1, dtype=f32, device=device)
    divisor = xp.where(xp.isnan(numerator), xp.ones_like(divisor), divisor)
    scale = ftz(numerator / divisor)
    steps = xp.arange(count, dtype=f32, device=device)
    return ftz(ftz(lo * extent) + ftz(steps * scale))
