"""Dispatch, as seen from a backend whose work is made of smaller xcrop calls (the dask
path runs one NumPy call per task).

Dispatch sits above the backends, so a backend may not import it; ``_dispatch.run``
installs itself here when it is imported (every process that has xcrop loaded has it,
dask workers included, since importing any xcrop module imports the package).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["run", "set_runner"]

_runner: Callable[[str, Any], Any] | None = None


def set_runner(runner: Callable[[str, Any], Any]) -> None:
    """Install ``runner(operation, args)`` (``_dispatch.run`` does, on import)."""
    global _runner
    _runner = runner


def run(operation: str, args: Any) -> Any:
    """Serve validated ``args`` of ``operation`` (``"crop_and_resize"``, ``"grad_image"``
    ...: a function name of ``_dispatch.run``) as a public call would be served."""
    if _runner is None:
        raise RuntimeError("xcrop's dispatch is not loaded (import xcrop first)")
    return _runner(operation, args)
