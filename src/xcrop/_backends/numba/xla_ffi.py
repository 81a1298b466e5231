"""The XLA FFI call frame, read from numba: what lets a numba ``@cfunc`` be an XLA custom
call handler (``jax.ffi.register_ffi_target``) that runs on XLA's buffers in place.

Layout: ``xla/ffi/api/c_api.h`` as shipped with jaxlib (FFI API 0.3), on a 64-bit
little-endian machine, read as arrays of 8-byte words:

* ``XLA_FFI_CallFrame``: ``struct_size, extension_start, api, ctx, stage`` (words 0-4),
  ``args`` (``XLA_FFI_Args``: ``struct_size, extension_start, size, types, args``, words
  5-9), ``rets`` (the same, words 10-14), ``attrs`` (``struct_size, extension_start,
  size, types, names, attrs``, words 15-20), ``future`` (word 21);
* ``XLA_FFI_Buffer``: ``struct_size, extension_start, dtype, data, rank, dims``;
* ``XLA_FFI_Api``: ``struct_size, extension_start, api_version`` (3 words),
  ``internal_api``, then the function pointers, ``XLA_FFI_Error_Create`` first (word 6);
* attributes: sorted by name; a scalar is ``XLA_FFI_Scalar {dtype, value*}``.

The handler protocol (``api.h``, ``Ffi::Call``): a call frame whose ``extension_start``
is a metadata extension asks for the handler's metadata (API version, traits, no state)
and nothing else; otherwise the handler runs in the stage it was registered for (execute,
the only one registered here). An error is returned as an ``XLA_FFI_Error*`` made by the
API's ``XLA_FFI_Error_Create`` (which copies the message); JAX raises it as a
``ValueError`` carrying the message when the computation runs.

Everything here is ``inline="always"`` helpers or intrinsics that the handlers
(``ffi_handlers``) compile into their ``@cfunc``s.
"""

from __future__ import annotations

import contextlib
import ctypes
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = [
    "ARG_BUFFER",
    "BOX_ERROR_SYMBOL",
    "CALL_FRAME_WORDS",
    "DTYPE_CODES",
    "F32",
    "HUGE_PAGES_SYMBOL",
    "PROCEED",
    "S32",
    "S64",
    "address",
    "advise_huge_pages",
    "arg_buffer",
    "begin",
    "box_error_callback",
    "buffer_dims",
    "buffer_size",
    "call_pointer",
    "error",
    "pointer",
    "ret_buffer",
    "scalar_attr",
    "text",
    "typed",
    "words",
]

# XLA_FFI_DataType codes (c_api.h).
PRED, S8, S16, S32, S64 = 1, 2, 3, 4, 5
U8, U16, U32, U64 = 6, 7, 8, 9
F16, F32, F64 = 10, 11, 12
#: NumPy dtype name -> XLA_FFI_DataType.
DTYPE_CODES = {"bool": PRED, "int8": S8, "int16": S16, "int32": S32, "int64": S64,
               "uint8": U8, "uint16": U16, "uint32": U32, "uint64": U64,
               "float16": F16, "float32": F32, "float64": F64}

ARG_BUFFER = 1  # XLA_FFI_ArgType_BUFFER == XLA_FFI_RetType_BUFFER
ATTR_SCALAR = 3  # XLA_FFI_AttrType_SCALAR
METADATA_EXTENSION = 1  # XLA_FFI_Extension_Metadata
STAGE_EXECUTE = 3  # XLA_FFI_ExecutionStage_EXECUTE
# XLA_FFI_STRUCT_SIZE of the structs read or written (offset of the last field + its size).
CALL_FRAME_SIZE = 168
BUFFER_SIZE = 48
METADATA_EXTENSION_SIZE = 32
METADATA_SIZE = 36
API_VERSION_SIZE = 24
ERROR_CREATE_ARGS_SIZE = 28
#: The FFI API version these handlers are written against (XLA_FFI_API_MAJOR/MINOR).
API_MAJOR, API_MINOR = 0, 3
CALL_FRAME_WORDS = 22
#: Returned by :func:`begin` when the handler should run (any other value is returned).
PROCEED = -1

