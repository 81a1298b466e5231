"""Public functions: validate → dispatch → result (→ autodiff where the framework asks).

Every call is validated once, here at the boundary (``_core.validation``), and served
by dispatch (``_dispatch.run``): a registered fast path or the generic reference
implementation. A torch tensor goes through xcrop's custom operators
(``_frameworks/torch_ops.py``), whose kernels dispatch on real tensors; a JAX array under
``jax.grad`` through a ``custom_vjp`` (``_frameworks``), which dispatches the same forward
and TF's gradient operations for the backward.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from ._core.args import Array, Size2
from ._core.arrays import ieee_quiet
from ._core.validation import validate_crop_and_resize, validate_extract_glimpse
from ._dispatch import run as dispatch
from ._frameworks import (
    differentiable_crop_and_resize,
    might_want_gradient,
    torch_route,
    wants_gradient,
)

__all__ = ["crop_and_resize", "extract_glimpse"]


def crop_and_resize(
    image: Array,
    boxes: Array | Sequence[Sequence[float]],
    box_indices: Array | Sequence[int],
    crop_size: Size2,
    method: Literal["bilinear", "nearest"] = "bilinear",
    extrapolation_value: float = 0.0,
) -> Array:
    """Crop boxes out of a batch of images and resize them, exactly as TensorFlow does.

    The array-API twin of ``tf.image.crop_and_resize`` (TF2 argument order). Boxes are
    normalized ``[y1, x1, y2, x2]`` with TF's align-corners mapping: ``y = 0`` is the
    first row and ``y = 1`` the last (``H - 1``); ``y1 > y2`` flips the crop; samples
    outside the image are ``extrapolation_value``. On CPU the float32 result is bit for
    bit TF 2.21's.

    Parameters
    ----------
    image
        ``(B, H, W, D)`` array of any library speaking the array API (NumPy, PyTorch,
        JAX, CuPy, array-api-strict). dtype uint8, uint16, int8, int16, int32, int64,
        float16, float32 or float64. ``H, W >= 1``; ``B`` and ``D`` may be 0.
    boxes
        ``(n, 4)`` float array (float16/32/64, rounded to float32 first) or nested list.
        Every value finite.
    box_indices
        ``(n,)`` integer array or list: the image each box is cut from, in ``[0, B)``.
    crop_size
        ``(crop_height, crop_width)``, both ``>= 1``.
    method
        ``"bilinear"`` or ``"nearest"`` (C ``roundf``: halves go away from zero).
    extrapolation_value
        Value of samples that fall outside the image.

    Returns
    -------
    array
        float32, shape ``(n, crop_height, crop_width, D)``, same library and device as
        ``image``. A new array: no input is modified or aliased.

    Raises
    ------
    TypeError
        ``image``/``boxes``/``box_indices``/``crop_size`` of the wrong type or dtype
        (:class:`xcrop.UnsupportedDTypeError` for dtypes), or arrays from different
        libraries.
    ValueError
        (:class:`xcrop.InvalidArgumentError`) wrong ranks or shapes, non-positive
        sizes, non-finite boxes, boxes whose coordinates overflow float32, an unknown
        ``method``, arrays on different devices.
    IndexError
        (:class:`xcrop.BoxIndexError`, also a ``ValueError``) a box index outside
        ``[0, B)``.

    Examples
    --------
    >>> import numpy as np, xcrop
    >>> image = np.array([[1, 2], [3, 4]], dtype=np.float32).reshape(1, 2, 2, 1)
    >>> xcrop.crop_and_resize(image, [[0, 0, 1, 1]], [0], (3, 3))[0, :, :, 0]
    array([[1. , 1.5, 2. ],
           [2. , 2.5, 3. ],
           [3. , 3.5, 4. ]], dtype=float32)
    """
    torch_ops = torch_route(image)
    if torch_ops is not None:  # xcrop::crop_and_resize (autograd, compile, export)
        return torch_ops.crop_and_resize(image, boxes, box_indices, crop_size, method,
                                         extrapolation_value)
    with ieee_quiet():
        # JAX tracers (jit, grad, vmap) take the custom_vjp, which computes the sample
        # coordinates itself (from concrete values under eager jax.grad): validation
        # checks everything else and leaves them out.
        maybe_gradient = might_want_gradient(image, boxes)
        args = validate_crop_and_resize(
            image, boxes, box_indices, crop_size, method, extrapolation_value,
            values=not maybe_gradient,
        )
        if wants_gradient(args):  # jax.grad: TF's gradients as backward
            return differentiable_crop_and_resize(args)
        if maybe_gradient:
            args = validate_crop_and_resize(
                image, boxes, box_indices, crop_size, method, extrapolation_value
            )
        return dispatch.crop_and_resize(args)


def extract_glimpse(
    input: Array,
    size: Size2,
    offsets: Array | Sequence[Sequence[float]],
    centered: bool = True,
    normalized: bool = True,
    noise: Literal["uniform", "gaussian", "zero"] = "uniform",
    *,
    seed: int | None = None,
) -> Array:
    """Copy one pixel-aligned window per image, exactly as ``tf.image.extract_glimpse``.

    TF2 semantics (op ``ExtractGlimpseV2``). ``offsets`` are ``(y, x)``. Only the default
    mode (``centered=True, normalized=True``) treats an offset as the window *centre*,
    with ``(-1, -1)`` the image's top-left corner and ``(1, 1)`` its bottom-right; the
    three other modes give the window's top-left corner (normalized: as a fraction of
    the image size; centered: in pixels from the image centre; neither: in pixels), as
    TF does, whatever its docstring says. The start is truncated toward zero. For TF1's
    offset rules use :func:`xcrop.compat.v1.extract_glimpse`.

    Parameters
    ----------
    input
        ``(B, H, W, D)`` array (any array-API library), float32 or any real floating or
        integer dtype, which is converted to float32 first as TF's wrapper converts it
        (float64 values below float32's normal range become zeros, as in TF's cast).
        bool and complex inputs are rejected.
    size
        ``(glimpse_height, glimpse_width)``, both ``>= 0``; may exceed the image.
    offsets
        ``(B, 2)`` float array or nested list, one ``(y, x)`` per image.
    centered, normalized
        Offset convention, see above.
    noise
        Fill for the part of a window outside the image: ``"zero"``; ``"uniform"``
        between the image's global min and max; ``"gaussian"`` with each channel's mean
        and population std, clipped to the channel's range.
    seed
        Makes ``"uniform"``/``"gaussian"`` fills reproducible: the same seed gives the
        same fill bits on every backend. ``None`` (default) draws a fresh seed, like TF
        (whose fill is never reproducible).

    Returns
    -------
    array
        float32, shape ``(B, glimpse_height, glimpse_width, D)``, same library and device
        as ``input``.

    Raises
    ------
    TypeError
        a bool or complex ``input``, wrong types for ``size``/``offsets``/flags/``seed``.
    ValueError
        (:class:`xcrop.InvalidArgumentError`) wrong ranks or shapes, negative ``size``,
        unknown ``noise``. (An input with zero height or width is all fill, as in TF:
        zeros for ``"zero"``, NaN for the statistical fills, which have nothing to draw on.)

    Examples
    --------
    >>> import numpy as np, xcrop
    >>> image = np.arange(25, dtype=np.float32).reshape(1, 5, 5, 1)
    >>> xcrop.extract_glimpse(image, (3, 3), [[0.0, 0.0]], centered=False,
    ...                       normalized=False, noise="zero")[0, :, :, 0]
    array([[ 0.,  1.,  2.],
           [ 5.,  6.,  7.],
           [10., 11., 12.]], dtype=float32)
    """
    return glimpse_either_version(input, size, offsets, centered, normalized, noise, 2, seed)


def glimpse_either_version(input: Array, size: Size2, offsets: Array, centered: bool,
                           normalized: bool, noise: str, version: int,
                           seed: int | None) -> Array:
    """``extract_glimpse`` of TF's ``version`` 1 or 2 (``compat.v1`` resolves its own
    arguments first): a torch tensor goes to the ``xcrop::extract_glimpse`` operator,
    anything else is validated and dispatched."""
    torch_ops = torch_route(input)
    if torch_ops is not None:
        return torch_ops.extract_glimpse(input, size, offsets, centered, normalized, noise,
                                         version=version, seed=seed)
    with ieee_quiet():
        args = validate_extract_glimpse(
            input, size, offsets, centered, normalized, noise, version=version, seed=seed
        )
        return dispatch.extract_glimpse(args)
