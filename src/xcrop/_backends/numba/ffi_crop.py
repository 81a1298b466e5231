"""The crop handlers: XLA FFI targets (numba ``@cfunc``s, see ``xla_ffi``) that run the
crop kernels (``crop``) on XLA's buffers; ``_backends.jax_ffi`` registers and calls them.

Target ``crop_<dtype>``, one per image dtype: operands ``image (B, H, W, D)`` of that
dtype, ``boxes (n, 4)`` float32, ``box_indices (n,)`` int32 or int64; result float32
``(n, ch, cw, D)``; attributes ``fill`` (float32), ``method`` (int32: 0 bilinear,
1 nearest). Extra leading (``vmap``) dimensions: see ``ffi_checks``.

What a handler computes is what the eager NumPy path computes: the sample coordinates
and value checks (``ffi_checks.check_boxes``), the crop plan
(``_reference.indexing.crop_plan``, ported below), then the same kernels; split by boxes
into parts that run on XLA's thread pool (``ffi_parallel``).
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

from . import crop as K
from . import ffi_parallel as P
from . import xla_ffi as F
from .ffi_checks import check_boxes, count, example, leading, read_indices

__all__ = ["HANDLERS", "TASKS", "crop_example", "crop_part"]

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
                 out: Any, method: int, fill: Any, integer: bool, wide: bool,
                 smallest: float) -> int:
    """One crop: ``pixels (B*H*W, D)`` of the image's dtype, ``boxes (n, 4)``,
    ``box_indices (n,)`` int64, into ``out (n, ch, cw, D)`` float32. Returns 0 or the
    value error (``out`` untouched then). ``integer``: an integer image; ``wide``: float64;
    ``smallest``: the smallest nonzero magnitude of a float image's pixels
    (``crop.smallest_magnitude``)."""
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
    # images: a threshold on the smallest nonzero pixel, found by the handler).
    grains = _grain(in_y) + _grain(in_x)
    if integer:
        unflushed = grains >= -126
    else:
        e = -126 + 23 - grains
        # any_tiny(pixels, 2**e) of the eager path; a threshold below the dtype's
        # smallest subnormal is 0 there, which no nonzero pixel is below: nor is
        # smallest below 2**e then.
        unflushed = e <= 127 and not smallest < 2.0**e
    if unflushed:
        K.bilinear_plain(pixels, rows_a, rows_b, cols_a, cols_b, y_lerp, x_lerp, inside_y,
                         inside_x, fill, out, np.int64(0), n)
    else:
        K.bilinear_flushed(pixels, rows_a, rows_b, cols_a, cols_b, y_lerp, x_lerp, inside_y,
                           inside_x, fill, out, np.int64(0), n)
    return 0


@numba.njit(inline="always")
def _validate(frame_addr: int, code: int) -> int:
    """:data:`~.xla_ffi.PROCEED` if the call frame is a crop of images of XLA dtype
    ``code`` with something to compute; else what the handler returns (0 or an error)."""
    frame, status = F.open_frame(frame_addr, 3, 1, "crop")
    if status != F.PROCEED:
        return status
    api = frame[2]
    image, boxes, indices = F.arg_buffer(frame, 0), F.arg_buffer(frame, 1), F.arg_buffer(frame, 2)
    result = F.ret_buffer(frame, 0)
    if F.scalar_attr(frame, 0, F.F32) == 0 or F.scalar_attr(frame, 1, F.S32) == 0:
        return F.internal_error(api, "crop: expected attributes fill (f32), method (s32)")
    index_code = F.buffer_dtype(indices)
    if (F.buffer_dtype(image) != code or F.buffer_dtype(boxes) != F.F32
            or F.buffer_dtype(result) != F.F32 or (index_code != F.S32 and index_code != F.S64)):
        return F.internal_error(api, "crop: unexpected operand dtypes")
    out_dims = F.buffer_dims(result)
    if out_dims.shape[0] < 4:
        return F.internal_error(api, "crop: result rank below 4")
    lead = out_dims[:out_dims.shape[0] - 4]
    if not (leading(image, 4, lead)[1] and leading(boxes, 2, lead)[1]
            and leading(indices, 1, lead)[1]):
        return F.internal_error(api, "crop: operands do not broadcast to the result")
    nl = lead.shape[0]
    n = out_dims[nl]
    if (F.buffer_dims(boxes)[nl] != n or F.buffer_dims(indices)[nl] != n
            or out_dims[nl + 3] != F.buffer_dims(image)[nl + 3]):
        return F.internal_error(api, "crop: operand shapes disagree")
    if F.buffer_size(result) == 0:
        return 0
    return F.PROCEED


@numba.njit(inline="always")
def _views(frame_addr: int, marker: Any) -> Any:
    """The operands of a validated crop frame: ``(api, lead, pixels, boxes, indices, out,
    height, width, fill, method)``. ``lead``: the result's leading (``vmap``) dims;
    ``pixels (images, B*H*W, D)``, ``boxes (box sets, n, 4)``, ``out (examples, n, ch,
    cw, D)``; ``indices``: the box indices' buffer (words). ``pixels``, ``boxes`` and
    ``indices`` come paired with their own leading dims (``ffi_checks.example``)."""
    frame = F.words(frame_addr, F.CALL_FRAME_WORDS)
    image, boxes, indices = F.arg_buffer(frame, 0), F.arg_buffer(frame, 1), F.arg_buffer(frame, 2)
    result = F.ret_buffer(frame, 0)
    fill = F.typed(F.scalar_attr(frame, 0, F.F32), (1,), f32(0))[0]
    method = F.typed(F.scalar_attr(frame, 1, F.S32), (1,), np.int32(0))[0]
    out_dims = F.buffer_dims(result)
    nl = out_dims.shape[0] - 4
    lead = out_dims[:nl]
    image_dims = F.buffer_dims(image)
    height, width = image_dims[nl + 1], image_dims[nl + 2]
    n, ch, cw, depth = out_dims[nl], out_dims[nl + 1], out_dims[nl + 2], out_dims[nl + 3]
    image_lead, boxes_lead = leading(image, 4, lead)[0], leading(boxes, 2, lead)[0]
    pixels = F.typed(image[3], (count(image_lead), image_dims[nl] * height * width, depth),
                     marker)
    all_boxes = F.typed(boxes[3], (count(boxes_lead), n, 4), f32(0))
    out = F.typed(result[3], (count(lead), n, ch, cw, depth), f32(0))
    return (frame[2], lead, (pixels, image_lead), (all_boxes, boxes_lead),
            (indices, leading(indices, 1, lead)[0]), out, height, width, fill, method)


@numba.njit(inline="always")
def _read(operand: Any, lead: Any, v: int) -> Any:
    # Example v of an operand paired with its leading dims (_views).
    return operand[0][example(operand[1], lead, v)]


@numba.njit(inline="always")
def _read_indices(indices: Any, lead: Any, v: int, out: Any) -> None:
    # Example v's box indices (paired with their leading dims, _views) into int64 out.
    read_indices(indices[0][3], F.buffer_dtype(indices[0]), example(indices[1], lead, v),
                 out)


@numba.njit(cache=True)
def crop_part(frame_addr: int, smallest_addr: int, part: int, parts: int, marker: Any,
              integer: bool, wide: bool) -> int:
    """Part ``part`` of ``parts`` of a validated crop frame: the boxes (over all
    examples, in order) from ``part / parts`` to ``(part + 1) / parts`` of them.
    ``smallest_addr``: float64 ``(images,)``, the smallest nonzero pixel magnitude of
    each image operand (float images only, :func:`_smallest`). Returns 0 or a value
    error, whose box number counts from the part's first box of that example
    (``crop_error`` finds the call's own)."""
    api, lead, pixels, boxes, indices, out, height, width, fill, method = _views(
        frame_addr, marker)
    smallest = F.typed(smallest_addr, (pixels[0].shape[0],), np.float64(0))
    n = out.shape[1]
    total = out.shape[0] * n
    lo, hi = total * part // parts, total * (part + 1) // parts
    box_indices = np.empty(n, np.int64)
    for v in range(lo // n, (hi + n - 1) // n):
        b0, b1 = max(lo - v * n, 0), min(hi - v * n, n)
        _read_indices(indices, lead, v, box_indices)
        err = crop_example(api, _read(pixels, lead, v), height, width,
                           _read(boxes, lead, v)[b0:b1], box_indices[b0:b1], out[v, b0:b1],
                           method, fill, integer, wide,
                           smallest[example(pixels[1], lead, v)])
        if err != 0:
            return err
    return 0


@numba.njit(cache=True)
def crop_error(frame_addr: int, marker: Any) -> int:
    """The value error of a validated crop frame in which some part failed: the first bad
    box of the whole call, in TF's order (``check_boxes`` over every example)."""
    api, lead, pixels, boxes, indices, out, height, width, _, _ = _views(frame_addr, marker)
    n, ch, cw = out.shape[1], out.shape[2], out.shape[3]
    batch = pixels[0].shape[1] // (height * width)
    box_indices = np.empty(n, np.int64)
    in_y, in_x = np.empty((n, ch), np.float32), np.empty((n, cw), np.float32)
    for v in range(out.shape[0]):
        _read_indices(indices, lead, v, box_indices)
        err = check_boxes(api, _read(boxes, lead, v), box_indices, batch, height, width,
                          in_y, in_x, False)
        if err != 0:
            return err
    return F.internal_error(api, "crop: a part failed, but no box is at fault")


@numba.njit(inline="always")
def _smallest(frame_addr: int, marker: Any, integer: bool) -> Any:
    """float64 ``(images,)``: the smallest nonzero pixel magnitude of each image operand,
    what the float images' bilinear crops decide their flushes by; once per call, not per
    part (inf where not needed)."""
    views = _views(frame_addr, marker)
    pixels, method = views[2][0], views[9]
    smallest = np.full(pixels.shape[0], np.inf)
    if not integer and method != NEAREST:
        for k in range(pixels.shape[0]):
            smallest[k] = K.smallest_magnitude(pixels[k].reshape(-1))
    return smallest


@numba.njit
def crop_frame(frame_addr: int, marker: Any, code: int, integer: bool, wide: bool,
               slot: int) -> int:
    """The crop handler for images of ``marker``'s type (XLA dtype ``code``), on XLA's
    pool with the task of table slot ``slot`` (``ffi_parallel``)."""
    status = _validate(frame_addr, code)
    if status != F.PROCEED:
        return status
    frame = F.words(frame_addr, F.CALL_FRAME_WORDS)
    result = F.ret_buffer(frame, 0)
    F.advise_huge_pages(result, 4)
    smallest = _smallest(frame_addr, marker, integer)
    err = P.run(frame[2], frame[3], frame_addr, smallest.ctypes.data, slot,
                F.buffer_size(result), crop_part, (marker, integer, wide))
    P.keep_alive(smallest)  # the parts read it by address
    if err == 0:
        return 0
    P.destroy_error(frame[2], err)
    return crop_error(frame_addr, marker)


def _target(marker: Any, code: int, integer: bool, wide: bool, slot: int) -> Any:
    """The handler and the task of the crop target for images of ``marker``'s type.
    Closures over constants only: numba caches each on disk under its cells' values."""
    def handler(frame: Any) -> Any:
        return F.pointer(crop_frame(F.address(frame), marker, code, integer, wide, slot))

    def task(data: Any) -> None:
        P.task(F.address(data), crop_part, (marker, integer, wide))

    return handler, task


# One target per image dtype; float16 images are converted to float32 before the call
# (exact), as the eager path does. Task table slots 0-7.
_DTYPES = (("uint8", F.U8, True), ("uint16", F.U16, True), ("int8", F.S8, True),
           ("int16", F.S16, True), ("int32", F.S32, True), ("int64", F.S64, True),
           ("float32", F.F32, False), ("float64", F.F64, False))
_TARGETS = {f"crop_{name}": _target(np.dtype(name).type(0), code, integer, name == "float64",
                                     slot)
            for slot, (name, code, integer) in enumerate(_DTYPES)}
#: Target suffix -> handler.
HANDLERS = {name: handler for name, (handler, _) in _TARGETS.items()}
#: Target suffix -> (task, its table slot).
TASKS = {name: (task, slot) for slot, (name, (_, task)) in enumerate(_TARGETS.items())}
