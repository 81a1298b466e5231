"""Argument checking for the public functions, in TensorFlow's order (spec §1.2, §2.1).

Each ``validate_*`` function runs every check once, at the public boundary, and returns
a small record holding the arguments as arrays of one backend, ready for any path.
"""

from __future__ import annotations

import numbers
import sys
from dataclasses import dataclass, replace
from typing import Any

from array_api_compat import device as array_device
from array_api_compat import size as array_size

from ._backend import Backend, as_array, dtype_name, is_array, python_int_pair, resolve_backend
from ._config import check_output_size
from ._coordinates import sample_coordinates
from ._errors import BoxIndexError, InvalidArgumentError, UnsupportedDTypeError

__all__ = [
    "CROP_IMAGE_DTYPES",
    "CropArgs",
    "GlimpseArgs",
    "is_traced",
    "validate_crop_and_resize",
    "validate_extract_glimpse",
]

#: Image dtypes ``tf.image.crop_and_resize`` accepts (spec §1.1).
CROP_IMAGE_DTYPES = (
    "uint8", "uint16", "int8", "int16", "int32", "int64", "float16", "float32", "float64",
)  # fmt: skip
METHODS = ("bilinear", "nearest")
NOISES = ("uniform", "gaussian", "zero", "")
_FLOAT_DTYPES = ("float16", "float32", "float64")
# Beyond 2**24 pixels along an axis, float32 no longer holds every pixel position and the
# float64 centre formula TF uses for one-row crops stops being reproducible in float32.
MAX_AXIS = 2**24
# TF stores crop and glimpse sizes as int32.
MAX_SIZE = 2**31 - 1


@dataclass(frozen=True)
class CropArgs:
    """Validated ``crop_and_resize`` arguments, all on ``backend``."""

    backend: Backend
    image: Any  # (B, H, W, D), one of CROP_IMAGE_DTYPES
    boxes: Any  # (n, 4) float32
    box_indices: Any  # (n,) integer, every value in [0, B)
    crop_height: int
    crop_width: int
    method: str
    extrapolation_value: float
    in_y: Any  # (n, crop_height) float32 sample rows, no NaN
    in_x: Any  # (n, crop_width) float32 sample columns, no NaN

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        return (
            self.boxes.shape[0],
            self.crop_height,
            self.crop_width,
            self.image.shape[3],
        )


@dataclass(frozen=True)
class GlimpseArgs:
    """Validated ``extract_glimpse`` arguments, all on ``backend``."""

    backend: Backend
    input: Any  # (B, H, W, D) float32
    offsets: Any  # (B, 2) float32, (y, x)
    height: int
    width: int
    centered: bool
    normalized: bool
    noise: str  # "uniform", "gaussian" or "zero"
    version: int  # 1 (tf.compat.v1, op ExtractGlimpse) or 2 (ExtractGlimpseV2)
    seed: int | None

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        return (self.input.shape[0], self.height, self.width, self.input.shape[3])


def is_traced(x: object) -> bool:
    """True for an abstract value being traced (``jax.jit``/``vmap``/``grad`` tracers, or
    any tensor while ``torch.compile`` traces): its values cannot be read in Python.

    Only shapes, dtypes and the static arguments are checked for traced arrays; box-index
    range, box finiteness and coordinate overflow are checked on concrete arrays only.
    """
    jax = sys.modules.get("jax")
    if jax is not None and isinstance(x, jax.core.Tracer):
        return True
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        compiler = getattr(torch, "compiler", None)
        return bool(compiler is not None and compiler.is_compiling())
    return False


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(x.shape)


def first_violation(xp: Any, mask: Any) -> int | None:
    """Index of the first True of a 1-D bool array; None when it has none, or when the
    mask is abstract. Checking the mask itself, not just the inputs, matters: under
    ``jax.jit``/``jax.vmap`` even arrays computed from concrete inputs are tracers."""
    if is_traced(mask) or not bool(xp.any(mask)):
        return None
    return int(xp.argmax(xp.astype(mask, xp.int8)))


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise InvalidArgumentError(f"{name} must be one of {choices}; got {value!r}")
    return value


def check_bool(name: str, value: object) -> bool:
    """``value`` as a Python bool; NumPy's bool scalar (not a ``bool`` subclass) is accepted."""
    kind = type(value)
    numpy_bool = kind.__module__ == "numpy" and kind.__name__ in ("bool", "bool_")
    if isinstance(value, bool) or numpy_bool:
        return bool(value)
    raise TypeError(f"{name} must be a bool; got {value!r}")


