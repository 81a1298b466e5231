"""XLA FFI handlers (numba ``@cfunc``s) that run xcrop's numba kernels inside a compiled
JAX program, on XLA's buffers (``_backends.jax_ffi`` registers and calls them).

Targets (all operands row-major, as ``jax.ffi.ffi_call`` passes them by default):

* crop, one handler per image dtype: operands ``image (B, H, W, D)``, ``boxes (n, 4)``
  float32, ``box_indices (n,)`` int32 or int64; result float32 ``(n, ch, cw, D)``;
  attributes ``fill`` (float32), ``method`` (int32: 0 bilinear, 1 nearest);
* glimpse: operands ``input (B, H, W, D)`` float32, ``offsets (B, 2)`` float32; result
  float32 ``(B, h, w, D)``; attributes ``centered``, ``noise`` (0 uniform, 1 gaussian,
  2 zero), ``normalized``, ``version`` (int32) and ``seed`` (uint64);
* check: operands ``boxes``, ``box_indices``; result a copy of ``box_indices``;
  attributes ``batch``, ``ch``, ``cw``, ``height``, ``width`` (int64): the value checks of
  the gradients, whose output feeds the (generic) gradient so that they always run.

Every operand may carry extra leading dimensions, the same number on all of them, each
either 1 or the result's (``vmap_method="expand_dims"``): the handler loops over the
result's leading index, broadcasting the operands of size 1, so ``jax.vmap`` needs no
Python loop and no copy.

What the handlers compute is what the eager paths compute: the sample coordinates by TF's
float32 recipe (``_core.coordinates``, ported below operation for operation), the crop
plan (``_reference.indexing.crop_plan``), then the same kernels (``crop``, ``random``) the
NumPy fast paths run. Value errors (box index out of range, non-finite box, coordinates
overflowing float32) are found in TF's order before anything is written and returned as
an XLA FFI error with xcrop's message (``_core.validation``'s words). Python formats it,
called back through a C symbol this module defines: only on that error path does a
handler take the GIL. (Not numba's object mode: its blocks, loaded from numba's disk
cache, called the wrong function, and the error was lost.)

The handlers are compiled on first use, one per target, and cached on disk like the
kernels (``cache=True``).
"""

from __future__ import annotations

import ctypes
import math
from typing import Any

import numba
import numpy as np
from llvmlite import binding as llvm
from numba import types

from ..._core import random as core_random
from ..._reference.extract_glimpse import GAUSSIAN_STREAM, UNIFORM_STREAM
from . import crop as K
from . import random as R
from .xla_ffi import (
    BOX_ERROR_SYMBOL,
    CALL_FRAME_WORDS,
    ERR_INVALID_ARGUMENT,
    ERR_OUT_OF_RANGE,
    ERROR_CREATE_ARGS_SIZE,
    F32,
    F64,
    PROCEED,
    S8,
    S16,
    S32,
    S64,
    U8,
    U16,
    U64,
    address,
    arg_buffer,
    begin,
    box_error_callback,
    buffer_dims,
    buffer_dtype,
    error,
    internal_error,
    pointer,
    ret_buffer,
    scalar_attr,
    text,
    typed,
    words,
)

__all__ = ["HANDLERS", "handler"]

f32 = np.float32
_ZERO = f32(0.0)
_FLT_MIN = f32(2.0**-126)
_M32 = np.uint64(0xFFFFFFFF)
_PARITY = np.uint64(core_random.SKEIN_PARITY)
#: Error kinds reported through :func:`_format`.
BOX_INDEX, NON_FINITE, OVERFLOW = 1, 2, 3
BILINEAR, NEAREST = 0, 1


# ----------------------------------------------------------------------------------------
# error messages: Python, called back on the error path only
# ----------------------------------------------------------------------------------------

class _ErrorCreateArgs(ctypes.Structure):
    # XLA_FFI_Error_Create_Args
    _fields_ = [("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p),
                ("message", ctypes.c_char_p), ("errc", ctypes.c_int)]


_ERROR_CREATE = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.POINTER(_ErrorCreateArgs))


