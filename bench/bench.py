"""xcrop benchmark: TF 2.21 CPU vs every xcrop backend and path, side by side, one process.

    python bench/bench.py [--repeats 7] [--generic-repeats 1] [--skip-generic]
                          [--only WORKLOAD ...] [--suite forward|train|cold|all] [--no-memory]
                          [--json bench/results.json] [--plot bench/results.png]
                          [--malloc-hugepages]

    nox -s bench         # TF, xcrop (NumPy, torch 2.13.0), kornia 0.9.0 as a peer
    nox -s bench_peers   # the same plus torchvision.ops.roi_align: runs on torch 2.14.1 +
                         # torchvision 0.29.1 (requirements/peers.txt, a ~5.5 GB CUDA build
                         # on x86_64), in its own venv, so the test venv keeps torch 2.13.0

Workloads: RoI head, augmentation, many small crops, glimpses (noise "zero", and TF's
default "uniform"); and training steps (forward plus both gradients, ``bench/train.py``)
on the RoI head, small crops and augmentation shapes; the cold start (``bench/cold_start.py``:
first calls in fresh processes with an empty numba cache). Backends: NumPy, torch (CPU), JAX
(CPU) where installed.
Paths: ``fast`` (what the registry picks: the numba kernel where numba is installed),
``fast_array`` (numba disabled: the pure NumPy / torch-op fast path; for JAX the pure
NumPy path on views), ``generic`` (``xcrop.use_generic()``), ``jax/jit`` (the call
under ``jax.jit``: on CPU with numba the kernels as XLA FFI custom calls, bit-exact) and
``torch/compiled`` (``torch.compile(fullgraph=True)``: one ``xcrop::`` operator).

Timing: after one warm-up call per runner, the runners of a workload are called in turn,
``--repeats`` rounds (TF, then each xcrop runner, then TF again ...), so a change in machine
load during the run affects every runner alike, with a 10 ms pause before each timed call
so that the previous runner's spinning worker threads (TF's) are idle; medians are reported and
ratio = TF median / runner median (> 1: faster than TF).

Peak memory, two numbers: ``peak MB`` is tracemalloc's peak during one call (NumPy
runners only: it sees NumPy's allocations, not torch's or TF's); ``RSS MB`` is the growth of
the peak resident set size during one call, measured in a **fresh subprocess** per
(runner, workload) after a warm-up call, ``malloc_trim`` and a reset of the peak
(``/proc/self/clear_refs``), so memory the allocator kept from earlier calls cannot hide
the call's own temporaries. ``--no-memory`` skips the subprocesses.

Peers (different semantics, timed for scale only, never compared for values):
``kornia.geometry.transform.crop_and_resize`` samples with ``grid_sample`` on NCHW
float input (corner-aligned box corners, zero padding); ``torchvision.ops.roi_align``
averages ``sampling_ratio``² bilinear samples per output bin (pixel-box coordinates,
NCHW float). Both need an NHWC->NCHW float copy, which is counted.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import platform
import statistics
import subprocess
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
    """Every workload: the forward ones, then the training steps (``train.py``)."""
    from train import train_workloads

    return {**forward_workloads(), **train_workloads(_boxes)}


def forward_workloads() -> dict[str, dict[str, Any]]:
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


def numpy_peak(fn: Callable[[], Any]) -> int:
    """tracemalloc's peak during one call (sees NumPy's allocations only)."""
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


#: Pause before each timed call (see :func:`interleaved`).
SETTLE_S = 0.01


def interleaved(fns: dict[str, Callable[[], Any]], repeats: int,
                reps: dict[str, int]) -> dict[str, list[float]]:
    """Times of each runner, called in turn for ``repeats`` rounds (after one warm-up)."""
    for fn in fns.values():
        fn()  # warm-up (compiles numba kernels, TF graphs)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(repeats):
        for name, fn in fns.items():
            if r >= reps.get(name, repeats):
                continue
            # Let the previous runner's worker threads go idle first: TF's pool spins for a
            # while after a call, and on 2 cores that spin took half of the next runner's
            # CPU (xcrop's RoI call measured 17.6 ms right after a TF call, 9.2 ms after a
            # 5 ms pause). Every runner gets the same pause, outside its timing.
            time.sleep(SETTLE_S)
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def rss_growth(fn: Callable[[], Any]) -> int | None:
    """Peak-RSS growth (bytes) during one call of ``fn``, after a warm-up call."""
    fn()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # return freed heap pages to the OS
    before = _rss_peak_reset()
    if before is None:
        return None
    fn()
    hwm = _status("VmHWM")
    return None if hwm is None else max(0, hwm - before)


def child_memory(workload: str, runner: str) -> int | None:
    """``rss_growth`` of one runner in a fresh interpreter (see the module docstring)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", workload, runner]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
        return json.loads(res.stdout.strip().splitlines()[-1])["rss_growth_bytes"]
    except (subprocess.SubprocessError, ValueError, KeyError, IndexError) as exc:
        print(f"  memory subprocess for {runner} failed: {exc}", file=sys.stderr)
        return None


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
    if w["op"] == "train":
        from train import train_runners

        return train_runners(w, serving)
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
    try:
        import jax

        libs.append(("jax", jax.device_put))
    except ImportError:
        jax = None
    for lib, conv in libs:
        if crop:
            args = (conv(w["image"]), conv(w["boxes"]), conv(w["idx"]), w["size"])

            def call(args=args):
                return xcrop.crop_and_resize(*args)
        else:
            args = (conv(w["image"]), w["size"], conv(w["offsets"]))

            def call(args=args):
                return xcrop.extract_glimpse(*args, noise=w["noise"], seed=1)
        if lib == "jax":
            # JAX runs asynchronously: wait for the result. Plus jax.jit of the same call
            # (traced: the generic path, compiled by XLA; not bit-exact, see limitations).
            def call(call=call):
                return jax.block_until_ready(call())

            if crop:
                def target(image, boxes, idx):
                    return xcrop.crop_and_resize(image, boxes, idx, w["size"])
            else:
                def target(image, offsets):
                    return xcrop.extract_glimpse(image, w["size"], offsets, noise=w["noise"],
                                                 seed=1)
            arrays = [a for a in args if not isinstance(a, tuple)]
            jitted = jax.jit(target)

            def jit_call(f=jitted, arrays=arrays):
                return jax.block_until_ready(f(*arrays))

            out["jax/jit"] = (jit_call, False,
                              "jax.jit: XLA FFI custom call (numba kernel) on CPU")
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
        out.update(compiled_torch(w))
        out.update(peers(w))
    return out


