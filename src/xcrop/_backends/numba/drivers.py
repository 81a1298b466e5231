"""Host drivers of the numba kernels: they run them on NumPy arrays, split over xcrop's
thread pool (``..host.run_split``).

* :func:`crop`: crop_and_resize from a precomputed plan (``_reference.indexing``);
* :func:`glimpse`: window copy plus fill, one pass over the output, drawing xcrop's
  seeded streams (``_core.random``) only at the out-of-image positions, by flat index;
* :func:`pairwise_mean`: ``_core.portable.pairwise_mean`` (same fixed summation tree);
* :func:`uniform_flat` / :func:`standard_normal_flat`: stretches of the streams (tests).

Each produces the reference's bits; tests/test_fast_random.py and the conformance suite
check it.
"""

from __future__ import annotations

from typing import Any

from ..._core import random as R
from ..host import run_split
from .loader import kernels

__all__ = [
    "any_tiny",
    "crop",
    "glimpse",
    "pairwise_mean",
    "standard_normal_flat",
    "uniform_flat",
]

_M32 = 0xFFFFFFFF


def _keys(seed: int) -> tuple[int, int, int]:
    k0, k1 = seed & _M32, (seed >> 32) & _M32
    return k0, k1, (k0 ^ k1 ^ R.SKEIN_PARITY) & _M32


# ----------------------------------------------------------------------------
# numba kernels
# ----------------------------------------------------------------------------

def _random() -> Any:
    return kernels().random

def _stream_args(seed: int, stream: int) -> tuple[Any, ...]:
    import numpy as np

    k0, k1, k2 = _keys(R.check_seed(seed))
    return np.uint64(k0), np.uint64(k1), np.uint64(k2), np.uint64(R.check_stream(stream))


def uniform_flat(size: int, seed: int, *, stream: int = 0, start: int = 0) -> Any:
    """Flat ``_random.uniform`` elements ``start .. start+size-1`` (numba; for tests)."""
    import numpy as np

    out = np.empty(size, np.float32)
    _random().uniform_flat(*_stream_args(seed, stream), start, out)
    return out


def standard_normal_flat(size: int, seed: int, *, stream: int = 0, start: int = 0) -> Any:
    """Flat ``_random.standard_normal`` elements ``start .. start+size-1`` (numba)."""
    import numpy as np

    out = np.empty(size, np.float32)
    _random().normal_flat(*_stream_args(seed, stream), start, out)
    return out


def pairwise_mean(x: Any, mean: Any = None) -> Any:
    """``_core.portable.pairwise_mean(np, x)`` — or of ``(x - mean)**2`` — for float32
    ``(B, N, D)`` C-contiguous NumPy ``x`` (``N >= 1``), as ``(B, 1, D)``."""
    import numpy as np

    out = np.empty((x.shape[0], 1, x.shape[2]), np.float32)
    square = mean is not None
    m = mean if square else out
    def part(b0: int, b1: int) -> None:
        _random().pairwise(x, m, square, out, b0, b1)

    run_split(part, x.shape[0], x.size)
    return out


def glimpse(image: Any, sy: Any, sx: Any, noise: str, seed: int, stream: int,
                  lo: Any, hi: Any, mean: Any, sigma: Any, out: Any, start: int = 0) -> None:
    """Fill ``out`` (float32 ``(B, h, w, D)``) from float32 ``image`` ``(B, H, W, D)``:
    window at integer starts ``sy``/``sx`` (int64 ``(B,)``), fill elsewhere (``noise``:
    "uniform", "gaussian" or "zero"). ``lo``, ``hi``, ``mean``, ``sigma``: float32
    ``(B, D)`` (unused ones may be any such array). Output element ``i`` draws stream
    element ``start + i`` (``GlimpseArgs.fill_start``)."""
    k = _random()
    kinds = {"uniform": k.UNIFORM, "gaussian": k.GAUSSIAN, "zero": k.ZERO}
    if noise not in kinds:
        raise ValueError(f"noise must be 'uniform', 'gaussian' or 'zero', got {noise!r}")
    kind = kinds[noise]
    _, h, w, depth = out.shape
    shape = (h, w, image.shape[1], image.shape[2], depth)
    # Work estimate: a copied element ~1, a random one ~50 (Threefry + sampler).
    n_fill = 0 if noise == "zero" else _fill_count(sy, sx, h, w, *image.shape[1:3])
    work = out.size + 50 * n_fill * depth
    args = (kind, image.reshape(-1), shape, sy, sx, *_stream_args(seed, stream), start, lo,
            hi, mean, sigma, out.reshape(-1))

    def part(t0: int, t1: int) -> None:
        k.glimpse(*args, t0, t1)

    # Parallel over (batch, output row); a thread wake-up only pays for a large job.
    run_split(part, out.shape[0] * h, work if work > PARALLEL_WORK else 0)


#: Estimated work (elements) above which the glimpse kernel runs on several threads.
PARALLEL_WORK = 2**18


def _fill_count(sy: Any, sx: Any, h: int, w: int, height: int, width: int) -> int:
    """Number of out-of-image pixels over all glimpses."""
    import numpy as np

    rows = np.clip(np.minimum(sy + h, height) - np.maximum(sy, 0), 0, None)
    cols = np.clip(np.minimum(sx + w, width) - np.maximum(sx, 0), 0, None)
    return int(sy.shape[0] * h * w - np.sum(rows * cols))




def crop(pixels: Any, plan: Any, method: str, fill: float, flush_nearest: bool,
         out: Any, unflushed_ok: bool = False) -> None:
    """Fill ``out`` (float32 ``(n, ch, cw, D)`` NumPy) from NumPy ``pixels`` ``(N, D)``.

    ``plan`` holds NumPy arrays (see ``_reference.indexing.crop_plan``). float16 pixels must be
    converted to float32 first (exact).
    """
    import numpy as np

    k = kernels().crop
    bilinear_flushed, bilinear_plain, nearest = k.bilinear_flushed, k.bilinear_plain, k.nearest
    bilinear = bilinear_plain if unflushed_ok else bilinear_flushed
    f = np.float32(fill)
    if method == "nearest":
        def kernel(i0: int, i1: int) -> None:
            nearest(pixels, plan.rows_a, plan.cols_a, plan.inside_y, plan.inside_x, f,
                    flush_nearest, out, i0, i1)
    else:
        def kernel(i0: int, i1: int) -> None:
            bilinear(pixels, plan.rows_a, plan.rows_b, plan.cols_a, plan.cols_b,
                     plan.y_lerp, plan.x_lerp, plan.inside_y, plan.inside_x, f, out, i0, i1)
    run_split(kernel, out.shape[0], out.size)


def any_tiny(flat: Any, threshold: float) -> bool:
    """Whether the 1-D float NumPy array ``flat`` holds a nonzero ``|v| < threshold``:
    one pass, no temporaries (``_backends.exactness``'s criterion as a threshold test)."""
    import numpy as np

    typed = flat.dtype.type(threshold) if flat.dtype != np.float16 else np.float32(threshold)
    return bool(kernels().crop.any_tiny(flat, typed))
