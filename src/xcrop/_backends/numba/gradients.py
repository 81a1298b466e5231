"""The numba gradient kernels: TF's CropAndResizeGradImage and CropAndResizeGradBoxes.

Imported by ``loader`` on first use (importing this module imports numba); driven by
``grad_drivers``. Module-level ``cache=True`` functions, as in ``crop`` (see there why).

Exactness by construction: every kernel performs TF's float32 operations in TF's
sequential order (boxes, rows, columns, then per channel the corners TL, TR, BL, BR),
each rounded by one IEEE float32 instruction (no ``fastmath``: no reassociation, no FMA
contraction) and flushed by the explicit ``_ftz`` exactly where
``xcrop._reference.gradients`` calls ``flush_subnormals``. Like TF and the reference, the
kernels skip extrapolated samples (adding +0 would turn a sum flushed to -0 into +0).

Parallel callers may split the work only where sums never meet: the image gradient over
(image, channel-chunk) units, each unit walking its image's boxes in their original
order; the box gradient over boxes. Hence the same bits for every split.

numba has no CPU float16, so float16 travels as its uint16 bit pattern: decoded through a
65536-entry float32 table (exact) and encoded by :func:`_half_bits` (round to nearest
even, as NumPy's ``astype``). A uint16 *image* uses the same table path with the identity
table ``table[k] = k``.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba.core import types
from numba.extending import overload

from . import fpenv
from .crop import _FLT_MIN
from .crop import _ftz as _ftz_inline

# The crop kernels' flush, left to LLVM to inline: numba's own inlining (inline="always") of
# the hundreds of flushes here made the box kernel take minutes to compile.
_ftz = numba.njit(_ftz_inline.py_func)

@numba.njit(inline="always")
def _fz(soft: bool, v: Any) -> Any:
    # The software flush, or nothing where the CPU flushes (the ``*_hw`` kernels).
    return _ftz(v) if soft else v


_ONE = np.float32(1.0)
_HALF = np.float32(0.5)
_FEW_CHANNELS = 8


@numba.njit
def _half_bits(v: Any) -> Any:
    """float32 ``v`` rounded to float16 (nearest even, overflow to inf), as uint16 bits."""
    u = np.float32(v).view(np.uint32)
    sign = (u >> np.uint32(16)) & np.uint32(0x8000)
    a = u & np.uint32(0x7FFFFFFF)
    if a >= np.uint32(0x7F800000):  # inf or NaN; NaN keeps its top payload bits (NumPy)
        h = np.uint32(0x7C00) + ((a & np.uint32(0x7FFFFF)) >> np.uint32(13))
        if a != np.uint32(0x7F800000) and h == np.uint32(0x7C00):
            h = np.uint32(0x7C01)
        return np.uint16(sign | h)
    if a >= np.uint32(0x477FF000):  # >= 65520 rounds to inf
        return np.uint16(sign | np.uint32(0x7C00))
    if a < np.uint32(0x38800000):
        # Below half's smallest normal 2**-14: 0.5 + |v| rounds |v| to a multiple of
        # 2**-24 (float32's spacing on [0.5, 1)), nearest even, in one addition; the
        # multiple is the half's bit pattern (1024 = 2**-14, the smallest normal).
        r = np.float32(abs(np.float32(v)) + _HALF)
        return np.uint16(sign | (r.view(np.uint32) - np.uint32(0x3F000000)))
    # Normal half: round the 23-bit fraction to 10 bits (nearest even) and rebias.
    rounded = a + np.uint32(0xFFF) + ((a >> np.uint32(13)) & np.uint32(1))
    return np.uint16(sign | ((rounded - np.uint32(0x38000000)) >> np.uint32(13)))


def _accumulate(out, table, row, d, v, soft):  # untyped: numba compares the signatures
    """``out[row, d] += v`` in ``out``'s dtype, as TF's kernel (compiled: the overload);
    ``soft``: flush in software (else the CPU does, see :func:`_fz`)."""
    raise NotImplementedError  # only the numba overload below is ever called


@overload(_accumulate)
def _accumulate_overload(out, table, row, d, v, soft):
    if out.dtype == types.float32:
        def add_float32(out, table, row, d, v, soft):
            out[row, d] = _fz(soft, out[row, d] + v)
        return add_float32
    if out.dtype == types.float64:
        def add_float64(out, table, row, d, v, soft):
            out[row, d] = out[row, d] + np.float64(v)  # exact widening, plain float64 sum
        return add_float64
    if out.dtype == types.uint16:  # float16 bits
        def add_float16(out, table, row, d, v, soft):
            # The term rounds to half first (static_cast<T>), then Eigen's half +=:
            # float32 sum of two exact halves, rounded once to half.
            term = table[np.int64(_half_bits(v))]
            out[row, d] = _half_bits(table[np.int64(out[row, d])] + term)
        return add_float16
    return None


def _pixel(pixels, table, row, d):
    """``float32(pixels[row, d])`` (compiled: the overload)."""
    raise NotImplementedError


@overload(_pixel)
def _pixel_overload(pixels, table, row, d):
    if pixels.dtype == types.uint16:  # uint16 image or float16 bits: table lookup
        def lookup(pixels, table, row, d):
            return table[np.int64(pixels[row, d])]
        return lookup

    def convert(pixels, table, row, d):
        return np.float32(pixels[row, d])  # round to nearest (int64, float64)
    return convert


@numba.njit
def _inside(c: Any, limit: Any) -> bool:
    return c >= 0 and c <= limit  # NaN is outside (validated input has none anyway)


@numba.njit
def _unit_channels(u: int, chunks: int, depth: int) -> tuple[int, Any, Any]:
    # Unsigned channel bounds: numba then knows the channel index is never negative,
    # drops its wraparound code, and LLVM vectorizes the channel loops.
    b = u // chunks
    k = u - b * chunks
    return b, np.uint64(k * depth // chunks), np.uint64((k + 1) * depth // chunks)


@numba.njit
def _floor_ceil(c: Any) -> tuple[Any, int, int]:
    """``float32(floor(c)), floor(c), ceil(c)`` for ``0 <= c <= 2**24`` (an inside
    sample): truncation is floor there, and inline (``math.floor`` is a libm call)."""
    low = int(c)
    low_f = np.float32(low)
    return low_f, low, low + 1 if c > low_f else low


@numba.njit
def _nearest_index(c: Any) -> int:
    low_f, low, _ = _floor_ceil(c)
    return low + 1 if c - low_f >= _HALF else low  # round half up (as TF's round, c >= 0)


@numba.njit(inline="always")
def _corner(out, table, flat, g, row, d0, d1, wy, wx, soft):
    # One corner's share of sample row ``g``, channels d0 .. d1-1: TF's
    # ``wx * (wy * grad)`` (dtop = (1 - y_lerp) * grad, then (1 - x_lerp) * dtop, ...).
    for d in range(d0, d1):
        term = _fz(soft, wx * _fz(soft, wy * _fz(soft, flat[g, d])))
        _accumulate(out, table, row, d, term, soft)


@numba.njit(inline="always")
def _image_grad(grads, order, starts, in_y, in_x, height, width, chunks, table, out, u0, u1,
                nearest, soft):
    # Both methods' loops, inlined into each kernel below with a constant ``nearest``
    # (LLVM then drops the other method's branches).
    ch = grads.shape[1]
    cw = grads.shape[2]
    depth = grads.shape[3]
    ymax = np.float32(height - 1)
    xmax = np.float32(width - 1)
    # One row per sample, unsigned indices: no per-sample array views (their reference
    # counts are atomics shared by all threads) and vectorized channel loops.
    flat = grads.reshape((grads.shape[0] * ch * cw, depth))
    for u in range(u0, u1):
        b, d0, d1 = _unit_channels(u, chunks, depth)
        base = b * height * width
        for j in range(starts[b], starts[b + 1]):
            i = order[j]
            for y in range(ch):
                cy = in_y[i, y]
                if not _inside(cy, ymax):
                    continue  # TF skips extrapolated samples
                top_f, top, bottom = _floor_ceil(cy)
                top = base + (_nearest_index(cy) if nearest else top) * width
                bottom = base + bottom * width
                yl = cy - top_f
                one_yl = _fz(soft, _ONE - yl)
                for x in range(cw):
                    cx = in_x[i, x]
                    if not _inside(cx, xmax):
                        continue
                    g = np.uint64((i * ch + y) * cw + x)
                    if nearest:
                        target = np.uint64(top + _nearest_index(cx))
                        for d in range(d0, d1):
                            _accumulate(out, table, target, d, _fz(soft, flat[g, d]), soft)
                        continue
                    left_f, left, right = _floor_ceil(cx)
                    xl = cx - left_f
                    one_xl = _fz(soft, _ONE - xl)
                    if d1 - d0 < _FEW_CHANNELS:
                        # Few channels: one loop, the four corners in TF's order.
                        tl = np.uint64(top + left)
                        tr = np.uint64(top + right)
                        bl = np.uint64(bottom + left)
                        br = np.uint64(bottom + right)
                        for d in range(d0, d1):
                            gv = _fz(soft, flat[g, d])
                            dtop = _fz(soft, one_yl * gv)
                            dbottom = _fz(soft, yl * gv)
                            _accumulate(out, table, tl, d, _fz(soft, one_xl * dtop), soft)
                            _accumulate(out, table, tr, d, _fz(soft, xl * dtop), soft)
                            _accumulate(out, table, bl, d, _fz(soft, one_xl * dbottom), soft)
                            _accumulate(out, table, br, d, _fz(soft, xl * dbottom), soft)
                        continue
                    # One pass per corner: for a fixed (pixel, channel) the additions still
                    # come in TF's order TL, TR, BL, BR (corners may share a pixel), and
                    # each pass is a simple (vectorized) loop over contiguous channels.
                    tl, tr = np.uint64(top + left), np.uint64(top + right)
                    bl, br = np.uint64(bottom + left), np.uint64(bottom + right)
                    _corner(out, table, flat, g, tl, d0, d1, one_yl, one_xl, soft)
                    _corner(out, table, flat, g, tr, d0, d1, one_yl, xl, soft)
                    _corner(out, table, flat, g, bl, d0, d1, yl, one_xl, soft)
                    _corner(out, table, flat, g, br, d0, d1, yl, xl, soft)


@numba.njit(nogil=True, cache=True)
def image_grad_bilinear(grads, order, starts, in_y, in_x, height, width, chunks, table, out,
                        u0, u1):
    """Bilinear image gradient of units ``u0 .. u1-1`` into ``out``.

    ``grads`` float32 ``(n, ch, cw, D)``; ``order``/``starts`` int64: the boxes of image
    ``b`` are ``order[starts[b]:starts[b+1]]`` in increasing box order; ``in_y`` /
    ``in_x`` float32 ``(n, ch)`` / ``(n, cw)`` forward sample coordinates; ``out``
    ``(B * H * W, D)`` float32, float64 or uint16 (float16 bits; ``table`` decodes them),
    zeroed by the caller. Unit ``u`` is image ``u // chunks`` and its channel chunk
    ``u % chunks`` (of ``chunks`` near-equal chunks).
    """
    _image_grad(grads, order, starts, in_y, in_x, height, width, chunks, table, out, u0, u1,
                False, True)


@numba.njit(nogil=True, cache=True)
def image_grad_nearest(grads, order, starts, in_y, in_x, height, width, chunks, table, out,
                       u0, u1):
    """Nearest-neighbour image gradient; arguments as :func:`image_grad_bilinear`."""
    _image_grad(grads, order, starts, in_y, in_x, height, width, chunks, table, out, u0, u1,
                True, True)


if fpenv.HARDWARE_FLUSH:
    @numba.njit(nogil=True, cache=True)
    def image_grad_bilinear_hw(grads, order, starts, in_y, in_x, height, width, chunks,
                               table, out, u0, u1):
        """:func:`image_grad_bilinear` under the CPU's flush-to-zero (``fpenv``)."""
        old = fpenv.flush_to_zero()
        _image_grad(grads, order, starts, in_y, in_x, height, width, chunks, table, out, u0,
                    u1, False, False)
        fpenv.restore(old)

    @numba.njit(nogil=True, cache=True)
    def image_grad_nearest_hw(grads, order, starts, in_y, in_x, height, width, chunks,
                              table, out, u0, u1):
        """:func:`image_grad_nearest` under the CPU's flush-to-zero (``fpenv``)."""
        old = fpenv.flush_to_zero()
        _image_grad(grads, order, starts, in_y, in_x, height, width, chunks, table, out, u0,
                    u1, True, False)
        fpenv.restore(old)
