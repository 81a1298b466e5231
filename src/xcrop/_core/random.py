"""Seeded, counter-based random numbers that are bit-identical on every backend.

The generator is written with nothing but Python array API standard operations
on ``int32`` and ``float32`` arrays, so the same ``(seed, stream)`` gives the
same bits on NumPy, PyTorch, JAX (with or without ``jax_enable_x64``),
array-api-strict and CuPy.

Algorithm (docs/semantics.md §2.5 has it in full): Threefry-2x32-20 (the block function
behind ``jax.random``, checked against Random123's known answers in the tests) on 32-bit
words, native ``uint32`` where the namespace wraps them, 16-bit limbs in ``int32``
elsewhere; element ``i`` of the C-order result comes from block ``i // 2``, counter
``(j | kind << 31, stream)``, so it depends only on ``(seed, stream, kind, i)``. Uniform:
the top 24 bits times ``2**-24``. Normal: Box-Muller on one block, with ``log``, ``cos``,
``sin`` and ``sqrt`` built from float32 ``+ - * /`` only (library versions differ by an
ulp between backends); every constant is an exact float32, no intermediate is subnormal.

Limits and notes
----------------
* At most ``2**31`` elements per call (``int32`` counters).
* Eager execution is bit-identical everywhere (each operation is its own
  kernel). Under ``jax.jit`` XLA would contract ``a * b + c`` into a fused
  multiply-add (the last bit of a few percent of the normal samples); every
  such product goes through :func:`xcrop._core.float32.rounding_barrier`, so ``jit``
  gives the eager bits. Other compilers that fuse elementwise float operations
  (``torch.compile`` with Inductor) are not fenced off.
* Seeds are reduced modulo ``2**64``: ``seed`` and ``seed + 2**64`` give the
  same numbers.
"""

from __future__ import annotations

import math
import operator
import secrets
import struct
from typing import Any

__all__ = [
    "check_seed",
    "check_stream",
    "random_seed",
    "standard_normal",
    "standard_normal_at",
    "uniform",
    "uniform_at",
]

_M16 = 0xFFFF
_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF
#: Largest number of elements one call can produce.
MAX_SIZE = 2**31

KIND_UNIFORM = 0
KIND_NORMAL = 1

# Threefry-2x32 rotation constants and key-schedule parity (Random123).
ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
SKEIN_PARITY = 0x1BD11BDA


def _f32(x: float) -> float:
    """``x`` rounded to the nearest float32, as a Python float (exact)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


# log(2) split so that ``e * LN2_HI`` is exact for |e| < 256 (Cody & Waite).
LN2_HI = 0.693145751953125  # 0x3F317200: 15 significant bits
LN2_LO = _f32(math.log(2.0) - LN2_HI)
# atanh series: log(g) = 2s + 2s * z * P(z), s = (g-1)/(g+1), z = s*s,
# P(z) = 1/3 + z/5 + z^2/7 + z^3/9 + z^4/11 (|s| <= 0.1716 -> error < 1e-9).
LOG_P = tuple(_f32(1.0 / k) for k in (11, 9, 7, 5, 3))
# Mantissas (24-bit integers in [2**23, 2**24)) above this are > sqrt(2) * 2**23.
SQRT2_MANT = math.floor(math.sqrt(2.0) * 2**23)
# Minimax linear approximation of sqrt on [1/4, 1] (relative error 2.95%).
SQRT_C = (_f32(0.34314575), _f32(0.6862915))
# sin(pi/4 * t) = t * S(t*t) and cos(pi/4 * t) = C(t*t) for t in [0, 1]
# (Taylor series; truncation error < 3e-9 and < 2e-10).
SIN_C = tuple(
    _f32((-1) ** k * (math.pi / 4) ** (2 * k + 1) / math.factorial(2 * k + 1))
    for k in range(4, -1, -1)
)
COS_C = tuple(
    _f32((-1) ** k * (math.pi / 4) ** (2 * k) / math.factorial(2 * k)) for k in range(5, -1, -1)
)


# ----------------------------------------------------------------------------
# Argument checking
# ----------------------------------------------------------------------------


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not bool")
    try:
        return operator.index(value)
    except TypeError:
        hint = "; use random_seed() for a fresh seed" if name == "seed" else ""
        raise TypeError(f"{name} must be an int, got {type(value).__name__}{hint}") from None


def check_seed(seed: Any) -> int:
    seed = _as_int(seed, "seed")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed}")
    return seed & _M64


def check_stream(stream: Any) -> int:
    stream = _as_int(stream, "stream")
    if not 0 <= stream <= _M32:
        raise ValueError(f"stream must be an int in [0, 2**32), got {stream}")
    return stream


def _check_shape(shape: Any) -> tuple[tuple[int, ...], int]:
    try:
        shape = (_as_int(shape, "shape"),)
    except TypeError:
        try:
            shape = tuple(_as_int(s, "shape entries") for s in shape)
        except TypeError:
            raise TypeError(f"shape must be a tuple of ints, got {type(shape).__name__}") from None
    if any(s < 0 for s in shape):
        raise ValueError(f"shape entries must be non-negative, got {shape}")
    size = math.prod(shape)
    if size > MAX_SIZE:
        raise ValueError(f"at most 2**31 random numbers per call are supported, got {size}")
    return shape, size


def random_seed() -> int:
    """A fresh 64-bit seed from the operating system's entropy source."""
    return secrets.randbits(64)


