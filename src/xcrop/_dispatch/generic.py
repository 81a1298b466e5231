"""The generic path: the reference implementations, as dispatch runs them.

The reference crop runs in chunks of boxes for large outputs, so that its temporaries
stay bounded; the reference gradients get the loop primitive of the caller's library
for their sequential folds (``lax.fori_loop`` on JAX, which also runs traced).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .._core.args import CropArgs, GlimpseArgs, GradBoxesArgs, GradImageArgs
from .._core.arrays import is_traced
from .._core.validation import OVERRUN
from .._reference import crop_and_resize as reference_crop
from .._reference import extract_glimpse as reference_glimpse
from .._reference import gradients as reference_gradients

__all__ = ["GENERIC_CHUNK_BYTES", "crop_and_resize", "extract_glimpse", "grad_boxes",
           "grad_image"]

#: Output bytes per chunk of the generic crop. Its temporaries are about 12 chunk-sized
#: float32 arrays, so this keeps them near 100 MB (well under 2x any output large enough
#: to be chunked) and cache-friendlier than one huge pass.
GENERIC_CHUNK_BYTES = 8 * 2**20


def _checked(args: Any, image_hw: tuple[int, int], crop_hw: tuple[int, int],
             why: str = "") -> Any:
    """``args`` with box indices that carry the value checks validation could not run
    (traced JAX boxes or indices: ``_backends.jax_checks``); ``args`` otherwise."""
    if args.backend.name != "jax" or args.boxes is None or not (
            is_traced(args.boxes) or is_traced(args.box_indices)):
        return args
    from .._backends.jax_checks import checked_indices

    batch = args.image_shape[0] if isinstance(args, GradImageArgs) else args.image.shape[0]
    return replace(args, box_indices=checked_indices(args.boxes, args.box_indices, batch,
                                                     image_hw, crop_hw, why))


def crop_and_resize(args: CropArgs) -> Any:
    """The reference crop, chunked along boxes (and along output rows for huge boxes)."""
    args = _checked(args, tuple(args.image.shape[1:3]), (args.crop_height, args.crop_width))
    n, ch, cw, depth = args.output_shape
    per_row = cw * max(depth, 1) * 4
    per_box = ch * per_row
    if n * per_box <= GENERIC_CHUNK_BYTES:
        return reference_crop.crop_and_resize(args)
    xp = args.backend.xp
    if per_box > GENERIC_CHUNK_BYTES:
        # Each output row's samples depend only on its own coordinate, so one huge box
        # is bounded too.
        rows = max(1, GENERIC_CHUNK_BYTES // per_row)
        return xp.concat([_crop_rows(args, i, rows) for i in range(n)], axis=0)
    step = GENERIC_CHUNK_BYTES // per_box
    parts = []
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        parts.append(reference_crop.crop_and_resize(replace(
            args, boxes=args.boxes[i0:i1, ...], box_indices=args.box_indices[i0:i1],
            in_y=args.in_y[i0:i1, ...], in_x=args.in_x[i0:i1, ...],
        )))
    return xp.concat(parts, axis=0)


def _crop_rows(args: CropArgs, i: int, rows: int) -> Any:
    """Box ``i`` of a crop, computed ``rows`` output rows at a time."""
    parts = []
    for r0 in range(0, args.crop_height, rows):
        r1 = min(args.crop_height, r0 + rows)
        parts.append(reference_crop.crop_and_resize(replace(
            args, boxes=args.boxes[i:i + 1, ...], box_indices=args.box_indices[i:i + 1],
            in_y=args.in_y[i:i + 1, r0:r1], in_x=args.in_x[i:i + 1, ...], crop_height=r1 - r0,
        )))
    return args.backend.xp.concat(parts, axis=1)


def extract_glimpse(args: GlimpseArgs) -> Any:
    """The reference glimpse (not chunked: the seeded fill is defined over the whole
    output)."""
    return reference_glimpse.extract_glimpse(args)


def _fold(args: Any) -> reference_gradients.Fold:
    if args.backend.name == "jax":
        from .._backends.jax_fold import lax_fold

        return lax_fold
    return reference_gradients.python_fold


def grad_image(args: GradImageArgs) -> Any:
    """The reference image gradient."""
    args = _checked(args, tuple(args.image_shape[1:3]), tuple(args.grads.shape[1:3]),
                    OVERRUN)
    return reference_gradients.image_gradient(args, fold=_fold(args))


def grad_boxes(args: GradBoxesArgs) -> Any:
    """The reference box gradient."""
    args = _checked(args, tuple(args.image.shape[1:3]), tuple(args.grads.shape[1:3]),
                    OVERRUN)
    return reference_gradients.box_gradient(args, fold=_fold(args))