def box_error_message(kind: int, i: int, value: int, batch: int, row: list[float],
                      gradient: bool) -> str:
    """xcrop's message for bad box ``i`` (``_core.validation``'s words)."""
    from ..._core import validation as V

    if kind == BOX_INDEX:
        return V.box_index_message(batch, i, value)
    if kind == NON_FINITE:
        return V.non_finite_message(i, row, V.OVERRUN if gradient else "")
    return V.overflow_message(i, row)


def _box_error(api: int, kind: int, i: int, value: int, batch: int, y1: float, x1: float,
               y2: float, x2: float, gradient: int) -> int:
    # ctypes acquires the GIL for this call. An exception must not escape into XLA (ctypes
    # would print and return 0): the handler then reports a message of its own.
    try:
        text = box_error_message(kind, i, value, batch, [y1, x1, y2, x2], bool(gradient))
        create = _ERROR_CREATE(ctypes.c_void_p.from_address(api + 6 * 8).value)
        args = _ErrorCreateArgs(ERROR_CREATE_ARGS_SIZE, None, text.encode(),
                                ERR_OUT_OF_RANGE if kind == BOX_INDEX else ERR_INVALID_ARGUMENT)
        return int(create(ctypes.byref(args)) or 0)  # XLA_FFI_Error_Create copies the text
    except BaseException:
        return 0


_BOX_ERROR_TYPE = ctypes.CFUNCTYPE(ctypes.c_int64, *[ctypes.c_int64] * 5,
                                   *[ctypes.c_double] * 4, ctypes.c_int64)
_box_error_c = _BOX_ERROR_TYPE(_box_error)  # kept alive as long as the module
llvm.add_symbol(BOX_ERROR_SYMBOL, ctypes.cast(_box_error_c, ctypes.c_void_p).value)


@numba.njit(cache=True)
def _report(api: int, kind: int, i: int, value: int, batch: int, boxes: Any,
            gradient: bool) -> int:
    """The error for bad box ``i``: xcrop's message, or a shorter one of the handler's own
    should Python fail to make it."""
    err = box_error_callback(api, kind, i, value, batch, np.float64(boxes[i, 0]),
                             np.float64(boxes[i, 1]), np.float64(boxes[i, 2]),
                             np.float64(boxes[i, 3]), 1 if gradient else 0)
    if err != 0:
        return err
    if kind == BOX_INDEX:
        return error(api, text("box_indices has values outside [0, batch_size)"),
                     ERR_OUT_OF_RANGE)
    if kind == NON_FINITE:
        return error(api, text("boxes must be finite"), ERR_INVALID_ARGUMENT)
    return error(api, text("boxes overflow float32 when mapped to image coordinates"),
                 ERR_INVALID_ARGUMENT)


# ----------------------------------------------------------------------------------------
# the sample coordinates and the value checks
# ----------------------------------------------------------------------------------------

@numba.njit(inline="always")
def _ftz(v: Any) -> Any:
    if abs(v) < _FLT_MIN:
        return f32(np.copysign(_ZERO, v))
    return v


@numba.njit(inline="always")
def _coordinates(lo: Any, hi: Any, size: int, out: Any) -> None:
    """``_core.coordinates.sample_coordinates`` for one box along one axis, into ``out``
    (its length is the crop extent): the same float32 operations, the same flushes."""
    count = out.shape[0]
    extent = f32(size - 1)
    lo, hi = _ftz(lo), _ftz(hi)
    if count == 1:
        out[0] = _ftz(_ftz(lo + hi) * f32(0.5 * (size - 1)))
        return
    scale = _ftz(_ftz(_ftz(hi - lo) * extent) / f32(count - 1))
    start = _ftz(lo * extent)
    for k in range(count):
        out[k] = _ftz(start + _ftz(f32(k) * scale))


