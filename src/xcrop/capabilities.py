"""What xcrop does on each (operation, library, device, mode): declared once.

Two declarations, read by the tests (tolerances and which paths exist), the conformance
CLI and the docs tables:

* the fast paths: those the registry holds (each declares its device when registered);
* :data:`LIMITATIONS`: where xcrop is *not* bit-exact with TensorFlow 2.21 CPU, with the
  measured bound and the reason. Anything not listed is promised bit-exact on float32
  output.

:func:`capability` joins them for one combination; :func:`capabilities` lists every
combination that applies (``jit`` only for JAX, ``compiled``/``exported`` only for torch).

Examples
--------
>>> from xcrop.capabilities import capability
>>> c = capability("crop_and_resize", "numpy")
>>> c.max_ulp, c.fast_paths[-1]
(0, 'numpy fast path')
"""

from __future__ import annotations

from dataclasses import dataclass

from ._core.args import OPERATIONS
from ._dispatch import registry
from ._dispatch.run import ensure_builtins

__all__ = [
    "DEVICES",
    "LIBRARIES",
    "LIMITATIONS",
    "MODES",
    "NUMBA_OPERATIONS",
    "Capability",
    "Limitation",
    "capabilities",
    "capability",
    "fast_path_names",
    "has_fast_path",
    "limitations_for",
    "max_ulp",
]

#: Array libraries xcrop resolves (``Backend.name``).
LIBRARIES = ("numpy", "torch", "jax", "cupy", "array_api_strict", "dask")
DEVICES = ("cpu", "gpu")
#: How the call is made: eagerly, under ``jax.jit``/``vmap``, inside
#: ``torch.compile``, or in a ``torch.export`` program.
MODES = ("eager", "jit", "compiled", "exported")
#: Operations whose CPU fast paths run xcrop's numba kernels when numba is installed (and
#: ``XCROP_NO_NUMBA`` is not set): the array-op fast paths serve them otherwise. (The
#: CPU gradients' fast paths are numba kernels only: without numba the generic path serves.)
NUMBA_OPERATIONS = ("crop_and_resize", "extract_glimpse")
_MODES_OF = {"jax": ("eager", "jit"), "torch": ("eager", "compiled", "exported")}
_DEVICES_OF = {"cupy": ("gpu",), "numpy": ("cpu",), "array_api_strict": ("cpu",),
               "dask": ("cpu",)}


@dataclass(frozen=True)
class Limitation:
    """A known deviation from TF CPU for one (library, device, operation, mode)."""

    backend: str  # array library: "numpy", "torch", "jax", "cupy", "array_api_strict"
    device: str  # "cpu", "gpu" or "*"
    operation: str  # one of OPERATIONS, or "*"
    max_ulp: int | None  # worst deviation in float32 ulps; None: not bounded
    measured: bool  # False while no machine could run it (the bound is a design target)
    reason: str
    mode: str = "*"  # one of MODES, or "*"

    def applies(self, library: str, device: str, operation: str, mode: str) -> bool:
        return (self.backend == library and self.device in ("*", device)
                and self.operation in ("*", operation) and self.mode in ("*", mode))


LIMITATIONS: tuple[Limitation, ...] = (
    Limitation(
        "torch", "gpu", "crop_and_resize", 0, False,
        "With CuPy installed, torch CUDA tensors run xcrop's CUDA kernel (TF's operation "
        "order with __f*_rn intrinsics, which never fuse into FMAs, and explicit "
        "flush-to-zero): bit-exact on every fixture when the same source runs on the host; "
        "not yet run on a GPU (none on our CI machines). Without CuPy the torch-op path runs "
        "on the GPU, where CUDA's own kernels may contract multiply-adds (not measured).",
    ),
    Limitation(
        "cupy", "gpu", "*", 0, False,
        "xcrop's CUDA kernels: bit-exact on every crop and glimpse fixture in host "
        "emulation (the same source compiled for the CPU), PTX checked free of float FMAs; "
        "not yet run on a GPU.",
    ),
    Limitation(
        "jax", "*", "*", 0, True,
        "Under jax.jit/vmap the value checks (box index range, non-finite or overflowing "
        "boxes) run when the program runs, inside the kernels on the XLA FFI path (CPU "
        "with numba), in a host callback on the generic path (every device; O(boxes) bytes "
        "to the host): the error surfaces as JAX's runtime error carrying the eager call's "
        "xcrop message. Bits: the generic path fences off "
        "XLA's reciprocal rewrite and FMA contraction (tests/test_jax_jit_exact.py holds a "
        "spread sample of every suite, forward and jit(grad), to 0 ulp with x64 off and on; "
        "the full set runs with XCROP_JAX_SAMPLE=all). On CPU with numba the FFI path runs "
        "the numba kernels as XLA custom calls: the forward ops, and both gradients for "
        "jax.jit(jax.grad) and the jitted gradient functions (tests/test_jax_ffi.py, "
        "tests/test_jax_ffi_grad.py: every fixture, 0 ulp, x64 off and on, vmap by a "
        "batching rule).",
        mode="jit",
    ),
    Limitation(
        "torch", "*", "crop_and_resize", None, True,
        "Under torch.compile the call is one xcrop:: operator running the eager kernels "
        "(bit-exact on every fixture), but dynamo guards a float argument of the compiled "
        "function with ==, so an extrapolation_value of -0.0 passed as an argument may "
        "reuse a program compiled for 0.0: the fill then has the wrong sign of zero. A "
        "-0.0 written inside the compiled code keeps its sign (docs/api.md).",
        mode="compiled",
    ),
)  # fmt: skip


