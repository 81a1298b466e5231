"""Per-box index arithmetic shared by the crop fast paths (small ``(n, ch)``/``(n, cw)``
arrays, computed with the array namespace of the call exactly as the generic path does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .._backend import dtype_name
from .._validation import CropArgs
from ._exact import MIN_NORMAL_EXP, coordinate_grain, lerps_exact, pixel_grain

__all__ = ["CropPlan", "bilinear_exact", "crop_plan", "min_fractional_abs", "min_pixel_threshold"]


@dataclass
class CropPlan:
    rows_a: Any  # (n, ch) int64: flat pixel-row offset of top (or nearest) rows
    rows_b: Any  # (n, ch) int64: bottom rows (None for nearest)
    cols_a: Any  # (n, cw) int64: left (or nearest) columns
    cols_b: Any  # (n, cw) int64: right columns (None for nearest)
    y_lerp: Any  # (n, ch) float32 (None for nearest)
    x_lerp: Any  # (n, cw) float32 (None for nearest)
    inside_y: Any  # (n, ch) bool
    inside_x: Any  # (n, cw) bool
    all_inside: bool


def min_fractional_abs(xp: Any, coords: Any) -> float:
    """Smallest ``|c|`` over coordinates with a fractional part (``inf`` if none)."""
    if coords.shape[0] == 0:
        return math.inf
    c = xp.abs(coords)
    frac = c != xp.floor(c)
    return float(xp.min(xp.where(frac, c, xp.asarray(math.inf, dtype=c.dtype))))


def bilinear_exact(args: CropArgs, min_nonzero_abs_pixel: float | None) -> bool:
    """The ``_exact`` criterion for this call (see its proof)."""
    xp = args.backend.xp
    gp = pixel_grain(dtype_name(xp, args.image.dtype), min_nonzero_abs_pixel)
    if gp is None:
        return False
    gy = coordinate_grain(min_fractional_abs(xp, args.in_y))
    gx = coordinate_grain(min_fractional_abs(xp, args.in_x))
    return lerps_exact(gp, gy, gx)


def min_pixel_threshold(args: CropArgs) -> float | None:
    """The smallest nonzero ``|pixel|`` a float image may hold for the unflushed lerps to
    be exact (``_exact``: ``gp + gy + gx >= -126`` with ``gp = exponent(m) - 23`` holds
    iff ``m >= 2**(-103 - gy - gx)``); None if no bound makes them exact."""
    xp = args.backend.xp
    gy = coordinate_grain(min_fractional_abs(xp, args.in_y))
    gx = coordinate_grain(min_fractional_abs(xp, args.in_x))
    e = MIN_NORMAL_EXP + 23 - gy - gx
    return 2.0**e if e <= 127 else None


def crop_plan(args: CropArgs) -> CropPlan:
    """Indices, weights and in-image masks, rounded as in ``_generic.crop_and_resize``."""
    xp = args.backend.xp
    _, height, width, _ = args.image.shape
    i64 = xp.int64
    in_y, in_x = args.in_y, args.in_x
    base = xp.astype(args.box_indices, i64)[:, None] * (height * width)

    def clamp(coord: Any, size: int) -> Any:
        return xp.astype(xp.clip(coord, 0.0, float(size - 1)), i64)

    inside_y = (in_y >= 0) & (in_y <= height - 1)
    inside_x = (in_x >= 0) & (in_x <= width - 1)
    all_inside = bool(xp.all(inside_y)) and bool(xp.all(inside_x))
    if args.method == "nearest":
        def round_half_up(c: Any) -> Any:
            low = xp.floor(c)
            return xp.where(c - low >= 0.5, low + 1, low)

        return CropPlan(
            rows_a=base + clamp(round_half_up(in_y), height) * width, rows_b=None,
            cols_a=clamp(round_half_up(in_x), width), cols_b=None,
            y_lerp=None, x_lerp=None,
            inside_y=inside_y, inside_x=inside_x, all_inside=all_inside,
        )
    top_f, left_f = xp.floor(in_y), xp.floor(in_x)
    return CropPlan(
        rows_a=base + clamp(top_f, height) * width,
        rows_b=base + clamp(xp.ceil(in_y), height) * width,
        cols_a=clamp(left_f, width),
        cols_b=clamp(xp.ceil(in_x), width),
        y_lerp=in_y - top_f,
        x_lerp=in_x - left_f,
        inside_y=inside_y, inside_x=inside_x, all_inside=all_inside,
    )
