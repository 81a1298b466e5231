"""Float32 details of TF's CPU kernels that IEEE arithmetic alone does not give.

TF runs its CPU kernels with the x86 flush-to-zero and denormals-are-zero modes on:
subnormal float32 inputs of arithmetic read as (signed) zero and subnormal results
become (signed) zero. xcrop emulates that with :func:`flush_subnormals` after every
float32 operation whose operands or result can be subnormal.
"""

from __future__ import annotations

from typing import Any

from .arrays import device_of as device

__all__ = ["FLT_MIN", "flush_subnormals"]

#: Smallest positive normal float32, 2**-126.
FLT_MIN = 2.0**-126


def flush_subnormals(xp: Any, x: Any) -> Any:
    """``x`` with every subnormal float32 replaced by a zero of the same sign."""
    # Flushed values keep their sign, as the hardware does. copysign rather than x * 0:
    # the latter warns (and costs a pass) on inf and NaN elements.
    zero = xp.zeros((), dtype=x.dtype, device=device(x))
    return xp.where(xp.abs(x) < FLT_MIN, xp.copysign(zero, x), x)
