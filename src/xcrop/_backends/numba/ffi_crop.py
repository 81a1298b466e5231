"""The crop handlers: XLA FFI targets (numba ``@cfunc``s, see ``xla_ffi``) that run the
crop kernels (``crop``) on XLA's buffers; ``_backends.jax_ffi`` registers and calls them.

Target ``crop_<dtype>``, one per image dtype: operands ``image (B, H, W, D)`` of that
dtype, ``boxes (n, 4)`` float32, ``box_indices (n,)`` int32 or int64; result float32
``(n, ch, cw, D)``; attributes ``fill`` (float32), ``method`` (int32: 0 bilinear,
1 nearest). Extra leading (``vmap``) dimensions: see ``ffi_checks``.

What a handler computes is what the eager NumPy path computes: the sample coordinates
and value checks (``ffi_checks.check_boxes``), the crop plan
(``_reference.indexing.crop_plan``, ported below), then the same kernels.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

from . import crop as K
from . import xla_ffi as F
from .ffi_checks import check_boxes, count, example, leading, read_indices

__all__ = ["HANDLERS", "crop_example"]

f32 = np.float32
BILINEAR, NEAREST = 0, 1


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
    # np.bool_(wide), np.int64(0): typed arguments, so that the eager path's compiled
    # kernels serve (ffi_handlers).
    if method == NEAREST:
        K.nearest(pixels, rows_a, cols_a, inside_y, inside_x, fill, np.bool_(wide), out,
                  np.int64(0), n)
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
        else:  # the threshold in the pixels' dtype (exact: a power of two in range)
            threshold = np.empty(1, flat.dtype)
            threshold[0] = 2.0**e
            unflushed = not K.any_tiny(flat, threshold[0])
    if unflushed:
        K.bilinear_plain(pixels, rows_a, rows_b, cols_a, cols_b, y_lerp, x_lerp, inside_y,
                         inside_x, fill, out, np.int64(0), n)
    else:
        K.bilinear_flushed(pixels, rows_a, rows_b, cols_a, cols_b, y_lerp, x_lerp, inside_y,
                           inside_x, fill, out, np.int64(0), n)
    return 0


@numba.njit
def crop_frame(frame_addr: int, marker: Any, code: int, integer: bool, wide: bool) -> int:
    """The crop handler for images of ``marker``'s type (XLA dtype ``code``)."""
    frame, status = F.open_frame(frame_addr, 3, 1, "crop")
    if status != F.PROCEED:
        return status
    api = frame[2]
    image, boxes, indices = F.arg_buffer(frame, 0), F.arg_buffer(frame, 1), F.arg_buffer(frame, 2)
    result = F.ret_buffer(frame, 0)
    fill_at = F.scalar_attr(frame, 0, F.F32)
    method_at = F.scalar_attr(frame, 1, F.S32)
    if fill_at == 0 or method_at == 0:
        return F.internal_error(api, "crop: expected attributes fill (f32), method (s32)")
    index_code = F.buffer_dtype(indices)
    if (F.buffer_dtype(image) != code or F.buffer_dtype(boxes) != F.F32
            or F.buffer_dtype(result) != F.F32 or (index_code != F.S32 and index_code != F.S64)):
        return F.internal_error(api, "crop: unexpected operand dtypes")
    fill = F.typed(fill_at, (1,), f32(0))[0]
    method = F.typed(method_at, (1,), np.int32(0))[0]
    out_dims = F.buffer_dims(result)
    if out_dims.shape[0] < 4:
        return F.internal_error(api, "crop: result rank below 4")
    lead = out_dims[:out_dims.shape[0] - 4]
    image_lead, ok0 = leading(image, 4, lead)
    boxes_lead, ok1 = leading(boxes, 2, lead)
    index_lead, ok2 = leading(indices, 1, lead)
    if not (ok0 and ok1 and ok2):
        return F.internal_error(api, "crop: operands do not broadcast to the result")
    nl = lead.shape[0]
    image_dims = F.buffer_dims(image)
    batch, height, width, depth = (image_dims[nl], image_dims[nl + 1], image_dims[nl + 2],
                                   image_dims[nl + 3])
    n, ch, cw = out_dims[nl], out_dims[nl + 1], out_dims[nl + 2]
    if (F.buffer_dims(boxes)[nl] != n or F.buffer_dims(indices)[nl] != n
            or out_dims[nl + 3] != depth):
        return F.internal_error(api, "crop: operand shapes disagree")
    examples = count(lead)
    if examples == 0 or n == 0 or depth == 0:
        return 0
    F.advise_huge_pages(result, 4)
    all_pixels = F.typed(image[3], (count(image_lead), batch * height * width, depth), marker)
    all_boxes = F.typed(boxes[3], (count(boxes_lead), n, 4), f32(0))
    all_out = F.typed(result[3], (examples, n, ch, cw, depth), f32(0))
    box_indices = np.empty(n, np.int64)
    for v in range(examples):
        read_indices(indices[3], index_code, example(index_lead, lead, v), box_indices)
        err = crop_example(api, all_pixels[example(image_lead, lead, v)], height, width,
                           all_boxes[example(boxes_lead, lead, v)], box_indices,
                           all_out[v], method, fill, integer, wide)
        if err != 0:
            return err
    return 0


# One module-level handler per image dtype (module-level: numba caches them on disk).
# float16 images are converted to float32 before the call (exact), as the eager path does.

def _crop_uint8(frame: Any) -> Any:
    return F.pointer(crop_frame(F.address(frame), np.uint8(0), F.U8, True, False))


def _crop_uint16(frame: Any) -> Any:
    return F.pointer(crop_frame(F.address(frame), np.uint16(0), F.U16, True, False))


def _crop_int8(frame: Any) -> Any:
    return F.pointer(crop_frame(F.address(frame), np.int8(0), F.S8, True, False))


def _crop_int16(frame: Any) -> Any:
    return F.pointer(crop_frame(F.address(frame), np.int16(0), F.S16, True, False))


def _crop_int32(frame: Any) -> Any:
    return F.pointer(crop_frame(F.address(frame), np.int32(0), F.S32, True, False))


def _crop_int64(frame: Any) -> Any:
    return F.pointer(crop_frame(F.address(frame), np.int64(0), F.S64, True, False))


def _crop_float32(frame: Any) -> Any:
    return F.pointer(crop_frame(F.address(frame), np.float32(0), F.F32, False, False))


def _crop_float64(frame: Any) -> Any:
    return F.pointer(crop_frame(F.address(frame), np.float64(0), F.F64, False, True))



#: Target suffix -> handler.
HANDLERS = {
    "crop_uint8": _crop_uint8, "crop_uint16": _crop_uint16, "crop_int8": _crop_int8,
    "crop_int16": _crop_int16, "crop_int32": _crop_int32, "crop_int64": _crop_int64,
    "crop_float32": _crop_float32, "crop_float64": _crop_float64,
}
