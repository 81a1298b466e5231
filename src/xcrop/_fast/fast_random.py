"""Fast CPU versions of ``xcrop._random`` (same bits) and the glimpse fill kernels.

``xcrop._random`` is written in portable array-API operations on 16-bit limbs, which
costs about 100 array operations per element. Two faster producers of the *same bits*
live here:

* :func:`uniform_at` / :func:`standard_normal_at` (NumPy): Threefry-2x32 on native
  ``uint32`` arrays (NumPy's unsigned arithmetic wraps modulo ``2**32``, which is exactly
  the 32-bit addition Threefry needs) for an arbitrary array of flat element indices; the
  float32 part of the normal sampler reuses ``_random``'s own functions on the words'
  limbs, so it is the reference code itself.
* numba kernels (when numba is installed and not disabled by ``XCROP_NO_NUMBA``): a scalar
  Threefry on ``uint64`` values masked to 32 bits, and the uniform and Box–Muller normal
  samplers ported operation by operation (every constant is the reference's float32 value
  and every float operation is a float32 ``+ - * /``, which numba compiles to single
  IEEE instructions without ``fastmath``: no reassociation, no FMA contraction). They are
  used by the glimpse kernel, which pastes the window and computes the fill only at the
  out-of-image positions, one pass over the output. They live in ``jit_random``
  (cached on disk by numba).

Both are tested bit-identical against ``_random.uniform`` / ``standard_normal`` in
``tests/test_fast_random.py``. Element ``i`` (C-order flat index into the requested
shape) depends only on ``(seed, stream, kind, i)``, which is why drawing only the fill
positions gives the generic path's bits at those positions.
"""

from __future__ import annotations

from typing import Any

from .. import _random as R
from .numba_kernels import LazyKernels

__all__ = [
    "glimpse_numba",
    "numba_available",
    "pairwise_mean_numba",
    "standard_normal_at",
    "uniform_at",
]

_M32 = 0xFFFFFFFF


def _keys(seed: int) -> tuple[int, int, int]:
    k0, k1 = seed & _M32, (seed >> 32) & _M32
    return k0, k1, (k0 ^ k1 ^ R._SKEIN_PARITY) & _M32


# ----------------------------------------------------------------------------
# NumPy uint32 Threefry
# ----------------------------------------------------------------------------

def _threefry_np(np: Any, seed: int, x0: Any, x1: Any) -> tuple[Any, Any]:
    """Threefry-2x32-20 on uint32 arrays (wrapping arithmetic), as ``_random``."""
    ks = [np.uint32(k) for k in _keys(seed)]
    x0 = x0 + ks[0]
    x1 = x1 + ks[1]
    tmp = np.empty_like(x1)
    for block in range(5):
        for r in R._ROTATIONS[block % 2]:
            x0 += x1
            # rotl(x1, r) into x1, then xor with x0
            np.right_shift(x1, np.uint32(32 - r), out=tmp)
            np.left_shift(x1, np.uint32(r), out=x1)
            x1 |= tmp
            x1 ^= x0
        x0 += ks[(block + 1) % 3]
        x1 += np.uint32((int(ks[(block + 2) % 3]) + block + 1) & _M32)
    return x0, x1


def _words_np(np: Any, blocks: Any, seed: int, stream: int, kind: int) -> tuple[Any, Any]:
    x0 = blocks.astype(np.uint32) | np.uint32(kind << 31)
    x1 = np.full(blocks.shape, stream, dtype=np.uint32)
    with np.errstate(over="ignore"):
        return _threefry_np(np, seed, x0, x1)


def _check_indices(np: Any, indices: Any) -> Any:
    indices = np.asarray(indices)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"indices must be an integer array, got dtype {indices.dtype}")
    if indices.size and (indices.min() < 0 or indices.max() >= R.MAX_SIZE):
        raise ValueError("indices must lie in [0, 2**31)")
    return indices


def uniform_at(indices: Any, seed: int, *, stream: int = 0) -> Any:
    """``_random.uniform(np, shape, seed, stream=stream).reshape(-1)[indices]``, computed
    only at ``indices`` (any integer NumPy array of flat indices in ``[0, 2**31)``; the
    result has its shape, dtype float32)."""
    import numpy as np

    seed, stream = R._check_seed(seed), R._check_stream(stream)
    idx = _check_indices(np, indices)
    w0, w1 = _words_np(np, idx >> 1, seed, stream, R._KIND_UNIFORM)
    word = np.where((idx & 1) == 1, w1, w0)
    return (word >> np.uint32(8)).astype(np.float32) * np.float32(2.0**-24)


