"""The compiled numba kernels (numba is a dependency of xcrop), imported on first use.

Kernel modules: ``crop`` (crop_and_resize), ``random`` (xcrop's Threefry streams, the
samplers and the glimpse kernel), ``gradients`` (both gradients). They are module-level
``cache=True`` functions: compiled once per machine, then loaded from numba's on-disk
cache. Host drivers that run them on NumPy arrays live in ``drivers`` and
``grad_drivers``.

Without numba (a platform numba has no wheel for, or a broken install) the NumPy /
torch-op fast paths serve instead, after one ``RuntimeWarning``; ``XCROP_NO_NUMBA`` (read
per call) switches the kernels off on purpose, without a warning.

First use. numba compiles a kernel for each argument type on its first call; on a machine
whose cache is empty that takes 5 to 20 s per kernel group (the crop kernels of one image
dtype, the glimpse kernels). A call never waits for it: the first call that needs a group
starts a background thread that loads the group from the disk cache or compiles it, and
the array-op fast path (or the generic one) serves the calls until the thread is done.
Both are exact, so the bits do not depend on which one serves. When numba really compiles
(not a cache load), xcrop logs it once per process on the ``xcrop`` logger at INFO.
:func:`compile_kernels` compiles synchronously (the conformance command, the tests and
benchmarks, which must know which path they measure).

Exactness by construction: the kernels perform, per output element, exactly the
reference's float32 operations in its order. numba compiles float32 ``+ - *`` to single
IEEE float32 instructions: without ``fastmath`` LLVM neither reassociates nor contracts
``a * b + c`` into an FMA, and the process runs with the default MXCSR (no hardware
flush-to-zero), so the explicit flushes are the only flushing, as in the reference.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import Any

from ..._core import env

__all__ = ["GLIMPSE", "available", "compile_kernels", "crop_key", "kernels", "ready",
           "set_warm_up"]

log = logging.getLogger("xcrop")

#: The readiness key of the glimpse kernels (window copy, fill, pairwise means).
GLIMPSE = ("glimpse",)
#: Crop image dtypes the crop kernels are compiled for (float16 runs as float32).
CROP_DTYPES = ("uint8", "uint16", "int8", "int16", "int32", "int64", "float32", "float64")
#: Rough cold compile time of one key on our 2-core machines (all keys: 120 s measured),
#: for the message.
SECONDS_PER_KEY = {"crop": 12, "glimpse": 15}

_lock = threading.Lock()
_kernels: Any = None
_failed = False
_ready: set[tuple[str, ...]] = set()
_pending: dict[tuple[str, ...], threading.Thread] = {}
_announced = False


def _after_fork_in_child() -> None:
    # A forked child (a PyTorch DataLoader worker) inherits the lock possibly held by a
    # background compile of the parent, and the record of threads it does not have:
    # start both afresh; a key the parent had not finished loads again here.
    global _lock
    _lock = threading.Lock()
    _pending.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def kernels() -> Any:
    """The kernel modules (``.crop``, ``.random``, ``.gradients``), imported once under a
    lock (concurrent first calls must not import twice); None for good when numba is
    missing or broken."""
    global _kernels, _failed
    if _kernels is None and not _failed:
        with _lock:
            if _kernels is None and not _failed:
                try:
                    from . import crop, gradients, random  # import numba

                    _listen_for_compiles()
                    _kernels = SimpleNamespace(crop=crop, random=random, gradients=gradients)
                except Exception as exc:  # numba missing or broken: the array paths serve
                    _failed = True
                    _warn_unavailable(f"{type(exc).__name__}: {exc}")
    return _kernels


def available() -> bool:
    """Whether the kernels may serve this call (numba importable, not switched off)."""
    return not env.flag(env.NO_NUMBA) and kernels() is not None


def crop_key(dtype: Any) -> tuple[str, ...]:
    """The readiness key of the crop kernels for images of ``dtype`` (any library's)."""
    # A NumPy/JAX dtype prints as its name, a torch dtype as "torch.<name>".
    name = dtype.__name__ if isinstance(dtype, type) else str(dtype).removeprefix("torch.")
    return ("crop", "float32" if name == "float16" else name)


def ready(key: tuple[str, ...]) -> bool:
    """Whether the kernels of ``key`` may serve a call now without compiling in the
    caller's thread. The first time a key is asked for, its kernels start loading (from
    the disk cache) or compiling in a background thread, and this returns False until
    they are done: the caller takes its array-op path meanwhile."""
    if key in _ready:
        return not env.flag(env.NO_NUMBA)
    # Importing numba takes 0.5 to 3 s: the background thread does it too.
    if env.flag(env.NO_NUMBA) or _failed:
        return False
    if not _installed():
        _warn_unavailable("numba is not installed")
        return False
    with _lock:
        if key not in _ready and key not in _pending:
            thread = threading.Thread(target=_compile, args=(key,), daemon=True,
                                      name=f"xcrop numba {'/'.join(key)}")
            _pending[key] = thread
            thread.start()
    return False


def compile_kernels(keys: Iterable[tuple[str, ...]] | None = None,
                    progress: Callable[[str], None] | None = None) -> float:
    """Load or compile the kernels of ``keys`` (default: every crop dtype and the glimpse)
    in this thread, waiting for any background compile of them; return the seconds spent.
    ``progress(message)`` is called once before a real compile starts (not for cache
    loads). Does nothing without numba."""
    start = time.perf_counter()
    if not available():
        return 0.0
    keys = list(keys) if keys is not None else [*(("crop", d) for d in CROP_DTYPES), GLIMPSE]
    global _progress
    _progress = None if progress is None else (progress, keys)
    try:
        for key in keys:
            with _lock:
                thread = _pending.get(key)
            if thread is not None:
                thread.join()
            if key not in _ready:
                _compile(key)
    finally:
        _progress = None
    return time.perf_counter() - start


def _installed() -> bool:
    global _numba_spec
    if _numba_spec is None:
        import importlib.util

        _numba_spec = importlib.util.find_spec("numba") is not None
    return _numba_spec


_numba_spec: bool | None = None
_warned = False


def _warn_unavailable(reason: str) -> None:
    """Say once per process that the compiled kernels are out of reach (numba is a
    dependency, so this is an unusual platform or a broken install)."""
    global _warned
    if _warned:
        return
    _warned = True
    import warnings

    warnings.warn(f"xcrop: the compiled numba kernels are unavailable ({reason}); the "
                  f"pure-array paths serve every call: exact, but several times slower on "
                  f"CPU and the gradients far more so "
                  f"(docs/performance.md). Set XCROP_NO_NUMBA=1 to silence this.",
                  RuntimeWarning, stacklevel=3)


_warm_up: Callable[[tuple[str, ...]], None] | None = None


def set_warm_up(run: Callable[[tuple[str, ...]], None]) -> None:
    """Install ``run(key)``, which loads or compiles the kernels of one key by calling
    them on tiny inputs (``warm.run``; set by ``_backends/__init__``, so that this module,
    which the drivers import, imports none of them)."""
    global _warm_up
    _warm_up = run


def _compile(key: tuple[str, ...]) -> None:
    try:
        if kernels() is None or _warm_up is None:
            return
        _warm_up(key)
    except Exception:  # a compile failure: the array paths keep serving this key
        log.debug("xcrop: numba kernels %s failed to compile", key, exc_info=True)
        return
    finally:
        with _lock:
            _pending.pop(key, None)
    with _lock:
        _ready.add(key)


def _join_pending() -> None:
    # Let a background compile finish before the interpreter tears down (a daemon thread
    # inside LLVM at shutdown can crash), and so the next process finds it in the cache.
    for thread in list(_pending.values()):
        thread.join()


atexit.register(_join_pending)


# ----------------------------------------------------------------------------------------
# telling the user that numba compiles (cache loads are quick and not reported)

_progress: tuple[Callable[[str], None], list[tuple[str, ...]]] | None = None


def _message(keys: Iterable[tuple[str, ...]]) -> str:
    seconds = sum(SECONDS_PER_KEY.get(k[0], 8) for k in keys if k not in _ready)
    return f"compiling numba kernels (first use on this machine, ~{max(seconds, 5)} s)…"


def _on_compile(dispatcher: Any) -> None:
    global _announced, _progress
    module = getattr(getattr(dispatcher, "py_func", None), "__module__", "") or ""
    if not module.startswith(__name__.rsplit(".", 1)[0]):
        return  # another library's numba function
    if _progress is not None:
        callback, keys = _progress
        _progress = None  # once per compile_kernels call
        callback(_message(keys))
    if not _announced:
        _announced = True
        if threading.current_thread() is threading.main_thread():
            log.info("%s", _message(list(_pending) or [GLIMPSE]))
        else:
            log.info("%s in the background; the pure-array path serves calls until "
                     "they are ready (cached on disk afterwards)",
                     _message(list(_pending) or [GLIMPSE]).rstrip("…"))


def _listen_for_compiles() -> None:
    from numba.core import event

    class Listener(event.Listener):
        def on_start(self, ev: Any) -> None:
            _on_compile(ev.data.get("dispatcher") if isinstance(ev.data, dict) else None)

        def on_end(self, ev: Any) -> None:
            pass

    event.register("numba:compile", Listener())
