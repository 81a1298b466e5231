"""Reference gradients of crop_and_resize: TF's CropAndResizeGradImage / GradBoxes
(docs/semantics.md §1.7).

Only the array API standard, no backend branches. Both gradients are sums, and float32
sums depend on their order, so both follow TF's sequential order exactly (the order TF
runs under op determinism: boxes, rows, columns, corners, channels), with TF's CPU
flush-to-zero after every float32 operation:

* Image gradient. The standard has no scatter-add. The contributions (one per sample,
  corner and channel) are computed in TF's order, stably sorted by target pixel
  (``argsort(stable=True)``), and each pixel's run is located with ``searchsorted``.
  Then a fold over the position ``k`` inside the runs adds the ``k``-th contribution of
  every pixel at once (a gather, never a scatter), so every pixel sees its own
  contributions in TF's order and each addition rounds as TF's does: bit-exact, and
  deterministic by construction (no atomics, no thread-dependent order). The number of
  fold steps is the longest run, a data-dependent count: this fold needs concrete values.
  Under tracing (``jax.jit``) the caller passes another ``accumulate`` (see
  ``xcrop._frameworks``).
* Box gradient. Each box's four sums run over its ``crop_height * crop_width * depth``
  samples in order: a fold of that static length, vectorized over boxes and the four
  coordinates.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any

from .._core.args import GradBoxesArgs, GradImageArgs
from .._core.arrays import dtype_name
from .._core.coordinates import sample_coordinates
from .._core.float32 import flush_subnormals, rounding_barrier
from .indexing import bilinear_neighbours, clamped_index, index_dtype, inside, round_half_up

__all__ = [
    "box_coordinates",
    "box_gradient",
    "edge_weights",
    "image_gradient",
    "image_gradient_contributions",
    "sequential_segment_sum",
]

#: ``fold(body, init, steps)``: ``for k in range(steps): init = body(k, init)``.
Fold = Callable[[Callable[[Any, Any], Any], Any, Any], Any]


def _f32(value: float) -> float:
    """``value`` rounded to the nearest float32 (as a Python float)."""
    return struct.unpack("f", struct.pack("f", value))[0]


def _add(xp: Any, acc: Any, value: Any, kind: str) -> Any:
    """``acc += value`` in the gradient dtype, as TF's kernel does it."""
    if kind == "float32":
        return flush_subnormals(xp, acc + value)
    if kind == "float16":
        # Eigen's half +=: both to float32 (exact), add, round once to half. float32 has
        # more than 2 * 11 + 2 bits, so this equals a correctly rounded half addition.
        total = xp.astype(acc, xp.float32) + xp.astype(value, xp.float32)
        return xp.astype(total, xp.float16)
    return acc + value  # float64: float32 products never reach the subnormal range


