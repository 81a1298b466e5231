"""The gradient CUDA kernels (``cuda/gradients.cu``), checked without a GPU.

(a) nvcc compiles them (inside the module NVRTC gets, and ``gradients.cu`` alone) and their
    PTX holds no fused multiply-add (float32 or float64) even with nvcc's default
    ``--fmad=true`` and CuPy's ``-ftz=true``.
(b) The same source, compiled as host C++ behind ``tests/_cuda_host_shim.h``, runs on NumPy
    buffers through ctypes (see ``_cuda_host.py``). The public gradient functions are
    served through xcrop's registry by the launch glue of
    ``xcrop._backends.cuda.gradients``, so every paired case of the recorded TF gradient
    suites (grad_edge, grad_dtypes, grad_random) runs validation -> glue -> kernel and
    must equal TF's bits and the generic path's bits; each with the SSE FTZ/DAZ bits off
    and on (CuPy compiles with -ftz=true). Random inputs (every dtype, flipped and
    outside boxes, crops larger than the image, subnormal gradients) are compared with the
    generic path, and small ones with a literal transliteration of TF's loop.

What this cannot check: real GPU scheduling, NVRTC, CuPy/DLPack/stream plumbing (the
GPU tests at the end skip with their reason here).
"""

from __future__ import annotations

import ctypes
import importlib.util
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import array_api_compat.numpy as npx
import numpy as np
import pytest

import xcrop
from _cuda_host import (
    ALL_KERNELS,
    FUSED,
    GRADIENT_KERNELS,
    HostKernels,
    build_host_kernels,
    compile_ptx,
    ptx_entries,
    require_nvcc,
    run,
)
from _gpu import needs_gpu, needs_torch_cuda
from xcrop import crop_and_resize_grad_boxes, crop_and_resize_grad_image
from xcrop._backends.cuda import gradients as cuda_gradients
from xcrop._backends.cuda import paths as cupy_paths
from xcrop._core.coordinates import sample_coordinates
from xcrop._core.validation import validate_grad_boxes, validate_grad_image
from xcrop._dispatch.registry import register_fast_path, unregister_fast_path
from xcrop.conformance import load_suite
from xcrop.conformance._runner import judge_exact

SUITES = ("grad_edge", "grad_dtypes", "grad_random")
GRAD_IMAGE, GRAD_BOXES = "crop_and_resize_grad_image", "crop_and_resize_grad_boxes"
IMAGE_CASES = [c for s in SUITES for c in load_suite(s) if c.op == GRAD_IMAGE]
BOX_CASES = [c for s in SUITES for c in load_suite(s) if c.op == GRAD_BOXES]
# NaN patterns the kernels never write (they write sign | 0x7E00 for a float16 NaN):
# any element still holding one was not written.
SENTINELS = {"float16": np.uint16(0x7D5B), "float32": np.uint32(0x7FA1B2C3),
             "float64": np.uint64(0x7FF4A1B2C3D4E5F6)}
DTYPES = ["uint8", "int8", "uint16", "int16", "int32", "int64", "float16", "float32",
          "float64"]
FLT_MIN = np.float32(2.0**-126)

# float32 -> float16 bits, exported for the conversion test only.
F16_WRAPPER = """
extern "C" void xcrop_test_f32_to_f16(const float* in, unsigned short* out, long long n) {
    for (long long k = 0; k < n; ++k) out[k] = xcrop_f32_to_f16(in[k]);
}
"""


# ----------------------------------------------------------------------------------------
# (a) nvcc
# ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nvcc_ptx(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return ptx_entries(compile_ptx(tmp_path_factory.mktemp("nvcc_grad")))


def test_ptx_has_every_gradient_kernel(nvcc_ptx: dict[str, str]) -> None:
    assert sorted(nvcc_ptx) == ALL_KERNELS
    assert set(GRADIENT_KERNELS) <= set(nvcc_ptx)
    assert "gradients.cu" in cupy_paths.SOURCES


