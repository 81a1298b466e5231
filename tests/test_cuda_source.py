"""xcrop's CUDA kernels, checked without a GPU.

(a) The kernel source (exactly the text CuPy hands to NVRTC) compiles with ``nvcc`` to PTX
    and to SASS, and its PTX holds no fused multiply-add on float32 even when compiled
    with nvcc's default ``--fmad=true`` and CuPy's ``-ftz=true``: the intrinsics alone
    keep TF's rounding order.
(b) The same source, compiled as host C++ behind ``tests/_cuda_host_shim.h`` (g++ -O2
    -ffp-contract=off -fno-fast-math, SSE arithmetic), runs on NumPy buffers through
    ctypes. The kernel calls are built by ``xcrop._backends.cuda.paths`` itself (argument
    order and types checked against the preprocessed C signatures) and served through
    xcrop's registry, so every recorded TensorFlow crop and glimpse forward case runs
    the validation -> registry -> launch glue -> kernel chain and must match TF bit for
    bit; the seeded fills must match xcrop's generic path bit for bit. Each case also runs
    with the SSE flush-to-zero/denormals-are-zero bits on, as CuPy compiles (-ftz=true).

Expected values: TF fixtures (``xcrop.conformance``) and, for the seeded fills and the
subnormal images no fixture holds, xcrop's generic path (itself checked against TF by
tests/test_conformance.py). What this cannot check: real GPU scheduling, NVRTC itself,
CuPy/DLPack/stream plumbing (tests/test_cupy_paths.py, on a machine with a GPU).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import xcrop
from _cuda_host import (
    ALL_KERNELS,
    FUSED,
    HostKernels,
    build_host_kernels,
    compile_ptx,
    require_nvcc,
)
from _cuda_host import run as _run
from xcrop._backends.cuda import paths as cupy_paths
from xcrop._dispatch.registry import register_fast_path, unregister_fast_path
from xcrop.conformance import load_all
from xcrop.conformance._runner import call_case, judge_exact, judge_fill

CASES = load_all()
CROP_CASES = [c for c in CASES if c.op == "crop_and_resize" and c.check == "exact"]
GLIMPSE_EXACT = [c for c in CASES if c.op == "extract_glimpse" and c.check == "exact"]
GLIMPSE_FILL = [c for c in CASES if c.op == "extract_glimpse" and c.check == "fill_stats"]
# A NaN payload the kernels never produce: any element still holding it was not written.
SENTINEL = np.uint32(0x7FA1B2C3)

# Every kernel xcrop can launch (crop, glimpse and, see test_cuda_gradients_source.py, the
# gradients): all in the one module NVRTC compiles.
KERNELS = ALL_KERNELS


# ----------------------------------------------------------------------------------------
# (a) nvcc
# ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nvcc_ptx(tmp_path_factory: pytest.TempPathFactory) -> str:
    return compile_ptx(tmp_path_factory.mktemp("nvcc"))


def test_nvcc_ptx_has_every_kernel(nvcc_ptx: str) -> None:
    entries = sorted(re.findall(r"\.entry\s+(\w+)\s*\(", nvcc_ptx))
    assert entries == KERNELS


def test_nvcc_ptx_has_no_float_fma(nvcc_ptx: str) -> None:
    # fma.rn.f32 / mad.f32 would round a * b + c once instead of twice (TF rounds twice).
    assert FUSED.findall(nvcc_ptx) == []
    # ... and the lerps really are separate multiply and add instructions.
    assert re.search(r"\bmul\.rn(?:\.ftz)?\.f32\b", nvcc_ptx)
    assert re.search(r"\badd\.rn(?:\.ftz)?\.f32\b", nvcc_ptx)


def test_nvcc_compiles_to_sass_with_nvrtc_options(tmp_path: Path) -> None:
    nvcc = require_nvcc()
    (tmp_path / "kernels.cu").write_text(cupy_paths.kernel_source(), encoding="utf-8")
    # The options cupy_paths passes to NVRTC, plus the -ftz=true CuPy appends.
    _run([nvcc, "-arch=sm_75", "-cubin", *cupy_paths.NVRTC_OPTIONS, "-ftz=true",
          "kernels.cu", "-o", "kernels.cubin"], tmp_path)
    assert (tmp_path / "kernels.cubin").stat().st_size > 0


def _nvrtc() -> Any:
    """CuPy's NVRTC binding with a loadable libnvrtc, or skip with the reason."""
    try:
        from cupy_backends.cuda.libs import nvrtc

        nvrtc.getVersion()
    except Exception as exc:  # CuPy missing, or no libnvrtc for its CUDA major version
        pytest.skip(f"CuPy's NVRTC is not usable here ({type(exc).__name__}: {exc}); "
                    f"install cupy-cuda12x and nvidia-cuda-nvrtc-cu12 to run this check")
    return nvrtc