def _for_value(backend: Backend, value: object) -> Backend:
    """``backend`` as seen by ``value``: a tracer has no device (JAX reports None), so the
    device check between a traced and a concrete argument is skipped."""
    if is_array(value) and (backend.device is None or is_traced(value)):
        return replace(backend, device=array_device(value))
    return backend


def _float_array(backend: Backend, name: str, value: object, primary: str) -> Any:
    """A real floating array converted to float32 (lists are converted directly)."""
    backend = _for_value(backend, value)
    xp = backend.xp
    if isinstance(value, (list, tuple)):
        try:
            return xp.asarray(value, dtype=xp.float32, device=backend.device)
        except (TypeError, ValueError, OverflowError, RuntimeError) as exc:
            raise TypeError(f"{name} could not be converted to a float32 array: {exc}") from exc
    arr = as_array(backend, name, value, primary=primary)
    kind = dtype_name(xp, arr.dtype)
    if kind not in _FLOAT_DTYPES:
        raise UnsupportedDTypeError(
            f"{name} must have a real floating dtype (float16, float32 or float64); got {kind}"
        )
    return xp.astype(arr, xp.float32) if kind != "float32" else arr


def _index_array(backend: Backend, name: str, value: object, primary: str) -> Any:
    """An integer array (any signed or unsigned width; bool is not an integer here)."""
    backend = _for_value(backend, value)
    xp = backend.xp
    arr = as_array(backend, name, value, primary=primary)
    kind = dtype_name(xp, arr.dtype)
    if kind in ("uint16", "uint32", "uint64"):
        # Some libraries (PyTorch) cannot even compare these; int64 holds every valid
        # index, and a wrapped-around huge value still fails the range check.
        return xp.astype(arr, xp.int64)
    if kind.startswith(("int", "uint")):
        return arr
    if isinstance(value, (list, tuple)) and array_size(arr) == 0:
        # An empty Python list converts to a float array; it holds no indices anyway.
        return xp.astype(arr, xp.int32)
    raise UnsupportedDTypeError(f"{name} must have an integer dtype; got {kind}")


def _check_extrapolation_value(value: object) -> float:
    # A real number, or anything float() takes that is not a bool/str (a 0-d array).
    if isinstance(value, (bool, str, bytes, complex)) or not (
        isinstance(value, numbers.Real) or hasattr(value, "__float__")
    ):
        raise TypeError(f"extrapolation_value must be a real number; got {value!r}")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise TypeError(f"extrapolation_value must be a real number; got {value!r}") from exc


