"""Autodiff hooks: TF's gradients through :func:`xcrop.crop_and_resize` on PyTorch and JAX.

The only backend-specific module of the gradient machinery: it wraps a validated forward
call so that ``loss.backward()`` (a ``torch.autograd.Function``) and ``jax.grad``
(a ``jax.custom_vjp``) run the generic gradient functions of
``xcrop._generic.gradients``, i.e. TF's ``CropAndResizeGradImage`` (image, float16/32/64
only) and ``CropAndResizeGradBoxes`` (boxes, always; the bilinear gradient even for a
nearest forward, as TF). No gradient flows to ``box_indices``, ``crop_size`` or
``extrapolation_value``.

Accumulation order: both gradients are sequential folds in TF's order (bit-exact,
deterministic). On JAX the fold is a ``lax.fori_loop`` whose step count may be traced, so
the same exact accumulation runs eagerly and under ``jax.jit`` / ``jax.vmap``.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from typing import Any

from ._backend import dtype_name
from ._coordinates import sample_coordinates
from ._generic import gradients as _grad
from ._registry import generic_forced
from ._validation import CropArgs, is_traced

__all__ = ["crop_and_resize"]

_FLOATS = ("float16", "float32", "float64")


def crop_and_resize(args: CropArgs, run: Callable[[CropArgs], Any]) -> Any:
    """``run(args)``, made differentiable when the caller's framework asks for gradients."""
    name = args.backend.name
    if name == "torch" and _torch_wants_grad(args):
        return _torch_crop(args, run)
    if name == "jax" and (is_traced(args.image) or is_traced(args.boxes)):
        return _jax_crop(args, run)
    return run(args)


# ------------------------------------------------------------------------------------ torch


def _torch_wants_grad(args: CropArgs) -> bool:
    torch = sys.modules["torch"]
    return torch.is_grad_enabled() and bool(
        getattr(args.image, "requires_grad", False) or getattr(args.boxes, "requires_grad", False)
    )


_TORCH_FN: Any = None


def _torch_function() -> Any:
    global _TORCH_FN
    if _TORCH_FN is not None:
        return _TORCH_FN
    import torch
    from torch.autograd.function import once_differentiable

    class CropAndResize(torch.autograd.Function):
        """crop_and_resize with TF's gradient ops as its backward."""

        @staticmethod
        def forward(ctx: Any, image: Any, boxes: Any, args: CropArgs, run: Any) -> Any:
            ctx.args = args
            ctx.save_for_backward(image, boxes)
            return run(args)

        @staticmethod
        @once_differentiable
        def backward(ctx: Any, grads: Any) -> Any:
            image, boxes = ctx.saved_tensors
            args: CropArgs = ctx.args
            xp = args.backend.xp
            grads = grads.contiguous()
            grad_image = grad_boxes = None
            if ctx.needs_input_grad[0]:
                grad_image = image_gradient(
                    xp, "torch", grads, args.box_indices, args.in_y.detach(),
                    args.in_x.detach(), tuple(image.shape), args.method, image.dtype,
                )
            if ctx.needs_input_grad[1]:
                grad_boxes = box_gradient(xp, "torch", grads, image.detach(), boxes.detach(),
                                          args.box_indices)
            return grad_image, grad_boxes, None, None

    _TORCH_FN = CropAndResize
    return _TORCH_FN


def _torch_crop(args: CropArgs, run: Callable[[CropArgs], Any]) -> Any:
    fn = _torch_function()
    detached = dataclasses.replace(
        args, in_y=args.in_y.detach(), in_x=args.in_x.detach()
    )
    return fn.apply(args.image, args.boxes, detached, run)


# -------------------------------------------------------------------------------------- jax


def _jax_fold(body: Any, init: Any, steps: Any) -> Any:
    """The sequential fold as one ``lax.fori_loop``: compiled once, and it takes a traced
    step count, so the exact TF-order accumulation also runs under ``jax.jit``."""
    import jax

    return jax.lax.fori_loop(0, steps, body, init)


