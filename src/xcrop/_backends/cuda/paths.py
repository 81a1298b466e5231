"""CUDA fast paths: one fused kernel launch per call, for CuPy arrays and torch CUDA tensors.

The kernels live in ``cuda/*.cu`` (plain CUDA C++, see ``cuda/common.cuh`` for the
exactness rules); this module compiles them once per process with NVRTC through
``cupy.RawModule`` and launches them:

* ``crop_and_resize``: one thread per output element, all boxes in one launch. The
  sample coordinates come from validation (``args.in_y``/``args.in_x``, TF's float32
  recipe), so the kernel only gathers and interpolates, in the generic path's order
  and with its explicit subnormal flushes: no value-dependent fall-back is needed.
  Every image dtype xcrop accepts has its own kernel (float16 is read as raw bits).
* ``extract_glimpse``: window starts computed by the generic path's own functions (a
  few small array operations, no host synchronisation), then one launch that copies and
  fills. The seeded ``"uniform"`` and ``"gaussian"`` fills (xcrop's Threefry streams
  and its +-*/-only Box-Muller, ported operation for operation) are drawn in the kernel;
  only the per-image statistics (min, max; per channel mean and std through the generic
  path's portable fixed-order reductions) are computed beforehand, as small arrays.

Launches go to the current device of the input and to CuPy's current stream (for torch
tensors: torch's current stream, wrapped as a ``cupy.cuda.ExternalStream``, and the
tensors shared zero-copy through DLPack). Output is allocated on the input's device (for
torch, by torch's caching allocator).

Autograd (torch): every torch call runs through the custom operator ``xcrop::*``
(``_frameworks/torch_ops.py``), whose kernel calls dispatch with grad mode off, so this
path serves the forward and the gradient operators the backward. A direct dispatch with
grad mode on and ``requires_grad`` inputs is declined (generic path).

Nothing here imports CuPy or torch until a call on their arrays arrives; the torch
CUDA path imports CuPy at its first CUDA call (when CuPy is installed) and otherwise
declines. ``XCROP_NO_CUDA_KERNEL=1`` disables both paths (torch CUDA then takes its
array-op fast path, CuPy the generic path), for cross-checks.
"""

from __future__ import annotations

import contextlib
import math
import re
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..._core import env
from ..._core import random as _random
from ..._core.args import CROP_IMAGE_DTYPES, CropArgs, GlimpseArgs
from ..._core.errors import PathUnavailable
from ..._reference.extract_glimpse import GAUSSIAN_STREAM, UNIFORM_STREAM, fill_statistics
from ..._reference.indexing import window_starts

__all__ = [
    "CUDA_DIR",
    "NVRTC_OPTIONS",
    "KernelCall",
    "crop_call",
    "glimpse_call",
    "kernel_source",
    "paths",
    "run_crop",
    "run_glimpse",
]

#: Directory of the CUDA sources (shipped inside the wheel with the package).
CUDA_DIR = Path(__file__).parent
#: Files concatenated, in this order, into the module NVRTC compiles.
SOURCES = ("common.cuh", "crop_and_resize.cu", "extract_glimpse.cu", "gradients.cu")
#: ``--fmad=false`` as a second guard: the kernels already use ``__f*_rn`` intrinsics,
#: which are never contracted. No ``--use_fast_math``. CuPy appends ``-ftz=true`` to every
#: module it compiles; the kernels are written to give the same bits either way.
NVRTC_OPTIONS = ("--fmad=false", "-std=c++14")
THREADS_PER_BLOCK = 256
#: Grid-stride loops: more blocks than this just loop.
MAX_BLOCKS = 2**20
#: xcrop's seeded random streams hold at most this many elements per call.
MAX_RANDOM_ELEMENTS = _random.MAX_SIZE
# torch dtypes shared through DLPack (torch's uint16 is a limited "shell" dtype).
TORCH_DTYPES = tuple(k for k in CROP_IMAGE_DTYPES if k != "uint16")

_INCLUDE = re.compile(r'^\s*#\s*include\s+"[^"]+"\s*$', re.MULTILINE)


def kernel_source() -> str:
    """The CUDA source NVRTC compiles: ``common.cuh`` then the kernel files, with their
    local ``#include`` lines removed (the text is self-contained, and CuPy's compile cache,
    keyed by the source text, sees every change)."""
    parts = []
    for name in SOURCES:
        text = (CUDA_DIR / name).read_text(encoding="utf-8")
        parts.append(f"// ---- {name}\n" + _INCLUDE.sub("", text))
    return "\n".join(parts)


