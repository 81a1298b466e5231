"""The loop primitive JAX gives the reference gradients' sequential folds (used by the
generic path on JAX and by the XLA FFI path's gradients)."""

from __future__ import annotations

from typing import Any

__all__ = ["lax_fold"]


def lax_fold(body: Any, init: Any, steps: Any) -> Any:
    """The reference gradients' sequential fold as one ``lax.fori_loop``: compiled once,
    and it takes a traced step count, so the exact TF-order accumulation also runs under
    ``jax.jit`` (the generic gradients on JAX use it)."""
    import jax

    return jax.lax.fori_loop(0, steps, body, init)
