"""``jax.custom_vjp`` for :func:`xcrop.crop_and_resize`: ``jax.grad`` (eager, under
``jax.jit`` and ``jax.vmap``) gets TF's gradient operations."""

from __future__ import annotations

import dataclasses
from typing import Any

from .._core.args import GRAD_DTYPES, CropArgs, GradBoxesArgs, GradImageArgs
from .._core.arrays import dtype_name, is_traced
from .._core.coordinates import sample_coordinates
from .._core.validation import checked_coordinates
from .._dispatch import run as dispatch

__all__ = ["crop_and_resize"]


def crop_and_resize(args: CropArgs) -> Any:
    """The crop of ``args`` as a ``custom_vjp`` function of (image, boxes, box_indices)."""
    import jax

    xp = args.backend.xp
    height, width = args.image.shape[1], args.image.shape[2]
    float_image = dtype_name(xp, args.image.dtype) in GRAD_DTYPES

    def coordinates(boxes: Any) -> tuple[Any, Any]:
        dev = args.backend.device
        return (sample_coordinates(xp, boxes[:, 0:1], boxes[:, 2:3], height, args.crop_height,
                                   dev),
                sample_coordinates(xp, boxes[:, 1:2], boxes[:, 3:4], width, args.crop_width,
                                   dev))

    def run(image: Any, boxes: Any, box_indices: Any) -> tuple[Any, Any, Any]:
        """The crop and its sample coordinates (kept for the image gradient)."""
        if is_traced(boxes) or is_traced(box_indices):
            in_y, in_x = coordinates(boxes)  # the serving path checks traced values
        else:
            # Eager jax.grad: validation saw tracers and left the value checks and the
            # coordinates to here, where the values are concrete: both as for any
            # concrete call (on NumPy views; a dozen eager JAX ops otherwise).
            in_y, in_x, _, _ = checked_coordinates(
                args.backend, boxes, box_indices, args.image.shape[0], (height, width),
                (args.crop_height, args.crop_width), before=lambda: None)
        out = dispatch.crop_and_resize(dataclasses.replace(
            args, image=image, boxes=boxes, box_indices=box_indices, in_y=in_y, in_x=in_x))
        return out, in_y, in_x

    f = jax.custom_vjp(lambda image, boxes, box_indices: run(image, boxes, box_indices)[0])

    def fwd(image: Any, boxes: Any, box_indices: Any) -> Any:
        out, in_y, in_x = run(image, boxes, box_indices)
        return out, (image, boxes, box_indices, in_y, in_x)

    def bwd(res: Any, grads: Any) -> Any:
        image, boxes, box_indices, in_y, in_x = res
        grad_image = None
        if float_image:
            grad_image = dispatch.grad_image(GradImageArgs(
                backend=args.backend, grads=grads, box_indices=box_indices, in_y=in_y,
                in_x=in_x, image_shape=tuple(image.shape), method=args.method,
                dtype=image.dtype, boxes=boxes))
        grad_boxes = dispatch.grad_boxes(GradBoxesArgs(
            backend=args.backend, grads=grads, image=image, boxes=boxes,
            box_indices=box_indices))
        return grad_image, grad_boxes, None

    f.defvjp(fwd, bwd)
    return f(args.image, args.boxes, args.box_indices)
