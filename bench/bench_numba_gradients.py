"""The compiled gradient kernels (``xcrop._fast.numba_gradients``) vs the generic NumPy path.

    PYTHONPATH=src python bench/bench_numba_gradients.py [--repeats 7] [--skip-generic]

Workloads: RoI head (image (2, 50, 76, 256) float32, 300 boxes, crop 14x14) and many
small crops (image (4, 128, 128, 3) float32, 2000 boxes, crop 24x24); random boxes and
upstream gradients. Per workload and gradient: the median wall time of ``--repeats``
calls after one warm-up (xcrop's thread pool, ``XCROP_NUM_THREADS`` or the cores), the
median CPU time of the same calls with one thread (less sensitive to a shared machine),
and the generic path (``xcrop.crop_and_resize_grad_image`` / ``_grad_boxes`` on NumPy
arrays, which do not use the kernels yet), whose bits must equal the kernels'.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import array_api_compat.numpy as xp
import numpy as np

import xcrop
from xcrop._coordinates import sample_coordinates
from xcrop._fast import numba_gradients as ng

WORKLOADS = {
    "roi_head": ((2, 50, 76, 256), 300, (14, 14)),
    "small_crops": ((4, 128, 128, 3), 2000, (24, 24)),
}


def _median(f: Callable[[], Any], repeats: int, clock: Callable[[], float]) -> float:
    f()  # warm-up (and compilation, or loading numba's cache)
    times = []
    for _ in range(repeats):
        t = clock()
        f()
        times.append(clock() - t)
    return statistics.median(times)


def _one_thread_cpu(f: Callable[[], Any], repeats: int) -> float:
    old = os.environ.get("XCROP_NUM_THREADS")
    os.environ["XCROP_NUM_THREADS"] = "1"
    try:
        return _median(f, repeats, time.thread_time)
    finally:
        if old is None:
            del os.environ["XCROP_NUM_THREADS"]
        else:
            os.environ["XCROP_NUM_THREADS"] = old


def run(name: str, shape: tuple[int, int, int, int], n: int, crop: tuple[int, int],
        repeats: int, skip_generic: bool) -> None:
    rng = np.random.default_rng(0)
    image = rng.standard_normal(shape).astype(np.float32)
    corners = rng.uniform(0, 1, (n, 2, 2))
    lo, hi = corners.min(axis=1), corners.max(axis=1)
    boxes = np.concatenate([lo, hi], axis=1).astype(np.float32)  # y1, x1, y2, x2
    idx = rng.integers(0, shape[0], n).astype(np.int32)
    grads = rng.standard_normal((n, *crop, shape[3])).astype(np.float32)
    in_y = sample_coordinates(xp, boxes[:, 0:1], boxes[:, 2:3], shape[1], crop[0], None)
    in_x = sample_coordinates(xp, boxes[:, 1:2], boxes[:, 3:4], shape[2], crop[1], None)
    runs = {
        "image": (lambda: ng.image_gradient(grads, idx, in_y, in_x, shape, "bilinear",
                                            np.float32),
                  lambda: xcrop.crop_and_resize_grad_image(grads, boxes, idx, shape)),
        "boxes": (lambda: ng.box_gradient(grads, image, boxes, idx),
                  lambda: xcrop.crop_and_resize_grad_boxes(grads, image, boxes, idx)),
    }
    for grad, (kernel, generic) in runs.items():
        wall = _median(kernel, repeats, time.perf_counter)
        cpu = _one_thread_cpu(kernel, repeats)
        line = (f"{name:12s} {grad:6s} numba {wall * 1e3:8.1f} ms wall, "
                f"{cpu * 1e3:7.1f} ms CPU (1 thread)")
        if not skip_generic:
            assert kernel().tobytes() == generic().tobytes(), "bits differ"
            slow = _median(generic, repeats, time.perf_counter)
            line += f" | generic {slow * 1e3:9.1f} ms wall ({slow / wall:.0f}x)"
        print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--skip-generic", action="store_true")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"median of {args.repeats}")
    for name, (shape, n, crop) in WORKLOADS.items():
        run(name, shape, n, crop, args.repeats, args.skip_generic)


if __name__ == "__main__":
    main()
