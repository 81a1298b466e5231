"""Value checks of traced JAX calls on the generic path, run when the program runs.

Under ``jax.jit``/``vmap``/``grad`` validation sees tracers, not values, so it checks
shapes, dtypes and static arguments only. On CPU with numba the XLA FFI paths check the
values inside their kernels (``jax_ffi``); the generic path -- every device, and CPU
without numba or under ``xcrop.use_generic()`` -- checks them here, with a host callback
that runs the eager checks of ``_core.validation`` on the boxes and box indices
(O(boxes) bytes to the host) and hands the indices back. The callback has an effect and
the computation uses the indices it returns, so the check cannot be dropped from the
program, even when the output has no elements. A bad box raises
xcrop's eager message inside JAX's runtime error (docs/reliability.md).
"""

from __future__ import annotations

from typing import Any

__all__ = ["check_values", "checked_indices"]


def check_values(boxes: Any, box_indices: Any, batch: int, image_hw: tuple[int, int],
                 crop_hw: tuple[int, int], why: str = "") -> None:
    """The eager value checks on concrete boxes ``(n, 4)`` and box indices ``(n,)`` (any
    array convertible to NumPy), in validation's order: index in ``[0, batch)``, finite,
    sample coordinates of an ``image_hw`` image at ``crop_hw`` samples free of overflow.
    Raises :class:`~xcrop.BoxIndexError` / :class:`~xcrop.InvalidArgumentError`."""
    import array_api_compat.numpy as np
    import numpy

    from .._core.coordinates import sample_coordinates
    from .._core.validation import check_box_values, check_coordinates

    b, i = np.asarray(boxes), np.asarray(box_indices)
    if not b.shape[0]:
        return
    # An overflowing box is what check_coordinates reports: no NumPy warning first.
    with numpy.errstate(over="ignore", invalid="ignore"):
        check_box_values(np, b, i, batch, why)
        in_y = sample_coordinates(np, b[:, 0:1], b[:, 2:3], image_hw[0], crop_hw[0], None)
        in_x = sample_coordinates(np, b[:, 1:2], b[:, 3:4], image_hw[1], crop_hw[1], None)
        check_coordinates(np, b, in_y, in_x)


def checked_indices(boxes: Any, box_indices: Any, batch: int, image_hw: tuple[int, int],
                    crop_hw: tuple[int, int], why: str = "") -> Any:
    """``box_indices`` (traced, ``(n,)`` integer) once the boxes ``(n, 4)`` float32 passed
    the eager value checks: index in ``[0, batch)``, finite, sample coordinates of an
    ``image_hw`` image at ``crop_hw`` samples free of overflow. Raises (when the program
    runs) ``JaxRuntimeError`` carrying the message of the eager call's
    :class:`~xcrop.BoxIndexError` / :class:`~xcrop.InvalidArgumentError`."""
    import jax

    def check(b: Any, i: Any) -> Any:
        check_values(b, i, batch, image_hw, crop_hw, why)
        return i

    from jax.experimental import io_callback

    # io_callback, not pure_callback: a pure callback whose result feeds nothing that
    # survives (an output with no elements) is dropped by XLA, and with it the check. An
    # unordered io_callback is kept and, under vmap, called once per mapped call, so a
    # message's box number is the caller's.
    return io_callback(check, jax.ShapeDtypeStruct(box_indices.shape, box_indices.dtype),
                       boxes, box_indices, ordered=False)
