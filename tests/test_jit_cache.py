"""The numba kernels are cached on disk, so only the first call on a machine compiles.

numba can only cache module-level functions (a kernel built by a closure gets a new cache
key in every process and recompiles, several seconds per kernel). Entry kernels must
therefore be module-level ``cache=True`` functions of ``jit_crop`` / ``jit_random``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

numba = pytest.importorskip("numba")


def _dispatchers(module):
    return {name: obj for name, obj in vars(module).items()
            if isinstance(obj, numba.core.registry.CPUDispatcher)}


def test_every_kernel_that_is_not_inlined_is_cached() -> None:
    from xcrop._backends.numba import crop as jit_crop
    from xcrop._backends.numba import random as jit_random

    kernels = {**_dispatchers(jit_crop), **_dispatchers(jit_random)}
    entry = {k: d for k, d in kernels.items() if d.targetoptions.get("inline") != "always"}
    assert {"bilinear_flushed", "bilinear_plain", "nearest", "any_tiny", "glimpse",
            "pairwise", "uniform_flat", "normal_flat"} <= set(entry)
    uncached = sorted(k for k, d in entry.items() if type(d._cache).__name__ == "NullCache")
    assert uncached == []


def test_a_second_process_loads_the_kernel_from_the_cache(tmp_path) -> None:
    # NUMBA_CACHE_DIR keeps the test hermetic. On an empty cache the first call does not
    # wait: the array path serves it while the kernels compile in the background, and the
    # compile is logged once (INFO, logger "xcrop"); the second process only loads them.
    script = textwrap.dedent("""
        import logging, sys
        import numpy as np, xcrop
        from xcrop._backends.numba import crop as jit_crop, loader
        logging.basicConfig(level=logging.INFO, stream=sys.stderr)
        image = np.arange(12, dtype=np.float32).reshape(1, 2, 3, 2)
        call = (image, [[0, 0, 1, 1]], [0], (3, 2))
        print(xcrop.which_path("crop_and_resize", *call, method="nearest"))
        loader.compile_kernels([loader.crop_key(image.dtype)])
        print(xcrop.which_path("crop_and_resize", *call, method="nearest"))
        xcrop.crop_and_resize(*call, method="nearest")
        print(sum(jit_crop.nearest.stats.cache_hits.values()),
              sum(jit_crop.nearest.stats.cache_misses.values()))
    """)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    env.pop("XCROP_NO_NUMBA", None)
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                           text=True, check=True) for _ in range(2)]
    first, second = ([line.strip() for line in r.stdout.splitlines()] for r in runs)
    assert first[:2] == second[:2] == ["numpy fast path", "numpy fast path (numba kernel)"]
    assert first[2].split() == ["0", "1"]  # compiled and saved
    assert second[2].split() == ["1", "0"]  # loaded
    assert runs[0].stderr.count("compiling numba kernels") == 1
    assert "compiling numba kernels" not in runs[1].stderr
