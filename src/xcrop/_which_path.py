""":func:`xcrop.which_path`: which path would serve a call, without computing it.

It binds the arguments to a public function's signature, so it sits beside them (above
dispatch), and validates them as that function would.
"""

from __future__ import annotations

import inspect
from typing import Any

from . import api
from ._core.arrays import ieee_quiet, short_repr
from ._core.validation import validate_crop_and_resize, validate_extract_glimpse
from ._dispatch import run as dispatch
from .compat import v1

__all__ = ["which_path"]


def _public(op: Any) -> tuple[str, Any, Any]:
    """(operation, public function, validator call) for ``op``."""
    def crop(fn: Any) -> Any:
        def validate(b: inspect.BoundArguments) -> Any:
            a = b.arguments
            indices = a.get("box_indices")
            if indices is None:
                indices = a.get("box_ind")
            return validate_crop_and_resize(a["image"], a["boxes"], indices, a["crop_size"],
                                            a["method"], a["extrapolation_value"])
        return ("crop_and_resize", fn, validate)

    def glimpse(fn: Any, version: int) -> Any:
        def validate(b: inspect.BoundArguments) -> Any:
            a = b.arguments
            noise = a["noise"]
            if version == 1:
                noise = v1.resolve_v1_noise(a["uniform_noise"], noise)
            return validate_extract_glimpse(a["input"], a["size"], a["offsets"],
                                            a["centered"], a["normalized"], noise,
                                            version=version, seed=a["seed"])
        return ("extract_glimpse", fn, validate)

    table = {
        "crop_and_resize": crop(api.crop_and_resize),
        "extract_glimpse": glimpse(api.extract_glimpse, 2),
        "v1.crop_and_resize": crop(v1.crop_and_resize),
        "v1.extract_glimpse": glimpse(v1.extract_glimpse, 1),
    }
    for entry in list(table.values()):
        table[entry[1]] = entry  # the functions themselves are keys too
    try:
        return table[op]
    except (KeyError, TypeError):
        raise ValueError(
            "op must be 'crop_and_resize', 'extract_glimpse', 'v1.crop_and_resize', "
            f"'v1.extract_glimpse' or one of those functions; got {short_repr(op)}"
        ) from None


def which_path(op: Any, *args: Any, **kwargs: Any) -> str:
    """Name of the path that would serve ``op(*args, **kwargs)``: a fast path's name such
    as ``"torch CPU fast path"``, or ``"generic"``.

    The arguments are validated exactly as the call would validate them (and raise the
    same errors); the predicates then run on them, so a value-dependent choice (e.g. the
    fall-back to the generic path for subnormal-sensitive float inputs) is reported too.
    Nothing is computed.

    Parameters
    ----------
    op
        ``"crop_and_resize"``, ``"extract_glimpse"``, ``"v1.crop_and_resize"``,
        ``"v1.extract_glimpse"``, or one of those four functions itself.
    *args, **kwargs
        The arguments of the call, exactly as ``op`` takes them.

    Returns
    -------
    str
        The serving path's name (``FastPath.name``), or ``"generic"``.

    Raises
    ------
    ValueError
        an unknown ``op``; and every error the call itself would raise for these
        arguments (``TypeError`` for arguments that do not bind to ``op``'s signature).

    Examples
    --------
    >>> import numpy as np, xcrop
    >>> image = np.ones((1, 4, 4, 1), np.float32)
    >>> xcrop.which_path("extract_glimpse", image, (2, 2), [[0, 0]])
    'numpy fast path'
    >>> with xcrop.use_generic():
    ...     xcrop.which_path(xcrop.crop_and_resize, image, [[0, 0, 1, 1]], [0], (2, 2))
    'generic'
    """
    operation, fn, validate = _public(op)
    bound = inspect.signature(fn).bind(*args, **kwargs)
    bound.apply_defaults()
    with ieee_quiet():
        return dispatch.path_name(operation, validate(bound))
