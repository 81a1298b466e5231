"""The glimpse handler: an XLA FFI target (a numba ``@cfunc``, see ``xla_ffi``) that runs
the glimpse kernel (``random.glimpse``) on XLA's buffers; ``_backends.jax_ffi`` registers
and calls it.

Target ``glimpse``: operands ``input (B, H, W, D)`` float32, ``offsets (B, 2)`` float32;
result float32 ``(B, h, w, D)``; attributes ``centered``, ``noise`` (0 uniform,
1 gaussian, 2 zero), ``normalized``, ``version`` (int32) and ``seed`` (uint64). Extra
leading (``vmap``) dimensions: see ``ffi_checks``.

What it computes is what the eager NumPy path computes: the window starts
(``_reference.indexing.window_start`` / ``truncated_start``, ported below), the fill's
statistics (``_reference.extract_glimpse``'s rules, with ``random.pairwise`` and
``random.portable_sqrt``), then the same kernel; split by output rows into parts that
run on XLA's thread pool (``ffi_parallel``).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from ..._core import random as core_random
from ..._reference.extract_glimpse import GAUSSIAN_STREAM, UNIFORM_STREAM
from . import ffi_parallel as P
from . import random as R
from . import xla_ffi as F
from .ffi_checks import count, example, leading

__all__ = ["HANDLERS", "SLOT", "TASKS", "glimpse_example", "glimpse_part"]

f32 = np.float32
_M32 = np.uint64(0xFFFFFFFF)
_PARITY = np.uint64(core_random.SKEIN_PARITY)


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


_LANES = 64
_ABS = np.uint32(0x7FFFFFFF)
_INF_BITS = np.uint32(0x7F800000)


@numba.njit(cache=True, fastmath={"nnan", "nsz"})
def _min_max(flat: Any) -> Any:
    """``(min, max, has_nan)`` of a non-empty 1-D float32 array, in one pass.

    Exact where there is no NaN: min and max are exact in any order, and the sign of a
    zero extreme cannot change the uniform fill (``u * (hi - lo) + lo`` with
    ``hi - lo >= 0``). ``nnan``/``nsz`` let LLVM vectorize the reductions, and
    :data:`_LANES` independent accumulators keep them from waiting on each other (one
    accumulator ran at a quarter of memory speed). NaN is found on the bits, which
    fast-math does not touch: an absolute value above infinity's; min and max are then
    meaningless and the caller uses NaN."""
    n = flat.shape[0]
    bits = flat.view(np.uint32)
    lo = np.full(_LANES, flat[0])
    hi = np.full(_LANES, flat[0])
    top = np.zeros(_LANES, np.uint32)
    full = n - n % _LANES
    for s in range(0, full, _LANES):
        for j in range(_LANES):
            v = flat[s + j]
            lo[j] = min(lo[j], v)
            hi[j] = max(hi[j], v)
            top[j] = max(top[j], bits[s + j] & _ABS)
    a, z, t = lo.min(), hi.max(), top.max()
    for k in range(full, n):
        a = min(a, flat[k])
        z = max(z, flat[k])
        t = max(t, bits[k] & _ABS)
    return a, z, t > _INF_BITS


@numba.njit(cache=True)
def glimpse_example(image: Any, offsets: Any, out: Any, version: int, centered: bool,
                    normalized: bool, kind: int, seed: Any, t0: int, t1: int) -> None:
    """Output rows ``t0 .. t1-1`` (of ``B * h``) of one glimpse: ``image (B, H, W, D)``
    float32, ``offsets (B, 2)``, into ``out (B, h, w, D)`` (every size positive): window
    starts, the fill's statistics for the batch elements of those rows that need fill
    (``_reference.extract_glimpse``'s rules), then the kernel of the eager path."""
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
    for b in range(t0 // h, (t1 + h - 1) // h):
        if kind == R.ZERO or not (sy[b] < 0 or sx[b] < 0 or sy[b] + h > height
                                  or sx[b] + w > width):
            continue
        if kind == R.UNIFORM:  # min and max over the whole image (NaN propagates)
            smallest, largest, nan = _min_max(pixels[b].reshape(-1))
            lo[b, :] = np.nan if nan else smallest
            hi[b, :] = np.nan if nan else largest
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
            R.pairwise(pixels, m, np.bool_(False), m, b, b + 1)  # typed: ffi_handlers
            R.pairwise(pixels, m, np.bool_(True), var, b, b + 1)
            for d in range(depth):
                sigma[b, d] = R.portable_sqrt(var[b, 0, d])
    k0 = seed & _M32
    k1 = (seed >> np.uint64(32)) & _M32
    k2 = (k0 ^ k1 ^ _PARITY) & _M32
    stream = np.uint64(GAUSSIAN_STREAM if kind == R.GAUSSIAN else UNIFORM_STREAM)
    # np.int64(0), not 0: typed arguments reuse the eager path's kernel (ffi_handlers).
    R.glimpse(np.int64(kind), image.reshape(-1), (h, w, height, width, depth), sy, sx, k0, k1, k2,
              stream, np.int64(0), lo, hi, mean, sigma, out.reshape(-1), t0, t1)


@numba.njit(inline="always")
def _attributes(frame: Any) -> Any:
    """The attribute values' addresses, in name order: centered, noise, normalized, seed,
    version (0: missing or of another type)."""
    return (F.scalar_attr(frame, 0, F.S32), F.scalar_attr(frame, 1, F.S32),
            F.scalar_attr(frame, 2, F.S32), F.scalar_attr(frame, 3, F.U64),
            F.scalar_attr(frame, 4, F.S32))


@numba.njit(inline="always")
def _validate(frame_addr: int) -> int:
    """:data:`~.xla_ffi.PROCEED` if the call frame is a glimpse this handler serves; else
    what the handler returns (0 or an error)."""
    frame, status = F.open_frame(frame_addr, 2, 1, "glimpse")
    if status != F.PROCEED:
        return status
    api = frame[2]
    image, offsets = F.arg_buffer(frame, 0), F.arg_buffer(frame, 1)
    result = F.ret_buffer(frame, 0)
    for a in _attributes(frame):
        if a == 0:
            return F.internal_error(api, "glimpse: unexpected attributes")
    if (F.buffer_dtype(image) != F.F32 or F.buffer_dtype(offsets) != F.F32
            or F.buffer_dtype(result) != F.F32):
        return F.internal_error(api, "glimpse: unexpected operand dtypes")
    out_dims = F.buffer_dims(result)
    if out_dims.shape[0] < 4:
        return F.internal_error(api, "glimpse: result rank below 4")
    lead = out_dims[:out_dims.shape[0] - 4]
    if not (leading(image, 4, lead)[1] and leading(offsets, 2, lead)[1]):
        return F.internal_error(api, "glimpse: operands do not broadcast to the result")
    nl = lead.shape[0]
    dims = F.buffer_dims(image)
    if out_dims[nl] != dims[nl] or out_dims[nl + 3] != dims[nl + 3]:
        return F.internal_error(api, "glimpse: operand shapes disagree")
    if F.buffer_size(image) * F.buffer_size(result) == 0:
        return F.internal_error(api, "glimpse: empty operands are served elsewhere")
    return F.PROCEED


@numba.njit(cache=True)
def glimpse_part(frame_addr: int, shared: int, part: int, parts: int) -> int:
    """Part ``part`` of ``parts`` of a validated glimpse frame: the output rows (over all
    examples, in order) from ``part / parts`` to ``(part + 1) / parts`` of them
    (``shared``: unused, ``ffi_parallel.run``'s per-call data)."""
    frame = F.words(frame_addr, F.CALL_FRAME_WORDS)
    image, offsets = F.arg_buffer(frame, 0), F.arg_buffer(frame, 1)
    at = _attributes(frame)
    centered = F.typed(at[0], (1,), np.int32(0))[0] != 0
    kind = F.typed(at[1], (1,), np.int32(0))[0]
    normalized = F.typed(at[2], (1,), np.int32(0))[0] != 0
    seed = F.typed(at[3], (1,), np.uint64(0))[0]
    version = F.typed(at[4], (1,), np.int32(0))[0]
    out_dims = F.buffer_dims(F.ret_buffer(frame, 0))
    nl = out_dims.shape[0] - 4
    lead = out_dims[:nl]
    image_lead, offsets_lead = leading(image, 4, lead)[0], leading(offsets, 2, lead)[0]
    dims = F.buffer_dims(image)
    batch, height, width, depth = dims[nl], dims[nl + 1], dims[nl + 2], dims[nl + 3]
    h, w = out_dims[nl + 1], out_dims[nl + 2]
    images = F.typed(image[3], (count(image_lead), batch, height, width, depth), f32(0))
    all_offsets = F.typed(offsets[3], (count(offsets_lead), batch, 2), f32(0))
    outs = F.typed(F.ret_buffer(frame, 0)[3], (count(lead), batch, h, w, depth), f32(0))
    rows = batch * h
    total = outs.shape[0] * rows
    lo, hi = total * part // parts, total * (part + 1) // parts
    for v in range(lo // rows, (hi + rows - 1) // rows):
        glimpse_example(images[example(image_lead, lead, v)],
                        all_offsets[example(offsets_lead, lead, v)], outs[v], version,
                        centered, normalized, kind, seed, max(lo - v * rows, 0),
                        min(hi - v * rows, rows))
    return 0


@numba.njit
def glimpse_frame(frame_addr: int) -> int:
    """The glimpse handler, on XLA's pool with the task of table slot :data:`SLOT`
    (``ffi_parallel``)."""
    status = _validate(frame_addr)
    if status != F.PROCEED:
        return status
    frame = F.words(frame_addr, F.CALL_FRAME_WORDS)
    result = F.ret_buffer(frame, 0)
    F.advise_huge_pages(result, 4)
    return P.run(frame[2], frame[3], frame_addr, 0, SLOT, F.buffer_size(result),
                 glimpse_part, ())


def _glimpse(frame: Any) -> Any:
    return F.pointer(glimpse_frame(F.address(frame)))


def _glimpse_task(data: Any) -> None:
    P.task(F.address(data), glimpse_part, ())


#: The task table slot of the glimpse target (after the crop targets').
SLOT = 8
#: Target suffix -> handler.
HANDLERS = {"glimpse": _glimpse}
#: Target suffix -> (task, its table slot).
TASKS = {"glimpse": (_glimpse_task, SLOT)}
