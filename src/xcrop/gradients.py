"""Public gradient functions: TF's ``CropAndResizeGradImage`` and ``CropAndResizeGradBoxes``.

Plain functions for every backend (NumPy and CuPy users have no autodiff to get them
from); PyTorch and JAX users get the same numbers from ``loss.backward()`` / ``jax.grad``
through :func:`xcrop.crop_and_resize` (see ``xcrop._frameworks``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._core.args import Array
from ._core.arrays import ieee_quiet
from ._core.validation import validate_grad_boxes, validate_grad_image
from ._dispatch import run as dispatch
from ._frameworks import torch_route

__all__ = ["crop_and_resize_grad_boxes", "crop_and_resize_grad_image"]


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
    torch_ops = torch_route(grads)
    if torch_ops is not None:  # xcrop::crop_and_resize_grad_image (compile, export)
        return torch_ops.crop_and_resize_grad_image(grads, boxes, box_indices, image_shape,
                                                    method, dtype)
    with ieee_quiet():
        args = validate_grad_image(grads, boxes, box_indices, image_shape, method, dtype)
        return dispatch.grad_image(args)


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
        boxes or boxes that overflow float32; :class:`xcrop.BoxIndexError` (also an
        ``IndexError``) for a box index outside ``[0, batch)``.

    Examples
    --------
    >>> import numpy as np, xcrop
    >>> image = np.array([[1, 2], [3, 4]], dtype=np.float32).reshape(1, 2, 2, 1)
    >>> grads = np.ones((1, 3, 3, 1), dtype=np.float32)
    >>> xcrop.crop_and_resize_grad_boxes(grads, image, [[0, 0, 1, 1]], [0])
    array([[3. , 1.5, 3. , 1.5]], dtype=float32)
    """
    torch_ops = torch_route(image)
    if torch_ops is not None:  # xcrop::crop_and_resize_grad_boxes (compile, export)
        return torch_ops.crop_and_resize_grad_boxes(grads, image, boxes, box_indices)
    with ieee_quiet():
        args = validate_grad_boxes(grads, image, boxes, box_indices)
        return dispatch.grad_boxes(args)
