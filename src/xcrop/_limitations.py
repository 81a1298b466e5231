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
        "torch", "gpu", "crop_and_resize", 4, False,
        "CUDA kernels may contract a + (b - a) * t into a fused multiply-add; not yet run on "
        "a GPU (none on our CI machines), so the bound is a target, not a measurement.",
    ),
    Limitation(
        "cupy", "gpu", "crop_and_resize", 4, False,
        "As for torch on GPU: FMA contraction; not yet run on a GPU.",
    ),
    Limitation(
        "jax", "*", "*", None, False,
        "Bit-exact in eager mode (every fixture in the default test sample and in the "
        "conformance run, x64 on and off). Under jax.jit XLA may contract lerps into FMAs "
        "and turn divisions into reciprocal multiplies; forward deviation under jit is not "
        "measured yet. Under tracing only shapes/dtypes/static arguments are validated.",
    ),
    Limitation(
        "jax", "*", "crop_and_resize_grad_boxes", 2, True,
        "Without jax_enable_x64, a crop axis of size 1 makes TF add in float64, which JAX "
        "cannot; worst 2 ulp measured on the gradient edge fixtures (0 with x64).",
    ),
    Limitation(
        "jax", "*", "crop_and_resize_grad_image", None, True,
        "Eager jax.grad is bit-exact. Under jax.jit(jax.grad(...)) one gradient edge case "
        "differed by 128 ulp (a value near zero, FMA contraction suspected): jit is not "
        "bounded yet, so it has no tolerance here.",
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