else:
    image_grad_bilinear_hw = image_grad_bilinear
    image_grad_nearest_hw = image_grad_nearest


@numba.njit
def _tiny(s: Any) -> Any:
    return np.int32(abs(s) < _FLT_MIN) & np.int32(s != 0)


@numba.njit
def _add_wide(s: Any, grad: Any, half: float) -> Any:
    # A crop-size-1 axis: TF adds the float64 term grad * 0.5 * (size - 1) (exact) to
    # the float32 sum, rounding once ("float += double").
    return np.float32(np.float64(s) + np.float64(grad) * half)


# The box kernel's helpers below are plain functions that LLVM inlines: numba's own
# inlining (inline="always") re-typed them at every call site, and one box kernel took
# about 17 s to compile instead of 4 (docs/performance.md).
@numba.njit
def _sum_step(s_y1, s_x1, s_y2, s_x2, t_y1, t_x1, t_y2, t_x2, ch, cw, half_y, half_x, flush,
              soft):
    """One channel's additions to the four sums (``t_*``: the flushed float32 terms; on a
    crop-size-1 axis ``t_y1`` / ``t_x1`` is the gradient itself, see :func:`_add_wide`)."""
    if ch == 1:
        s_y1 = _add_wide(s_y1, t_y1, half_y)
        s_y2 = _add_wide(s_y2, t_y1, half_y)
    else:
        s_y1 = s_y1 + t_y1
        s_y2 = s_y2 + t_y2
    if cw == 1:
        s_x1 = _add_wide(s_x1, t_x1, half_x)
        s_x2 = _add_wide(s_x2, t_x1, half_x)
    else:
        s_x1 = s_x1 + t_x1
        s_x2 = s_x2 + t_x2
    if flush:
        return _fz(soft, s_y1), _fz(soft, s_x1), _fz(soft, s_y2), _fz(soft, s_x2)
    return s_y1, s_x1, s_y2, s_x2


