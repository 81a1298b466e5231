"""Run one recorded TF case through xcrop and judge the result.

Shared by the test suite and the conformance command: it knows how a case's ``params``
map to xcrop's arguments and how each ``check`` is judged, and nothing about any array
library (the caller passes ``convert``, from NumPy to its arrays).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._core.errors import BoxIndexError, InvalidArgumentError, UnsupportedDTypeError
from ..compat.v1 import resolve_v1_noise
from ._format import Case

__all__ = [
    "call_case",
    "expected_exception",
    "fill_mask",
    "judge_exact",
    "judge_fill",
    "ulp_distance",
]


def call_case(case: Case, convert: Callable[[np.ndarray], Any]) -> Any:
    """Call xcrop as the case called TF; return xcrop's (backend) output array."""
    import xcrop

    p = dict(case.params)
    if case.op == "crop_and_resize_grad_image":
        from ..gradients import crop_and_resize_grad_image

        convert(np.zeros(0, dtype=p["T"]))  # a backend without dtype T cannot run this case
        grads, boxes, idx = (convert(case.inputs[k]) for k in ("grads", "boxes", "box_indices"))
        return crop_and_resize_grad_image(grads, boxes, idx, p["image_shape"],
                                          method=p["method"], dtype=p["T"])
    if case.op == "crop_and_resize_grad_boxes":
        from ..gradients import crop_and_resize_grad_boxes

        grads, image, boxes, idx = (
            convert(case.inputs[k]) for k in ("grads", "image", "boxes", "box_indices")
        )
        return crop_and_resize_grad_boxes(grads, image, boxes, idx)
    if case.op == "crop_and_resize":
        image, boxes, idx = (convert(case.inputs[k]) for k in ("image", "boxes", "box_indices"))
        kwargs = {k: p[k] for k in ("method", "extrapolation_value") if k in p}
        if case.api == "v2":
            return xcrop.crop_and_resize(image, boxes, idx, p["crop_size"], **kwargs)
        how = p.get("index_kwarg", "box_indices")
        if how == "positional":
            return xcrop.compat.v1.crop_and_resize(image, boxes, idx, p["crop_size"], **kwargs)
        if how == "both":
            return xcrop.compat.v1.crop_and_resize(
                image, boxes, box_ind=idx, box_indices=idx, crop_size=p["crop_size"], **kwargs
            )
        kwargs[how] = idx
        return xcrop.compat.v1.crop_and_resize(image, boxes, crop_size=p["crop_size"], **kwargs)
    image, offsets = convert(case.inputs["input"]), convert(case.inputs["offsets"])
    flags = {k: p[k] for k in ("centered", "normalized") if k in p}
    if case.api == "v2":
        if "noise" in p:
            flags["noise"] = p["noise"]
        return xcrop.extract_glimpse(image, p["size"], offsets, seed=0, **flags)
    for k in ("uniform_noise", "noise"):
        if k in p:
            flags[k] = p[k]
    return xcrop.compat.v1.extract_glimpse(image, p["size"], offsets, seed=0, **flags)


def expected_exception(case: Case) -> type[Exception]:
    """The Python exception xcrop raises where TF raised ``case.error``."""
    assert case.error is not None
    tf_type = case.error["tf_type"]
    message = case.error.get("tf_message", "")
    if "attr 'T'" in message or tf_type == "TypeError":
        return UnsupportedDTypeError if "attr 'T'" in message else TypeError
    if tf_type == "OutOfRangeError":
        return BoxIndexError
    if tf_type == "InvalidArgumentError":
        return InvalidArgumentError
    return ValueError


_INT_VIEWS = {2: np.int16, 4: np.int32, 8: np.int64}


def _ordered(bits: np.ndarray) -> np.ndarray:
    # Float bit patterns mapped to integers that are monotonic in the float value.
    # (int64 patterns of float64: the arithmetic wraps only beyond 2**62 ulps.)
    b = bits.astype(np.int64)
    low = np.int64(np.iinfo(bits.dtype).min)
    return np.where(b < 0, low - b, b)


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise distance in units in the last place between two float arrays.

    ``a`` and ``b`` must have the same float dtype (float16, float32 or float64) and
    shape; the result is int64 of that shape. -0.0 and +0.0 are 0 ulp apart; two NaNs
    are 0 apart; a NaN against a number is ``np.iinfo(np.int64).max``. Raises ValueError
    on a dtype or shape mismatch.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.dtype.kind != "f" or a.dtype.itemsize not in _INT_VIEWS:
        raise ValueError(f"ulp_distance needs two arrays of one float dtype (float16, "
                         f"float32, float64), got {a.dtype} and {b.dtype}")
    if a.shape != b.shape:
        raise ValueError(f"ulp_distance needs equal shapes, got {a.shape} and {b.shape}")
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    view = _INT_VIEWS[a.dtype.itemsize]
    ia = _ordered(np.where(nan_a, 0, a).astype(a.dtype).view(view))
    ib = _ordered(np.where(nan_b, 0, b).astype(b.dtype).view(view))
    diff = np.abs(ia - ib)
    return np.where(nan_a != nan_b, np.iinfo(np.int64).max, diff)


