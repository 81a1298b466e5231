"""xcrop's operations as PyTorch custom operators (``torch.library``, namespace ``xcrop``).

Every torch call of :func:`xcrop.crop_and_resize`, :func:`xcrop.extract_glimpse`,
``xcrop.compat.v1.extract_glimpse`` and the public gradient functions goes through one
operator, so that
``torch.compile(fullgraph=True)`` and ``torch.export`` see a single opaque node instead of
tracing xcrop's Python (docs/api.md, "torch.compile and torch.export"):

``xcrop::crop_and_resize(Tensor image, Tensor boxes, Tensor box_indices, SymInt crop_height,
SymInt crop_width, str method, float extrapolation_value) -> Tensor``
    float32 ``(n, crop_height, crop_width, D)``.
``xcrop::extract_glimpse(Tensor input, Tensor offsets, SymInt height, SymInt width,
bool centered, bool normalized, str noise, int version, int? seed) -> Tensor``
    float32 ``(B, height, width, D)``; ``version`` 1 is ``tf.compat.v1``'s op
    (``ExtractGlimpse``), 2 ``ExtractGlimpseV2``.
``xcrop::crop_and_resize_grad_image(Tensor grads, Tensor boxes, Tensor box_indices,
SymInt[] image_shape, str method, ScalarType dtype) -> Tensor``
    ``image_shape`` in ``dtype`` (float16/32/64).
``xcrop::crop_and_resize_grad_boxes(Tensor grads, Tensor image, Tensor boxes,
Tensor box_indices) -> Tensor``
    float32 ``(n, 4)``.

Layers (docs/architecture.md): the public function validates what does not depend on
values (types, dtypes, shapes, sizes: this much runs under tracing too) and calls the
operator. The operator's kernel runs on real tensors: it validates again, now with the
value checks (box index range, non-finite boxes, coordinate overflow; xcrop's usual
exceptions), and serves the call by dispatch (the numba kernels on CPU, the CuPy-compiled
CUDA kernels on the tensor's current stream, torch array code when neither is there).
The fake kernels give shapes and dtypes only; no output size depends on values.

Autograd: ``crop_and_resize``'s backward runs the two gradient operators, each only when
its input needs a gradient (docs/semantics.md §1.7); no gradient flows to box indices,
sizes or the fill value. The gradient operators have no backward (TF has none either).

Seeds: a seed is an int64 in the schema, so the 64-bit seeds xcrop accepts (``[0,
2**64)``) travel as their two's-complement int64 and are read back unsigned. ``seed=None``
stays None in the graph and the kernel draws a fresh seed each time it runs, eagerly
and in compiled or exported programs alike, so a compiled program never freezes one fill.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import torch

from .._core.arrays import ieee_quiet
from .._core.errors import InvalidArgumentError
from .._core.validation import (
    validate_crop_and_resize,
    validate_extract_glimpse,
    validate_grad_boxes,
    validate_grad_image,
)
from .._dispatch import run as dispatch

__all__ = [
    "SCHEMAS",
    "crop_and_resize",
    "crop_and_resize_grad_boxes",
    "crop_and_resize_grad_image",
    "extract_glimpse",
]

_M64 = 2**64

#: The operators' schemas (``torch.ops.xcrop.<name>``).
SCHEMAS = {
    "crop_and_resize": "(Tensor image, Tensor boxes, Tensor box_indices, SymInt crop_height, "
                       "SymInt crop_width, str method, float extrapolation_value) "
                       "-> Tensor",
    "extract_glimpse": "(Tensor input, Tensor offsets, SymInt height, SymInt width, "
                       "bool centered, bool normalized, str noise, int version, int? seed) "
                       "-> Tensor",
    "crop_and_resize_grad_image": "(Tensor grads, Tensor boxes, Tensor box_indices, "
                                  "SymInt[] image_shape, str method, ScalarType dtype) -> Tensor",
    "crop_and_resize_grad_boxes": "(Tensor grads, Tensor image, Tensor boxes, "
                                  "Tensor box_indices) -> Tensor",
}
_DEVICES = ("cpu", "cuda")


def _signed(seed: int | None) -> int | None:
    if seed is None:
        return None
    return seed - _M64 if seed >= 2**63 else seed


def _unsigned(seed: int | None) -> int | None:
    return None if seed is None else seed % _M64


# ----------------------------------------------------------------------------------------
# kernels: validate with the value checks, then dispatch (same code on CPU and CUDA; on
# CUDA dispatch picks the CuPy-compiled kernels, launched on torch's current stream).
# no_grad: the inputs may still require grad here, and the fast paths decline such calls.
# ----------------------------------------------------------------------------------------

def _crop_kernel(image: torch.Tensor, boxes: torch.Tensor, box_indices: torch.Tensor,
                 crop_height: int, crop_width: int, method: str,
                 extrapolation_value: float) -> torch.Tensor:
    with torch.no_grad(), ieee_quiet():
        args = validate_crop_and_resize(image.detach(), boxes.detach(), box_indices,
                                        (crop_height, crop_width), method, extrapolation_value)
        return dispatch.crop_and_resize(args)


def _glimpse_kernel(input: torch.Tensor, offsets: torch.Tensor, height: int, width: int,
                    centered: bool, normalized: bool, noise: str, version: int,
                    seed: int | None) -> torch.Tensor:
    if version not in (1, 2):
        raise InvalidArgumentError(f"version must be 1 or 2; got {version}")
    with torch.no_grad(), ieee_quiet():
        args = validate_extract_glimpse(input.detach(), (height, width), offsets.detach(),
                                        centered, normalized, noise, version=version,
                                        seed=_unsigned(seed))
        return dispatch.extract_glimpse(args)


def _grad_image_kernel(grads: torch.Tensor, boxes: torch.Tensor, box_indices: torch.Tensor,
                       image_shape: Sequence[int], method: str,
                       dtype: torch.dtype) -> torch.Tensor:
    with torch.no_grad(), ieee_quiet():
        args = validate_grad_image(grads.detach().contiguous(), boxes.detach(), box_indices,
                                   list(image_shape), method, dtype)
        return dispatch.grad_image(args)


def _grad_boxes_kernel(grads: torch.Tensor, image: torch.Tensor, boxes: torch.Tensor,
                       box_indices: torch.Tensor) -> torch.Tensor:
    with torch.no_grad(), ieee_quiet():
        args = validate_grad_boxes(grads.detach().contiguous(), image.detach(), boxes.detach(),
                                   box_indices)
        return dispatch.grad_boxes(args)


# ----------------------------------------------------------------------------------------
# fake kernels: shapes and dtypes (ranks checked, so that a direct call under tracing
# fails with xcrop's error rather than an IndexError)
# ----------------------------------------------------------------------------------------

def _rank(name: str, x: torch.Tensor, rank: int) -> None:
    if x.dim() != rank:
        raise InvalidArgumentError(f"{name} must be {rank}-D; got shape {tuple(x.shape)}")


def _crop_fake(image: torch.Tensor, boxes: torch.Tensor, box_indices: torch.Tensor,
               crop_height: int, crop_width: int, method: str,
               extrapolation_value: float) -> torch.Tensor:
    _rank("image", image, 4)
    _rank("boxes", boxes, 2)
    return image.new_empty((boxes.shape[0], crop_height, crop_width, image.shape[3]),
                           dtype=torch.float32)


def _glimpse_fake(input: torch.Tensor, offsets: torch.Tensor, height: int, width: int,
                  centered: bool, normalized: bool, noise: str, version: int,
                  seed: int | None) -> torch.Tensor:
    _rank("input", input, 4)
    return input.new_empty((input.shape[0], height, width, input.shape[3]),
                           dtype=torch.float32)


def _grad_image_fake(grads: torch.Tensor, boxes: torch.Tensor, box_indices: torch.Tensor,
                     image_shape: Sequence[int], method: str,
                     dtype: torch.dtype) -> torch.Tensor:
    return grads.new_empty(tuple(image_shape), dtype=dtype)


def _grad_boxes_fake(grads: torch.Tensor, image: torch.Tensor, boxes: torch.Tensor,
                     box_indices: torch.Tensor) -> torch.Tensor:
    _rank("grads", grads, 4)
    return grads.new_empty((grads.shape[0], 4), dtype=torch.float32)


# ----------------------------------------------------------------------------------------
# autograd of crop_and_resize: TF's gradient operators
# ----------------------------------------------------------------------------------------

def _crop_setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    image, boxes, box_indices, _, _, method, _ = inputs
    ctx.save_for_backward(image, boxes, box_indices)
    ctx.method = method


def _crop_backward(ctx: Any, grads: torch.Tensor) -> tuple[Any, ...]:
    image, boxes, box_indices = ctx.saved_tensors
    grads = grads.contiguous()
    grad_image = grad_boxes = None
    if ctx.needs_input_grad[0]:
        grad_image = torch.ops.xcrop.crop_and_resize_grad_image(
            grads, boxes, box_indices, list(image.shape), ctx.method, image.dtype)
    if ctx.needs_input_grad[1]:
        grad_boxes = torch.ops.xcrop.crop_and_resize_grad_boxes(grads, image, boxes,
                                                                box_indices)
    return grad_image, grad_boxes, None, None, None, None, None


def _register() -> None:
    lib = torch.library
    kernels = {
        "crop_and_resize": (_crop_kernel, _crop_fake),
        "extract_glimpse": (_glimpse_kernel, _glimpse_fake),
        "crop_and_resize_grad_image": (_grad_image_kernel, _grad_image_fake),
        "crop_and_resize_grad_boxes": (_grad_boxes_kernel, _grad_boxes_fake),
    }
    for name, (kernel, fake) in kernels.items():
        op = lib.custom_op(f"xcrop::{name}", kernel, mutates_args=(),
                           device_types=_DEVICES, schema=SCHEMAS[name])
        op.register_fake(fake)
        if name == "crop_and_resize":
            op.register_autograd(_crop_backward, setup_context=_crop_setup_context)


if not hasattr(torch.ops.xcrop, "crop_and_resize"):  # once per process (reloads included)
    _register()


# ----------------------------------------------------------------------------------------
# the public functions' torch route
# ----------------------------------------------------------------------------------------

def crop_and_resize(image: torch.Tensor, boxes: Any, box_indices: Any, crop_size: Any,
                    method: str, extrapolation_value: float) -> torch.Tensor:
    """:func:`xcrop.crop_and_resize` of a torch ``image``: the static checks here (they
    also run while torch.compile or torch.export trace), then ``xcrop::crop_and_resize``."""
    args = validate_crop_and_resize(image, boxes, box_indices, crop_size, method,
                                    extrapolation_value, values=False)
    return torch.ops.xcrop.crop_and_resize(args.image, args.boxes, args.box_indices,
                                           args.crop_height, args.crop_width, args.method,
                                           args.extrapolation_value)


def extract_glimpse(input: torch.Tensor, size: Any, offsets: Any, centered: Any,
                    normalized: Any, noise: Any, version: int, seed: Any) -> torch.Tensor:
    """:func:`xcrop.extract_glimpse` (``version=2``) or its TF1 twin (``version=1``) of a
    torch ``input``: every check (none reads values) and the float32 conversion here,
    then ``xcrop::extract_glimpse``."""
    args = validate_extract_glimpse(input, size, offsets, centered, normalized, noise,
                                    version=version, seed=seed)
    return torch.ops.xcrop.extract_glimpse(args.input, args.offsets, args.height, args.width,
                                           args.centered, args.normalized, args.noise,
                                           args.version, _signed(args.seed))


def _quiet() -> contextlib.AbstractContextManager[object]:
    # Eager validation of the gradients computes on NumPy views (ieee_quiet silences
    # NumPy); dynamo cannot trace numpy.errstate, and traced torch code never warns.
    return contextlib.nullcontext() if torch.compiler.is_compiling() else ieee_quiet()


def crop_and_resize_grad_image(grads: torch.Tensor, boxes: Any, box_indices: Any,
                               image_shape: Any, method: str, dtype: Any) -> torch.Tensor:
    """:func:`xcrop.crop_and_resize_grad_image` of torch ``grads``: every check here (the
    value checks only on real tensors), then ``xcrop::crop_and_resize_grad_image``."""
    with _quiet():
        args = validate_grad_image(grads, boxes, box_indices, image_shape, method, dtype)
    return torch.ops.xcrop.crop_and_resize_grad_image(args.grads, args.boxes, args.box_indices,
                                                      list(args.image_shape), args.method,
                                                      args.dtype)


def crop_and_resize_grad_boxes(grads: Any, image: torch.Tensor, boxes: Any,
                               box_indices: Any) -> torch.Tensor:
    """:func:`xcrop.crop_and_resize_grad_boxes` of a torch ``image``: every check here (the
    value checks only on real tensors), then ``xcrop::crop_and_resize_grad_boxes``."""
    with _quiet():
        args = validate_grad_boxes(grads, image, boxes, box_indices)
    return torch.ops.xcrop.crop_and_resize_grad_boxes(args.grads, args.image, args.boxes,
                                                      args.box_indices)