def compiled_torch(w: dict[str, Any]) -> dict[str, tuple[Callable[[], Any], bool, str]]:
    """``torch.compile(fullgraph=True)`` of the crop: one ``xcrop::crop_and_resize`` node
    (docs/api.md, "torch.compile and torch.export"), compiled before timing."""
    try:
        import torch
    except ImportError:
        return {}
    args = tuple(torch.from_numpy(w[k]) for k in ("image", "boxes", "idx"))
    size = w["size"]
    compiled = torch.compile(lambda image, boxes, idx: xcrop.crop_and_resize(
        image, boxes, idx, size), fullgraph=True)
    compiled(*args)  # the compile itself is not timed

    def call() -> Any:
        return compiled(*args)

    return {"torch/compiled": (call, False, "torch.compile(fullgraph=True): xcrop:: operator")}


def peers(w: dict[str, Any]) -> dict[str, tuple[Callable[[], Any], bool, str]]:
    """kornia and torchvision crops of the same boxes (other semantics: see the docstring)."""
    out: dict[str, tuple[Callable[[], Any], bool, str]] = {}
    try:
        import torch
    except ImportError:
        return out
    image = torch.from_numpy(w["image"])
    boxes = torch.from_numpy(w["boxes"])
    idx = torch.from_numpy(w["idx"]).long()
    height, width = image.shape[1:3]
    # TF's normalized corners -> pixel coordinates.
    y1, x1, y2, x2 = (boxes[:, i] for i in range(4))
    y1, y2 = y1 * (height - 1), y2 * (height - 1)
    x1, x2 = x1 * (width - 1), x2 * (width - 1)
    try:
        import kornia

        corners = torch.stack([torch.stack([x1, y1], 1), torch.stack([x2, y1], 1),
                               torch.stack([x2, y2], 1), torch.stack([x1, y2], 1)], 1)

        def kornia_call() -> Any:
            nchw = image.permute(0, 3, 1, 2).float()
            return kornia.geometry.transform.crop_and_resize(nchw[idx], corners, w["size"])

        out["kornia (peer)"] = (kornia_call, False,
                                f"kornia {kornia.__version__} crop_and_resize (grid_sample)")
    except ImportError:
        pass
    try:
        import torchvision

        rois = torch.stack([idx.float(), x1, y1, x2, y2], 1)

        def roi_align_call() -> Any:
            nchw = image.permute(0, 3, 1, 2).float()
            return torchvision.ops.roi_align(nchw, rois, w["size"], spatial_scale=1.0,
                                             sampling_ratio=2, aligned=False)

        out["roi_align (peer)"] = (roi_align_call, False,
                                   f"torchvision {torchvision.__version__} roi_align "
                                   "(2x2 samples averaged per bin)")
    except (ImportError, RuntimeError):
        # PyPI's torchvision does not import beside another torch build: nox -s bench_peers
        pass
    return out