# ----------------------------------------------------------------------------
# 32-bit words as (hi, lo) pairs of 16-bit limbs in int32 arrays
# ----------------------------------------------------------------------------


def _add(a, b):
    lo = a[1] + b[1]
    hi = a[0] + b[0] + (lo >> 16)
    return hi & _M16, lo & _M16


def _add_const(a, c: int):
    c &= _M32
    lo = a[1] + (c & _M16)
    hi = a[0] + (lo >> 16) + (c >> 16)
    return hi & _M16, lo & _M16


def _rotl(a, r: int):
    hi, lo = a
    if r >= 16:
        hi, lo = lo, hi
        r -= 16
    if r == 0:
        return hi, lo
    return (
        ((hi << r) | (lo >> (16 - r))) & _M16,
        ((lo << r) | (hi >> (16 - r))) & _M16,
    )


def _xor(a, b):
    return a[0] ^ b[0], a[1] ^ b[1]


class _NativeWords:
    """32-bit words as ``uint32`` arrays, for namespaces whose unsigned arithmetic wraps
    modulo ``2**32`` (NumPy, CuPy, JAX): about 10x fewer operations than limbs (under
    ``jax.jit``, 98k draws on limbs took 5 s)."""

    def __init__(self, xp) -> None:
        self.xp = xp

    def const(self, c: int):
        return self.xp.asarray(c & _M32, dtype=self.xp.uint32)

    def from_limbs(self, w):
        u32 = self.xp.uint32
        return (self.xp.astype(w[0], u32) << 16) | self.xp.astype(w[1], u32)

    def add(self, a, b):
        return a + b

    def add_const(self, a, c: int):
        return a + self.const(c)

    def rotl(self, a, r: int):
        return (a << r) | (a >> (32 - r))

    def xor(self, a, b):
        return a ^ b

    def limbs(self, w):
        return self.xp.astype(w >> 16, self.xp.int32), self.xp.astype(w & _M16, self.xp.int32)


class _LimbWords(_NativeWords):
    """32-bit words as ``(hi, lo)`` 16-bit limbs in ``int32`` arrays: only what the array
    API standard defines (no unsigned overflow, no 64-bit type), for every other library."""

    def from_limbs(self, w):
        return w

    def add(self, a, b):
        return _add(a, b)

    def add_const(self, a, c: int):
        return _add_const(a, c)

    def rotl(self, a, r: int):
        return _rotl(a, r)

    def xor(self, a, b):
        return _xor(a, b)

    def limbs(self, w):
        return w


def _word_ops(xp) -> _NativeWords:
    name = getattr(xp, "__name__", "")
    native = any(lib in name for lib in ("numpy", "cupy", "jax")) and "strict" not in name
    return (_NativeWords if native else _LimbWords)(xp)


def _threefry2x32(xp, key0: int, key1: int, x0, x1):
    """Threefry-2x32-20 of the counter ``(x0, x1)`` (limb pairs) under ``(key0, key1)``:
    the two output words, as limb pairs. The one Threefry of the array API; the words
    are native or limbs as the namespace allows."""
    ops = _word_ops(xp)
    ks = (key0 & _M32, key1 & _M32, (key0 ^ key1 ^ SKEIN_PARITY) & _M32)
    x0 = ops.add_const(ops.from_limbs(x0), ks[0])
    x1 = ops.add_const(ops.from_limbs(x1), ks[1])
    for block in range(5):
        for r in ROTATIONS[block % 2]:
            x0 = ops.add(x0, x1)
            x1 = ops.xor(ops.rotl(x1, r), x0)
        x0 = ops.add_const(x0, ks[(block + 1) % 3])
        x1 = ops.add_const(x1, ks[(block + 2) % 3] + block + 1)
    return ops.limbs(x0), ops.limbs(x1)


