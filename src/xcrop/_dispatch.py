"""Choose the implementation that serves a validated call (see ``_registry``).

The built-in fast paths (``_fast``) register themselves here on first dispatch; their
modules import nothing until a call of their library arrives, so ``import xcrop`` stays
free of array libraries. The generic array-API implementation is the last resort, run
in chunks of boxes for large crops so its temporaries stay bounded.
"""

from __future__ import annotations

import inspect
from dataclasses import replace
from typing import Any

from . import _registry
from ._backend import ieee_quiet
from ._config import check_output_size
from ._generic import crop_and_resize as _generic_crop
from ._generic import extract_glimpse as _generic_glimpse
from ._validation import CropArgs, GlimpseArgs

__all__ = ["run_crop_and_resize", "run_extract_glimpse", "which_path"]

#: Output bytes per chunk of the generic crop. Its temporaries are about 12 chunk-sized
#: float32 arrays, so this keeps them near 100 MB (well under 2x any output large enough
#: to be chunked) and cache-friendlier than one huge pass.
GENERIC_CHUNK_BYTES = 8 * 2**20

_builtins_loaded = False


def _ensure_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        from ._fast import register_builtin_paths

        register_builtin_paths()
        _builtins_loaded = True


def _generic_crop_chunked(args: CropArgs) -> Any:
    n, ch, cw, depth = args.output_shape
    per_row = cw * max(depth, 1) * 4
    per_box = ch * per_row
    if n * per_box <= GENERIC_CHUNK_BYTES:
        return _generic_crop.crop_and_resize(args)
    xp = args.backend.xp
    if per_box > GENERIC_CHUNK_BYTES:
        # Boxes larger than a chunk are split along their output rows (each row's samples
        # depend only on its own coordinate), so one huge box is bounded too.
        rows = max(1, GENERIC_CHUNK_BYTES // per_row)
        return xp.concat([_crop_rows(args, i, rows) for i in range(n)], axis=0)
    step = GENERIC_CHUNK_BYTES // per_box
    parts = []
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        parts.append(_generic_crop.crop_and_resize(replace(
            args, boxes=args.boxes[i0:i1, ...], box_indices=args.box_indices[i0:i1],
            in_y=args.in_y[i0:i1, ...], in_x=args.in_x[i0:i1, ...],
        )))
    return xp.concat(parts, axis=0)


def _crop_rows(args: CropArgs, i: int, rows: int) -> Any:
    """Box ``i`` of a crop, computed ``rows`` output rows at a time."""
    parts = []
    for r0 in range(0, args.crop_height, rows):
        r1 = min(args.crop_height, r0 + rows)
        parts.append(_generic_crop.crop_and_resize(replace(
            args, boxes=args.boxes[i:i + 1, ...], box_indices=args.box_indices[i:i + 1],
            in_y=args.in_y[i:i + 1, r0:r1], in_x=args.in_x[i:i + 1, ...], crop_height=r1 - r0,
        )))
    return args.backend.xp.concat(parts, axis=1)


def run_crop_and_resize(args: CropArgs) -> Any:
    # The output size was checked by validate_crop_and_resize, before any allocation.
    _ensure_builtins()
    path = _registry.resolve("crop_and_resize", args)
    if path is not None:
        return path.implementation(args)
    return _generic_crop_chunked(args)


def run_extract_glimpse(args: GlimpseArgs) -> Any:
    # Not chunked: the seeded fill is defined over the whole output, element by element.
    check_output_size("extract_glimpse", args.output_shape)
    _ensure_builtins()
    path = _registry.resolve("extract_glimpse", args)
    if path is not None:
        return path.implementation(args)
    return _generic_glimpse.extract_glimpse(args)


def has_fast_path(operation: str, library: str) -> bool:
    """Whether a fast path exists for ``operation`` on ``library``: a registered one
    (crop_and_resize, extract_glimpse) or a host gradient path (the two gradients on NumPy
    and torch). Tests and the conformance runner skip path="fast" where there is none."""
    if operation.startswith("crop_and_resize_grad_"):
        from ._autodiff import HOST_GRADIENT_LIBRARIES

        return library in HOST_GRADIENT_LIBRARIES
    _ensure_builtins()
    return bool(_registry.fast_paths(operation, library))


# ----------------------------------------------------------------------------------------
# which_path
# ----------------------------------------------------------------------------------------

def _public(op: Any) -> tuple[str, Any, Any]:
    """(operation, public function, validator call) for ``op``."""
    from . import _api
    from ._validation import validate_crop_and_resize, validate_extract_glimpse
    from .compat import v1

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
        "crop_and_resize": crop(_api.crop_and_resize),
        "extract_glimpse": glimpse(_api.extract_glimpse, 2),
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
            f"'v1.extract_glimpse' or one of those functions; got {op!r}"
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
        checked = validate(bound)
        _ensure_builtins()
        path = _registry.resolve(operation, checked)
    return _registry.GENERIC if path is None else path.name
