"""``torch.autograd`` for :func:`xcrop.crop_and_resize`: TF's gradient operations as the
backward, each computed only when its input requires a gradient."""

from __future__ import annotations

import dataclasses
from typing import Any

from .._core.args import CropArgs, GradBoxesArgs, GradImageArgs
from .._dispatch import run as dispatch

__all__ = ["crop_and_resize"]

_FUNCTION: Any = None


def _function() -> Any:
    global _FUNCTION
    if _FUNCTION is not None:
        return _FUNCTION
    import torch
    from torch.autograd.function import once_differentiable

    class CropAndResize(torch.autograd.Function):
        """crop_and_resize with TF's gradient operations as its backward."""

        @staticmethod
        def forward(ctx: Any, image: Any, boxes: Any, args: CropArgs) -> Any:
            # Grad mode is off in here: the forward's fast paths serve.
            ctx.args = args
            ctx.save_for_backward(image, boxes)
            return dispatch.crop_and_resize(args)

        @staticmethod
        @once_differentiable
        def backward(ctx: Any, grads: Any) -> Any:
            image, boxes = ctx.saved_tensors
            args: CropArgs = ctx.args
            grads = grads.contiguous()
            grad_image = grad_boxes = None
            if ctx.needs_input_grad[0]:
                grad_image = dispatch.grad_image(GradImageArgs(
                    backend=args.backend, grads=grads, box_indices=args.box_indices,
                    in_y=args.in_y, in_x=args.in_x, image_shape=tuple(image.shape),
                    method=args.method, dtype=image.dtype))
            if ctx.needs_input_grad[1]:
                grad_boxes = dispatch.grad_boxes(GradBoxesArgs(
                    backend=args.backend, grads=grads, image=image.detach(),
                    boxes=boxes.detach(), box_indices=args.box_indices))
            return grad_image, grad_boxes, None

    _FUNCTION = CropAndResize
    return _FUNCTION


def crop_and_resize(args: CropArgs) -> Any:
    """The crop of ``args`` recorded by autograd (image and boxes are its inputs)."""
    detached = dataclasses.replace(args, in_y=args.in_y.detach(), in_x=args.in_x.detach())
    return _function().apply(args.image, args.boxes, detached)