# XLA_FFI_Error_Code values used.
ERR_INVALID_ARGUMENT = 3
ERR_OUT_OF_RANGE = 11
ERR_INTERNAL = 13

_LOW32 = np.int64(0xFFFFFFFF)


@intrinsic
def pointer(typingctx: Any, addr: Any) -> Any:
    """``(void*) addr`` for an int64 address."""
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.inttoptr(args[0], cgutils.voidptr_t)
    return types.voidptr(types.int64), codegen


@intrinsic
def address(typingctx: Any, p: Any) -> Any:
    """The int64 address of a ``void*``."""
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.ptrtoint(args[0], ir.IntType(64))
    return types.int64(types.voidptr), codegen


@intrinsic
def _typed_pointer(typingctx: Any, addr: Any, marker: Any) -> Any:
    # ``(T*) addr`` where T is the type of ``marker`` (a scalar of the element type).
    ptr_type = types.CPointer(marker)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        llty = context.get_value_type(ptr_type)
        return builder.inttoptr(args[0], llty)
    return ptr_type(types.int64, marker), codegen


@intrinsic
def call_pointer(typingctx: Any, fn: Any, arg: Any) -> Any:
    """``((void* (*)(void*)) fn)(arg)`` as int64: how the API's functions are called
    (``XLA_FFI_Error_Create``, the thread pool's)."""
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        i8p = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(i8p, [i8p])
        result = builder.call(builder.inttoptr(args[0], fnty.as_pointer()),
                              [builder.inttoptr(args[1], i8p)])
        return builder.ptrtoint(result, ir.IntType(64))
    return types.int64(types.int64, types.int64), codegen


#: The C symbol under which the handlers call back into Python to report a bad box
#: (``ffi_handlers`` defines it; resolved when a handler is loaded, so the cached
#: machine code stays valid in every process).
BOX_ERROR_SYMBOL = "xcrop_xla_ffi_box_error"


