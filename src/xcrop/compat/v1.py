"""``tf.compat.v1.image.crop_and_resize`` and ``extract_glimpse`` with TF1's signatures.

For porting TF1 code. ``crop_and_resize`` is the same operation with TF1's argument
names; ``extract_glimpse`` follows TF1's offset rules (op ``ExtractGlimpse``), which
differ from TF2's (docs/semantics.md §2.2).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from .. import api
from .._core.args import Array, Size2
from .._core.arrays import check_bool
from .._core.errors import InvalidArgumentError

__all__ = ["crop_and_resize", "extract_glimpse"]



def crop_and_resize(
    image: Array,
    boxes: Array | Sequence[Sequence[float]],
    box_ind: Array | Sequence[int] | None = None,
    crop_size: Size2 | None = None,
    method: Literal["bilinear", "nearest"] = "bilinear",
    extrapolation_value: float = 0,
    box_indices: Array | Sequence[int] | None = None,
) -> Array:
    """TF1 ``crop_and_resize``: ``box_ind`` is a deprecated alias of ``box_indices``.

    ``tf.compat.v1.image.crop_and_resize`` without ``name``: the same operation as
    :func:`xcrop.crop_and_resize` (same numbers, same gradients), with TF1's argument
    names and order. Exactly one of ``box_ind`` and ``box_indices`` must be given, and
    ``crop_size`` is required.

    Parameters
    ----------
    image
        ``(B, H, W, D)`` array of any array-API library; dtype uint8, uint16, int8, int16,
        int32, int64, float16, float32 or float64.
    boxes
        ``(n, 4)`` normalized ``[y1, x1, y2, x2]`` (float array or nested list).
    box_ind, box_indices
        ``(n,)`` integers in ``[0, B)``: the image each box is cut from. Give one.
    crop_size
        ``(crop_height, crop_width)``, both ``>= 1``.
    method
        ``"bilinear"`` or ``"nearest"``.
    extrapolation_value
        Value of samples outside the image.

    Returns
    -------
    array
        float32, shape ``(n, crop_height, crop_width, D)``, same library and device as
        ``image``.

    Raises
    ------
    ValueError
        (:class:`xcrop.InvalidArgumentError`) both ``box_ind`` and ``box_indices`` given;
        and everything :func:`xcrop.crop_and_resize` raises.
    TypeError
        neither ``box_ind`` nor ``box_indices`` given, or no ``crop_size``; and everything
        :func:`xcrop.crop_and_resize` raises.
    IndexError
        (:class:`xcrop.BoxIndexError`) a box index outside ``[0, B)``.

    Examples
    --------
    >>> import numpy as np, xcrop
    >>> image = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    >>> xcrop.compat.v1.crop_and_resize(image, [[0, 0, 1, 1]], box_ind=[0],
    ...                                 crop_size=(2, 2))[0, :, :, 0]
    array([[ 0.,  3.],
           [12., 15.]], dtype=float32)
    """
    if box_ind is not None and box_indices is not None:
        raise InvalidArgumentError("give only one of box_ind and box_indices (box_ind is the "
                                   "deprecated name of box_indices)")
    indices = box_indices if box_ind is None else box_ind
    if indices is None:
        raise TypeError("crop_and_resize() missing required argument: 'box_indices'")
    if crop_size is None:
        raise TypeError("crop_and_resize() missing required argument: 'crop_size'")
    return api.crop_and_resize(image, boxes, indices, crop_size, method, extrapolation_value)


def resolve_v1_noise(uniform_noise: object, noise: object) -> str:
    """The fill TF's ``ExtractGlimpse`` op uses for ``uniform_noise`` and ``noise``."""
    # TF's ExtractGlimpse op (docs/semantics.md §2.4): uniform_noise=False with the op's
    # default noise "uniform" still gives uniform noise; only noise="" picks gaussian.
    if check_bool("uniform_noise", uniform_noise):
        if noise not in ("uniform", ""):
            raise InvalidArgumentError(
                "The uniform_noise and noise could not be specified at the same time: "
                f"uniform_noise=True needs noise='uniform'; got noise={noise!r}"
            )
        return "uniform"
    return "gaussian" if noise == "" else noise  # type: ignore[return-value]