@numba.njit
def _terms(pixels, table, flat, g, r_tl, r_tr, r_bl, r_br, d, xl, one_xl, yl, one_yl, soft):
    """Channel ``d`` of sample ``g``: TF's ``(dy, dx)`` image-gradient terms times the
    upstream gradient, flushed after every operation (``soft``) or by the CPU."""
    tl = _fz(soft, _pixel(pixels, table, r_tl, d))
    tr = _fz(soft, _pixel(pixels, table, r_tr, d))
    bl = _fz(soft, _pixel(pixels, table, r_bl, d))
    br = _fz(soft, _pixel(pixels, table, r_br, d))
    gv = _fz(soft, flat[g, d])
    dy = _fz(soft, _fz(soft, one_xl * _fz(soft, bl - tl)) + _fz(soft, xl * _fz(soft, br - tr)))
    dx = _fz(soft, _fz(soft, one_yl * _fz(soft, tr - tl)) + _fz(soft, yl * _fz(soft, br - bl)))
    return _fz(soft, dy * gv), _fz(soft, dx * gv)


@numba.njit
def _box_sums(flat, pixels, table, i, base, ch, cw, in_y, in_x, wy_lo, wy_hi, wx_lo, wx_hi,
              height, width, terms, partial, flush, soft):
    """Box ``i``'s four sums ``(y1, x1, y2, x2)`` and whether a partial sum was subnormal.

    Without ``flush`` the sums skip their flushes -- the flush is then off the sums'
    dependency chain -- and every partial sum is checked: if none was subnormal, every
    skipped flush was the identity (same bits); else the caller reruns the box with
    ``flush``. Per sample with many channels, three passes over them: the four terms of
    every channel (independent, vectorized), the four sequential sums, the (vectorized)
    check; with few channels, one loop.
    """
    depth = np.uint64(flat.shape[1])
    ymax = np.float32(height - 1)
    xmax = np.float32(width - 1)
    half_y = 0.5 * (height - 1)
    half_x = 0.5 * (width - 1)
    s_y1 = np.float32(0.0)
    s_x1 = np.float32(0.0)
    s_y2 = np.float32(0.0)
    s_x2 = np.float32(0.0)
    tiny = np.int32(0)
    for y in range(ch):
        cy = in_y[i, y]
        if not _inside(cy, ymax):
            continue  # TF skips extrapolated samples
        top_f, top, bottom = _floor_ceil(cy)
        top = base + top * width
        bottom = base + bottom * width
        yl = cy - top_f
        one_yl = _fz(soft, _ONE - yl)
        w_y1 = wy_lo[y]
        w_y2 = wy_hi[y]
        for x in range(cw):
            cx = in_x[i, x]
            if not _inside(cx, xmax):
                continue
            left_f, left, right = _floor_ceil(cx)
            xl = cx - left_f
            one_xl = _fz(soft, _ONE - xl)
            w_x1 = wx_lo[x]
            w_x2 = wx_hi[x]
            g = np.uint64((i * ch + y) * cw + x)
            r_tl = np.uint64(top + left)
            r_tr = np.uint64(top + right)
            r_bl = np.uint64(bottom + left)
            r_br = np.uint64(bottom + right)
            if flush or depth < _FEW_CHANNELS:  # (the rare flushed rerun: the short code)
                for d in range(depth):
                    gy, gx = _terms(pixels, table, flat, g, r_tl, r_tr, r_bl, r_br, d, xl,
                                    one_xl, yl, one_yl, soft)
                    s_y1, s_x1, s_y2, s_x2 = _sum_step(
                        s_y1, s_x1, s_y2, s_x2, gy if ch == 1 else _fz(soft, gy * w_y1),
                        gx if cw == 1 else _fz(soft, gx * w_x1), _fz(soft, gy * w_y2),
                        _fz(soft, gx * w_x2), ch, cw, half_y, half_x, flush, soft)
                    if soft and not flush:
                        tiny |= _tiny(s_y1) | _tiny(s_x1) | _tiny(s_y2) | _tiny(s_x2)
                continue
            for d in range(depth):
                gy, gx = _terms(pixels, table, flat, g, r_tl, r_tr, r_bl, r_br, d, xl, one_xl,
                                yl, one_yl, soft)
                terms[0, d] = gy if ch == 1 else _fz(soft, gy * w_y1)
                terms[1, d] = gx if cw == 1 else _fz(soft, gx * w_x1)
                terms[2, d] = _fz(soft, gy * w_y2)
                terms[3, d] = _fz(soft, gx * w_x2)
            for d in range(depth):
                s_y1, s_x1, s_y2, s_x2 = _sum_step(
                    s_y1, s_x1, s_y2, s_x2, terms[0, d], terms[1, d], terms[2, d],
                    terms[3, d], ch, cw, half_y, half_x, flush, soft)
                if soft and not flush:
                    partial[0, d] = s_y1
                    partial[1, d] = s_x1
                    partial[2, d] = s_y2
                    partial[3, d] = s_x2
            if soft and not flush:
                hit = np.int32(0)
                for d in range(depth):
                    hit |= (_tiny(partial[0, d]) | _tiny(partial[1, d])
                            | _tiny(partial[2, d]) | _tiny(partial[3, d]))
                tiny |= hit
    return s_y1, s_x1, s_y2, s_x2, tiny != 0