@numba.njit(cache=True)
def check_boxes(api: int, boxes: Any, box_indices: Any, batch: int, height: int, width: int,
                in_y: Any, in_x: Any, gradient: bool) -> int:
    """``_core.validation``'s value checks in TF's order (every box index, then every
    box's finiteness, then the coordinates) while filling the sample coordinates
    ``in_y (n, ch)``, ``in_x (n, cw)``. Returns 0 or the error."""
    n = boxes.shape[0]
    for i in range(n):
        if box_indices[i] < 0 or box_indices[i] >= batch:
            return _report(api, BOX_INDEX, i, box_indices[i], batch, boxes, gradient)
    for i in range(n):
        for j in range(4):
            if not np.isfinite(boxes[i, j]):
                return _report(api, NON_FINITE, i, 0, batch, boxes, gradient)
    for i in range(n):
        _coordinates(boxes[i, 0], boxes[i, 2], height, in_y[i])
        _coordinates(boxes[i, 1], boxes[i, 3], width, in_x[i])
        undefined = False
        for k in range(in_y.shape[1]):
            undefined |= np.isnan(in_y[i, k])
        for k in range(in_x.shape[1]):
            undefined |= np.isnan(in_x[i, k])
        if undefined:
            return _report(api, OVERFLOW, i, 0, batch, boxes, gradient)
    return 0


# ----------------------------------------------------------------------------------------
# crop
# ----------------------------------------------------------------------------------------

@numba.njit(inline="always")
def _clamped(v: Any, size: int) -> int:
    # _reference.indexing.clamped_index for an integral float32 v (never NaN here).
    if v <= 0:
        return 0
    if v >= size - 1:
        return size - 1
    return np.int64(v)


@numba.njit(inline="always")
def _grain(coords: Any) -> int:
    """``exactness.coordinate_grain(exactness.min_fractional_abs(coords))``."""
    smallest = np.inf
    for i in range(coords.shape[0]):
        for k in range(coords.shape[1]):
            c = abs(np.float64(coords[i, k]))
            if c != math.floor(c) and c < smallest:
                smallest = c
    if smallest == np.inf:
        return 0
    return min(0, math.frexp(smallest)[1] - 1 - 23)


@numba.njit(cache=True)
def crop_example(api: int, pixels: Any, height: int, width: int, boxes: Any, box_indices: Any,
                 out: Any, method: int, fill: Any, integer: bool, wide: bool) -> int:
    """One crop: ``pixels (B*H*W, D)`` of the image's dtype, ``boxes (n, 4)``,
    ``box_indices (n,)`` int64, into ``out (n, ch, cw, D)`` float32. Returns 0 or the
    value error (``out`` untouched then). ``integer``: an integer image; ``wide``: float64."""
    n, ch, cw = out.shape[0], out.shape[1], out.shape[2]
    batch = pixels.shape[0] // (height * width)
    in_y = np.empty((n, ch), np.float32)
    in_x = np.empty((n, cw), np.float32)
    err = check_boxes(api, boxes, box_indices, batch, height, width, in_y, in_x, False)
    if err != 0:
        return err
    # The plan of _reference.indexing.crop_plan.
    rows_a = np.empty((n, ch), np.int64)
    rows_b = np.empty((n, ch), np.int64)
    cols_a = np.empty((n, cw), np.int64)
    cols_b = np.empty((n, cw), np.int64)
    y_lerp = np.empty((n, ch), np.float32)
    x_lerp = np.empty((n, cw), np.float32)
    inside_y = np.empty((n, ch), np.bool_)
    inside_x = np.empty((n, cw), np.bool_)
    for i in range(n):
        base = box_indices[i] * (height * width)
        for y in range(ch):
            c = in_y[i, y]
            inside_y[i, y] = c >= 0 and c <= height - 1
            low = np.floor(c)
            if method == NEAREST:
                r = low + f32(1) if c - low >= f32(0.5) else low  # round_half_up
                rows_a[i, y] = base + _clamped(r, height) * width
            else:
                rows_a[i, y] = base + _clamped(low, height) * width
                rows_b[i, y] = base + _clamped(np.ceil(c), height) * width
                y_lerp[i, y] = c - low
        for x in range(cw):
            c = in_x[i, x]
            inside_x[i, x] = c >= 0 and c <= width - 1
            low = np.floor(c)
            if method == NEAREST:
                r = low + f32(1) if c - low >= f32(0.5) else low
                cols_a[i, x] = _clamped(r, width)
            else:
                cols_a[i, x] = _clamped(low, width)
                cols_b[i, x] = _clamped(np.ceil(c), width)
                x_lerp[i, x] = c - low
    if method == NEAREST:
        K.nearest(pixels, rows_a, cols_a, inside_y, inside_x, fill, wide, out, 0, n)
        return 0
    # _backends.exactness: the lerps without flushes are exact when no value of the
    # computation can be subnormal (integer images: a bound on the weights alone; float
    # images: a threshold on the smallest nonzero pixel, one scan).
    grains = _grain(in_y) + _grain(in_x)
    if integer:
        unflushed = grains >= -126
    else:
        e = -126 + 23 - grains
        flat = pixels.reshape(-1)
        if e > 127:
            unflushed = False
        elif wide:
            unflushed = not K.any_tiny(flat, 2.0**e)
        else:
            unflushed = not K.any_tiny(flat, f32(2.0**e))
    if unflushed:
        K.bilinear_plain(pixels, rows_a, rows_b, cols_a, cols_b, y_lerp, x_lerp, inside_y,
                         inside_x, fill, out, 0, n)
    else:
        K.bilinear_flushed(pixels, rows_a, rows_b, cols_a, cols_b, y_lerp, x_lerp, inside_y,
                           inside_x, fill, out, 0, n)
    return 0


