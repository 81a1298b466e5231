"""Every recorded TensorFlow 2.21 case, on every backend.

Expected values come only from TF (tools/record/record.py); the allowed deviation comes
from xcrop's limitations table (0 ulp unless a limitation says otherwise).
"""

from __future__ import annotations

import contextlib
import os
import zlib

import numpy as np
import pytest

import xcrop
from backends import Backend, holds
from xcrop.capabilities import NUMBA_OPERATIONS, has_fast_path, max_ulp
from xcrop.conformance import load_all
from xcrop.conformance._adapters import ADAPTERS, numba_installed
from xcrop.conformance._runner import call_case, expected_exception, judge_exact, judge_fill

CASES = load_all()
GRADIENTS = ("crop_and_resize_grad_image", "crop_and_resize_grad_boxes")

# Eager JAX compiles every operation afresh for each new shape (about 1 s a case on the
# generic path, 150 s of the default run), so the default run gives JAX a fixed,
# spread-out sample: the spec's tagged edge cases plus every 24th forward case (jax), the
# 64-bit dtype cases plus every 48th (jax_x64), each half as dense on the generic path
# (tests/test_jax_jit_exact.py runs another sample of it under jit); of the gradient cases
# every 8th on the fast path (NumPy views, quick) and every 96th on the generic one
# (tests/test_gradients.py runs jax.grad too).
# XCROP_JAX_SAMPLE=all, or `nox -s conformance -- --path all`, runs every case.
_FULL_JAX = os.environ.get("XCROP_JAX_SAMPLE") == "all"


def _in_jax_sample(backend: str, case, path: str) -> bool:
    spread = zlib.crc32(case.key.encode())
    if case.op in GRADIENTS:
        return spread % (96 if path == "generic" else 8) == (0 if backend == "jax" else 1)
    every = 48 if path == "generic" else 24
    if backend == "jax":
        return case.description.startswith("[spec") or spread % every == 0
    wide = any(a.dtype.itemsize == 8 for a in case.inputs.values())
    return (case.suite == "crop_dtypes" and wide) or spread % (2 * every) == 1


def paths_for(op: str, library: str, device: str) -> list[str]:
    """The paths that exist for ``op`` on a backend (xcrop.capabilities decides): the
    generic path always; "fast" where a fast path is registered; "fast_array" where numba
    is installed and the operation's fast path runs numba kernels."""
    out = ["generic"]
    if has_fast_path(op, library, device):
        out.append("fast")
        if numba_installed() and op in NUMBA_OPERATIONS and device == "cpu":
            out.append("fast_array")
    return out


def _params() -> list:
    """Only combinations that can run: a backend that is not installed gets one skipped
    test below, and no case x path it could never run (a fast path that does not exist,
    a dtype the library cannot hold) is generated."""
    params = []
    for adapter in ADAPTERS:
        if adapter.skip_reason():
            continue
        backend = Backend(adapter)
        first: dict[tuple[str, str], object] = {}  # the first runnable case per suite, path
        touched = set()
        for case in CASES:
            if not holds(adapter, *case.inputs.values()):
                continue
            for path in paths_for(case.op, adapter.library, adapter.device_kind):
                first.setdefault((case.suite, path), case)
                if (adapter.library == "jax" and not _FULL_JAX
                        and not _in_jax_sample(adapter.name, case, path)):
                    continue
                touched.add((case.suite, path))
                params.append(pytest.param(case, backend, path,
                                           id=f"{case.key}-{adapter.name}-{path}"))
        # A sample that missed a suite on a path still runs one case of it there.
        for (suite, path), case in first.items():
            if (suite, path) not in touched:
                params.append(pytest.param(case, backend, path,
                                           id=f"{case.key}-{adapter.name}-{path}"))
    return params


def test_fixtures_present() -> None:
    # An empty or missing fixture directory must fail loudly, not pass vacuously.
    assert len(CASES) >= 900
    assert {c.suite for c in CASES} >= {
        "crop_edge", "crop_random", "crop_dtypes", "crop_v1", "crop_errors",
        "glimpse_v1", "glimpse_v2", "glimpse_fill", "glimpse_errors",
    }  # fmt: skip


@pytest.mark.parametrize("adapter", [a for a in ADAPTERS if a.skip_reason()],
                         ids=lambda a: a.name)
def test_backend_not_installed(adapter) -> None:
    pytest.skip(f"no conformance cases on {adapter.name}: {adapter.skip_reason()}")


@pytest.mark.parametrize(("case", "backend", "path"), _params())
def test_case(case, backend: Backend, path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if path == "fast_array":
        monkeypatch.setenv("XCROP_NO_NUMBA", "1")
    serve = xcrop.use_generic() if path == "generic" else contextlib.nullcontext()
    with backend.adapter.active():
        if case.check == "error":
            with serve, pytest.raises(expected_exception(case)):
                call_case(case, backend.asarray)
            return
        first = backend.asarray(next(iter(case.inputs.values())))
        with serve:
            result = call_case(case, backend.asarray)
        out = backend.check_result(result, first)
    if case.check == "fill_stats":
        ok, msg = judge_fill(case, out)
        assert ok, msg
        return
    tol = max_ulp(backend.library, backend.device_kind, case.op)
    ok, _, msg = judge_exact(out, np.asarray(case.expected), tol)
    assert ok, f"{case.description}: {msg}"


def test_every_suite_backend_and_path_is_touched() -> None:
    # The sampling above must leave no suite x installed backend x existing path empty.
    ran = {(p.values[0].suite, p.values[1].name, p.values[2]) for p in _params()}
    for adapter in ADAPTERS:
        if adapter.skip_reason():
            continue
        for suite in {c.suite for c in CASES}:
            runnable = [c for c in CASES
                        if c.suite == suite and holds(adapter, *c.inputs.values())]
            paths = {p for c in runnable for p in paths_for(c.op, adapter.library, "cpu")}
            missing = {p for p in paths if (suite, adapter.name, p) not in ran}
            assert not missing, (suite, adapter.name, missing)


def test_judge_exact_is_strict() -> None:
    # The judge itself must be able to fail: sign of zero, one ulp, NaN placement.
    f = np.float32
    assert judge_exact(np.array([0.0], f), np.array([0.0], f))[0]
    assert judge_exact(np.array([np.nan], f), np.array([np.nan], f))[0]
    assert not judge_exact(np.array([-0.0], f), np.array([0.0], f))[0]
    assert not judge_exact(np.nextafter(np.array([1.0], f), f(2)), np.array([1.0], f))[0]
    assert judge_exact(np.nextafter(np.array([1.0], f), f(2)), np.array([1.0], f), 1)[0]
    assert not judge_exact(np.array([np.nan], f), np.array([1.0], f), 10)[0]