def test_gradient_ptx_has_no_fma(nvcc_ptx: dict[str, str]) -> None:
    for name in GRADIENT_KERNELS:
        assert FUSED.findall(nvcc_ptx[name]) == [], name
    # The products and sums really are separately rounded instructions: float32 products
    # (bilinear weights, box terms), float32 accumulation (float16/32 images, box sums) and
    # float64 accumulation (float64 images; box sums with a crop size of 1).
    for name in GRADIENT_KERNELS:
        ops = set(re.findall(r"\b((?:add|mul)\.rn\.(?:ftz\.)?f(?:32|64))\b", nvcc_ptx[name]))
        ops = {op.replace(".ftz", "") for op in ops}
        want = {"add.rn.f64"} if name.endswith("_float64") and "image" in name else set()
        if "nearest" not in name:
            want.add("mul.rn.f32")
        if "boxes" in name:
            want |= {"add.rn.f32", "add.rn.f64", "mul.rn.f64"}
        elif not name.endswith("_float64"):
            want.add("add.rn.f32")
        assert want <= ops, (name, sorted(ops))


def test_gradients_cu_compiles_alone(tmp_path: Path) -> None:
    # gradients.cu needs nothing but common.cuh (no helper of the forward files).
    nvcc = require_nvcc()
    run([nvcc, "-arch=compute_75", "--ptx", "-ftz=true", "-std=c++14",
         f"-I{cupy_paths.CUDA_DIR}", str(cupy_paths.CUDA_DIR / "gradients.cu"),
         "-o", "alone.ptx"], tmp_path)
    entries = ptx_entries((tmp_path / "alone.ptx").read_text())
    assert sorted(entries) == GRADIENT_KERNELS


# ----------------------------------------------------------------------------------------
# (b) the kernels as host C++
# ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> HostKernels:
    return build_host_kernels(tmp_path_factory.mktemp("cuda_host_grad"), extra=F16_WRAPPER)


@pytest.fixture(params=["ieee", "ftz"])
def kernels(request: pytest.FixtureRequest, host: HostKernels) -> Iterator[HostKernels]:
    """The host kernels with the FTZ/DAZ bits off ("ieee") or on ("ftz", as CuPy builds)."""
    host.ftz = request.param == "ftz"
    host.launches.clear()
    try:
        yield host
    finally:
        host.ftz = False