def test_nvrtc_compiles_with_cupy_options() -> None:
    # The compiler CuPy uses, with exactly the options cupy.RawModule passes (ours plus
    # the -ftz=true CuPy appends); no GPU is needed to compile to PTX.
    nvrtc = _nvrtc()
    prog = nvrtc.createProgram(cupy_paths.kernel_source(), "xcrop_kernels.cu", [], [])
    try:
        try:
            nvrtc.compileProgram(prog, [*cupy_paths.NVRTC_OPTIONS, "-ftz=true",
                                        "-arch=compute_75"])
        except Exception as exc:
            pytest.fail(f"NVRTC rejected the kernels: {exc}\n{nvrtc.getProgramLog(prog)}")
        ptx = nvrtc.getPTX(prog)
    finally:
        nvrtc.destroyProgram(prog)
    ptx = ptx.decode() if isinstance(ptx, bytes) else ptx
    assert sorted(re.findall(r"\.entry\s+(\w+)\s*\(", ptx)) == KERNELS
    assert not FUSED.findall(ptx)


# ----------------------------------------------------------------------------------------
# (b) the kernels as host C++
# ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def host_kernels(tmp_path_factory: pytest.TempPathFactory) -> HostKernels:
    return build_host_kernels(tmp_path_factory.mktemp("cuda_host"))


def test_host_build_exports_every_kernel(host_kernels: HostKernels) -> None:
    assert sorted(host_kernels.signatures) == KERNELS
    for name in KERNELS:
        assert hasattr(host_kernels.lib, name)


def _sentinel(shape: tuple[int, ...]) -> np.ndarray:
    return np.full(shape, SENTINEL, dtype=np.uint32).view(np.float32)


def _check_written(out: np.ndarray) -> np.ndarray:
    unwritten = int(np.count_nonzero(out.view(np.uint32) == SENTINEL))
    assert unwritten == 0, f"{unwritten} output elements were never written"
    return out


@pytest.fixture(params=["ieee", "ftz"])
def served(request: pytest.FixtureRequest, host_kernels: HostKernels) -> Iterator[HostKernels]:
    """Route xcrop's NumPy calls through the host-compiled kernels (registry priority
    above every built-in path); "ftz" runs them with FTZ/DAZ on, as CuPy compiles them."""
    host_kernels.ftz = request.param == "ftz"
    host_kernels.launches.clear()

    def crop(args: Any) -> np.ndarray:
        out = _sentinel(args.output_shape)
        return _check_written(cupy_paths.run_crop(args, np, host_kernels.launch, out=out))

    def glimpse(args: Any) -> np.ndarray:
        out = _sentinel(args.output_shape)
        return _check_written(cupy_paths.run_glimpse(args, np, host_kernels.launch, out=out))

    handles = [
        register_fast_path("crop_and_resize", "numpy", crop, name="host CUDA kernel",
                           priority=100),
        register_fast_path("extract_glimpse", "numpy", glimpse, name="host CUDA kernel",
                           priority=100,
                           predicate=lambda a: cupy_paths.glimpse_ok(a)),
    ]
    try:
        yield host_kernels
    finally:
        for h in handles:
            unregister_fast_path(h)
        host_kernels.ftz = False


def _run_cases(cases: list, judge: Callable[[Any, np.ndarray], tuple[bool, str]]) -> int:
    failures = []
    for case in cases:
        out = np.asarray(call_case(case, lambda a: a))
        ok, message = judge(case, out)
        if not ok:
            failures.append(f"{case.key}: {message}")
    assert not failures, f"{len(failures)} of {len(cases)} cases differ:\n" + "\n".join(
        failures[:20])
    return len(cases)