@numba.njit
def _box_grad(grads, pixels, table, box_image, in_y, in_x, wy_lo, wy_hi, wx_lo, wx_hi,
              height, width, out, i0, i1, soft):
    n, ch, cw, depth = grads.shape
    flat = grads.reshape((n * ch * cw, depth))  # as in image_grad_bilinear
    terms = np.empty((4, depth), np.float32)  # per-sample scratch, O(depth)
    partial = np.empty((4, depth), np.float32)
    for i in range(i0, i1):
        base = box_image[i] * height * width
        s_y1, s_x1, s_y2, s_x2, tiny = _box_sums(
            flat, pixels, table, i, base, ch, cw, in_y, in_x, wy_lo, wy_hi, wx_lo, wx_hi,
            height, width, terms, partial, False, soft)
        if tiny:  # TF flushed a partial sum: redo this box with every flush
            s_y1, s_x1, s_y2, s_x2, _ = _box_sums(
                flat, pixels, table, i, base, ch, cw, in_y, in_x, wy_lo, wy_hi, wx_lo,
                wx_hi, height, width, terms, partial, True, soft)
        out[i, 0] = s_y1
        out[i, 1] = s_x1
        out[i, 2] = s_y2
        out[i, 3] = s_x2


@numba.njit(nogil=True, cache=True)
def box_grad(grads, pixels, table, box_image, in_y, in_x, wy_lo, wy_hi, wx_lo, wx_hi,
             height, width, out, i0, i1):
    """Box gradient of boxes ``i0 .. i1-1`` into float32 ``out`` ``(n, 4)``.

    ``grads`` float32 ``(n, ch, cw, D)``; ``pixels`` ``(B * H * W, D)`` of the image's
    dtype (uint16 for float16 bits and uint16 images, decoded by the float32 ``table``);
    ``box_image`` int64 ``(n,)``; ``in_y`` / ``in_x`` float32 ``(n, ch)`` / ``(n, cw)`` the
    box gradient's own sample coordinates; ``wy_lo``/``wy_hi`` float32 ``(ch,)`` the
    per-row weights of ``d[y1]``/``d[y2]`` (unused when ``ch == 1``), ``wx_*`` likewise.
    """
    _box_grad(grads, pixels, table, box_image, in_y, in_x, wy_lo, wy_hi, wx_lo, wx_hi,
              height, width, out, i0, i1, True)


if fpenv.HARDWARE_FLUSH:
    @numba.njit(nogil=True, cache=True)
    def box_grad_hw(grads, pixels, table, box_image, in_y, in_x, wy_lo, wy_hi, wx_lo,
                    wx_hi, height, width, out, i0, i1):
        """:func:`box_grad` computed with the CPU's flush-to-zero (``fpenv``) instead of
        the explicit flushes: the same bits, several times faster for few channels."""
        old = fpenv.flush_to_zero()
        _box_grad(grads, pixels, table, box_image, in_y, in_x, wy_lo, wy_hi, wx_lo, wx_hi,
                  height, width, out, i0, i1, False)
        fpenv.restore(old)
else:
    box_grad_hw = box_grad


@numba.njit(nogil=True, cache=True)
def half_bits(values, out):
    """``out[k] = float16 bits of float32 values[k]`` (to test :func:`_half_bits`)."""
    for k in range(values.shape[0]):
        out[k] = _half_bits(values[k])