def standard_normal_at(indices: Any, seed: int, *, stream: int = 0) -> Any:
    """``_random.standard_normal(...)`` at the flat ``indices`` only (see :func:`uniform_at`)."""
    import array_api_compat.numpy as xp
    import numpy as np

    seed, stream = R._check_seed(seed), R._check_stream(stream)
    idx = _check_indices(np, indices)
    w0, w1 = _words_np(np, idx >> 1, seed, stream, R._KIND_NORMAL)

    def limbs(w: Any) -> tuple[Any, Any]:
        return (w >> np.uint32(16)).astype(np.int32), (w & np.uint32(0xFFFF)).astype(np.int32)

    radius = R._sqrt(xp, np.float32(-2.0) * R._log_u01(xp, limbs(w0)))
    cos_t, sin_t = R._cos_sin_turn(xp, R._top24(limbs(w1)))
    return np.where((idx & 1) == 1, radius * sin_t, radius * cos_t).astype(np.float32)


# ----------------------------------------------------------------------------
# numba kernels
# ----------------------------------------------------------------------------

def _compile() -> Any:
    from . import jit_random as J

    return {"uniform_flat": J.uniform_flat, "normal_flat": J.normal_flat,
            "glimpse": J.glimpse, "pairwise": J.pairwise,
            "kinds": {"uniform": J.UNIFORM, "gaussian": J.GAUSSIAN, "zero": J.ZERO}}


_KERNELS = LazyKernels(_compile)
numba_available = _KERNELS.available
_load = _KERNELS.get

def _stream_args(seed: int, stream: int) -> tuple[Any, ...]:
    import numpy as np

    k0, k1, k2 = _keys(R._check_seed(seed))
    return np.uint64(k0), np.uint64(k1), np.uint64(k2), np.uint64(R._check_stream(stream))


def uniform_numba(size: int, seed: int, *, stream: int = 0, start: int = 0) -> Any:
    """Flat ``_random.uniform`` elements ``start .. start+size-1`` (numba; for tests)."""
    import numpy as np

    out = np.empty(size, np.float32)
    _load()["uniform_flat"](*_stream_args(seed, stream), start, out)
    return out


def standard_normal_numba(size: int, seed: int, *, stream: int = 0, start: int = 0) -> Any:
    """Flat ``_random.standard_normal`` elements ``start .. start+size-1`` (numba)."""
    import numpy as np

    out = np.empty(size, np.float32)
    _load()["normal_flat"](*_stream_args(seed, stream), start, out)
    return out


def pairwise_mean_numba(x: Any, mean: Any = None) -> Any:
    """``_portable.pairwise_mean(np, x)`` — or of ``(x - mean)**2`` — for float32
    ``(B, N, D)`` C-contiguous NumPy ``x`` (``N >= 1``), as ``(B, 1, D)``."""
    import numpy as np

    out = np.empty((x.shape[0], 1, x.shape[2]), np.float32)
    square = mean is not None
    m = mean if square else out
    from .numba_kernels import run_split

    def part(b0: int, b1: int) -> None:
        _load()["pairwise"](x, m, square, out, b0, b1)

    run_split(part, x.shape[0], x.size)
    return out


def glimpse_numba(image: Any, sy: Any, sx: Any, noise: str, seed: int, stream: int,
                  lo: Any, hi: Any, mean: Any, sigma: Any, out: Any) -> None:
    """Fill ``out`` (float32 ``(B, h, w, D)``) from float32 ``image`` ``(B, H, W, D)``:
    window at integer starts ``sy``/``sx`` (int64 ``(B,)``), fill elsewhere (``noise``:
    "uniform", "gaussian" or "zero"). ``lo``, ``hi``, ``mean``, ``sigma``: float32
    ``(B, D)`` (unused ones may be any such array)."""
    kernels = _load()
    if noise not in kernels["kinds"]:
        raise ValueError(f"noise must be 'uniform', 'gaussian' or 'zero', got {noise!r}")
    kind = kernels["kinds"][noise]
    _, h, w, depth = out.shape
    shape = (h, w, image.shape[1], image.shape[2], depth)
    # Work estimate: a copied element ~1, a random one ~50 (Threefry + sampler).
    n_fill = 0 if noise == "zero" else _fill_count(sy, sx, h, w, *image.shape[1:3])
    work = out.size + 50 * n_fill * depth
    args = (kind, image.reshape(-1), shape, sy, sx, *_stream_args(seed, stream), lo, hi,
            mean, sigma, out.reshape(-1))

    def part(t0: int, t1: int) -> None:
        kernels["glimpse"](*args, t0, t1)

    from .numba_kernels import run_split

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


