"""CUDA kernels for the gradients of crop_and_resize (``cuda/gradients.cu``): CuPy arrays and
torch CUDA tensors, one launch per gradient, TF's sequential order bit for bit, no atomics.

The launch glue mirrors ``cupy_paths``' forward glue (its ``KernelCall``, module cache,
stream and DLPack helpers are reused, not copied):

* ``grad_image_call`` / ``grad_boxes_call`` build the ``KernelCall`` for arrays of one
  library ``lib`` (``numpy`` in the host tests, ``cupy`` here);
* ``run_grad_image`` / ``run_grad_boxes`` allocate the output (unless given) and launch;
* ``cupy_image_gradient`` / ``cupy_box_gradient`` run them on CuPy arrays, on the current
  device and stream; ``torch_cuda_image_gradient`` / ``torch_cuda_box_gradient`` on torch
  CUDA tensors, on torch's current stream, zero-copy through DLPack, output allocated by
  torch. They take the arguments of ``xcrop._autodiff.image_gradient`` / ``box_gradient``
  (without ``xp`` and the backend name) and return None to decline (the caller then runs
  the generic gradient): kernels disabled (``XCROP_NO_CUDA_KERNEL``), CuPy unusable, a
  dtype the kernels do not take.

Arguments are the validated ones: ``grads`` float32 ``(n, crop_h, crop_w, D)``,
``box_indices`` in ``[0, B)``, ``in_y``/``in_x`` the forward's sample coordinates (no NaN),
finite boxes. Nothing here imports CuPy or torch until a call arrives.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .._validation import CROP_IMAGE_DTYPES
from .cupy_paths import (
    _TORCH_DTYPES,
    KernelCall,
    _as_cupy,
    _cupy_usable,
    _disabled,
    _float32_scalar,
    _torch_stream,
    cupy_launch,
)

__all__ = [
    "GRAD_IMAGE_DTYPES",
    "cupy_box_gradient",
    "cupy_image_gradient",
    "grad_boxes_call",
    "grad_image_call",
    "run_grad_boxes",
    "run_grad_image",
    "torch_cuda_box_gradient",
    "torch_cuda_image_gradient",
]

#: Image dtypes with an image-gradient kernel (TF has none for integer images).
GRAD_IMAGE_DTYPES = ("float16", "float32", "float64")


def _dtype_name(dtype: Any) -> str:
    """The name (``"float32"``) of a dtype: a name, a NumPy/CuPy dtype or type, a torch dtype."""
    if isinstance(dtype, str):
        return dtype
    text = str(dtype)
    if text.startswith("torch."):
        return text.removeprefix("torch.")
    import numpy as np

    return np.dtype(dtype).name


def _indices(lib: Any, box_indices: Any) -> Any:
    return lib.ascontiguousarray(box_indices.astype(lib.int64, copy=False))


def grad_image_call(grads: Any, box_indices: Any, in_y: Any, in_x: Any,
                    image_shape: tuple[int, int, int, int], method: str, lib: Any,
                    out: Any) -> KernelCall:
    """The image-gradient kernel call writing ``out``: C-contiguous ``image_shape`` of the
    image dtype (float16/32/64), every element written (it may come from ``empty``)."""
    import numpy as np

    kind = str(out.dtype)
    if kind not in GRAD_IMAGE_DTYPES or method not in ("bilinear", "nearest"):
        raise TypeError(f"no image-gradient kernel for ({method}, {kind})")
    batch, height, width, depth = (int(s) for s in image_shape)
    n, ch, cw, _ = grads.shape
    target = out.view(lib.uint16) if kind == "float16" else out  # the kernel writes bits
    return KernelCall(
        name=f"xcrop_grad_image_{method}_{kind}",
        total=batch * height * width * depth,
        args=(
            lib.ascontiguousarray(grads, dtype=lib.float32),
            lib.ascontiguousarray(in_y, dtype=lib.float32),
            lib.ascontiguousarray(in_x, dtype=lib.float32),
            _indices(lib, box_indices),
            np.int64(n), np.int64(batch), np.int64(height), np.int64(width), np.int64(depth),
            np.int64(ch), np.int64(cw),
            target,
        ),
    )


def run_grad_image(grads: Any, box_indices: Any, in_y: Any, in_x: Any,
                   image_shape: tuple[int, int, int, int], method: str, dtype: Any, lib: Any,
                   launch: Callable[[KernelCall], None], out: Any = None) -> Any:
    """TF's image gradient through the kernel; returns ``out`` (allocated with ``lib`` on
    the current device when None)."""
    if out is None:
        out = lib.empty(tuple(image_shape), dtype=_dtype_name(dtype))
    if math.prod(out.shape) > 0:
        launch(grad_image_call(grads, box_indices, in_y, in_x, image_shape, method, lib, out))
    return out


def _ratio(size: int, count: int) -> Any:
    # TF: float((size - 1) / (count - 1)) from a double quotient; unused for a crop of 1.
    return _float32_scalar((size - 1) / (count - 1) if count > 1 else 0.0)


def grad_boxes_call(grads: Any, image: Any, boxes: Any, box_indices: Any, lib: Any,
                    out: Any) -> KernelCall:
    """The box-gradient kernel call writing ``out`` (float32 ``(n, 4)``, C-contiguous)."""
    import numpy as np

    image = lib.ascontiguousarray(image)
    kind = str(image.dtype)
    if kind not in CROP_IMAGE_DTYPES:
        raise TypeError(f"image dtype {kind} has no CUDA kernel")
    if kind == "float16":
        image = image.view(lib.uint16)  # the kernel decodes the bits itself
    _, height, width, depth = image.shape
    n, ch, cw, _ = grads.shape
    return KernelCall(
        name=f"xcrop_grad_boxes_{kind}",
        total=2 * n,
        args=(
            lib.ascontiguousarray(grads, dtype=lib.float32),
            image,
            lib.ascontiguousarray(boxes, dtype=lib.float32),
            _indices(lib, box_indices),
            np.int64(n), np.int64(height), np.int64(width), np.int64(depth),
            np.int64(ch), np.int64(cw),
            _ratio(height, ch), _ratio(width, cw),
            out,
        ),
    )


def run_grad_boxes(grads: Any, image: Any, boxes: Any, box_indices: Any, lib: Any,
                   launch: Callable[[KernelCall], None], out: Any = None) -> Any:
    """TF's box gradient through the kernel; returns ``out`` (float32 ``(n, 4)``)."""
    if out is None:
        out = lib.empty((grads.shape[0], 4), dtype=lib.float32)
    if grads.shape[0] > 0:
        launch(grad_boxes_call(grads, image, boxes, box_indices, lib, out))
    return out