@intrinsic
def box_error_callback(typingctx: Any, api: Any, kind: Any, i: Any, value: Any, batch: Any,
                       y1: Any, x1: Any, y2: Any, x2: Any, gradient: Any) -> Any:
    """``BOX_ERROR_SYMBOL(api, kind, i, value, batch, y1, x1, y2, x2, gradient)``: the
    ``XLA_FFI_Error*`` (int64) of a bad box, 0 if it could not be made."""
    i64, f64 = types.int64, types.float64
    sig = i64(i64, i64, i64, i64, i64, f64, f64, f64, f64, i64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        li64, lf64 = ir.IntType(64), ir.DoubleType()
        fnty = ir.FunctionType(li64, [li64] * 5 + [lf64] * 4 + [li64])
        fn = cgutils.get_or_insert_function(builder.module, fnty, BOX_ERROR_SYMBOL)
        return builder.call(fn, args)
    return sig, codegen


#: The C symbol through which the handlers ask for transparent huge pages on a result
#: buffer: libc's ``madvise`` on Linux, a function that does nothing elsewhere (both added
#: with ``llvm.add_symbol`` below, so the cached machine code stays valid).
HUGE_PAGES_SYMBOL = "xcrop_xla_ffi_madvise"
_MADV_HUGEPAGE = 14  # Linux, every architecture
_HUGE_PAGE = 2 << 20  # x86-64 and the usual arm64 kernels; a wrong guess costs nothing
#: Results below this many bytes are not advised (few pages; malloc reuses them anyway).
HUGE_PAGES_MIN_BYTES = 4 << 20


@intrinsic
def _madvise(typingctx: Any, start: Any, length: Any, advice: Any) -> Any:
    sig = types.int32(types.int64, types.int64, types.int32)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        li64 = ir.IntType(64)
        fnty = ir.FunctionType(ir.IntType(32), [li64, li64, ir.IntType(32)])
        fn = cgutils.get_or_insert_function(builder.module, fnty, HUGE_PAGES_SYMBOL)
        return builder.call(fn, args)
    return sig, codegen


@numba.njit(inline="always")
def advise_huge_pages(buf: Any, itemsize: int) -> None:
    """Ask the kernel to back the whole 2 MiB pages inside result buffer ``buf`` with huge
    pages before the handler writes it.

    XLA maps a large result freshly for every call, and the first write to each 4 KiB page
    is a page fault: for the RoI head's 60 MB result that was 30 ms of a 35 ms call on a
    (virtual) test machine, 5 ms with huge pages, which is what NumPy asks for its own
    large arrays (docs/performance.md, "Output buffers are recycled"). Advice only: the
    contents and the mapping's lifetime stay XLA's, and a refusal is ignored.
    """
    nbytes = buffer_size(buf) * itemsize
    if nbytes < HUGE_PAGES_MIN_BYTES:
        return
    start = -(-buf[3] // _HUGE_PAGE) * _HUGE_PAGE
    end = (buf[3] + nbytes) // _HUGE_PAGE * _HUGE_PAGE
    if end > start:
        _madvise(start, end - start, np.int32(_MADV_HUGEPAGE))


def _register_madvise() -> None:
    import sys

    from llvmlite import binding as llvm

    target = None
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            target = ctypes.cast(ctypes.CDLL(None).madvise, ctypes.c_void_p).value
    if target is None:
        target = ctypes.cast(_no_advice, ctypes.c_void_p).value
    llvm.add_symbol(HUGE_PAGES_SYMBOL, target)


_ADVICE_TYPE = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int64, ctypes.c_int64, ctypes.c_int32)
_no_advice = _ADVICE_TYPE(lambda start, length, advice: 0)  # kept alive with the module
_register_madvise()


@numba.njit(inline="always")
def words(addr: int, n: int) -> Any:
    """The ``n`` 8-byte words at ``addr`` as a writable int64 array."""
    return numba.carray(pointer(addr), (n,), np.int64)


@numba.njit(inline="always")
def typed(addr: int, shape: Any, marker: Any) -> Any:
    """The C-contiguous array of ``marker``'s type and ``shape`` at ``addr``."""
    return numba.carray(_typed_pointer(addr, marker), shape)


@numba.njit
def error(api: int, message: Any, code: int) -> int:
    """An ``XLA_FFI_Error*`` (as int64) with ``message`` (uint8 bytes, no NUL) and
    ``code``, made by the API's error constructor, which copies the message."""
    text = np.empty(message.shape[0] + 1, np.uint8)
    text[:-1] = message
    text[-1] = 0
    create_args = np.zeros(4, np.int64)
    create_args[0] = ERROR_CREATE_ARGS_SIZE
    create_args[2] = text.ctypes.data
    create_args[3] = code
    create = words(api, 7)[6]
    return call_pointer(create, create_args.ctypes.data)


@numba.njit
def text(s: str) -> Any:
    """ASCII ``s`` as uint8 bytes (the handlers' own messages)."""
    out = np.empty(len(s), np.uint8)
    for k in range(len(s)):
        out[k] = ord(s[k]) & 0x7F
    return out


@numba.njit
def _internal_error(api: int, what: str) -> int:
    return error(api, text("xcrop XLA FFI handler: " + what), ERR_INTERNAL)


@numba.njit(inline="always")
def internal_error(api: int, what: str) -> int:
    """An INTERNAL error: the call frame is not what the handler was written for (a
    jaxlib with another FFI layout, or a target called with other operands)."""
    # what + "" is a plain string, not the message literal: numba would otherwise compile
    # the error path once per message (half a second each, on a cold cache).
    return _internal_error(api, what + "")


@numba.njit(inline="always")
def begin(frame: Any) -> int:
    """First step of every handler on the call frame ``frame`` (its words): answer a
    metadata query (return 0), refuse a frame of unknown layout (return an error), or
    :data:`PROCEED`."""
    if frame[0] < CALL_FRAME_SIZE:
        return internal_error(frame[2], "call frame smaller than XLA FFI 0.3's")
    ext = frame[1]
    if ext != 0:
        extension = words(ext, 4)
        if extension[1] & _LOW32 == METADATA_EXTENSION:
            if extension[0] < METADATA_EXTENSION_SIZE:
                return internal_error(frame[2], "metadata extension too small")
            metadata = words(extension[3], 6)
            if metadata[0] < METADATA_SIZE:
                return internal_error(frame[2], "metadata struct too small")
            metadata[1] = API_VERSION_SIZE  # api_version.struct_size
            metadata[2] = 0  # api_version.extension_start
            metadata[3] = API_MAJOR | (API_MINOR << 32)  # major_version, minor_version
            metadata[4] = 0  # traits (4 bytes) and padding: none
            metadata[5] = 0  # state_type_id: XLA_FFI_UNKNOWN_TYPE_ID (stateless)
            return 0
    if frame[4] & _LOW32 != STAGE_EXECUTE:
        return 0  # registered for the execute stage only: nothing to do in another
    return PROCEED


@numba.njit(inline="always")
def _buffer(frame: Any, group: int, k: int) -> Any:
    # ``(words, ok)`` of buffer k of the args (group 5) or rets (group 10).
    if k >= frame[group + 2]:
        return words(0, 0), False
    kinds = numba.carray(_typed_pointer(frame[group + 3], np.int32(0)), (k + 1,))
    if kinds[k] != ARG_BUFFER:
        return words(0, 0), False
    buf = words(words(frame[group + 4], k + 1)[k], 6)
    if buf[0] < BUFFER_SIZE:
        return words(0, 0), False
    return buf, True


@numba.njit(inline="always")
def open_frame(frame_addr: int, n_args: int, n_rets: int, op: str) -> Any:
    """``(frame, status)``: the words of the call frame at ``frame_addr``, and
    :data:`PROCEED` when the handler should run on it (the execute stage, with ``n_args``
    operand buffers and ``n_rets`` result buffers), else what the handler must return
    (0 after answering a metadata query, or an error naming ``op``)."""
    frame = words(frame_addr, CALL_FRAME_WORDS)
    status = begin(frame)
    if status != PROCEED:
        return frame, status
    ok = frame[7] == n_args and frame[12] == n_rets
    for k in range(n_args):
        ok = ok and _buffer(frame, 5, k)[1]
    for k in range(n_rets):
        ok = ok and _buffer(frame, 10, k)[1]
    if not ok:
        return frame, internal_error(frame[2], op + ": unexpected operands or results")
    return frame, PROCEED


@numba.njit(inline="always")
def arg_buffer(frame: Any, k: int) -> Any:
    """The words of argument buffer ``k`` (checked by :func:`open_frame`): ``dtype``
    (low half of word 2), ``data`` (3), ``rank`` (4), ``dims`` (5)."""
    return _buffer(frame, 5, k)[0]


@numba.njit(inline="always")
def ret_buffer(frame: Any, k: int) -> Any:
    """The words of result buffer ``k`` (as :func:`arg_buffer`)."""
    return _buffer(frame, 10, k)[0]


@numba.njit(inline="always")
def buffer_dtype(buf: Any) -> int:
    return buf[2] & _LOW32


@numba.njit(inline="always")
def buffer_dims(buf: Any) -> Any:
    """The dimensions of a buffer (int64 array of its rank)."""
    return words(buf[5], buf[4])


@numba.njit(inline="always")
def buffer_size(buf: Any) -> int:
    n = 1
    dims = buffer_dims(buf)
    for k in range(dims.shape[0]):
        n *= dims[k]
    return n


@numba.njit(inline="always")
def scalar_attr(frame: Any, k: int, dtype: int) -> int:
    """Address of the value of attribute ``k`` (in name order) if it is a scalar of
    ``dtype``, else 0."""
    if k >= frame[17]:
        return 0
    kinds = numba.carray(_typed_pointer(frame[18], np.int32(0)), (k + 1,))
    if kinds[k] != ATTR_SCALAR:
        return 0
    scalar = words(words(frame[20], k + 1)[k], 2)
    if scalar[0] & _LOW32 != dtype:
        return 0
    return scalar[1]
