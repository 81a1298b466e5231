"""The built-in fast paths, one module per library: ``numpy``, ``torch``, ``jax``,
``cuda`` (CuPy arrays and torch CUDA tensors) and ``dask`` (graphs of NumPy calls, one
task per image chunk); ``numba/`` holds the compiled CPU kernels
and their loader, ``host`` the thread pool and zero-copy views the CPU paths share,
``exactness`` when skipping the subnormal flushes provably changes no bit.

Each module lists its paths in ``paths()``; dispatch registers them on the first call.
Nothing here imports an array library until a call on its arrays arrives.
"""

from __future__ import annotations

from typing import Any

from .numba import loader as _loader
from .numba import warm as _warm

__all__ = ["builtin_paths"]

# The loader's background compile runs the drivers' warm-up (imports point down only).
_loader.set_warm_up(_warm.run)


def builtin_paths() -> list[dict[str, Any]]:
    """Keyword arguments of ``register_fast_path`` for every built-in fast path."""
    from . import dask, jax, numpy, torch
    from .cuda import gradients as cuda_gradients
    from .cuda import paths as cuda

    return [*numpy.paths(), *torch.paths(), *jax.paths(), *cuda.paths(),
            *cuda_gradients.paths(), *dask.paths()]
