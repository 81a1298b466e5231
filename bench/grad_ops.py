"""Each gradient alone, side by side with TF's own ops, on the training-step workloads.

    PYTHONPATH=src python bench/grad_ops.py [--repeats 9]

``xcrop.crop_and_resize_grad_image`` / ``_grad_boxes`` (NumPy, the fast paths) against
``tf.raw_ops.CropAndResizeGradImage`` / ``CropAndResizeGradBoxes`` (TF's default,
multi-threaded kernels) on the shapes of ``bench/train.py``; called in turn, with a 10 ms
pause before each timed call (see bench.py), medians and ratio = TF / xcrop.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf
from train import train_workloads

import xcrop


def _boxes(rng: np.random.Generator, n: int, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    y, x = rng.uniform(lo, hi, (n, 2)), rng.uniform(lo, hi, (n, 2))
    return np.stack([y.min(1), x.min(1), y.max(1), x.max(1)], 1).astype(np.float32)


def runners(w: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    image, boxes, idx, g = w["image"], w["boxes"], w["idx"], w["upstream"]
    t_image, t_boxes, t_idx, t_g = (tf.constant(v) for v in (image, boxes, idx, g))
    out = {
        "tf grad_boxes": lambda: tf.raw_ops.CropAndResizeGradBoxes(
            grads=t_g, image=t_image, boxes=t_boxes, box_ind=t_idx).numpy(),
        "xcrop grad_boxes": lambda: xcrop.crop_and_resize_grad_boxes(g, image, boxes, idx),
    }
    if w["image_grad"]:
        size = tf.constant(image.shape, tf.int32)
        out["tf grad_image"] = lambda: tf.raw_ops.CropAndResizeGradImage(
            grads=t_g, boxes=t_boxes, box_ind=t_idx, image_size=size, T=tf.float32).numpy()
        out["xcrop grad_image"] = lambda: xcrop.crop_and_resize_grad_image(
            g, boxes, idx, image.shape, dtype=image.dtype)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=9)
    opts = p.parse_args()
    for name, w in train_workloads(_boxes).items():
        fns = runners(w)
        for fn in fns.values():
            fn()  # warm-up
        times: dict[str, list[float]] = {k: [] for k in fns}
        for _ in range(opts.repeats):
            for k, fn in fns.items():
                time.sleep(0.01)
                t0 = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        for op in ("grad_image", "grad_boxes"):
            if f"tf {op}" in med:
                tf_ms, x_ms = med[f"tf {op}"], med[f"xcrop {op}"]
                print(f"{name:20s} {op:10s} TF {tf_ms:8.2f} ms  xcrop {x_ms:8.2f} ms  "
                      f"ratio {tf_ms / x_ms:.2f}")
    with open("/proc/loadavg") as f:
        print("load average", f.read().split()[:3])


if __name__ == "__main__":
    main()
