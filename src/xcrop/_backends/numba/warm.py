"""Load or compile the numba kernels of one readiness key (``loader.ready``) by running
them on tiny inputs built exactly as real calls build theirs (same dtypes, ranks, layouts
and writeability), so that numba's type signatures, and with them the compiled or cached
machine code, are the ones the real calls then use."""

from __future__ import annotations

from typing import Any

__all__ = ["run"]


def run(key: tuple[str, ...]) -> None:
    if key[0] == "crop":
        _crop(key[1])
    elif key[0] == "glimpse":
        _glimpse()
    else:
        raise ValueError(f"unknown numba kernel group {key!r}")


def _crop(dtype: str) -> None:
    import numpy as np

    from ..._core.validation import validate_crop_and_resize
    from ..._reference.indexing import crop_plan
    from . import drivers

    image = np.arange(8).astype(dtype).reshape(1, 2, 2, 2)
    pixels = image.reshape(4, 2)
    for method in ("bilinear", "nearest"):
        args = validate_crop_and_resize(image, [[0.0, 0.0, 1.0, 1.0]], [0], (2, 2), method, 0.0)
        plan = crop_plan(args)
        out = np.empty((1, 2, 2, 2), np.float32)
        # The flushing and the plain bilinear kernel (numba_crop picks one per call);
        # nearest takes its flush flag as an argument.
        for unflushed_ok in ((False, True) if method == "bilinear" else (False,)):
            drivers.crop(pixels, plan, method, 0.0, image.dtype == np.float64, out,
                         unflushed_ok)
    if image.dtype.kind == "f":
        drivers.any_tiny(pixels.reshape(-1), 2.0**-126)


def _glimpse() -> Any:
    import numpy as np

    from . import drivers

    # The argument types the NumPy glimpse path passes (contiguous float32 image and
    # statistics, int64 window starts): the window/fill kernel and the pairwise means
    # (every fill kind runs the same kernel).
    image = np.arange(18, dtype=np.float32).reshape(2, 3, 3, 1)
    starts = np.array([-1, 2], np.int64)
    stats = np.ones((2, 1), np.float32)
    out = np.empty((2, 2, 2, 1), np.float32)
    drivers.glimpse(image, starts, starts, "gaussian", 0, 1, stats, stats, stats, stats, out)
    pixels = image.reshape(2, 9, 1)
    drivers.pairwise_mean(pixels, drivers.pairwise_mean(pixels))
