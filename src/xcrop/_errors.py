"""Exception types raised by xcrop.

TensorFlow reports every bad argument as ``InvalidArgumentError``. xcrop maps those to
the matching Python built-ins so that ordinary ``except ValueError`` code works, while the
subclasses below let callers tell xcrop's argument errors apart from anything else.
"""

from __future__ import annotations

__all__ = ["BoxIndexError", "InvalidArgumentError", "UnsupportedDTypeError"]


class InvalidArgumentError(ValueError):
    """An argument has a bad shape or value (TF's ``InvalidArgumentError``)."""


class BoxIndexError(InvalidArgumentError, IndexError):
    """A ``box_indices`` entry lies outside ``[0, batch)``.

    Both a :class:`ValueError` (as TF's ``InvalidArgumentError``) and an :class:`IndexError`.
    """


class UnsupportedDTypeError(TypeError):
    """An argument has a dtype the operation does not accept."""
