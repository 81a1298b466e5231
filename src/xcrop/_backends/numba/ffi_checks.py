"""What every XLA FFI handler (``ffi_crop``, ``ffi_glimpse``, ``ffi_grad``) shares: the
value checks of the boxes with xcrop's error messages, and the walk over the operands'
extra leading (``vmap``) dimensions.

Value errors (box index out of range, non-finite box, coordinates overflowing float32)
are found in TF's order before anything is written and returned as an XLA FFI error with
xcrop's message (``_core.validation``'s words). Python formats it, called back through a
C symbol this module defines: only on that error path does a handler take the GIL. (Not
numba's object mode: its blocks, loaded from numba's disk cache, called the wrong
function, and the error was lost.)

Leading dimensions: every operand may carry extra leading dimensions, the same number on
all of them, each either 1 or the result's (``vmap_method="expand_dims"``); a handler
loops over the result's leading index and reads, per operand, the example
:func:`example` names (size 1: broadcast), so ``jax.vmap`` needs no Python loop and no
copy.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numba
import numpy as np
from llvmlite import binding as llvm

from .coordinates import sample_coordinates
from .xla_ffi import (
    BOX_ERROR_SYMBOL,
    ERR_INVALID_ARGUMENT,
    ERR_OUT_OF_RANGE,
    ERROR_CREATE_ARGS_SIZE,
    S32,
    box_error_callback,
    buffer_dims,
    error,
    text,
    typed,
)

__all__ = ["box_error_message", "check_boxes", "count", "example", "leading",
           "read_indices"]

#: Error kinds reported through the callback.
BOX_INDEX, NON_FINITE, OVERFLOW = 1, 2, 3


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
        message = box_error_message(kind, i, value, batch, [y1, x1, y2, x2], bool(gradient))
        create = _ERROR_CREATE(ctypes.c_void_p.from_address(api + 6 * 8).value)
        args = _ErrorCreateArgs(ERROR_CREATE_ARGS_SIZE, None, message.encode(),
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


@numba.njit(cache=True)
def check_boxes(api: int, boxes: Any, box_indices: Any, batch: int, height: int, width: int,
                in_y: Any, in_x: Any, gradient: bool) -> int:
    """``_core.validation``'s value checks in TF's order (every box index, then every
    box's finiteness, then the coordinates) while filling the forward's sample
    coordinates ``in_y (n, ch)``, ``in_x (n, cw)`` (float32). ``boxes (n, 4)`` float32,
    ``box_indices (n,)`` int64; ``gradient``: the gradients' wording. Returns 0 or the
    ``XLA_FFI_Error*``."""
    n = boxes.shape[0]
    for i in range(n):
        if box_indices[i] < 0 or box_indices[i] >= batch:
            return _report(api, BOX_INDEX, i, box_indices[i], batch, boxes, gradient)
    for i in range(n):
        for j in range(4):
            if not np.isfinite(boxes[i, j]):
                return _report(api, NON_FINITE, i, 0, batch, boxes, gradient)
    for i in range(n):
        sample_coordinates(boxes[i, 0], boxes[i, 2], height, in_y[i])
        sample_coordinates(boxes[i, 1], boxes[i, 3], width, in_x[i])
        undefined = False
        for k in range(in_y.shape[1]):
            undefined |= np.isnan(in_y[i, k])
        for k in range(in_x.shape[1]):
            undefined |= np.isnan(in_x[i, k])
        if undefined:
            return _report(api, OVERFLOW, i, 0, batch, boxes, gradient)
    return 0


# ----------------------------------------------------------------------------------------
# the operands' leading (vmap) dimensions
# ----------------------------------------------------------------------------------------

@numba.njit(inline="always")
def leading(buf: Any, rank: int, lead: Any) -> Any:
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
def example(dims: Any, lead: Any, v: int) -> int:
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
def count(dims: Any) -> int:
    """The product of ``dims`` (the number of examples)."""
    n = 1
    for k in range(dims.shape[0]):
        n *= dims[k]
    return n


@numba.njit(inline="always")
def read_indices(addr: int, code: int, k: int, out: Any) -> None:
    """Example ``k``'s box indices (buffer at ``addr``, int32 or int64 by XLA dtype
    ``code``) into int64 ``out (n,)``."""
    n = out.shape[0]
    if code == S32:
        src32 = typed(addr, (k + 1, n), np.int32(0))[k]
        for i in range(n):
            out[i] = src32[i]
    else:
        src64 = typed(addr, (k + 1, n), np.int64(0))[k]
        for i in range(n):
            out[i] = src64[i]