def _sentinel(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    bits = SENTINELS[dtype]
    return np.full(shape, bits, dtype=bits.dtype).view(dtype)


def _check_written(out: np.ndarray) -> np.ndarray:
    bits = SENTINELS[str(out.dtype)]
    unwritten = int(np.count_nonzero(out.view(bits.dtype) == bits))
    assert unwritten == 0, f"{unwritten} output elements were never written"
    return out


@contextmanager
def served_by(host: HostKernels) -> Iterator[None]:
    """Serve xcrop's NumPy gradient calls by the launch glue and the host-compiled kernels
    (registry priority above every built-in path)."""

    def image_gradient(args: Any) -> np.ndarray:
        out = _sentinel(tuple(args.image_shape), np.dtype(args.dtype).name)
        return _check_written(cuda_gradients.run_grad_image(args, np, host.launch, out=out))

    def box_gradient(args: Any) -> np.ndarray:
        out = _sentinel((args.grads.shape[0], 4), "float32")
        return _check_written(cuda_gradients.run_grad_boxes(args, np, host.launch, out=out))

    handles = [
        register_fast_path("crop_and_resize_grad_image", "numpy", image_gradient,
                           name="host CUDA kernel", priority=100),
        register_fast_path("crop_and_resize_grad_boxes", "numpy", box_gradient,
                           name="host CUDA kernel", priority=100),
    ]
    try:
        yield
    finally:
        for h in handles:
            unregister_fast_path(h)


def _assert_bits(got: np.ndarray, want: np.ndarray, what: str = "") -> None:
    ok, _, message = judge_exact(np.asarray(got), np.asarray(want))
    assert ok, f"{what}: {message}"


def _grad_image(case: Any) -> np.ndarray:
    p = case.params
    return np.asarray(crop_and_resize_grad_image(
        case.inputs["grads"], case.inputs["boxes"], case.inputs["box_indices"],
        p["image_shape"], method=p["method"], dtype=p["T"]))


def _grad_boxes(case: Any) -> np.ndarray:
    i = case.inputs
    return np.asarray(crop_and_resize_grad_boxes(i["grads"], i["image"], i["boxes"],
                                                 i["box_indices"]))


def _run_fixtures(kernels: HostKernels, cases: list, call: Callable[[Any], np.ndarray]) -> int:
    failures = []
    for case in cases:
        with xcrop.use_generic():
            generic = call(case)
        with served_by(kernels):
            got = call(case)
        for ref, who in ((case.expected, "TF"), (generic, "generic")):
            ok, _, message = judge_exact(got, ref)
            if not ok:
                failures.append(f"{case.key} vs {who}: {message}")
    assert not failures, f"{len(failures)} mismatches:\n" + "\n".join(failures[:20])
    return len(cases)


def test_image_gradient_fixtures_bit_exact(kernels: HostKernels) -> None:
    assert len(IMAGE_CASES) >= 200
    assert _run_fixtures(kernels, IMAGE_CASES, _grad_image) == len(IMAGE_CASES)
    # Every image-gradient kernel ran; one launch per case with a non-empty image.
    assert {n for n in kernels.launches} == {k for k in GRADIENT_KERNELS if "image" in k}
    assert len(kernels.launches) == sum(c.expected.size > 0 for c in IMAGE_CASES)


def test_box_gradient_fixtures_bit_exact(kernels: HostKernels) -> None:
    assert len(BOX_CASES) >= 200
    assert _run_fixtures(kernels, BOX_CASES, _grad_boxes) == len(BOX_CASES)
    assert {n for n in kernels.launches} == {k for k in GRADIENT_KERNELS if "boxes" in k}
    assert len(kernels.launches) == sum(c.expected.shape[0] > 0 for c in BOX_CASES)


# ------------------------------------------------------------------ random inputs vs generic


def _random_boxes(rng: np.random.Generator, n: int, lo: float, hi: float) -> np.ndarray:
    boxes = rng.uniform(lo, hi, size=(n, 4)).astype(np.float32)
    # Some on exact pixel centres (samples with floor == ceil), some points, some flipped.
    boxes[0] = [0.0, 0.0, 1.0, 1.0]
    boxes[1] = [1.0, 1.0, 0.0, 0.0]
    boxes[2] = [0.5, 0.25, 0.5, 0.25]
    return boxes


def _image_case(seed: int, method: str, dtype: str, crop: tuple[int, int],
                lo: float = -0.4, hi: float = 1.4, scale: float = 1.0) -> dict:
    rng = np.random.default_rng(seed)
    batch, height, width, depth = 3, int(rng.integers(1, 7)), int(rng.integers(1, 7)), 2
    n = 11
    grads = (rng.standard_normal((n, *crop, depth)) * scale).astype(np.float32)
    return {"grads": grads, "boxes": _random_boxes(rng, n, lo, hi),
            "box_indices": rng.integers(0, batch, size=n).astype(np.int32),
            "image_shape": (batch, height, width, depth), "method": method, "dtype": dtype}


def _image_call(c: dict) -> np.ndarray:
    return np.asarray(crop_and_resize_grad_image(c["grads"], c["boxes"], c["box_indices"],
                                                 c["image_shape"], c["method"], c["dtype"]))


def _kernel_and_generic(kernels: HostKernels, call: Callable[[dict], np.ndarray],
                        case: dict) -> tuple[np.ndarray, np.ndarray]:
    with served_by(kernels):
        got = call(case)
    with xcrop.use_generic():
        ref = call(case)
    return got, ref


CROPS = [(1, 1), (1, 4), (5, 1), (3, 4), (9, 13), (17, 6)]


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("method", ["bilinear", "nearest"])
def test_image_gradient_matches_generic_on_random_inputs(kernels: HostKernels, method: str,
                                                         dtype: str) -> None:
    for k, crop in enumerate(CROPS):
        case = _image_case(100 * k + len(dtype), method, dtype, crop)
        got, ref = _kernel_and_generic(kernels, _image_call, case)
        _assert_bits(got, ref, f"crop {crop}")
    assert kernels.launches == [f"xcrop_grad_image_{method}_{dtype}"] * len(CROPS)


@pytest.mark.parametrize("method", ["bilinear", "nearest"])
def test_image_gradient_flushes_like_tf(kernels: HostKernels, method: str) -> None:
    # Upstream values around FLT_MIN (subnormal ones among them): products and partial sums
    # land in the subnormal range and are flushed, with the hardware FTZ bits off and on.
    # Boxes inside the image: the generic path's +0 for extrapolated samples (see the -0
    # test below) cannot show here.
    for seed in range(4):
        case = _image_case(seed, method, "float32", (7, 9), lo=0.0, hi=1.0)
        rng = np.random.default_rng(seed)
        tiny = rng.uniform(-4.0, 4.0, case["grads"].shape) * FLT_MIN
        case["grads"] = tiny.astype(np.float32)
        case["grads"].flat[::7] = np.float32(3e-39) * np.sign(case["grads"].flat[::7])
        got, ref = _kernel_and_generic(kernels, _image_call, case)
        _assert_bits(got, ref, f"seed {seed}")
        assert np.count_nonzero(got) > 0


def _box_case(seed: int, dtype: str, crop: tuple[int, int]) -> dict:
    rng = np.random.default_rng(seed)
    shape = (2, int(rng.integers(1, 8)), int(rng.integers(1, 8)), 3)
    if dtype.startswith(("int", "uint")):
        info = np.iinfo(dtype)
        image = rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    else:
        image = (rng.standard_normal(shape) * 50).astype(dtype)
    n = 9
    return {"grads": rng.standard_normal((n, *crop, 3)).astype(np.float32), "image": image,
            "boxes": _random_boxes(rng, n, -0.3, 1.3),
            "box_indices": rng.integers(0, 2, size=n).astype(np.int64)}


def _box_call(c: dict) -> np.ndarray:
    return np.asarray(crop_and_resize_grad_boxes(c["grads"], c["image"], c["boxes"],
                                                 c["box_indices"]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_box_gradient_matches_generic_on_random_inputs(kernels: HostKernels, dtype: str) -> None:
    for k, crop in enumerate(CROPS):
        case = _box_case(10 * k + DTYPES.index(dtype), dtype, crop)
        got, ref = _kernel_and_generic(kernels, _box_call, case)
        _assert_bits(got, ref, f"crop {crop}")
    assert kernels.launches == [f"xcrop_grad_boxes_{dtype}"] * len(CROPS)


def test_box_gradient_special_values(kernels: HostKernels) -> None:
    # Subnormal and near-FLT_MIN pixels, upstream values and box edges; inf and NaN pixels.
    rng = np.random.default_rng(3)
    image = (rng.uniform(-3.0, 3.0, (1, 5, 6, 2)) * FLT_MIN).astype(np.float32)
    image[0, ::2, 1::2, :] = np.float32(1e-39) * rng.choice([-1, 1, 3, 7], (3, 3, 2))
    image[0, 4, 5, 1] = np.inf
    image[0, 2, 2, 0] = np.nan
    for crop in [(4, 5), (1, 5), (4, 1), (1, 1)]:
        case = {"grads": (rng.uniform(-3.0, 3.0, (4, *crop, 2)) * 1e3).astype(np.float32),
                "image": image,
                "boxes": np.array([[1e-39, 0.0, 1.0, 1.0], [0.1, 0.2, 0.9, 0.7],
                                   [0.7, 0.9, 0.1, -2e-39], [0.0, 0.3, 0.0, 0.3]],
                                  dtype=np.float32),
                "box_indices": np.zeros(4, np.int32)}
        got, ref = _kernel_and_generic(kernels, _box_call, case)
        _assert_bits(got, ref, f"crop {crop}")


# ------------------------------------------------------------ TF's loop, transliterated


def _ftz(v: np.float32) -> np.float32:
    return np.float32(np.copysign(0.0, v)) if abs(v) < FLT_MIN else v


def _tf_samples(coords: np.ndarray, size: int) -> Iterator[tuple[int, Any, int, int, Any]]:
    """``(k, c, floor(c), ceil(c), lerp)`` of the samples of one axis in order, extrapolated
    ones skipped (TF's loop does the same on both axes)."""
    for k, c in enumerate(coords):
        if c < 0 or c > size - 1:
            continue
        low = int(np.floor(c))
        yield k, c, low, int(np.ceil(c)), np.float32(c - np.float32(low))


def tf_image_gradient_loop(grads: np.ndarray, boxes: np.ndarray, box_indices: np.ndarray,
                           image_shape: tuple[int, int, int, int], method: str,
                           dtype: str) -> np.ndarray:
    """TF's CropAndResizeBackpropImage CPU loop, literally (scatter order, extrapolated
    samples skipped), on float32 scalars with TF's flush-to-zero."""
    _, height, width, depth = image_shape
    n, ch, cw, _ = grads.shape
    in_y = sample_coordinates(npx, boxes[:, 0:1], boxes[:, 2:3], height, ch, None)
    in_x = sample_coordinates(npx, boxes[:, 1:2], boxes[:, 3:4], width, cw, None)
    out = np.zeros(image_shape, dtype)
    one = np.float32(1.0)

    def add(b: int, y: int, x: int, d: int, v: np.float32) -> None:
        if dtype == "float32":
            out[b, y, x, d] = _ftz(out[b, y, x, d] + v)
        elif dtype == "float16":
            out[b, y, x, d] = np.float16(np.float32(out[b, y, x, d]) + np.float32(np.float16(v)))
        else:
            out[b, y, x, d] = out[b, y, x, d] + np.float64(v)

    with np.errstate(all="ignore"):
        for i in range(n):
            b = int(box_indices[i])
            for r, cy, top, bottom, y_lerp in _tf_samples(in_y[i], height):
                for c, cx, left, right, x_lerp in _tf_samples(in_x[i], width):
                    for d in range(depth):
                        g = _ftz(grads[i, r, c, d])
                        if method == "nearest":
                            ny = top + int(cy - np.float32(top) >= 0.5)
                            nx = left + int(cx - np.float32(left) >= 0.5)
                            add(b, ny, nx, d, g)
                            continue
                        dtop = _ftz(_ftz(one - y_lerp) * g)
                        x_left = _ftz(one - x_lerp)
                        add(b, top, left, d, _ftz(x_left * dtop))
                        add(b, top, right, d, _ftz(x_lerp * dtop))
                        dbottom = _ftz(y_lerp * g)
                        add(b, bottom, left, d, _ftz(x_left * dbottom))
                        add(b, bottom, right, d, _ftz(x_lerp * dbottom))
    return out


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("method", ["bilinear", "nearest"])
def test_image_gradient_matches_tf_loop(kernels: HostKernels, method: str, dtype: str) -> None:
    # An independent reference of different structure (TF's scatter loop): checks the
    # kernel's per-element decomposition, window search and corner order.
    for k, crop in enumerate([(1, 3), (4, 1), (5, 7), (11, 9)]):
        case = _image_case(7 * k + 1, method, dtype, crop)
        with served_by(kernels):
            got = _image_call(case)
        want = tf_image_gradient_loop(case["grads"], case["boxes"], case["box_indices"],
                                      case["image_shape"], method, dtype)
        _assert_bits(got, want, f"crop {crop}")


@pytest.mark.parametrize("method", ["bilinear", "nearest"])
def test_extrapolated_sample_keeps_a_flushed_negative_zero(kernels: HostKernels,
                                                           method: str) -> None:
    # Pixel (0, 0) gets 1.5e-38 then -2e-38: the sum, -5e-39, is flushed to -0.0 (TF's
    # FTZ). A third box samples outside the image, at a coordinate clamped onto (0, 0): TF
    # skips it and keeps -0.0, and so does the kernel. (xcrop's generic path adds +0.0 for
    # extrapolated samples at their clamped pixel, which turns this -0.0 into +0.0.)
    grads = np.array([1.5e-38, -2e-38, 5.0], np.float32).reshape(3, 1, 1, 1)
    boxes = np.array([[0, 0, 0, 0], [0, 0, 0, 0], [-1, -1, -1, -1]], np.float32)
    idx = np.zeros(3, np.int32)
    with served_by(kernels):
        got = np.asarray(crop_and_resize_grad_image(grads, boxes, idx, (1, 3, 3, 1), method))
    want = tf_image_gradient_loop(grads, boxes, idx, (1, 3, 3, 1), method, "float32")
    assert np.signbit(want[0, 0, 0, 0]) and want[0, 0, 0, 0] == 0
    _assert_bits(got, want)


# -------------------------------------------------------------------------- float16 bits


def test_float32_to_float16_rounding(host: HostKernels) -> None:
    # Every half, every midpoint between neighbouring halves and its float32 neighbours,
    # float32 subnormals, the overflow boundary and random bit patterns, against NumPy's
    # round-to-nearest-even cast; NaN becomes the quiet NaN sign | 0x7E00 (Eigen's).
    halves = np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    finite = np.sort(halves[np.isfinite(halves)].astype(np.float32))
    finite = np.unique(finite)
    mids = (finite[:-1].astype(np.float64) + finite[1:]) / 2  # exact in float32
    mids = mids.astype(np.float32)
    near = [np.nextafter(mids, np.float32(np.inf)), np.nextafter(mids, np.float32(-np.inf))]
    special = np.array([65504, 65519.996, 65520, 65536, 1e10, 2.0**-24, 2.0**-25,
                        2.0**-25 * 1.0000001, 2.0**-26, 1e-39, 1e-45, 0.0, np.inf],
                       np.float32)
    rng = np.random.default_rng(0)
    random_bits = rng.integers(0, 2**32, size=2**20, dtype=np.uint64).astype(np.uint32)
    values = np.concatenate([halves.astype(np.float32), mids, *near, special, -special,
                             random_bits.view(np.float32)])
    out = np.empty(values.shape, np.uint16)
    fn = host.lib.xcrop_test_f32_to_f16
    fn.restype = None
    fn(ctypes.c_void_p(values.ctypes.data), ctypes.c_void_p(out.ctypes.data),
       ctypes.c_longlong(values.size))
    with np.errstate(all="ignore"):
        want = values.astype(np.float16).view(np.uint16)
    nan = np.isnan(values)
    want = np.where(nan, (want & 0x8000) | 0x7E00, want).astype(np.uint16)
    bad = np.flatnonzero(out != want)
    assert bad.size == 0, (f"{bad.size} differ, e.g. {values[bad[0]]!r}: "
                           f"{out[bad[0]]:#06x} != {want[bad[0]]:#06x}")


# ------------------------------------------------------------------------- glue, no GPU


def _image_args(grads: Any, boxes: Any, idx: Any, shape: tuple[int, ...], method: str,
                dtype: Any) -> Any:
    return validate_grad_image(grads, boxes, idx, shape, method, dtype)


def test_glue_arguments_match_the_kernel_signatures(host: HostKernels) -> None:
    # Every kernel call the glue can build, checked against the C parameters (HostKernels
    # asserts the count, order and types of the arguments at launch).
    grads = np.ones((2, 3, 4, 2), np.float32)
    boxes = np.array([[0.1, 0.2, 0.9, 0.8], [0.0, 0.0, 1.0, 1.0]], np.float32)
    idx = np.array([0, 1], np.int32)
    for method in ("bilinear", "nearest"):
        for dtype in ("float16", "float32", "float64"):
            args = _image_args(grads, boxes, idx, (2, 5, 6, 2), method, dtype)
            out = cuda_gradients.run_grad_image(args, np, host.launch)
            assert out.dtype == dtype and out.shape == (2, 5, 6, 2)
    for dtype in DTYPES:
        image = np.ones((2, 5, 6, 2), dtype)
        args = validate_grad_boxes(grads, image, boxes, idx)
        out = cuda_gradients.run_grad_boxes(args, np, host.launch)
        assert out.dtype == np.float32 and out.shape == (2, 4)
    assert sorted(set(host.launches)) == GRADIENT_KERNELS
    host.launches.clear()


def test_glue_launches_only_for_non_empty_outputs() -> None:
    calls: list[Any] = []
    grads = np.zeros((0, 2, 2, 3), np.float32)
    no_boxes = np.zeros((0, 4), np.float32)
    args = _image_args(grads, no_boxes, np.zeros(0, np.int32), (2, 3, 3, 3), "bilinear",
                       "float32")
    out = cuda_gradients.run_grad_image(args, np, calls.append)
    assert out.shape == (2, 3, 3, 3) and len(calls) == 1  # zero boxes: the kernel zero-fills
    args = _image_args(np.zeros((1, 2, 2, 0), np.float32), [[0, 0, 1, 1]], [0], (1, 3, 3, 0),
                       "nearest", "float16")
    out = cuda_gradients.run_grad_image(args, np, calls.append)
    assert out.shape == (1, 3, 3, 0) and out.dtype == np.float16 and len(calls) == 1
    args = validate_grad_boxes(grads, np.zeros((1, 3, 3, 3), np.uint8), no_boxes,
                               np.zeros(0, np.int32))
    out = cuda_gradients.run_grad_boxes(args, np, calls.append)
    assert out.shape == (0, 4) and len(calls) == 1


def test_glue_declines_what_it_cannot_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    grads = np.ones((1, 2, 2, 1), np.float32)
    args = _image_args(grads, [[0, 0, 1, 1]], [0], (1, 2, 2, 1), "bilinear", "float32")
    with pytest.raises(TypeError):
        cuda_gradients.grad_image_call(args, np, np.empty((1, 2, 2, 1), np.int32))
    # The registered paths: none takes NumPy arrays or CPU tensors; none with the switch.
    paths = {(p["backend"], p["operation"]): p for p in cuda_gradients.paths()}
    assert set(paths) == {(lib, op) for lib in ("cupy", "torch") for op in
                          ("crop_and_resize_grad_image", "crop_and_resize_grad_boxes")}
    image_ok = paths["cupy", "crop_and_resize_grad_image"]["predicate"]
    assert not image_ok(args)
    if importlib.util.find_spec("torch") is not None:
        import torch

        t = torch.ones(1, 2, 2, 1)
        targs = _image_args(t, torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([0]),
                            (1, 2, 2, 1), "bilinear", torch.float32)
        assert not paths["torch", "crop_and_resize_grad_image"]["predicate"](targs)
    monkeypatch.setenv("XCROP_NO_CUDA_KERNEL", "1")
    assert all(not p["predicate"](args) for p in paths.values()
               if p["operation"] == "crop_and_resize_grad_image")


# ------------------------------------------------------------------------------ on a GPU


def _coordinates(case: Any) -> tuple[np.ndarray, np.ndarray]:
    boxes = case.inputs["boxes"].reshape(-1, 4)
    _, height, width, _ = case.params["image_shape"]
    _, ch, cw, _ = case.inputs["grads"].shape
    return (sample_coordinates(npx, boxes[:, 0:1], boxes[:, 2:3], height, ch, None),
            sample_coordinates(npx, boxes[:, 1:2], boxes[:, 3:4], width, cw, None))


def _on(convert: Callable[[np.ndarray], Any], case: Any) -> dict[str, Any]:
    return {k: convert(v) for k, v in case.inputs.items()}


@needs_gpu
def test_cupy_gradients_bit_exact_on_gpu() -> None:
    import cupy

    for case in IMAGE_CASES:
        i, p = _on(cupy.asarray, case), case.params
        args = (i["grads"], i["boxes"], i["box_indices"], tuple(p["image_shape"]))
        kw = dict(method=p["method"], dtype=p["T"])
        out = crop_and_resize_grad_image(*args, **kw)
        _assert_bits(cupy.asnumpy(out), case.expected, case.key)
    for case in BOX_CASES:
        i = _on(cupy.asarray, case)
        out = crop_and_resize_grad_boxes(i["grads"], i["image"], i["boxes"], i["box_indices"])
        _assert_bits(cupy.asnumpy(out), case.expected, case.key)


@needs_gpu
def test_cupy_gradients_deterministic_with_overlapping_boxes() -> None:
    import cupy

    rng = np.random.default_rng(7)
    grads = rng.standard_normal((400, 9, 8, 64)).astype(np.float32)
    boxes = np.tile(np.array([[0.1, 0.1, 0.9, 0.9]], np.float32), (400, 1))
    boxes += rng.uniform(-0.05, 0.05, boxes.shape).astype(np.float32)
    idx = np.zeros(400, np.int32)
    image = rng.standard_normal((1, 20, 30, 64)).astype(np.float32)
    g, b, i, im = (cupy.asarray(a) for a in (grads, boxes, idx, image))
    runs = [(crop_and_resize_grad_image(g, b, i, (1, 20, 30, 64)).tobytes(),
             crop_and_resize_grad_boxes(g, im, b, i).tobytes()) for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]
    with xcrop.use_generic():
        ref = crop_and_resize_grad_image(grads, boxes, idx, (1, 20, 30, 64))
    assert runs[0][0] == np.asarray(ref).tobytes()


@needs_torch_cuda
def test_torch_cuda_gradients_bit_exact_on_gpu() -> None:
    import torch

    def cuda(a: np.ndarray) -> Any:
        return torch.from_numpy(a).cuda()

    for case in IMAGE_CASES:
        i, p = _on(cuda, case), case.params
        out = crop_and_resize_grad_image(i["grads"], i["boxes"], i["box_indices"],
                                         tuple(p["image_shape"]), method=p["method"],
                                         dtype=getattr(torch, p["T"]))
        _assert_bits(out.cpu().numpy(), case.expected, case.key)
    for case in BOX_CASES:
        if str(case.inputs["image"].dtype) == "uint16":
            continue  # torch's uint16 is not shared through DLPack: the path declines
        i = _on(cuda, case)
        out = crop_and_resize_grad_boxes(i["grads"], i["image"], i["boxes"], i["box_indices"])
        _assert_bits(out.cpu().numpy(), case.expected, case.key)
