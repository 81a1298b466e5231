"""xcrop's environment variables, read in one place with one truthiness rule.

Every switch is read per call (tests and users flip them at run time):

* ``XCROP_FORCE_GENERIC``  serve every call by the generic path (as :func:`xcrop.use_generic`);
* ``XCROP_NO_NUMBA``       do not use the compiled numba kernels;
* ``XCROP_NO_CUDA_KERNEL`` do not use xcrop's CUDA kernels (CuPy, torch CUDA);
* ``XCROP_NUM_THREADS``    size of xcrop's CPU thread pool (default: CPUs, at most 8);
* ``XCROP_MAX_OUTPUT_BYTES`` the output-size limit (see ``_core.config``);
* ``XCROP_BUFFER_POOL_BYTES`` bytes of idle output buffers kept for reuse
  (``_backends.buffers``).

A switch is on unless it is unset, empty, or one of ``0 false no off`` (any case).
"""

from __future__ import annotations

import os

__all__ = [
    "BUFFER_POOL_BYTES",
    "FORCE_GENERIC",
    "MAX_OUTPUT_BYTES",
    "NO_CUDA_KERNEL",
    "NO_NUMBA",
    "NUM_THREADS",
    "flag",
    "positive_int",
    "text",
]

FORCE_GENERIC = "XCROP_FORCE_GENERIC"
NO_NUMBA = "XCROP_NO_NUMBA"
NO_CUDA_KERNEL = "XCROP_NO_CUDA_KERNEL"
NUM_THREADS = "XCROP_NUM_THREADS"
MAX_OUTPUT_BYTES = "XCROP_MAX_OUTPUT_BYTES"
BUFFER_POOL_BYTES = "XCROP_BUFFER_POOL_BYTES"

_OFF = ("", "0", "false", "no", "off")


def text(name: str) -> str:
    """The variable's value, stripped and lower-cased (``""`` when unset)."""
    return os.environ.get(name, "").strip().lower()


def flag(name: str) -> bool:
    """Whether switch ``name`` is on (set to anything but ``"" 0 false no off``)."""
    return text(name) not in _OFF


def positive_int(name: str) -> int | None:
    """The variable as a positive int, or None when unset or not a positive integer."""
    raw = text(name)
    return int(raw) if raw.isdigit() and int(raw) > 0 else None