def _exact(case: Any, out: np.ndarray) -> tuple[bool, str]:
    ok, _, message = judge_exact(out, case.expected)
    return ok, message


def test_crop_fixtures_bit_exact(served: HostKernels) -> None:
    assert len(CROP_CASES) >= 500
    image = CROP_CASES[0].inputs["image"]
    assert xcrop.which_path("crop_and_resize", image, [[0, 0, 1, 1]], [0], (2, 2)) == \
        "host CUDA kernel"
    assert _run_cases(CROP_CASES, _exact) == len(CROP_CASES)
    # Every case with boxes went through a kernel launch, of every (method, dtype) kernel.
    assert {n for n in served.launches if n.startswith("xcrop_crop_")} == {
        k for k in KERNELS if k.startswith("xcrop_crop_")}
    # ... one launch per case with a non-empty output (empty outputs need no launch).
    assert len(served.launches) == sum(c.expected.size > 0 for c in CROP_CASES) >= 500


def test_glimpse_fixtures_bit_exact(served: HostKernels) -> None:
    assert len(GLIMPSE_EXACT) >= 300
    assert _run_cases(GLIMPSE_EXACT, _exact) == len(GLIMPSE_EXACT)
    # One launch per case with a non-empty output from a non-empty image (the generic
    # path keeps TF's empty-image special case).
    launched = sum(c.expected.size > 0 and min(c.inputs["input"].shape[1:3]) > 0
                   for c in GLIMPSE_EXACT)
    assert len(served.launches) == launched >= 250


def test_glimpse_fill_fixtures(served: HostKernels) -> None:
    # The fill is random in TF: copies exact, fill within TF's support and distribution
    # (judge_fill) ...
    assert len(GLIMPSE_FILL) >= 20
    assert _run_cases(GLIMPSE_FILL, lambda c, out: judge_fill(c, out)) == len(GLIMPSE_FILL)
    # ... and the seeded fill (seed=0 in call_case) is the generic path's, bit for bit.
    def same_as_generic(case: Any, out: np.ndarray) -> tuple[bool, str]:
        with xcrop.use_generic():
            ref = np.asarray(call_case(case, lambda a: a))
        ok, _, message = judge_exact(out, ref)
        return ok, message

    _run_cases(GLIMPSE_FILL, same_as_generic)