def kernels_disabled() -> bool:
    return env.flag(env.NO_CUDA_KERNEL)


# ----------------------------------------------------------------------------------------
# Kernel calls, independent of who launches them (CuPy here; the host shim in the tests)
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KernelCall:
    """One kernel launch: the kernel's name, the number of output elements (threads
    needed) and its arguments in parameter order: arrays (NumPy or CuPy, C-contiguous)
    and NumPy scalars whose types match the C parameters (int64 for ``long long``,
    int32 for ``int``, uint32 for ``unsigned int``, float32 for ``float``)."""

    name: str
    total: int
    args: tuple[Any, ...]


def float32_scalar(value: float) -> Any:
    import numpy as np

    with np.errstate(over="ignore"):  # 1e40 -> inf, as the generic path rounds it
        return np.float32(value)


def crop_call(args: CropArgs, lib: Any, out: Any) -> KernelCall:
    """The crop kernel call writing ``out`` (float32 ``(n, ch, cw, D)``, C-contiguous).

    ``lib`` is the array module of ``args``' arrays (``numpy`` or ``cupy``).
    """
    import numpy as np

    image = lib.ascontiguousarray(args.image)
    kind = str(image.dtype)
    if kind not in CROP_IMAGE_DTYPES:  # validation guarantees it; keep the kernel safe
        raise TypeError(f"image dtype {kind} has no CUDA kernel")
    if kind == "float16":
        image = image.view(lib.uint16)  # the kernel decodes the bits itself
    _, height, width, depth = args.image.shape
    n, ch, cw, _ = args.output_shape
    return KernelCall(
        name=f"xcrop_crop_{args.method}_{kind}",
        total=n * ch * cw * depth,
        args=(
            image,
            lib.ascontiguousarray(args.in_y, dtype=lib.float32),
            lib.ascontiguousarray(args.in_x, dtype=lib.float32),
            lib.ascontiguousarray(args.box_indices.astype(lib.int64, copy=False)),
            np.int64(n), np.int64(height), np.int64(width), np.int64(depth),
            np.int64(ch), np.int64(cw),
            float32_scalar(args.extrapolation_value),
            out,
        ),
    )


def run_crop(args: CropArgs, lib: Any, launch: Callable[[KernelCall], None],
             out: Any = None) -> Any:
    """``crop_and_resize`` of validated ``args`` through the kernel; returns ``out``
    (allocated with ``lib`` on the current device when None)."""
    shape = args.output_shape
    if out is None:
        out = lib.empty(shape, dtype=lib.float32)
    if math.prod(shape) > 0:
        launch(crop_call(args, lib, out))
    return out


_GLIMPSE_MODES = {"zero": 0, "uniform": 1, "gaussian": 2}


def glimpse_call(args: GlimpseArgs, lib: Any, out: Any, seed: int | None = None) -> KernelCall:
    """The glimpse kernel call writing ``out`` (float32 ``(B, h, w, D)``, C-contiguous).

    ``seed`` is the fill seed; None means ``args.seed``, or a fresh one when that is None
    too (as the generic path draws it).
    """
    import numpy as np

    xp = args.backend.xp
    image = lib.ascontiguousarray(args.input)
    batch, height, width, depth = image.shape
    h, w = args.height, args.width
    # The reference's own window arithmetic (TF's float32 recipe, then truncation).
    start_y, start_x = window_starts(xp, args)
    mode = _GLIMPSE_MODES[args.noise]
    # Placeholders, never read in the modes that do not use them: the (read-only) input,
    # so that no read-only kernel pointer aliases the output.
    lo = hi = mean = sigma = image
    key0 = key1 = stream = 0
    if mode:
        if seed is None:
            seed = _random.random_seed() if args.seed is None else args.seed
        seed = _random.check_seed(seed)
        key0, key1 = seed & 0xFFFFFFFF, seed >> 32
    if mode == 1:
        stream = UNIFORM_STREAM
        lo, hi = fill_statistics(xp, image, "uniform", args.backend.device)
    elif mode == 2:
        stream = GAUSSIAN_STREAM
        lo, hi, mean, sigma = fill_statistics(xp, image, "gaussian", args.backend.device)

    def f32(a: Any) -> Any:  # (B * D,) or (B,) statistics, flat
        return lib.ascontiguousarray(lib.reshape(a, (-1,)), dtype=lib.float32)

    return KernelCall(
        name="xcrop_extract_glimpse",
        total=batch * h * w * depth,
        args=(
            image,
            lib.ascontiguousarray(start_y, dtype=lib.int32),
            lib.ascontiguousarray(start_x, dtype=lib.int32),
            np.int64(batch), np.int64(height), np.int64(width), np.int64(depth),
            np.int64(h), np.int64(w), np.int32(mode),
            f32(lo), f32(hi), f32(mean), f32(sigma),
            np.uint32(key0), np.uint32(key1), np.uint32(stream),
            out,
        ),
    )