def _random_words(xp, first: int, stop: int, seed: int, stream: int, kind: int, device):
    """The two output words (limb pairs) of blocks ``first .. stop-1``."""
    return _block_words(xp, xp.arange(first, stop, dtype=xp.int32, device=device), seed,
                        stream, kind)


def _block_words(xp, j, seed: int, stream: int, kind: int):
    """The two words of blocks ``j`` (int32 array) of stream ``(seed, stream, kind)``: the
    counter is ``(j | kind << 31, stream)``."""
    dev = getattr(j, "device", None)
    x0 = ((j >> 16) | (kind << 15), j & _M16)
    x1 = (xp.full(j.shape, stream >> 16, dtype=xp.int32, device=dev),
          xp.full(j.shape, stream & _M16, dtype=xp.int32, device=dev))
    return _threefry2x32(xp, seed & _M32, seed >> 32, x0, x1)


def _interleave(xp, a, b, size: int, shape: tuple[int, ...], skip: int = 0):
    """``[a0, b0, a1, b1, ...][skip:skip + size]`` reshaped to ``shape``."""
    flat = xp.reshape(xp.stack([a, b], axis=1), (2 * a.shape[0],))
    if skip or flat.shape[0] != size:
        flat = flat[skip:skip + size]
    return xp.reshape(flat, shape)


def _blocks(start: int, size: int) -> tuple[int, int]:
    """The blocks ``first .. stop-1`` holding elements ``start .. start+size-1``."""
    return start >> 1, (start + size + 1) >> 1


def _check_start(start: Any, size: int) -> int:
    start = _as_int(start, "start")
    if start < 0 or start + size > MAX_SIZE:
        raise ValueError(f"elements start .. start+size-1 must lie in [0, 2**31); got start="
                         f"{start}, size={size}")
    return start


def _top24(word):
    hi, lo = word
    return (hi << 8) | (lo >> 8)


# ----------------------------------------------------------------------------
# float32 log, sqrt, cos and sin from + - * / only
# ----------------------------------------------------------------------------


def rounding_barrier(xp, x):
    """:func:`xcrop._core.float32.rounding_barrier`: ``x`` rounded before the addition it feeds,
    also under ``jax.jit`` (where XLA would fuse an FMA), so one seed gives one set of bits.

    Imported on use: this file imports nothing at import time and can be loaded outside
    the package (as the tests do); it is then the identity, which eager calls need.
    """
    if not __package__:
        return x
    from .float32 import rounding_barrier as barrier

    return barrier(xp, x)


def _bit_length(xp, x):
    """Number of significant bits of int32 ``x`` in ``[0, 2**31)``."""
    n = xp.zeros_like(x)
    for k in (16, 8, 4, 2, 1):
        big = x >= (1 << k)
        x = xp.where(big, x >> k, x)
        n = xp.where(big, n + k, n)
    return n + x  # x is now 0 or 1