@numba.njit(inline="always")
def _leading(buf: Any, rank: int, lead: Any) -> Any:
    """For an operand of base rank ``rank``: whether its leading dimensions broadcast to
    the result's ``lead``, and per leading axis its size (1: broadcast)."""
    dims = buffer_dims(buf)
    if dims.shape[0] != rank + lead.shape[0]:
        return dims[:0], False
    for k in range(lead.shape[0]):
        if dims[k] != 1 and dims[k] != lead[k]:
            return dims[:0], False
    return dims[:lead.shape[0]], True


@numba.njit(inline="always")
def _example(dims: Any, lead: Any, v: int) -> int:
    """Index, among an operand's examples (its leading dims ``dims``), of the one that
    result example ``v`` (a flat index over ``lead``) reads."""
    index = 0
    stride = 1
    for k in range(lead.shape[0] - 1, -1, -1):
        c = v % lead[k]
        v //= lead[k]
        if dims[k] != 1:
            index += c * stride
        stride *= dims[k]
    return index


@numba.njit(inline="always")
def _count(dims: Any) -> int:
    n = 1
    for k in range(dims.shape[0]):
        n *= dims[k]
    return n


@numba.njit(inline="always")
def _read_indices(addr: int, code: int, k: int, out: Any) -> None:
    # Example k's box indices (int32 or int64) as int64.
    n = out.shape[0]
    if code == S32:
        src32 = typed(addr, (k + 1, n), np.int32(0))[k]
        for i in range(n):
            out[i] = src32[i]
    else:
        src64 = typed(addr, (k + 1, n), np.int64(0))[k]
        for i in range(n):
            out[i] = src64[i]


