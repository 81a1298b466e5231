"""Traced JAX calls on CPU (``jax.jit``, ``vmap``, ``grad``): xcrop's numba kernels as XLA
FFI custom calls, run by XLA on its own buffers, with no copy and no Python callback.

Under tracing the generic path compiles to many XLA ops (0.3-0.8x TF's speed) and cannot
check values; these paths put one custom call in the program instead
(``numba.ffi_handlers`` has the handlers and what they compute):

* ``crop_and_resize``: every image dtype (float16 converted to float32 first, exact),
  bilinear and nearest; the sample coordinates are computed in the handler by TF's
  float32 recipe, and a bad box (index out of range, non-finite, coordinates overflowing
  float32) fails the call with xcrop's message;
* ``extract_glimpse``: both versions, every fill; the seed (given, or drawn when the call
  is traced) is an attribute of the call;
* the gradients (``crop_and_resize_grad_image``, ``_grad_boxes``, which the
  ``custom_vjp`` of ``_frameworks.jax_vjp`` dispatches to, so ``jax.jit(jax.grad(...))``
  of a crop): TF's gradient kernels, with the same value checks as the crop (the
  gradients' wording); the image gradient for float16/32/64 results, the box gradient for
  every crop image dtype.

A failed check surfaces when the computation runs, as the error JAX raises for a failed
custom call: ``jax.errors.JaxRuntimeError`` (a ``RuntimeError``) from the first call of a
jitted function, ``ValueError`` from its later calls (JAX's C++ dispatch), in both cases
with xcrop's message after XLA's status prefix (``INVALID_ARGUMENT: `` or
``OUT_OF_RANGE: ``). JAX offers no way to raise xcrop's own exception types from there.

``vmap``: ``vmap_method="expand_dims"``: the handler gets the batched operands with their
extra leading dimensions and loops over them in compiled code.

Only where numba is importable and JAX's default backend is the CPU (the targets are
registered for the CPU platform only; a program for another platform keeps the generic
path). Each target is compiled (or loaded from numba's cache) and registered on first use.
If jaxlib's FFI API (its ``c_api.h``) is not the one the handlers read, or a handler
cannot be compiled or registered, one ``RuntimeWarning`` says so and the generic path
serves every later traced call.
"""

from __future__ import annotations

import math
import os
import threading
import warnings
from typing import Any

from .._core import random
from .._core.args import (
    CROP_IMAGE_DTYPES,
    CropArgs,
    GlimpseArgs,
    GradBoxesArgs,
    GradImageArgs,
)
from .._core.arrays import dtype_name, is_traced
from .._core.errors import PathUnavailable
from .numba.loader import available as numba_available
from .path_records import one_per_operation

__all__ = ["PREFIX", "crop", "glimpse", "grad_boxes", "grad_image", "paths", "target", "usable"]

#: Prefix of xcrop's FFI target names.
PREFIX = "xcrop_numba_"
NAME = "jax CPU XLA FFI path (numba kernel)"
_NOISE = {"uniform": 0, "gaussian": 1, "zero": 2}
_M64 = 2**64 - 1

_lock = threading.Lock()
_registered: dict[str, Any] = {}
_ffi_ok: bool | None = None


def _header_version() -> tuple[int, int] | None:
    """``(XLA_FFI_API_MAJOR, XLA_FFI_API_MINOR)`` of the ``c_api.h`` jaxlib ships, or None
    if it cannot be read."""
    import re

    import jax.ffi

    try:
        header = os.path.join(jax.ffi.include_dir(), "xla", "ffi", "api", "c_api.h")
        with open(header, encoding="utf-8") as f:
            text = f.read()
        major = re.search(r"#define\s+XLA_FFI_API_MAJOR\s+(\d+)", text)
        minor = re.search(r"#define\s+XLA_FFI_API_MINOR\s+(\d+)", text)
    except (OSError, AttributeError):
        return None
    if major is None or minor is None:
        return None
    return int(major.group(1)), int(minor.group(1))


