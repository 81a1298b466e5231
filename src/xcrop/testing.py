"""Cross-framework consistency checks: the same inputs through several backends and paths.

:func:`assert_backends_agree` runs one xcrop operation on NumPy inputs converted to each
requested array backend (NumPy, torch, JAX with and without x64, array-api-strict, CuPy)
and implementation path (``"fast"``, ``"fast_array"``, ``"generic"``), compares every
result with the first one bit for bit (distance in ulps, NaN matching NaN, the sign of
zero mattering when ``max_ulp == 0``) and raises AssertionError naming the largest
disagreement. ``xcrop compare`` is the command-line front end.

Example::

    import numpy as np, xcrop
    from xcrop.testing import assert_backends_agree

    image = np.random.default_rng(0).normal(size=(1, 8, 8, 3)).astype(np.float32)
    boxes = np.array([[0.1, 0.2, 0.9, 0.7]], np.float32)
    report = assert_backends_agree(xcrop.crop_and_resize, image, boxes, [0], (5, 5),
                                   backends=["numpy", "torch"])
    print(report.table())
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .conformance._adapters import (
    ADAPTERS,
    PATHS,
    Adapter,
    UnsupportedByBackend,
    numba_installed,
    serve_path,
)
from .conformance._runner import ulp_distance

__all__ = ["AgreementReport", "Comparison", "assert_backends_agree", "compare_backends"]

_NAN_ULP = int(np.iinfo(np.int64).max)


@dataclass
class Comparison:
    """One target's result against the reference's.

    ``worst_ulp`` is the largest distance in ulps (``-1`` when the results cannot be
    compared element-wise: an exception on one side only, a shape or dtype mismatch;
    ``2**63 - 1`` for a NaN against a number), ``worst_abs`` the largest absolute
    difference, ``index`` where the worst element is, ``got``/``expected`` its values.
    """

    reference: str
    target: str
    worst_ulp: int = 0
    worst_abs: float = 0.0
    index: tuple[int, ...] | None = None
    got: Any = None
    expected: Any = None
    message: str = ""

    @property
    def agrees(self) -> bool:
        return not self.message


@dataclass
class AgreementReport:
    """What :func:`compare_backends` found.

    ``targets`` lists the ``"backend/path"`` pairs that ran (the first is the
    reference), ``served_by`` the path xcrop actually took for each
    (:func:`xcrop.which_path`), ``skipped`` the pairs that could not run and why,
    ``errors`` the exceptions raised, ``comparisons`` each target against the reference.
    """

    op: str
    max_ulp: int
    targets: list[str] = field(default_factory=list)
    served_by: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    comparisons: list[Comparison] = field(default_factory=list)

    @property
    def disagreements(self) -> list[Comparison]:
        return [c for c in self.comparisons if not c.agrees]

    @property
    def ok(self) -> bool:
        return not self.disagreements

    @property
    def worst(self) -> Comparison | None:
        """The comparison with the largest disagreement (None when nothing was compared)."""
        if not self.comparisons:
            return None
        return max(self.comparisons, key=lambda c: (not c.agrees, c.worst_ulp, c.worst_abs))

    def table(self) -> str:
        """A plain-text table: target, path served, worst ulp / abs vs the reference."""
        from .conformance._report import format_table

        ref = self.targets[0] if self.targets else "-"
        lines = [(ref, self.served_by.get(ref, "-"), "reference", "", "", "")]
        for c in self.comparisons:
            ulp = "-" if c.worst_ulp < 0 else ("NaN" if c.worst_ulp == _NAN_ULP
                                               else str(c.worst_ulp))
            lines.append((c.target, self.served_by.get(c.target, "-"),
                           "agrees" if c.agrees else "DISAGREES", ulp,
                           f"{c.worst_abs:.3g}",
                           "" if c.index is None or (c.agrees and not c.worst_ulp)
                           else str(c.index)))
        for t, why in self.skipped.items():
            lines.append((t, "-", f"skipped: {why}", "", "", ""))
        return format_table(("backend/path", "served by", "result", "worst ulp", "worst abs",
                             "at"), lines)

    def message(self) -> str:
        bad = self.disagreements
        if not bad:
            return f"{self.op}: {len(self.targets)} backend/path combinations agree"
        w = self.worst
        assert w is not None
        head = (f"{self.op}: {len(bad)} of {len(self.comparisons)} backend/path combinations "
                f"disagree with the reference {w.reference} (allowed: {self.max_ulp} ulp). "
                f"Largest: {w.target}: {w.message}")
        return head + "\n" + self.table()


def _resolve_op(op: Callable[..., Any] | str) -> tuple[str, Callable[..., Any]]:
    import xcrop

    if callable(op):
        return getattr(op, "__qualname__", repr(op)), op
    obj: Any = xcrop
    for part in str(op).split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise ValueError(f"op must be an xcrop function or its name (e.g. "
                             f"'crop_and_resize', 'compat.v1.extract_glimpse'), got {op!r}")
    return str(op), obj


def _targets(backends: Sequence[str] | None, paths: Sequence[str]) -> list[tuple[Adapter, str]]:
    names = [a.name for a in ADAPTERS]
    for p in paths:
        if p not in PATHS:
            raise ValueError(f"paths must be taken from {PATHS}, got {p!r}")
    if backends is None:
        chosen = [a for a in ADAPTERS if a.skip_reason() is None]
    else:
        unknown = [b for b in backends if b not in names]
        if unknown:
            raise ValueError(f"unknown backend(s) {unknown}; known: {names}")
        chosen = [a for a in ADAPTERS if a.name in backends]
        chosen.sort(key=lambda a: list(backends).index(a.name))
    return [(a, p) for a in chosen for p in paths]


def _convert(value: Any, adapter: Adapter) -> Any:
    if isinstance(value, np.ndarray):
        return adapter.asarray(value)
    return value


def _compare(ref_name: str, ref: np.ndarray, name: str, out: np.ndarray,
             max_ulp: int) -> Comparison:
    c = Comparison(ref_name, name)
    if out.shape != ref.shape or out.dtype != ref.dtype:
        c.worst_ulp = -1
        c.message = f"result is {out.dtype}{list(out.shape)}, reference {ref.dtype}" \
                    f"{list(ref.shape)}"
        return c
    # Integer results (none of xcrop's ops return them today): equal or not.
    diff = ulp_distance(out, ref) if out.dtype.kind == "f" else (out != ref).astype(np.int64)
    if diff.size == 0:
        return c
    flat = int(np.argmax(diff))
    idx = tuple(int(i) for i in np.unravel_index(flat, diff.shape))
    c.worst_ulp = int(diff[idx])
    with np.errstate(invalid="ignore", over="ignore"):
        a = np.abs(out.astype(np.float64) - ref.astype(np.float64))
    same = (out == ref) | (np.isnan(out) & np.isnan(ref)) if out.dtype.kind == "f" \
        else out == ref
    a = np.where(same, 0.0, np.where(np.isnan(a), math.inf, a))
    c.worst_abs = float(a.max())
    c.index, c.got, c.expected = idx, out[idx].item(), ref[idx].item()
    n_bad = int(np.count_nonzero(diff > max_ulp))
    if c.worst_ulp > max_ulp:
        ulp = "NaN mismatch" if c.worst_ulp == _NAN_ULP else f"{c.worst_ulp} ulp"
        c.message = (f"{n_bad} of {diff.size} elements differ by more than {max_ulp} ulp; "
                     f"worst {ulp} (abs {c.worst_abs:.3g}) at index {idx}: "
                     f"{name} gave {c.got!r}, {ref_name} {c.expected!r}")
    elif max_ulp == 0 and out.dtype.kind == "f":
        # ulp_distance puts -0.0 and +0.0 together; agreement to 0 ulp means the same bits.
        zero_sign = np.signbit(out) != np.signbit(ref)
        zero_sign &= (out == 0) & (ref == 0)
        if zero_sign.any():
            idx = tuple(int(i) for i in np.argwhere(zero_sign)[0])
            c.index, c.got, c.expected = idx, out[idx].item(), ref[idx].item()
            c.message = (f"sign of zero differs at index {idx}: {name} gave {c.got!r}, "
                         f"{ref_name} {c.expected!r}")
    return c


def compare_backends(op: Callable[..., Any] | str, *args: Any,
                     backends: Sequence[str] | None = None,
                     paths: Sequence[str] = ("fast", "generic"), max_ulp: int = 0,
                     progress: Callable[[str], None] | None = None,
                     **kwargs: Any) -> AgreementReport:
    """Run ``op(*args, **kwargs)`` on every backend x path and compare; never raises on a
    disagreement (see :func:`assert_backends_agree`).

    ``args``/``kwargs``: NumPy arrays are converted to each backend's arrays (same dtype);
    anything else is passed unchanged. ``backends``: names among ``numpy``, ``torch``,
    ``jax``, ``jax_x64``, ``array_api_strict``, ``cupy`` (default: every one that can run
    here); the first that runs is the reference. ``paths``: among ``"fast"``,
    ``"fast_array"`` (numba disabled; NumPy, torch and JAX, when numba is installed) and
    ``"generic"``. ``progress(target)`` is called before each backend/path runs (eager
    JAX on the generic path can take a minute on new shapes). A backend that is not
    installed, or cannot hold an input dtype (JAX without x64 and 64-bit arrays), is
    listed in ``report.skipped``.

    Raises ValueError for an unknown op, backend or path, or when fewer than two
    combinations could run.
    """
    import xcrop

    name, fn = _resolve_op(op)
    report = AgreementReport(name, max_ulp)
    outputs: dict[str, np.ndarray] = {}
    for adapter, path in _targets(backends, paths):
        target = f"{adapter.name}/{path}"
        why = adapter.skip_reason()
        if why is None and path == "fast_array":
            if adapter.library not in ("numpy", "torch", "jax"):
                why = "the numba switch applies to NumPy, torch and JAX only"
            elif not numba_installed():
                why = "numba is not installed (fast already is the array-op path)"
        if why:
            report.skipped[target] = why
            continue
        if progress is not None:
            progress(target)
        with adapter.active():
            try:
                a = [_convert(v, adapter) for v in args]
                k = {key: _convert(v, adapter) for key, v in kwargs.items()}
            except UnsupportedByBackend as exc:
                report.skipped[target] = str(exc)
                continue
            with serve_path(path):
                try:
                    report.served_by[target] = xcrop.which_path(fn, *a, **k)
                except Exception:  # not a public op (or it raises: seen below)
                    report.served_by[target] = "?"
                try:
                    raw = fn(*a, **k)
                except Exception as exc:
                    report.targets.append(target)
                    report.errors[target] = f"{type(exc).__name__}: {exc}"
                    continue
            outputs[target] = adapter.to_numpy(raw)
            report.targets.append(target)
    if len(report.targets) < 2:
        raise ValueError(f"{name}: fewer than two backend/path combinations could run "
                         f"(ran: {report.targets}; skipped: {report.skipped})")
    ref = report.targets[0]
    for target in report.targets[1:]:
        if ref in report.errors or target in report.errors:
            c = Comparison(ref, target, worst_ulp=-1)
            e_ref, e_t = report.errors.get(ref), report.errors.get(target)
            same_type = e_ref is not None and e_t is not None and \
                e_ref.split(":")[0] == e_t.split(":")[0]
            if not same_type:
                c.message = (f"{target} {'raised ' + e_t if e_t else 'returned a result'}, "
                             f"{ref} {'raised ' + e_ref if e_ref else 'returned a result'}")
            report.comparisons.append(c)
            continue
        report.comparisons.append(_compare(ref, outputs[ref], target, outputs[target],
                                           max_ulp))
    return report


def assert_backends_agree(op: Callable[..., Any] | str, *args: Any,
                          backends: Sequence[str] | None = None,
                          paths: Sequence[str] = ("fast", "generic"), max_ulp: int = 0,
                          **kwargs: Any) -> AgreementReport:
    """Assert that ``op(*args, **kwargs)`` gives the same bits on every backend and path.

    Arguments as :func:`compare_backends`. Returns the :class:`AgreementReport` when all
    results agree within ``max_ulp`` ulps (0: bit for bit, sign of zero included; NaN
    matches NaN) and every combination raised the same exception type or none did.
    Raises AssertionError otherwise, naming the largest disagreement (ulps, absolute
    difference, index, the two backends) and printing the whole table.
    """
    report = compare_backends(op, *args, backends=backends, paths=paths, max_ulp=max_ulp,
                              **kwargs)
    if not report.ok:
        raise AssertionError(report.message())
    return report
