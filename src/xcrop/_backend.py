"""Resolve the caller's array library and device, and bring every argument onto it.

Only the array the caller passed decides the backend: xcrop never imports an array
library on its own (``array_api_compat`` itself imports nothing until asked about an
array of that library).
"""

from __future__ import annotations

import contextlib
import operator
import sys
from dataclasses import dataclass
from typing import Any

import array_api_compat

from ._errors import InvalidArgumentError, UnsupportedDTypeError

__all__ = [
    "Backend",
    "as_array",
    "dtype_name",
    "ieee_quiet",
    "is_array",
    "python_int_pair",
    "resolve_backend",
]

# Dtype names in the order used by error messages.
_ALL_DTYPES = (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "bfloat16", "float32", "float64", "complex64", "complex128",
)  # fmt: skip


@dataclass(frozen=True)
class Backend:
    """The namespace and device every array of one call lives in."""

    xp: Any
    device: Any
    name: str  # "numpy", "torch", "jax", "cupy", "array_api_strict", ...


def is_array(x: object) -> bool:
    """True for an array of any library array-api-compat knows (not Python scalars/lists)."""
    return array_api_compat.is_array_api_obj(x) and not isinstance(x, (int, float, complex))


def _library_name(xp: Any) -> str:
    name = xp.__name__
    if name.startswith("array_api_compat."):
        name = name.split(".")[1]
    return name.split(".")[0]


def resolve_backend(name: str, primary: object) -> Backend:
    """Namespace and device of the main array argument ``name``.

    Raises ``TypeError`` when ``primary`` is not an array of a supported library.
    """
    if not is_array(primary):
        raise TypeError(
            f"{name} must be an array of an array-API library (NumPy, PyTorch, JAX, CuPy, "
            f"array-api-strict, ...); got {type(primary).__name__}"
        )
    try:
        xp = array_api_compat.array_namespace(primary)
    except TypeError as exc:
        raise TypeError(f"{name}: unsupported array type {type(primary).__name__}: {exc}") from exc
    return Backend(xp=xp, device=array_api_compat.device(primary), name=_library_name(xp))


def dtype_name(xp: Any, dtype: Any) -> str:
    """Canonical name of ``dtype`` in namespace ``xp`` (``str(dtype)`` if unknown)."""
    for name in _ALL_DTYPES:
        candidate = getattr(xp, name, None)
        if candidate is not None and dtype == candidate:
            return name
    return str(dtype)


def as_array(backend: Backend, name: str, value: object, *, primary: str) -> Any:
    """``value`` as an array of ``backend``: arrays must already belong to it.

    Python scalars, lists and tuples are converted with the backend's default dtypes;
    arrays of another library or on another device are rejected rather than moved
    silently (a hidden host/device copy is the kind of surprise users do not expect).
    """
    xp = backend.xp
    if is_array(value):
        try:
            other = array_api_compat.array_namespace(value)
        except TypeError as exc:
            raise TypeError(f"{name}: unsupported array type {type(value).__name__}") from exc
        if other is not xp:
            raise TypeError(
                f"{name} is a {_library_name(other)} array but {primary} is a {backend.name} "
                f"array; pass all arrays from one library"
            )
        dev = array_api_compat.device(value)
        if dev != backend.device:
            raise InvalidArgumentError(
                f"{name} is on device {dev!r} but {primary} is on device {backend.device!r}; "
                f"move them to one device"
            )
        return value
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be an array, list or number; got {value!r}")
    try:
        return xp.asarray(value, device=backend.device)
    except (TypeError, ValueError, OverflowError, RuntimeError) as exc:
        raise TypeError(f"{name} could not be converted to an array: {exc}") from exc


def ieee_quiet() -> contextlib.AbstractContextManager[object]:
    """Silence NumPy's floating-point warnings for the duration of a call.

    inf - inf, overflowing casts and the like are part of TF's defined semantics (they
    produce the same inf/NaN TF produces), so they are not worth a warning to the user.
    NumPy (and array-api-strict, built on it) is the only backend that warns.
    """
    np = sys.modules.get("numpy")
    return np.errstate(all="ignore") if np is not None else contextlib.nullcontext()


def python_int_pair(name: str, value: object, backend: Backend) -> tuple[int, int]:
    """A 2-element integer argument (``crop_size``, ``size``) as Python ints.

    Accepts a list/tuple of two integers or a 1-D integer array of 2 elements.
    Raises ``TypeError`` for non-integers (including bool) and ``ValueError`` for the
    wrong number of elements.
    """
    h, w = python_ints(name, value, backend, ("height", "width"))
    return h, w


def python_ints(name: str, value: object, backend: Backend,
                fields: tuple[str, ...]) -> tuple[int, ...]:
    """An integer argument with one element per name in ``fields`` (e.g. ``crop_size``:
    height, width; ``image_shape``: batch, height, width, depth) as Python ints.

    Accepts a list/tuple of integers or a 1-D integer array. Raises ``TypeError`` for
    anything else, for non-integers (including bool and floats) and for a non-integer
    array dtype (:class:`UnsupportedDTypeError`), ``ValueError`` for the wrong number of
    elements.
    """
    count, labels = len(fields), ", ".join(fields)
    if is_array(value):
        arr = as_array(backend, name, value, primary="the image")
        kind = dtype_name(backend.xp, arr.dtype)
        if not kind.startswith(("int", "uint")):
            raise UnsupportedDTypeError(f"{name} must have an integer dtype; got {kind}")
        if arr.ndim != 1 or arr.shape[0] != count:
            raise InvalidArgumentError(
                f"{name} must have exactly {count} elements ({labels}); "
                f"got shape {tuple(arr.shape)}"
            )
        return tuple(int(arr[i]) for i in range(count))
    if not isinstance(value, (list, tuple)):
        raise TypeError(
            f"{name} must be a list/tuple of {count} ints or a 1-D integer array; "
            f"got {type(value).__name__}"
        )
    if len(value) != count:
        raise InvalidArgumentError(
            f"{name} must have exactly {count} elements ({labels}); got {len(value)}: "
            f"{value!r}"
        )
    out = []
    for v in value:
        if isinstance(v, bool):
            raise TypeError(f"{name} must contain integers, not bool; got {value!r}")
        try:
            out.append(operator.index(v))
        except TypeError:
            raise TypeError(f"{name} must contain integers; got {value!r}") from None
    return tuple(out)
