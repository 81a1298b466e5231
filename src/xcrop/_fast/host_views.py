"""Zero-copy NumPy views of host arrays of other libraries (CPU torch tensors, JAX CPU
arrays), so the NumPy fast paths (numba kernels, NumPy code) serve them: the same code on
the same memory gives the same bits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from .._backend import Backend
from .._validation import CropArgs, GlimpseArgs

__all__ = ["aligned_empty", "crop_view", "glimpse_view", "numpy_backend", "read_alias"]

#: DLPack consumers such as JAX adopt a host buffer without copying only when it is
#: aligned this much (an unaligned 60 MB output cost JAX a 40 ms copy).
ALIGNMENT = 64


def numpy_backend() -> Backend:
    import array_api_compat.numpy as np_xp

    return Backend(xp=np_xp, device="cpu", name="numpy")


def crop_view(args: CropArgs, to_numpy: Callable[[Any], Any]) -> CropArgs:
    """``args`` with every array replaced by ``to_numpy(array)`` (a zero-copy view) and
    the NumPy backend."""
    return replace(args, backend=numpy_backend(), image=to_numpy(args.image),
                   boxes=to_numpy(args.boxes), box_indices=to_numpy(args.box_indices),
                   in_y=to_numpy(args.in_y), in_x=to_numpy(args.in_x))


def glimpse_view(args: GlimpseArgs, to_numpy: Callable[[Any], Any]) -> GlimpseArgs:
    """As :func:`crop_view` for ``extract_glimpse`` arguments."""
    return replace(args, backend=numpy_backend(), input=to_numpy(args.input),
                   offsets=to_numpy(args.offsets))


def aligned_empty(shape: tuple[int, ...], dtype: Any = "float32") -> Any:
    """An uninitialized C-contiguous NumPy array aligned to ``ALIGNMENT`` bytes (the
    signature of ``numpy.empty``, for the fast paths' ``empty`` argument)."""
    import numpy as np

    dtype = np.dtype(dtype)
    size = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
    raw = np.empty(size + ALIGNMENT, dtype=np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start:start + size].view(dtype).reshape(shape)


class _Alias:
    """Carrier of an ``__array_interface__`` (keeps the aliased array alive)."""

    def __init__(self, array: Any) -> None:
        interface = dict(array.__array_interface__)
        interface["data"] = (interface["data"][0], False)
        self.__array_interface__ = interface
        self._array = array


def read_alias(array: Any) -> Any:
    """A NumPy array on the memory of the read-only NumPy ``array``, flagged writeable.

    Only for inputs the fast paths merely read: numba compiles a separate specialization
    of every kernel for read-only arrays (seconds per kernel and dtype on first use), and
    the views of JAX arrays are read-only; aliasing them keeps one compiled kernel per
    dtype. Writeable arrays are returned as they are.
    """
    import numpy as np

    if array.flags.writeable:
        return array
    return np.asarray(_Alias(array))