@numba.njit
def crop_frame(frame_addr: int, marker: Any, code: int, integer: bool, wide: bool) -> int:
    """The crop handler for images of ``marker``'s type (XLA dtype ``code``)."""
    frame = words(frame_addr, CALL_FRAME_WORDS)
    status = begin(frame)
    if status != PROCEED:
        return status
    api = frame[2]
    image, ok0 = arg_buffer(frame, 0)
    boxes, ok1 = arg_buffer(frame, 1)
    indices, ok2 = arg_buffer(frame, 2)
    result, ok3 = ret_buffer(frame, 0)
    fill_at = scalar_attr(frame, 0, F32)
    method_at = scalar_attr(frame, 1, S32)
    if not (ok0 and ok1 and ok2 and ok3) or frame[7] != 3 or frame[12] != 1:
        return internal_error(api, "crop: expected 3 operands and 1 result")
    if fill_at == 0 or method_at == 0:
        return internal_error(api, "crop: expected attributes fill (f32), method (s32)")
    index_code = buffer_dtype(indices)
    if (buffer_dtype(image) != code or buffer_dtype(boxes) != F32
            or buffer_dtype(result) != F32 or (index_code != S32 and index_code != S64)):
        return internal_error(api, "crop: unexpected operand dtypes")
    fill = typed(fill_at, (1,), f32(0))[0]
    method = typed(method_at, (1,), np.int32(0))[0]
    out_dims = buffer_dims(result)
    if out_dims.shape[0] < 4:
        return internal_error(api, "crop: result rank below 4")
    lead = out_dims[:out_dims.shape[0] - 4]
    image_lead, ok0 = _leading(image, 4, lead)
    boxes_lead, ok1 = _leading(boxes, 2, lead)
    index_lead, ok2 = _leading(indices, 1, lead)
    if not (ok0 and ok1 and ok2):
        return internal_error(api, "crop: operands do not broadcast to the result")
    nl = lead.shape[0]
    image_dims = buffer_dims(image)
    batch, height, width, depth = (image_dims[nl], image_dims[nl + 1], image_dims[nl + 2],
                                   image_dims[nl + 3])
    n, ch, cw = out_dims[nl], out_dims[nl + 1], out_dims[nl + 2]
    if buffer_dims(boxes)[nl] != n or buffer_dims(indices)[nl] != n or out_dims[nl + 3] != depth:
        return internal_error(api, "crop: operand shapes disagree")
    examples = _count(lead)
    if examples == 0 or n == 0 or depth == 0:
        return 0
    all_pixels = typed(image[3], (_count(image_lead), batch * height * width, depth), marker)
    all_boxes = typed(boxes[3], (_count(boxes_lead), n, 4), f32(0))
    all_out = typed(result[3], (examples, n, ch, cw, depth), f32(0))
    box_indices = np.empty(n, np.int64)
    for v in range(examples):
        _read_indices(indices[3], index_code, _example(index_lead, lead, v), box_indices)
        err = crop_example(api, all_pixels[_example(image_lead, lead, v)], height, width,
                           all_boxes[_example(boxes_lead, lead, v)], box_indices,
                           all_out[v], method, fill, integer, wide)
        if err != 0:
            return err
    return 0


# One module-level handler per image dtype (module-level: numba caches them on disk).
# float16 images are converted to float32 before the call (exact), as the eager path does.

def _crop_uint8(frame: Any) -> Any:
    return pointer(crop_frame(address(frame), np.uint8(0), U8, True, False))


def _crop_uint16(frame: Any) -> Any:
    return pointer(crop_frame(address(frame), np.uint16(0), U16, True, False))


def _crop_int8(frame: Any) -> Any:
    return pointer(crop_frame(address(frame), np.int8(0), S8, True, False))


def _crop_int16(frame: Any) -> Any:
    return pointer(crop_frame(address(frame), np.int16(0), S16, True, False))


def _crop_int32(frame: Any) -> Any:
    return pointer(crop_frame(address(frame), np.int32(0), S32, True, False))


def _crop_int64(frame: Any) -> Any:
    return pointer(crop_frame(address(frame), np.int64(0), S64, True, False))


def _crop_float32(frame: Any) -> Any:
    return pointer(crop_frame(address(frame), np.float32(0), F32, False, False))


def _crop_float64(frame: Any) -> Any:
    return pointer(crop_frame(address(frame), np.float64(0), F64, False, True))


# ----------------------------------------------------------------------------------------
# glimpse
# ----------------------------------------------------------------------------------------

