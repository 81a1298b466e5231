"""Float32 reductions and roots that give the same bits on every backend.

Library reductions (``mean``, ``sum``) add in a library-specific order and ``sqrt`` is
not correctly rounded everywhere (PyTorch's CPU kernel is off by an ulp now and then),
so a seeded glimpse fill built on them would differ between backends. These use only
elementwise ``+ - * /`` and comparisons, which IEEE 754 fixes bit for bit.
"""

from __future__ import annotations

from typing import Any

from .float32 import rounding_barrier

__all__ = ["pairwise_mean", "portable_sqrt"]


def pairwise_mean(xp: Any, x: Any, device: Any) -> Any:
    """Mean over axis 1 of a float32 ``(B, N, D)`` array, as ``(B, 1, D)``, ``N >= 1``.

    Sums by halving: zero-pad to a power of two, then add the two halves until one row
    is left — a fixed summation tree, so the bits do not depend on the library.
    """
    batch, n, depth = x.shape
    width = 1 << (n - 1).bit_length()
    if width > n:
        pad = xp.zeros((batch, width - n, depth), dtype=x.dtype, device=device)
        x = xp.concat([x, pad], axis=1)
    while width > 1:
        width //= 2
        x = x[:, :width, :] + x[:, width:, :]
    # XLA rewrites division by a constant (a full() array too, once folded) as a reciprocal
    # multiply; a divisor that depends on the data (NaN -> 1: NaN / 1 = NaN) stays a division.
    divisor = xp.full(x.shape, n, dtype=x.dtype, device=device)
    return x / xp.where(xp.isnan(x), xp.ones_like(divisor), divisor)


def portable_sqrt(xp: Any, x: Any) -> Any:
    """``sqrt`` of a float32 array within about 1 ulp, identical on every backend.

    ``x`` is scaled by exact powers of 4 into ``[1/4, 4)``, refined by Newton steps from
    a linear guess, and scaled back. 0, inf and NaN map to themselves; negatives to NaN.
    """
    one = xp.ones_like(x)
    y, scale = x, one
    for e in (64, 32, 16, 8, 4, 2):  # bring y below 4
        big = y >= 2.0**e
        y = xp.where(big, y * 2.0**-e, y)
        scale = xp.where(big, scale * 2.0 ** (e // 2), scale)
    for e in (64, 64, 32, 16, 8, 4, 2):  # and up to at least 1/4 (subnormals included)
        small = (y < 2.0**-e) & (y > 0)
        y = xp.where(small, y * 2.0**e, y)
        scale = xp.where(small, scale * 2.0 ** -(e // 2), scale)
    finite = (y > 0) & (y < 4.0)
    y = xp.where(finite, y, one)
    r = rounding_barrier(xp, y * 0.4) + 0.6  # within 35% of sqrt(y) on [1/4, 4); no FMA: jit
    for _ in range(5):  # quadratic convergence: 0.35 -> 6e-2 -> 2e-3 -> 2e-6 -> exact-ish
        r = (r + y / r) * 0.5
    return xp.where(finite, r * scale, xp.sqrt(x))
