"""JAX fast paths for eager calls on CPU arrays: the NumPy fast paths (the numba kernels
where numba is installed, NumPy code otherwise) on zero-copy NumPy views of the inputs.
The result is written into an aligned host buffer (``buffers``) that JAX adopts through
DLPack without a copy.

Eager generic JAX dispatches (and on a new shape compiles) every elementwise operation
separately: about 0.9 s for the RoI-head benchmark call, against about 15 ms here.

Only concrete arrays on one CPU device: traced calls (``jax.jit``, ``vmap``, ``grad``)
take the traceable XLA FFI paths of ``jax_ffi`` (the numba kernels as custom calls) where
numba is installed, else the generic path; GPU and TPU arrays take the generic path.
Bits: those of the NumPy fast paths, which are conformance-tested bit-exact. The sample
coordinates come from validation, which for CPU arrays runs on NumPy views too; eager
JAX and NumPy compute them identically (every op rounds to float32, no contraction
across ops).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .._core.args import CropArgs, GlimpseArgs, GradBoxesArgs, GradImageArgs
from .._core.arrays import ieee_quiet
from .._core.arrays import jax_on_cpu as on_cpu
from .._reference import gradients as reference_gradients
from . import buffers
from . import numpy as numpy_paths
from .host import crop_view, glimpse_view, numpy_view, read_alias
from .host_gradients import sequential_row_sums
from .numba import grad_drivers
from .numba import loader as numba_loader
from .path_records import numba_kernel_paths

__all__ = ["paths"]


def _to_numpy(x: Any) -> Any:
    import numpy as np

    # Zero-copy for a CPU array; read-only, aliased as writeable so the numba kernels
    # compiled for NumPy inputs serve (the fast paths never write to their inputs).
    return read_alias(np.asarray(x))


def _adopt(out: Any, like: Any) -> Any:
    """``out`` (aligned NumPy) as a JAX array on ``like``'s device, without a copy."""
    import jax

    result = jax.dlpack.from_dlpack(out)
    device = next(iter(like.devices()))
    return result if device in result.devices() else jax.device_put(result, device)


def _crop_inputs_on_cpu(args: CropArgs) -> bool:
    return on_cpu(args.image) and on_cpu(args.boxes) and on_cpu(args.box_indices)


def _numba_crop_predicate(args: CropArgs) -> bool:
    return _crop_inputs_on_cpu(args) and numba_loader.ready(
        numba_loader.crop_key(args.image.dtype))


def _numba_crop(args: CropArgs) -> Any:
    view = crop_view(args, _to_numpy)
    return _adopt(numpy_paths.numba_crop(view, view.image), args.image)


def _crop_predicate(args: CropArgs) -> bool:
    return _crop_inputs_on_cpu(args) and numpy_paths.crop_predicate(
        crop_view(args, _to_numpy))


def _crop(args: CropArgs) -> Any:
    return _adopt(numpy_paths.crop(crop_view(args, _to_numpy)), args.image)


def _glimpse_predicate(args: GlimpseArgs) -> bool:
    return (on_cpu(args.input) and on_cpu(args.offsets)
            and numpy_paths.glimpse_predicate(glimpse_view(args, _to_numpy)))


def _glimpse(args: GlimpseArgs) -> Any:
    view = glimpse_view(args, _to_numpy)
    out = buffers.empty(args.output_shape)
    numpy_paths.glimpse_into(view, view.input, out)
    return _adopt(out, args.input)


# Gradients: the reference on zero-copy NumPy views, as for torch CPU tensors. Eager generic
# JAX compiles every operation of the sequential fold afresh per shape (seconds a call);
# NumPy runs the same operations in the same order, and has float64 where TF sums in
# float64 (a crop axis of size 1), which JAX without x64 has not.


def _grad_inputs_on_cpu(args: GradImageArgs | GradBoxesArgs) -> bool:
    arrays = (args.grads, args.box_indices, *((args.image, args.boxes)
                                               if isinstance(args, GradBoxesArgs) else ()))
    return all(on_cpu(a) for a in arrays)


def _grad_image(args: GradImageArgs) -> Any:
    import numpy as np

    view = replace(numpy_view(args, _to_numpy), dtype=np.dtype(args.dtype))
    with ieee_quiet():  # overflow to inf is TF's answer, not a warning
        out = reference_gradients.image_gradient(view)
    return _adopt(_aligned_copy(out), args.grads)


def _grad_boxes(args: GradBoxesArgs) -> Any:
    with ieee_quiet():
        out = reference_gradients.box_gradient(numpy_view(args, _to_numpy),
                                               row_sums=sequential_row_sums)
    return _adopt(_aligned_copy(out), args.grads)


def _aligned_copy(a: Any) -> Any:
    import numpy as np

    out = buffers.empty(a.shape, a.dtype)
    np.copyto(out, a)
    return out


def _numba_grads_ok(args: GradImageArgs | GradBoxesArgs) -> bool:
    return _grad_inputs_on_cpu(args) and numba_loader.available()


def _numba_grad_image(args: GradImageArgs) -> Any:
    import numpy as np

    view = replace(numpy_view(args, _to_numpy), dtype=np.dtype(args.dtype))
    return _adopt(_aligned_copy(grad_drivers.image_gradient(view)), args.grads)


def _numba_grad_boxes(args: GradBoxesArgs) -> Any:
    return _adopt(_aligned_copy(grad_drivers.box_gradient(numpy_view(args, _to_numpy))),
                  args.grads)


def paths() -> list[dict[str, Any]]:
    """The JAX fast paths (see ``_backends.builtin_paths``): the eager ones here, the
    traceable XLA FFI ones of ``jax_ffi``."""
    from . import jax_ffi

    return [
        *jax_ffi.paths(),
        dict(operation="crop_and_resize", backend="jax", implementation=_crop,
             predicate=_crop_predicate, name="jax CPU fast path", priority=-1, device="cpu"),
        *numba_kernel_paths("jax", "jax CPU fast path", crop=_numba_crop,
                            crop_ok=_numba_crop_predicate, grad_image=_numba_grad_image,
                            grad_boxes=_numba_grad_boxes, grads_ok=_numba_grads_ok),
        dict(operation="extract_glimpse", backend="jax", implementation=_glimpse,
             predicate=_glimpse_predicate, name="jax CPU fast path", priority=-1, device="cpu"),
        dict(operation="crop_and_resize_grad_image", backend="jax", implementation=_grad_image,
             predicate=_grad_inputs_on_cpu, name="jax CPU fast path (NumPy views)",
             priority=-1, device="cpu"),
        dict(operation="crop_and_resize_grad_boxes", backend="jax", implementation=_grad_boxes,
             predicate=_grad_inputs_on_cpu, name="jax CPU fast path (NumPy views)",
             priority=-1, device="cpu"),
    ]