@numba.njit(inline="always")
def _window_start(offset: Any, size: int, window: int, version: int, centered: bool,
                  normalized: bool) -> Any:
    """``_reference.indexing.window_start`` for one offset (float32, Python scalars
    rounded to float32 as NumPy and JAX do with weak scalars)."""
    t = offset
    if version == 1:
        if normalized:
            t = t * f32(size)
        if centered:
            t = t / f32(2)
            t = t + f32(size / 2)
        return t - f32(window / 2)
    if normalized:
        t = t * f32(size)
        if centered:
            t = t / f32(2)
            t = t + f32(size / 2)
            t = t - f32(window / 2)
    elif centered:
        t = t + f32(size / 2)
    return t


@numba.njit(inline="always")
def _truncated(t: Any, far: int) -> int:
    """``_reference.indexing.truncated_start`` for one start."""
    bound = f32(far)
    if t != t:
        t = bound
    t = min(max(t, -bound), bound)
    return np.int64(np.int32(np.trunc(t)))


@numba.njit(inline="always")
def _portable_sqrt(x: Any) -> Any:
    """``_core.portable.portable_sqrt`` of one float32."""
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


@numba.njit(cache=True)
def _has_nan(flat: Any) -> bool:
    """Whether the 1-D float32 ``flat`` holds a NaN: branch-free blocks (vectorized, as
    ``crop.any_tiny``)."""
    for s in range(0, flat.shape[0], 4096):
        block = flat[s:s + 4096]
        hit = np.int32(0)
        for k in range(block.shape[0]):
            hit |= np.int32(block[k] != block[k])
        if hit:
            return True
    return False


@numba.njit(cache=True, fastmath={"nnan", "nsz"})
def _min_max_no_nan(flat: Any) -> Any:
    """``(min, max)`` of a NaN-free 1-D float32 array. ``nnan``/``nsz`` let LLVM vectorize
    the reductions; exact: min and max are exact in any order, and the sign of a zero
    extreme cannot change the uniform fill (``u * (hi - lo) + lo`` with ``hi - lo >= 0``)."""
    a = flat[0]
    z = flat[0]
    for k in range(1, flat.shape[0]):
        a = min(a, flat[k])
        z = max(z, flat[k])
    return a, z


@numba.njit(cache=True)
def glimpse_example(image: Any, offsets: Any, out: Any, version: int, centered: bool,
                    normalized: bool, kind: int, seed: Any) -> None:
    """One glimpse: ``image (B, H, W, D)`` float32, ``offsets (B, 2)``, into
    ``out (B, h, w, D)`` (every size positive): window starts, the fill's statistics
    for the batch elements that need fill (``_reference.extract_glimpse``'s rules), then
    the kernel of the eager path."""
    batch, height, width, depth = image.shape
    h, w = out.shape[1], out.shape[2]
    far = height + width + h + w + 1
    sy = np.empty(batch, np.int64)
    sx = np.empty(batch, np.int64)
    for b in range(batch):
        sy[b] = _truncated(_window_start(offsets[b, 0], height, h, version, centered,
                                         normalized), far)
        sx[b] = _truncated(_window_start(offsets[b, 1], width, w, version, centered,
                                         normalized), far)
    lo = np.zeros((batch, depth), np.float32)
    hi = np.zeros((batch, depth), np.float32)
    mean = np.zeros((batch, depth), np.float32)
    sigma = np.zeros((batch, depth), np.float32)
    pixels = image.reshape(batch, height * width, depth)
    for b in range(batch):
        if kind == R.ZERO or not (sy[b] < 0 or sx[b] < 0 or sy[b] + h > height
                                  or sx[b] + w > width):
            continue
        if kind == R.UNIFORM:  # min and max over the whole image (NaN propagates)
            flat = pixels[b].reshape(-1)
            if _has_nan(flat):
                lo[b, :] = np.nan
                hi[b, :] = np.nan
            else:
                lo[b, :], hi[b, :] = _min_max_no_nan(flat)
        else:  # per channel: min, max, and the portable mean and std
            for d in range(depth):
                lo[b, d] = pixels[b, 0, d]
                hi[b, d] = pixels[b, 0, d]
            for k in range(1, height * width):
                for d in range(depth):
                    lo[b, d] = R.np_min(lo[b, d], pixels[b, k, d])
                    hi[b, d] = R.np_max(hi[b, d], pixels[b, k, d])
            m = mean.reshape(batch, 1, depth)
            var = np.empty((batch, 1, depth), np.float32)
            R.pairwise(pixels, m, False, m, b, b + 1)
            R.pairwise(pixels, m, True, var, b, b + 1)
            for d in range(depth):
                sigma[b, d] = _portable_sqrt(var[b, 0, d])
    k0 = seed & _M32
    k1 = (seed >> np.uint64(32)) & _M32
    k2 = (k0 ^ k1 ^ _PARITY) & _M32
    stream = np.uint64(GAUSSIAN_STREAM if kind == R.GAUSSIAN else UNIFORM_STREAM)
    R.glimpse(kind, image.reshape(-1), (h, w, height, width, depth), sy, sx, k0, k1, k2,
              stream, 0, lo, hi, mean, sigma, out.reshape(-1), 0, batch * h)