def image_gradient_contributions(args: GradImageArgs) -> tuple[Any, Any]:
    """Every addition TF's image-gradient kernel makes, in its order.

    Returns ``(targets, values)``: ``targets`` ``(m,)`` flat pixel indices into
    ``B * H * W`` and ``values`` ``(m, D)`` in ``dtype``, row ``i`` being the ``i``-th
    addition (per channel) of TF's sequential loop. TF skips extrapolated samples: theirs
    target ``B * H * W``, one past the last pixel (adding +0 instead would turn a sum
    flushed to -0 into +0).
    """
    xp, grads, in_y, in_x, dtype = args.backend.xp, args.grads, args.in_y, args.in_x, args.dtype
    _, height, width, depth = args.image_shape
    n, ch, cw, _ = grads.shape
    ftz = lambda x: flush_subnormals(xp, x)  # noqa: E731
    g = ftz(grads)  # denormals-are-zero on the upstream gradient
    within = inside(in_y, height)[:, :, None] & inside(in_x, width)[:, None, :]
    pixels = args.image_shape[0] * height * width
    it = index_dtype(xp, pixels + 1)
    base = xp.astype(args.box_indices, it)[:, None, None] * (height * width)
    skipped = xp.asarray(pixels, dtype=it, device=_device(grads))
    if args.method == "nearest":
        rows = clamped_index(xp, round_half_up(xp, in_y), height, it)
        cols = clamped_index(xp, round_half_up(xp, in_x), width, it)
        targets = xp.where(within, base + rows[:, :, None] * width + cols[:, None, :], skipped)
        values = xp.astype(g, dtype)
        return xp.reshape(targets, (n * ch * cw,)), xp.reshape(values, (n * ch * cw, depth))
    top, bottom, y_lerp = bilinear_neighbours(xp, in_y, height, it)
    left, right, x_lerp = bilinear_neighbours(xp, in_x, width, it)
    y_lerp, x_lerp = y_lerp[:, :, None, None], x_lerp[:, None, :, None]
    one = xp.ones((), dtype=xp.float32, device=_device(grads))
    dtop = ftz(ftz(one - y_lerp) * g)
    dbottom = ftz(y_lerp * g)
    x_left = ftz(one - x_lerp)
    parts = (
        (top, left, ftz(x_left * dtop)),
        (top, right, ftz(x_lerp * dtop)),
        (bottom, left, ftz(x_left * dbottom)),
        (bottom, right, ftz(x_lerp * dbottom)),
    )
    targets = xp.stack(
        [xp.where(within, base + r[:, :, None] * width + c[:, None, :], skipped)
         for r, c, _ in parts], axis=3
    )  # (n, ch, cw, 4)
    values = xp.stack([xp.astype(v, dtype) for _, _, v in parts], axis=3)  # (n, ch, cw, 4, D)
    m = n * ch * cw * 4
    return xp.reshape(targets, (m,)), xp.reshape(values, (m, depth))


def _device(x: Any) -> Any:
    from .._core.arrays import device_of

    return device_of(x)


def python_fold(body: Callable[[Any, Any], Any], init: Any, steps: Any) -> Any:
    """``for k in range(steps): init = body(k, init)`` (needs a concrete ``steps``)."""
    for k in range(int(steps)):
        init = body(k, init)
    return init


def sequential_segment_sum(xp: Any, targets: Any, values: Any, num_segments: int,
                           dtype: Any, fold: Fold = python_fold) -> Any:
    """``out[t] = (((0 + v_i1) + v_i2) + ...)`` over the rows ``i1 < i2 < ...`` of ``values``
    whose target is ``t``, rounding after each addition as TF does.

    Only gathers: every target's run in the stably sorted contributions is found with
    ``searchsorted``, and step ``k`` of the fold adds the ``k``-th element of every run.
    The number of steps (the longest run) is data-dependent: with the default Python
    fold it must be concrete; a framework fold (``lax.fori_loop``) takes it traced.
    """
    dev = _device(values)
    kind = dtype_name(xp, dtype)
    m, depth = values.shape
    out_shape = (num_segments, depth)
    if m == 0 or depth == 0 or num_segments == 0:
        return xp.zeros(out_shape, dtype=dtype, device=dev)
    order = xp.argsort(targets, stable=True)
    sorted_targets = xp.take(targets, order)
    sorted_values = xp.take(values, order, axis=0)
    segments = xp.arange(num_segments, dtype=sorted_targets.dtype, device=dev)
    starts = xp.searchsorted(sorted_targets, segments, side="left")
    counts = xp.searchsorted(sorted_targets, segments, side="right") - starts
    starts = xp.astype(starts, sorted_targets.dtype)
    counts = xp.astype(counts, sorted_targets.dtype)[:, None]

    def step(k: Any, acc: Any) -> Any:
        v = xp.take(sorted_values, xp.clip(starts + k, None, m - 1), axis=0)
        return xp.where(counts > k, _add(xp, acc, v, kind), acc)

    init = xp.zeros(out_shape, dtype=dtype, device=dev)
    return fold(step, init, xp.max(counts))


