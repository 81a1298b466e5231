"""Reference crop_and_resize: gathers plus float32 lerps (docs/semantics.md §1.3-1.6)."""

from __future__ import annotations

from typing import Any

from .._core.args import CropArgs
from .._core.arrays import dtype_name
from .._core.float32 import flush_subnormals
from .indexing import bilinear_neighbours, clamped_index, index_dtype, inside, round_half_up

__all__ = ["crop_and_resize"]


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

    idx_t = index_dtype(xp, batch * height * width)
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
            clamped_index(xp, round_half_up(xp, in_y), height, idx_t),
            clamped_index(xp, round_half_up(xp, in_x), width, idx_t),
        )
        if dtype_name(xp, image.dtype) == "float64":
            out = ftz(out)  # the float64 -> float32 conversion flushes; a float32 copy does not
    else:
        top, bottom, y_lerp = bilinear_neighbours(xp, in_y, height, idx_t)
        left, right, x_lerp = bilinear_neighbours(xp, in_x, width, idx_t)
        y_lerp, x_lerp = y_lerp[:, :, None, None], x_lerp[:, None, :, None]

        def lerp(a: Any, b: Any, t: Any) -> Any:
            # a + (b - a) * t under flush-to-zero, not a * (1 - t) + b * t
            # (docs/semantics.md §1.5).
            return ftz(a + ftz(ftz(b - a) * t))

        # The lerps are never subnormal: coordinates are flushed, so t = c - floor(c) is
        # 0, c itself, or a multiple of ulp(c) >= 2**-23.
        top_v = lerp(ftz(gather(top, left)), ftz(gather(top, right)), x_lerp)
        bottom_v = lerp(ftz(gather(bottom, left)), ftz(gather(bottom, right)), x_lerp)
        out = lerp(top_v, bottom_v, y_lerp)
    within = inside(in_y, height)[:, :, None, None] & inside(in_x, width)[:, None, :, None]
    return xp.where(within, out, fill)
