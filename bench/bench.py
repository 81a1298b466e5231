"""xcrop benchmark: TF 2.21 CPU vs every xcrop backend and path, side by side, one process.

    python bench/bench.py [--repeats 7] [--generic-repeats 1] [--skip-generic]
                          [--json bench/results.json] [--plot bench/results.png]

Workloads (issue #3): RoI head, augmentation, many small crops, glimpses (noise "zero",
and TF's default "uniform"). Paths: ``fast`` (what the registry picks: the numba kernel
where numba is installed), ``fast_array`` (numba disabled: the pure NumPy / torch-op fast
path), ``generic`` (``xcrop.use_generic()``). Times are medians of ``--repeats`` runs
after one warm-up; ratio = TF median / xcrop median (> 1: xcrop is faster). Peak memory
is tracemalloc's peak for NumPy, and the growth of the process's peak RSS (reset through
``/proc/self/clear_refs``) for TF and torch. Peers: kornia's crop_and_resize is timed when
installed (different semantics: grid_sample, blends at borders); torchvision is not (it
needs a separate multi-GB torch build).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

import xcrop


def _boxes(rng: np.random.Generator, n: int, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    a = np.sort(rng.uniform(lo, hi, (n, 2, 2)).astype(np.float32), axis=1)
    return np.stack([a[:, 0, 0], a[:, 0, 1], a[:, 1, 0], a[:, 1, 1]], axis=1)


def workloads() -> dict[str, dict[str, Any]]:
    rng = np.random.default_rng(0)
    return {
        "roi_head": dict(op="crop", image=rng.standard_normal((2, 50, 76, 256), np.float32),
                         boxes=_boxes(rng, 300), idx=rng.integers(0, 2, 300, dtype=np.int32),
                         size=(14, 14)),
        "augmentation": dict(op="crop",
                             image=rng.integers(0, 256, (16, 384, 384, 3), dtype=np.uint8),
                             boxes=_boxes(rng, 16, -0.1, 1.1),
                             idx=np.arange(16, dtype=np.int32), size=(224, 224)),
        "small_crops": dict(op="crop", image=rng.standard_normal((4, 128, 128, 3), np.float32),
                            boxes=_boxes(rng, 4000),
                            idx=rng.integers(0, 4, 4000, dtype=np.int32), size=(24, 24)),
        "glimpse_zero": dict(op="glimpse",
                             image=rng.standard_normal((64, 256, 256, 3), np.float32),
                             offsets=rng.uniform(-1, 1, (64, 2)).astype(np.float32),
                             size=(64, 64), noise="zero"),
        "glimpse_uniform": dict(op="glimpse",
                                image=rng.standard_normal((64, 256, 256, 3), np.float32),
                                offsets=rng.uniform(-1, 1, (64, 2)).astype(np.float32),
                                size=(64, 64), noise="uniform"),
    }


def _rss_peak_reset() -> int | None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _status("VmRSS")
    except OSError:
        return None


def _status(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def measure(fn: Callable[[], Any], repeats: int, numpy_memory: bool) -> dict[str, Any]:
    fn()  # warm-up (compiles numba kernels, JAX, TF graphs)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    if numpy_memory:
        tracemalloc.start()
        fn()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    else:
        before = _rss_peak_reset()
        fn()
        hwm = _status("VmHWM")
        peak = None if before is None or hwm is None else max(0, hwm - before)
    return {"median_s": statistics.median(times), "times_s": times, "peak_bytes": peak}


@contextlib.contextmanager
def serving(path: str):
    old = os.environ.get("XCROP_NO_NUMBA")
    if path == "fast_array":
        os.environ["XCROP_NO_NUMBA"] = "1"
    try:
        if path == "generic":
            with xcrop.use_generic():
                yield
        else:
            yield
    finally:
        if old is None:
            os.environ.pop("XCROP_NO_NUMBA", None)
        else:
            os.environ["XCROP_NO_NUMBA"] = old


def runners(w: dict[str, Any]) -> dict[str, tuple[Callable[[], Any], bool, str]]:
    """name -> (call, memory measured by tracemalloc?, path label)."""
    out: dict[str, tuple[Callable[[], Any], bool, str]] = {}
    crop = w["op"] == "crop"
    try:
        import tensorflow as tf

        if crop:
            a = [tf.constant(w[k]) for k in ("image", "boxes", "idx")]
            out["tf"] = (lambda: tf.image.crop_and_resize(*a, w["size"]).numpy(), False, "TF")
        else:
            a = [tf.constant(w[k]) for k in ("image", "offsets")]
            out["tf"] = (lambda: tf.image.extract_glimpse(a[0], w["size"], a[1],
                                                          noise=w["noise"]).numpy(),
                         False, "TF")
    except ImportError:
        print("tensorflow not installed: no TF column", file=sys.stderr)
    libs: list[tuple[str, Callable[[np.ndarray], Any]]] = [("numpy", lambda x: x)]
    try:
        import torch

        libs.append(("torch", torch.from_numpy))
    except ImportError:
        pass
    for lib, conv in libs:
        if crop:
            args = (conv(w["image"]), conv(w["boxes"]), conv(w["idx"]), w["size"])

            def call(args=args):
                return xcrop.crop_and_resize(*args)
        else:
            args = (conv(w["image"]), w["size"], conv(w["offsets"]))

            def call(args=args):
                return xcrop.extract_glimpse(*args, noise=w["noise"], seed=1)
        for path in ("fast", "fast_array", "generic"):
            def run(call=call, path=path):
                with serving(path):
                    return call()

            with serving(path):
                fn = xcrop.which_path if crop else None
                label = (fn("crop_and_resize", *args) if fn else
                         xcrop.which_path("extract_glimpse", *args, noise=w["noise"], seed=1))
            out[f"{lib}/{path}"] = (run, lib == "numpy", label)
    if crop:
        try:
            import kornia
            import torch

            def kornia_call():
                img = torch.from_numpy(w["image"]).permute(0, 3, 1, 2).float()
                b = torch.from_numpy(w["boxes"])
                h, wd = img.shape[2:]
                y1, x1, y2, x2 = (b[:, i] for i in range(4))
                y1, y2 = y1 * (h - 1), y2 * (h - 1)
                x1, x2 = x1 * (wd - 1), x2 * (wd - 1)
                pts = torch.stack([torch.stack([x1, y1], 1), torch.stack([x2, y1], 1),
                                   torch.stack([x2, y2], 1), torch.stack([x1, y2], 1)], 1)
                return kornia.geometry.transform.crop_and_resize(
                    img[torch.from_numpy(w["idx"]).long()], pts, w["size"])

            out["kornia (peer)"] = (kornia_call, False, "kornia")
        except ImportError:
            pass
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--generic-repeats", type=int, default=1)
    p.add_argument("--skip-generic", action="store_true")
    p.add_argument("--only", nargs="*", help="workload names to run")
    p.add_argument("--json", default="bench/results.json")
    p.add_argument("--plot", default="bench/results.png")
    opts = p.parse_args(argv)
    results: dict[str, Any] = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version(), "numpy": np.__version__},
        "workloads": {},
    }
    for name, w in workloads().items():
        if opts.only and name not in opts.only:
            continue
        rows: dict[str, Any] = {}
        for rname, (fn, np_mem, label) in runners(w).items():
            if rname.endswith("/generic") and opts.skip_generic:
                continue
            reps = opts.generic_repeats if rname.endswith("/generic") else opts.repeats
            r = measure(fn, reps, np_mem)
            r["path"] = label
            rows[rname] = r
        tf_t = rows.get("tf", {}).get("median_s")
        for r in rows.values():
            r["ratio_vs_tf"] = None if tf_t is None else tf_t / r["median_s"]
        results["workloads"][name] = rows
        print(f"\n{name}")
        print(f"  {'runner':<20} {'median ms':>10} {'TF/xcrop':>9} {'peak MB':>9}  path")
        for rname, r in rows.items():
            ratio = "" if r["ratio_vs_tf"] is None else f"{r['ratio_vs_tf']:.2f}"
            peak = "" if r["peak_bytes"] is None else f"{r['peak_bytes'] / 2**20:.1f}"
            print(f"  {rname:<20} {r['median_s'] * 1e3:>10.2f} {ratio:>9} {peak:>9}  "
                  f"{r['path']}")
        sys.stdout.flush()
    os.makedirs(os.path.dirname(opts.json) or ".", exist_ok=True)
    with open(opts.json, "w") as f:
        json.dump(results, f, indent=1)
    print(f"\nwrote {opts.json}")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return 0
    names = list(results["workloads"])
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        rows = results["workloads"][name]
        ax.barh(list(rows), [r["median_s"] * 1e3 for r in rows.values()])
        ax.set_xscale("log")
        ax.set_title(name)
        ax.set_xlabel("median ms (log)")
    fig.tight_layout()
    fig.savefig(opts.plot)
    print(f"wrote {opts.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
