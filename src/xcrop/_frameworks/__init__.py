"""Framework integration: TF's gradients through :func:`xcrop.crop_and_resize` on
PyTorch (``torch.autograd``) and JAX (``jax.custom_vjp``).

A forward call enters this package only when its framework may ask for a gradient: a
torch tensor that requires grad (grad mode on), or a JAX array being traced
(``jax.grad``/``jit``/``vmap``). Every other call goes straight to dispatch. The
backward runs ``crop_and_resize_grad_image`` (float images only) and
``crop_and_resize_grad_boxes`` through dispatch, computing only the gradients the
framework asks for. No gradient flows to ``box_indices``, ``crop_size`` or
``extrapolation_value`` (docs/semantics.md §1.7).
"""

from __future__ import annotations

import sys
from typing import Any

from .._core.args import CropArgs
from .._core.arrays import is_traced

__all__ = ["differentiable_crop_and_resize", "wants_gradient"]


def wants_gradient(args: CropArgs) -> bool:
    """Whether the caller's framework may ask for a gradient of this forward call."""
    name = args.backend.name
    if name == "torch":
        torch = sys.modules["torch"]
        return torch.is_grad_enabled() and bool(
            args.image.requires_grad or getattr(args.boxes, "requires_grad", False))
    if name == "jax":
        return is_traced(args.image) or is_traced(args.boxes)
    return False


def differentiable_crop_and_resize(args: CropArgs) -> Any:
    """The crop of ``args`` as a differentiable operation of its framework."""
    if args.backend.name == "torch":
        from .torch_autograd import crop_and_resize
    else:
        from .jax_vjp import crop_and_resize
    return crop_and_resize(args)
