"""What the CPU fast paths share: xcrop's thread pool, and zero-copy NumPy views of host
arrays of other libraries (CPU torch tensors, JAX CPU arrays), so that the NumPy fast
paths (numba kernels, NumPy code) serve them: the same code on the same memory gives the
same bits.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from .._core import env
from .._core.args import CropArgs, GlimpseArgs, GradBoxesArgs, GradImageArgs
from .._core.arrays import Backend

__all__ = [
    "crop_view",
    "executor",
    "glimpse_view",
    "num_threads",
    "numpy_backend",
    "numpy_view",
    "read_alias",
    "run_split",
]

#: Output elements below which :func:`run_split` runs on the calling thread only.
SERIAL_ELEMENTS = 2**16

_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def num_threads() -> int:
    """``XCROP_NUM_THREADS``, else the number of CPUs, at most 8."""
    return env.positive_int(env.NUM_THREADS) or max(1, min(8, os.cpu_count() or 1))


def executor(size: int) -> ThreadPoolExecutor:
    """xcrop's thread pool with ``size`` workers (rebuilt when the size changes)."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size != size:
            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="xcrop")
            _pool_size = size
        return _pool


def _forget_pool_after_fork() -> None:
    # A forked child (a PyTorch DataLoader worker, multiprocessing's "fork") has none of
    # the parent's pool threads: work submitted to the inherited executor would wait
    # forever. The child makes its own pool on first use.
    global _pool, _pool_size, _pool_lock
    _pool_lock = threading.Lock()
    _pool = None
    _pool_size = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def run_split(kernel: Callable[[int, int], None], n: int, elements: int) -> None:
    """Run ``kernel(i0, i1)`` over ``range(n)`` in contiguous parts on xcrop's thread pool.

    The numba kernels are compiled ``nogil`` and NumPy releases the GIL in its loops, so
    plain Python threads run them in parallel. numba's own ``parallel=True`` (its OpenMP
    threading layer) is not used: its spinning workers and PyTorch's OpenMP pool slowed
    each other down badly in one process (torch ops of a call taking 10x longer right
    after a parallel kernel, measured on 2 cores).
    """
    threads = min(num_threads(), n)
    if threads <= 1 or elements < SERIAL_ELEMENTS:
        kernel(0, n)
        return
    # A few parts per thread even out parts of unequal cost (fill vs interpolation).
    parts = min(n, threads * 4)
    bounds = [n * k // parts for k in range(parts + 1)]
    jobs = [executor(threads).submit(kernel, a, b)
            for a, b in itertools.pairwise(bounds) if a < b]
    for job in jobs:
        job.result()

def numpy_backend() -> Backend:
    import array_api_compat.numpy as np_xp

    return Backend(xp=np_xp, device="cpu", name="numpy")


#: The array fields of each argument record.
_ARRAYS = {
    CropArgs: ("image", "boxes", "box_indices", "in_y", "in_x"),
    GlimpseArgs: ("input", "offsets"),
    GradImageArgs: ("grads", "box_indices", "in_y", "in_x"),
    GradBoxesArgs: ("grads", "image", "boxes", "box_indices"),
}


def numpy_view(args: Any, to_numpy: Callable[[Any], Any]) -> Any:
    """The record ``args`` with every array replaced by ``to_numpy(array)`` (a zero-copy
    view) and the NumPy backend."""
    fields = {name: to_numpy(getattr(args, name)) for name in _ARRAYS[type(args)]}
    return replace(args, backend=numpy_backend(), **fields)


def crop_view(args: CropArgs, to_numpy: Callable[[Any], Any]) -> CropArgs:
    """:func:`numpy_view` of ``crop_and_resize`` arguments."""
    return numpy_view(args, to_numpy)


def glimpse_view(args: GlimpseArgs, to_numpy: Callable[[Any], Any]) -> GlimpseArgs:
    """:func:`numpy_view` of ``extract_glimpse`` arguments."""
    return numpy_view(args, to_numpy)


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
