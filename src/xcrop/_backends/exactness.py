"""When may a fast path skip the subnormal flushing and still be bit-exact?

The generic path emulates TF's flush-to-zero CPU kernel by flushing subnormals after
every float32 operation of the bilinear lerps. A fast path computes the very same
operations, in the same order, on the same float32 values, *without* the flushes. The two
are bit-identical as soon as no operand and no result of any operation is subnormal,
because then every flush is the identity. The check below proves that before the call.

Lemma 1 (rounding keeps granularity). If a real ``x`` is an integer multiple of ``2**k``
(``k >= -149``) and ``fl(x)`` (round to nearest float32) does not overflow, ``fl(x)`` is
a multiple of ``2**k``. Proof: let ``2**e <= |x| < 2**(e+1)``. If ``e - 23 >= k``, every
float32 in ``[2**e, 2**(e+1)]`` is a multiple of ``2**(e-23)``, hence of ``2**k``. If
``e - 23 < k``, ``x = j * 2**k`` with ``|j| < 2**(e+1-k) <= 2**24``, so ``x`` is
representable (as a normal or a subnormal) and ``fl(x) = x``.

Lemma 2. A float32 ``v`` with ``|v| >= 2**e`` is a multiple of ``2**(e-23)`` (its ulp is at
least that); zero is a multiple of everything. Sums and differences of multiples of
``2**k`` are multiples of ``2**k``; the product of multiples of ``2**k`` and ``2**j`` is a
multiple of ``2**(k+j)``. A nonzero multiple of ``2**k`` with ``k >= -126`` has magnitude
``>= 2**-126``: it is not subnormal.

Application to the bilinear lerps ``top = TL + (TR - TL) * xl``,
``bot = BL + (BR - BL) * xl``, ``out = top + (bot - top) * yl``:

* pixels (after conversion to float32): with ``m`` the smallest nonzero ``|pixel|`` of
  the image and ``2**e <= m``, every pixel is a multiple of ``2**gp``, ``gp = e - 23``
  (integer dtypes: ``gp = 0``; float16: every value is a multiple of ``2**-24``). NaN and
  infinities never produce a subnormal and are ignored.
* lerp weights ``t = c - floor(c)`` for a sample coordinate ``c`` (``|c| < 2**24``): ``c``
  and ``floor(c)`` are multiples of ``ulp(c)``, so ``t`` is (Lemma 1, even for negative
  ``c`` whose ``t`` rounds). With ``M`` the smallest ``|c|`` among coordinates with a
  fractional part, every ``t`` is a multiple of ``2**gt``, ``gt = min(0, exp(M) - 23)``
  (``t = 0`` for integral ``c``).
* then ``TR - TL`` is a multiple of ``2**gp``, ``(TR - TL) * xl`` of ``2**(gp + gx)``,
  ``top``/``bot`` of ``2**(gp + gx)``, ``(bot - top) * yl`` and ``out`` of
  ``2**(gp + gx + gy)``: every value of the computation is a multiple of
  ``2**K``, ``K = gp + gx + gy`` (Lemma 1 at each rounding). If ``K >= -126`` no value is
  subnormal (Lemma 2), every flush of the generic path is the identity, and the fast
  path's unflushed arithmetic is bit-identical to it.

In practice ``gx, gy >= -23 - 10`` for ordinary boxes and ``gp = 0`` for integer images,
so the condition only fails for float images holding values below about ``2**-50`` —
then the call takes the generic path. Samples outside the image are included in the
check (conservative), although their values are replaced by the fill anyway.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .._core.args import CropArgs
from .._core.arrays import dtype_name

__all__ = [
    "MIN_NORMAL_EXP",
    "bilinear_exact",
    "coordinate_grain",
    "exponent",
    "lerps_exact",
    "min_fractional_abs",
    "min_pixel_threshold",
    "pixel_grain",
    "unflushed_crop_exact",
]

MIN_NORMAL_EXP = -126


def exponent(x: float) -> int:
    """``floor(log2(x))`` for a finite ``x > 0``, exactly."""
    return math.frexp(x)[1] - 1


def pixel_grain(kind: str, min_nonzero_abs: float | None) -> int | None:
    """Exponent ``gp`` such that every (float32-converted) pixel is a multiple of ``2**gp``.

    ``min_nonzero_abs`` is the smallest nonzero finite ``|pixel|`` in the image's dtype
    (``inf`` or None when there is none). None means "no usable bound" (NaN).
    """
    if kind.startswith(("int", "uint")):
        return 0
    if kind == "float16":
        return -24
    if min_nonzero_abs is None or math.isinf(min_nonzero_abs):
        return 0  # every finite pixel is zero
    if not min_nonzero_abs > 0:
        return None
    # float64: fl32(v) >= 2**e whenever |v| >= 2**e (rounding is monotone and 2**e is a
    # float32 for e >= -149), so the same bound holds after the conversion.
    return exponent(min_nonzero_abs) - 23


def coordinate_grain(min_fractional_abs: float | None) -> int:
    """Exponent ``g <= 0`` such that every lerp weight is a multiple of ``2**g``."""
    if min_fractional_abs is None or math.isinf(min_fractional_abs):
        return 0
    return min(0, exponent(min_fractional_abs) - 23)


def lerps_exact(gp: int | None, gy: int, gx: int) -> bool:
    """True when the unflushed bilinear lerps provably equal the flushed ones."""
    return gp is not None and gp + gy + gx >= MIN_NORMAL_EXP


def min_fractional_abs(xp: Any, coords: Any) -> float:
    """Smallest ``|c|`` over coordinates with a fractional part (``inf`` if none)."""
    if coords.shape[0] == 0:
        return math.inf
    c = xp.abs(coords)
    frac = c != xp.floor(c)
    return float(xp.min(xp.where(frac, c, xp.asarray(math.inf, dtype=c.dtype))))


def bilinear_exact(args: CropArgs, min_nonzero_abs_pixel: float | None) -> bool:
    """Whether this call's unflushed lerps are provably exact (the proof above)."""
    xp = args.backend.xp
    gp = pixel_grain(dtype_name(xp, args.image.dtype), min_nonzero_abs_pixel)
    if gp is None:
        return False
    gy = coordinate_grain(min_fractional_abs(xp, args.in_y))
    gx = coordinate_grain(min_fractional_abs(xp, args.in_x))
    return lerps_exact(gp, gy, gx)


