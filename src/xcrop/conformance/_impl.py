"""Certify a third-party ``crop_and_resize`` against the recorded TF fixtures.

A third-party implementation has TensorFlow's signature::

    fn(image, boxes, box_indices, crop_size, method, extrapolation_value) -> crops

``image`` is ``(batch, height, width, channels)`` (NHWC, any real dtype), ``boxes`` is
float32 ``(n, 4)`` of normalized ``(y1, x1, y2, x2)``, ``box_indices`` int32 ``(n,)``,
``crop_size`` a tuple ``(crop_height, crop_width)``, ``method`` ``"bilinear"`` or
``"nearest"``, ``extrapolation_value`` a float; the result must be float32
``(n, crop_height, crop_width, channels)``. Arguments are NumPy arrays, or torch tensors
with ``impl_backend="torch"``. An implementation that cannot do what a case asks (a
method, a non-zero extrapolation value) raises :class:`NotImplementedError`: the case is
then reported as *unsupported*, not failed.

Only ``crop_and_resize`` fixtures are used. Each output box is put into one category
(first match wins): ``crop size 1``, ``nearest``, ``flipped`` (y1 > y2 or x1 > x2),
``degenerate`` (y1 == y2 or x1 == x2), ``borders/extrapolation`` (a coordinate outside
[0, 1]), ``in-bounds``; TF's error cases
form the category ``invalid input`` (passed when the implementation raises anything).
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._format import Case
from ._runner import ulp_distance

__all__ = [
    "CATEGORIES",
    "ImplCaseResult",
    "box_categories",
    "check_case",
    "load_impl",
    "not_applicable",
    "run_impl_case",
]

CATEGORIES = ("in-bounds", "borders/extrapolation", "flipped", "degenerate", "nearest",
              "crop size 1", "invalid input")
IMPL_BACKENDS = ("numpy", "torch")


def load_impl(spec: str) -> Callable[..., Any]:
    """Import ``"package.module:function"`` (the function may be a dotted attribute path).

    Raises ValueError for a malformed spec, ImportError/AttributeError when it does not
    resolve, TypeError when the target is not callable.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"--impl must look like 'module:function', got {spec!r}")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"--impl {spec!r} is a {type(obj).__name__}, not a callable")
    return obj


def not_applicable(case: Case) -> str | None:
    """Why ``case`` cannot be put to a TF-signature implementation, or None if it can."""
    if case.op != "crop_and_resize":
        return f"a {case.op} case; implementations are checked on crop_and_resize only"
    if case.params.get("index_kwarg") == "both":
        return "checks TF1's keyword clash (box_ind= and box_indices=), not the operation"
    return None


def box_categories(case: Case) -> list[str]:
    """The category of each box of a crop_and_resize ``case`` (see the module docstring)."""
    if case.check == "error":
        return ["invalid input"]
    boxes = np.asarray(case.inputs["boxes"], dtype=np.float64).reshape(-1, 4)
    p = case.params
    if 1 in tuple(p["crop_size"]):
        return ["crop size 1"] * len(boxes)
    if p.get("method", "bilinear") == "nearest":
        return ["nearest"] * len(boxes)
    out = []
    for y1, x1, y2, x2 in boxes:
        if y1 > y2 or x1 > x2:
            out.append("flipped")
        elif y1 == y2 or x1 == x2:
            out.append("degenerate")
        elif not all(0.0 <= v <= 1.0 for v in (y1, x1, y2, x2)):
            out.append("borders/extrapolation")
        else:
            out.append("in-bounds")
    return out


@dataclass
class BoxStats:
    """Outcome per category for one case: boxes, bit-exact boxes, worst errors."""

    boxes: int = 0
    passed: int = 0
    worst_abs: float = 0.0
    worst_ulp: int = 0


@dataclass
class ImplCaseResult:
    case: Case
    status: str  # "passed", "failed", "unsupported"
    message: str = ""
    seconds: float = 0.0
    worst_abs: float = 0.0
    worst_ulp: int = 0
    per_category: dict[str, BoxStats] = field(default_factory=dict)


