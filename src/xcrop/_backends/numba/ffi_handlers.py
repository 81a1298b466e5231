"""The XLA FFI handlers (numba ``@cfunc``s) that run xcrop's numba kernels inside a
compiled JAX program, on XLA's buffers; ``_backends.jax_ffi`` registers and calls them.

The handlers live by operation: ``ffi_crop`` (crop_and_resize, one target per image
dtype), ``ffi_glimpse`` (extract_glimpse, both versions, every fill), ``ffi_grad`` (both
gradients); ``ffi_checks`` holds what they share (the value checks with xcrop's messages,
the walk over ``vmap``'s leading dimensions), ``xla_ffi`` the reading of XLA's call frame.
Each documents its targets' operands, results and attributes.

The handlers are compiled on first use, one per target, and cached on disk like the
kernels (``cache=True``). They pass the kernels typed arguments (``np.int64(0)``, not
``0``): numba compiles a function once more for every literal argument, so a literal
would build a second copy of each kernel beside the eager path's (minutes on a cold
cache, docs/performance.md). The crop and glimpse targets also have a task, compiled with
the handler, that runs parts of a call on XLA's thread pool (``ffi_parallel``).
"""

from __future__ import annotations

from typing import Any

import numba
from numba import types

from . import ffi_crop, ffi_glimpse, ffi_grad, ffi_parallel

__all__ = ["HANDLERS", "handler"]

#: Target suffix -> the handler's Python function (compiled by :func:`handler`).
HANDLERS = {**ffi_crop.HANDLERS, **ffi_glimpse.HANDLERS, **ffi_grad.HANDLERS}
#: Target suffix -> (its task's Python function, the task's table slot).
TASKS = {**ffi_crop.TASKS, **ffi_glimpse.TASKS}
_compiled: dict[str, Any] = {}
_SIGNATURE = types.voidptr(types.voidptr)
_TASK_SIGNATURE = types.void(types.voidptr)


def handler(name: str) -> Any:
    """The compiled ``@cfunc`` of target ``name`` (a key of :data:`HANDLERS`); compiling
    or loading it from numba's cache the first time. Callers serialize calls (a lock)."""
    if name not in _compiled:
        if name in TASKS:  # published before the handler can run
            task, slot = TASKS[name]
            compiled_task = numba.cfunc(_TASK_SIGNATURE, cache=True)(task)
            ffi_parallel.set_task(slot, compiled_task.address)
            _compiled[name + "/task"] = compiled_task  # kept alive: XLA calls its address
        _compiled[name] = numba.cfunc(_SIGNATURE, cache=True)(HANDLERS[name])
    return _compiled[name]
