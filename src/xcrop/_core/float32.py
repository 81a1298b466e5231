"""Float32 details of TF's CPU kernels that IEEE arithmetic alone does not give.

TF runs its CPU kernels with the x86 flush-to-zero and denormals-are-zero modes on:
subnormal float32 inputs of arithmetic read as (signed) zero and subnormal results
become (signed) zero. xcrop emulates that with :func:`flush_subnormals` after every
float32 operation whose operands or result can be subnormal.
"""

from __future__ import annotations

import sys
from typing import Any

from .arrays import device_of as device
from .arrays import is_torch_tensor

__all__ = ["FLT_MIN", "flush_subnormals", "rounding_barrier"]

#: Smallest positive normal float32, 2**-126.
FLT_MIN = 2.0**-126


def flush_subnormals(xp: Any, x: Any) -> Any:
    """``x`` with every subnormal float32 replaced by a zero of the same sign."""
    # Flushed values keep their sign, as the hardware does. copysign rather than x * 0:
    # the latter warns (and costs a pass) on inf and NaN elements.
    zero = xp.zeros((), dtype=x.dtype, device=device(x))
    return xp.where(xp.abs(x) < FLT_MIN, xp.copysign(zero, x), x)


def rounding_barrier(xp: Any, x: Any) -> Any:
    """``x``, rounded here also under ``jax.jit``: XLA may not fuse it into what follows.

    XLA's CPU compiler contracts ``a * b + c`` into a fused multiply-add and folds
    ``(a + c1) + c2`` into ``a + (c1 + c2)``: one rounding where TF has two, and no flag
    turns either off per call. A select between ``x`` and something else stops both
    (``optimization_barrier`` and ``reduce_precision`` do not). On JAX tracers this is
    :func:`flush_subnormals`, which changes no bit: XLA's CPU arithmetic flushes
    subnormals itself. Anything else is returned as it is: eager operations round one by
    one, and NumPy and PyTorch keep subnormals.
    """
    if is_torch_tensor(x):  # (no sys.modules read while torch.compile traces)
        return x
    jax = sys.modules.get("jax")
    if jax is None or not isinstance(x, jax.core.Tracer):
        return x
    return flush_subnormals(xp, x)
