"""Generic crop_and_resize: gathers plus float32 lerps, following spec §1.4-1.6."""

from __future__ import annotations

from typing import Any

from .._backend import dtype_name
from .._float32 import flush_subnormals
from .._validation import CropArgs

__all__ = ["crop_and_resize"]


def _index_dtype(xp: Any, limit: int) -> Any:
    # int32 indices are cheaper; the flat pixel index must fit though.
    return xp.int32 if limit < 2**31 else xp.int64


def _inside(coord: Any, size: int) -> Any:
    # Strict on both sides; -0.0 counts as inside (spec §1.4).
    return (coord >= 0) & (coord <= size - 1)


def _clamped_index(xp: Any, coord: Any, size: int, dtype: Any) -> Any:
    # Out-of-range samples are masked afterwards; clamp so the gather stays in bounds.
    return xp.astype(xp.clip(coord, 0.0, float(size - 1)), dtype)


def _round_half_up(xp: Any, coord: Any) -> Any:
    # C roundf for coord >= 0 (the only ones not extrapolated). floor(x + 0.5) is wrong
    # at 0.49999997, where the float32 sum rounds up to 1.0.
    low = xp.floor(coord)
    return xp.where(coord - low >= 0.5, low + 1, low)


def crop_and_resize(args: CropArgs) -> Any:
    """Float32 crops of shape ``(n, crop_height, crop_width, depth)``; see the public API."""
    xp = args.backend.xp
    device = args.backend.device
    image = args.image
    batch, height, width, depth = image.shape
    n, ch, cw, _ = args.output_shape
    fill = xp.asarray(args.extrapolation_value, dtype=xp.float32, device=device)
    if n == 0 or depth == 0:
        return xp.full((n, ch, cw, depth), args.extrapolation_value, dtype=xp.float32,
                       device=device)

    idx_t = _index_dtype(xp, batch * height * width)
    pixels = xp.reshape(image, (batch * height * width, depth))
    # Flat offset of each box's image, then of each sample row: (n, 1) and (n, ch).
    base = xp.astype(args.box_indices, idx_t)[:, None] * (height * width)

    def ftz(x: Any) -> Any:
        return flush_subnormals(xp, x)

    def gather(rows: Any, cols: Any) -> Any:
        flat = (base + rows * width)[:, :, None] + cols[:, None, :]  # (n, ch, cw)
        values = xp.take(pixels, xp.reshape(flat, (n * ch * cw,)), axis=0)
        return xp.astype(xp.reshape(values, (n, ch, cw, depth)), xp.float32)

    in_y, in_x = args.in_y, args.in_x
    if args.method == "nearest":
        out = gather(
            _clamped_index(xp, _round_half_up(xp, in_y), height, idx_t),
            _clamped_index(xp, _round_half_up(xp, in_x), width, idx_t),
        )
        if dtype_name(xp, image.dtype) == "float64":
            out = ftz(out)  # the float64 -> float32 conversion flushes; a float32 copy does not
    else:
        top_f, left_f = xp.floor(in_y), xp.floor(in_x)
        top = _clamped_index(xp, top_f, height, idx_t)
        bottom = _clamped_index(xp, xp.ceil(in_y), height, idx_t)
        left = _clamped_index(xp, left_f, width, idx_t)
        right = _clamped_index(xp, xp.ceil(in_x), width, idx_t)
        y_lerp = (in_y - top_f)[:, :, None, None]
        x_lerp = (in_x - left_f)[:, None, :, None]


        def lerp(a: Any, b: Any, t: Any) -> Any:
            # a + (b - a) * t under flush-to-zero; not a * (1 - t) + b * t (spec §1.5).
            return ftz(a + ftz(ftz(b - a) * t))

        # The lerps are never subnormal: coordinates are flushed, so t = c - floor(c) is
        # 0, c itself, or a multiple of ulp(c) >= 2**-23.
        top_v = lerp(ftz(gather(top, left)), ftz(gather(top, right)), x_lerp)
        bottom_v = lerp(ftz(gather(bottom, left)), ftz(gather(bottom, right)), x_lerp)
        out = lerp(top_v, bottom_v, y_lerp)
    inside = _inside(in_y, height)[:, :, None, None] & _inside(in_x, width)[:, None, :, None]
    return xp.where(inside, out, fill)
