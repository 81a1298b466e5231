"""Reference extract_glimpse: a pixel-aligned window copy plus fill (docs/semantics.md
§2.2-2.4)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._core import random
from .._core.args import GlimpseArgs
from .._core.float32 import rounding_barrier
from .._core.portable import pairwise_mean, portable_sqrt
from .indexing import index_dtype, window_starts

__all__ = [
    "GAUSSIAN_STREAM",
    "UNIFORM_STREAM",
    "extract_glimpse",
    "fill",
    "fill_statistics",
    "mean_and_std",
]

# Independent random streams drawn from one seed.
UNIFORM_STREAM = 0
GAUSSIAN_STREAM = 1


def fill_statistics(xp: Any, image: Any, noise: str, device: Any) -> tuple[Any, ...]:
    """The statistics a random fill draws on (docs/semantics.md §2.4), float32:

    * ``"uniform"``: ``(lo, hi)``, each ``(B, 1, 1, 1)``: min and max of each image over
      rows, columns and channels together;
    * ``"gaussian"``: ``(lo, hi, mean, sigma)``, each ``(B, 1, 1, D)``: per image and
      channel min, max, mean and population std. The mean and std use fixed-order sums
      and a portable sqrt (``_core.portable``), so one seed gives one fill on every backend.
    """
    if noise == "uniform":
        return (xp.min(image, axis=(1, 2, 3), keepdims=True),
                xp.max(image, axis=(1, 2, 3), keepdims=True))
    batch, height, width, depth = image.shape
    mean, sigma = mean_and_std(xp, xp.reshape(image, (batch, height * width, depth)), device)
    return (xp.min(image, axis=(1, 2), keepdims=True), xp.max(image, axis=(1, 2), keepdims=True),
            xp.reshape(mean, (batch, 1, 1, depth)), xp.reshape(sigma, (batch, 1, 1, depth)))


def mean_and_std(xp: Any, pixels: Any, device: Any,
                 mean_of: Callable[..., Any] | None = None) -> tuple[Any, Any]:
    """Per (image, channel) mean and population std of float32 ``(B, N, D)`` ``pixels``,
    ``(B, 1, D)`` each: fixed-order pairwise means and the portable sqrt, so that one
    seed gives one gaussian fill on every backend (docs/semantics.md §2.5).

    ``mean_of(x, mean=None)``, the pairwise mean of ``x`` (or of ``(x - mean)**2``), may
    be a compiled version of ``_core.portable.pairwise_mean`` with the same bits.
    """
    if mean_of is None:
        def mean_of(x: Any, mean: Any = None) -> Any:
            # The squares are rounded before the pairwise adds, not fused into FMAs under jit.
            return pairwise_mean(
                xp, x if mean is None else rounding_barrier(xp, (x - mean) ** 2), device)
    mean = mean_of(pixels)
    return mean, portable_sqrt(xp, mean_of(pixels, mean))


def fill(args: GlimpseArgs, shape: tuple[int, int, int, int]) -> Any:
    """The values placed outside the image, shape ``(B, h, w, D)`` float32: the seeded
    streams' elements ``args.fill_start`` onwards."""
    xp, device = args.backend.xp, args.backend.device
    if args.noise == "zero":
        return xp.zeros(shape, dtype=xp.float32, device=device)
    seed = random.random_seed() if args.seed is None else args.seed
    if args.noise == "uniform":
        lo, hi = fill_statistics(xp, args.input, "uniform", device)
        u = random.uniform(xp, shape, seed, stream=UNIFORM_STREAM, device=device,
                           start=args.fill_start)
        # Two roundings, as eagerly: jit would fuse an FMA (one seed, one fill everywhere).
        return rounding_barrier(xp, u * (hi - lo)) + lo
    # Gaussian, clipped to the channel's range.
    lo, hi, mean, sigma = fill_statistics(xp, args.input, "gaussian", device)
    z = random.standard_normal(xp, shape, seed, stream=GAUSSIAN_STREAM, device=device,
                               start=args.fill_start)
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

    start_y, start_x = window_starts(xp, args)
    rows = start_y[:, None] + xp.arange(h, dtype=xp.int32, device=device)  # (B, h)
    cols = start_x[:, None] + xp.arange(w, dtype=xp.int32, device=device)  # (B, w)
    inside = (
        ((rows >= 0) & (rows < height))[:, :, None, None]
        & ((cols >= 0) & (cols < width))[:, None, :, None]
    )
    idx_t = index_dtype(xp, batch * height * width)
    rows = xp.astype(xp.clip(rows, 0, height - 1), idx_t)
    cols = xp.astype(xp.clip(cols, 0, width - 1), idx_t)
    image_base = xp.arange(batch, dtype=idx_t, device=device)[:, None] * (height * width)
    flat = (image_base + rows * width)[:, :, None] + cols[:, None, :]  # (B, h, w)
    pixels = xp.reshape(image, (batch * height * width, depth))
    window = xp.reshape(xp.take(pixels, xp.reshape(flat, (-1,)), axis=0), shape)
    return xp.where(inside, window, fill(args, shape))