# ----------------------------------------------------------------------------------------
# CuPy arrays: current device, current stream
# ----------------------------------------------------------------------------------------


def cupy_image_gradient(grads: Any, box_indices: Any, in_y: Any, in_x: Any,
                        image_shape: tuple[int, int, int, int], method: str,
                        dtype: Any) -> Any | None:
    """TF's image gradient of CuPy arrays (``dtype`` float16/32/64), or None."""
    if _disabled() or _dtype_name(dtype) not in GRAD_IMAGE_DTYPES:
        return None
    import cupy

    with grads.device:
        return run_grad_image(grads, box_indices, in_y, in_x, image_shape, method, dtype,
                              cupy, cupy_launch)


def cupy_box_gradient(grads: Any, image: Any, boxes: Any, box_indices: Any) -> Any | None:
    """TF's box gradient of CuPy arrays (float32 ``(n, 4)``), or None."""
    if _disabled() or str(image.dtype) not in CROP_IMAGE_DTYPES:
        return None
    import cupy

    with image.device:
        return run_grad_boxes(grads, image, boxes, box_indices, cupy, cupy_launch)


# ----------------------------------------------------------------------------------------
# torch CUDA tensors: the same kernels on torch's current stream, zero-copy through DLPack
# ----------------------------------------------------------------------------------------


def _torch_ready(*tensors: Any) -> bool:
    return (not _disabled()
            and all(t.device.type == "cuda" for t in tensors) and _cupy_usable())


def torch_cuda_image_gradient(grads: Any, box_indices: Any, in_y: Any, in_x: Any,
                              image_shape: tuple[int, int, int, int], method: str,
                              dtype: Any) -> Any | None:
    """TF's image gradient of torch CUDA tensors (``dtype`` a torch float dtype), or None."""
    if (_dtype_name(dtype) not in GRAD_IMAGE_DTYPES
            or not _torch_ready(grads, box_indices, in_y, in_x)):
        return None
    import cupy
    import torch

    out = torch.empty(tuple(image_shape), dtype=dtype, device=grads.device)
    if out.numel() == 0:
        return out
    with _torch_stream(grads.device):
        run_grad_image(_as_cupy(grads), _as_cupy(box_indices), _as_cupy(in_y), _as_cupy(in_x),
                       image_shape, method, _dtype_name(dtype), cupy, cupy_launch,
                       out=_as_cupy(out))
    return out


def torch_cuda_box_gradient(grads: Any, image: Any, boxes: Any,
                            box_indices: Any) -> Any | None:
    """TF's box gradient of torch CUDA tensors (float32 ``(n, 4)``), or None."""
    if (_dtype_name(image.dtype) not in _TORCH_DTYPES
            or not _torch_ready(grads, image, boxes, box_indices)):
        return None
    import cupy
    import torch

    out = torch.empty((grads.shape[0], 4), dtype=torch.float32, device=image.device)
    if out.numel() == 0:
        return out
    with _torch_stream(image.device):
        run_grad_boxes(_as_cupy(grads), _as_cupy(image), _as_cupy(boxes),
                       _as_cupy(box_indices), cupy, cupy_launch, out=_as_cupy(out))
    return out