def _log_u01(xp, word):
    """``log((w + 1) / 2**32)`` in float32 for the 32-bit word ``w`` (limbs)."""
    f32 = xp.float32
    lo = word[1] + 1
    hi = word[0] + (lo >> 16)  # up to 2**16 when w = 2**32 - 1
    lo = lo & _M16
    # v = hi * 2**16 + lo in [1, 2**32]; L = bit length of v.
    has_hi = hi > 0
    length = _bit_length(xp, xp.where(has_hi, hi, lo)) + (xp.astype(has_hi, xp.int32) << 4)
    # v = (mant * 2**s + rem) * 2**-t with a 24-bit mantissa in [2**23, 2**24).
    d = length - 24
    s = xp.where(d > 0, d, xp.zeros_like(d))  # in [0, 9]
    t = s - d  # in [0, 23]
    mant = ((hi << (16 - s)) | (lo >> s)) << t
    pow2s = xp.ones_like(s) << s
    rem = lo & (pow2s - 1)
    # v = g * 2**(e + 32) with g = (mant + rem / 2**s) / base in [sqrt(1/2), sqrt(2)),
    # base = 2**23 or 2**24, and log(g) = 2 atanh(sr), sr = (g - 1) / (g + 1).
    # The numerator comes from the integers without cancellation, so log(v / 2**32) keeps
    # its relative accuracy as v approaches 2**32.
    big = mant > SQRT2_MANT
    base = (xp.astype(big, xp.int32) + 1) << 23
    e = xp.astype(length + xp.astype(big, xp.int32) - 33, f32)
    num = xp.astype(mant - base, f32) + xp.astype(rem, f32) / xp.astype(pow2s, f32)
    sr = num / (num + xp.astype(base << 1, f32))
    s2 = sr + sr
    z = sr * sr
    p = rounding_barrier(xp, z * LOG_P[0]) + LOG_P[1]
    for c in LOG_P[2:]:
        p = rounding_barrier(xp, p * z) + c
    log_g = s2 + rounding_barrier(xp, s2 * (z * p))
    # e * LN2_HI is exact, so an FMA there rounds as the two operations do.
    return e * LN2_HI + (rounding_barrier(xp, e * LN2_LO) + log_g)


def _sqrt(xp, x):
    """``sqrt(x)`` for float32 ``x`` in ``[2**-56, 2**8)`` (0 for ``x <= 0``), ``* + /`` only.

    ``torch.sqrt`` on CPU is not correctly rounded for large float32 tensors
    (seen with torch 2.13), so the backend's ``sqrt`` cannot be used.
    """
    # Scale by even powers of two (exact) into [1/4, 1): x = y * 4**k.
    y = x * 2.0**-8
    scale = xp.full_like(x, 16.0)  # sqrt(4**k)
    for step in (16, 8, 4, 2, 1):
        small = y < 4.0**-step
        y = xp.where(small, y * 4.0**step, y)
        scale = xp.where(small, scale * 2.0**-step, scale)
    # Linear guess (relative error < 3%), then three Newton steps.
    r = rounding_barrier(xp, y * SQRT_C[1]) + SQRT_C[0]
    for _ in range(3):  # (r + y / r) * 0.5 feeds the next add: exact, an FMA changes nothing
        r = (r + y / r) * 0.5
    return xp.where(x > 0.0, r * scale, xp.zeros_like(x))


def _cos_sin_turn(xp, k):
    """``cos`` and ``sin`` of ``2 * pi * k / 2**24`` for int32 ``k`` in ``[0, 2**24)``."""
    quadrant = k >> 22
    r = k & 0x3FFFFF
    flip = r > 0x200000  # second half of the quadrant: use pi/2 - angle
    r = xp.where(flip, 0x400000 - r, r)  # in [0, 2**21]
    t = xp.astype(r, xp.float32) * 2.0**-21  # angle = pi/4 * t, t in [0, 1]
    z = t * t
    sin_p = rounding_barrier(xp, z * SIN_C[0]) + SIN_C[1]
    for c in SIN_C[2:]:
        sin_p = rounding_barrier(xp, sin_p * z) + c
    sin_p = sin_p * t
    cos_p = rounding_barrier(xp, z * COS_C[0]) + COS_C[1]
    for c in COS_C[2:]:
        cos_p = rounding_barrier(xp, cos_p * z) + c
    # (cos, sin) of the angle within the quadrant ...
    cos_q = xp.where(flip, sin_p, cos_p)
    sin_q = xp.where(flip, cos_p, sin_p)
    # ... rotated by quadrant * pi/2.
    odd = (quadrant & 1) == 1
    cos_abs = xp.where(odd, sin_q, cos_q)
    sin_abs = xp.where(odd, cos_q, sin_q)
    cos_neg = (quadrant == 1) | (quadrant == 2)
    sin_neg = quadrant >= 2
    return xp.where(cos_neg, -cos_abs, cos_abs), xp.where(sin_neg, -sin_abs, sin_abs)


# ----------------------------------------------------------------------------
# Public samplers
# ----------------------------------------------------------------------------