def image_gradient(args: GradImageArgs, fold: Fold = python_fold) -> Any:
    """TF's ``CropAndResizeGradImage``: ``args.image_shape`` in ``args.dtype``
    (``args.in_y``/``args.in_x`` are the forward's sample coordinates, docs/semantics.md
    §1.3)."""
    batch, height, width, depth = args.image_shape
    targets, values = image_gradient_contributions(args)
    pixels = batch * height * width
    # One segment more than pixels: the extrapolated samples' (dropped).
    flat = sequential_segment_sum(args.backend.xp, targets, values, pixels + 1, args.dtype,
                                  fold)
    return args.backend.xp.reshape(flat[:pixels, ...], (batch, height, width, depth))


def box_coordinates(xp: Any, lo: Any, hi: Any, size: int, count: int, device: Any) -> Any:
    """The box-gradient kernel's sample coordinates (rounded unlike the forward's)."""
    if count == 1:
        return sample_coordinates(xp, lo, hi, size, count, device)
    ftz = lambda x: flush_subnormals(xp, x)  # noqa: E731
    lo, hi = ftz(lo), ftz(hi)
    ratio = _f32((size - 1) / (count - 1))  # double division rounded once: exact f32 quotient
    scale = ftz(ftz(hi - lo) * ratio)
    steps = xp.arange(count, dtype=xp.float32, device=device)
    return ftz(ftz(lo * (size - 1)) + ftz(steps * scale))


def edge_weights(xp: Any, size: int, count: int, device: Any) -> tuple[Any, Any]:
    """Per-sample weights of d[lo] and d[hi]: f32((size-1) - f32(k*ratio)), f32(k*ratio)."""
    ratio = _f32((size - 1) / (count - 1))
    k = xp.arange(count, dtype=xp.float32, device=device)
    hi_w = flush_subnormals(xp, k * ratio)
    lo_w = flush_subnormals(xp, float(size - 1) - hi_w)
    return lo_w, hi_w


def _has_float64(xp: Any, device: Any) -> bool:
    # JAX without x64 narrows float64 arrays to float32 (with a warning): ask it first.
    info = xp.__array_namespace_info__() if hasattr(xp, "__array_namespace_info__") else None
    if info is not None:
        return "float64" in info.dtypes(device=device)
    return xp.zeros((), dtype=xp.float64, device=device).dtype == xp.float64


def _split12(c: float) -> tuple[float, float]:
    """``c == hi + lo`` with at most 12 significant bits each (``c`` has at most 24)."""
    if c == 0:
        return 0.0, 0.0
    mantissa, exponent = math.frexp(c)
    hi = math.ldexp(math.floor(mantissa * 2**12), exponent - 12)
    return hi, c - hi


def _exact_product(xp: Any, a: Any, c: float) -> tuple[Any, Any]:
    """float32 ``(hi, lo)`` with ``hi = f32(a * c)`` and ``hi + lo == a * c`` exactly
    (Dekker's product; ``c`` a float32 constant). ``lo`` is 0 where ``a * 4097``
    overflows, and loses its bits where the products underflow."""
    hi = rounding_barrier(xp, a * c)  # subtracted below: under jit an FMA would swallow it
    big = rounding_barrier(xp, a * 4097.0)  # Veltkamp split: 12 + 12 bits (no FMA into big - a)
    a_hi = big - (big - a)
    a_lo = a - a_hi
    c_hi, c_lo = _split12(c)
    # Every product below is exact, so an FMA rounds it as the separate operations do.
    lo = ((a_hi * c_hi - hi) + a_hi * c_lo + a_lo * c_hi) + a_lo * c_lo
    return hi, xp.where(xp.isfinite(lo), lo, xp.zeros_like(lo))


def _two_sum(a: Any, b: Any) -> tuple[Any, Any]:
    """``s = f32(a + b)`` and its rounding error ``e``: ``s + e == a + b`` exactly."""
    s = a + b
    t = s - a
    return s, (a - (s - t)) + (b - t)


