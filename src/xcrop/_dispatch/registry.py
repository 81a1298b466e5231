"""Registry of fast paths: per (operation, backend) implementations chosen per call.

A fast path is an *addition*, never a fork of the semantics: it must return exactly the
bits the generic array-API implementation returns for every input its predicate
accepts. Resolution, per call:

1. if the generic path is forced (:func:`use_generic` in this context, or the environment
   variable ``XCROP_FORCE_GENERIC=1``), the generic path;
2. else the candidates registered for ``(operation, backend name)`` — looked up once per
   pair through an ``lru_cache``d table — in priority order (higher first; among equal
   priorities the most recently registered first, so a user's path overrides a built-in
   one); the first whose predicate accepts the validated arguments serves the call;
3. else the generic path (always the last resort).

Predicates receive the validated record (``xcrop._core.args``: ``CropArgs``,
``GlimpseArgs``, ``GradImageArgs``, ``GradBoxesArgs``) and may inspect dtypes, devices,
the method, ``requires_grad`` and even values (the built-in paths check there that skipping the
subnormal flushing cannot change a bit). Calls on traced arrays (``jax.jit``/``vmap``
tracers, tensors under ``torch.compile``) only go to paths registered with
``traceable=True``: the built-in paths read values or leave the framework (NumPy views,
numba), which a tracer cannot do, so traced calls take the generic path.

Registration and lookup are thread-safe: the table is mutated under a lock and the
cache is keyed by a generation counter, so a lookup racing a registration can never
store a stale list under the new generation.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .._core import env
from .._core.args import OPERATIONS
from .._core.arrays import is_traced

__all__ = [
    "GENERIC",
    "OPERATIONS",
    "FastPath",
    "accepting",
    "fast_paths",
    "generic_forced",
    "register_fast_path",
    "resolve",
    "unregister_fast_path",
    "use_generic",
]

#: Name reported for the generic array-API implementation.
GENERIC = "generic"


@dataclass(frozen=True)
class FastPath:
    """One registered fast path: the handle :func:`register_fast_path` returns.

    ``implementation(args)`` returns the result array for validated ``args``;
    ``predicate(args)`` says whether this path serves them (default: always).
    ``operation`` and ``backend`` say which calls it is offered, ``name`` is what
    :func:`xcrop.which_path` reports, ``priority`` and ``serial`` (registration order)
    set the order in which paths are tried (higher priority first, then the later
    registration), and ``traceable`` whether it may serve traced arrays. Frozen: pass
    it to :func:`unregister_fast_path` to remove the path.
    """

    operation: str
    backend: str  # library name as xcrop resolves it: "numpy", "torch", "cupy", ...
    name: str  # what :func:`xcrop.which_path` reports, e.g. "torch CPU fast path"
    implementation: Callable[[Any], Any]
    predicate: Callable[[Any], bool] = field(default=lambda args: True)
    priority: int = 0
    serial: int = 0  # registration order, for ties
    traceable: bool = False  # may serve traced arrays (jax.jit, torch.compile)
    device: str = "*"  # "cpu", "gpu" or "*": the devices it may serve (capabilities, docs)


_lock = threading.RLock()
_table: dict[tuple[str, str], list[FastPath]] = {}
_generation = 0
_serials = itertools.count()
_forced: ContextVar[bool] = ContextVar("xcrop_force_generic", default=False)


def register_fast_path(
    operation: str,
    backend: str,
    implementation: Callable[[Any], Any],
    *,
    predicate: Callable[[Any], bool] | None = None,
    name: str | None = None,
    priority: int = 0,
    traceable: bool = False,
    device: str = "*",
) -> FastPath:
    """Register ``implementation`` for ``(operation, backend)``; return its handle.

    ``operation`` is ``"crop_and_resize"``, ``"extract_glimpse"``,
    ``"crop_and_resize_grad_image"`` or ``"crop_and_resize_grad_boxes"``; ``backend`` the array
    library's name (``"numpy"``, ``"torch"``, ``"cupy"``, ``"jax"``,
    ``"array_api_strict"``). ``implementation`` and ``predicate`` receive the validated
    arguments record (fields: ``backend`` with ``xp``/``device``/``name``, the arrays,
    and for crops the exact float32 sample coordinates ``in_y``/``in_x``). Built-in
    paths have priority 0 or lower; a path registered later wins a tie. Only paths with
    ``traceable=True`` (written in the framework's own traceable operations, reading no
    values) are offered calls on traced arrays. Pass the returned handle to
    :func:`unregister_fast_path` to remove it.

    A fast path must return exactly the bits the generic path returns for every call its
    predicate accepts: it is an addition, never a different semantics.

    Parameters
    ----------
    operation
        ``"crop_and_resize"`` (also serves ``xcrop.compat.v1.crop_and_resize``),
        ``"extract_glimpse"`` (both TF2 and TF1 glimpses: ``args.version`` tells them
        apart), ``"crop_and_resize_grad_image"`` or ``"crop_and_resize_grad_boxes"`` (the
        gradient functions and the backward of ``crop_and_resize`` under autograd).
    backend
        The array library's name as xcrop resolves it.
    implementation
        ``implementation(args) -> array``: the float32 result, an array of
        ``args.backend``'s library on its device.
    predicate
        ``predicate(args) -> bool``; ``None`` accepts every call.
    name
        What :func:`xcrop.which_path` reports (default: ``"<backend> fast path
        (<function name>)"``).
    priority
        Paths are tried by descending priority; built-in paths use 0 and -1.
    traceable
        Whether the path may serve traced arrays (``jax.jit``, ``torch.compile``).
    device
        ``"cpu"``, ``"gpu"`` or ``"*"`` (default): the devices the path may serve, as
        :mod:`xcrop.capabilities` and the docs report it (the predicate still decides).

    Returns
    -------
    FastPath
        The handle of the registered path.

    Raises
    ------
    ValueError
        an unknown ``operation``.
    TypeError
        ``backend`` not a non-empty string, ``implementation`` or ``predicate`` not
        callable.

    Examples
    --------
    A path for nearest crops of NumPy arrays (this one lets the generic path compute the
    result; a real one would compute it itself):

    >>> import numpy as np, xcrop
    >>> def nearest_crop(args):
    ...     with xcrop.use_generic():
    ...         return xcrop.crop_and_resize(args.image, args.boxes, args.box_indices,
    ...                                      (args.crop_height, args.crop_width), "nearest",
    ...                                      args.extrapolation_value)
    >>> handle = xcrop.register_fast_path(
    ...     "crop_and_resize", "numpy", nearest_crop, name="my nearest path", priority=10,
    ...     predicate=lambda args: args.method == "nearest")
    >>> image = np.ones((1, 4, 4, 1), np.float32)
    >>> xcrop.which_path("crop_and_resize", image, [[0, 0, 1, 1]], [0], (2, 2), "nearest")
    'my nearest path'
    >>> bilinear = xcrop.which_path("crop_and_resize", image, [[0, 0, 1, 1]], [0], (2, 2))
    >>> bilinear == "my nearest path"
    False
    >>> xcrop.unregister_fast_path(handle)
    """
    global _generation
    if operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {OPERATIONS}; got {operation!r}")
    if not isinstance(backend, str) or not backend:
        raise TypeError(f"backend must be a library name such as 'numpy'; got {backend!r}")
    if not callable(implementation):
        raise TypeError("implementation must be callable")
    if predicate is not None and not callable(predicate):
        raise TypeError("predicate must be callable or None")
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise TypeError(f"priority must be an int; got {priority!r}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a str or None; got {name!r}")
    if device not in ("cpu", "gpu", "*"):
        raise ValueError(f"device must be 'cpu', 'gpu' or '*'; got {device!r}")
    path = FastPath(
        operation=operation,
        backend=backend,
        name=name or f"{backend} fast path ({getattr(implementation, '__name__', '?')})",
        implementation=implementation,
        predicate=predicate or (lambda args: True),
        priority=priority,
        serial=next(_serials),
        traceable=bool(traceable),
        device=device,
    )
    with _lock:
        _table.setdefault((operation, backend), []).append(path)
        _generation += 1
        _candidates.cache_clear()
    return path


def unregister_fast_path(path: FastPath) -> None:
    """Remove a path returned by :func:`register_fast_path` (no error if already gone).

    Parameters
    ----------
    path
        The :class:`FastPath` handle :func:`register_fast_path` returned. Built-in paths
        can be removed the same way (their handles are in ``xcrop._dispatch.registry``), but
        :func:`use_generic` is the supported way to bypass them.
    """
    global _generation
    if not isinstance(path, FastPath):
        raise TypeError(
            f"path must be the FastPath returned by register_fast_path; got {path!r}"
        )
    with _lock:
        paths = _table.get((path.operation, path.backend), [])
        if path in paths:
            paths.remove(path)
        _generation += 1
        _candidates.cache_clear()


@lru_cache(maxsize=256)
def _candidates(operation: str, backend: str, generation: int) -> tuple[FastPath, ...]:
    del generation  # part of the key only: a registration bumps it
    with _lock:
        paths = list(_table.get((operation, backend), ()))
    return tuple(sorted(paths, key=lambda p: (-p.priority, -p.serial)))


def fast_paths(operation: str, backend: str) -> tuple[FastPath, ...]:
    """The registered candidates for ``(operation, backend)``, in the order tried."""
    return _candidates(operation, backend, _generation)


def generic_forced() -> bool:
    """True inside :func:`use_generic` or when ``XCROP_FORCE_GENERIC`` is set (not 0)."""
    return _forced.get() or env.flag(env.FORCE_GENERIC)


@contextlib.contextmanager
def use_generic(enabled: bool = True) -> Iterator[None]:
    """Serve every xcrop call in this block (this thread/task only) by the generic path.

    Uses a :class:`contextvars.ContextVar`, so other threads and asyncio tasks are not
    affected. ``use_generic(False)`` lifts an enclosing ``use_generic()`` (not the
    environment variable ``XCROP_FORCE_GENERIC=1``, which forces the generic path for the
    whole process).

    Parameters
    ----------
    enabled
        ``True`` (default) forces the generic path in the block, ``False`` lifts an
        enclosing ``use_generic()``.

    Examples
    --------
    >>> import numpy as np, xcrop
    >>> image = np.ones((1, 4, 4, 1), np.float32)
    >>> with xcrop.use_generic():
    ...     xcrop.which_path("crop_and_resize", image, [[0, 0, 1, 1]], [0], (2, 2))
    'generic'
    """
    token = _forced.set(bool(enabled))
    try:
        yield
    finally:
        _forced.reset(token)


def accepting(operation: str, args: Any) -> Iterator[FastPath]:
    """The fast paths that accept validated ``args``, in the order tried (none when the
    generic path is forced; only ``traceable`` ones for traced arrays)."""
    if generic_forced():
        return
    traced = is_traced(args.image)
    for path in _candidates(operation, args.backend.name, _generation):
        if (path.traceable or not traced) and path.predicate(args):
            yield path


def resolve(operation: str, args: Any) -> FastPath | None:
    """The fast path that serves validated ``args``, or None for the generic path."""
    return next(accepting(operation, args), None)
