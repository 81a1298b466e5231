"""Output arrays of the CPU fast paths: aligned to 64 bytes, and recycled when large.

Why recycle: a fresh large NumPy array is a fresh memory mapping, and the first write to
each of its 4 KiB pages is a page fault in which the kernel zeroes the page. For the RoI
head's 60 MB output that took 3.7 ms of an 8 ms call, more than the interpolation itself
(docs/performance.md, "Output buffers are recycled"). So outputs of at least ``POOL_MIN_BYTES``
come from a small pool: when the last array on a buffer is freed, the buffer goes back to
the pool, and the next call of a similar size reuses it with its pages already mapped.
A training loop or a data pipeline, which frees each step's output before the next step,
then never faults. Smaller outputs come from ``numpy.empty``: malloc reuses those itself.

The pool keeps at most ``XCROP_BUFFER_POOL_BYTES`` bytes of idle buffers (default 256 MiB;
``0`` turns it off), read when a buffer is given back. Buffers are grouped in size classes
about 12% apart, so a call with a few more boxes than the last one still reuses its
buffer. Every fast path writes every element of an output it takes from here, so stale
contents never show.

Why the alignment: DLPack consumers such as JAX adopt a host buffer without copying only
when it is aligned (an unaligned 60 MB output cost JAX a 40 ms copy).
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any

from .._core import env

__all__ = ["ALIGNMENT", "POOL_MIN_BYTES", "empty", "idle_bytes", "zeros"]

ALIGNMENT = 64

#: Outputs smaller than this are plain NumPy allocations (malloc's free lists reuse them
#: without page faults).
POOL_MIN_BYTES = 1 << 20

DEFAULT_POOL_BYTES = 256 << 20

_lock = threading.Lock()
_idle: dict[int, list[Any]] = {}  # size class -> idle raw uint8 buffers of that many bytes
_idle_bytes = 0


def _reset_after_fork() -> None:
    # The lock may have been held by another thread of the parent at the fork; the idle
    # buffers are the child's copies and stay valid, but start afresh (less memory).
    global _lock, _idle, _idle_bytes
    _lock = threading.Lock()
    _idle = {}
    _idle_bytes = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _size_class(nbytes: int) -> int:
    # The next value of the form (8 + m) * 2**k (m < 8) at or above nbytes: at most 12.5%
    # more than asked for, and requests a few percent apart share a class.
    step = 1 << max(0, nbytes.bit_length() - 4)
    return -(-nbytes // step) * step


def _pool_limit() -> int:
    raw = env.text(env.BUFFER_POOL_BYTES)
    if not raw:
        return DEFAULT_POOL_BYTES
    if raw in ("none", "off"):
        return 0
    try:
        return max(0, int(float(raw)))
    except ValueError:
        return DEFAULT_POOL_BYTES


class _Block:
    """One pooled buffer seen as an array through ``__array_interface__``; the arrays on
    it keep it alive, and it returns to the pool when the last of them is freed."""

    def __init__(self, raw: Any, size_class: int, shape: tuple[int, ...], dtype: Any) -> None:
        self._raw = raw
        self._class = size_class
        start = -raw.ctypes.data % ALIGNMENT
        self.__array_interface__ = {
            "shape": shape, "typestr": dtype.str, "version": 3,
            "data": (raw.ctypes.data + start, False),
        }

    def __del__(self) -> None:
        # At interpreter shutdown the module's globals may be gone: let the memory go.
        with contextlib.suppress(Exception):
            _give_back(self._raw, self._class)


def _give_back(raw: Any, size_class: int) -> None:
    global _idle_bytes
    # Never wait here: this runs from __del__, possibly while this very thread holds the
    # lock in _take (a garbage collection inside it); the buffer is then simply freed.
    if not _lock.acquire(blocking=False):
        return
    try:
        if _idle_bytes + size_class <= _pool_limit():
            _idle.setdefault(size_class, []).append(raw)
            _idle_bytes += size_class
    finally:
        _lock.release()


def _take(size_class: int) -> Any:
    global _idle_bytes
    import numpy as np

    with _lock:
        buffers = _idle.get(size_class)
        if buffers:
            _idle_bytes -= size_class
            return buffers.pop()
    return np.empty(size_class + ALIGNMENT, np.uint8)


def empty(shape: tuple[int, ...], dtype: Any = "float32") -> Any:
    """An uninitialized C-contiguous NumPy array of ``shape`` and ``dtype``, aligned to
    ``ALIGNMENT`` bytes, from the pool when it is large (the signature of ``numpy.empty``,
    for the fast paths' ``empty`` argument). The caller must write every element."""
    import numpy as np

    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in shape)
    nbytes = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
    if nbytes >= POOL_MIN_BYTES:
        size_class = _size_class(nbytes)
        return np.asarray(_Block(_take(size_class), size_class, shape, dtype))
    raw = np.empty(nbytes + ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def zeros(shape: tuple[int, ...], dtype: Any = "float32") -> Any:
    """:func:`empty`, filled with zeros."""
    out = empty(shape, dtype)
    out.fill(0)
    return out


def idle_bytes() -> int:
    """Bytes of idle buffers the pool holds now (for tests and diagnostics)."""
    return _idle_bytes
