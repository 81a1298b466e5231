"""JAX fast paths for eager calls on CPU arrays: the NumPy fast paths (the numba kernels
where numba is installed, NumPy code otherwise) on zero-copy NumPy views of the inputs.
The result is written into a 64-byte aligned host buffer that JAX adopts through DLPack
without a copy.

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

from typing import Any

from .._core.args import CropArgs, GlimpseArgs
from .._core.arrays import jax_on_cpu as on_cpu
from . import numpy as numpy_paths
from .host import aligned_empty, crop_view, glimpse_view, read_alias
from .numba.loader import available as numba_available

__all__ = ["lax_fold", "paths"]


def lax_fold(body: Any, init: Any, steps: Any) -> Any:
    """The reference gradients' sequential fold as one ``lax.fori_loop``: compiled once,
    and it takes a traced step count, so the exact TF-order accumulation also runs under
    ``jax.jit`` (the generic gradients on JAX use it)."""
    import jax

    return jax.lax.fori_loop(0, steps, body, init)


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
    return _crop_inputs_on_cpu(args) and numba_available()


def _numba_crop(args: CropArgs) -> Any:
    view = crop_view(args, _to_numpy)
    return _adopt(numpy_paths.numba_crop(view, view.image, aligned_empty), args.image)


def _crop_predicate(args: CropArgs) -> bool:
    return _crop_inputs_on_cpu(args) and numpy_paths.crop_predicate(
        crop_view(args, _to_numpy))


def _crop(args: CropArgs) -> Any:
    return _adopt(numpy_paths.crop(crop_view(args, _to_numpy), aligned_empty), args.image)


def _glimpse_predicate(args: GlimpseArgs) -> bool:
    return (on_cpu(args.input) and on_cpu(args.offsets)
            and numpy_paths.glimpse_predicate(glimpse_view(args, _to_numpy)))


def _glimpse(args: GlimpseArgs) -> Any:
    view = glimpse_view(args, _to_numpy)
    out = aligned_empty(args.output_shape)
    numpy_paths.glimpse_into(view, view.input, out)
    return _adopt(out, args.input)


def paths() -> list[dict[str, Any]]:
    """The JAX fast paths (see ``_backends.builtin_paths``): the eager ones here, the
    traceable XLA FFI ones of ``jax_ffi``."""
    from . import jax_ffi

    return [
        *jax_ffi.paths(),
        dict(operation="crop_and_resize", backend="jax", implementation=_crop,
             predicate=_crop_predicate, name="jax CPU fast path", priority=-1, device="cpu"),
        dict(operation="crop_and_resize", backend="jax", implementation=_numba_crop,
             predicate=_numba_crop_predicate, name="jax CPU fast path (numba kernel)",
             priority=0, device="cpu"),
        dict(operation="extract_glimpse", backend="jax", implementation=_glimpse,
             predicate=_glimpse_predicate, name="jax CPU fast path", priority=-1, device="cpu"),
    ]