def _add_rounded_once(xp: Any, acc: Any, hi: Any, lo: Any) -> Any:
    """``f32(acc + (hi + lo))`` rounded once from the exact sum, in float32 arithmetic.

    C's ``float += double`` without float64 (TF's crop-1 box gradient, docs/semantics.md
    §1.7): the double product ``hi + lo`` is exact there, and so is its sum with a float
    unless it needs more than 53 bits. Boldo and Melquiond's correctly rounded sum of three
    (IEEE Trans. Computers 57(4), 2008): ``s + t = acc + hi``, ``v`` = ``t + lo`` rounded
    to odd, result ``f32(s + v)``. Exact unless an error term falls below float32's normal
    range (operands below about 2**-100), or unless TF's double rounding (to float64, then
    float32) differs from one rounding: that needs an exact sum wider than 53 bits that
    float64 rounds onto a float32 midpoint -- a 28-bit run of equal bits after the
    midpoint bit; none in the fixtures.
    """
    s, t = _two_sum(acc, hi)
    v, w = _two_sum(t, lo)
    # Round to odd: an inexact v with an even significand moves one ulp towards the sum.
    # v is even iff the tie v + ulp/2 rounds back to v (ties go to even).
    mag = xp.abs(v)
    inf = xp.full_like(v, float("inf"))
    half_ulp = (xp.nextafter(mag, inf) - mag) * 0.5
    even = (mag + half_ulp) == mag
    v = xp.where((w != 0) & even, xp.nextafter(v, xp.where(w > 0, inf, -inf)), v)
    # v == 0: the sum is s exactly, with the sign of zero IEEE gives acc + hi.
    return xp.where(v == 0, s, s + v)


