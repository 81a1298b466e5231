"""The fast CPU producers of ``xcrop._core.random``'s numbers give the reference bits.

The numba kernels (``_backends/numba/random.py``) re-implement the Threefry-2x32
generator and the samplers on scalars, and the glimpse fill that uses them; the NumPy
glimpse path draws the reference's ``uniform_at``/``standard_normal_at`` at the fill
positions only. Every expected value here comes from ``xcrop._core.random`` itself (the
portable reference) or from the generic extract_glimpse path; the fast versions must
match bit for bit.
"""

from __future__ import annotations

import array_api_compat.numpy as xp
import numpy as np
import pytest

import xcrop
from xcrop._backends.numba import drivers as F
from xcrop._backends.numba.loader import available as numba_available
from xcrop._core import random as R

CASES = [  # (seed, stream, size): odd sizes, 64-bit seeds, the largest stream
    (0, 0, 1),
    (1, 0, 2),
    (7, 1, 3),
    (2**32 + 5, 2, 1001),
    (2**64 - 1, 2**32 - 1, 4097),
    (123456789012345, 17, 50_000),
]


def _bits(a):
    return np.asarray(a, dtype=np.float32).view(np.uint32)


@pytest.mark.parametrize("seed,stream,size", CASES)
def test_generic_index_draw_matches_full_draw(seed, stream, size):
    idx = np.arange(size)[::-3].copy()
    full_u = _bits(R.uniform(xp, (size,), seed, stream=stream))
    full_n = _bits(R.standard_normal(xp, (size,), seed, stream=stream))
    np.testing.assert_array_equal(_bits(R.uniform_at(xp, idx, seed, stream=stream)), full_u[idx])
    np.testing.assert_array_equal(_bits(R.standard_normal_at(xp, idx, seed, stream=stream)),
                                  full_n[idx])


def test_index_draw_rejects_bad_indices():
    with pytest.raises(TypeError, match="integer"):
        R.uniform_at(xp, np.array([0.5]), 1)
    with pytest.raises(ValueError, match=r"\[0, 2\*\*31\)"):
        R.uniform_at(xp, np.array([-1]), 1)


needs_numba = pytest.mark.skipif(not numba_available(),
                                 reason="numba not installed (or XCROP_NO_NUMBA set)")


@needs_numba
@pytest.mark.parametrize("seed,stream,size", CASES)
def test_numba_samplers_match_reference(seed, stream, size):
    full_u = _bits(R.uniform(xp, (size,), seed, stream=stream))
    full_n = _bits(R.standard_normal(xp, (size,), seed, stream=stream))
    np.testing.assert_array_equal(_bits(F.uniform_flat(size, seed, stream=stream)), full_u)
    np.testing.assert_array_equal(_bits(F.standard_normal_flat(size, seed, stream=stream)),
                                  full_n)
    # An offset start reads the same counter positions.
    start = size // 2
    np.testing.assert_array_equal(
        _bits(F.standard_normal_flat(size - start, seed, stream=stream, start=start)),
        full_n[start:])


@needs_numba
@pytest.mark.parametrize("n", [1, 2, 3, 5, 64, 1000])
def test_numba_pairwise_mean_matches_portable(n):
    from xcrop._core.portable import pairwise_mean

    rng = np.random.default_rng(n)
    x = (rng.standard_normal((3, n, 4)) * 10.0 ** rng.integers(-3, 4, (3, n, 4)))
    x = x.astype(np.float32)
    x[0, 0, 0] = -0.0
    mean = pairwise_mean(xp, x, "cpu")
    np.testing.assert_array_equal(_bits(F.pairwise_mean(x)), _bits(mean))
    var = pairwise_mean(xp, (x - mean) ** 2, "cpu")
    np.testing.assert_array_equal(_bits(F.pairwise_mean(x, mean)), _bits(var))


GLIMPSE_CASES = [  # (offsets, size, kwargs, depth): partly outside, wholly outside, inside
    ([[-0.9, 0.8], [0.0, 0.0], [1.0, -1.0]], (9, 7), {}, 2),
    ([[3.0, 3.0], [-0.2, 0.5], [0.1, 0.1]], (4, 12), {}, 2),
    ([[0.0, 0.0], [2.0, 0.0], [-1.0, 1.0]], (5, 5), {"centered": False, "normalized": False}, 2),
    # Odd depth: fill spans start and end on odd flat indices (half a Threefry block).
    ([[-0.7, 0.9], [0.95, -0.3], [3.0, 0.0]], (7, 9), {}, 3),
]


@pytest.mark.parametrize("numba", [True, False], ids=["numba", "numpy"])
@pytest.mark.parametrize("noise", ["zero", "uniform", "gaussian"])
@pytest.mark.parametrize("case", range(len(GLIMPSE_CASES)))
def test_fast_glimpse_equals_generic(numba, noise, case, monkeypatch):
    if numba and not numba_available():
        pytest.skip("numba not installed (or XCROP_NO_NUMBA set)")
    if not numba:
        monkeypatch.setenv("XCROP_NO_NUMBA", "1")
    offsets, size, kw, depth = GLIMPSE_CASES[case]
    rng = np.random.default_rng(case)
    image = rng.standard_normal((3, 10, 11, depth)).astype(np.float32)
    offsets = np.asarray(offsets, np.float32)
    kwargs = dict(noise=noise, seed=99, **kw)
    assert xcrop.which_path("extract_glimpse", image, size, offsets, **kwargs) != "generic"
    fast = xcrop.extract_glimpse(image, size, offsets, **kwargs)
    with xcrop.use_generic():
        ref = xcrop.extract_glimpse(image, size, offsets, **kwargs)
    np.testing.assert_array_equal(_bits(fast), _bits(ref))
