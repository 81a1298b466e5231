"""One-command GPU check (``nox -s gpu``): conformance on CuPy and torch CUDA (eager,
compiled, exported), CUDA kernels against CPU kernels bit for bit, timings against
torchvision's ``roi_align`` and the GPU's copy bandwidth; one JSON report.

Without a usable CUDA GPU (no CuPy, no device, a CPU-only torch) it prints why and exits
0: the script is written and dry-run on CPU machines so that the first GPU machine can
run it as is. It has not yet run on a GPU (docs/api.md, "torch.compile and
torch.export").

    python bench/gpu_check.py [--json bench/results_gpu.json] [--repeats 20]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # tests/_gpu.py: the skip reasons the tests use


def skip_reason() -> str | None:
    """Why this machine cannot run the check (None: it can)."""
    from _gpu import cupy_skip_reason, torch_cuda_skip_reason

    return cupy_skip_reason() or torch_cuda_skip_reason()


def conformance_cupy(report: Path) -> dict[str, Any]:
    """The whole conformance suite on CuPy, every path (the ``xcrop`` conformance CLI)."""
    from xcrop.conformance._cli import main

    code = main(["--backend", "cupy", "--path", "all", "--json", str(report), "--quiet"])
    return {"exit_code": code, "report": str(report)}


def _torch_modes(torch: Any, xcrop: Any) -> dict[str, Callable[..., Any]]:
    """The public entry points run eagerly, compiled (fullgraph) or exported."""
    from xcrop.conformance._runner import call_case

    compiled = {}

    def eager(case: Any, convert: Callable[[np.ndarray], Any]) -> Any:
        return call_case(case, convert)

    def compiled_call(case: Any, convert: Callable[[np.ndarray], Any]) -> Any:
        if not compiled:
            import xcrop.compat.v1 as v1

            for module, name in ((xcrop, "crop_and_resize"), (xcrop, "extract_glimpse"),
                                 (v1, "crop_and_resize"), (v1, "extract_glimpse")):
                compiled[module, name] = getattr(module, name)
        saved = {k: getattr(*k) for k in compiled}
        try:
            for (module, name), fn in compiled.items():
                setattr(module, name, torch.compile(fn, fullgraph=True, dynamic=True))
            return call_case(case, convert)
        finally:
            for (module, name), fn in saved.items():
                setattr(module, name, fn)

    def exported(case: Any, convert: Callable[[np.ndarray], Any]) -> Any:
        names = tuple(case.inputs)
        tensors = tuple(convert(case.inputs[k]) for k in names)

        class Call(torch.nn.Module):
            def forward(self, *xs: Any) -> Any:
                given = dict(zip(names, xs, strict=True))
                ids = {id(case.inputs[k]): k for k in names}
                return call_case(case, lambda a: given[ids[id(a)]])

        return torch.export.export(Call(), tensors).module()(*tensors)

    return {"eager": eager, "compiled": compiled_call, "exported": exported}


def conformance_torch_cuda(torch: Any, xcrop: Any, export_every: int) -> dict[str, Any]:
    """Every forward fixture on torch CUDA tensors: eager and compiled every case,
    exported every ``export_every``-th (an export per case costs about a second)."""
    from xcrop.capabilities import max_ulp
    from xcrop.conformance import load_all
    from xcrop.conformance._runner import judge_exact, judge_fill

    def convert(a: np.ndarray) -> Any:
        return torch.from_numpy(np.array(a)).cuda()

    out: dict[str, Any] = {}
    cases = [c for c in load_all() if c.op in ("crop_and_resize", "extract_glimpse")
             and c.check != "error"]
    for mode, run in _torch_modes(torch, xcrop).items():
        failures, ran = [], 0
        for i, case in enumerate(cases):
            if mode == "exported" and i % export_every:
                continue
            ran += 1
            try:
                got = run(case, convert).cpu().numpy()
                if case.check == "fill_stats":
                    ok, msg = judge_fill(case, got)
                else:
                    ok, _, msg = judge_exact(got, np.asarray(case.expected),
                                             max_ulp("torch", "gpu", case.op))
            except Exception as exc:  # a crash is a failure of this case, not of the run
                ok, msg = False, f"{type(exc).__name__}: {exc}"
            if not ok:
                failures.append({"case": case.key, "message": msg})
        out[mode] = {"cases": ran, "failures": failures[:50], "failed": len(failures)}
    return out


def cuda_vs_cpu(torch: Any, xcrop: Any) -> dict[str, Any]:
    """The CUDA kernels against the CPU kernels, bit for bit: crops of every dtype,
    glimpses of every noise (seeded), both gradients."""
    rng = np.random.default_rng(7)
    results: dict[str, Any] = {}

    def same(name: str, cpu: Any, gpu: Any) -> None:
        a, b = cpu.detach().numpy(), gpu.detach().cpu().numpy()
        results[name] = bool(a.shape == b.shape and a.dtype == b.dtype
                             and np.array_equal(a.view(np.uint8), b.view(np.uint8)))

    boxes = rng.uniform(-0.2, 1.2, (257, 4)).astype(np.float32)
    idx = rng.integers(0, 3, 257).astype(np.int32)
    for dtype in ("uint8", "int16", "int32", "float16", "float32", "float64"):
        image = (rng.standard_normal((3, 41, 53, 5)) * 60).astype(dtype)
        for method in ("bilinear", "nearest"):
            args = [torch.from_numpy(x) for x in (image, boxes, idx)]
            cpu = xcrop.crop_and_resize(*args, (17, 13), method, 0.5)
            gpu = xcrop.crop_and_resize(*(a.cuda() for a in args), (17, 13), method, 0.5)
            same(f"crop {dtype} {method}", cpu, gpu)
    x = torch.from_numpy(rng.standard_normal((4, 37, 29, 3)).astype(np.float32))
    offsets = torch.from_numpy(rng.uniform(-1.2, 1.2, (4, 2)).astype(np.float32))
    for noise in ("zero", "uniform", "gaussian"):
        cpu = xcrop.extract_glimpse(x, (23, 31), offsets, noise=noise, seed=11)
        gpu = xcrop.extract_glimpse(x.cuda(), (23, 31), offsets.cuda(), noise=noise, seed=11)
        same(f"glimpse {noise}", cpu, gpu)
    image = torch.from_numpy(rng.standard_normal((3, 41, 53, 5)).astype(np.float32))
    tb = torch.from_numpy(boxes)
    ti = torch.from_numpy(idx)
    for device in ("cpu", "cuda"):
        im = image.to(device).requires_grad_(True)
        bx = tb.to(device).requires_grad_(True)
        out = xcrop.crop_and_resize(im, bx, ti.to(device), (17, 13))
        out.backward(torch.ones_like(out))
        if device == "cpu":
            ref = (im.grad, bx.grad)
        else:
            same("grad_image float32", ref[0], im.grad)
            same("grad_boxes float32", ref[1], bx.grad)
    return {"all_equal": all(results.values()), "cases": results}


def _time(torch: Any, fn: Callable[[], Any], repeats: int) -> float:
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timings(torch: Any, xcrop: Any, repeats: int) -> dict[str, Any]:
    """The RoI-head and small-crops workloads (bench/bench.py's shapes): xcrop eager and
    compiled, torchvision roi_align (aligned=True, sampling_ratio=1: the nearest
    equivalent), and each as a fraction of the GPU's device-to-device copy bandwidth."""
    rng = np.random.default_rng(0)
    buf = torch.empty(2**28, dtype=torch.uint8, device="cuda")
    copy_s = _time(torch, lambda: buf.clone(), repeats)
    bandwidth = 2 * buf.numel() / copy_s  # bytes read + written per second
    out: dict[str, Any] = {"copy_bandwidth_GBps": bandwidth / 1e9}
    for name, (shape, n, size) in {"roi_head": ((2, 50, 76, 256), 300, (14, 14)),
                                   "small_crops": ((4, 128, 128, 3), 4000, (24, 24))}.items():
        image = torch.from_numpy(rng.standard_normal(shape).astype(np.float32)).cuda()
        lo_hi = np.sort(rng.uniform(0, 1, (n, 2, 2)).astype(np.float32), axis=1)
        boxes = torch.from_numpy(np.stack([lo_hi[:, 0, 0], lo_hi[:, 0, 1], lo_hi[:, 1, 0],
                                           lo_hi[:, 1, 1]], 1)).cuda()
        idx = torch.from_numpy(rng.integers(0, shape[0], n).astype(np.int32)).cuda()
        compiled = torch.compile(lambda i, b, k, s=size: xcrop.crop_and_resize(i, b, k, s),
                                 fullgraph=True)
        rows = {"xcrop eager": lambda i=image, b=boxes, k=idx, s=size:
                xcrop.crop_and_resize(i, b, k, s),
                "xcrop compiled": lambda i=image, b=boxes, k=idx, f=compiled: f(i, b, k)}
        try:
            import torchvision

            nchw = image.permute(0, 3, 1, 2).contiguous()
            h, w = shape[1] - 1, shape[2] - 1
            rois = torch.stack([idx.float(), boxes[:, 1] * w, boxes[:, 0] * h,
                                boxes[:, 3] * w, boxes[:, 2] * h], 1)
            rows["torchvision roi_align"] = lambda x=nchw, r=rois, s=size: (
                torchvision.ops.roi_align(x, r, s, 1.0, 1, True))
        except ImportError:
            out[f"{name} note"] = "torchvision not installed: no roi_align row"
        moved = (n * size[0] * size[1] * shape[3] * 4) * 5  # 4 reads + 1 write per output
        out[name] = {k: {"median_s": (t := _time(torch, fn, repeats)),
                         "fraction_of_copy_bandwidth": moved / t / bandwidth}
                     for k, fn in rows.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "results_gpu.json")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--export-every", type=int, default=4)
    opts = p.parse_args(argv)
    reason = skip_reason()
    if reason:
        print(f"gpu_check: skipped, no usable CUDA GPU here ({reason}); nothing was run "
              f"and no report was written")
        return 0
    import torch

    import xcrop

    report: dict[str, Any] = {
        "machine": {"platform": platform.platform(), "torch": torch.__version__,
                    "gpu": torch.cuda.get_device_name(), "xcrop": xcrop.__version__},
    }
    steps: dict[str, Callable[[], Any]] = {
        "conformance_cupy": lambda: conformance_cupy(opts.json.with_suffix(".cupy.json")),
        "conformance_torch_cuda": lambda: conformance_torch_cuda(torch, xcrop,
                                                                 opts.export_every),
        "cuda_vs_cpu": lambda: cuda_vs_cpu(torch, xcrop),
        "timings": lambda: timings(torch, xcrop, opts.repeats),
    }
    ok = True
    for name, step in steps.items():
        start = time.perf_counter()
        try:
            report[name] = step()
        except Exception:  # one broken step must not hide the others' results
            report[name] = {"error": traceback.format_exc()}
            ok = False
        report[name + "_seconds"] = time.perf_counter() - start
        print(f"gpu_check: {name} done in {report[name + '_seconds']:.0f} s", flush=True)
    opts.json.parent.mkdir(parents=True, exist_ok=True)
    opts.json.write_text(json.dumps(report, indent=1, default=str))
    print(f"gpu_check: wrote {opts.json}")
    torch_cuda = report.get("conformance_torch_cuda", {})
    ok = ok and report.get("conformance_cupy", {}).get("exit_code") == 0
    ok = ok and all(m.get("failed", 1) == 0 for m in torch_cuda.values())
    ok = ok and report.get("cuda_vs_cpu", {}).get("all_equal", False)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
