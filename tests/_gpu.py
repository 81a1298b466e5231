"""Markers of the tests that need a CUDA GPU (test_cupy_paths.py,
test_cuda_gradients_source.py): skipped with a visible reason where CuPy, torch or a
CUDA device is missing."""

from __future__ import annotations

import importlib.util

import pytest

__all__ = ["cupy_skip_reason", "needs_gpu", "needs_torch_cuda", "torch_cuda_skip_reason"]


def cupy_skip_reason() -> str | None:
    if importlib.util.find_spec("cupy") is None:
        return "CuPy not installed"
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "CuPy installed but no CUDA device"
    except Exception as exc:  # no driver, driver too old, ...
        return f"CuPy installed but no usable CUDA device ({type(exc).__name__}: {exc})"
    return None


def torch_cuda_skip_reason() -> str | None:
    reason = cupy_skip_reason()
    if reason:
        return reason
    if importlib.util.find_spec("torch") is None:
        return "torch not installed"
    import torch

    if not torch.cuda.is_available():
        return "torch has no CUDA device (CPU-only build or no GPU)"
    return None


needs_gpu = pytest.mark.skipif(cupy_skip_reason() is not None,
                               reason=str(cupy_skip_reason()))
needs_torch_cuda = pytest.mark.skipif(torch_cuda_skip_reason() is not None,
                                      reason=str(torch_cuda_skip_reason()))