def run_glimpse(args: GlimpseArgs, lib: Any, launch: Callable[[KernelCall], None],
                out: Any = None, seed: int | None = None) -> Any:
    """``extract_glimpse`` of validated ``args`` (non-empty input and output, see the
    predicate) through the kernel; returns ``out``."""
    if out is None:
        out = lib.empty(args.output_shape, dtype=lib.float32)
    launch(glimpse_call(args, lib, out, seed))
    return out


# ----------------------------------------------------------------------------------------
# CuPy: compile once, launch on the current device and stream
# ----------------------------------------------------------------------------------------

_module_lock = threading.Lock()
_module: Any = None


def _raw_module() -> Any:
    global _module
    with _module_lock:
        if _module is None:
            import cupy

            _module = cupy.RawModule(code=kernel_source(), options=NVRTC_OPTIONS)
        return _module


@lru_cache(maxsize=64)
def _function(device_id: int, name: str) -> Any:
    del device_id  # part of the key: CuPy loads the module once per device
    return _raw_module().get_function(name)


def cupy_launch(call: KernelCall) -> None:
    """Launch ``call`` with CuPy on the current device and the current stream."""
    import cupy

    if call.total == 0:
        return
    blocks = min(MAX_BLOCKS, -(-call.total // THREADS_PER_BLOCK))
    kernel = _function(cupy.cuda.Device().id, call.name)
    kernel((blocks,), (THREADS_PER_BLOCK,), call.args)


def is_cupy(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "cupy"


def glimpse_ok(args: GlimpseArgs) -> bool:
    b, height, width, depth = args.input.shape
    if min(b, height, width, depth, args.height, args.width) <= 0:
        return False  # empty input or output: the generic path's special cases
    if args.fill_start:
        return False  # a chunk of a larger call (dask, NumPy only): not the kernel's case
    # xcrop's random stream covers at most 2**31 elements; beyond, the generic path
    # raises its error.
    return args.noise == "zero" or math.prod(args.output_shape) <= MAX_RANDOM_ELEMENTS


def cupy_path(run: Callable[..., Any], array: str,
              accepts: Callable[[Any], bool] = lambda args: True,
              ) -> tuple[Callable[[Any], bool], Callable[[Any], Any]]:
    """``(predicate, implementation)`` of a CuPy kernel path: it takes calls whose
    ``args.<array>`` is a CuPy array and that ``accepts``, and runs
    ``run(args, cupy, cupy_launch)`` on that array's device (current stream)."""

    def predicate(args: Any) -> bool:
        return not kernels_disabled() and is_cupy(getattr(args, array)) and accepts(args)

    def implementation(args: Any) -> Any:
        import cupy

        with getattr(args, array).device:
            return run(args, cupy, cupy_launch)

    return predicate, implementation


_cupy_crop_predicate, _cupy_crop = cupy_path(run_crop, "image")
_cupy_glimpse_predicate, _cupy_glimpse = cupy_path(run_glimpse, "input", glimpse_ok)


# ----------------------------------------------------------------------------------------
# torch CUDA tensors: the same kernels through zero-copy DLPack, on torch's stream
# ----------------------------------------------------------------------------------------

_cupy_import_lock = threading.Lock()
_cupy_importable: bool | None = None


def cupy_usable() -> bool:
    """CuPy imports and sees a CUDA device (checked once, when the first torch CUDA call
    arrives: only then is CuPy imported)."""
    global _cupy_importable
    if _cupy_importable is None:
        with _cupy_import_lock:
            if _cupy_importable is None:
                try:
                    import cupy

                    # Raises when CuPy's CUDA runtime needs a newer driver than torch's.
                    usable = cupy.cuda.runtime.getDeviceCount() > 0
                except Exception:  # not installed, or a broken CUDA install
                    usable = False
                _cupy_importable = usable
    return _cupy_importable


_torch_kernel_proven = False


def _torch_guarded(run: Callable[[Any], Any], args: Any) -> Any:
    """``run(args)``; if the very first torch CUDA kernel call fails (CuPy cannot compile
    or load the module here: no NVRTC, an unsupported GPU, a DLPack/driver mismatch),
    warn once, stop using this path and let dispatch serve the call by the next path
    (the torch CUDA array path or the generic path). Later failures propagate."""
    global _torch_kernel_proven, _cupy_importable
    if _torch_kernel_proven:
        return run(args)
    try:
        out = run(args)
    except Exception as exc:
        import warnings

        _cupy_importable = False  # every torch predicate here now declines
        warnings.warn(
            f"xcrop: the CUDA kernel path through CuPy failed on its first use "
            f"({type(exc).__name__}: {exc}); torch CUDA calls use the torch array path "
            f"from now on", RuntimeWarning, stacklevel=2,
        )
        raise PathUnavailable from exc
    _torch_kernel_proven = True
    return out


def _grad_needed(*tensors: Any) -> bool:
    torch = sys.modules["torch"]
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def is_torch_cuda(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "torch" and x.device.type == "cuda"


def _torch_crop_predicate(args: CropArgs) -> bool:
    image = args.image
    if kernels_disabled() or not is_torch_cuda(image) or _grad_needed(image, args.boxes):
        return False
    kind = str(image.dtype).removeprefix("torch.")
    return kind in TORCH_DTYPES and cupy_usable()


def _torch_glimpse_predicate(args: GlimpseArgs) -> bool:
    x = args.input
    return (not kernels_disabled() and is_torch_cuda(x) and not _grad_needed(x)
            and glimpse_ok(args) and cupy_usable())


@contextlib.contextmanager
def torch_stream(device: Any) -> Iterator[int]:
    """CuPy's current device and stream set to torch's for ``device``; yields its index."""
    import cupy
    import torch

    index = device.index if device.index is not None else torch.cuda.current_device()
    pointer = torch.cuda.current_stream(index).cuda_stream
    with cupy.cuda.Device(index), cupy.cuda.ExternalStream(pointer, index):
        yield index


def as_cupy(x: Any) -> Any:
    import cupy

    # detach(): DLPack refuses tensors that require grad; the data is shared, not copied.
    return cupy.from_dlpack(x.detach())


def _cupy_backend() -> Any:
    import array_api_compat.cupy as cupy_xp
    import cupy

    from ..._core.arrays import Backend

    return Backend(xp=cupy_xp, device=cupy.cuda.Device(), name="cupy")


def _torch_crop(args: CropArgs) -> Any:
    if math.prod(args.output_shape) == 0:
        import torch

        return torch.empty(args.output_shape, dtype=torch.float32, device=args.image.device)
    return _torch_guarded(_torch_crop_kernel, args)


def _torch_glimpse(args: GlimpseArgs) -> Any:
    return _torch_guarded(_torch_glimpse_kernel, args)


def _torch_crop_kernel(args: CropArgs) -> Any:
    import cupy
    import torch

    device = args.image.device
    out = torch.empty(args.output_shape, dtype=torch.float32, device=device)
    with torch_stream(device):
        view = replace(
            args, backend=_cupy_backend(), image=as_cupy(args.image),
            boxes=as_cupy(args.boxes), box_indices=as_cupy(args.box_indices),
            in_y=as_cupy(args.in_y), in_x=as_cupy(args.in_x),
        )
        run_crop(view, cupy, cupy_launch, out=as_cupy(out))
    return out


def _torch_glimpse_kernel(args: GlimpseArgs) -> Any:
    import cupy
    import torch

    device = args.input.device
    out = torch.empty(args.output_shape, dtype=torch.float32, device=device)
    with torch_stream(device):
        view = replace(args, backend=_cupy_backend(), input=as_cupy(args.input),
                       offsets=as_cupy(args.offsets))
        run_glimpse(view, cupy, cupy_launch, out=as_cupy(out))
    return out


CUPY_NAME = "cupy fast path (CUDA kernel)"
TORCH_NAME = "torch CUDA fast path (CUDA kernel via CuPy)"


def paths() -> list[dict[str, Any]]:
    """The CUDA kernel fast paths (see ``_backends.builtin_paths``)."""
    return [
        dict(operation="crop_and_resize", backend="cupy", implementation=_cupy_crop,
             predicate=_cupy_crop_predicate, name=CUPY_NAME, priority=0, device="gpu"),
        dict(operation="extract_glimpse", backend="cupy", implementation=_cupy_glimpse,
             predicate=_cupy_glimpse_predicate, name=CUPY_NAME, priority=0, device="gpu"),
        dict(operation="crop_and_resize", backend="torch", implementation=_torch_crop,
             predicate=_torch_crop_predicate, name=TORCH_NAME, priority=0, device="gpu"),
        dict(operation="extract_glimpse", backend="torch", implementation=_torch_glimpse,
             predicate=_torch_glimpse_predicate, name=TORCH_NAME, priority=0, device="gpu"),
    ]
