"""Exact sequential sums for the host box gradient (NumPy arrays, torch CPU tensors).

Same semantics as ``_reference.gradients`` (whose ``row_sums`` hook this serves), only
faster:

* ``sequential_row_sums``: TF's box gradient adds its ``crop_height * crop_width *
  depth`` terms one after another in float32, flushing subnormal results to zero.
  ``numpy.add.accumulate`` is that fold exactly -- a strictly sequential
  ``out[k] = out[k-1] + term[k]`` in the array's dtype -- minus the flush, so its result
  is TF's whenever no partial sum is subnormal, which the accumulated array shows
  directly; otherwise the generic fold runs. (The generic fold takes one array operation
  per term: right for traced JAX, thousands of times slower on the host.)
"""

from __future__ import annotations

from typing import Any

from .._core.arrays import ieee_quiet

__all__ = ["sequential_row_sums"]

_TINY = 2.0**-126  # smallest normal float32


def sequential_row_sums(seq: Any) -> Any | None:
    """``(((0 + seq[:, 0]) + seq[:, 1]) + ...)`` for a float32 ``(n, L, k)`` array, rounded
    and flushed after every addition as TF's CPU kernel does; ``(n, k)`` of ``seq``'s
    library. None when this cannot be done exactly here (not a host float32 array, or a
    partial sum is subnormal): the caller then runs the generic fold.
    """
    module = type(seq).__module__.split(".")[0]
    if module == "numpy":
        import numpy as np

        return _accumulate(seq) if seq.dtype == np.float32 else None
    if module == "torch":
        import torch

        if seq.device.type != "cpu" or seq.dtype != torch.float32:
            return None
        out = _accumulate(seq.detach().contiguous().numpy())
        return None if out is None else torch.from_numpy(out)
    return None


def _accumulate(seq: Any) -> Any | None:
    import numpy as np

    n, length, k = seq.shape
    if length == 0:
        return np.zeros((n, k), np.float32)
    with ieee_quiet():
        partial = np.add.accumulate(seq, axis=1, dtype=np.float32)
    magnitude = np.abs(partial)
    if np.any((magnitude < _TINY) & (magnitude > 0)):
        return None  # TF would have flushed a partial sum: keep the exact generic fold
    # The fold starts from +0: adding it turns an all-(-0) sum into +0, as in TF, and
    # leaves every other value unchanged.
    return np.ascontiguousarray(partial[:, -1, :]) + np.float32(0.0)
