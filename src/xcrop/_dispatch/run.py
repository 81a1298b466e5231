"""Dispatch: serve a validated call by the first fast path that accepts it, else by the
generic path (see ``registry`` for the order; ``generic`` for the last resort).

A fast path that finds out only while running that it cannot serve (a CUDA module that
fails to compile on its first use, say) raises :class:`xcrop._core.errors.PathUnavailable`;
the next accepting path, or the generic one, then serves the call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .._backends import subcalls
from .._core.args import CropArgs, GlimpseArgs, GradBoxesArgs, GradImageArgs
from .._core.errors import PathUnavailable
from . import generic, registry

__all__ = [
    "crop_and_resize",
    "ensure_builtins",
    "extract_glimpse",
    "grad_boxes",
    "grad_image",
    "path_name",
]

_lock = threading.Lock()
_builtins_loaded = False


def ensure_builtins() -> None:
    """Register the built-in fast paths (once; importing them imports no array library)."""
    global _builtins_loaded
    if _builtins_loaded:
        return
    with _lock:
        if not _builtins_loaded:
            from .._backends import builtin_paths

            for spec in builtin_paths():
                registry.register_fast_path(**spec)
            _builtins_loaded = True


def _run(operation: str, args: Any, last_resort: Callable[[Any], Any]) -> Any:
    ensure_builtins()
    for path in registry.accepting(operation, args):
        try:
            return path.implementation(args)
        except PathUnavailable:
            continue
    return last_resort(args)


def crop_and_resize(args: CropArgs) -> Any:
    """The crop of validated ``args``: float32 ``(n, ch, cw, D)`` of their library."""
    return _run("crop_and_resize", args, generic.crop_and_resize)


def extract_glimpse(args: GlimpseArgs) -> Any:
    """The glimpses of validated ``args``: float32 ``(B, h, w, D)`` of their library."""
    return _run("extract_glimpse", args, generic.extract_glimpse)


def grad_image(args: GradImageArgs) -> Any:
    """TF's image gradient of validated ``args``: ``args.image_shape`` in ``args.dtype``."""
    return _run("crop_and_resize_grad_image", args, generic.grad_image)


def grad_boxes(args: GradBoxesArgs) -> Any:
    """TF's box gradient of validated ``args``: float32 ``(n, 4)``."""
    return _run("crop_and_resize_grad_boxes", args, generic.grad_boxes)


def path_name(operation: str, args: Any) -> str:
    """Name of the path that would serve validated ``args`` (nothing is computed)."""
    ensure_builtins()
    path = registry.resolve(operation, args)
    return registry.GENERIC if path is None else path.name


def _by_name(operation: str, args: Any) -> Any:
    return {"crop_and_resize": crop_and_resize, "extract_glimpse": extract_glimpse,
            "grad_image": grad_image, "grad_boxes": grad_boxes}[operation](args)


subcalls.set_runner(_by_name)  # backends made of smaller xcrop calls (dask) reach us here
