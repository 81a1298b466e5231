"""Public gradient functions: TF's ``CropAndResizeGradImage`` and ``CropAndResizeGradBoxes``.

Plain functions for every backend (NumPy and CuPy users have no autodiff to get them
from); PyTorch and JAX users get the same numbers from ``loss.backward()`` / ``jax.grad``
through :func:`xcrop.crop_and_resize` (see ``xcrop._autodiff``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from array_api_compat import size as array_size

from . import _autodiff
from ._backend import dtype_name, ieee_quiet, python_ints, resolve_backend
from ._config import check_output_size
from ._coordinates import sample_coordinates
from ._errors import InvalidArgumentError, UnsupportedDTypeError
from ._validation import (
    CROP_IMAGE_DTYPES,
    MAX_AXIS,
    METHODS,
    _check_choice,
    _float_array,
    _index_array,
    _shape,
    check_box_values,
    check_coordinates,
    is_traced,
)

__all__ = ["crop_and_resize_grad_boxes", "crop_and_resize_grad_image"]

Array = Any
GRAD_DTYPES = ("float16", "float32", "float64")
_ITEMSIZE = {"float16": 2, "float32": 4, "float64": 8}


def _grads_array(backend: Any, grads: object, primary: str) -> Any:
    g = _float_array(backend, "grads", grads, primary)
    if g.ndim != 4:
        raise InvalidArgumentError(
            f"grads must be 4-D (num_boxes, crop_height, crop_width, depth); got shape "
            f"{_shape(g)}"
        )
    if g.shape[1] <= 0 or g.shape[2] <= 0:
        raise InvalidArgumentError(
            f"crop dimensions must be positive: grads has shape {_shape(g)}"
        )
    return g


def _boxes_and_indices(backend: Any, boxes: object, box_indices: object, n: int,
                       primary: str) -> tuple[Any, Any]:
    boxes = _float_array(backend, "boxes", boxes, primary)
    box_indices = _index_array(backend, "box_indices", box_indices, primary)
    if boxes.ndim != 2 or (boxes.shape[1] != 4 and array_size(boxes) != 0):
        raise InvalidArgumentError(f"boxes must be 2-D (num_boxes, 4); got shape {_shape(boxes)}")
    if n == 0 and array_size(boxes) == 0:
        boxes = backend.xp.zeros((0, 4), dtype=backend.xp.float32, device=backend.device)
    if boxes.shape[0] != n:
        raise InvalidArgumentError(
            f"boxes must have one row per grads entry: grads has {n}, boxes has shape "
            f"{_shape(boxes)}"
        )
    if box_indices.ndim != 1 or box_indices.shape[0] != n:
        raise InvalidArgumentError(
            f"box_indices must be 1-D with one entry per box ({n}); got shape "
            f"{_shape(box_indices)}"
        )
    return boxes, box_indices


def _check_values(backend: Any, boxes: Any, box_indices: Any, batch: int) -> None:
    """Box-index range and box finiteness (concrete arrays only)."""
    if boxes.shape[0] == 0 or is_traced(boxes) or is_traced(box_indices):
        return
    check_box_values(backend.xp, boxes, box_indices, batch,
                     why=" (TF's gradient kernels would write out of bounds here)")


def _check_coordinates(xp: Any, boxes: Any, *coords: Any) -> None:
    if boxes.shape[0] == 0 or any(is_traced(c) for c in coords):
        return
    check_coordinates(xp, boxes, *coords)


def _image_dims(height: int, width: int, shape: tuple[int, ...]) -> None:
    if height <= 0 or width <= 0:
        raise InvalidArgumentError(f"image height and width must be positive; got shape {shape}")
    if height > MAX_AXIS or width > MAX_AXIS:
        raise InvalidArgumentError(
            f"image height and width must be at most 2**24 = {MAX_AXIS}; got shape {shape}"
        )


def _dtype_arg(xp: Any, dtype: object) -> str:
    name = dtype if isinstance(dtype, str) else dtype_name(xp, dtype)
    if name not in GRAD_DTYPES:
        raise UnsupportedDTypeError(
            f"dtype must be float16, float32 or float64 (TF has no image gradient for "
            f"integer images); got {dtype!r}"
        )
    return name


def crop_and_resize_grad_image(
    grads: Array,
    boxes: Array | Sequence[Sequence[float]],
    box_indices: Array | Sequence[int],
    image_shape: Sequence[int],
    method: str = "bilinear",
    dtype: Any = "float32",
) -> Array:
    """Gradient of :func:`xcrop.crop_and_resize` w.r.t. the image.

    TF's ``CropAndResizeGradImage``: each upstream value is spread over the (up to four)
    pixels its sample read, with the bilinear weights (``method="bilinear"``) or added to
    the one pixel it copied (``"nearest"``). Extrapolated samples contribute nothing.
    PyTorch and JAX users get the same numbers from ``backward()`` / ``jax.grad``
    through :func:`xcrop.crop_and_resize`.

    Parameters
    ----------
    grads
        ``(n, crop_height, crop_width, depth)`` upstream gradient, an array of any
        array-API library (float16/32/64, used as float32).
    boxes, box_indices
        As given to the forward call: ``(n, 4)`` float boxes and ``(n,)`` integer indices
        in ``[0, batch)`` (arrays of ``grads``' library, or nested lists).
    image_shape
        ``(batch, height, width, depth)`` of the forward's image (a sequence of ints or a
        1-D integer array); ``height, width`` in ``[1, 2**24]``, ``depth`` equal to
        ``grads``'.
    method
        The forward's ``"bilinear"`` or ``"nearest"``.
    dtype
        The image dtype: ``"float16"``, ``"float32"`` or ``"float64"`` (or that dtype
        object of the array library). The gradient is accumulated in it, as TF does.

    Returns
    -------
    array
        ``(batch, height, width, depth)`` of ``dtype``, on ``grads``' library and device:
        TF's result in TF's sequential order (bit for bit on eager CPU backends), the same
        bits on every run (deterministic even for overlapping boxes, unlike TF's
        multi-threaded kernel).

    Raises
    ------
    TypeError
        non-array ``grads``, arrays of different libraries;
        :class:`xcrop.UnsupportedDTypeError` for an integer ``dtype`` (TF has no image
        gradient for integer images) or a non-float ``grads``/``boxes``.
    ValueError
        (:class:`xcrop.InvalidArgumentError`) wrong ranks or shapes (``grads`` not 4-D,
        ``boxes`` not ``(n, 4)``, ``box_indices`` not ``(n,)``, ``image_shape`` without 4
        entries, a non-positive height or width, a depth different from ``grads``'),
        non-finite boxes or boxes that overflow float32, an unknown ``method``.
    IndexError
        (:class:`xcrop.BoxIndexError`, also a ``ValueError``) a box index outside
        ``[0, batch)``.

    Examples
    --------
    >>> import numpy as np, xcrop
    >>> grads = np.ones((1, 3, 3, 1), dtype=np.float32)  # a 3x3 crop of a 2x2 image
    >>> xcrop.crop_and_resize_grad_image(grads, [[0, 0, 1, 1]], [0], (1, 2, 2, 1))[0, :, :, 0]
    array([[2.25, 2.25],
           [2.25, 2.25]], dtype=float32)
    """
    with ieee_quiet():
        backend = resolve_backend("grads", grads)
        xp = backend.xp
        kind = _dtype_arg(xp, dtype)
        method = _check_choice("method", method, METHODS)
        g = _grads_array(backend, grads, "grads")
        n, ch, cw, depth = g.shape
        boxes, box_indices = _boxes_and_indices(backend, boxes, box_indices, n, "grads")
        shape = python_ints("image_shape", image_shape, backend,
                            ("batch", "height", "width", "depth"))
        batch, height, width, img_depth = shape
        if batch < 0 or img_depth < 0:
            raise InvalidArgumentError(f"image_shape must be non-negative; got {shape}")
        _image_dims(height, width, shape)
        if img_depth != depth:
            raise InvalidArgumentError(
                f"image_shape depth {img_depth} differs from the depth of grads ({depth})"
            )
        # The gradient's output is caller-sized: bounded like every other output.
        check_output_size("crop_and_resize_grad_image", shape, _ITEMSIZE[kind])
        _check_values(backend, boxes, box_indices, batch)
        in_y = sample_coordinates(xp, boxes[:, 0:1], boxes[:, 2:3], height, ch, backend.device)
        in_x = sample_coordinates(xp, boxes[:, 1:2], boxes[:, 3:4], width, cw, backend.device)
        _check_coordinates(xp, boxes, in_y, in_x)
        return _autodiff.image_gradient(xp, backend.name, g, box_indices, in_y, in_x, shape,
                                        method, getattr(xp, kind))


def crop_and_resize_grad_boxes(
    grads: Array,
    image: Array,
    boxes: Array | Sequence[Sequence[float]],
    box_indices: Array | Sequence[int],
) -> Array:
    """Gradient of :func:`xcrop.crop_and_resize` w.r.t. the boxes.

    TF's ``CropAndResizeGradBoxes``. Always the *bilinear* gradient: TF gives a
    ``method="nearest"`` forward this same box gradient, so there is no ``method``
    argument. A sample on an integer coordinate (a pixel centre) contributes 0 along that
    axis, and extrapolated samples contribute nothing.

    Parameters
    ----------
    grads
        ``(n, crop_height, crop_width, depth)`` upstream gradient (float16/32/64, used as
        float32), an array of ``image``'s library.
    image
        The forward's ``(batch, height, width, depth)`` image; any dtype
        :func:`xcrop.crop_and_resize` accepts (uint8 ... float64).
    boxes, box_indices
        As given to the forward call: ``(n, 4)`` float boxes and ``(n,)`` integer indices
        in ``[0, batch)`` (arrays or nested lists).

    Returns
    -------
    array
        float32 ``(n, 4)`` gradient w.r.t. ``[y1, x1, y2, x2]``, in TF's sequential order
        (bit for bit on eager CPU backends), deterministic; same library and device as
        ``image``.

    Raises
    ------
    TypeError
        non-array ``image``, arrays of different libraries;
        :class:`xcrop.UnsupportedDTypeError` for an image dtype ``crop_and_resize``
        rejects or non-float ``grads``/``boxes``.
    ValueError
        (:class:`xcrop.InvalidArgumentError`) wrong ranks or shapes, ``grads`` depth
        different from the image's, a non-positive image height or width, non-finite
        boxes or boxes that overflow float32.
    IndexError
        (:class:`xcrop.BoxIndexError`, also a ``ValueError``) a box index outside
        ``[0, batch)``.

    Examples
    --------
    >>> import numpy as np, xcrop
    >>> image = np.array([[1, 2], [3, 4]], dtype=np.float32).reshape(1, 2, 2, 1)
    >>> grads = np.ones((1, 3, 3, 1), dtype=np.float32)
    >>> xcrop.crop_and_resize_grad_boxes(grads, image, [[0, 0, 1, 1]], [0])
    array([[3. , 1.5, 3. , 1.5]], dtype=float32)
    """
    with ieee_quiet():
        backend = resolve_backend("image", image)
        xp = backend.xp
        kind = dtype_name(xp, image.dtype)
        if kind not in CROP_IMAGE_DTYPES:
            raise UnsupportedDTypeError(
                f"image dtype {kind} is not supported; expected one of "
                f"{', '.join(CROP_IMAGE_DTYPES)}"
            )
        g = _grads_array(backend, grads, "image")
        if image.ndim != 4:
            raise InvalidArgumentError(
                f"image must be 4-D (batch, height, width, depth); got shape {_shape(image)}"
            )
        batch, height, width, depth = image.shape
        _image_dims(height, width, _shape(image))
        if g.shape[3] != depth:
            raise InvalidArgumentError(
                f"grads depth {g.shape[3]} differs from the image depth ({depth})"
            )
        boxes, box_indices = _boxes_and_indices(backend, boxes, box_indices, g.shape[0], "image")
        _check_values(backend, boxes, box_indices, batch)
        ch, cw = g.shape[1], g.shape[2]
        in_y = sample_coordinates(xp, boxes[:, 0:1], boxes[:, 2:3], height, ch, backend.device)
        in_x = sample_coordinates(xp, boxes[:, 1:2], boxes[:, 3:4], width, cw, backend.device)
        _check_coordinates(xp, boxes, in_y, in_x)
        return _autodiff.box_gradient(xp, backend.name, g, image, boxes, box_indices)

