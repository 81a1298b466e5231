"""Cold start: the first call in a fresh process on a machine whose numba cache is empty.

Each measurement runs in a new Python process with ``NUMBA_CACHE_DIR`` pointing at an
empty directory, so numba finds nothing to load and must compile. The child times:

* ``first call``: the first float32 bilinear ``crop_and_resize`` (RoI-head shape) or the
  first uniform ``extract_glimpse`` (the glimpse workload's shape), importing NumPy and
  xcrop excluded: what a user waits for. The call never waits for numba (the kernels
  compile in a background thread while the array paths serve, docs/performance.md);
* ``second call``: the same call again right after;
* ``kernels ready``: from the first call until the background compile is done (the call
  after that runs the compiled kernel).

TF's first call of the same operation in a fresh process is timed beside it (TF has no
compile step; its first call pays for its graph-building machinery).

Imported by bench.py (``--suite cold``); ``python bench/cold_start.py`` runs it alone.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from typing import Any

CHILD = r"""
import json, sys, time
import numpy as np
which, lib = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(0)
if which == "crop":
    image = rng.standard_normal((2, 50, 76, 256), np.float32)
    lo = rng.uniform(0, 0.5, (300, 2)).astype(np.float32)
    boxes = np.concatenate([lo, lo + 0.4], axis=1)
    idx = rng.integers(0, 2, 300).astype(np.int32)
else:
    image = rng.standard_normal((32, 64, 64, 3), np.float32)
    offsets = rng.uniform(-1, 1, (32, 2)).astype(np.float32)
if lib == "tf":
    import tensorflow as tf
    if which == "crop":
        call = lambda: tf.image.crop_and_resize(image, boxes, idx, (14, 14)).numpy()
    else:
        call = lambda: tf.image.extract_glimpse(image, (24, 24), offsets,
                                                noise="uniform").numpy()
else:
    import xcrop
    if which == "crop":
        call = lambda: xcrop.crop_and_resize(image, boxes, idx, (14, 14))
    else:
        call = lambda: xcrop.extract_glimpse(image, (24, 24), offsets, noise="uniform",
                                             seed=1)
out = {}
t = time.perf_counter(); call(); out["first_s"] = time.perf_counter() - t
t2 = time.perf_counter(); call(); out["second_s"] = time.perf_counter() - t2
if lib == "xcrop":
    from xcrop._backends.numba import loader
    loader.compile_kernels([loader.crop_key(np.float32) if which == "crop"
                            else loader.GLIMPSE])
    out["ready_s"] = time.perf_counter() - t
    out["path_after"] = xcrop.which_path(
        "crop_and_resize", image, boxes, idx, (14, 14)) if which == "crop" else \
        xcrop.which_path("extract_glimpse", image, (24, 24), offsets, noise="uniform")
print(json.dumps(out))
"""


def _child(which: str, lib: str) -> dict[str, Any] | None:
    with tempfile.TemporaryDirectory(prefix="xcrop-cold-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        proc = subprocess.run([sys.executable, "-c", CHILD, which, lib], env=env,
                              capture_output=True, text=True, timeout=900, check=False)
    if proc.returncode != 0:
        if lib == "tf" and "No module named 'tensorflow'" in proc.stderr:
            return None
        raise RuntimeError(f"cold-start child ({which}, {lib}) failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cold_start(repeats: int = 3) -> dict[str, Any]:
    """Medians over ``repeats`` fresh processes per (operation, library); returns
    ``{op: {lib: {"first_s", "second_s", ["ready_s", "path_after"], "runs"}}}``."""
    results: dict[str, Any] = {}
    for which in ("crop", "glimpse"):
        results[which] = {}
        for lib in ("xcrop", "tf"):
            runs = [r for r in (_child(which, lib) for _ in range(repeats)) if r is not None]
            if not runs:
                print(f"  {which} {lib}: not installed, skipped", file=sys.stderr)
                continue
            row: dict[str, Any] = {k: statistics.median(r[k] for r in runs)
                                   for k in runs[0] if k.endswith("_s")}
            if "path_after" in runs[0]:
                row["path_after"] = runs[0]["path_after"]
            row["runs"] = runs
            results[which][lib] = row
    return results


def report(results: dict[str, Any]) -> None:
    print("\ncold start (fresh process, empty NUMBA_CACHE_DIR; medians)")
    print(f"  {'call':<10} {'lib':<6} {'first ms':>9} {'second ms':>10} {'ready s':>8}  "
          "path once ready")
    for which, libs in results.items():
        for lib, r in libs.items():
            ready = f"{r['ready_s']:.1f}" if "ready_s" in r else ""
            print(f"  {which:<10} {lib:<6} {r['first_s'] * 1e3:>9.1f} "
                  f"{r['second_s'] * 1e3:>10.1f} {ready:>8}  {r.get('path_after', '')}")


if __name__ == "__main__":
    res = cold_start(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
    report(res)