def validate_crop_and_resize(
    image: object,
    boxes: object,
    box_indices: object,
    crop_size: object,
    method: object,
    extrapolation_value: object,
) -> CropArgs:
    """Check ``crop_and_resize`` arguments in TF's order and convert them.

    Raises ``TypeError`` (:class:`UnsupportedDTypeError`) for bad types and dtypes,
    ``ValueError`` (:class:`InvalidArgumentError`) for bad shapes and values and
    ``IndexError`` (:class:`BoxIndexError`) for a box index outside ``[0, batch)``.
    """
    backend = resolve_backend("image", image)
    xp = backend.xp
    kind = dtype_name(xp, image.dtype)
    if kind not in CROP_IMAGE_DTYPES:
        raise UnsupportedDTypeError(
            f"image dtype {kind} is not supported; expected one of {', '.join(CROP_IMAGE_DTYPES)}"
        )
    method = _check_choice("method", method, METHODS)
    fill = _check_extrapolation_value(extrapolation_value)
    boxes = _float_array(backend, "boxes", boxes, "image")
    box_indices = _index_array(backend, "box_indices", box_indices, "image")

    if image.ndim != 4:
        raise InvalidArgumentError(
            f"image must be 4-D (batch, height, width, depth); got shape {_shape(image)}"
        )
    batch, height, width, _ = image.shape
    if height <= 0 or width <= 0:
        raise InvalidArgumentError(
            f"image height and width must be positive; got shape {_shape(image)}"
        )
    if height > MAX_AXIS or width > MAX_AXIS:
        raise InvalidArgumentError(
            f"image height and width must be at most 2**24 = {MAX_AXIS}; got shape "
            f"{_shape(image)}"
        )
    if boxes.ndim != 2:
        raise InvalidArgumentError(f"boxes must be 2-D (num_boxes, 4); got shape {_shape(boxes)}")
    if box_indices.ndim != 1:
        raise InvalidArgumentError(
            f"box_indices must be 1-D (num_boxes,); got shape {_shape(box_indices)}"
        )
    if array_size(boxes) == 0 and array_size(box_indices) == 0:
        # TF accepts any pair of empty boxes/indices as "no boxes". Reshape rather than
        # replace, so autograd still reaches the caller's (empty) boxes.
        boxes = xp.reshape(boxes, (0, 4))
    else:
        if boxes.shape[1] != 4:
            raise InvalidArgumentError(
                f"boxes must have 4 columns [y1, x1, y2, x2]; got shape {_shape(boxes)}"
            )
        if box_indices.shape[0] != boxes.shape[0]:
            raise InvalidArgumentError(
                f"box_indices must have one entry per box: boxes has {boxes.shape[0]} rows, "
                f"box_indices has shape {_shape(box_indices)}"
            )
    crop_height, crop_width = python_int_pair("crop_size", crop_size, backend)
    if crop_height <= 0 or crop_width <= 0:
        raise InvalidArgumentError(
            f"crop_size must be positive (crop_height, crop_width); got "
            f"({crop_height}, {crop_width})"
        )
    if crop_height > MAX_SIZE or crop_width > MAX_SIZE:
        raise InvalidArgumentError(
            f"crop_size must fit in int32 (at most {MAX_SIZE}); got ({crop_height}, {crop_width})"
        )

    num_boxes = boxes.shape[0]
    traced = is_traced(boxes) or is_traced(box_indices)
    # CPU torch tensors and eager CPU JAX arrays are checked and mapped on zero-copy NumPy
    # views: these are about twenty small elementwise ops, which cost milliseconds each in
    # torch when its thread pool competes with other work (they dominated many-small-crop
    # calls) and are dispatched one by one in eager JAX, microseconds in NumPy. Same
    # code, same bits.
    host = None if traced else _numpy_views(backend, boxes, box_indices)
    vxp, vboxes, vindices = host if host is not None else (xp, boxes, box_indices)
    if num_boxes and not traced:
        check_box_values(vxp, vboxes, vindices, batch)
    # Before the coordinates: a refused call must not allocate (n, crop) arrays first.
    check_output_size("crop_and_resize", (num_boxes, crop_height, crop_width, image.shape[3]))
    device = None if host is not None else backend.device
    in_y = sample_coordinates(vxp, vboxes[:, 0:1], vboxes[:, 2:3], height, crop_height, device)
    in_x = sample_coordinates(vxp, vboxes[:, 1:2], vboxes[:, 3:4], width, crop_width, device)
    if num_boxes and not traced:
        check_coordinates(vxp, vboxes, in_y, in_x)
    if host is not None:
        in_y, in_x = _from_numpy(backend, in_y), _from_numpy(backend, in_x)
    return CropArgs(
        backend=backend,
        image=image,
        boxes=boxes,
        box_indices=box_indices,
        crop_height=crop_height,
        crop_width=crop_width,
        method=method,
        extrapolation_value=fill,
        in_y=in_y,
        in_x=in_x,
    )


def _numpy_views(backend: Backend, boxes: Any, box_indices: Any) -> tuple[Any, ...] | None:
    """``(numpy namespace, boxes, box_indices)`` as zero-copy NumPy views of CPU torch
    tensors and of concrete JAX arrays on one CPU device (eager JAX would dispatch, and
    per new shape compile, every op separately); None for any other input (or without
    NumPy)."""
    if backend.name == "torch":
        if boxes.device.type != "cpu":
            return None
        boxes, box_indices = boxes.detach(), box_indices.detach()
    elif backend.name == "jax":
        from ._fast.jax_paths import on_cpu

        if not (on_cpu(boxes) and on_cpu(box_indices)):
            return None
    else:
        return None
    try:
        import array_api_compat.numpy as npx
        import numpy as np
    except ImportError:  # torch without NumPy: torch's own ops serve
        return None
    return npx, np.asarray(boxes), np.asarray(box_indices)


def _from_numpy(backend: Backend, a: Any) -> Any:
    """NumPy array ``a`` as an array of ``backend`` (zero-copy for torch)."""
    if backend.name == "torch":
        import torch

        return torch.from_numpy(a)
    import jax

    return jax.device_put(a, backend.device)


