"""Adapters from NumPy to each array backend xcrop is checked on, and back.

Used by the conformance command and by xcrop's own test suite. Every backend is listed
whether or not it is installed; :meth:`Adapter.skip_reason` says why one cannot run
(missing library, no GPU), so callers can report it instead of silently dropping it.
Importing this module imports no array library beyond NumPy.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..capabilities import NUMBA_OPERATIONS, has_fast_path


class UnsupportedByBackend(Exception):
    """The backend cannot represent an input of this case (e.g. int64 in JAX without x64)."""


@dataclass
class Adapter:
    name: str
    module: str  # the import that must succeed
    #: How xcrop is called: "eager", or "jit" (JAX: the case's arrays are the traced
    #: arguments of a ``jax.jit`` function; see ``_runner.run_call``).
    mode: str = "eager"
    _xp: Any = field(default=None, repr=False)

    # ---- availability -------------------------------------------------------------
    def skip_reason(self) -> str | None:
        if importlib.util.find_spec(self.module) is None:
            return f"{self.module} is not installed"
        if self.name == "cupy":
            try:
                import cupy

                if cupy.cuda.runtime.getDeviceCount() < 1:
                    return "CuPy is installed but no CUDA GPU is present"
            except Exception as exc:  # no driver, no device, ...
                return f"CuPy is installed but no CUDA GPU is usable ({type(exc).__name__})"
        return None

    @contextlib.contextmanager
    def active(self) -> Iterator[Adapter]:
        """Put the backend in its mode for one test (JAX's x64 flag is process-global)."""
        if self.name.startswith("jax"):
            import jax

            old = jax.config.read("jax_enable_x64")
            jax.config.update("jax_enable_x64", self.x64)
            try:
                yield self
            finally:
                jax.config.update("jax_enable_x64", old)
        else:
            yield self

    # ---- calling xcrop -------------------------------------------------------------
    def call(self, case: Any) -> Any:
        """xcrop's output for a recorded ``case`` on this backend, in this mode.

        ``"jit"``: the case's arrays are the arguments of a fresh ``jax.jit`` function (a
        fresh one per call: jit caches traces per function, not per ``use_generic()``).
        A value error found when the program runs (JAX's runtime error carrying xcrop's
        message) is re-raised as the exception the eager call raises with that message,
        so that both modes are judged alike; any other error propagates.
        """
        from ._runner import call_case

        if self.mode == "eager":
            return call_case(case, self.asarray)
        import jax

        keys = list(case.inputs)
        arrays = [self.asarray(case.inputs[k]) for k in keys]

        def run(*traced: Any) -> Any:
            by_id = {id(case.inputs[k]): t for k, t in zip(keys, traced, strict=True)}
            return call_case(case, lambda a: by_id[id(a)] if id(a) in by_id
                             else self.asarray(a))

        try:
            return jax.block_until_ready(jax.jit(run)(*arrays))
        except (jax.errors.JaxRuntimeError, ValueError) as exc:
            try:
                call_case(case, self.asarray)
            except Exception as eager:
                if str(eager) and str(eager) in str(exc):
                    raise eager from exc
            raise

    # ---- namespace and device ----------------------------------------------------
    @property
    def xp(self) -> Any:
        if self._xp is None:
            if self.name == "numpy":
                self._xp = importlib.import_module("array_api_compat.numpy")
            elif self.name == "torch":
                self._xp = importlib.import_module("array_api_compat.torch")
            elif self.name == "cupy":
                self._xp = importlib.import_module("array_api_compat.cupy")
            elif self.name.startswith("jax"):
                self._xp = importlib.import_module("jax.numpy")
            else:
                self._xp = importlib.import_module("array_api_strict")
        return self._xp

    @property
    def device(self) -> Any:
        # array-api-strict gets a non-default device so that any array xcrop creates
        # without `device=` lands on the wrong one and the call fails.
        if self.name == "array_api_strict":
            return self.xp.Device("device1")
        return None

    @property
    def x64(self) -> bool:
        """JAX with 64-bit types enabled (``jax_x64``, ``jax_x64_jit``)."""
        return self.name.startswith("jax_x64")

    @property
    def device_kind(self) -> str:
        return "gpu" if self.name == "cupy" else "cpu"

    @property
    def library(self) -> str:
        """The array library's name as the limitations table spells it."""
        return "jax" if self.name.startswith("jax") else self.name

    def unsupported_dtype(self, dtype: np.dtype) -> str | None:
        """Why this backend cannot hold ``dtype`` arrays, or None if it can."""
        dtype = np.dtype(dtype)
        if self.library == "jax" and not self.x64 and dtype.itemsize == 8:
            return f"JAX without x64 cannot hold {dtype} arrays (it narrows them silently)"
        if self.name == "array_api_strict" and dtype == np.float16:
            return "array-api-strict has no float16"
        return None

    # ---- conversion ---------------------------------------------------------------
    def asarray(self, a: np.ndarray) -> Any:
        """A backend copy of ``a`` with the same dtype (read-only for NumPy)."""
        a = np.asarray(a)
        reason = self.unsupported_dtype(a.dtype)
        if reason:
            raise UnsupportedByBackend(reason)
        if self.name == "numpy":
            out = a.copy()
            out.flags.writeable = False  # catches in-place writes into inputs
            return out
        if self.name == "torch":
            import torch

            return torch.from_numpy(a.copy())
        if self.name == "cupy":
            import cupy

            return cupy.asarray(a)
        if self.name.startswith("jax"):
            import jax.numpy as jnp

            return jnp.asarray(a)
        return self.xp.asarray(a, device=self.device)

    def to_numpy(self, x: Any) -> np.ndarray:
        if self.name == "torch":
            return x.detach().cpu().numpy()
        if self.name == "cupy":
            return x.get()
        if self.name == "array_api_strict":
            return np.asarray(x.to_device(self.xp.Device("CPU_DEVICE")))
        return np.asarray(x)

    def same_kind(self, out: Any, like: Any) -> str | None:
        """Why ``out`` is not an array of ``like``'s library and device, or None."""
        import array_api_compat

        if array_api_compat.array_namespace(out) is not array_api_compat.array_namespace(like):
            return f"result is a {type(out).__name__}, input a {type(like).__name__}"
        if array_api_compat.device(out) != array_api_compat.device(like):
            return (f"result is on {array_api_compat.device(out)!r}, input on "
                    f"{array_api_compat.device(like)!r}")
        return None


ADAPTERS = (
    Adapter("numpy", "numpy"),
    Adapter("torch", "torch"),
    Adapter("jax", "jax"),
    Adapter("jax_x64", "jax"),
    Adapter("array_api_strict", "array_api_strict"),
    Adapter("cupy", "cupy"),
)
#: The same fixtures in the traced modes (the conformance command runs them when named;
#: the test suite has its own jit tests: tests/test_jax_ffi*.py, test_jax_jit_exact.py).
MODE_ADAPTERS = (
    Adapter("jax_jit", "jax", mode="jit"),
    Adapter("jax_x64_jit", "jax", mode="jit"),
)


#: The implementation paths the conformance run and :mod:`xcrop.testing` can force.
PATHS = ("fast", "fast_array", "generic")
#: What a user gets: dispatch's own choice, per call (a fast path where one is registered
#: and accepts the call, else the generic path). The conformance command's default.
DEFAULT = "default"


def numba_installed() -> bool:
    return importlib.util.find_spec("numba") is not None


@contextlib.contextmanager
def serve_path(path: str) -> Iterator[None]:
    """Make xcrop's calls in this block take ``path``.

    ``"fast"`` (or ``"default"``): whatever the registry picks (the numba kernel where numba
    is installed: its kernels are compiled first, if need be, so that they serve);
    ``"fast_array"``: the array-op fast paths, numba disabled through ``XCROP_NO_NUMBA``
    (read per call; process-wide, so not thread-safe); ``"generic"``:
    :func:`xcrop.use_generic`. Raises ValueError for another name.
    """
    import xcrop

    if path not in (*PATHS, DEFAULT):
        raise ValueError(f"path must be one of {PATHS}, got {path!r}")
    if path == "generic":
        with xcrop.use_generic():
            yield
        return
    if path == "fast_array":
        old = os.environ.get("XCROP_NO_NUMBA")
        os.environ["XCROP_NO_NUMBA"] = "1"
        try:
            yield
        finally:
            if old is None:
                del os.environ["XCROP_NO_NUMBA"]
            else:
                os.environ["XCROP_NO_NUMBA"] = old
        return
    from .._backends.numba import loader

    # On first use the kernels build in the background while the array paths serve: wait,
    # or "fast" would check the array paths (a no-op once they are ready).
    loader.compile_kernels()
    with xcrop.use_generic(False):  # lifts an enclosing use_generic()
        yield


@dataclass
class Target:
    adapter: Adapter
    path: str

    @property
    def name(self) -> str:
        return f"{self.adapter.name}/{self.path}"

    def applies(self, op: str) -> bool:
        """Whether ``op`` runs on this target: ``fast`` only where the backend has a fast
        path for it, ``fast_array`` only where numba changes that fast path."""
        a = self.adapter
        if self.path in (DEFAULT, "generic"):
            return True
        fast = has_fast_path(op, a.library, a.device_kind, a.mode)
        if self.path == "fast":
            return fast
        return fast and op in NUMBA_OPERATIONS and a.device_kind == "cpu"


def targets_for(adapters: list[Adapter], paths: list[str]) -> tuple[list[Target], list[str]]:
    """The (backend, path) pairs to run, and notes on the pairs left out and why."""
    out, notes = [], []
    for a in adapters:
        for p in paths:
            if p == "fast_array":
                if a.library not in ("numpy", "torch", "jax") or a.mode != "eager":
                    # No numba kernels there (traced: without numba the generic path
                    # serves): fast_array would be fast or generic again.
                    continue
                if not numba_installed():
                    notes.append(f"{a.name}/fast_array not run: numba is not installed, so "
                                 f"{a.name}/fast already is the array-op fast path")
                    continue
            out.append(Target(a, p))
    return out, notes
