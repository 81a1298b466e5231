"""Built-in fast paths (registered in ``_registry`` on the first xcrop call).

Each module imports its array library only inside the functions that run on that
library's arrays, so registering them imports nothing.
"""

from __future__ import annotations

import threading

__all__ = ["register_builtin_paths"]

_lock = threading.Lock()
_done = False


def register_builtin_paths() -> None:
    global _done
    with _lock:
        if _done:
            return
        from . import cupy_paths, jax_paths, numpy_paths, torch_paths

        numpy_paths.register()
        torch_paths.register()
        jax_paths.register()
        cupy_paths.register()
        _done = True