def unflushed_crop_exact(args: CropArgs, min_nonzero_abs: Callable[[Any], float]) -> bool:
    """Whether an array fast path that skips every subnormal flush gives this crop's bits:
    nearest crops copy pixels (only a float64 -> float32 conversion can make a subnormal);
    bilinear crops need :func:`bilinear_exact`. ``min_nonzero_abs(image)`` is the
    library's smallest nonzero ``|pixel|`` (NaN skipped), computed only when needed."""
    kind = dtype_name(args.backend.xp, args.image.dtype)
    if args.method == "nearest":
        return kind != "float64" or min_nonzero_abs(args.image) >= 2.0**MIN_NORMAL_EXP
    if kind.startswith(("int", "uint")) or kind == "float16":
        return bilinear_exact(args, None)
    return bilinear_exact(args, min_nonzero_abs(args.image))


def min_pixel_threshold(args: CropArgs) -> float | None:
    """The smallest nonzero ``|pixel|`` a float image may hold for the unflushed lerps to
    be exact (above: ``gp + gy + gx >= -126`` with ``gp = exponent(m) - 23`` holds
    iff ``m >= 2**(-103 - gy - gx)``); None if no bound makes them exact."""
    xp = args.backend.xp
    gy = coordinate_grain(min_fractional_abs(xp, args.in_y))
    gx = coordinate_grain(min_fractional_abs(xp, args.in_x))
    e = MIN_NORMAL_EXP + 23 - gy - gx
    return 2.0**e if e <= 127 else None
