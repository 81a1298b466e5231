"""Argument checking for the four public operations, in TensorFlow's order.

Each ``validate_*`` function runs every check once, at the public boundary, and returns
the operation's record (``_core.args``) holding the arguments as arrays of one backend,
ready for any path. The order of the checks is TF's, so the first problem reported is
the one TF reports (docs/semantics.md §1.2, §2.1).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

from .args import (
    CROP_IMAGE_DTYPES,
    GLIMPSE_INPUT_DTYPES,
    GRAD_DTYPES,
    MAX_AXIS,
    MAX_SIZE,
    METHODS,
    NOISES,
    CropArgs,
    GlimpseArgs,
    GradBoxesArgs,
    GradImageArgs,
)
from .arrays import (
    Backend,
    check_bool,
    check_choice,
    check_real,
    dtype_name,
    float_array,
    from_host,
    host_values,
    index_array,
    is_lazy,
    is_traced,
    python_int_pair,
    python_ints,
    resolve_backend,
    shape_of,
)
from .arrays import size_of as array_size
from .config import check_output_size
from .coordinates import sample_coordinates
from .errors import BoxIndexError, InvalidArgumentError, UnsupportedDTypeError
from .float32 import flush_subnormals

__all__ = [
    "OVERRUN",
    "box_index_message",
    "check_box_values",
    "check_coordinates",
    "checked_coordinates",
    "first_violation",
    "non_finite_message",
    "overflow_message",
    "validate_crop_and_resize",
    "validate_extract_glimpse",
    "validate_grad_boxes",
    "validate_grad_image",
]

_ITEMSIZE = {"float16": 2, "float32": 4, "float64": 8}


def first_violation(xp: Any, mask: Any) -> int | None:
    """Index of the first True of a 1-D bool array; None when it has none, or when the
    mask is abstract. Checking the mask itself, not just the inputs, matters: under
    ``jax.jit``/``jax.vmap`` even arrays computed from concrete inputs are tracers."""
    if is_traced(mask) or not bool(xp.any(mask)):
        return None
    return int(xp.argmax(xp.astype(mask, xp.int8)))


def check_box_values(xp: Any, boxes: Any, box_indices: Any, batch: int,
                     why: str = "") -> None:
    """Box-index range, then box finiteness (TF's order). Skipped for traced values."""
    i = first_violation(xp, (box_indices < 0) | (box_indices >= batch))
    if i is not None:
        raise BoxIndexError(box_index_message(batch, i, int(box_indices[i])))
    i = first_violation(xp, ~xp.all(xp.isfinite(boxes), axis=1))
    if i is not None:
        raise InvalidArgumentError(non_finite_message(i, _row(boxes, i), why))


def check_coordinates(xp: Any, boxes: Any, *coords: Any) -> None:
    """Reject boxes whose finite values overflow float32 into a NaN sample coordinate
    (TF indexes out of bounds there). Skipped for traced values."""
    undefined = xp.any(xp.isnan(coords[0]), axis=1)
    for c in coords[1:]:
        undefined = undefined | xp.any(xp.isnan(c), axis=1)
    i = first_violation(xp, undefined)
    if i is not None:
        raise InvalidArgumentError(overflow_message(i, _row(boxes, i)))


# The value errors' messages, shared with the compiled checks that run under jax.jit
# (``_backends.numba.ffi_checks``), so both report a bad box in the same words.

def box_index_message(batch: int, i: int, value: int) -> str:
    """:class:`BoxIndexError`'s message for ``box_indices[i] = value``."""
    return (f"box_indices has values outside [0, batch_size) = [0, {batch}): "
            f"box_indices[{i}] = {value}")


def non_finite_message(i: int, row: list[float], why: str = "") -> str:
    """The message for a non-finite ``boxes[i] = row``."""
    return f"boxes must be finite; boxes[{i}] = {row} is not{why}"


def overflow_message(i: int, row: list[float]) -> str:
    """The message for a box whose sample coordinates overflow float32."""
    return (f"boxes[{i}] = {row} overflows float32 when mapped to image "
            f"coordinates (TF would index out of bounds here); boxes must keep "
            f"|y|*(height-1), |x|*(width-1) and the box extents within float32 range")


def _row(boxes: Any, i: int) -> list[float]:
    return [float(boxes[i, j]) for j in range(boxes.shape[1])]


def _image_dims(name: str, shape: tuple[int, ...]) -> tuple[int, int]:
    """Height and width of a 4-D image shape, checked: ``[1, 2**24]`` each."""
    height, width = shape[1], shape[2]
    if height <= 0 or width <= 0:
        raise InvalidArgumentError(f"{name} height and width must be positive; got shape {shape}")
    if height > MAX_AXIS or width > MAX_AXIS:
        raise InvalidArgumentError(
            f"{name} height and width must be at most 2**24 = {MAX_AXIS}; got shape {shape}"
        )
    return height, width


def _image(backend: Backend, image: Any) -> Any:
    kind = dtype_name(backend.xp, image.dtype)
    if kind not in CROP_IMAGE_DTYPES:
        raise UnsupportedDTypeError(
            f"image dtype {kind} is not supported; expected one of {', '.join(CROP_IMAGE_DTYPES)}"
        )
    return image


def _four_d(name: str, x: Any, axes: str) -> None:
    if x.ndim != 4:
        raise InvalidArgumentError(f"{name} must be 4-D ({axes}); got shape {shape_of(x)}")


def checked_coordinates(backend: Backend, boxes: Any, box_indices: Any, batch: int,
                        image_hw: tuple[int, int], crop_hw: tuple[int, int],
                        before: Callable[[], None], why: str = ""
                        ) -> tuple[Any, Any, Any, Any]:
    """The forward's sample coordinates ``(in_y, in_x)``, after the value checks (box-index
    range, finiteness; skipped when traced) and ``before()``, then the overflow check;
    then ``boxes`` and ``box_indices`` as the record should hold them.

    CPU torch tensors and eager CPU JAX arrays are checked and mapped on zero-copy NumPy
    views: about twenty small elementwise ops, which cost milliseconds each in torch when
    its thread pool competes with other work and are dispatched one by one in eager JAX,
    microseconds in NumPy. Same code, same bits.

    Dask boxes and box indices are computed here, once and together, when the call is
    made (the image stays lazy): their values are checked like any concrete array's, and
    the record holds them as one-block dask arrays, so that the path planning the graph
    reads them without computing the caller's graph again.
    """
    xp = backend.xp
    traced = is_traced(boxes) or is_traced(box_indices)
    views = None if traced else host_values(boxes, box_indices)
    host = views is not None and all(v is not None for v in views)
    if host:
        import array_api_compat.numpy as vxp

        vboxes, vindices = views  # type: ignore[misc]
    else:
        vxp, vboxes, vindices = xp, boxes, box_indices
    checked = boxes.shape[0] > 0 and not traced
    if checked:
        check_box_values(vxp, vboxes, vindices, batch, why)
    before()  # the output-size check: a refused call must not allocate (n, crop) first
    device = None if host else backend.device
    (height, width), (ch, cw) = image_hw, crop_hw
    in_y = sample_coordinates(vxp, vboxes[:, 0:1], vboxes[:, 2:3], height, ch, device)
    in_x = sample_coordinates(vxp, vboxes[:, 1:2], vboxes[:, 3:4], width, cw, device)
    if checked:
        check_coordinates(vxp, vboxes, in_y, in_x)
    if host:
        if is_lazy(boxes):
            boxes, box_indices = from_host(backend, vboxes), from_host(backend, vindices)
        return from_host(backend, in_y), from_host(backend, in_x), boxes, box_indices
    return in_y, in_x, boxes, box_indices


def _output_size(operation: str, primary: Any, shape: tuple[int, ...],
                 itemsize: int = 4) -> Callable[[], None]:
    """The output-size check of a call (``_core.config``). A dask output is never held
    whole: each of its tasks is a NumPy call that checks its own block."""
    if is_lazy(primary):
        return lambda: None
    return lambda: check_output_size(operation, shape, itemsize)


def _crop_size(crop_size: object, backend: Backend) -> tuple[int, int]:
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
    return crop_height, crop_width


def validate_crop_and_resize(
    image: object,
    boxes: object,
    box_indices: object,
    crop_size: object,
    method: object,
    extrapolation_value: object,
    values: bool = True,
) -> CropArgs:
    """Check ``crop_and_resize`` arguments in TF's order and convert them.

    ``values=False`` checks types, dtypes, shapes and sizes only and leaves ``in_y``/``in_x``
    None: the torch operators check the values where they exist (docs/architecture.md).

    Raises ``TypeError`` (:class:`UnsupportedDTypeError`) for bad types and dtypes,
    ``ValueError`` (:class:`InvalidArgumentError`) for bad shapes and values and
    ``IndexError`` (:class:`BoxIndexError`) for a box index outside ``[0, batch)``.
    """
    backend = resolve_backend("image", image)
    xp = backend.xp
    image = _image(backend, image)
    method = check_choice("method", method, METHODS)
    fill = check_real("extrapolation_value", extrapolation_value)
    boxes = float_array(backend, "boxes", boxes, "image")
    box_indices = index_array(backend, "box_indices", box_indices, "image")

    _four_d("image", image, "batch, height, width, depth")
    height, width = _image_dims("image", shape_of(image))
    if boxes.ndim != 2:
        raise InvalidArgumentError(
            f"boxes must be 2-D (num_boxes, 4); got shape {shape_of(boxes)}")
    if box_indices.ndim != 1:
        raise InvalidArgumentError(
            f"box_indices must be 1-D (num_boxes,); got shape {shape_of(box_indices)}"
        )
    if array_size(boxes) == 0 and array_size(box_indices) == 0:
        # TF accepts any pair of empty boxes/indices as "no boxes". Reshape rather than
        # replace, so autograd still reaches the caller's (empty) boxes.
        boxes = xp.reshape(boxes, (0, 4))
    else:
        if boxes.shape[1] != 4:
            raise InvalidArgumentError(
                f"boxes must have 4 columns [y1, x1, y2, x2]; got shape {shape_of(boxes)}"
            )
        if box_indices.shape[0] != boxes.shape[0]:
            raise InvalidArgumentError(
                f"box_indices must have one entry per box: boxes has {boxes.shape[0]} rows, "
                f"box_indices has shape {shape_of(box_indices)}"
            )
    crop_height, crop_width = _crop_size(crop_size, backend)
    out_shape = (boxes.shape[0], crop_height, crop_width, image.shape[3])
    if not values:
        _output_size("crop_and_resize", image, out_shape)()
        return CropArgs(backend=backend, image=image, boxes=boxes, box_indices=box_indices,
                        crop_height=crop_height, crop_width=crop_width, method=method,
                        extrapolation_value=fill, in_y=None, in_x=None)
    in_y, in_x, boxes, box_indices = checked_coordinates(
        backend, boxes, box_indices, image.shape[0], (height, width), (crop_height, crop_width),
        _output_size("crop_and_resize", image, out_shape),
    )
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


# ----------------------------------------------------------------------------------------
# gradients (docs/semantics.md §1.7)
# ----------------------------------------------------------------------------------------

#: What a gradient adds to the message of a bad box.
OVERRUN = " (TF's gradient kernels would write out of bounds here)"


def _grads(backend: Backend, grads: object, primary: str) -> Any:
    g = float_array(backend, "grads", grads, primary)
    _four_d("grads", g, "num_boxes, crop_height, crop_width, depth")
    if g.shape[1] <= 0 or g.shape[2] <= 0:
        raise InvalidArgumentError(f"crop dimensions must be positive: grads has shape "
                                   f"{shape_of(g)}")
    return g


def _grad_boxes(backend: Backend, boxes: object, box_indices: object, n: int,
                primary: str) -> tuple[Any, Any]:
    boxes = float_array(backend, "boxes", boxes, primary)
    box_indices = index_array(backend, "box_indices", box_indices, primary)
    if boxes.ndim != 2 or (boxes.shape[1] != 4 and array_size(boxes) != 0):
        raise InvalidArgumentError(
            f"boxes must be 2-D (num_boxes, 4); got shape {shape_of(boxes)}")
    if n == 0 and array_size(boxes) == 0:
        boxes = backend.xp.zeros((0, 4), dtype=backend.xp.float32, device=backend.device)
    if boxes.shape[0] != n:
        raise InvalidArgumentError(
            f"boxes must have one row per grads entry: grads has {n}, boxes has shape "
            f"{shape_of(boxes)}"
        )
    if box_indices.ndim != 1 or box_indices.shape[0] != n:
        raise InvalidArgumentError(
            f"box_indices must be 1-D with one entry per box ({n}); got shape "
            f"{shape_of(box_indices)}"
        )
    return boxes, box_indices


def _grad_dtype(xp: Any, dtype: object) -> str:
    name = dtype if isinstance(dtype, str) else dtype_name(xp, dtype)
    if name not in GRAD_DTYPES:
        raise UnsupportedDTypeError(
            f"dtype must be float16, float32 or float64 (TF has no image gradient for "
            f"integer images); got {dtype!r}"
        )
    return name


def validate_grad_image(grads: object, boxes: object, box_indices: object,
                        image_shape: object, method: object, dtype: object) -> GradImageArgs:
    """Check ``crop_and_resize_grad_image`` arguments and convert them (errors as
    :func:`validate_crop_and_resize`, plus a non-float ``dtype``)."""
    backend = resolve_backend("grads", grads)
    xp = backend.xp
    kind = _grad_dtype(xp, dtype)
    method = check_choice("method", method, METHODS)
    g = _grads(backend, grads, "grads")
    n, ch, cw, depth = g.shape
    boxes, box_indices = _grad_boxes(backend, boxes, box_indices, n, "grads")
    shape = python_ints("image_shape", image_shape, backend, ("batch", "height", "width", "depth"))
    batch, _, _, img_depth = shape
    if batch < 0 or img_depth < 0:
        raise InvalidArgumentError(f"image_shape must be non-negative; got {shape}")
    height, width = _image_dims("image", shape)
    if img_depth != depth:
        raise InvalidArgumentError(
            f"image_shape depth {img_depth} differs from the depth of grads ({depth})"
        )
    in_y, in_x, boxes, box_indices = checked_coordinates(
        backend, boxes, box_indices, batch, (height, width), (ch, cw),
        # The gradient's output is caller-sized: bounded like every other output.
        _output_size("crop_and_resize_grad_image", g, shape, _ITEMSIZE[kind]),
        OVERRUN,
    )
    return GradImageArgs(backend=backend, grads=g, box_indices=box_indices, in_y=in_y,
                         in_x=in_x, image_shape=shape, method=method,  # type: ignore[arg-type]
                         dtype=_dtype_object(xp, kind), boxes=boxes)


def _dtype_object(xp: Any, kind: str) -> Any:
    """The namespace's dtype ``kind``; NumPy's where the namespace lacks it (dask's
    array-API namespace has no float16, though dask arrays hold NumPy's)."""
    found = getattr(xp, kind, None)
    if found is None:
        import numpy as np

        return np.dtype(kind)
    return found


def validate_grad_boxes(grads: object, image: object, boxes: object,
                        box_indices: object) -> GradBoxesArgs:
    """Check ``crop_and_resize_grad_boxes`` arguments and convert them."""
    backend = resolve_backend("image", image)
    image = _image(backend, image)
    g = _grads(backend, grads, "image")
    _four_d("image", image, "batch, height, width, depth")
    height, width = _image_dims("image", shape_of(image))
    if g.shape[3] != image.shape[3]:
        raise InvalidArgumentError(
            f"grads depth {g.shape[3]} differs from the image depth ({image.shape[3]})"
        )
    boxes, box_indices = _grad_boxes(backend, boxes, box_indices, g.shape[0], "image")
    # The forward's coordinates are computed only to reject boxes that overflow.
    _, _, boxes, box_indices = checked_coordinates(
        backend, boxes, box_indices, image.shape[0], (height, width), (g.shape[1], g.shape[2]),
        lambda: None, OVERRUN)
    return GradBoxesArgs(backend=backend, grads=g, image=image, boxes=boxes,
                         box_indices=box_indices)


# ----------------------------------------------------------------------------------------
# extract_glimpse
# ----------------------------------------------------------------------------------------

def _glimpse_input(backend: Backend, input: Any) -> Any:
    """``input`` as float32, converted as TF's wrapper converts an array argument
    (``convert_to_tensor(input, dtype=float32)``): every real floating and integer dtype is
    cast, bool and complex are type errors (§2.1). The cast runs as TF's Cast kernel, under
    flush-to-zero: a float64 value that lands in float32's subnormal range becomes a zero
    of its sign; the other conversions are exact or round to a normal float32."""
    xp = backend.xp
    kind = dtype_name(xp, input.dtype).removeprefix("torch.")
    if kind == "float32":
        return input
    if kind not in GLIMPSE_INPUT_DTYPES:
        raise UnsupportedDTypeError(
            f"input must have a real floating or integer dtype (TF converts it to float32); "
            f"got {kind}"
        )
    out = xp.astype(input, xp.float32)
    return flush_subnormals(xp, out) if kind == "float64" else out


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
    """Check ``extract_glimpse`` arguments in TF's order (docs/semantics.md §2.1) and
    convert them; the output size is checked last (not chunked: the seeded fill is
    defined over the whole output)."""
    backend = resolve_backend("input", input)
    input = _glimpse_input(backend, input)
    centered = check_bool("centered", centered)
    normalized = check_bool("normalized", normalized)
    # TF's op reads an empty noise string as "gaussian" (its pre-V2 spelling).
    noise = check_choice("noise", noise, NOISES) or "gaussian"
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise TypeError(f"seed must be None or a non-negative int; got {seed!r}")
    if seed is not None and int(seed) < 0:  # type: ignore[call-overload]
        raise InvalidArgumentError(f"seed must be None or a non-negative int; got {seed!r}")
    offsets = float_array(backend, "offsets", offsets, "input")

    if input.ndim != 4:
        raise InvalidArgumentError(
            f"input must be 4-D (batch, height, width, depth); got shape {shape_of(input)}"
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
            f"offsets must be 2-D (batch, 2); got shape {shape_of(offsets)}"
        )
    if offsets.shape[0] != batch:
        raise InvalidArgumentError(
            f"offsets must have one row per batch element ({batch}); got shape "
            f"{shape_of(offsets)}"
        )
    if offsets.shape[1] != 2:
        raise InvalidArgumentError(
            f"offsets must have 2 columns (y, x); got shape {shape_of(offsets)}"
        )
    if height > MAX_AXIS or width > MAX_AXIS:
        raise InvalidArgumentError(
            f"input height and width must be at most 2**24 = {MAX_AXIS}; got shape "
            f"{shape_of(input)}"
        )
    _output_size("extract_glimpse", input,
                 (batch, glimpse_height, glimpse_width, input.shape[3]))()
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