def fold_for(backend_name: str) -> Any:
    """The fold the generic gradients should use on this backend."""
    return _jax_fold if backend_name == "jax" else _grad.python_fold


#: Libraries whose gradients have host fast paths (``xcrop._fast.host_gradients``):
#: NumPy (box gradient sums) and torch CPU (both gradients on NumPy views).
HOST_GRADIENT_LIBRARIES = ("numpy", "torch")


def row_sums_for(backend_name: str) -> Any:
    """The host fast path for the box gradient's sequential sums (NumPy, torch CPU), or
    None: the generic fold (also inside :func:`xcrop.use_generic`)."""
    if backend_name in HOST_GRADIENT_LIBRARIES and not generic_forced():
        from ._fast.host_gradients import sequential_row_sums

        return sequential_row_sums
    return None


def image_gradient(xp: Any, backend_name: str, grads: Any, box_indices: Any, in_y: Any,
                   in_x: Any, image_shape: tuple[int, int, int, int], method: str,
                   dtype: Any) -> Any:
    """TF's image gradient: the host fast path for CPU torch tensors, else generic."""
    if backend_name == "torch" and not generic_forced():
        from ._fast.host_gradients import torch_cpu_image_gradient

        out = torch_cpu_image_gradient(grads, box_indices, in_y, in_x, image_shape, method,
                                       dtype)
        if out is not None:
            return out
    return _grad.image_gradient(xp, grads, box_indices, in_y, in_x, image_shape, method,
                                dtype, fold=fold_for(backend_name))


def box_gradient(xp: Any, backend_name: str, grads: Any, image: Any, boxes: Any,
                 box_indices: Any) -> Any:
    """TF's box gradient: the host fast path for CPU torch tensors, else generic."""
    if backend_name == "torch" and not generic_forced():
        from ._fast.host_gradients import torch_cpu_box_gradient

        out = torch_cpu_box_gradient(grads, image, boxes, box_indices)
        if out is not None:
            return out
    return _grad.box_gradient(xp, grads, image, boxes, box_indices,
                              fold=fold_for(backend_name), row_sums=row_sums_for(backend_name))


def _jax_crop(args: CropArgs, run: Callable[[CropArgs], Any]) -> Any:
    import jax

    xp = args.backend.xp
    height, width = args.image.shape[1], args.image.shape[2]
    ch, cw = args.crop_height, args.crop_width
    float_image = dtype_name(xp, args.image.dtype) in _FLOATS

    def coordinates(boxes: Any) -> tuple[Any, Any]:
        dev = args.backend.device
        return (sample_coordinates(xp, boxes[:, 0:1], boxes[:, 2:3], height, ch, dev),
                sample_coordinates(xp, boxes[:, 1:2], boxes[:, 3:4], width, cw, dev))

    def forward(image: Any, boxes: Any, box_indices: Any) -> Any:
        in_y, in_x = coordinates(boxes)
        return run(dataclasses.replace(args, image=image, boxes=boxes,
                                       box_indices=box_indices, in_y=in_y, in_x=in_x))

    f = jax.custom_vjp(forward)

    def fwd(image: Any, boxes: Any, box_indices: Any) -> Any:
        return forward(image, boxes, box_indices), (image, boxes, box_indices)

    def bwd(res: Any, grads: Any) -> Any:
        image, boxes, box_indices = res
        grad_image = None
        if float_image:
            in_y, in_x = coordinates(boxes)
            grad_image = _grad.image_gradient(
                xp, grads, box_indices, in_y, in_x, tuple(image.shape), args.method,
                image.dtype, fold=_jax_fold,
            )
        grad_boxes = _grad.box_gradient(xp, grads, image, boxes, box_indices, fold=_jax_fold)
        return grad_image, grad_boxes, None

    f.defvjp(fwd, bwd)
    return f(args.image, args.boxes, args.box_indices)