def box_gradient(args: GradBoxesArgs, fold: Fold = python_fold,
                 row_sums: Callable[[Any], Any | None] | None = None) -> Any:
    """TF's ``CropAndResizeGradBoxes``: float32 ``(n, 4)`` gradient w.r.t. ``[y1, x1, y2, x2]``.

    Always the bilinear gradient, whatever the forward's method (TF's quirk).
    ``row_sums(seq)``, if given, may compute the final sequential sums of the float32
    ``(n, L, 4)`` terms exactly by other means (or return None to keep ``fold``).
    """
    xp, grads, image, boxes = args.backend.xp, args.grads, args.image, args.boxes
    dev = _device(grads)
    ftz = lambda x: flush_subnormals(xp, x)  # noqa: E731
    n, ch, cw, depth = grads.shape
    batch, height, width, _ = image.shape
    f32 = xp.float32
    if n == 0 or depth == 0:
        return xp.zeros((n, 4), dtype=f32, device=dev)
    in_y = box_coordinates(xp, boxes[:, 0:1], boxes[:, 2:3], height, ch, dev)  # (n, ch)
    in_x = box_coordinates(xp, boxes[:, 1:2], boxes[:, 3:4], width, cw, dev)  # (n, cw)
    within = inside(in_y, height)[:, :, None] & inside(in_x, width)[:, None, :]

    pixels = xp.reshape(image, (batch * height * width, depth))
    it = index_dtype(xp, batch * height * width)
    base = xp.astype(args.box_indices, it)[:, None, None] * (height * width)

    def gather(rows: Any, cols: Any) -> Any:
        flat = base + rows[:, :, None] * width + cols[:, None, :]
        v = xp.take(pixels, xp.reshape(flat, (n * ch * cw,)), axis=0)
        return ftz(xp.astype(xp.reshape(v, (n, ch, cw, depth)), f32))

    top, bottom, y_lerp = bilinear_neighbours(xp, in_y, height, it)
    left, right, x_lerp = bilinear_neighbours(xp, in_x, width, it)
    y_lerp, x_lerp = y_lerp[:, :, None, None], x_lerp[:, None, :, None]
    tl, tr = gather(top, left), gather(top, right)
    bl, br = gather(bottom, left), gather(bottom, right)
    one = xp.ones((), dtype=f32, device=dev)
    g = ftz(grads)
    gy = ftz(ftz(ftz(ftz(one - x_lerp) * ftz(bl - tl)) + ftz(x_lerp * ftz(br - tr))) * g)
    gx = ftz(ftz(ftz(ftz(one - y_lerp) * ftz(tr - tl)) + ftz(y_lerp * ftz(br - bl))) * g)

    # Terms of the four sums, (n, ch, cw, D) each, in the order y1, x1, y2, x2 of the output.
    wide = ch == 1 or cw == 1
    use64 = wide and _has_float64(xp, dev)
    # Without float64 (JAX without x64) a crop-1 term is kept exactly as a float32 pair
    # (hi, lo) and each addition rounded once (_add_rounded_once); height or width must
    # be below 2**24 + 1 for that (0.5 * (size - 1) exact in float32).
    pairs = wide and not use64 and max(height, width) <= 2**24
    zero = xp.zeros((), dtype=f32, device=dev)
    lows: list[Any] = [zero] * 4  # the lo parts of (y1, x1, y2, x2) when `pairs`

    def terms(grad: Any, size: int, count: int, axis: int) -> tuple[Any, Any]:
        if count == 1:
            half = 0.5 * (size - 1)  # exact in float32 and float64
            # float64: exact, TF adds it in float64.
            if use64:
                t = xp.astype(grad, xp.float64) * half
            elif pairs:
                t, lo = _exact_product(xp, grad, half)
                lows[axis - 1] = lows[axis + 1] = lo
            else:
                t = ftz(grad * half)
            return t, t
        lo_w, hi_w = edge_weights(xp, size, count, dev)
        shape = [1, 1, 1, 1]
        shape[axis] = count
        lo_w, hi_w = xp.reshape(lo_w, tuple(shape)), xp.reshape(hi_w, tuple(shape))
        return ftz(grad * lo_w), ftz(grad * hi_w)

    y1_t, y2_t = terms(gy, height, ch, 1)
    x1_t, x2_t = terms(gx, width, cw, 2)
    stacked = []
    for t in (y1_t, x1_t, y2_t, x2_t):
        if use64 and t.dtype != xp.float64:
            t = xp.astype(t, xp.float64)
        stacked.append(xp.where(within[..., None], t, xp.astype(zero, t.dtype)))
    # (L, n, 4) with L = ch * cw * depth in TF's order (y, x, d); per sample TF adds to
    # y1, y2, x1, x2 -- four independent chains, so their interleaving does not matter.
    length = ch * cw * depth
    seq = xp.reshape(xp.stack(stacked, axis=-1), (n, length, 4))
    if pairs:
        low = [xp.where(within[..., None], lo, zero) for lo in lows]
        low = [xp.broadcast_to(lo, (n, ch, cw, depth)) for lo in low]
        seq_lo = xp.permute_dims(xp.reshape(xp.stack(low, axis=-1), (n, length, 4)), (1, 0, 2))
    if row_sums is not None and not (use64 or pairs):
        # Extrapolated terms are +0 here: adding +0 changes a sum only when it is -0,
        # which only a flushed partial sum can be, and then row_sums declines.
        sums = row_sums(seq)
        if sums is not None:
            return sums
    seq = xp.permute_dims(seq, (1, 0, 2))
    # TF skips extrapolated samples (adding +0 would turn a sum flushed to -0 into +0).
    kept = xp.permute_dims(xp.reshape(xp.broadcast_to(within[..., None], (n, ch, cw, depth)),
                                      (n, length)), (1, 0))
    index_t = xp.int32 if length < 2**31 else xp.int64

    def step(k: Any, acc: Any) -> Any:
        at = xp.reshape(xp.asarray(k, dtype=index_t, device=dev), (1,))
        term = xp.reshape(xp.take(seq, at, axis=0), (n, 4))
        keep = xp.reshape(xp.take(kept, at, axis=0), (n, 1))
        if use64:
            # acc is float32; a float64 term (crop-1 axis) is added in float64 and the sum
            # rounded once, as C's `float += double` does. float32 terms widen exactly.
            total = ftz(xp.astype(xp.astype(acc, xp.float64) + term, f32))
        elif pairs:  # the same in float32: lo is 0 for float32 terms
            low = xp.reshape(xp.take(seq_lo, at, axis=0), (n, 4))
            total = ftz(_add_rounded_once(xp, acc, term, low))
        else:
            total = ftz(acc + term)
        return xp.where(keep, total, acc)

    return fold(step, xp.zeros((n, 4), dtype=f32, device=dev), length)