def _generic(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> np.ndarray:
    with xcrop.use_generic():
        return np.asarray(fn(*args, **kwargs))


def _assert_same(out: Any, ref: np.ndarray) -> None:
    ok, _, message = judge_exact(np.asarray(out), ref)
    assert ok, message


@pytest.mark.parametrize("noise", ["uniform", "gaussian"])
@pytest.mark.parametrize("seed", [0, 1, 2**32 + 5, 2**64 - 1])
def test_seeded_fill_matches_generic(served: HostKernels, noise: str, seed: int) -> None:
    rng = np.random.default_rng(seed % 1000)
    image = rng.normal(3.0, 2.0, size=(3, 7, 5, 2)).astype(np.float32)
    offsets = np.array([[0.9, -0.8], [0.0, 0.0], [-1.0, 1.0]], dtype=np.float32)
    out = xcrop.extract_glimpse(image, (6, 9), offsets, noise=noise, seed=seed)
    assert served.launches == ["xcrop_extract_glimpse"]
    _assert_same(out, _generic(xcrop.extract_glimpse, image, (6, 9), offsets, noise=noise,
                               seed=seed))


@pytest.mark.parametrize("noise", ["uniform", "gaussian"])
def test_seeded_fill_of_degenerate_images(served: HostKernels, noise: str) -> None:
    # A constant channel (std 0: fill = mean, clipped), a channel of tiny values, and an
    # image holding NaN and inf (their statistics propagate as in the generic path).
    image = np.zeros((3, 4, 5, 3), dtype=np.float32)
    image[:, :, :, 0] = 2.5
    image[:, :, :, 1] = np.linspace(-1e-30, 1e-30, 20, dtype=np.float32).reshape(4, 5)
    image[:, :, :, 2] = np.arange(20, dtype=np.float32).reshape(4, 5)
    image[1, 2, 3, 2] = np.nan
    image[2, 0, 0, 1] = np.inf
    offsets = np.array([[1.0, 1.0], [-1.0, 0.5], [0.3, -1.0]], dtype=np.float32)
    out = xcrop.extract_glimpse(image, (5, 6), offsets, noise=noise, seed=99)
    assert served.launches == ["xcrop_extract_glimpse"]
    _assert_same(out, _generic(xcrop.extract_glimpse, image, (5, 6), offsets, noise=noise,
                               seed=99))


def test_uniform_fill_of_odd_sized_output(served: HostKernels) -> None:
    # An odd element count uses only the first word of the last Threefry block.
    image = np.arange(15, dtype=np.float32).reshape(1, 5, 3, 1)
    out = xcrop.extract_glimpse(image, (7, 5), [[0.5, 0.5]], noise="uniform", seed=42)
    assert np.asarray(out).size % 2 == 1
    _assert_same(out, _generic(xcrop.extract_glimpse, image, (7, 5), [[0.5, 0.5]],
                               noise="uniform", seed=42))


DTYPES = ["uint8", "int8", "uint16", "int16", "int32", "int64", "float16", "float32",
          "float64"]


@pytest.mark.parametrize("method", ["bilinear", "nearest"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_crop_matches_generic_on_random_inputs(served: HostKernels, dtype: str,
                                               method: str) -> None:
    rng = np.random.default_rng(DTYPES.index(dtype))
    if dtype.startswith(("int", "uint")):
        info = np.iinfo(dtype)
        image = rng.integers(info.min, info.max, size=(2, 9, 11, 3), dtype=dtype,
                             endpoint=True)
    else:
        image = (rng.normal(size=(2, 9, 11, 3)) * 100).astype(dtype)
    boxes = rng.uniform(-0.3, 1.3, size=(17, 4)).astype(np.float32)
    idx = rng.integers(0, 2, size=17, dtype=np.int32)
    out = xcrop.crop_and_resize(image, boxes, idx, (5, 1 + DTYPES.index(dtype)),
                                method=method, extrapolation_value=-7.5)
    _assert_same(out, _generic(xcrop.crop_and_resize, image, boxes, idx,
                               (5, 1 + DTYPES.index(dtype)), method=method,
                               extrapolation_value=-7.5))


@pytest.mark.parametrize("method", ["bilinear", "nearest"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_crop_flushes_subnormals_like_tf(served: HostKernels, dtype: str, method: str) -> None:
    # No fixture holds subnormal pixels; the built-in NumPy fast path declines such
    # images. The kernel flushes explicitly, so it must agree with the generic path's
    # flush-to-zero emulation with the hardware FTZ bits on and off.
    tiny = np.float32(2.0**-126)
    image = np.array([1e-39, -3e-39, 2.0**-120, 5e-40, -1e-45, 0.0, tiny, -tiny, 1e-38,
                      3.0, -2e-39, 1e-44], dtype=np.float64).reshape(1, 3, 4, 1)
    image = image.astype(dtype)
    if dtype == "float64":
        image = image * 1e-3  # values whose float32 rounding is subnormal
    boxes = np.array([[0.0, 0.0, 1.0, 1.0], [0.1, 0.2, 0.7, 0.9], [1.0, 1.0, 0.0, 0.0]],
                     dtype=np.float32)
    out = xcrop.crop_and_resize(image, boxes, [0, 0, 0], (7, 6), method=method)
    ref = _generic(xcrop.crop_and_resize, image, boxes, [0, 0, 0], (7, 6), method=method)
    _assert_same(out, ref)
    assert served.launches, "the kernel did not serve the call"


def test_crop_with_many_boxes_covers_every_element(served: HostKernels) -> None:
    # More elements than emulated threads, an int64 box index array and NaN/inf pixels
    # (propagated through the lerps as in TF, spec §1.5).
    rng = np.random.default_rng(7)
    image = rng.normal(size=(3, 6, 6, 4)).astype(np.float32)
    image[0, 2, 3, 1] = np.inf
    image[1, 4, 1, 0] = np.nan
    boxes = rng.uniform(0.0, 1.0, size=(300, 4)).astype(np.float32)
    idx = rng.integers(0, 3, size=300).astype(np.int64)
    out = xcrop.crop_and_resize(image, boxes, idx, (4, 5))
    _assert_same(out, _generic(xcrop.crop_and_resize, image, boxes, idx, (4, 5)))
