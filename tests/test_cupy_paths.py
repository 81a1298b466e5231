"""The CUDA kernel fast paths on real GPUs: CuPy arrays and torch CUDA tensors.

Skipped here with a visible reason where CuPy or a CUDA device is missing (our CI has no
GPU: tests/test_cuda_source.py checks the same kernels on the host). The first tests
need no GPU: registration, and that importing or using xcrop imports no CuPy.

Expected values: the recorded TF fixtures (bit for bit: the kernels perform TF's CPU
float32 operations in its order, without FMA contraction) and, for seeded fills, xcrop's
generic path on NumPy.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

import xcrop
from _gpu import needs_gpu, needs_torch_cuda
from xcrop._backends.cuda import paths as cupy_paths
from xcrop._core.errors import PathUnavailable
from xcrop._dispatch.registry import fast_paths
from xcrop._dispatch.run import ensure_builtins
from xcrop.conformance import load_all
from xcrop.conformance._runner import call_case, judge_exact, judge_fill

CASES = load_all()
CROP_CASES = [c for c in CASES if c.op == "crop_and_resize" and c.check == "exact"]
GLIMPSE_EXACT = [c for c in CASES if c.op == "extract_glimpse" and c.check == "exact"]
GLIMPSE_FILL = [c for c in CASES if c.op == "extract_glimpse" and c.check == "fill_stats"]


# ----------------------------------------------------------------------------------------
# No GPU needed
# ----------------------------------------------------------------------------------------


def test_paths_registered() -> None:
    ensure_builtins()
    for op in ("crop_and_resize", "extract_glimpse"):
        assert cupy_paths.CUPY_NAME in [p.name for p in fast_paths(op, "cupy")]
        assert cupy_paths.TORCH_NAME in [p.name for p in fast_paths(op, "torch")]


def _fresh_python(code: str) -> None:
    # Without numba: its first-call compilation would only slow this check down.
    env = {**os.environ, "XCROP_NO_NUMBA": "1"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_numpy_calls_never_import_cupy() -> None:
    _fresh_python(
        "import sys, numpy as np, xcrop\n"
        "assert 'cupy' not in sys.modules\n"
        "x = np.ones((1, 4, 4, 1), np.float32)\n"
        "xcrop.crop_and_resize(x, [[0, 0, 1, 1]], [0], (2, 2))\n"
        "xcrop.extract_glimpse(x, (2, 2), [[0, 0]], noise='zero')\n"
        "assert 'cupy' not in sys.modules, 'a NumPy call imported cupy'\n"
    )


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
def test_torch_cpu_calls_never_look_for_cupy(monkeypatch: pytest.MonkeyPatch) -> None:
    # The torch CUDA kernel path checks the device before it looks for (imports) CuPy.
    import torch

    def forbidden() -> bool:
        raise AssertionError("a torch CPU call looked for CuPy")

    monkeypatch.setattr(cupy_paths, "cupy_usable", forbidden)
    monkeypatch.setenv("XCROP_NO_NUMBA", "1")  # skip numba's first-call compilation
    x = torch.ones((1, 4, 4, 1))
    xcrop.crop_and_resize(x, [[0, 0, 1, 1]], [0], (2, 2))
    xcrop.extract_glimpse(x, (2, 2), [[0, 0]], noise="zero")
    assert xcrop.which_path("crop_and_resize", x, [[0, 0, 1, 1]], [0], (2, 2)) != \
        cupy_paths.TORCH_NAME


def test_torch_kernel_failure_falls_back_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # A first kernel call that fails (no NVRTC, driver mismatch, ...) warns, switches the
    # kernel path off and hands the call back to dispatch (PathUnavailable), which serves
    # it by the next path (tests/test_registry.py checks that hand-over).
    from xcrop._core.validation import validate_crop_and_resize

    monkeypatch.setattr(cupy_paths, "_cupy_importable", True)
    monkeypatch.setattr(cupy_paths, "_torch_kernel_proven", False)
    monkeypatch.setenv("XCROP_NO_NUMBA", "1")  # skip numba's first-call compilation
    image = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    args = validate_crop_and_resize(image, [[0, 0, 1, 1]], [0], (3, 3), "bilinear", 0.0)

    def broken(_: Any) -> Any:
        raise RuntimeError("NVRTC is not available")

    with pytest.warns(RuntimeWarning, match="NVRTC is not available"), \
            pytest.raises(PathUnavailable):
        cupy_paths._torch_guarded(broken, args)
    assert cupy_paths._cupy_importable is False


def test_kernel_source_is_self_contained() -> None:
    source = cupy_paths.kernel_source()
    assert '#include "' not in source  # NVRTC gets one text, no local headers
    for name in ("XCROP_IMAGE_DTYPES(XCROP_CROP_KERNELS)", "X(float16,", "X(uint8,",
                 "void xcrop_extract_glimpse("):
        assert name in source


# ----------------------------------------------------------------------------------------
# CuPy on a GPU
# ----------------------------------------------------------------------------------------


def _cupy_asarray(a: np.ndarray) -> Any:
    import cupy

    return cupy.asarray(a)


def _record_streams(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, str]]:
    """Record (device id, stream pointer, kernel) of every kernel launch."""
    import cupy

    seen: list[tuple[int, int, str]] = []
    launch = cupy_paths.cupy_launch

    def spy(call: cupy_paths.KernelCall) -> None:
        seen.append((cupy.cuda.Device().id, cupy.cuda.get_current_stream().ptr, call.name))
        launch(call)

    monkeypatch.setattr(cupy_paths, "cupy_launch", spy)
    return seen


@needs_gpu
def test_cupy_crop_fixtures_bit_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    import cupy

    launches = _record_streams(monkeypatch)
    image = cupy.ones((1, 3, 3, 1), cupy.float32)
    assert xcrop.which_path("crop_and_resize", image, [[0, 0, 1, 1]], [0],
                            (2, 2)) == cupy_paths.CUPY_NAME
    failures = []
    for case in CROP_CASES:
        out = call_case(case, _cupy_asarray)
        assert isinstance(out, cupy.ndarray)
        ok, _, message = judge_exact(cupy.asnumpy(out), case.expected)
        if not ok:
            failures.append(f"{case.key}: {message}")
    assert not failures, f"{len(failures)} of {len(CROP_CASES)} differ:\n" + "\n".join(
        failures[:20])
    assert len(launches) >= 0.9 * len(CROP_CASES)


@needs_gpu
def test_cupy_glimpse_fixtures() -> None:
    import cupy

    for case in GLIMPSE_EXACT:
        out = cupy.asnumpy(call_case(case, _cupy_asarray))
        ok, _, message = judge_exact(out, case.expected)
        assert ok, f"{case.key}: {message}"
    for case in GLIMPSE_FILL:
        out = cupy.asnumpy(call_case(case, _cupy_asarray))
        ok, message = judge_fill(case, out)
        assert ok, f"{case.key}: {message}"
        with xcrop.use_generic():
            ref = np.asarray(call_case(case, lambda a: a))  # seed 0 on NumPy
        ok, _, message = judge_exact(out, ref)
        assert ok, f"{case.key}: seeded fill differs from the NumPy generic path: {message}"


@needs_gpu
@pytest.mark.parametrize("noise", ["uniform", "gaussian", "zero"])
def test_cupy_glimpse_seeded_fill_matches_numpy(noise: str) -> None:
    import cupy

    rng = np.random.default_rng(3)
    image = rng.normal(size=(4, 9, 7, 3)).astype(np.float32)
    offsets = rng.uniform(-1.2, 1.2, size=(4, 2)).astype(np.float32)
    assert xcrop.which_path("extract_glimpse", cupy.asarray(image), (11, 5),
                            cupy.asarray(offsets), noise=noise) == cupy_paths.CUPY_NAME
    out = xcrop.extract_glimpse(cupy.asarray(image), (11, 5), cupy.asarray(offsets),
                                noise=noise, seed=12345)
    with xcrop.use_generic():
        ref = xcrop.extract_glimpse(image, (11, 5), offsets, noise=noise, seed=12345)
    ok, _, message = judge_exact(cupy.asnumpy(out), np.asarray(ref))
    assert ok, message


@needs_gpu
def test_cupy_launches_on_current_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    import cupy

    launches = _record_streams(monkeypatch)
    image = cupy.arange(2 * 5 * 5 * 2, dtype=cupy.float32).reshape(2, 5, 5, 2)
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        out = xcrop.crop_and_resize(image, cupy.asarray([[0, 0, 1, 1]], cupy.float32),
                                    cupy.asarray([1], cupy.int32), (3, 3))
        glimpse = xcrop.extract_glimpse(image, (3, 3), cupy.zeros((2, 2), cupy.float32),
                                        noise="zero")
    stream.synchronize()
    assert [ptr for _, ptr, _ in launches] == [stream.ptr, stream.ptr]
    ref = xcrop.crop_and_resize(cupy.asnumpy(image), [[0, 0, 1, 1]], [1], (3, 3))
    np.testing.assert_array_equal(cupy.asnumpy(out), ref)
    assert glimpse.shape == (2, 3, 3, 2)


@needs_gpu
def test_cupy_output_on_input_device(monkeypatch: pytest.MonkeyPatch) -> None:
    import cupy

    if cupy.cuda.runtime.getDeviceCount() < 2:
        pytest.skip("one CUDA device: cannot check a non-default device")
    launches = _record_streams(monkeypatch)
    with cupy.cuda.Device(1):
        image = cupy.ones((1, 4, 4, 1), cupy.uint8)
        boxes = cupy.asarray([[0, 0, 1, 1]], cupy.float32)
        idx = cupy.zeros(1, cupy.int32)
    # Called with device 0 current: the kernel must run on, and write to, device 1.
    out = xcrop.crop_and_resize(image, boxes, idx, (2, 2))
    assert out.device.id == 1
    assert launches[-1][0] == 1
    np.testing.assert_array_equal(cupy.asnumpy(out), np.ones((1, 2, 2, 1), np.float32))


@needs_gpu
def test_cupy_non_contiguous_and_empty_inputs() -> None:
    import cupy

    rng = np.random.default_rng(0)
    nchw = rng.integers(0, 255, size=(2, 3, 8, 9), dtype=np.uint8)
    image = cupy.asarray(nchw).transpose(0, 2, 3, 1)  # NHWC view, not contiguous
    boxes = rng.uniform(0, 1, size=(5, 4)).astype(np.float32)
    idx = np.array([0, 1, 1, 0, 1], np.int32)
    out = xcrop.crop_and_resize(image, cupy.asarray(boxes), cupy.asarray(idx), (4, 6))
    ref = xcrop.crop_and_resize(nchw.transpose(0, 2, 3, 1), boxes, idx, (4, 6))
    np.testing.assert_array_equal(cupy.asnumpy(out), ref)
    empty = xcrop.crop_and_resize(image, cupy.zeros((0, 4), cupy.float32),
                                  cupy.zeros(0, cupy.int32), (4, 6))
    assert empty.shape == (0, 4, 6, 3) and isinstance(empty, cupy.ndarray)


# ----------------------------------------------------------------------------------------
# torch CUDA through the same kernels
# ----------------------------------------------------------------------------------------


@needs_torch_cuda
def test_torch_cuda_crop_fixtures_bit_exact() -> None:
    import torch

    image = torch.ones((1, 3, 3, 1), device="cuda")
    assert xcrop.which_path("crop_and_resize", image, [[0, 0, 1, 1]], [0],
                            (2, 2)) == cupy_paths.TORCH_NAME
    for case in CROP_CASES:
        if case.inputs["image"].dtype == np.uint16:
            continue  # torch's uint16 is served by the torch CUDA array path
        out = call_case(case, lambda a: torch.from_numpy(a.copy()).cuda())
        assert out.device.type == "cuda"
        ok, _, message = judge_exact(out.cpu().numpy(), case.expected)
        assert ok, f"{case.key}: {message}"


@needs_torch_cuda
def test_torch_cuda_runs_ontorch_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    launches = _record_streams(monkeypatch)
    image = torch.rand((2, 6, 6, 3), device="cuda")
    boxes = torch.tensor([[0.1, 0.2, 0.9, 0.8]], device="cuda")
    idx = torch.tensor([1], device="cuda", dtype=torch.int32)
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        out = xcrop.crop_and_resize(image, boxes, idx, (4, 4))
        glimpse = xcrop.extract_glimpse(image, (3, 3), torch.zeros((2, 2), device="cuda"),
                                        noise="uniform", seed=1)
    stream.synchronize()
    assert [ptr for _, ptr, _ in launches] == [stream.cuda_stream] * 2
    ref = xcrop.crop_and_resize(image.cpu(), boxes.cpu(), idx.cpu(), (4, 4))
    torch.testing.assert_close(out.cpu(), ref, rtol=0, atol=0)
    with xcrop.use_generic():
        ref_g = xcrop.extract_glimpse(image.cpu(), (3, 3), torch.zeros((2, 2)),
                                      noise="uniform", seed=1)
    torch.testing.assert_close(glimpse.cpu(), ref_g, rtol=0, atol=0)


@needs_torch_cuda
def test_torch_cuda_autograd_still_works() -> None:
    import torch

    rng = np.random.default_rng(1)
    image_np = rng.normal(size=(2, 7, 6, 2)).astype(np.float32)
    boxes_np = rng.uniform(0, 1, size=(4, 4)).astype(np.float32)
    idx = [0, 1, 1, 0]
    grads = {}
    for device in ("cpu", "cuda"):
        image = torch.tensor(image_np, device=device, requires_grad=True)
        boxes = torch.tensor(boxes_np, device=device, requires_grad=True)
        out = xcrop.crop_and_resize(image, boxes, torch.tensor(idx, device=device), (5, 3))
        out.square().sum().backward()
        grads[device] = (out.detach().cpu(), image.grad.cpu(), boxes.grad.cpu())
    # The forward ran through the kernel (inside xcrop's autograd.Function): bit-exact.
    torch.testing.assert_close(grads["cuda"][0], grads["cpu"][0], rtol=0, atol=0)
    # The backward is TF's gradient on torch CUDA ops (the gradient issue owns its
    # exactness on GPU); here it must exist and agree.
    for cpu, cuda in zip(grads["cpu"][1:], grads["cuda"][1:], strict=True):
        torch.testing.assert_close(cuda, cpu, rtol=1e-5, atol=1e-6)
