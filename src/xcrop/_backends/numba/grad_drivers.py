"""Host drivers of the compiled gradient kernels (``gradients``) on NumPy arrays.

TF's ``CropAndResizeGradImage`` / ``CropAndResizeGradBoxes`` with the bits of
``xcrop._reference.gradients``, for validated records whose arrays are NumPy arrays
(views of CPU torch tensors and JAX arrays included). Callers check
``loader.available()`` first.

Work is split with ``run_split`` on xcrop's thread pool only where TF's sums never meet
(images x channel chunks for the image gradient, boxes for the box gradient), so the
result does not depend on the number of threads. Scratch beyond the output: O(boxes +
batch) for the box order, plus the box gradient's ``(n, crop)`` coordinates.
"""

from __future__ import annotations

import functools
from typing import Any

from ..._core.args import GradBoxesArgs, GradImageArgs
from ..._reference.gradients import box_coordinates, edge_weights
from .. import buffers
from ..host import num_threads, read_alias, run_split
from .loader import kernels

__all__ = ["box_gradient", "decode_table", "image_gradient"]


#: Suffix of the kernels used: ``"_hw"``, the CPU's flush-to-zero where it has one
#: (``fpenv``; elsewhere the same as ``""``), or ``""``, the explicit flushes (tests set
#: it to check those kernels too).
KERNEL_SUFFIX = "_hw"


@functools.cache
def _half_table() -> Any:
    """float32 value of every float16 bit pattern (index = the uint16 bits)."""
    import numpy as np

    return np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16) \
        .astype(np.float32)


@functools.cache
def _uint16_table() -> Any:
    import numpy as np

    return np.arange(65536, dtype=np.float32)


def _no_table() -> Any:
    import numpy as np

    return np.zeros(1, np.float32)


def decode_table(kind: str) -> Any:
    """The float32 ``table`` operand of the kernels for pixels or results of dtype name
    ``kind``: float16 bits and uint16 pixels are decoded through it; others pass one
    unused 0."""
    if kind == "float16":
        return _half_table()
    return _uint16_table() if kind == "uint16" else _no_table()


