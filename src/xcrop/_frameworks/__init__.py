"""Framework integration: xcrop's operations as PyTorch custom operators (``torch_ops``:
autograd, torch.compile, torch.export) and TF's gradients through
:func:`xcrop.crop_and_resize` on JAX (``jax.custom_vjp``).

Every torch call goes through ``torch_ops`` (:func:`torch_route`). A JAX forward call
enters this package only when it may be asked for a gradient: a JAX array being traced
(``jax.grad``/``jit``/``vmap``); other calls go straight to dispatch. The backward
(either framework) runs ``crop_and_resize_grad_image`` (float images only) and
``crop_and_resize_grad_boxes``, computing only the gradients the framework asks for.
No gradient flows to ``box_indices``, ``crop_size`` or ``extrapolation_value``
(docs/semantics.md §1.7).
"""

from __future__ import annotations

from typing import Any

from .._core.args import CropArgs
from .._core.arrays import is_torch_tensor, is_traced

__all__ = ["differentiable_crop_and_resize", "might_want_gradient", "torch_ops_module",
           "torch_route", "wants_gradient"]


_TORCH_OPS: list[Any] = []  # the torch_ops module once imported


def torch_route(x: object) -> Any:
    """The ``torch_ops`` module when ``x`` is a torch tensor (its operators registered),
    else None. Imports nothing unless torch is already imported. Neither ``sys.modules``
    nor an import statement is met here after the first call (torch.compile traces this
    function; see ``_core.arrays._torch_tensor``)."""
    if not is_torch_tensor(x):
        return None
    return torch_ops_module()


def torch_ops_module() -> Any:
    """The ``torch_ops`` module, imported on the first call (which registers the
    ``xcrop::`` operators); torch must be importable."""
    if not _TORCH_OPS:
        from . import torch_ops

        _TORCH_OPS.append(torch_ops)
    return _TORCH_OPS[0]


def might_want_gradient(image: object, boxes: object) -> bool:
    """Whether the raw ``image`` or ``boxes`` of a call (not a torch tensor) is being
    traced: the call may then be differentiated (:func:`wants_gradient` decides once the
    arguments are validated)."""
    return is_traced(image) or is_traced(boxes)


def wants_gradient(args: CropArgs) -> bool:
    """Whether JAX may ask for a gradient of this forward call (torch calls never get
    here: their operator has its autograd formula)."""
    if args.backend.name == "jax":
        return is_traced(args.image) or is_traced(args.boxes)
    return False


def differentiable_crop_and_resize(args: CropArgs) -> Any:
    """The crop of ``args`` as a differentiable operation of JAX."""
    from .jax_vjp import crop_and_resize

    return crop_and_resize(args)