def extract_glimpse(
    input: Array,
    size: Size2,
    offsets: Array | Sequence[Sequence[float]],
    centered: bool = True,
    normalized: bool = True,
    uniform_noise: bool = True,
    *,
    noise: Literal["uniform", "gaussian", "zero", ""] = "uniform",
    seed: int | None = None,
) -> Array:
    """TF1 ``extract_glimpse`` (op ``ExtractGlimpse``, TF1's offset rules).

    The window start along each axis is ``offset * size`` if ``normalized``, then
    ``/ 2 + size / 2`` if ``centered``, then always ``- glimpse_size / 2``, truncated
    toward zero: unlike TF2, the offset is the window centre in every mode.

    ``uniform_noise`` and the keyword-only ``noise`` (an attribute of TF's op that TF1's
    Python wrapper does not expose) resolve as TF resolves them: ``uniform_noise=True``
    means uniform fill; ``uniform_noise=False`` keeps the op default ``noise="uniform"``,
    so it *still* gives uniform fill, against TF1's docs; pass ``noise="zero"``,
    ``"gaussian"`` or ``""`` (gaussian) to change it. ``seed`` is as in
    :func:`xcrop.extract_glimpse`.

    Parameters
    ----------
    input
        ``(B, H, W, D)`` array (any array-API library); a real floating or integer
        dtype other than float32 is converted to float32 first, as in
        :func:`xcrop.extract_glimpse`.
    size
        ``(glimpse_height, glimpse_width)``, both ``>= 0``.
    offsets
        ``(B, 2)`` float array or nested list, one ``(y, x)`` per image.
    centered, normalized
        Offset convention (see above).
    uniform_noise
        TF1's flag; see above for how it combines with ``noise``.
    noise
        ``"uniform"`` (the op's default), ``"gaussian"``, ``"zero"`` or ``""``
        (gaussian).
    seed
        As in :func:`xcrop.extract_glimpse`: an ``int`` makes the random fill
        reproducible on every backend; ``None`` draws a fresh one.

    Returns
    -------
    array
        As :func:`xcrop.extract_glimpse`: float32 ``(B, glimpse_height, glimpse_width, D)``.

    Raises
    ------
    ValueError
        (:class:`xcrop.InvalidArgumentError`) ``uniform_noise=True`` with a ``noise``
        other than ``"uniform"`` or ``""``; and everything
        :func:`xcrop.extract_glimpse` raises (shapes, negative sizes, unknown noise).
    TypeError
        as :func:`xcrop.extract_glimpse` (a bool or complex ``input``, wrong argument types).

    Examples
    --------
    The same offset, ``centered=False, normalized=False``: TF1 starts the window at
    ``trunc(2 - 3 / 2) = 0``, centred on the offset; TF2 starts it at the offset.

    >>> import numpy as np, xcrop
    >>> image = np.arange(25, dtype=np.float32).reshape(1, 5, 5, 1)
    >>> flags = dict(centered=False, normalized=False)
    >>> xcrop.compat.v1.extract_glimpse(image, (3, 3), [[2, 2]], uniform_noise=False,
    ...                                 noise="zero", **flags)[0, :, :, 0]
    array([[ 0.,  1.,  2.],
           [ 5.,  6.,  7.],
           [10., 11., 12.]], dtype=float32)
    >>> xcrop.extract_glimpse(image, (3, 3), [[2, 2]], noise="zero", **flags)[0, :, :, 0]
    array([[12., 13., 14.],
           [17., 18., 19.],
           [22., 23., 24.]], dtype=float32)
    """
    resolved = resolve_v1_noise(uniform_noise, noise)
    return api.glimpse_either_version(input, size, offsets, centered, normalized, resolved,
                                      1, seed)