def check_box_values(xp: Any, boxes: Any, box_indices: Any, batch: int,
                     why: str = "") -> None:
    """Box-index range, then box finiteness (TF's order). Skipped for traced values."""
    i = first_violation(xp, (box_indices < 0) | (box_indices >= batch))
    if i is not None:
        raise BoxIndexError(
            f"box_indices has values outside [0, batch_size) = [0, {batch}): "
            f"box_indices[{i}] = {int(box_indices[i])}"
        )
    i = first_violation(xp, ~xp.all(xp.isfinite(boxes), axis=1))
    if i is not None:
        raise InvalidArgumentError(
            f"boxes must be finite; boxes[{i}] = {_row(boxes, i)} is not{why}"
        )


def check_coordinates(xp: Any, boxes: Any, *coords: Any) -> None:
    """Reject boxes whose finite values overflow float32 into a NaN sample coordinate
    (TF indexes out of bounds there). Skipped for traced values."""
    undefined = xp.any(xp.isnan(coords[0]), axis=1)
    for c in coords[1:]:
        undefined = undefined | xp.any(xp.isnan(c), axis=1)
    i = first_violation(xp, undefined)
    if i is not None:
        raise InvalidArgumentError(
            f"boxes[{i}] = {_row(boxes, i)} overflows float32 when mapped to image "
            f"coordinates (TF would index out of bounds here); boxes must keep "
            f"|y|*(height-1), |x|*(width-1) and the box extents within float32 range"
        )


def _row(boxes: Any, i: int) -> list[float]:
    return [float(boxes[i, j]) for j in range(boxes.shape[1])]


def validate_extract_glimpse(
    input: object,
    size: object,
    offsets: object,
    centered: object,
    normalized: object,
    noise: object,
    version: int,
    seed: object,
) -> GlimpseArgs:
    """Check ``extract_glimpse`` arguments in TF's order (spec §2.1) and convert them."""
    backend = resolve_backend("input", input)
    xp = backend.xp
    kind = dtype_name(xp, input.dtype)
    if kind != "float32":
        raise UnsupportedDTypeError(
            f"input must be float32 (as in TF); got {kind}. Convert it first, e.g. "
            f"xp.astype(input, xp.float32)"
        )
    centered = check_bool("centered", centered)
    normalized = check_bool("normalized", normalized)
    # TF's op reads an empty noise string as "gaussian" (its pre-V2 spelling).
    noise = _check_choice("noise", noise, NOISES) or "gaussian"
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise TypeError(f"seed must be None or a non-negative int; got {seed!r}")
    if seed is not None and int(seed) < 0:  # type: ignore[call-overload]
        raise InvalidArgumentError(f"seed must be None or a non-negative int; got {seed!r}")
    offsets = _float_array(backend, "offsets", offsets, "input")

    if input.ndim != 4:
        raise InvalidArgumentError(
            f"input must be 4-D (batch, height, width, depth); got shape {_shape(input)}"
        )
    glimpse_height, glimpse_width = python_int_pair("size", size, backend)
    if glimpse_height < 0 or glimpse_width < 0:
        raise InvalidArgumentError(
            f"size must be non-negative (glimpse_height, glimpse_width); got "
            f"({glimpse_height}, {glimpse_width})"
        )
    if glimpse_height > MAX_SIZE or glimpse_width > MAX_SIZE:
        raise InvalidArgumentError(
            f"size must fit in int32 (at most {MAX_SIZE}); got ({glimpse_height}, {glimpse_width})"
        )
    batch = input.shape[0]
    height, width = input.shape[1], input.shape[2]
    if offsets.ndim != 2:
        raise InvalidArgumentError(
            f"offsets must be 2-D (batch, 2); got shape {_shape(offsets)}"
        )
    if offsets.shape[0] != batch:
        raise InvalidArgumentError(
            f"offsets must have one row per batch element ({batch}); got shape "
            f"{_shape(offsets)}"
        )
    if offsets.shape[1] != 2:
        raise InvalidArgumentError(
            f"offsets must have 2 columns (y, x); got shape {_shape(offsets)}"
        )
    if height > MAX_AXIS or width > MAX_AXIS:
        raise InvalidArgumentError(
            f"input height and width must be at most 2**24 = {MAX_AXIS}; got shape "
            f"{_shape(input)}"
        )
    return GlimpseArgs(
        backend=backend,
        input=input,
        offsets=offsets,
        height=glimpse_height,
        width=glimpse_width,
        centered=centered,
        normalized=normalized,
        noise=noise,
        version=version,
        seed=None if seed is None else int(seed),  # type: ignore[call-overload]
    )