@numba.njit
def glimpse_frame(frame_addr: int) -> int:
    """The glimpse handler."""
    frame = words(frame_addr, CALL_FRAME_WORDS)
    status = begin(frame)
    if status != PROCEED:
        return status
    api = frame[2]
    image, ok0 = arg_buffer(frame, 0)
    offsets, ok1 = arg_buffer(frame, 1)
    result, ok2 = ret_buffer(frame, 0)
    if not (ok0 and ok1 and ok2) or frame[7] != 2 or frame[12] != 1:
        return internal_error(api, "glimpse: expected 2 operands and 1 result")
    # Attributes in name order: centered, noise, normalized, seed, version.
    at = (scalar_attr(frame, 0, S32), scalar_attr(frame, 1, S32), scalar_attr(frame, 2, S32),
          scalar_attr(frame, 3, U64), scalar_attr(frame, 4, S32))
    for a in at:
        if a == 0:
            return internal_error(api, "glimpse: unexpected attributes")
    if (buffer_dtype(image) != F32 or buffer_dtype(offsets) != F32
            or buffer_dtype(result) != F32):
        return internal_error(api, "glimpse: unexpected operand dtypes")
    centered = typed(at[0], (1,), np.int32(0))[0] != 0
    kind = typed(at[1], (1,), np.int32(0))[0]
    normalized = typed(at[2], (1,), np.int32(0))[0] != 0
    seed = typed(at[3], (1,), np.uint64(0))[0]
    version = typed(at[4], (1,), np.int32(0))[0]
    out_dims = buffer_dims(result)
    if out_dims.shape[0] < 4:
        return internal_error(api, "glimpse: result rank below 4")
    lead = out_dims[:out_dims.shape[0] - 4]
    image_lead, ok0 = _leading(image, 4, lead)
    offsets_lead, ok1 = _leading(offsets, 2, lead)
    if not (ok0 and ok1):
        return internal_error(api, "glimpse: operands do not broadcast to the result")
    nl = lead.shape[0]
    dims = buffer_dims(image)
    batch, height, width, depth = dims[nl], dims[nl + 1], dims[nl + 2], dims[nl + 3]
    h, w = out_dims[nl + 1], out_dims[nl + 2]
    if out_dims[nl] != batch or out_dims[nl + 3] != depth:
        return internal_error(api, "glimpse: operand shapes disagree")
    examples = _count(lead)
    if examples == 0 or batch * height * width * depth * h * w == 0:
        return internal_error(api, "glimpse: empty operands are served elsewhere")
    images = typed(image[3], (_count(image_lead), batch, height, width, depth), f32(0))
    all_offsets = typed(offsets[3], (_count(offsets_lead), batch, 2), f32(0))
    outs = typed(result[3], (examples, batch, h, w, depth), f32(0))
    for v in range(examples):
        glimpse_example(images[_example(image_lead, lead, v)],
                        all_offsets[_example(offsets_lead, lead, v)], outs[v], version,
                        centered, normalized, kind, seed)
    return 0


def _glimpse(frame: Any) -> Any:
    return pointer(glimpse_frame(address(frame)))