def uniform(xp, shape: tuple[int, ...], seed: int, *, stream: int = 0, device=None,
            start: int = 0):
    """float32 samples in ``[0, 1)``, each a multiple of ``2**-24`` (24 random bits).

    Parameters
    ----------
    xp
        Array API namespace (e.g. ``array_api_compat.array_namespace(x)``).
    shape
        Output shape (at most ``2**31`` elements).
    seed
        Any int ``>= 0`` (reduced modulo ``2**64``). See :func:`random_seed`.
    stream
        Int in ``[0, 2**32)`` selecting an independent stream for the same seed.
    device
        Device to create the result on (the namespace's default if ``None``).
    start
        Element index, in the stream, of the result's first element: the result is
        elements ``start .. start+size-1`` of the stream (a part of a larger draw, e.g.
        one chunk of it, with the bits the whole draw has there). ``start + size`` is
        at most ``2**31``.

    Element ``i`` of the C-order flattened result depends only on
    ``(seed, stream, start + i)`` and is bit-identical on every backend.
    """
    seed = check_seed(seed)
    stream = check_stream(stream)
    shape, size = _check_shape(shape)
    start = _check_start(start, size)
    w0, w1 = _random_words(xp, *_blocks(start, size), seed, stream, KIND_UNIFORM, device)
    bits = _interleave(xp, _top24(w0), _top24(w1), size, shape, start & 1)
    return xp.astype(bits, xp.float32) * 2.0**-24


def standard_normal(xp, shape: tuple[int, ...], seed: int, *, stream: int = 0, device=None,
                    start: int = 0):
    """float32 samples from the standard normal distribution N(0, 1).

    Same parameters and guarantees as :func:`uniform`; the normal and uniform
    samplers use separate counters, so ``uniform(..., seed, stream=s)`` and
    ``standard_normal(..., seed, stream=s)`` are independent. Values are
    bounded by ``sqrt(64 * log(2)) ~ 6.66`` in magnitude.
    """
    seed = check_seed(seed)
    stream = check_stream(stream)
    shape, size = _check_shape(shape)
    start = _check_start(start, size)
    w0, w1 = _random_words(xp, *_blocks(start, size), seed, stream, KIND_NORMAL, device)
    radius = _sqrt(xp, -2.0 * _log_u01(xp, w0))
    cos_t, sin_t = _cos_sin_turn(xp, _top24(w1))
    return _interleave(xp, radius * cos_t, radius * sin_t, size, shape, start & 1)


# ----------------------------------------------------------------------------
# Draws at given element indices
# ----------------------------------------------------------------------------


def _index_words(xp, indices, seed: int, stream: int, kind: int):
    """The two words of the blocks holding flat elements ``indices`` (int array)."""
    seed = check_seed(seed)
    stream = check_stream(stream)
    if not xp.isdtype(indices.dtype, "integral"):
        raise TypeError(f"indices must be an integer array, got dtype {indices.dtype}")
    idx = xp.astype(indices, xp.int64)
    if idx.ndim != 1:
        raise ValueError(f"indices must be one-dimensional, got shape {tuple(idx.shape)}")
    if idx.shape[0] and (int(xp.min(idx)) < 0 or int(xp.max(idx)) >= MAX_SIZE):
        raise ValueError("indices must lie in [0, 2**31)")
    w0, w1 = _block_words(xp, xp.astype(idx >> 1, xp.int32), seed, stream, kind)
    return w0, w1, (xp.astype(idx & 1, xp.int32) == 1)


def uniform_at(xp, indices, seed: int, *, stream: int = 0):
    """The elements of :func:`uniform` at the flat (C-order) ``indices`` only.

    ``indices`` is a 1-D integer array with values in ``[0, 2**31)``; the result is the
    float32 array ``uniform(xp, shape, seed, stream=stream)`` flattened and indexed by
    ``indices``, for any ``shape`` large enough (element ``i`` does not depend on the
    shape), computed at the cost of ``len(indices)`` elements.
    """
    w0, w1, odd = _index_words(xp, indices, seed, stream, KIND_UNIFORM)
    bits = xp.where(odd, _top24(w1), _top24(w0))
    return xp.astype(bits, xp.float32) * 2.0**-24


def standard_normal_at(xp, indices, seed: int, *, stream: int = 0):
    """The elements of :func:`standard_normal` at the flat ``indices`` only (see
    :func:`uniform_at`)."""
    w0, w1, odd = _index_words(xp, indices, seed, stream, KIND_NORMAL)
    radius = _sqrt(xp, -2.0 * _log_u01(xp, w0))
    cos_t, sin_t = _cos_sin_turn(xp, _top24(w1))
    return xp.where(odd, radius * sin_t, radius * cos_t)
