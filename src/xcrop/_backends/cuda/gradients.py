"""CUDA kernels for the gradients of crop_and_resize (``cuda/gradients.cu``): CuPy arrays and
torch CUDA tensors, one launch per gradient, TF's sequential order bit for bit, no atomics.

The launch glue is the forward's (``cuda/paths``: its ``KernelCall``, module cache,
stream and DLPack helpers are reused, not copied):

* ``grad_image_call`` / ``grad_boxes_call`` build the ``KernelCall`` for arrays of one
  library ``lib`` (``numpy`` in the host tests, ``cupy`` here);
* ``run_grad_image`` / ``run_grad_boxes`` allocate the output (unless given) and launch;
* ``paths()`` registers them as the gradient fast paths for CuPy arrays (current device
  and stream) and torch CUDA tensors (torch's current stream, zero-copy through DLPack,
  output allocated by torch). They take a ``GradImageArgs`` / ``GradBoxesArgs``
  (``_core/args``); their predicates decline (the registry then picks the generic
  gradient) when the kernels are disabled (``XCROP_NO_CUDA_KERNEL``), CuPy is unusable,
  or the dtype is one the kernels do not take.

Arguments are the validated ones: ``grads`` float32 ``(n, crop_h, crop_w, D)``,
``box_indices`` in ``[0, B)``, ``in_y``/``in_x`` the forward's sample coordinates (no NaN),
finite boxes. Nothing here imports CuPy or torch until a call arrives.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..._core.args import CROP_IMAGE_DTYPES, GRAD_DTYPES, GradBoxesArgs, GradImageArgs
from .paths import (
    CUPY_NAME,
    TORCH_DTYPES,
    TORCH_NAME,
    KernelCall,
    as_cupy,
    cupy_launch,
    cupy_path,
    cupy_usable,
    float32_scalar,
    is_torch_cuda,
    kernels_disabled,
    torch_stream,
)

__all__ = ["grad_boxes_call", "grad_image_call", "paths", "run_grad_boxes", "run_grad_image"]


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


def grad_image_call(args: GradImageArgs, lib: Any, out: Any) -> KernelCall:
    """The image-gradient kernel call writing ``out``: C-contiguous ``args.image_shape`` of
    the image dtype (float16/32/64), every element written (it may come from ``empty``)."""
    import numpy as np

    grads, box_indices, in_y, in_x = args.grads, args.box_indices, args.in_y, args.in_x
    image_shape, method = args.image_shape, args.method
    kind = str(out.dtype)
    if kind not in GRAD_DTYPES or method not in ("bilinear", "nearest"):
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


def run_grad_image(args: GradImageArgs, lib: Any, launch: Callable[[KernelCall], None],
                   out: Any = None) -> Any:
    """TF's image gradient through the kernel; returns ``out`` (allocated with ``lib`` on
    the current device when None)."""
    if out is None:
        out = lib.empty(tuple(args.image_shape), dtype=_dtype_name(args.dtype))
    if math.prod(out.shape) > 0:
        launch(grad_image_call(args, lib, out))
    return out


def _ratio(size: int, count: int) -> Any:
    # TF: float((size - 1) / (count - 1)) from a double quotient; unused for a crop of 1.
    return float32_scalar((size - 1) / (count - 1) if count > 1 else 0.0)


def grad_boxes_call(args: GradBoxesArgs, lib: Any, out: Any) -> KernelCall:
    """The box-gradient kernel call writing ``out`` (float32 ``(n, 4)``, C-contiguous)."""
    import numpy as np

    grads, boxes, box_indices = args.grads, args.boxes, args.box_indices
    image = lib.ascontiguousarray(args.image)
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


def run_grad_boxes(args: GradBoxesArgs, lib: Any, launch: Callable[[KernelCall], None],
                   out: Any = None) -> Any:
    """TF's box gradient through the kernel; returns ``out`` (float32 ``(n, 4)``)."""
    if out is None:
        out = lib.empty((args.grads.shape[0], 4), dtype=lib.float32)
    if args.grads.shape[0] > 0:
        launch(grad_boxes_call(args, lib, out))
    return out


# ----------------------------------------------------------------------------------------
# The registered paths: CuPy arrays (current device and stream) and torch CUDA tensors
# (torch's current stream, zero-copy through DLPack)
# ----------------------------------------------------------------------------------------

_cupy_image_ok, _cupy_image = cupy_path(
    run_grad_image, "grads", lambda args: _dtype_name(args.dtype) in GRAD_DTYPES)
_cupy_boxes_ok, _cupy_boxes = cupy_path(
    run_grad_boxes, "image", lambda args: str(args.image.dtype) in CROP_IMAGE_DTYPES)


def _torch_image_ok(args: GradImageArgs) -> bool:
    return (not kernels_disabled() and is_torch_cuda(args.grads)
            and _dtype_name(args.dtype) in GRAD_DTYPES and cupy_usable())


def _torch_boxes_ok(args: GradBoxesArgs) -> bool:
    return (not kernels_disabled() and is_torch_cuda(args.image)
            and _dtype_name(args.image.dtype) in TORCH_DTYPES and cupy_usable())


def _on_cupy(args: Any, names: tuple[str, ...]) -> Any:
    from dataclasses import replace

    return replace(args, **{n: as_cupy(getattr(args, n)) for n in names})


def _torch_image(args: GradImageArgs) -> Any:
    import cupy
    import torch

    out = torch.empty(tuple(args.image_shape), dtype=args.dtype, device=args.grads.device)
    if out.numel():
        with torch_stream(args.grads.device):
            view = _on_cupy(args, ("grads", "box_indices", "in_y", "in_x"))
            run_grad_image(view, cupy, cupy_launch, out=as_cupy(out))
    return out


def _torch_boxes(args: GradBoxesArgs) -> Any:
    import cupy
    import torch

    out = torch.empty((args.grads.shape[0], 4), dtype=torch.float32, device=args.image.device)
    if out.numel():
        with torch_stream(args.image.device):
            view = _on_cupy(args, ("grads", "image", "boxes", "box_indices"))
            run_grad_boxes(view, cupy, cupy_launch, out=as_cupy(out))
    return out



def paths() -> list[dict[str, Any]]:
    """The CUDA gradient fast paths (see ``_backends.builtin_paths``)."""
    image, boxes = "crop_and_resize_grad_image", "crop_and_resize_grad_boxes"
    return [
        dict(operation=image, backend="cupy", implementation=_cupy_image,
             predicate=_cupy_image_ok, name=CUPY_NAME, device="gpu"),
        dict(operation=boxes, backend="cupy", implementation=_cupy_boxes,
             predicate=_cupy_boxes_ok, name=CUPY_NAME, device="gpu"),
        dict(operation=image, backend="torch", implementation=_torch_image,
             predicate=_torch_image_ok, name=TORCH_NAME, device="gpu"),
        dict(operation=boxes, backend="torch", implementation=_torch_boxes,
             predicate=_torch_boxes_ok, name=TORCH_NAME, device="gpu"),
    ]
