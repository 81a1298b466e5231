"""Index arithmetic of the reference implementations, shared with the fast paths.

Where a sample lies relative to the image (docs/semantics.md §1.4), which pixel it reads
(floor/ceil for bilinear, C ``roundf`` for nearest: §1.5-1.6), the per-box plan of a crop
(small ``(n, ch)``/``(n, cw)`` arrays) and the glimpse window starts (§2.2): written once,
with the array namespace of the call, so that every path reads the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._core.args import CropArgs, GlimpseArgs
from .._core.float32 import rounding_barrier

__all__ = [
    "CropPlan",
    "bilinear_neighbours",
    "clamped_index",
    "crop_plan",
    "index_dtype",
    "inside",
    "round_half_up",
    "truncated_start",
    "window_start",
    "window_starts",
]


def index_dtype(xp: Any, limit: int) -> Any:
    """int32 indices where the flat pixel index ``< limit`` fits (cheaper), else int64."""
    return xp.int32 if limit < 2**31 else xp.int64


def inside(coord: Any, size: int) -> Any:
    """Whether a sample coordinate reads the image: strict on both sides, and -0.0
    counts as inside (docs/semantics.md §1.4)."""
    return (coord >= 0) & (coord <= size - 1)


def clamped_index(xp: Any, coord: Any, size: int, dtype: Any) -> Any:
    """``coord`` clipped to ``[0, size - 1]`` and truncated: out-of-range samples are
    masked afterwards; clamping keeps every gather in bounds."""
    return xp.astype(xp.clip(coord, 0.0, float(size - 1)), dtype)


def bilinear_neighbours(xp: Any, coord: Any, size: int, dtype: Any) -> tuple[Any, Any, Any]:
    """``(low, high, lerp)`` of bilinear sampling along one axis (docs/semantics.md §1.5):
    the clamped indices of ``floor(coord)`` and ``ceil(coord)`` and the float32 weight
    ``coord - floor(coord)`` (exact)."""
    low = xp.floor(coord)
    return (clamped_index(xp, low, size, dtype), clamped_index(xp, xp.ceil(coord), size, dtype),
            coord - low)


def round_half_up(xp: Any, coord: Any) -> Any:
    """C ``roundf`` for ``coord >= 0`` (the only ones not extrapolated), as a float.
    ``floor(x + 0.5)`` is wrong at 0.49999997, where the float32 sum rounds up to 1.0
    (docs/semantics.md §1.6)."""
    low = xp.floor(coord)
    return xp.where(coord - low >= 0.5, low + 1, low)


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


def crop_plan(args: CropArgs) -> CropPlan:
    """Indices, weights and in-image masks of a crop, exactly as the reference crop
    computes them (the fast paths gather with these)."""
    xp = args.backend.xp
    _, height, width, _ = args.image.shape
    i64 = xp.int64
    in_y, in_x = args.in_y, args.in_x
    base = xp.astype(args.box_indices, i64)[:, None] * (height * width)

    def clamp(coord: Any, size: int) -> Any:
        return clamped_index(xp, coord, size, i64)

    inside_y, inside_x = inside(in_y, height), inside(in_x, width)
    all_inside = bool(xp.all(inside_y)) and bool(xp.all(inside_x))
    if args.method == "nearest":
        return CropPlan(
            rows_a=base + clamp(round_half_up(xp, in_y), height) * width, rows_b=None,
            cols_a=clamp(round_half_up(xp, in_x), width), cols_b=None,
            y_lerp=None, x_lerp=None,
            inside_y=inside_y, inside_x=inside_x, all_inside=all_inside,
        )
    top, bottom, y_lerp = bilinear_neighbours(xp, in_y, height, i64)
    left, right, x_lerp = bilinear_neighbours(xp, in_x, width, i64)
    return CropPlan(
        rows_a=base + top * width, rows_b=base + bottom * width, cols_a=left, cols_b=right,
        y_lerp=y_lerp, x_lerp=x_lerp,
        inside_y=inside_y, inside_x=inside_x, all_inside=all_inside,
    )


def window_start(xp: Any, offset: Any, size: int, window: int, args: GlimpseArgs) -> Any:
    """float32 start of each window along one axis, before truncation (docs/semantics.md §2.2).

    ``offset`` is a float32 array of shape ``(B,)``; ``size`` the image extent and
    ``window`` the glimpse extent along that axis.
    """
    # Every step rounded as in docs/semantics.md §2.2; under jit XLA would fuse the product
    # into the next add and fold the two constant adds into one (rounding_barrier).
    t = offset
    if args.version == 1:
        if args.normalized:
            t = rounding_barrier(xp, t * size)
        if args.centered:
            t = t / 2
            t = rounding_barrier(xp, t + size / 2)
        return t - window / 2
    if args.normalized:
        t = rounding_barrier(xp, t * size)
        if args.centered:
            t = t / 2
            t = rounding_barrier(xp, t + size / 2)
            t = t - window / 2
    elif args.centered:
        t = t + size / 2
    return t


def truncated_start(xp: Any, t: Any, far: int) -> Any:
    # trunc toward zero; NaN, +-inf and anything beyond `far` land wholly outside the image.
    far_f = float(far)
    t = xp.where(xp.isnan(t), far_f, t)
    return xp.astype(xp.trunc(xp.clip(t, -far_f, far_f)), xp.int32)


def window_starts(xp: Any, args: GlimpseArgs) -> tuple[Any, Any]:
    """int32 ``(B,)`` start row and column of every glimpse window (may lie outside the
    image; anything beyond reach lands wholly outside)."""
    _, height, width, _ = args.input.shape
    h, w = args.height, args.width
    far = height + width + h + w + 1
    start_y = truncated_start(xp, window_start(xp, args.offsets[:, 0], height, h, args), far)
    start_x = truncated_start(xp, window_start(xp, args.offsets[:, 1], width, w, args), far)
    return start_y, start_x