def judge_exact(out: np.ndarray, expected: np.ndarray, max_ulp: int = 0) -> tuple[bool, int, str]:
    """Compare bit patterns (NaN matches NaN; -0.0 differs from 0.0 when ``max_ulp == 0``).

    ``expected`` is float32 (or, for image gradients, float16/float64: ulps are then
    counted in that dtype). Returns ``(passed, worst_ulp, message)``; worst_ulp is -1 for a
    NaN/shape/dtype mismatch.
    """
    if out.dtype != expected.dtype or out.dtype.kind != "f":
        return False, -1, f"dtype {out.dtype}, expected {expected.dtype}"
    if out.shape != expected.shape:
        return False, -1, f"shape {out.shape}, expected {expected.shape}"
    nan_out, nan_exp = np.isnan(out), np.isnan(expected)
    if not np.array_equal(nan_out, nan_exp):
        where = np.argwhere(nan_out != nan_exp)[0]
        return False, -1, f"NaN mismatch at {tuple(where)}: got {out[tuple(where)]!r}, "\
            f"expected {expected[tuple(where)]!r}"
    view = _INT_VIEWS[out.dtype.itemsize]
    diff = ulp_distance(out, expected)  # NaN placement already matches here
    worst = int(diff.max()) if diff.size else 0
    if worst == 0 and max_ulp == 0:
        # The ulp distance maps -0.0 and +0.0 to the same point; bit-exact means the sign too.
        raw_out = np.where(nan_out, 0, out).view(view)
        raw_exp = np.where(nan_exp, 0, expected).view(view)
        if not np.array_equal(raw_out, raw_exp):
            where = tuple(np.argwhere(raw_out != raw_exp)[0])
            return False, 0, (f"sign of zero differs at {where}: got {out[where]!r}, "
                              f"expected {expected[where]!r}")
    if worst > max_ulp:
        where = tuple(np.unravel_index(int(np.argmax(diff)), diff.shape))
        return False, worst, (
            f"{int(np.count_nonzero(diff > max_ulp))} of {diff.size} elements differ by more "
            f"than {max_ulp} ulp; worst {worst} ulp at {where}: got {out[where]!r}, "
            f"expected {expected[where]!r}"
        )
    return True, worst, ""


def fill_mask(case: Case) -> np.ndarray:
    """Boolean mask of the glimpse elements that TF filled (outside the image)."""
    import xcrop

    ones = np.ones_like(case.inputs["input"])
    p = dict(case.params)
    flags = {k: p[k] for k in ("centered", "normalized") if k in p}
    if case.api == "v2":
        probe = xcrop.extract_glimpse(ones, p["size"], case.inputs["offsets"], noise="zero",
                                      **flags)
    else:
        probe = xcrop.compat.v1.extract_glimpse(ones, p["size"], case.inputs["offsets"],
                                                uniform_noise=False, noise="zero", **flags)
    return np.asarray(probe) == 0


def _ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / a.size
    cdf_b = np.searchsorted(b, grid, side="right") / b.size
    return float(np.max(np.abs(cdf_a - cdf_b)))


def judge_fill(case: Case, out: np.ndarray) -> tuple[bool, str]:
    """A random-fill glimpse: copies exact, fill inside TF's support and distributed like
    TF's own fill (two-sample Kolmogorov-Smirnov at alpha = 1e-4, per batch element)."""
    expected = case.expected
    assert expected is not None
    if out.shape != expected.shape or out.dtype != np.float32:
        return False, f"shape/dtype {out.shape}/{out.dtype}, expected {expected.shape}/float32"
    mask = fill_mask(case)
    if not np.array_equal(out[~mask], expected[~mask]):
        return False, "copied (in-image) elements differ from TF"
    image = case.inputs["input"]
    noise = case.params.get("noise", "uniform")
    if case.api == "v1":
        noise = resolve_v1_noise(case.params.get("uniform_noise", True), noise)
    elif noise == "":
        noise = "gaussian"
    for b in range(out.shape[0]):
        m = mask[b]
        if not m.any():
            continue
        if noise == "gaussian":
            lo = image[b].min(axis=(0, 1))
            hi = image[b].max(axis=(0, 1))
            ok = (out[b] >= lo) & (out[b] <= hi)
        else:
            ok = (out[b] >= image[b].min()) & (out[b] <= image[b].max())
        if not ok[m].all():
            return False, f"fill of batch element {b} leaves the allowed range"
        x, y = out[b][m], expected[b][m]
        if x.size >= 20:
            crit = 2.23 * np.sqrt((x.size + y.size) / (x.size * y.size))  # alpha = 1e-4
            d = _ks_statistic(x, y)
            if d > crit:
                return False, f"fill of batch element {b} is not distributed like TF's "\
                    f"(KS D = {d:.3f} > {crit:.3f})"
    return True, ""
