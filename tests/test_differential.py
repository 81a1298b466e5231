"""Differential test without TensorFlow: every path and backend against NumPy's generic path.

The short, deterministic twin of ``fuzz/fuzz_tf.py`` (which compares against live TF):
the same Hypothesis strategies (``fuzz/fuzz_strategies.py``) draw calls of all five
operations, derandomized so every run sees the same cases. Each call runs on NumPy's
generic path (the array-API reference semantics) and on every other installed
backend x path: numpy and torch fast (numba kernels, the gradients' too), fast_array
(numba off) and generic, and array-api-strict. All must agree bit for bit (NaN
positions and the sign of zero included), or all raise the same exception type. A
random glimpse fill is compared exactly too: with ``seed=0`` xcrop promises the same
fill bits on every backend. JAX is left out (eager JAX compiles every new shape); the
fuzzer and the conformance fixtures cover it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from backends import backend_params
from xcrop.conformance._adapters import Adapter, UnsupportedByBackend
from xcrop.conformance._format import Case
from xcrop.conformance._runner import call_case, judge_exact

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fuzz"))
from fuzz_strategies import path_context, strategy_for

_ADAPTERS = {p.id: p.values[0].adapter for p in backend_params()}
REFERENCE = ("numpy", "generic")
#: (backend, path) pairs compared with the reference. The gradients have the same three
#: paths as the crop (numba kernels, array-op fast paths, generic) on numpy and torch.
FORWARD_TARGETS = [(b, p) for b in ("numpy", "torch") for p in ("fast", "fast_array", "generic")
                   ] + [("array_api_strict", "generic")]
GRADIENT_TARGETS = FORWARD_TARGETS


def _outcome(case: Case, adapter: Adapter, path: str) -> tuple[str, Any]:
    """("ok", NumPy result), ("raised", exception type) or ("skip", reason)."""
    try:
        with adapter.active(), path_context(path):
            out = call_case(case, adapter.asarray)
    except UnsupportedByBackend as exc:
        return "skip", str(exc)
    except Exception as exc:
        return "raised", type(exc)
    return "ok", adapter.to_numpy(out)


def _check(case: Case, targets: list[tuple[str, str]]) -> None:
    kind, ref = _outcome(case, _ADAPTERS[REFERENCE[0]], REFERENCE[1])
    assert kind != "skip", ref
    compared = 0
    for backend, path in targets:
        adapter = _ADAPTERS[backend]
        if adapter.skip_reason():
            continue  # library not installed: its pytest param elsewhere says so visibly
        got_kind, got = _outcome(case, adapter, path)
        if got_kind == "skip":
            continue
        compared += 1
        where = f"{backend}/{path} vs numpy/generic on {case!r}"
        if kind == "raised" or got_kind == "raised":
            assert (got_kind, got) == (kind, ref), \
                f"{where}: {got_kind} {got}, reference {kind} {ref}"
            continue
        ok, _, msg = judge_exact(got, ref)
        assert ok, f"{where}: {msg}"
    assert compared, "no backend besides the reference could run this case"


COMMON = {"derandomize": True, "deadline": None, "database": None, "print_blob": False,
          "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}


@settings(max_examples=80, **COMMON)
@given(case=strategy_for("crop_and_resize"))
def test_crop_and_resize_paths_agree(case: Case) -> None:
    _check(case, FORWARD_TARGETS)


@pytest.mark.parametrize("version", [2, 1])
def test_extract_glimpse_paths_agree(version: int) -> None:
    @settings(max_examples=40, **COMMON)
    @given(case=strategy_for(f"extract_glimpse_v{version}"))
    def run(case: Case) -> None:
        _check(case, [t for t in FORWARD_TARGETS if t[1] != "fast_array"])

    run()


@pytest.mark.parametrize("op", ["grad_image", "grad_boxes"])
def test_gradients_backends_agree(op: str) -> None:
    @settings(max_examples=25, **COMMON)
    @given(case=strategy_for(op))
    def run(case: Case) -> None:
        _check(case, GRADIENT_TARGETS)

    run()


def test_check_can_fail() -> None:
    """The comparison notices a one-ulp difference and a sign-of-zero difference."""
    a = np.array([1.0, 0.0], np.float32)
    assert not judge_exact(np.nextafter(a, np.float32(2)), a)[0]
    assert not judge_exact(np.array([1.0, -0.0], np.float32), a)[0]