@dataclass(frozen=True)
class Capability:
    """What xcrop does for one (operation, library, device, mode)."""

    operation: str
    library: str
    device: str
    mode: str
    fast_paths: tuple[str, ...]  # names of the fast paths tried, in order (then generic)
    max_ulp: int | None  # allowed deviation from TF CPU in float32 ulps (0: bit-exact)
    measured: bool  # whether every bound that applies was measured on a real run
    reasons: tuple[str, ...]  # the limitations that apply


def limitations_for(library: str, device: str, operation: str,
                    mode: str = "eager") -> tuple[Limitation, ...]:
    """The rows of :data:`LIMITATIONS` that apply to this combination."""
    return tuple(lim for lim in LIMITATIONS if lim.applies(library, device, operation, mode))


def max_ulp(library: str, device: str, operation: str, mode: str = "eager") -> int:
    """Allowed float32 ulp deviation from TF CPU (0 = bit-exact; an unbounded row counts
    as 0 here: callers that accept it check :func:`limitations_for`)."""
    bounds = [lim.max_ulp for lim in limitations_for(library, device, operation, mode)
              if lim.max_ulp is not None]
    return max(bounds, default=0)


def fast_path_names(operation: str, library: str, device: str = "cpu",
                    mode: str = "eager") -> tuple[str, ...]:
    """Names of the registered fast paths for this combination, in the order tried."""
    ensure_builtins()
    traced = mode != "eager"
    return tuple(p.name for p in registry.fast_paths(operation, library)
                 if p.device in ("*", device) and (p.traceable or not traced))


def has_fast_path(operation: str, library: str, device: str = "cpu",
                  mode: str = "eager") -> bool:
    """Whether any fast path is registered for ``operation`` on ``library`` and device
    that serves calls made in ``mode`` (traced modes: only traceable paths)."""
    return bool(fast_path_names(operation, library, device, mode))


def capability(operation: str, library: str, device: str = "cpu",
               mode: str = "eager") -> Capability:
    """The declaration for one combination.

    Raises
    ------
    ValueError
        an unknown operation, device or mode.
    """
    for name, value, allowed in (("operation", operation, OPERATIONS),
                                 ("device", device, DEVICES), ("mode", mode, MODES)):
        if value not in allowed:
            raise ValueError(f"{name} must be one of {allowed}; got {value!r}")
    rows = limitations_for(library, device, operation, mode)
    unbounded = any(lim.max_ulp is None for lim in rows)
    return Capability(
        operation=operation, library=library, device=device, mode=mode,
        fast_paths=fast_path_names(operation, library, device, mode),
        max_ulp=None if unbounded else max_ulp(library, device, operation, mode),
        measured=all(lim.measured for lim in rows),
        reasons=tuple(lim.reason for lim in rows),
    )


def capabilities() -> tuple[Capability, ...]:
    """Every combination that applies, library by library."""
    return tuple(
        capability(op, lib, dev, mode)
        for lib in LIBRARIES
        for dev in _DEVICES_OF.get(lib, DEVICES)
        for mode in _MODES_OF.get(lib, ("eager",))
        for op in OPERATIONS
    )
