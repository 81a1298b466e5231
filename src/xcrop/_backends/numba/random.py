"""numba kernels of xcrop's seeded streams (``_core.random``: Threefry, the uniform and
Box-Muller samplers, ported operation for operation) and of the glimpse (window copy
plus fill), compiled on first use and cached on disk (``cache=True``).

Imported by ``loader`` when a kernel is first needed (importing this module imports
numba). Module-level functions calling each other as globals are what numba can cache
across processes (see ``crop``). The constants are ``_core.random``'s, read when this
module is imported; they are part of the generator's definition and never change within
a release. numba's cache tracks this file, not ``_core/random.py``: a change to the
generator's constants must touch this file too.

Exactness: every float operation is a float32 ``+ - * /`` as in the reference (see
``loader``).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from ..._core import random as R

f32 = np.float32
m32 = np.uint64(0xFFFFFFFF)
rot0 = R.ROTATIONS[0]
rot1 = R.ROTATIONS[1]
ln2_hi, ln2_lo = f32(R.LN2_HI), f32(R.LN2_LO)
lp = tuple(f32(c) for c in R.LOG_P)
sc = tuple(f32(c) for c in R.SIN_C)
cc = tuple(f32(c) for c in R.COS_C)
sq0, sq1 = f32(R.SQRT_C[0]), f32(R.SQRT_C[1])
sqrt2_mant = np.int64(R.SQRT2_MANT)
two_m24 = f32(2.0**-24)
two_m21 = f32(2.0**-21)
half = f32(0.5)
minus_two = f32(-2.0)
zero = f32(0.0)


@numba.njit(inline="always")
def rotl(x: Any, r: int) -> Any:
    return ((x << np.uint64(r)) | (x >> np.uint64(32 - r))) & m32


@numba.njit(inline="always")
def mix(x0: Any, x1: Any, r: int) -> Any:
    x0 = (x0 + x1) & m32
    return x0, rotl(x1, r) ^ x0


@numba.njit(inline="always")
def threefry(k0: Any, k1: Any, k2: Any, x0: Any, x1: Any) -> Any:
    """Threefry-2x32-20; all values uint64 in [0, 2**32)."""
    x0 = (x0 + k0) & m32
    x1 = (x1 + k1) & m32
    for block in range(5):
        rot = rot0 if block % 2 == 0 else rot1
        for q in range(4):
            x0, x1 = mix(x0, x1, rot[q])
        j = block % 3
        if j == 0:
            x0 = (x0 + k1) & m32
            x1 = (x1 + k2 + np.uint64(block + 1)) & m32
        elif j == 1:
            x0 = (x0 + k2) & m32
            x1 = (x1 + k0 + np.uint64(block + 1)) & m32
        else:
            x0 = (x0 + k0) & m32
            x1 = (x1 + k1 + np.uint64(block + 1)) & m32
    return x0, x1


@numba.njit(inline="always")
def words(k0: Any, k1: Any, k2: Any, stream: Any, kind: int, i: int) -> Any:
    j = np.uint64(i >> 1) | (np.uint64(kind) << np.uint64(31))
    return threefry(k0, k1, k2, j, stream)


@numba.njit(inline="always")
def uniform1(k0: Any, k1: Any, k2: Any, stream: Any, i: int) -> Any:
    w0, w1 = words(k0, k1, k2, stream, 0, i)
    w = w1 if i & 1 else w0
    return f32(np.int64(w >> np.uint64(8))) * two_m24


@numba.njit(inline="always")
def bit_length(v: int) -> int:
    n = 0
    while v > 0:
        v >>= 1
        n += 1
    return n


@numba.njit(inline="always")
def log_u01(w: Any) -> Any:
    v = np.int64(w) + 1  # in [1, 2**32]
    length = bit_length(v)
    d = length - 24
    s = d if d > 0 else 0
    t = s - d
    mant = (v >> s) << t
    pow2s = np.int64(1) << s
    rem = v & (pow2s - 1)
    big = 1 if mant > sqrt2_mant else 0
    base = np.int64(big + 1) << 23
    e = f32(length + big - 33)
    num = f32(mant - base) + f32(rem) / f32(pow2s)
    sr = num / (num + f32(base << 1))
    s2 = sr + sr
    z = sr * sr
    p = z * lp[0] + lp[1]
    p = p * z + lp[2]
    p = p * z + lp[3]
    p = p * z + lp[4]
    log_g = s2 + s2 * (z * p)
    return e * ln2_hi + (e * ln2_lo + log_g)


@numba.njit(inline="always")
def sqrt_(x: Any) -> Any:
    y = x * f32(2.0**-8)
    scale = f32(16.0)
    for step in (16, 8, 4, 2, 1):
        if y < f32(4.0**-step):
            y = y * f32(4.0**step)
            scale = scale * f32(2.0**-step)
    r = y * sq1 + sq0
    for _ in range(3):
        r = (r + y / r) * half
    return r * scale if x > zero else zero


@numba.njit(inline="always")
def normal1(k0: Any, k1: Any, k2: Any, stream: Any, i: int) -> Any:
    w0, w1 = words(k0, k1, k2, stream, 1, i)
    radius = sqrt_(minus_two * log_u01(w0))
    k = np.int64(w1 >> np.uint64(8))
    quadrant = k >> 22
    r = k & 0x3FFFFF
    flip = r > 0x200000
    if flip:
        r = 0x400000 - r
    t = f32(r) * two_m21
    z = t * t
    sin_p = z * sc[0] + sc[1]
    sin_p = sin_p * z + sc[2]
    sin_p = sin_p * z + sc[3]
    sin_p = sin_p * z + sc[4]
    sin_p = sin_p * t
    cos_p = z * cc[0] + cc[1]
    cos_p = cos_p * z + cc[2]
    cos_p = cos_p * z + cc[3]
    cos_p = cos_p * z + cc[4]
    cos_p = cos_p * z + cc[5]
    cos_q, sin_q = (sin_p, cos_p) if flip else (cos_p, sin_p)
    odd = (quadrant & 1) == 1
    cos_a, sin_a = (sin_q, cos_q) if odd else (cos_q, sin_q)
    if i & 1:
        return radius * (-sin_a if quadrant >= 2 else sin_a)
    return radius * (-cos_a if quadrant == 1 or quadrant == 2 else cos_a)


@numba.njit(nogil=True, cache=True)
def uniform_flat(k0, k1, k2, stream, start, out):  # out: float32 (n,)
    for i in range(out.shape[0]):
        out[i] = uniform1(k0, k1, k2, stream, start + i)


@numba.njit(nogil=True, cache=True)
def normal_flat(k0, k1, k2, stream, start, out):
    for i in range(out.shape[0]):
        out[i] = normal1(k0, k1, k2, stream, start + i)


@numba.njit(inline="always")
def np_max(a: Any, b: Any) -> Any:  # numpy.maximum on scalars (NaN propagates)
    return a if (a >= b or a != a) else b


@numba.njit(inline="always")
def np_min(a: Any, b: Any) -> Any:
    return a if (a <= b or a != a) else b


@numba.njit(inline="always")
def top24(w: Any) -> Any:
    return f32(np.int64(w >> np.uint64(8))) * two_m24


@numba.njit(inline="always")
def uniform_span(out, start, stop, shift, k0, k1, k2, stream):
    """``out[i]`` = uniform element ``i + shift`` for ``start <= i < stop``.

    Elements ``2j`` and ``2j + 1`` are the two words of Threefry block ``j``: the
    middle loop computes each block once for both, with no branch, so LLVM
    vectorizes it (a per-element loop with a branch ran about 4x slower).
    """
    i = start
    if i < stop and (i + shift) & 1:
        out[i] = top24(words(k0, k1, k2, stream, 0, i + shift)[1])
        i += 1
    pairs = (stop - i) // 2
    # A view indexed from 0: with offsets of unknown sign numba's negative-index
    # fix-up stays in the loop and it does not vectorize.
    seg = out[i:i + 2 * pairs]
    e = i + shift  # even: the first element of a block
    for p in range(pairs):
        w0, w1 = words(k0, k1, k2, stream, 0, e + 2 * p)
        seg[2 * p] = top24(w0)
        seg[2 * p + 1] = top24(w1)
    i += 2 * pairs
    if i < stop:
        out[i] = top24(words(k0, k1, k2, stream, 0, i + shift)[0])


@numba.njit(inline="always")
def fill_uniform(out, base, count, depth, b, k0, k1, k2, stream, shift, lo, hi, mean,
                 sigma):
    """``count`` pixels of uniform fill at flat element offset ``base`` of ``out`` (stream
    elements from ``base + shift``): the draws first, then ``u * (hi - lo) + lo`` in
    place (float32, same order)."""
    uniform_span(out, base, base + count * depth, shift, k0, k1, k2, stream)
    seg = out[base:base + count * depth]
    for c in range(count):
        for d in range(depth):
            seg[c * depth + d] = seg[c * depth + d] * (hi[b, d] - lo[b, d]) + lo[b, d]


@numba.njit(inline="always")
def fill_gaussian(out, base, count, depth, b, k0, k1, k2, stream, shift, lo, hi, mean,
                  sigma):
    """``count`` pixels of Gaussian fill at flat element offset ``base`` of ``out`` (stream
    elements from ``base + shift``)."""
    for c in range(count):
        for d in range(depth):
            i = base + c * depth + d
            z = normal1(k0, k1, k2, stream, i + shift)
            out[i] = np_min(np_max(z * sigma[b, d] + mean[b, d], lo[b, d]), hi[b, d])


#: Fill kinds of the glimpse kernel.
UNIFORM, GAUSSIAN, ZERO = 0, 1, 2


@numba.njit(cache=True)
def fill_span(kind, out, base, count, depth, b, k0, k1, k2, stream, shift, lo, hi, mean,
              sigma):
    """``count`` fill pixels of ``kind`` at flat element offset ``base`` of ``out``, drawn
    from stream element ``base + shift`` on.

    Not inlined: the glimpse kernel calls it at three places, and inlining both
    samplers there made its compilation take 30-40 s instead of about 7 s.
    """
    if kind == UNIFORM:
        fill_uniform(out, base, count, depth, b, k0, k1, k2, stream, shift, lo, hi, mean,
                     sigma)
    elif kind == GAUSSIAN:
        fill_gaussian(out, base, count, depth, b, k0, k1, k2, stream, shift, lo, hi, mean,
                      sigma)
    else:
        seg = out[base:base + count * depth]
        for k in range(seg.shape[0]):
            seg[k] = zero


@numba.njit(nogil=True, cache=True)
def glimpse(kind, image, shape, sy, sx, k0, k1, k2, stream, shift, lo, hi, mean, sigma, out,
            t0, t1):
    """Paste windows and fill the rest (``kind``: ``UNIFORM``, ``GAUSSIAN`` or ``ZERO``),
    output rows ``t0 .. t1-1`` of ``B * h``, in one pass over the output.

    ``image`` and ``out`` are flat C-order views of ``(B, H, W, D)`` and
    ``(B, h, w, D)``; ``shape`` is ``(h, w, H, W, D)``. ``lo``/``hi``/``mean``/
    ``sigma`` are float32 ``(B, D)`` (unused by ``ZERO``). Element ``i`` of ``out`` draws
    stream element ``i + shift`` (``shift``: the output's place in a larger call).
    """
    h, w, height, width, depth = shape
    for t in range(t0, t1):
        b = t // h
        r = t - b * h
        y = sy[b] + r
        x0 = sx[b]
        base = t * w * depth
        c0 = min(max(0, -x0), w)
        c1 = max(min(w, width - x0), c0)
        if y < 0 or y >= height or c0 == c1:
            fill_span(kind, out, base, w, depth, b, k0, k1, k2, stream, shift, lo, hi, mean,
                      sigma)
            continue
        if c0 > 0:
            fill_span(kind, out, base, c0, depth, b, k0, k1, k2, stream, shift, lo, hi,
                      mean, sigma)
        src = ((b * height + y) * width + x0 + c0) * depth
        n = (c1 - c0) * depth
        # A loop over views: numba's slice assignment checks for overlap (2x slower), and
        # indexing the flat arrays with computed signed offsets keeps the negative-index
        # fix-up in the loop, which does not vectorize.
        dst = out[base + c0 * depth:base + c0 * depth + n]
        row = image[src:src + n]
        for k in range(n):
            dst[k] = row[k]
        if c1 < w:
            fill_span(kind, out, base + c1 * depth, w - c1, depth, b, k0, k1, k2, stream,
                      shift, lo, hi, mean, sigma)


@numba.njit(nogil=True, cache=True)
def pairwise(x, mean, square, out, b0, b1):
    """``_core.portable.pairwise_mean`` of ``x`` (or of ``(x - mean)**2`` when ``square``):
    the same zero-padded halving tree, one batch element per thread."""
    n, depth = x.shape[1], x.shape[2]
    width = 1
    while width < n:
        width *= 2
    for b in range(b0, b1):
        half_w = width // 2
        buf = np.empty((max(half_w, 1), depth), dtype=np.float32)
        if width == 1:
            for d in range(depth):
                v = x[b, 0, d]
                if square:
                    v = (v - mean[b, 0, d]) * (v - mean[b, 0, d])
                buf[0, d] = v
        else:
            for k in range(half_w):
                for d in range(depth):
                    a = x[b, k, d]
                    if square:
                        a = (a - mean[b, 0, d]) * (a - mean[b, 0, d])
                    if k + half_w < n:
                        c = x[b, k + half_w, d]
                        if square:
                            c = (c - mean[b, 0, d]) * (c - mean[b, 0, d])
                    else:
                        c = zero
                    buf[k, d] = a + c
            wd = half_w
            while wd > 1:
                wd //= 2
                for k in range(wd):
                    for d in range(depth):
                        buf[k, d] = buf[k, d] + buf[k + wd, d]
        for d in range(depth):
            out[b, 0, d] = buf[0, d] / f32(n)


@numba.njit(inline="always")
def portable_sqrt(x: Any) -> Any:
    """``_core.portable.portable_sqrt`` of one float32 (the glimpse's Gaussian sigma)."""
    y = x
    scale = f32(1)
    for e in (64, 32, 16, 8, 4, 2):
        if y >= f32(2.0**e):
            y = y * f32(2.0**-e)
            scale = scale * f32(2.0 ** (e // 2))
    for e in (64, 64, 32, 16, 8, 4, 2):
        if y < f32(2.0**-e) and y > 0:
            y = y * f32(2.0**e)
            scale = scale * f32(2.0 ** -(e // 2))
    if not (y > 0 and y < 4):
        return f32(np.sqrt(x))
    r = y * f32(0.4) + f32(0.6)
    for _ in range(5):
        r = (r + y / r) * f32(0.5)
    return r * scale
