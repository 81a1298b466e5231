"""The fast-path registry: which_path, forcing the generic path, user paths, lazy imports,
thread safety, the value checks that keep the unflushed fast paths exact, and the
output-size limit."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

import numpy as np
import pytest

import xcrop
from backends import Backend, backend_params
from xcrop._dispatch import generic as generic_path
from xcrop._dispatch.registry import GENERIC

RNG = np.random.default_rng(3)
IMAGE = RNG.standard_normal((2, 9, 11, 3)).astype(np.float32)
BOXES = np.array([[0.1, 0.2, 0.9, 0.7], [-0.2, 0.3, 1.1, 0.6], [0.8, 0.9, 0.1, 0.2]],
                 dtype=np.float32)
INDICES = np.array([0, 1, 1], dtype=np.int32)


def _bits(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x).view(np.int32)


def test_which_path_reports_the_serving_path(backend: Backend) -> None:
    image, boxes, idx = (backend.asarray(a) for a in (IMAGE, BOXES, INDICES))
    name = xcrop.which_path("crop_and_resize", image, boxes, idx, (5, 4))
    glimpse = xcrop.which_path(xcrop.extract_glimpse, image, (3, 3),
                               backend.asarray(np.zeros((2, 2), np.float32)), noise="zero")
    if backend.library == "numpy":
        assert name.startswith("numpy fast path")
        assert glimpse == "numpy fast path"
    elif backend.library == "torch":
        assert name.startswith("torch CPU fast path")
        assert glimpse == "torch CPU fast path"
    elif backend.library == "jax":  # eager arrays on the CPU
        assert name.startswith("jax CPU fast path")
        assert glimpse == "jax CPU fast path"
    else:
        assert name == GENERIC
        assert glimpse == GENERIC
    with xcrop.use_generic():
        assert xcrop.which_path("crop_and_resize", image, boxes, idx, (5, 4)) == GENERIC


def test_which_path_validates_like_the_call() -> None:
    with pytest.raises(xcrop.InvalidArgumentError):
        xcrop.which_path("crop_and_resize", IMAGE, BOXES, INDICES, (0, 4))
    with pytest.raises(ValueError, match="op must be"):
        xcrop.which_path("resize", IMAGE)
    assert xcrop.which_path("v1.crop_and_resize", IMAGE, BOXES, box_ind=INDICES,
                            crop_size=(2, 2)).startswith("numpy fast path")


def test_env_var_forces_generic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XCROP_FORCE_GENERIC", "1")
    assert xcrop.which_path("crop_and_resize", IMAGE, BOXES, INDICES, (5, 4)) == GENERIC
    monkeypatch.setenv("XCROP_FORCE_GENERIC", "0")
    assert xcrop.which_path("crop_and_resize", IMAGE, BOXES, INDICES, (5, 4)) != GENERIC


def test_user_fast_path_and_its_predicate() -> None:
    calls = []

    def impl(args):
        calls.append(args.method)
        return np.full(args.output_shape, 7.0, dtype=np.float32)

    handle = xcrop.register_fast_path("crop_and_resize", "numpy", impl,
                                      predicate=lambda a: a.method == "nearest",
                                      name="my nearest path")
    try:
        assert xcrop.which_path("crop_and_resize", IMAGE, BOXES, INDICES, (2, 2),
                                method="nearest") == "my nearest path"
        assert xcrop.which_path("crop_and_resize", IMAGE, BOXES, INDICES, (2, 2)) != \
            "my nearest path"
        out = xcrop.crop_and_resize(IMAGE, BOXES, INDICES, (2, 2), method="nearest")
        assert calls == ["nearest"] and np.all(out == 7.0)
        xcrop.crop_and_resize(IMAGE, BOXES, INDICES, (2, 2))  # predicate declines
        assert calls == ["nearest"]
        with xcrop.use_generic():
            xcrop.crop_and_resize(IMAGE, BOXES, INDICES, (2, 2), method="nearest")
        assert calls == ["nearest"]
    finally:
        xcrop.unregister_fast_path(handle)
    assert xcrop.which_path("crop_and_resize", IMAGE, BOXES, INDICES, (2, 2),
                            method="nearest") != "my nearest path"


def test_register_rejects_unknown_operation() -> None:
    with pytest.raises(ValueError):
        xcrop.register_fast_path("resize", "numpy", lambda a: None)


def test_import_xcrop_imports_no_array_library() -> None:
    code = (
        "import sys, xcrop\n"
        "xcrop.which_path  # touch the API\n"
        "bad = [m for m in ('numpy', 'torch', 'jax', 'cupy', 'array_api_strict', 'numba')"
        " if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "", f"import xcrop imported {out.stdout.strip()}"


# A smoke test on the backends whose fast paths use xcrop's thread pool.
@pytest.mark.parametrize("backend", backend_params(only=("numpy", "torch")), indirect=True)
def test_threads_match_serial(backend: Backend) -> None:
    rng = np.random.default_rng(11)
    jobs = []
    for k in range(8):
        image = rng.standard_normal((2, 16, 13, 2)).astype(np.float32)
        boxes = rng.uniform(-0.2, 1.2, (20, 4)).astype(np.float32)
        idx = rng.integers(0, 2, 20).astype(np.int32)
        jobs.append((image, boxes, idx, (3 + k, 4), k % 2 == 1))
    conv = backend.asarray

    def run(job):
        image, boxes, idx, size, generic = job
        ctx = xcrop.use_generic() if generic else _null()
        with ctx:
            return backend.to_numpy(xcrop.crop_and_resize(conv(image), conv(boxes), conv(idx),
                                                          size))

    serial = [run(j) for j in jobs]
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            for _ in range(3):
                results[i] = run(jobs[i])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for i, expected in enumerate(serial):
        assert np.array_equal(_bits(results[i]), _bits(expected))


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_use_generic_is_per_thread() -> None:
    seen: list[str] = []
    inside = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with xcrop.use_generic():
            inside.set()
            release.wait(5)

    t = threading.Thread(target=holder)
    t.start()
    inside.wait(5)
    seen.append(xcrop.which_path("crop_and_resize", IMAGE, BOXES, INDICES, (2, 2)))
    release.set()
    t.join()
    assert seen[0] != GENERIC


@pytest.mark.parametrize("tiny", [1e-40, 2.0**-126, 1e-30, 1e-12])
@pytest.mark.parametrize("numba_off", [False, True])
def test_subnormal_sensitive_inputs_stay_exact(
    tiny: float, numba_off: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if numba_off:
        monkeypatch.setenv("XCROP_NO_NUMBA", "1")
    image = (RNG.standard_normal((1, 6, 7, 2)) * tiny).astype(np.float32)
    image[0, 2, 3, 0] = np.float32(1e-45)  # a subnormal pixel
    boxes = np.array([[0.0, 0.0, 1.0, 1.0], [1e-30, 0.1, 0.77, 0.93]], dtype=np.float32)
    idx = np.zeros(2, dtype=np.int32)
    with xcrop.use_generic():
        expected = xcrop.crop_and_resize(image, boxes, idx, (9, 5))
    got = xcrop.crop_and_resize(image, boxes, idx, (9, 5))
    assert np.array_equal(_bits(got), _bits(expected))
    if numba_off:
        # The unflushed array path declines these inputs.
        assert xcrop.which_path("crop_and_resize", image, boxes, idx, (9, 5)) == GENERIC


def test_torch_requires_grad_is_not_served_by_the_fast_path() -> None:
    torch = pytest.importorskip("torch")
    image = torch.from_numpy(IMAGE.copy()).requires_grad_(True)
    assert xcrop.which_path("crop_and_resize", image, torch.from_numpy(BOXES),
                            torch.from_numpy(INDICES), (2, 2)) == GENERIC
    with torch.no_grad():
        assert xcrop.which_path("crop_and_resize", image, torch.from_numpy(BOXES),
                                torch.from_numpy(INDICES), (2, 2)) != GENERIC


def test_generic_chunks_give_the_same_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    boxes = RNG.uniform(-0.3, 1.3, (37, 4)).astype(np.float32)
    idx = RNG.integers(0, 2, 37).astype(np.int32)
    with xcrop.use_generic():
        whole = xcrop.crop_and_resize(IMAGE, boxes, idx, (4, 6))
        monkeypatch.setattr(generic_path, "GENERIC_CHUNK_BYTES", 4 * 6 * 3 * 4 * 5)
        chunked = xcrop.crop_and_resize(IMAGE, boxes, idx, (4, 6))
    assert np.array_equal(_bits(whole), _bits(chunked))


def test_output_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from xcrop._core import config as _config

    monkeypatch.setattr(_config, "_setting", _config._UNSET)  # restored after the test
    xcrop.set_max_output_bytes(1000)
    with pytest.raises(xcrop.OutputTooLargeError, match="limit"):
        xcrop.crop_and_resize(IMAGE, BOXES, INDICES, (10, 10))
    with pytest.raises(MemoryError):
        xcrop.extract_glimpse(IMAGE, (20, 20), np.zeros((2, 2), np.float32))
    xcrop.crop_and_resize(IMAGE, BOXES, INDICES, (2, 2))  # 144 bytes: fine
    xcrop.set_max_output_bytes(None)
    xcrop.crop_and_resize(IMAGE, BOXES, INDICES, (10, 10))
    # The environment variable, when nothing is set in code.
    monkeypatch.setattr(_config, "_setting", _config._UNSET)
    monkeypatch.setenv("XCROP_MAX_OUTPUT_BYTES", "100")
    with pytest.raises(xcrop.OutputTooLargeError, match="XCROP_MAX_OUTPUT_BYTES"):
        xcrop.crop_and_resize(IMAGE, BOXES, INDICES, (10, 10))
    monkeypatch.setenv("XCROP_MAX_OUTPUT_BYTES", "none")
    xcrop.crop_and_resize(IMAGE, BOXES, INDICES, (10, 10))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("where", [None, 0, 4095, 4096, 9000, 10_239])
def test_numba_any_tiny_finds_a_tiny_value_in_any_block(dtype: Any, where: int | None) -> None:
    # The scan is vectorized in blocks of 4096: the value may sit in any block, at a block
    # boundary or in the partial last block. Zeros, NaNs and infinities are never "tiny".
    from xcrop._backends.numba import drivers
    from xcrop._backends.numba.loader import available

    if not available():
        pytest.skip("numba not installed (or XCROP_NO_NUMBA set)")
    flat = np.ones(10_240, dtype)
    flat[1::7] = 0.0
    flat[3::11] = np.nan
    flat[5::13] = -np.inf
    flat[100] = 2.0**-60  # exactly the threshold: not below it
    if where is not None:
        flat[where] = -(2.0**-61)
    assert drivers.any_tiny(flat, 2.0**-60) is (where is not None)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [1, 63, 64, 65, 1000])
def test_numba_smallest_magnitude_decides_as_any_tiny(dtype: Any, size: int) -> None:
    # The XLA FFI crop handlers decide their flushes by smallest_magnitude(pixels) < 2**e,
    # once per call; the eager path by any_tiny(pixels, 2**e). Both must agree for every
    # e, around the accumulators' width (64), with zeros, NaNs, infinities, subnormals.
    from xcrop._backends.numba import drivers
    from xcrop._backends.numba.loader import available

    if not available():
        pytest.skip("numba not installed (or XCROP_NO_NUMBA set)")
    from xcrop._backends.numba import crop

    rng = np.random.default_rng(size)
    flat = (rng.standard_normal(size) * 2.0 ** rng.integers(-160, 10, size)).astype(dtype)
    flat[3::5] = 0.0
    flat[4::9] = np.nan
    flat[6::11] = -np.inf
    smallest = crop.smallest_magnitude(flat)
    magnitudes = np.abs(flat[(flat != 0) & ~np.isnan(flat)])
    assert smallest == (magnitudes.min() if magnitudes.size else np.inf)
    for e in range(-160, 12):
        assert drivers.any_tiny(flat, 2.0**e) is bool(smallest < 2.0**e), e


def test_unavailable_path_hands_the_call_to_the_next_one() -> None:
    # A path that finds out only while running that it cannot serve (a GPU module that
    # fails to build) raises PathUnavailable: dispatch tries the next path, then generic.
    from xcrop._core.errors import PathUnavailable

    calls = []

    def unavailable(args):
        calls.append("unavailable")
        raise PathUnavailable

    image = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    handle = xcrop.register_fast_path("crop_and_resize", "numpy", unavailable, priority=100)
    try:
        out = xcrop.crop_and_resize(image, [[0, 0, 1, 1]], [0], (3, 3))
    finally:
        xcrop.unregister_fast_path(handle)
    with xcrop.use_generic():
        ref = xcrop.crop_and_resize(image, [[0, 0, 1, 1]], [0], (3, 3))
    assert calls == ["unavailable"]
    np.testing.assert_array_equal(out, ref)
