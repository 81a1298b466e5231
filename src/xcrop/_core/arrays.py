"""Resolve the caller's array library and device, and bring every argument onto it.

Only the array the caller passed decides the backend: xcrop never imports an array
library on its own (``array_api_compat`` itself imports nothing until asked about an
array of that library).
"""

from __future__ import annotations

import contextlib
import numbers
import operator
import sys
from dataclasses import dataclass, replace
from typing import Any

import array_api_compat

from .errors import InvalidArgumentError, UnsupportedDTypeError

__all__ = [
    "Backend", "as_array", "check_bool", "check_choice", "check_real", "device_of",
    "dtype_name", "float_array", "from_host", "host_values", "host_view", "ieee_quiet",
    "index_array", "is_array", "is_lazy", "is_traced", "jax_on_cpu", "namespace_of",
    "numpy_blocks", "python_int_pair", "python_ints", "resolve_backend", "shape_of",
    "short_repr", "size_of",
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


#: torch.Tensor, once torch has been seen imported. torch.compile traces the checks of
#: the torch route (docs/architecture.md); reading ``sys.modules`` there makes dynamo walk
#: the whole dict, which fails when another thread (the numba loader) imports meanwhile.
_TORCH_TENSOR: list[type] = []


def _torch_tensor(x: object) -> bool:
    if _TORCH_TENSOR:
        return isinstance(x, _TORCH_TENSOR[0])
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    _TORCH_TENSOR.append(torch.Tensor)
    return isinstance(x, torch.Tensor)


def is_torch_tensor(x: object) -> bool:
    """True for a torch tensor (FakeTensors and subclasses included); imports nothing."""
    return _torch_tensor(x)


# torch tensors are recognized directly: torch.compile traces xcrop's validation, and
# array-api-compat's type tests are functools.lru_cache'd, which dynamo reports with a
# warning at every call site (it cannot trace through the cache).


def is_array(x: object) -> bool:
    """True for an array of any library array-api-compat knows (not Python scalars/lists)."""
    if _torch_tensor(x):
        return True
    if x is None or isinstance(x, (int, float, complex, str, bytes, list, tuple)):
        return False  # Python values, decided without array-api-compat (see above)
    return array_api_compat.is_array_api_obj(x)


def namespace_of(x: Any) -> Any:
    """``array_api_compat.array_namespace(x)``; TypeError for an unsupported array."""
    if _torch_tensor(x):
        import array_api_compat.torch as torch_xp

        return torch_xp
    return array_api_compat.array_namespace(x)


def device_of(x: Any) -> Any:
    """``array_api_compat.device(x)``."""
    return x.device if _torch_tensor(x) else array_api_compat.device(x)


def size_of(x: Any) -> int | None:
    """``array_api_compat.size(x)``: the number of elements."""
    return x.numel() if _torch_tensor(x) else array_api_compat.size(x)


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
        xp = namespace_of(primary)
    except TypeError as exc:
        raise TypeError(f"{name}: unsupported array type {type(primary).__name__}: {exc}") from exc
    check_known_shape(name, primary)
    return Backend(xp=xp, device=device_of(primary), name=_library_name(xp))


def check_known_shape(name: str, x: Any) -> None:
    """Refuse an array with unknown sizes (a dask array after boolean indexing has NaN
    chunk sizes): shapes are checked, and graphs planned, before any value is read."""
    shape = tuple(x.shape)
    if any(s is None or (isinstance(s, float) and s != s) for s in shape):
        raise InvalidArgumentError(
            f"{name} has unknown sizes: shape {shape}. For a dask array (e.g. after boolean "
            f"indexing) call {name}.compute_chunk_sizes() first"
        )


def is_lazy(x: object) -> bool:
    """True for a dask array (its values exist only once its graph is computed)."""
    if _torch_tensor(x):
        return False
    da = sys.modules.get("dask.array")  # never imported here: a dask array brings it
    return da is not None and isinstance(x, da.Array)


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
            other = namespace_of(value)
        except TypeError as exc:
            raise TypeError(f"{name}: unsupported array type {type(value).__name__}") from exc
        if other is not xp:
            raise TypeError(
                f"{name} is a {_library_name(other)} array but {primary} is a {backend.name} "
                f"array; pass all arrays from one library"
            )
        dev = device_of(value)
        if dev != backend.device:
            raise InvalidArgumentError(
                f"{name} is on device {dev!r} but {primary} is on device {backend.device!r}; "
                f"move them to one device"
            )
        check_known_shape(name, value)
        return value
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be an array, list or number; got {short_repr(value)}")
    try:
        return xp.asarray(value, device=backend.device)
    except (TypeError, ValueError, OverflowError, RuntimeError) as exc:
        raise TypeError(f"{name} could not be converted to an array: {exc}") from exc


def is_traced(x: object) -> bool:
    """True for an abstract value being traced (``jax.jit``/``vmap``/``grad`` tracers, or
    any tensor while ``torch.compile`` traces): its values cannot be read in Python.

    Only shapes, dtypes and the static arguments are checked for traced arrays; box-index
    range, box finiteness and coordinate overflow are checked on concrete arrays only.
    """
    if _torch_tensor(x):
        torch = sys.modules["torch"]
        compiler = getattr(torch, "compiler", None)
        if compiler is not None and compiler.is_compiling():
            return True
        # Non-strict torch.export and the operators' fake kernels run Python on
        # FakeTensors (shapes and dtypes only) without dynamo.
        fake = getattr(getattr(torch, "_subclasses", None), "FakeTensor", None)
        return fake is not None and isinstance(x, fake)
    jax = sys.modules.get("jax")
    return jax is not None and isinstance(x, jax.core.Tracer)


def jax_on_cpu(x: Any) -> bool:
    """True for a concrete (not traced) JAX array on a single CPU device."""
    if is_traced(x):
        return False
    devices = getattr(x, "devices", None)
    if devices is None:
        return False
    found = devices()
    return len(found) == 1 and next(iter(found)).platform == "cpu"


def host_view(x: Any) -> Any:
    """A zero-copy NumPy view of a CPU torch tensor (detached) or of a concrete JAX array
    on one CPU device; None for anything else, and when NumPy is not installed.

    The view of a JAX array is read-only: callers only read it.
    """
    module = type(x).__module__.split(".")[0]
    if module == "torch":
        if x.device.type != "cpu":
            return None
        x = x.detach()
    elif module not in ("jax", "jaxlib") or not jax_on_cpu(x):
        return None
    try:
        import numpy as np

        return np.asarray(x)
    except (ImportError, TypeError, RuntimeError):  # no NumPy, or a dtype it cannot view
        return None


def host_values(*xs: Any) -> tuple[Any, ...]:
    """Per array, NumPy values to check and compute on, or None: :func:`host_view` for
    CPU torch/JAX arrays; for dask arrays of NumPy blocks their computed values, all of
    them in one ``dask.compute`` (so a graph they share runs once). Only small arrays
    (boxes, box indices) are passed here.
    """
    lazy = [i for i, x in enumerate(xs) if is_lazy(x) and numpy_blocks(x)]
    out = [None if i in lazy else host_view(x) for i, x in enumerate(xs)]
    if lazy:
        import dask

        for i, value in zip(lazy, dask.compute(*(xs[i] for i in lazy)), strict=True):
            out[i] = value
    return tuple(out)


def numpy_blocks(x: Any) -> bool:
    """True for a dask array whose blocks are NumPy arrays (not CuPy, sparse, ...)."""
    np = sys.modules.get("numpy")
    return np is not None and type(getattr(x, "_meta", None)) is np.ndarray


def from_host(backend: Backend, a: Any) -> Any:
    """NumPy array ``a`` as an array of ``backend`` (torch: zero-copy; JAX: on its device;
    dask: one block)."""
    if backend.name == "torch":
        import torch

        return torch.from_numpy(a)
    if backend.name == "dask":
        import dask.array as da

        # name=False: a random name, not a hash of the values (which cost more than
        # computing them).
        return da.from_array(a, chunks=a.shape, name=False)
    import jax

    return jax.device_put(a, backend.device)


def shape_of(x: Any) -> tuple[int, ...]:
    return tuple(x.shape)


def check_choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    """``value`` if it is one of the strings ``allowed``, else InvalidArgumentError."""
    if not isinstance(value, str) or value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise InvalidArgumentError(f"{name} must be one of {choices}; got {short_repr(value)}")
    return value


def check_bool(name: str, value: object) -> bool:
    """``value`` as a Python bool; NumPy's bool scalar (not a ``bool`` subclass) is accepted."""
    kind = type(value)
    numpy_bool = kind.__module__ == "numpy" and kind.__name__ in ("bool", "bool_")
    if isinstance(value, bool) or numpy_bool:
        return bool(value)
    raise TypeError(f"{name} must be a bool; got {short_repr(value)}")


def check_real(name: str, value: object) -> float:
    """A real number (or anything ``float()`` takes that is not a bool/str, e.g. a 0-d
    array) as a Python float."""
    if isinstance(value, (bool, str, bytes, complex)) or not (
        isinstance(value, numbers.Real) or hasattr(value, "__float__")
    ):
        raise TypeError(f"{name} must be a real number; got {short_repr(value)}")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number; got {short_repr(value)}") from exc


def short_repr(value: object) -> str:
    """``repr(value)`` for error messages, never a whole array."""
    if is_array(value):
        return f"a {type(value).__name__} of shape {tuple(value.shape)}"  # type: ignore[attr-defined]
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _for_value(backend: Backend, value: object) -> Backend:
    """``backend`` as seen by ``value``: a tracer has no device (JAX reports None), so the
    device check between a traced and a concrete argument is skipped."""
    if is_array(value) and (backend.device is None or is_traced(value)):
        return replace(backend, device=device_of(value))
    return backend


_FLOAT_DTYPES = ("float16", "float32", "float64")


def float_array(backend: Backend, name: str, value: object, primary: str) -> Any:
    """A real floating array converted to float32 (lists are converted directly)."""
    backend = _for_value(backend, value)
    xp = backend.xp
    if isinstance(value, (list, tuple)):
        try:
            return xp.asarray(value, dtype=xp.float32, device=backend.device)
        except (TypeError, ValueError, OverflowError, RuntimeError) as exc:
            raise TypeError(f"{name} could not be converted to a float32 array: {exc}") from exc
    arr = as_array(backend, name, value, primary=primary)
    kind = dtype_name(xp, arr.dtype)
    if kind not in _FLOAT_DTYPES:
        raise UnsupportedDTypeError(
            f"{name} must have a real floating dtype (float16, float32 or float64); got {kind}"
        )
    return xp.astype(arr, xp.float32) if kind != "float32" else arr


def index_array(backend: Backend, name: str, value: object, primary: str) -> Any:
    """An integer array (any signed or unsigned width; bool is not an integer here)."""
    backend = _for_value(backend, value)
    xp = backend.xp
    arr = as_array(backend, name, value, primary=primary)
    kind = dtype_name(xp, arr.dtype)
    if kind in ("uint16", "uint32", "uint64"):
        # Some libraries (PyTorch) cannot even compare these; int64 holds every valid
        # index, and a wrapped-around huge value still fails the range check.
        return xp.astype(arr, xp.int64)
    if kind.startswith(("int", "uint")):
        return arr
    if isinstance(value, (list, tuple)) and size_of(arr) == 0:
        # An empty Python list converts to a float array; it holds no indices anyway.
        return xp.astype(arr, xp.int32)
    raise UnsupportedDTypeError(f"{name} must have an integer dtype; got {kind}")


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
            # A Python int as is: under torch.compile(dynamic=True) it may be a symbolic
            # size, which operator.index would specialize (one recompile per value).
            out.append(v if type(v) is int else operator.index(v))
        except TypeError:
            raise TypeError(f"{name} must contain integers; got {value!r}") from None
    return tuple(out)
