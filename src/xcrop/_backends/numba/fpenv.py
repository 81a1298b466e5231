"""The CPU's own flush-to-zero for kernels that would otherwise flush in software.

TF's CPU kernels run with the SSE control register (MXCSR) set to flush-to-zero (FTZ:
a result whose magnitude, rounded with unbounded exponent, is below FLT_MIN becomes a
zero of its sign) and denormals-are-zero (DAZ: a subnormal operand counts as a zero of
its sign); docs/semantics.md, "Subnormal flushing". The kernels of ``gradients`` emulate
that with an explicit ``_ftz`` after every operation, which costs most of their time
where few channels leave nothing to vectorize (3.6x on the RGB box gradient). On
x86-64 the ``*_hw`` kernels set FTZ and DAZ for their own duration instead, on the
calling thread only, and restore the caller's MXCSR before returning: the very mode TF
computes in, so the same bits, free.

Other architectures keep the software flush (``HARDWARE_FLUSH`` is False).
"""

from __future__ import annotations

import platform
from typing import Any

import numba
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = ["HARDWARE_FLUSH", "flush_to_zero", "restore"]

#: Whether this machine's kernels can use the CPU's flush-to-zero (x86-64's MXCSR).
HARDWARE_FLUSH = platform.machine().lower() in ("x86_64", "amd64")

_FTZ_DAZ = 0x8040  # MXCSR bits 15 (FTZ) and 6 (DAZ)


def _mxcsr_call(builder: Any, name: str, slot: Any) -> None:
    i8p = ir.IntType(8).as_pointer()
    fn = builder.module.declare_intrinsic(name, fnty=ir.FunctionType(ir.VoidType(), [i8p]))
    builder.call(fn, [builder.bitcast(slot, i8p)])


@intrinsic
def _get_mxcsr(typingctx: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        slot = builder.alloca(ir.IntType(32))
        _mxcsr_call(builder, "llvm.x86.sse.stmxcsr", slot)
        return builder.load(slot)
    return types.uint32(), codegen


@intrinsic
def _set_mxcsr(typingctx: Any, value: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        slot = builder.alloca(ir.IntType(32))
        builder.store(args[0], slot)
        _mxcsr_call(builder, "llvm.x86.sse.ldmxcsr", slot)
        return context.get_dummy_value()
    return types.void(types.uint32), codegen


@numba.njit(inline="always")
def flush_to_zero() -> Any:
    """Turn on FTZ and DAZ for the calling thread; returns the MXCSR to :func:`restore`.
    Only in kernels compiled for x86-64 (``HARDWARE_FLUSH``)."""
    old = _get_mxcsr()
    _set_mxcsr(old | numba.uint32(_FTZ_DAZ))
    return old


@numba.njit(inline="always")
def restore(old: Any) -> None:
    """Put back the MXCSR :func:`flush_to_zero` returned."""
    _set_mxcsr(old)