def _unusable(why: str) -> None:
    # One warning per process, then the generic path serves every traced call.
    global _ffi_ok
    _ffi_ok = False
    warnings.warn(f"xcrop: the XLA FFI paths are off ({why}); traced JAX calls take the "
                  "generic path (exact, slower)", RuntimeWarning, stacklevel=3)


def _ffi_importable() -> bool:
    global _ffi_ok
    if _ffi_ok is None:
        try:
            import jax.ffi  # noqa: F401

            from .numba import ffi_handlers  # noqa: F401  (imports numba)
            from .numba.xla_ffi import API_MAJOR, API_MINOR
        except Exception:  # an old jax, or numba missing or broken: no warning needed
            _ffi_ok = False
            return False
        # The handlers read the call frame of FFI API 0.3 (numba/xla_ffi.py); later minor
        # versions only append fields. Each handler also checks the struct sizes it reads
        # when it runs, and fails with an INTERNAL error rather than read past them.
        version = _header_version()
        if version is not None and (version[0] != API_MAJOR or version[1] < API_MINOR):
            _unusable(f"jaxlib's XLA FFI API is {version[0]}.{version[1]}, the handlers "
                      f"read {API_MAJOR}.{API_MINOR}")
        else:
            _ffi_ok = True
    return bool(_ffi_ok)


def usable(*arrays: Any) -> bool:
    """Whether a call with these JAX arrays may take the FFI paths: one of them traced,
    numba available, the CPU as JAX's default backend."""
    if not any(is_traced(a) for a in arrays) or not numba_available():
        return False
    if not _ffi_importable():
        return False
    import jax

    return jax.default_backend() == "cpu"


def target(name: str) -> str:
    """The registered FFI target of handler ``name`` (``numba.ffi_handlers.HANDLERS``),
    compiling and registering it on first use."""
    with _lock:
        if name not in _registered:
            import jax

            from .numba import ffi_handlers

            try:
                handler = ffi_handlers.handler(name)
                jax.ffi.register_ffi_target(PREFIX + name,
                                            jax.ffi.pycapsule(handler.address),
                                            platform="cpu")
            except Exception as exc:  # numba cannot compile it, or JAX refuses it
                _unusable(f"target {name}: {type(exc).__name__}: {exc}")
                raise PathUnavailable(str(exc)) from exc
            _registered[name] = handler  # keeps the compiled code alive
    return PREFIX + name


def _call(name: str, shape: tuple[int, ...], dtype: Any, *, checks: bool = False) -> Any:
    """The custom call of handler ``name``. ``checks``: it fails the program on bad values,
    so it must run even where nothing uses its result (an output with no elements, whose
    computation JAX and XLA otherwise drop with the call)."""
    import jax

    return jax.ffi.ffi_call(target(name), jax.ShapeDtypeStruct(shape, dtype),
                            vmap_method="expand_dims", has_side_effect=checks)


def _indices(box_indices: Any) -> Any:
    """int32 or int64 box indices as they are; narrower integer types as int32 (exact:
    validation already widened uint16 and wider unsigned types)."""
    import jax.numpy as jnp

    if box_indices.dtype in (jnp.int32, jnp.int64):
        return box_indices
    return box_indices.astype(jnp.int32)


# ----------------------------------------------------------------------------------------
# crop_and_resize
# ----------------------------------------------------------------------------------------

def _crop_predicate(args: CropArgs) -> bool:
    n, _, _, depth = args.output_shape
    return n > 0 and depth > 0 and usable(args.image, args.boxes, args.box_indices)


def crop(args: CropArgs) -> Any:
    """The crop of ``args`` as one custom call: float32 ``(n, ch, cw, D)``."""
    import jax.numpy as jnp
    import numpy as np

    image = args.image
    kind = dtype_name(jnp, image.dtype)
    if kind == "float16":
        image, kind = image.astype(jnp.float32), "float32"  # exact, as the eager path does
    call = _call(f"crop_{kind}", args.output_shape, jnp.float32)
    return call(image, args.boxes, _indices(args.box_indices),
                fill=np.float32(args.extrapolation_value),
                method=np.int32(0 if args.method == "bilinear" else 1))


