"""xcrop.testing: the cross-backend agreement check must pass on agreeing results and
fail, naming the largest disagreement, on each way results can differ.

Disagreements are injected by wrapping xcrop so that one backend's result is nudged;
expected agreement is xcrop's own promise (every path gives the generic path's bits).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import xcrop
from xcrop.testing import AgreementReport, assert_backends_agree, compare_backends

HAS_TORCH = importlib.util.find_spec("torch") is not None
BACKENDS = ["numpy", "torch"] if HAS_TORCH else ["numpy"]
# With XCROP_NO_NUMBA=1 (below) "fast" is the array-op fast path, installed numba or not
# ("fast_array" is skipped without numba: it would be the same path).
PATHS = ["fast", "generic"]


@pytest.fixture(autouse=True)
def _no_numba(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XCROP_NO_NUMBA", "1")


def _inputs(seed: int = 0):
    rng = np.random.default_rng(seed)
    image = rng.normal(size=(2, 9, 11, 3)).astype(np.float32)
    boxes = rng.uniform(-0.3, 1.3, size=(6, 4)).astype(np.float32)  # flipped, outside
    idx = rng.integers(0, 2, size=6).astype(np.int32)
    return image, boxes, idx


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def _nudged(change):
    """xcrop.crop_and_resize with ``change(numpy_array)`` applied to torch results only."""
    def fn(image, boxes, idx, size, **kw):
        out = xcrop.crop_and_resize(image, boxes, idx, size, **kw)
        if not _is_torch(out):
            return out
        import torch

        a = out.numpy().copy()
        change(a)
        return torch.from_numpy(a)
    return fn


def test_backends_and_paths_agree() -> None:
    image, boxes, idx = _inputs()
    report = assert_backends_agree(xcrop.crop_and_resize, image, boxes, idx, (5, 4),
                                   backends=BACKENDS, paths=PATHS, extrapolation_value=-1.5)
    assert isinstance(report, AgreementReport) and report.ok
    assert report.targets == [f"{b}/{p}" for b in BACKENDS for p in PATHS]
    assert report.served_by["numpy/generic"] == "generic"
    assert report.served_by["numpy/fast"] == "numpy fast path"
    assert all(c.worst_ulp == 0 for c in report.comparisons)
    assert "agrees" in report.table()


def test_op_by_name_glimpse() -> None:
    image, _, _ = _inputs()
    offsets = np.array([[0.3, -0.9], [-1.2, 1.1]], np.float32)
    report = assert_backends_agree("extract_glimpse", image, (4, 6), offsets, noise="zero",
                                   backends=["numpy"], paths=PATHS)
    assert report.ok and len(report.targets) == 2


@pytest.mark.skipif(not HAS_TORCH, reason="needs torch for a second backend")
def test_one_ulp_disagreement_is_named() -> None:
    image, boxes, idx = _inputs()

    def up(a):
        a[3, 2, 1, 0] = np.nextafter(a[3, 2, 1, 0], np.float32(np.inf))

    with pytest.raises(AssertionError) as err:
        assert_backends_agree(_nudged(up), image, boxes, idx, (5, 4), backends=BACKENDS,
                              paths=["generic"])
    msg = str(err.value)
    assert "worst 1 ulp" in msg and "(3, 2, 1, 0)" in msg
    assert "torch/generic" in msg and "numpy/generic" in msg
    # Allowed with max_ulp=1, and the report says by how much.
    report = assert_backends_agree(_nudged(up), image, boxes, idx, (5, 4), backends=BACKENDS,
                                   paths=["generic"], max_ulp=1)
    worst = report.worst
    assert worst is not None and worst.worst_ulp == 1 and worst.index == (3, 2, 1, 0)
    assert worst.worst_abs > 0


@pytest.mark.skipif(not HAS_TORCH, reason="needs torch for a second backend")
def test_sign_of_zero_and_nan_disagreements() -> None:
    image, boxes, idx = _inputs()
    image[:] = 0.0  # every output element is +0.0 (extrapolation_value 0.0 too)

    def neg_zero(a):
        a[0, 0, 0, 0] = -0.0

    with pytest.raises(AssertionError, match="sign of zero"):
        assert_backends_agree(_nudged(neg_zero), image, boxes, idx, (2, 2),
                              backends=BACKENDS, paths=["generic"])

    def nan(a):
        a[1, 1, 1, 1] = np.nan

    report = compare_backends(_nudged(nan), image, boxes, idx, (2, 2), backends=BACKENDS,
                              paths=["generic"], max_ulp=1000)
    assert not report.ok and "NaN mismatch" in report.message()


@pytest.mark.skipif(not HAS_TORCH, reason="needs torch for a second backend")
def test_exceptions_must_match() -> None:
    image, boxes, idx = _inputs()
    bad_idx = np.array([0, 5, 0, 0, 0, 0], np.int32)  # out of range everywhere
    report = assert_backends_agree(xcrop.crop_and_resize, image, boxes, bad_idx, (2, 2),
                                   backends=BACKENDS, paths=["generic"])
    assert set(report.errors) == {"numpy/generic", "torch/generic"}

    def torch_only_raises(image, boxes, idx, size):
        if _is_torch(image):
            raise RuntimeError("boom")
        return xcrop.crop_and_resize(image, boxes, idx, size)

    with pytest.raises(AssertionError, match="raised RuntimeError: boom"):
        assert_backends_agree(torch_only_raises, image, boxes, idx, (2, 2),
                              backends=BACKENDS, paths=["generic"])


def test_bad_arguments_are_clear() -> None:
    image, boxes, idx = _inputs()
    with pytest.raises(ValueError, match="unknown backend"):
        compare_backends(xcrop.crop_and_resize, image, boxes, idx, (2, 2), backends=["tf"])
    with pytest.raises(ValueError, match="paths must be taken from"):
        compare_backends(xcrop.crop_and_resize, image, boxes, idx, (2, 2), paths=["slow"])
    with pytest.raises(ValueError, match="fewer than two"):
        compare_backends(xcrop.crop_and_resize, image, boxes, idx, (2, 2),
                         backends=["numpy"], paths=["generic"])
    with pytest.raises(ValueError, match="xcrop function or its name"):
        compare_backends("no_such_op", image, boxes, idx, (2, 2))
