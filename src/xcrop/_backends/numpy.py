"""NumPy fast paths: chunked, in-place, multi-threaded crop_and_resize; slice-copy glimpse.

Bit-exactness with the generic path:

* the crop performs the reference's float32 operations in the same order
  (``a + (b - a) * t`` per lerp: x first on the top and bottom rows, then y) on the same
  gathered values and the same weights (``_reference.indexing.crop_plan``). NumPy rounds
  every float32 ufunc to float32 and never contracts to an FMA. The subnormal flushes
  are skipped only when ``exactness`` proves they are all the identity (otherwise the
  predicate declines and the generic path runs).
* ``method="nearest"`` is a gather and a conversion; float64 images (whose conversion
  can create subnormals, flushed by the generic path) must have no nonzero magnitude below
  ``2**-126``.
* the glimpse copies pixels (bit copies) into the generic path's own fill array.

Boxes are processed in chunks of about ``CHUNK_ELEMENTS`` output elements — the
temporaries (three chunk buffers per worker thread) stay far below the output and in
cache — spread over a small thread pool: NumPy releases the GIL inside ``take`` and
ufunc loops, so chunks run in parallel. ``XCROP_NUM_THREADS`` sets the pool size
(default: the number of CPUs, at most 8; 1 disables threading).
"""

from __future__ import annotations

import math
from typing import Any

from .._core import random
from .._core.args import CropArgs, GlimpseArgs, GradBoxesArgs
from .._reference import gradients as reference_gradients
from .._reference import indexing
from .._reference.extract_glimpse import GAUSSIAN_STREAM, UNIFORM_STREAM, mean_and_std
from .._reference.indexing import crop_plan
from . import buffers
from .exactness import bilinear_exact, min_pixel_threshold, unflushed_crop_exact
from .host import executor, num_threads, read_alias, run_split
from .host_gradients import sequential_row_sums
from .numba import drivers as numba_drivers
from .numba import grad_drivers
from .numba import loader as numba_loader

__all__ = [
    "crop",
    "crop_predicate",
    "glimpse_into",
    "glimpse_predicate",
    "needs_fill",
    "numba_crop",
    "paste_windows",
    "paths",
    "window_starts",
]

NAME = "numpy fast path"
#: Output elements per chunk: 3 float32 buffers of 1 MiB each per worker.
CHUNK_ELEMENTS = 2**18

def _min_nonzero_abs(image: Any) -> float:
    import numpy as np

    if image.size == 0:
        return math.inf
    a = np.abs(image)
    # NaN > 0 is False: NaNs are skipped (they never make a subnormal).
    return float(np.min(a, where=a > 0, initial=np.inf))


def crop_predicate(args: CropArgs) -> bool:
    import numpy as np

    return isinstance(args.image, np.ndarray) and unflushed_crop_exact(args, _min_nonzero_abs)