# ----------------------------------------------------------------------------------------
# extract_glimpse
# ----------------------------------------------------------------------------------------

def _glimpse_predicate(args: GlimpseArgs) -> bool:
    # fill_start (a chunk of a larger call) is only set by the dask path on NumPy blocks.
    return (min(args.output_shape) > 0 and min(args.input.shape[1:3]) > 0
            and args.fill_start == 0 and usable(args.input, args.offsets))


def glimpse(args: GlimpseArgs) -> Any:
    """The glimpses of ``args`` as one custom call: float32 ``(B, h, w, D)``."""
    import jax.numpy as jnp
    import numpy as np

    seed = random.random_seed() if args.seed is None else args.seed
    call = _call("glimpse", args.output_shape, jnp.float32)
    return call(args.input, args.offsets, centered=np.int32(args.centered),
                noise=np.int32(_NOISE[args.noise]), normalized=np.int32(args.normalized),
                seed=np.uint64(seed & _M64), version=np.int32(args.version))


# ----------------------------------------------------------------------------------------
# the gradients
# ----------------------------------------------------------------------------------------

def _table(kind: str) -> Any:
    """The kernels' float32 decoding table for ``kind`` (``grad_drivers.decode_table``),
    as a constant of the program."""
    import jax.numpy as jnp

    from .numba.grad_drivers import decode_table

    return jnp.asarray(decode_table(kind))


def _grad_image_predicate(args: GradImageArgs) -> bool:
    # The boxes, not only their coordinates: the handler checks their values (validation
    # cannot, under tracing) and computes the coordinates from them as the forward does.
    return args.boxes is not None and usable(args.grads, args.boxes, args.box_indices)


def grad_image(args: GradImageArgs) -> Any:
    """TF's ``CropAndResizeGradImage`` of ``args`` as one custom call: ``args.image_shape``
    of ``args.dtype`` (float16, float32 or float64)."""
    import jax.numpy as jnp
    import numpy as np

    kind = dtype_name(jnp, args.dtype)
    shape = tuple(int(v) for v in args.image_shape)
    # An empty gradient (depth 0) still checks the boxes: kept by checks=True (see _call).
    call = _call(f"grad_image_{kind}", shape, args.dtype, checks=math.prod(shape) == 0)
    return call(args.grads.astype(jnp.float32), args.boxes.astype(jnp.float32),
                _indices(args.box_indices), _table(kind),
                method=np.int32(0 if args.method == "bilinear" else 1))


def _grad_boxes_predicate(args: GradBoxesArgs) -> bool:
    import jax.numpy as jnp

    return (dtype_name(jnp, args.image.dtype) in CROP_IMAGE_DTYPES
            and usable(args.grads, args.image, args.boxes, args.box_indices))


def grad_boxes(args: GradBoxesArgs) -> Any:
    """TF's ``CropAndResizeGradBoxes`` of ``args`` as one custom call: float32 ``(n, 4)``."""
    import jax.numpy as jnp

    kind = dtype_name(jnp, args.image.dtype)
    call = _call(f"grad_boxes_{kind}", (int(args.grads.shape[0]), 4), jnp.float32)
    return call(args.grads.astype(jnp.float32), args.image, args.boxes.astype(jnp.float32),
                _indices(args.box_indices), _table(kind))


def paths() -> list[dict[str, Any]]:
    """The traceable JAX CPU paths (see ``_backends.builtin_paths``)."""
    return one_per_operation(
        (crop, glimpse, grad_image, grad_boxes),
        (_crop_predicate, _glimpse_predicate, _grad_image_predicate, _grad_boxes_predicate),
        (NAME,) * 4, backend="jax", priority=0, device="cpu", traceable=True)