def child(workload: str, runner: str) -> int:
    """Subprocess entry: print the RSS growth of one runner on one workload as JSON."""
    fn = runners(workloads()[workload])[runner][0]
    print(json.dumps({"rss_growth_bytes": rss_growth(fn)}))
    return 0


def _import_torchvision_before_tf() -> None:
    """torchvision imports triton, whose native library segfaults on import when TF
    2.21's is already loaded (triton of torch 2.14.1; the other order works)."""
    with contextlib.suppress(ImportError):
        import torchvision.ops  # noqa: F401


#: glibc's tunable that puts malloc's large (mmap) chunks on transparent huge pages.
HUGETLB = "glibc.malloc.hugetlb=1"


def main(argv: list[str] | None = None) -> int:
    _import_torchvision_before_tf()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--generic-repeats", type=int, default=1)
    p.add_argument("--skip-generic", action="store_true")
    p.add_argument("--no-memory", action="store_true", help="skip the RSS subprocesses")
    p.add_argument("--only", nargs="*", help="workload names to run")
    p.add_argument("--suite", choices=("forward", "train", "cold", "all"), default="all",
                   help="forward calls, training steps (train_*), the cold start "
                        "(bench/cold_start.py), or all (default)")
    p.add_argument("--json", default="bench/results.json")
    p.add_argument("--plot", default="bench/results.png")
    p.add_argument("--malloc-hugepages", action="store_true",
                   help="run with GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (every library's "
                        "large allocations on transparent huge pages; see "
                        "docs/performance.md)")
    p.add_argument("--child", nargs=2, metavar=("WORKLOAD", "RUNNER"), help=argparse.SUPPRESS)
    opts = p.parse_args(argv)
    if opts.malloc_hugepages and HUGETLB not in os.environ.get("GLIBC_TUNABLES", ""):
        # glibc reads its tunables when the process starts: start again with them.
        env = dict(os.environ, GLIBC_TUNABLES=HUGETLB)
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__),
                                   *(sys.argv[1:] if argv is None else argv)], env)
    # Compile (or load) every numba kernel now: on first use they build in the background
    # while the array paths serve, and the "fast" rows must time and check the kernels.
    from xcrop._backends.numba import loader

    loader.compile_kernels(progress=lambda m: print(m, file=sys.stderr, flush=True))
    if opts.child:
        return child(*opts.child)
    try:
        with open("/proc/loadavg") as f:
            load = f.read().split()[:3]
    except OSError:
        load = None
    results: dict[str, Any] = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version(), "numpy": np.__version__,
                    "loadavg_at_start": load,
                    "glibc_tunables": os.environ.get("GLIBC_TUNABLES")},
        "workloads": {},
    }
    for name, w in workloads().items():
        if opts.only and name not in opts.only:
            continue
        if opts.suite == "cold" or (
                opts.suite != "all" and (w["op"] == "train") != (opts.suite == "train")):
            continue
        table = {k: v for k, v in runners(w).items()
                 if not (k.endswith("/generic") and opts.skip_generic)}
        reps = {k: opts.generic_repeats for k in table if k.endswith("/generic")}
        times = interleaved({k: v[0] for k, v in table.items()}, opts.repeats, reps)
        rows: dict[str, Any] = {}
        for rname, (fn, np_mem, label) in table.items():
            rows[rname] = {
                "median_s": statistics.median(times[rname]), "times_s": times[rname],
                "path": label, "peak_bytes": numpy_peak(fn) if np_mem else None,
                "rss_growth_bytes": None if opts.no_memory else child_memory(name, rname),
            }
        tf_t = rows.get("tf", {}).get("median_s")
        for r in rows.values():
            r["ratio_vs_tf"] = None if tf_t is None else tf_t / r["median_s"]
        results["workloads"][name] = rows
        print(f"\n{name}")
        print(f"  {'runner':<20} {'median ms':>10} {'TF/xcrop':>9} {'peak MB':>8} "
              f"{'RSS MB':>8}  path")
        for rname, r in rows.items():
            ratio = "" if r["ratio_vs_tf"] is None else f"{r['ratio_vs_tf']:.2f}"
            peak = "" if r["peak_bytes"] is None else f"{r['peak_bytes'] / 2**20:.1f}"
            rss = ("" if r["rss_growth_bytes"] is None
                   else f"{r['rss_growth_bytes'] / 2**20:.1f}")
            print(f"  {rname:<20} {r['median_s'] * 1e3:>10.2f} {ratio:>9} {peak:>8} "
                  f"{rss:>8}  {r['path']}")
        sys.stdout.flush()
    if opts.suite in ("cold", "all"):
        from cold_start import cold_start, report

        results["cold_start"] = cold_start(min(opts.repeats, 3))
        report(results["cold_start"])
    with contextlib.suppress(OSError), open("/proc/loadavg") as f:
        results["machine"]["loadavg_at_end"] = f.read().split()[:3]
    os.makedirs(os.path.dirname(opts.json) or ".", exist_ok=True)
    with open(opts.json, "w") as f:
        json.dump(results, f, indent=1)
    print(f"\nwrote {opts.json} (load average at start/end: "
          f"{results['machine']['loadavg_at_start']} / "
          f"{results['machine'].get('loadavg_at_end')})")
    plot(results, opts.plot)
    return 0