def crop(args: CropArgs) -> Any:
    """The NumPy crop, into an output from ``buffers.empty``."""
    import numpy as np

    image = args.image
    batch, height, width, depth = image.shape
    n, ch, cw, _ = args.output_shape
    fill = np.float32(args.extrapolation_value)
    out = buffers.empty((n, ch, cw, depth), np.float32)
    if n == 0 or depth == 0:
        out[...] = fill
        return out
    plan = crop_plan(args)
    pixels = np.ascontiguousarray(image).reshape(batch * height * width, depth)
    convert = pixels.dtype != np.float32
    nearest = args.method == "nearest"
    per_box = ch * cw * depth
    step = max(1, CHUNK_ELEMENTS // max(per_box, 1))

    def gather(rows: Any, cols: Any, i0: int, i1: int, buf: Any) -> Any:
        flat = (rows[i0:i1, :, None] + cols[i0:i1, None, :]).reshape(-1)
        k = i1 - i0
        if convert:
            raw = np.take(pixels, flat, axis=0)
            np.copyto(buf[:k * ch * cw], raw, casting="unsafe")
        else:
            np.take(pixels, flat, axis=0, out=buf[:k * ch * cw])
        return buf[:k * ch * cw].reshape(k, ch, cw, depth)

    def work(i0: int, i1: int) -> None:
        k = i1 - i0
        dst = out[i0:i1]
        if nearest:
            gather(plan.rows_a, plan.cols_a, i0, i1, dst.reshape(k * ch * cw, depth))
        else:
            shape = (step * ch * cw, depth)
            a = np.empty(shape, np.float32)
            b = np.empty(shape, np.float32)
            c = np.empty(shape, np.float32)
            # Weights laid out like the rows they scale, so every ufunc runs over whole
            # output rows (cw * depth contiguous elements): broadcasting a (k, 1, cw, 1)
            # weight over depth 3 ran NumPy's inner loop 3 elements at a time (3x slower).
            xl = np.repeat(plan.x_lerp[i0:i1], depth, axis=1).reshape(k, 1, cw, depth)
            yl = plan.y_lerp[i0:i1, :, None, None]
            tl = gather(plan.rows_a, plan.cols_a, i0, i1, a)
            tr = gather(plan.rows_a, plan.cols_b, i0, i1, b)
            np.subtract(tr, tl, out=tr)
            np.multiply(tr, xl, out=tr)
            np.add(tl, tr, out=tr)  # top = TL + (TR - TL) * xl, in tr
            bl = gather(plan.rows_b, plan.cols_a, i0, i1, a)
            br = gather(plan.rows_b, plan.cols_b, i0, i1, c)
            np.subtract(br, bl, out=br)
            np.multiply(br, xl, out=br)
            np.add(bl, br, out=br)  # bottom = BL + (BR - BL) * xl, in br
            np.subtract(br, tr, out=br)
            np.multiply(br, yl, out=br)
            np.add(tr, br, out=dst)  # out = top + (bottom - top) * yl
        if not plan.all_inside:
            outside = ~(plan.inside_y[i0:i1, :, None, None] & plan.inside_x[i0:i1, None, :, None])
            np.copyto(dst, fill, where=outside)

    chunks = [(i0, min(n, i0 + step)) for i0 in range(0, n, step)]
    threads = min(num_threads(), len(chunks))
    if threads <= 1:
        for i0, i1 in chunks:
            work(i0, i1)
    else:
        # Contiguous runs of chunks per task keep the task count small.
        per_task = math.ceil(len(chunks) / (threads * 4))
        tasks = [chunks[j:j + per_task] for j in range(0, len(chunks), per_task)]

        def run(group: list[tuple[int, int]]) -> None:
            for i0, i1 in group:
                work(i0, i1)

        for f in [executor(threads).submit(run, g) for g in tasks]:
            f.result()
    return out


# ----------------------------------------------------------------------------------------
# extract_glimpse
# ----------------------------------------------------------------------------------------

def glimpse_predicate(args: GlimpseArgs) -> bool:
    import numpy as np

    b, height, width, depth = args.input.shape
    return (isinstance(args.input, np.ndarray) and min(b, height, width, depth) > 0
            and args.height > 0 and args.width > 0)


def window_starts(args: GlimpseArgs) -> tuple[list[int], list[int]]:
    """Integer window starts per batch element, computed as the reference does."""
    sy, sx = indexing.window_starts(args.backend.xp, args)
    return [int(v) for v in sy.tolist()], [int(v) for v in sx.tolist()]


def paste_windows(out: Any, image: Any, starts: tuple[list[int], list[int]]) -> None:
    """``out[b, r, c] = image[b, sy + r, sx + c]`` where inside the image (slice copies)."""
    _, height, width, _ = image.shape
    _, h, w, _ = out.shape
    for b, (sy, sx) in enumerate(zip(*starts, strict=True)):
        r0, r1 = max(0, -sy), min(h, height - sy)
        c0, c1 = max(0, -sx), min(w, width - sx)
        if r0 < r1 and c0 < c1:
            out[b, r0:r1, c0:c1] = image[b, sy + r0:sy + r1, sx + c0:sx + c1]


def needs_fill(args: GlimpseArgs, starts: tuple[list[int], list[int]]) -> bool:
    _, height, width, _ = args.input.shape
    return any(
        sy < 0 or sx < 0 or sy + args.height > height or sx + args.width > width
        for sy, sx in zip(*starts, strict=True)
    )


def _seed(args: GlimpseArgs) -> int:
    return random.random_seed() if args.seed is None else args.seed


def glimpse_into(args: GlimpseArgs, image: Any, out: Any, use_numba: bool | None = None) -> None:
    """Write the glimpses of NumPy float32 ``image`` ``(B, H, W, D)`` into NumPy ``out``.

    Bits: the window pixels are copied; the fill values are the reference's ``fill`` at
    the out-of-image positions only (the generator's elements at those flat indices, from
    ``args.fill_start`` on; the statistics are the reference's fixed-order ones), so the
    result equals ``where(inside, window, fill(...))``. ``use_numba``: run the numba
    kernels (default: when they are ready, see ``numba.loader.ready``).
    """
    import array_api_compat.numpy as npx
    import numpy as np

    starts = window_starts(args)
    batch, _, _, depth = image.shape
    noise = args.noise
    if use_numba is None:
        use_numba = numba_loader.ready(numba_loader.GLIMPSE)
    # Read-only inputs aliased writeable: numba compiles (seconds) a separate
    # specialization for read-only arrays; the kernels only read them.
    image = read_alias(np.ascontiguousarray(image))
    sy = np.asarray(starts[0], dtype=np.int64)
    sx = np.asarray(starts[1], dtype=np.int64)
    c = np.ascontiguousarray
    if noise == "zero" or not needs_fill(args, starts):
        if use_numba:
            # One pass over the output (copies and zeros) on the thread pool.
            unused = np.zeros((batch, depth), np.float32)
            numba_drivers.glimpse(c(image), sy, sx, "zero", 0, 0, unused, unused, unused, unused,
                                 out)
            return
        if noise == "zero":
            out.fill(0.0)
        paste_windows(out, image, starts)
        return
    seed = _seed(args)
    pixels = np.ascontiguousarray(image).reshape(batch, -1, depth)
    if noise == "uniform":
        # Per batch element over every channel (min/max are exact in any order; NumPy's
        # contiguous reductions are SIMD).
        stream = UNIFORM_STREAM
        lo, hi = _row_min_max(pixels.reshape(batch, -1), _fill_rows(args, starts))
        lo, hi = np.broadcast_to(lo, (batch, depth)), np.broadcast_to(hi, (batch, depth))
        mean = sigma = lo
    elif noise == "gaussian":
        stream = GAUSSIAN_STREAM
        # Statistics only for the batch elements that have fill (zeros elsewhere: unused).
        lo, hi, mean, sigma = (np.zeros((batch, depth), np.float32) for _ in range(4))
        for b in _fill_rows(args, starts):
            one = pixels[b:b + 1]
            (lo[b], hi[b]), (mean[b], sigma[b]) = (
                (v[0] for v in _channel_min_max(one)),
                (v[0] for v in _gaussian_stats(one, use_numba)))
    else:
        raise ValueError(f"unknown noise {noise!r}")  # validation allows no other value
    if use_numba:
        numba_drivers.glimpse(c(image), sy, sx, noise, seed, stream, c(lo), c(hi), c(mean),
                              c(sigma), out, args.fill_start)
        return
    # Pure NumPy: positions outside the image, as flat element indices of the output.
    _, h, w, _ = out.shape
    rows = np.asarray(starts[0])[:, None] + np.arange(h)
    cols = np.asarray(starts[1])[:, None] + np.arange(w)
    height, width = image.shape[1:3]
    outside = ~(((rows >= 0) & (rows < height))[:, :, None]
                & ((cols >= 0) & (cols < width))[:, None, :])  # (B, h, w)
    pix = np.flatnonzero(outside)
    flat = (pix[:, None] * depth + np.arange(depth)).reshape(-1) + args.fill_start
    b = pix // (h * w)
    if noise == "uniform":
        u = random.uniform_at(npx, flat, seed, stream=stream).reshape(-1, depth)
        values = u * (hi[b] - lo[b]) + lo[b]
    else:
        z = random.standard_normal_at(npx, flat, seed, stream=stream).reshape(-1, depth)
        values = np.minimum(np.maximum(z * sigma[b] + mean[b], lo[b]), hi[b])
    paste_windows(out, image, starts)
    out.reshape(-1, depth)[pix] = values


def _gaussian_stats(pixels: Any, use_numba: bool) -> tuple[Any, Any]:
    """Per (batch, channel) mean and population std of float32 ``(B, N, D)`` ``pixels``
    by the reference's rule, ``(B, D)`` each (the pairwise means compiled with numba)."""
    import array_api_compat.numpy as xp
    import numpy as np

    mean, sigma = mean_and_std(xp, pixels, "cpu",
                               numba_drivers.pairwise_mean if use_numba else None)
    return mean[:, 0, :], np.asarray(sigma)[:, 0, :]


def _row_min_max(flat: Any, rows: Any) -> tuple[Any, Any]:
    """``min`` and ``max`` over axis 1 of a C-contiguous ``(B, M)`` array, as ``(B, 1)``,
    computed only for the ``rows`` listed (the others are 0: their glimpse has no fill).

    Row by row, min then max, so the second pass reads the row from cache (two whole-array
    passes would read it twice from memory). min/max are exact in any order; NaN
    propagates as in the generic path's ``min``/``max``.
    """
    import numpy as np

    batch = flat.shape[0]
    lo = np.zeros((batch, 1), flat.dtype)
    hi = np.zeros((batch, 1), flat.dtype)

    def part(k0: int, k1: int) -> None:
        for b in rows[k0:k1]:
            row = flat[b]
            lo[b, 0] = np.min(row)
            hi[b, 0] = np.max(row)

    # NumPy's reductions release the GIL: large jobs are split over the thread pool.
    run_split(part, len(rows), len(rows) * flat.shape[1] // 16)
    return lo, hi


def _fill_rows(args: GlimpseArgs, starts: tuple[list[int], list[int]]) -> list[int]:
    """Batch elements whose glimpse reaches outside the image."""
    _, height, width, _ = args.input.shape
    return [b for b, (sy, sx) in enumerate(zip(*starts, strict=True))
            if sy < 0 or sx < 0 or sy + args.height > height or sx + args.width > width]


def _channel_min_max(pixels: Any) -> tuple[Any, Any]:
    """Per (batch, channel) min and max of ``(B, N, D)`` by halving with contiguous
    ``minimum``/``maximum`` (NumPy's strided ``min(axis=1)`` is ~50x slower); min and max
    are exact in any order, NaN propagates as in ``numpy.min``."""
    import numpy as np

    lo = hi = pixels
    while lo.shape[1] > 1:
        n = lo.shape[1]
        k = n // 2
        new_lo = np.minimum(lo[:, :k], lo[:, k:2 * k])
        new_hi = np.maximum(hi[:, :k], hi[:, k:2 * k])
        if n % 2:
            new_lo[:, :1] = np.minimum(new_lo[:, :1], lo[:, 2 * k:])
            new_hi[:, :1] = np.maximum(new_hi[:, :1], hi[:, 2 * k:])
        lo, hi = new_lo, new_hi
    return lo[:, 0, :], hi[:, 0, :]


def _glimpse(args: GlimpseArgs) -> Any:
    import numpy as np

    out = buffers.empty(args.output_shape, np.float32)
    glimpse_into(args, args.input, out)
    return out


def _numba_crop_predicate(args: CropArgs) -> bool:
    import numpy as np

    return isinstance(args.image, np.ndarray) and numba_loader.ready(
        numba_loader.crop_key(args.image.dtype))


def numba_crop(args: CropArgs, image: Any) -> Any:
    """The compiled kernel on NumPy ``image`` (any crop dtype) and ``args``' plan, into an
    output from ``buffers.empty``."""
    import numpy as np

    batch, height, width, depth = image.shape
    n, ch, cw, _ = args.output_shape
    out = buffers.empty((n, ch, cw, depth), np.float32)
    if n == 0 or depth == 0:
        out[...] = np.float32(args.extrapolation_value)
        return out
    if image.dtype == np.float16:
        image = image.astype(np.float32)  # exact
    pixels = read_alias(np.ascontiguousarray(image)).reshape(batch * height * width, depth)
    plan = crop_plan(args)
    # The kernel without flushes is used where ``exactness`` proves the flushes are identities
    # (one pass over the image); the flushing kernel otherwise. Both are exact.
    if args.method != "bilinear":
        unflushed_ok = False
    elif image.dtype.kind in "iu":
        unflushed_ok = bilinear_exact(args, None)
    else:
        # Same criterion as bilinear_exact, as one allocation-free threshold scan.
        threshold = min_pixel_threshold(args)
        unflushed_ok = threshold is not None and not numba_drivers.any_tiny(
            pixels.reshape(-1), threshold)
    numba_drivers.crop(pixels, plan, args.method, args.extrapolation_value,
                       image.dtype == np.float64, out, unflushed_ok)
    return out


def _numba_crop(args: CropArgs) -> Any:
    return numba_crop(args, args.image)


def _grad_boxes(args: GradBoxesArgs) -> Any:
    return reference_gradients.box_gradient(args, row_sums=sequential_row_sums)


def _is_numpy(args: Any) -> bool:
    import numpy as np

    return isinstance(args.image, np.ndarray)


def _numba_numpy(args: Any) -> bool:
    return _is_numpy(args) and numba_loader.available()


def paths() -> list[dict[str, Any]]:
    """The NumPy fast paths (see ``_backends.builtin_paths``)."""
    return [
        dict(operation="crop_and_resize", backend="numpy", implementation=crop,
             predicate=crop_predicate, name=NAME, priority=-1, device="cpu"),
        dict(operation="crop_and_resize", backend="numpy", implementation=_numba_crop,
             predicate=_numba_crop_predicate, name=f"{NAME} (numba kernel)", priority=0,
             device="cpu"),
        dict(operation="extract_glimpse", backend="numpy", implementation=_glimpse,
             predicate=glimpse_predicate, name=NAME, priority=-1, device="cpu"),
        dict(operation="crop_and_resize_grad_image", backend="numpy",
             implementation=grad_drivers.image_gradient, predicate=_numba_numpy,
             name=f"{NAME} (numba kernel)", priority=0, device="cpu"),
        dict(operation="crop_and_resize_grad_boxes", backend="numpy",
             implementation=grad_drivers.box_gradient, predicate=_numba_numpy,
             name=f"{NAME} (numba kernel)", priority=0, device="cpu"),
        dict(operation="crop_and_resize_grad_boxes", backend="numpy",
             implementation=_grad_boxes, predicate=_is_numpy,
             name=f"{NAME} (sequential sums)", priority=-1, device="cpu"),
    ]