# ----------------------------------------------------------------------------------------
# the gradients' value checks
# ----------------------------------------------------------------------------------------

@numba.njit
def check_frame(frame_addr: int) -> int:
    """The check handler: the gradients' value checks, then a copy of ``box_indices``."""
    frame = words(frame_addr, CALL_FRAME_WORDS)
    status = begin(frame)
    if status != PROCEED:
        return status
    api = frame[2]
    boxes, ok0 = arg_buffer(frame, 0)
    indices, ok1 = arg_buffer(frame, 1)
    result, ok2 = ret_buffer(frame, 0)
    if not (ok0 and ok1 and ok2) or frame[7] != 2 or frame[12] != 1:
        return internal_error(api, "check: expected 2 operands and 1 result")
    # Attributes in name order: batch, ch, cw, height, width.
    at = (scalar_attr(frame, 0, S64), scalar_attr(frame, 1, S64), scalar_attr(frame, 2, S64),
          scalar_attr(frame, 3, S64), scalar_attr(frame, 4, S64))
    for a in at:
        if a == 0:
            return internal_error(api, "check: unexpected attributes")
    batch = typed(at[0], (1,), np.int64(0))[0]
    ch = typed(at[1], (1,), np.int64(0))[0]
    cw = typed(at[2], (1,), np.int64(0))[0]
    height = typed(at[3], (1,), np.int64(0))[0]
    width = typed(at[4], (1,), np.int64(0))[0]
    code = buffer_dtype(indices)
    if buffer_dtype(boxes) != F32 or (code != S32 and code != S64) or buffer_dtype(result) != code:
        return internal_error(api, "check: unexpected operand dtypes")
    out_dims = buffer_dims(result)
    if out_dims.shape[0] < 1:
        return internal_error(api, "check: result rank below 1")
    lead = out_dims[:out_dims.shape[0] - 1]
    boxes_lead, ok0 = _leading(boxes, 2, lead)
    index_lead, ok1 = _leading(indices, 1, lead)
    if not (ok0 and ok1):
        return internal_error(api, "check: operands do not broadcast to the result")
    n = out_dims[lead.shape[0]]
    examples = _count(lead)
    all_boxes = typed(boxes[3], (_count(boxes_lead), n, 4), f32(0))
    box_indices = np.empty(n, np.int64)
    in_y = np.empty((n, ch), np.float32)
    in_x = np.empty((n, cw), np.float32)
    for v in range(examples):
        _read_indices(indices[3], code, _example(index_lead, lead, v), box_indices)
        err = check_boxes(api, all_boxes[_example(boxes_lead, lead, v)], box_indices, batch,
                          height, width, in_y, in_x, True)
        if err != 0:
            return err
        if code == S32:
            dst32 = typed(result[3], (examples, n), np.int32(0))[v]
            for i in range(n):
                dst32[i] = box_indices[i]
        else:
            dst64 = typed(result[3], (examples, n), np.int64(0))[v]
            for i in range(n):
                dst64[i] = box_indices[i]
    return 0


def _check(frame: Any) -> Any:
    return pointer(check_frame(address(frame)))


#: Target suffix -> the handler's Python function (compiled by :func:`handler`).
HANDLERS = {
    "crop_uint8": _crop_uint8, "crop_uint16": _crop_uint16, "crop_int8": _crop_int8,
    "crop_int16": _crop_int16, "crop_int32": _crop_int32, "crop_int64": _crop_int64,
    "crop_float32": _crop_float32, "crop_float64": _crop_float64,
    "glimpse": _glimpse, "check": _check,
}
_compiled: dict[str, Any] = {}
_SIGNATURE = types.voidptr(types.voidptr)


def handler(name: str) -> Any:
    """The compiled ``@cfunc`` of target ``name`` (a key of :data:`HANDLERS`); compiling
    or loading it from numba's cache the first time. Callers serialize calls (a lock)."""
    if name not in _compiled:
        _compiled[name] = numba.cfunc(_SIGNATURE, cache=True)(HANDLERS[name])
    return _compiled[name]