def plot(results: dict[str, Any], path: str) -> None:
    """One panel per workload: TF/runner throughput ratio (log scale, 1 = TF)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        print("matplotlib not installed: no plot", file=sys.stderr)
        return
    names = list(results["workloads"])
    if not names:
        return
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4.5), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        rows = {k: r for k, r in results["workloads"][name].items() if r["ratio_vs_tf"]}
        colors = ["grey" if k == "tf" else "tab:orange" if "peer" in k else "tab:blue"
                  for k in rows]
        ax.barh(list(rows), [r["ratio_vs_tf"] for r in rows.values()], color=colors)
        ax.axvline(1.0, color="black", lw=0.8)
        ax.set_xscale("log")
        # Plain labels at fixed ratios: the default minor-tick labels overlapped.
        ticks = [t for t in (0.03, 0.1, 0.3, 1, 2, 3, 10)
                 if min(r["ratio_vs_tf"] for r in rows.values()) / 1.5 <= t
                 <= max(r["ratio_vs_tf"] for r in rows.values()) * 1.5]
        ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FixedFormatter([f"{t:g}" for t in ticks]))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.invert_yaxis()
        ax.set_title(name)
        ax.set_xlabel("TF time / runner time (log; >1 faster)")
    fig.tight_layout()
    fig.savefig(path)
    print(f"wrote {path}")


if __name__ == "__main__":
    raise SystemExit(main())
