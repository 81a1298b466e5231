"""Generic extract_glimpse: a pixel-aligned window copy plus fill (spec §2.2-2.4)."""

from __future__ import annotations

from typing import Any

from .._float32 import rounding_barrier
from .._portable import pairwise_mean, portable_sqrt
from .._validation import GlimpseArgs

__all__ = ["extract_glimpse", "window_start"]

# Independent random streams drawn from one seed.
UNIFORM_STREAM = 0
GAUSSIAN_STREAM = 1


def window_start(xp: Any, offset: Any, size: int, window: int, args: GlimpseArgs) -> Any:
    """float32 start of each window along one axis, before truncation (spec §2.2).

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


def _truncated_start(xp: Any, t: Any, far: int) -> Any:
    # trunc toward zero; NaN, +-inf and anything beyond `far` land wholly outside the image.
    far_f = float(far)
    t = xp.where(xp.isnan(t), far_f, t)
    return xp.astype(xp.trunc(xp.clip(t, -far_f, far_f)), xp.int32)


def _fill(args: GlimpseArgs, shape: tuple[int, int, int, int]) -> Any:
    """The values placed outside the image, shape ``(B, h, w, D)`` float32."""
    xp, device = args.backend.xp, args.backend.device
    image = args.input
    if args.noise == "zero":
        return xp.zeros(shape, dtype=xp.float32, device=device)
    from .. import _random

    seed = _random.random_seed() if args.seed is None else args.seed
    if args.noise == "uniform":
        # Per batch element, over all rows, columns and channels together.
        lo = xp.min(image, axis=(1, 2, 3), keepdims=True)
        hi = xp.max(image, axis=(1, 2, 3), keepdims=True)
        u = _random.uniform(xp, shape, seed, stream=UNIFORM_STREAM, device=device)
        # Two roundings, as eagerly: jit would fuse an FMA (one seed, one fill everywhere).
        return rounding_barrier(xp, u * (hi - lo)) + lo
    # Gaussian: per batch element and channel, population std, clipped to the channel range.
    # Fixed-order sums and a portable sqrt, so one seed gives one fill on every backend.
    batch, height, width, depth = image.shape
    pixels = xp.reshape(image, (batch, height * width, depth))
    mean = pairwise_mean(xp, pixels, device)
    # The squares are rounded before the pairwise adds, not fused into FMAs under jit.
    squares = rounding_barrier(xp, (pixels - mean) ** 2)
    sigma = portable_sqrt(xp, pairwise_mean(xp, squares, device))
    mean = xp.reshape(mean, (batch, 1, 1, depth))
    sigma = xp.reshape(sigma, (batch, 1, 1, depth))
    lo = xp.min(image, axis=(1, 2), keepdims=True)
    hi = xp.max(image, axis=(1, 2), keepdims=True)
    z = _random.standard_normal(xp, shape, seed, stream=GAUSSIAN_STREAM, device=device)
    return xp.minimum(xp.maximum(rounding_barrier(xp, z * sigma) + mean, lo), hi)  # no FMA: jit


def extract_glimpse(args: GlimpseArgs) -> Any:
    """float32 glimpses of shape ``(B, h, w, D)``; see the public API."""
    xp, device = args.backend.xp, args.backend.device
    image = args.input
    batch, height, width, depth = image.shape
    shape = args.output_shape
    h, w = args.height, args.width
    if batch == 0 or depth == 0 or h == 0 or w == 0:
        return xp.zeros(shape, dtype=xp.float32, device=device)
    if height == 0 or width == 0:
        # TF does not reject an empty image: every element is fill, and a statistical
        # fill has no statistics to draw from, so it is NaN (as TF's is).
        value = 0.0 if args.noise == "zero" else float("nan")
        return xp.full(shape, value, dtype=xp.float32, device=device)

    far = height + width + h + w + 1
    start_y = _truncated_start(xp, window_start(xp, args.offsets[:, 0], height, h, args), far)
    start_x = _truncated_start(xp, window_start(xp, args.offsets[:, 1], width, w, args), far)
    rows = start_y[:, None] + xp.arange(h, dtype=xp.int32, device=device)  # (B, h)
    cols = start_x[:, None] + xp.arange(w, dtype=xp.int32, device=device)  # (B, w)
    inside = (
        ((rows >= 0) & (rows < height))[:, :, None, None]
        & ((cols >= 0) & (cols < width))[:, None, :, None]
    )
    idx_t = xp.int32 if batch * height * width < 2**31 else xp.int64
    rows = xp.astype(xp.clip(rows, 0, height - 1), idx_t)
    cols = xp.astype(xp.clip(cols, 0, width - 1), idx_t)
    image_base = xp.arange(batch, dtype=idx_t, device=device)[:, None] * (height * width)
    flat = (image_base + rows * width)[:, :, None] + cols[:, None, :]  # (B, h, w)
    pixels = xp.reshape(image, (batch * height * width, depth))
    window = xp.reshape(xp.take(pixels, xp.reshape(flat, (-1,)), axis=0), shape)
    return xp.where(inside, window, _fill(args, shape))
