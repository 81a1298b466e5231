"""Where xcrop is not bit-exact with TensorFlow 2.21 CPU: declared once, read by the tests
(as tolerances) and by the docs (as the limitations table).

Anything not listed here is promised bit-exact on float32 output.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LIMITATIONS", "Limitation", "max_ulp"]


@dataclass(frozen=True)
class Limitation:
    """A known deviation from TF CPU for one (backend, device, operation)."""

    backend: str  # array library: "numpy", "torch", "jax", "cupy", "array_api_strict"
    device: str  # "cpu", "gpu" or "*"
    operation: str  # "crop_and_resize", "extract_glimpse" or "*"
    max_ulp: int | None  # worst deviation in float32 ulps; None: not measured yet
    measured: bool  # False while no machine could run it (bound is then a design target)
    reason: str


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
        "jax", "*", "*", None, True,
        "Eager JAX is bit-exact (every forward fixture, x64 on and off). Under jax.jit and "
        "jax.vmap XLA's CPU compiler contracts multiply-adds into FMAs (openxla/xla#41579), "
        "also in the sample coordinates, so a sample that lands exactly on the image border "
        "can fall outside and take extrapolation_value. Measured on every 8th fixture "
        "under jit: crop_and_resize 44/61 bit-exact, worst deviation 45% of the output's "
        "range (one border pixel); extract_glimpse 24/25 (one offset rounded across a "
        "pixel); XLA_FLAGS=--xla_backend_optimization_level=0 makes the glimpses exact, "
        "not the crops. Use eager calls where bits matter. Under tracing only shapes, "
        "dtypes and static arguments are validated.",
    ),
    Limitation(
        "jax", "*", "crop_and_resize_grad_boxes", 2, True,
        "Without jax_enable_x64, a crop axis of size 1 makes TF add in float64, which JAX "
        "cannot; worst 2 ulp measured on the gradient edge fixtures (0 with x64). Under "
        "jax.jit: 41/43 sampled pairs bit-exact, worst 1 ulp.",
    ),
    Limitation(
        "jax", "*", "crop_and_resize_grad_image", None, True,
        "Eager jax.grad is bit-exact. Under jax.jit(jax.grad(...)) FMA contraction: 33/43 "
        "sampled pairs bit-exact, worst 238 ulp on a value near zero, i.e. at most 5e-7 of "
        "the gradient's largest magnitude.",
    ),
)  # fmt: skip


def max_ulp(backend: str, device: str, operation: str) -> int:
    """Allowed float32 ulp deviation from TF CPU for eager calls (0 = bit-exact)."""
    for lim in LIMITATIONS:
        if (
            lim.backend == backend
            and lim.device in ("*", device)
            and lim.operation in ("*", operation)
            and lim.max_ulp is not None
        ):
            return lim.max_ulp
    return 0