def _to_backend(a: np.ndarray, impl_backend: str) -> Any:
    a = np.array(a, copy=True)
    if impl_backend == "torch":
        import torch

        return torch.from_numpy(a)
    a.flags.writeable = False  # an implementation must not write into its inputs
    return a


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # torch
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _abs_error(out: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """|out - expected| in float64; 0 where both are NaN (or equal infinities), inf where
    only one is NaN."""
    o, e = out.astype(np.float64), expected.astype(np.float64)
    with np.errstate(invalid="ignore"):
        diff = np.abs(o - e)
    same = (np.isnan(o) & np.isnan(e)) | (o == e)
    return np.where(same, 0.0, np.where(np.isnan(diff), np.inf, diff))


def run_impl_case(case: Case, fn: Callable[..., Any], impl_backend: str = "numpy",
                  max_ulp: int = 0) -> ImplCaseResult:
    """Call ``fn`` as the case called TF and judge each output box against TF's."""
    why = not_applicable(case)
    if why:
        raise ValueError(f"{case.key} cannot be checked on an implementation: {why}")
    if impl_backend not in IMPL_BACKENDS:
        raise ValueError(f"impl_backend must be one of {IMPL_BACKENDS}, got {impl_backend!r}")
    cats = box_categories(case)
    p = case.params
    args = (
        _to_backend(case.inputs["image"], impl_backend),
        _to_backend(case.inputs["boxes"], impl_backend),
        _to_backend(case.inputs["box_indices"], impl_backend),
        tuple(int(v) for v in p["crop_size"]),
        p.get("method", "bilinear"),
        float(p.get("extrapolation_value", 0.0)),
    )
    start = time.perf_counter()
    try:
        raw = fn(*args)
    except NotImplementedError as exc:
        if case.check == "error":  # refusing invalid input is what TF does too
            return ImplCaseResult(case, "passed", seconds=time.perf_counter() - start,
                                  per_category={"invalid input": BoxStats(1, 1)})
        res = ImplCaseResult(case, "unsupported", str(exc) or "NotImplementedError")
        res.seconds = time.perf_counter() - start
        res.per_category = {c: BoxStats(boxes=cats.count(c)) for c in set(cats)}
        return res
    except Exception as exc:
        raised = f"raised {type(exc).__name__}: {exc}"
        res = ImplCaseResult(case, "passed" if case.check == "error" else "failed",
                             "" if case.check == "error" else raised)
        res.seconds = time.perf_counter() - start
        res.per_category = {"invalid input": BoxStats(1, int(case.check == "error"))} \
            if case.check == "error" else {c: BoxStats(boxes=cats.count(c)) for c in set(cats)}
        return res
    seconds = time.perf_counter() - start
    if case.check == "error":
        return ImplCaseResult(case, "failed", f"returned a result where TF raised "
                              f"{case.error['tf_type'] if case.error else '?'}", seconds,
                              per_category={"invalid input": BoxStats(1, 0)})
    out = _to_numpy(raw)
    expected = np.asarray(case.expected)
    res = ImplCaseResult(case, "passed", seconds=seconds)
    if out.shape != expected.shape or out.dtype != expected.dtype:
        res.status = "failed"
        res.message = f"result is {out.dtype}{list(out.shape)}, TF's is " \
                      f"{expected.dtype}{list(expected.shape)}"
        res.worst_abs, res.worst_ulp = math.inf, -1
        res.per_category = {c: BoxStats(boxes=cats.count(c), worst_abs=math.inf, worst_ulp=-1)
                            for c in set(cats)}
        return res
    ulps = ulp_distance(out, expected)
    abs_err = _abs_error(out, expected)
    worst_where = None
    for b, cat in enumerate(cats):
        st = res.per_category.setdefault(cat, BoxStats())
        st.boxes += 1
        u = int(ulps[b].max()) if ulps[b].size else 0
        a = float(abs_err[b].max()) if abs_err[b].size else 0.0
        if u <= max_ulp:
            st.passed += 1
        st.worst_ulp = max(st.worst_ulp, u)
        st.worst_abs = max(st.worst_abs, a)
        if u > res.worst_ulp:
            res.worst_ulp = u
            worst_where = tuple(int(i) for i in np.unravel_index(int(np.argmax(ulps[b])),
                                                                   ulps[b].shape))
            worst_where = (b, *worst_where)
        res.worst_abs = max(res.worst_abs, a)
    if res.worst_ulp > max_ulp:
        res.status = "failed"
        bad = sum(st.boxes - st.passed for st in res.per_category.values())
        assert worst_where is not None
        res.message = (f"{bad} of {len(cats)} boxes deviate by more than {max_ulp} ulp; worst "
                       f"{res.worst_ulp} ulp (abs {res.worst_abs:.3g}) at {worst_where}: got "
                       f"{out[worst_where]!r}, TF {expected[worst_where]!r}")
    return res


def check_case(case: Case, fn: Callable[..., Any], *, backend: str = "numpy",
               max_ulp: int = 0) -> ImplCaseResult:
    """Check one recorded TF ``crop_and_resize`` case against ``fn``; for test suites.

    ``fn`` has TF's signature ``(image, boxes, box_indices, crop_size, method,
    extrapolation_value)`` and receives NumPy arrays (``backend="torch"``: torch tensors);
    see :mod:`xcrop.conformance._impl` for shapes and dtypes. Returns the result when every
    output element is within ``max_ulp`` ulps of TF's (or, for a case where TF raised,
    when ``fn`` raised too). Raises AssertionError naming the worst deviation otherwise,
    :class:`unittest.SkipTest` (a skip under pytest and unittest) when ``fn`` raised
    NotImplementedError, and ValueError for a case :func:`not_applicable` rejects.
    """
    import unittest

    res = run_impl_case(case, fn, backend, max_ulp)
    if res.status == "unsupported":
        raise unittest.SkipTest(f"{case.key}: unsupported by the implementation: {res.message}")
    if res.status == "failed":
        raise AssertionError(f"{case.key} ({case.description}): {res.message}")
    return res
