"""Exception types raised by xcrop.

TensorFlow reports every bad argument as ``InvalidArgumentError``. xcrop maps those to
the matching Python built-ins so that ordinary ``except ValueError`` code works, while the
subclasses below let callers tell xcrop's argument errors apart from anything else.
"""

from __future__ import annotations

__all__ = ["BoxIndexError", "InvalidArgumentError", "UnsupportedDTypeError"]


class InvalidArgumentError(ValueError):
    """An argument has a bad shape or value (TF's ``InvalidArgumentError``).

    A :class:`ValueError`, so ``except ValueError`` catches it. Raised for wrong ranks and
    shapes, non-positive sizes, non-finite boxes or boxes whose arithmetic overflows
    float32, unknown ``method``/``noise`` values, images above ``2**24`` pixels in height
    or width, and arrays on different devices. The message names the argument, its value
    and what is allowed.

    Examples
    --------
    >>> import numpy as np, xcrop
    >>> image = np.ones((2, 2, 1), np.float32)  # no batch axis
    >>> try:
    ...     xcrop.crop_and_resize(image, [[0, 0, 1, 1]], [0], (2, 2))
    ... except ValueError as e:
    ...     print(type(e).__name__, e)
    InvalidArgumentError image must be 4-D (batch, height, width, depth); got shape (2, 2, 1)
    """


class BoxIndexError(InvalidArgumentError, IndexError):
    """A ``box_indices`` entry lies outside ``[0, batch)``.

    Both a :class:`ValueError` (as TF's ``InvalidArgumentError``) and an :class:`IndexError`.
    TF raises ``OutOfRangeError`` here.

    Examples
    --------
    >>> import numpy as np, xcrop
    >>> image = np.ones((1, 2, 2, 1), np.float32)  # a batch of one image
    >>> try:
    ...     xcrop.crop_and_resize(image, [[0, 0, 1, 1]], [1], (2, 2))
    ... except IndexError as e:
    ...     print(type(e).__name__, isinstance(e, ValueError))
    BoxIndexError True
    """


class UnsupportedDTypeError(TypeError):
    """An argument has a dtype the operation does not accept.

    A :class:`TypeError`: for example a uint32, bool or complex image in
    ``crop_and_resize``, a bool or complex input in ``extract_glimpse`` (which converts
    real and integer inputs to float32, as TF does), or integer boxes.

    Examples
    --------
    >>> import numpy as np, xcrop
    >>> try:
    ...     xcrop.extract_glimpse(np.ones((1, 2, 2, 1), np.complex64), (1, 1), [[0, 0]])
    ... except TypeError as e:
    ...     print(type(e).__name__)
    UnsupportedDTypeError
    """


class PathUnavailable(Exception):
    """Raised by a fast path that cannot serve a call it accepted (found out only while
    running, e.g. a GPU module that fails to build): dispatch tries the next path."""
