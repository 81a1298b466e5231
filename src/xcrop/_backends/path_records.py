"""The records the backend modules' ``paths()`` return (keyword arguments of
``register_fast_path``), for the groups of paths that several backends register alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .._core.args import OPERATIONS

__all__ = ["numba_kernel_paths", "one_per_operation"]

#: ``implementation(args) -> array`` of a fast path (``register_fast_path``).
Implementation = Callable[[Any], Any]
#: ``predicate(args) -> bool`` of a fast path: whether it serves the call.
Predicate = Callable[[Any], bool]


def one_per_operation(implementations: Sequence[Implementation],
                      predicates: Sequence[Predicate], names: Sequence[str],
                      **shared: Any) -> list[dict[str, Any]]:
    """The records of a backend that serves every operation: the ``k``-th of
    ``implementations``, ``predicates`` and ``names`` for the ``k``-th of ``OPERATIONS``
    (crop, glimpse, image gradient, box gradient), each record also carrying the keywords
    of ``shared`` (``backend``, ``device``, ...). Raises ``ValueError`` unless each
    sequence holds one entry per operation."""
    return [dict(operation=operation, implementation=implementation, predicate=predicate,
                 name=name, **shared)
            for operation, implementation, predicate, name
            in zip(OPERATIONS, implementations, predicates, names, strict=True)]


def numba_kernel_paths(backend: str, label: str, *, crop: Implementation,
                       crop_ok: Predicate, grad_image: Implementation,
                       grad_boxes: Implementation,
                       grads_ok: Predicate) -> list[dict[str, Any]]:
    """The three records of a CPU backend's numba-kernel paths: ``crop_and_resize`` by
    ``crop`` where ``crop_ok``, ``crop_and_resize_grad_image`` / ``_grad_boxes`` by
    ``grad_image`` / ``grad_boxes`` where ``grads_ok``; named ``"<label> (numba
    kernel)"``, device ``"cpu"``, priority 0 (ahead of the NumPy-code paths at -1)."""
    common = dict(backend=backend, name=f"{label} (numba kernel)", priority=0, device="cpu")
    return [
        dict(operation="crop_and_resize", implementation=crop, predicate=crop_ok, **common),
        dict(operation="crop_and_resize_grad_image", implementation=grad_image,
             predicate=grads_ok, **common),
        dict(operation="crop_and_resize_grad_boxes", implementation=grad_boxes,
             predicate=grads_ok, **common),
    ]
