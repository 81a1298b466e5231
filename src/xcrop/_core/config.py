"""Process-wide settings: the output-size limit and the chunk size of large calls.

``XCROP_MAX_OUTPUT_BYTES`` (environment) or :func:`xcrop.set_max_output_bytes` (code)
bound the size of one call's output: a call whose output would exceed it raises
:class:`xcrop.OutputTooLargeError` before allocating anything, instead of exhausting
memory. The default is 16 GiB; ``0``/``None`` in code or ``"none"`` in the environment
turn the check off. Below the limit, large jobs are computed in chunks of boxes so
that temporaries stay within about twice the output (see ``_dispatch``).
"""

from __future__ import annotations

import threading

from . import env
from .errors import InvalidArgumentError

__all__ = [
    "DEFAULT_MAX_OUTPUT_BYTES",
    "OutputTooLargeError",
    "check_output_size",
    "max_output_bytes",
    "set_max_output_bytes",
]

DEFAULT_MAX_OUTPUT_BYTES = 16 * 2**30
MAX_OUTPUT_ENV = env.MAX_OUTPUT_BYTES

_lock = threading.Lock()
_UNSET = object()
_setting: object = _UNSET  # int | None once set in code


class OutputTooLargeError(InvalidArgumentError, MemoryError):
    """The output of a call would exceed the configured limit (a ``ValueError`` and a
    ``MemoryError``).

    Raised before anything is allocated; the message gives the output shape, its size and
    the limit. See :func:`set_max_output_bytes`.

    Examples
    --------
    >>> import numpy as np, xcrop
    >>> old = xcrop.max_output_bytes()
    >>> xcrop.set_max_output_bytes(1000)
    >>> try:
    ...     xcrop.crop_and_resize(np.ones((1, 4, 4, 1), np.float32), [[0, 0, 1, 1]], [0],
    ...                           (100, 100))
    ... except MemoryError as e:
    ...     print(type(e).__name__)
    OutputTooLargeError
    >>> xcrop.set_max_output_bytes(old)  # restore the limit that was in force
    """


def set_max_output_bytes(limit: int | None) -> None:
    """Refuse calls whose output exceeds ``limit`` bytes (``None`` or 0: no limit).

    Overrides ``XCROP_MAX_OUTPUT_BYTES`` for the whole process (all threads). A refused
    call raises :class:`xcrop.OutputTooLargeError` before allocating anything.

    Parameters
    ----------
    limit
        Largest output of one call, in bytes (a non-negative ``int``), or ``None``/``0``
        to turn the check off. The default, before any call, is 16 GiB.

    Raises
    ------
    TypeError
        ``limit`` is not ``None`` or a non-negative ``int`` (a ``bool`` or ``float`` is
        refused too).

    Examples
    --------
    >>> import xcrop
    >>> old = xcrop.max_output_bytes()
    >>> xcrop.set_max_output_bytes(2**30)
    >>> xcrop.max_output_bytes()
    1073741824
    >>> xcrop.set_max_output_bytes(None)  # no limit at all: a huge call may exhaust memory
    >>> print(xcrop.max_output_bytes())
    None
    >>> xcrop.set_max_output_bytes(old)
    """
    global _setting
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or limit < 0):
        raise TypeError(f"limit must be a non-negative int or None; got {limit!r}")
    with _lock:
        _setting = limit or None


def max_output_bytes() -> int | None:
    """The output-size limit in force, in bytes, or ``None`` for no limit.

    The value set by :func:`set_max_output_bytes` if it was called, else the environment
    variable ``XCROP_MAX_OUTPUT_BYTES`` (a number of bytes, or ``none``/``0``/``off``),
    else 16 GiB (``17179869184``).

    Raises
    ------
    ValueError
        (:class:`xcrop.InvalidArgumentError`) ``XCROP_MAX_OUTPUT_BYTES`` is set to
        something that is neither a number nor ``none``.

    Examples
    --------
    >>> import xcrop
    >>> old = xcrop.max_output_bytes()
    >>> xcrop.set_max_output_bytes(4096)
    >>> xcrop.max_output_bytes()
    4096
    >>> xcrop.set_max_output_bytes(old)
    """
    setting = _setting
    if setting is not _UNSET:
        return setting  # type: ignore[return-value]
    raw = env.text(MAX_OUTPUT_ENV)
    if not raw:
        return DEFAULT_MAX_OUTPUT_BYTES
    if raw in ("none", "0", "off"):
        return None
    try:
        return int(float(raw))
    except ValueError:
        raise InvalidArgumentError(
            f"{MAX_OUTPUT_ENV} must be a number of bytes or 'none'; got {raw!r}"
        ) from None


def check_output_size(operation: str, shape: tuple[int, ...], itemsize: int = 4) -> None:
    limit = max_output_bytes()
    nbytes = itemsize
    for s in shape:
        nbytes *= s
    if limit is not None and nbytes > limit:
        raise OutputTooLargeError(
            f"{operation} output of shape {shape} would take {nbytes / 2**30:.2f} GiB, more "
            f"than the limit of {limit / 2**30:.2f} GiB; use fewer boxes or a smaller size per "
            f"call, or raise the limit with xcrop.set_max_output_bytes(...) or the "
            f"{MAX_OUTPUT_ENV} environment variable"
        )