def _chunks(batch: int, depth: int) -> int:
    """Channel chunks per image: enough units for the threads when images are few,
    whole images otherwise. Every unit walks all its image's boxes, so a chunk keeps at
    least 4 channels (that walk costs about as much as a few channels' additions)."""
    want = -(-2 * num_threads() // max(batch, 1))  # ceil: about two units per thread
    return max(1, min(want, depth // 4))


def image_gradient(args: GradImageArgs) -> Any:
    """TF's ``CropAndResizeGradImage`` of a record of NumPy arrays: ``grads`` float32
    ``(n, ch, cw, D)``, ``box_indices`` ``(n,)`` in ``[0, B)``, ``in_y`` / ``in_x``
    float32 ``(n, ch)`` / ``(n, cw)`` (the forward's sample coordinates), ``dtype`` a NumPy
    float16/32/64 dtype. Returns ``args.image_shape`` of ``dtype``."""
    import numpy as np

    grads, box_indices, in_y, in_x = args.grads, args.box_indices, args.in_y, args.in_x
    method, dtype = args.method, np.dtype(args.dtype)
    batch, height, width, depth = (int(v) for v in args.image_shape)
    out = buffers.zeros((batch, height, width, depth), dtype)
    n = grads.shape[0]
    if n == 0 or depth == 0 or out.size == 0:
        return out
    g, ys, xs = (_input(a, np.float32) for a in (grads, in_y, in_x))
    idx = _indices(box_indices, n, batch)
    _check_shape("grads", g, (n, g.shape[1], g.shape[2], depth))
    _check_shape("in_y", ys, (n, g.shape[1]))
    _check_shape("in_x", xs, (n, g.shape[2]))
    # Each image's boxes in increasing box order (stable sort): TF's order per image.
    order = np.argsort(idx, kind="stable")
    starts = np.searchsorted(idx[order], np.arange(batch + 1), side="left").astype(np.int64)
    flat = out.reshape(batch * height * width, depth)
    table = decode_table(dtype.name)
    if dtype == np.float16:
        flat = flat.view(np.uint16)
    k = kernels().gradients
    name = "image_grad_nearest" if method == "nearest" else "image_grad_bilinear"
    kernel = getattr(k, name + KERNEL_SUFFIX)
    chunks = _chunks(batch, depth)

    def run(u0: int, u1: int) -> None:
        kernel(g, order, starts, ys, xs, height, width, chunks, table, flat, u0, u1)

    run_split(run, batch * chunks, g.size * (1 if method == "nearest" else 4))
    return out


def box_gradient(args: GradBoxesArgs) -> Any:
    """TF's ``CropAndResizeGradBoxes`` of a record of NumPy arrays: ``grads`` float32
    ``(n, ch, cw, D)``, ``image`` ``(B, H, W, D)`` of any crop dtype (uint8 ... float64),
    ``boxes`` float32 ``(n, 4)``, ``box_indices`` ``(n,)`` in ``[0, B)``. Returns float32
    ``(n, 4)``, the gradient w.r.t. ``[y1, x1, y2, x2]``."""
    import array_api_compat.numpy as xp
    import numpy as np

    grads, image, boxes, box_indices = args.grads, args.image, args.boxes, args.box_indices
    n, ch, cw, depth = grads.shape
    batch, height, width = image.shape[:3]
    _check_shape("image", image, (batch, height, width, depth))
    _check_shape("boxes", boxes, (n, 4))
    out = np.zeros((n, 4), np.float32)
    if n == 0 or depth == 0:
        return out
    g = _input(grads, np.float32)
    b = np.ascontiguousarray(boxes, np.float32)
    # The box gradient's own coordinates and weights, from the generic definitions.
    ys = np.ascontiguousarray(box_coordinates(xp, b[:, 0:1], b[:, 2:3], height, ch, None))
    xs = np.ascontiguousarray(box_coordinates(xp, b[:, 1:2], b[:, 3:4], width, cw, None))
    wy_lo, wy_hi = _weights(xp, height, ch)
    wx_lo, wx_hi = _weights(xp, width, cw)
    pixels = _input(image, None).reshape(batch * height * width, depth)
    table = decode_table(pixels.dtype.name)
    if pixels.dtype == np.float16:
        pixels = pixels.view(np.uint16)
    idx = _indices(box_indices, n, batch)

    box_grad = getattr(kernels().gradients, "box_grad" + KERNEL_SUFFIX)

    def run(i0: int, i1: int) -> None:
        box_grad(g, pixels, table, idx, ys, xs, wy_lo, wy_hi, wx_lo, wx_hi, height, width,
                 out, i0, i1)

    run_split(run, n, g.size * 4)
    return out


def _weights(xp: Any, size: int, count: int) -> tuple[Any, Any]:
    import numpy as np

    if count == 1:  # the kernel adds float64 terms instead
        return np.zeros(1, np.float32), np.zeros(1, np.float32)
    lo, hi = edge_weights(xp, size, count, None)
    return np.ascontiguousarray(lo, np.float32), np.ascontiguousarray(hi, np.float32)


def _input(array: Any, dtype: Any) -> Any:
    """C-contiguous NumPy array the kernels only read; read-only arrays (views of JAX
    arrays) are aliased writeable, so numba compiles no read-only specialization."""
    import numpy as np

    return read_alias(np.ascontiguousarray(array, dtype))


def _indices(box_indices: Any, n: int, batch: int) -> Any:
    """int64 box indices, checked: the kernels index memory with them unchecked."""
    import numpy as np

    idx = np.asarray(box_indices).astype(np.int64).reshape(-1)
    if idx.shape[0] != n:
        raise ValueError(f"box_indices must have {n} entries; got {idx.shape[0]}")
    if n and (idx.min() < 0 or idx.max() >= batch):
        raise IndexError(f"box_indices must lie in [0, {batch})")
    return idx


def _check_shape(name: str, array: Any, shape: tuple[int, ...]) -> None:
    if tuple(array.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {shape}; got {tuple(array.shape)}")
