"""The gradient handlers: XLA FFI targets (numba ``@cfunc``s, see ``xla_ffi``) that run
the gradient kernels (``gradients``) on XLA's buffers, so that ``jax.jit(jax.grad(...))``
of a crop runs TF's gradient operations compiled; ``_backends.jax_ffi`` registers and
calls them.

Targets (extra leading ``vmap`` dimensions: see ``ffi_checks``):

* ``grad_image_<dtype>`` (float16, float32, float64: the image's dtype, in which TF
  accumulates): operands ``grads (n, ch, cw, D)`` float32, ``boxes (n, 4)`` float32,
  ``box_indices (n,)`` int32 or int64, ``table (k,)`` float32 (float16: the value of
  every bit pattern, else one unused 0); result ``(B, H, W, D)`` of that dtype;
  attribute ``method`` (int32: 0 bilinear, 1 nearest);
* ``grad_boxes_<dtype>`` (every crop image dtype): operands ``grads``, ``image
  (B, H, W, D)`` of that dtype, ``boxes``, ``box_indices``, ``table`` (float16 and uint16
  images: the value of every bit pattern); result float32 ``(n, 4)``.

What a handler computes is what ``grad_drivers`` computes on NumPy arrays: the boxes'
value checks and the forward's sample coordinates (``ffi_checks.check_boxes``, with the
gradients' wording), the boxes of each image in increasing order (the image gradient;
a counting sort here, ``argsort(kind="stable")`` there: the same order), the box
gradient's own coordinates and weights (``coordinates``), then the same kernels, on one
thread (XLA's), as one split unit per image.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from . import gradients as G
from . import xla_ffi as F
from .coordinates import box_coordinates, edge_weights
from .ffi_checks import check_boxes, count, example, leading, read_indices

__all__ = ["HANDLERS", "box_grad_example", "image_grad_example"]

f32 = np.float32
NEAREST = 1


# ----------------------------------------------------------------------------------------
# CropAndResizeGradImage
# ----------------------------------------------------------------------------------------

@numba.njit(cache=True)
def image_grad_example(api: int, grads: Any, boxes: Any, box_indices: Any, height: int,
                       width: int, method: int, table: Any, out: Any) -> int:
    """One image gradient: ``grads (n, ch, cw, D)`` float32, ``boxes (n, 4)`` float32,
    ``box_indices (n,)`` int64, into ``out (B * H * W, D)`` float32, float64 or uint16
    (float16 bits, decoded by ``table``). Returns 0 or the value error."""
    n, ch, cw, _ = grads.shape
    batch = out.shape[0] // (height * width)
    in_y = np.empty((n, ch), np.float32)
    in_x = np.empty((n, cw), np.float32)
    err = check_boxes(api, boxes, box_indices, batch, height, width, in_y, in_x, True)
    if err != 0:
        return err
    out[:] = 0
    # Each image's boxes in increasing box order (TF's order per image): a counting sort.
    starts = np.zeros(batch + 1, np.int64)
    for i in range(n):
        starts[box_indices[i] + 1] += 1
    for b in range(batch):
        starts[b + 1] += starts[b]
    free = starts[:batch].copy()
    order = np.empty(n, np.int64)
    for i in range(n):
        b = box_indices[i]
        order[free[b]] = i
        free[b] += 1
    # np.int64(0), not 0: typed arguments reuse the eager path's compiled kernel (see
    # ffi_handlers).
    if method == NEAREST:
        G.image_grad_nearest_hw(grads, order, starts, in_y, in_x, height, width, np.int64(1),
                                table, out, np.int64(0), batch)
    else:
        G.image_grad_bilinear_hw(grads, order, starts, in_y, in_x, height, width, np.int64(1),
                                 table, out, np.int64(0), batch)
    return 0


@numba.njit
def grad_image_frame(frame_addr: int, marker: Any, code: int) -> int:
    """The image-gradient handler for results of ``marker``'s type (XLA dtype ``code``;
    float16 results are written as their uint16 bits)."""
    frame, status = F.open_frame(frame_addr, 4, 1, "grad_image")
    if status != F.PROCEED:
        return status
    api = frame[2]
    grads, boxes = F.arg_buffer(frame, 0), F.arg_buffer(frame, 1)
    indices, table = F.arg_buffer(frame, 2), F.arg_buffer(frame, 3)
    result = F.ret_buffer(frame, 0)
    method_at = F.scalar_attr(frame, 0, F.S32)
    if method_at == 0:
        return F.internal_error(api, "grad_image: expected attribute method (s32)")
    index_code = F.buffer_dtype(indices)
    if (F.buffer_dtype(grads) != F.F32 or F.buffer_dtype(boxes) != F.F32
            or F.buffer_dtype(table) != F.F32 or F.buffer_dtype(result) != code
            or (index_code != F.S32 and index_code != F.S64)):
        return F.internal_error(api, "grad_image: unexpected operand dtypes")
    method = F.typed(method_at, (1,), np.int32(0))[0]
    out_dims = F.buffer_dims(result)
    if out_dims.shape[0] < 4:
        return F.internal_error(api, "grad_image: result rank below 4")
    lead = out_dims[:out_dims.shape[0] - 4]
    grads_lead, ok0 = leading(grads, 4, lead)
    boxes_lead, ok1 = leading(boxes, 2, lead)
    index_lead, ok2 = leading(indices, 1, lead)
    table_lead, ok3 = leading(table, 1, lead)
    if not (ok0 and ok1 and ok2 and ok3):
        return F.internal_error(api, "grad_image: operands do not broadcast to the result")
    nl = lead.shape[0]
    grads_dims = F.buffer_dims(grads)
    n, ch, cw, depth = (grads_dims[nl], grads_dims[nl + 1], grads_dims[nl + 2],
                        grads_dims[nl + 3])
    batch, height, width = out_dims[nl], out_dims[nl + 1], out_dims[nl + 2]
    if (out_dims[nl + 3] != depth or F.buffer_dims(boxes)[nl] != n
            or F.buffer_dims(boxes)[nl + 1] != 4 or F.buffer_dims(indices)[nl] != n):
        return F.internal_error(api, "grad_image: operand shapes disagree")
    examples = count(lead)
    size = batch * height * width
    # An empty result (depth 0, batch 0) still checks the boxes, as TF does.
    if examples == 0 or height * width == 0:
        return 0
    F.advise_huge_pages(result, 2 if code == F.F16 else 8 if code == F.F64 else 4)
    all_grads = F.typed(grads[3], (count(grads_lead), n, ch, cw, depth), f32(0))
    all_boxes = F.typed(boxes[3], (count(boxes_lead), n, 4), f32(0))
    table_size = F.buffer_dims(table)[nl]
    all_tables = F.typed(table[3], (count(table_lead), table_size), f32(0))
    all_out = F.typed(result[3], (examples, size, depth), marker)
    box_indices = np.empty(n, np.int64)
    for v in range(examples):
        read_indices(indices[3], index_code, example(index_lead, lead, v), box_indices)
        err = image_grad_example(api, all_grads[example(grads_lead, lead, v)],
                                 all_boxes[example(boxes_lead, lead, v)], box_indices,
                                 height, width, method,
                                 all_tables[example(table_lead, lead, v)], all_out[v])
        if err != 0:
            return err
    return 0


# ----------------------------------------------------------------------------------------
# CropAndResizeGradBoxes
# ----------------------------------------------------------------------------------------

@numba.njit(inline="always")
def _weights(size: int, count: int) -> Any:
    # grad_drivers._weights: a crop-size-1 axis adds float64 terms, its weights unused.
    lo_w = np.zeros(1 if count == 1 else count, np.float32)
    hi_w = np.zeros(1 if count == 1 else count, np.float32)
    if count > 1:
        edge_weights(size, lo_w, hi_w)
    return lo_w, hi_w


@numba.njit(cache=True)
def box_grad_example(api: int, grads: Any, pixels: Any, table: Any, boxes: Any,
                     box_indices: Any, height: int, width: int, out: Any) -> int:
    """One box gradient: ``grads (n, ch, cw, D)`` float32, ``pixels (B * H * W, D)`` of
    the image's dtype (uint16 for float16 bits and uint16 images, decoded by ``table``),
    ``boxes (n, 4)`` float32, ``box_indices (n,)`` int64, into float32 ``out (n, 4)``.
    Returns 0 or the value error."""
    n, ch, cw, _ = grads.shape
    batch = pixels.shape[0] // (height * width)
    in_y = np.empty((n, ch), np.float32)
    in_x = np.empty((n, cw), np.float32)
    err = check_boxes(api, boxes, box_indices, batch, height, width, in_y, in_x, True)
    if err != 0:
        return err
    for i in range(n):  # the box gradient's own coordinates replace the forward's
        box_coordinates(boxes[i, 0], boxes[i, 2], height, in_y[i])
        box_coordinates(boxes[i, 1], boxes[i, 3], width, in_x[i])
    wy_lo, wy_hi = _weights(height, ch)
    wx_lo, wx_hi = _weights(width, cw)
    G.box_grad_hw(grads, pixels, table, box_indices, in_y, in_x, wy_lo, wy_hi, wx_lo, wx_hi,
                  height, width, out, np.int64(0), n)  # typed 0: see ffi_handlers
    return 0


@numba.njit
def grad_boxes_frame(frame_addr: int, marker: Any, code: int) -> int:
    """The box-gradient handler for images of XLA dtype ``code``, read as ``marker``'s
    type (uint16 for float16)."""
    frame, status = F.open_frame(frame_addr, 5, 1, "grad_boxes")
    if status != F.PROCEED:
        return status
    api = frame[2]
    grads, image, boxes = F.arg_buffer(frame, 0), F.arg_buffer(frame, 1), F.arg_buffer(frame, 2)
    indices, table = F.arg_buffer(frame, 3), F.arg_buffer(frame, 4)
    result = F.ret_buffer(frame, 0)
    index_code = F.buffer_dtype(indices)
    if (F.buffer_dtype(grads) != F.F32 or F.buffer_dtype(image) != code
            or F.buffer_dtype(boxes) != F.F32 or F.buffer_dtype(table) != F.F32
            or F.buffer_dtype(result) != F.F32 or (index_code != F.S32 and index_code != F.S64)):
        return F.internal_error(api, "grad_boxes: unexpected operand dtypes")
    out_dims = F.buffer_dims(result)
    if out_dims.shape[0] < 2:
        return F.internal_error(api, "grad_boxes: result rank below 2")
    lead = out_dims[:out_dims.shape[0] - 2]
    grads_lead, ok0 = leading(grads, 4, lead)
    image_lead, ok1 = leading(image, 4, lead)
    boxes_lead, ok2 = leading(boxes, 2, lead)
    index_lead, ok3 = leading(indices, 1, lead)
    table_lead, ok4 = leading(table, 1, lead)
    if not (ok0 and ok1 and ok2 and ok3 and ok4):
        return F.internal_error(api, "grad_boxes: operands do not broadcast to the result")
    nl = lead.shape[0]
    grads_dims = F.buffer_dims(grads)
    image_dims = F.buffer_dims(image)
    n, ch, cw, depth = (grads_dims[nl], grads_dims[nl + 1], grads_dims[nl + 2],
                        grads_dims[nl + 3])
    batch, height, width = image_dims[nl], image_dims[nl + 1], image_dims[nl + 2]
    if (image_dims[nl + 3] != depth or out_dims[nl] != n or out_dims[nl + 1] != 4
            or F.buffer_dims(boxes)[nl] != n or F.buffer_dims(indices)[nl] != n):
        return F.internal_error(api, "grad_boxes: operand shapes disagree")
    examples = count(lead)
    # Depth 0 or batch 0 still checks the boxes, as TF does (the kernel then adds nothing).
    if examples == 0 or n == 0 or height * width == 0:
        return 0
    all_out = F.typed(result[3], (examples, n, 4), f32(0))
    all_grads = F.typed(grads[3], (count(grads_lead), n, ch, cw, depth), f32(0))
    all_pixels = F.typed(image[3], (count(image_lead), batch * height * width, depth), marker)
    all_boxes = F.typed(boxes[3], (count(boxes_lead), n, 4), f32(0))
    table_size = F.buffer_dims(table)[nl]
    all_tables = F.typed(table[3], (count(table_lead), table_size), f32(0))
    box_indices = np.empty(n, np.int64)
    for v in range(examples):
        read_indices(indices[3], index_code, example(index_lead, lead, v), box_indices)
        err = box_grad_example(api, all_grads[example(grads_lead, lead, v)],
                               all_pixels[example(image_lead, lead, v)],
                               all_tables[example(table_lead, lead, v)],
                               all_boxes[example(boxes_lead, lead, v)], box_indices,
                               height, width, all_out[v])
        if err != 0:
            return err
    return 0


# One module-level handler per dtype (module-level: numba caches them on disk).

def _grad_image_float16(frame: Any) -> Any:
    return F.pointer(grad_image_frame(F.address(frame), np.uint16(0), F.F16))


def _grad_image_float32(frame: Any) -> Any:
    return F.pointer(grad_image_frame(F.address(frame), np.float32(0), F.F32))


def _grad_image_float64(frame: Any) -> Any:
    return F.pointer(grad_image_frame(F.address(frame), np.float64(0), F.F64))


def _grad_boxes_uint8(frame: Any) -> Any:
    return F.pointer(grad_boxes_frame(F.address(frame), np.uint8(0), F.U8))


def _grad_boxes_uint16(frame: Any) -> Any:
    return F.pointer(grad_boxes_frame(F.address(frame), np.uint16(0), F.U16))


def _grad_boxes_int8(frame: Any) -> Any:
    return F.pointer(grad_boxes_frame(F.address(frame), np.int8(0), F.S8))


def _grad_boxes_int16(frame: Any) -> Any:
    return F.pointer(grad_boxes_frame(F.address(frame), np.int16(0), F.S16))


def _grad_boxes_int32(frame: Any) -> Any:
    return F.pointer(grad_boxes_frame(F.address(frame), np.int32(0), F.S32))


def _grad_boxes_int64(frame: Any) -> Any:
    return F.pointer(grad_boxes_frame(F.address(frame), np.int64(0), F.S64))


def _grad_boxes_float16(frame: Any) -> Any:
    return F.pointer(grad_boxes_frame(F.address(frame), np.uint16(0), F.F16))


def _grad_boxes_float32(frame: Any) -> Any:
    return F.pointer(grad_boxes_frame(F.address(frame), np.float32(0), F.F32))


def _grad_boxes_float64(frame: Any) -> Any:
    return F.pointer(grad_boxes_frame(F.address(frame), np.float64(0), F.F64))


#: Target suffix -> handler.
HANDLERS = {
    "grad_image_float16": _grad_image_float16, "grad_image_float32": _grad_image_float32,
    "grad_image_float64": _grad_image_float64,
    "grad_boxes_uint8": _grad_boxes_uint8, "grad_boxes_uint16": _grad_boxes_uint16,
    "grad_boxes_int8": _grad_boxes_int8, "grad_boxes_int16": _grad_boxes_int16,
    "grad_boxes_int32": _grad_boxes_int32, "grad_boxes_int64": _grad_boxes_int64,
    "grad_boxes_float16": _grad_boxes_float16, "grad_boxes_float32": _grad_boxes_float32,
    "grad_boxes_float64": _grad_boxes_float64,
}
