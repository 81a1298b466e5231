"""Tests for ``xcrop._core.random``: a counter-based generator that is bit-identical
on every array API backend.

The statistical tests use fixed seeds, so they are deterministic: a threshold
on a p-value is a check of the generator, not a flaky coin toss.
"""

from __future__ import annotations

import importlib
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

np = pytest.importorskip("numpy")

try:
    from xcrop._core import random as R
except ImportError:  # package not installed: test the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from xcrop._core import random as R

try:
    from scipy import stats
except ImportError:  # pragma: no cover - scipy is optional
    stats = None

MODULE_FILE = Path(R.__file__).resolve()

# ----------------------------------------------------------------------------
# Backends
# ----------------------------------------------------------------------------

BACKENDS = ["numpy", "torch", "jax", "array_api_strict", "cupy"]


class Backend:
    def __init__(self, name, xp, to_numpy, default_device, devices):
        self.name = name
        self.xp = xp
        self.to_numpy = to_numpy
        self.default_device = default_device
        self.devices = devices  # devices to create arrays on in the device test

    def __repr__(self):
        return f"Backend({self.name})"


def _import_or_skip(module: str, missing: str):
    """``module``, imported, or skip the test with the reason ``missing``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        pytest.skip(missing)


def _load_backend(name: str) -> Backend:
    """Import a backend or skip the test with a visible reason."""
    if name == "numpy":
        xp = importlib.import_module("array_api_compat.numpy")
        return Backend(name, xp, np.asarray, "cpu", ["cpu"])
    if name == "torch":
        torch = _import_or_skip("torch", "PyTorch not installed")
        xp = importlib.import_module("array_api_compat.torch")
        return Backend(
            name,
            xp,
            lambda x: x.detach().cpu().numpy(),
            torch.device("cpu"),
            [torch.device("cpu")],
        )
    if name == "jax":
        jax = _import_or_skip("jax", "JAX not installed")
        jnp = _import_or_skip("jax.numpy", "JAX not installed")
        cpu = jax.devices("cpu")[0]
        return Backend(name, jnp, np.asarray, cpu, [cpu])
    if name == "array_api_strict":
        xp = _import_or_skip("array_api_strict", "array-api-strict not installed")
        cpu = xp.Device("CPU_DEVICE")

        def to_numpy(x):
            return np.asarray(xp.asarray(x, device=cpu, copy=True))

        return Backend(name, xp, to_numpy, cpu, [cpu, xp.Device("device1")])
    if name == "cupy":
        cupy = _import_or_skip("cupy", "CuPy not installed")
        try:
            n_gpus = cupy.cuda.runtime.getDeviceCount()
        except Exception:  # CUDA driver missing
            n_gpus = 0
        if n_gpus == 0:
            pytest.skip("no GPU")
        xp = importlib.import_module("array_api_compat.cupy")
        return Backend(name, xp, cupy.asnumpy, cupy.cuda.Device(0), [cupy.cuda.Device(0)])
    raise AssertionError(name)


@pytest.fixture(params=BACKENDS)
def backend(request) -> Backend:
    return _load_backend(request.param)


@pytest.fixture(scope="module")
def npx():
    return importlib.import_module("array_api_compat.numpy")


def bits(a) -> np.ndarray:
    a = np.ascontiguousarray(a)
    assert a.dtype == np.float32
    return a.view(np.uint32)


SAMPLERS = {"uniform": R.uniform, "normal": R.standard_normal}

# (shape, seed, stream); sizes include odd ones, a 0-d array, an empty one and
# a large one (vectorized library kernels switch code paths on large inputs).
CASES = [
    ((1,), 0, 0),
    ((7,), 1, 0),
    ((2, 3), 42, 1),
    ((), 5, 2),
    ((0, 4), 5, 0),
    ((3, 5, 7), 2**32 + 17, 3),
    ((100_001,), 12345, 9),
    ((64, 129), 2**64 - 1, 2**32 - 1),
]


# ----------------------------------------------------------------------------
# Threefry-2x32
# ----------------------------------------------------------------------------


def threefry2x32_reference(key: tuple[int, int], ctr: tuple[int, int]) -> tuple[int, int]:
    """Plain-Python Threefry-2x32-20 (Random123)."""
    m = 0xFFFFFFFF

    def rotl(v, r):
        return ((v << r) | (v >> (32 - r))) & m

    ks = (key[0], key[1], key[0] ^ key[1] ^ 0x1BD11BDA)
    x0, x1 = (ctr[0] + ks[0]) & m, (ctr[1] + ks[1]) & m
    rots = ((13, 15, 26, 6), (17, 29, 16, 24))
    for block in range(5):
        for r in rots[block % 2]:
            x0 = (x0 + x1) & m
            x1 = rotl(x1, r) ^ x0
        x0 = (x0 + ks[(block + 1) % 3]) & m
        x1 = (x1 + ks[(block + 2) % 3] + block + 1) & m
    return x0, x1


def _limbs(xp, words, device=None):
    words = np.asarray(words, dtype=np.int64)
    return (
        xp.asarray((words >> 16).astype(np.int32), device=device),
        xp.asarray((words & 0xFFFF).astype(np.int32), device=device),
    )


def _words(b: Backend, limbs) -> np.ndarray:
    hi, lo = (b.to_numpy(x).astype(np.int64) for x in limbs)
    assert ((hi >= 0) & (hi < 2**16) & (lo >= 0) & (lo < 2**16)).all()
    return (hi << 16) | lo


# Known-answer vectors of Threefry-2x32-20 from Random123 (kat_vectors).
KAT = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]


@pytest.mark.parametrize(("key", "ctr", "expected"), KAT)
def test_threefry_known_answers(npx, key, ctr, expected):
    b = _load_backend("numpy")
    assert threefry2x32_reference(key, ctr) == expected
    y0, y1 = R._threefry2x32(npx, key[0], key[1], _limbs(npx, [ctr[0]]), _limbs(npx, [ctr[1]]))
    assert (int(_words(b, y0)[0]), int(_words(b, y1)[0])) == expected


def test_threefry_matches_reference_on_every_backend(backend):
    rng = np.random.default_rng(2024)
    key = [int(k) for k in rng.integers(0, 2**32, 2)]
    ctr = rng.integers(0, 2**32, (2, 300))
    ctr[:, :4] = [[0, 2**32 - 1, 0, 2**32 - 1], [0, 0, 2**32 - 1, 2**32 - 1]]
    xp, dev = backend.xp, backend.default_device
    y0, y1 = R._threefry2x32(xp, key[0], key[1], _limbs(xp, ctr[0], dev), _limbs(xp, ctr[1], dev))
    ref = np.array([threefry2x32_reference(tuple(key), (int(a), int(c))) for a, c in ctr.T]).T
    np.testing.assert_array_equal(_words(backend, y0), ref[0])
    np.testing.assert_array_equal(_words(backend, y1), ref[1])


def test_threefry_matches_jax_random_threefry(npx):
    pytest.importorskip("jax")
    import jax.numpy as jnp
    from jax.extend.random import threefry_2x32

    rng = np.random.default_rng(7)
    key = rng.integers(0, 2**32, 2)
    ctr = rng.integers(0, 2**32, (2, 1000))
    # jax's threefry_2x32 hashes the pairs (count[i], count[i + n/2]).
    ref = np.asarray(
        threefry_2x32(
            (jnp.uint32(key[0]), jnp.uint32(key[1])),
            jnp.asarray(ctr.reshape(-1), dtype=jnp.uint32),
        )
    ).astype(np.int64)
    y0, y1 = R._threefry2x32(npx, int(key[0]), int(key[1]), _limbs(npx, ctr[0]),
                             _limbs(npx, ctr[1]))
    b = _load_backend("numpy")
    np.testing.assert_array_equal(np.concatenate([_words(b, y0), _words(b, y1)]), ref)


# ----------------------------------------------------------------------------
# Bit-identical results
# ----------------------------------------------------------------------------

# First values, pinned: a change here changes every user's random numbers.
GOLDEN = {
    ("uniform", 0, 0): [0x3ED64002, 0x3F19BA4E, 0x3EA11DF6, 0x3F40DE3F, 0x3EC94C4C],
    ("uniform", 2**63 + 1, 7): [0x3EE7962A, 0x3F3599B8, 0x3E75A998, 0x3EEAC4C4, 0x3F23353B],
    ("normal", 0, 0): [0x3F10CDBC, 0xC02A1BEB, 0xBDE5D279, 0xBDF18DF8, 0x3F393F89],
    ("normal", 2**63 + 1, 7): [0x3F6C6ECC, 0xBE7B92D1, 0x3F3CA8F6, 0x3F1DF0C0, 0x3E2C501F],
}


@pytest.mark.parametrize(("kind", "seed", "stream"), list(GOLDEN))
def test_golden_values(backend, kind, seed, stream):
    out = SAMPLERS[kind](backend.xp, (5,), seed, stream=stream)
    assert bits(backend.to_numpy(out)).tolist() == GOLDEN[kind, seed, stream]


def test_uniform_is_threefry_top_24_bits(npx):
    # Key (0, 0), counter (0, 0) is the first Random123 known answer.
    u = R.uniform(npx, (2,), 0)
    assert (u * 2**24).astype(np.int64).tolist() == [0x6B200159 >> 8, 0x99BA4EFE >> 8]


@pytest.mark.parametrize("kind", list(SAMPLERS))
@pytest.mark.parametrize(("shape", "seed", "stream"), CASES)
def test_bit_identical_across_backends(backend, npx, kind, shape, seed, stream):
    sample = SAMPLERS[kind]
    ref = sample(npx, shape, seed, stream=stream)
    out = sample(backend.xp, shape, seed, stream=stream)
    assert tuple(out.shape) == shape
    assert out.dtype == backend.xp.float32
    got = backend.to_numpy(out)
    assert got.shape == shape
    np.testing.assert_array_equal(bits(got), bits(ref))


@pytest.fixture
def jax_x64_restored():
    jax = pytest.importorskip("jax")
    old = jax.config.jax_enable_x64
    yield jax
    jax.config.update("jax_enable_x64", old)


@pytest.mark.parametrize("kind", list(SAMPLERS))
def test_jax_x64_on_and_off_give_the_same_bits(jax_x64_restored, npx, kind):
    jax = jax_x64_restored
    import jax.numpy as jnp

    sample = SAMPLERS[kind]
    ref = bits(sample(npx, (3, 1001), 99, stream=4))
    for x64 in (False, True):
        jax.config.update("jax_enable_x64", x64)
        out = sample(jnp, (3, 1001), 99, stream=4)
        assert out.dtype == jnp.float32
        np.testing.assert_array_equal(bits(np.asarray(out)), ref, err_msg=f"x64={x64}")


def test_jax_x64_in_fresh_interpreter(npx):
    """Same check with x64 switched on before JAX is first imported."""
    pytest.importorskip("jax")
    code = (
        "import sys, importlib.util, numpy as np, jax.numpy as jnp\n"
        f"spec = importlib.util.spec_from_file_location('r', {str(MODULE_FILE)!r})\n"
        "r = importlib.util.module_from_spec(spec); spec.loader.exec_module(r)\n"
        "assert jnp.zeros(1).dtype == jnp.float64\n"
        "u = np.asarray(r.uniform(jnp, (999,), 3, stream=1))\n"
        "z = np.asarray(r.standard_normal(jnp, (999,), 3, stream=1))\n"
        "assert u.dtype == z.dtype == np.float32\n"
        "sys.stdout.write(u.tobytes().hex() + ' ' + z.tobytes().hex())\n"
    )
    env = dict(os.environ, JAX_ENABLE_X64="1", JAX_PLATFORMS="cpu")
    res = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr
    u_hex, z_hex = res.stdout.split()
    assert u_hex == R.uniform(npx, (999,), 3, stream=1).tobytes().hex()
    assert z_hex == R.standard_normal(npx, (999,), 3, stream=1).tobytes().hex()


def test_jax_jit(npx):
    """Under jit, uniforms stay bit-identical; XLA may fuse the float math of the
    normals (e.g. into FMAs), so those are only equal to within a few ulp."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    u = jax.jit(lambda: R.uniform(jnp, (10_001,), 8, stream=2))()
    np.testing.assert_array_equal(
        bits(np.asarray(u)), bits(R.uniform(npx, (10_001,), 8, stream=2))
    )
    z = np.asarray(jax.jit(lambda: R.standard_normal(jnp, (10_001,), 8))())
    ref = R.standard_normal(npx, (10_001,), 8)
    np.testing.assert_allclose(z, ref, rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------
# API behaviour
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(SAMPLERS))
def test_dtype_and_device(backend, kind):
    from array_api_compat import device as device_of

    xp = backend.xp
    for dev in backend.devices:
        out = SAMPLERS[kind](xp, (4, 3), 1, device=dev)
        assert out.dtype == xp.float32
        assert tuple(out.shape) == (4, 3)
        assert device_of(out) == dev
    default = SAMPLERS[kind](xp, (4, 3), 1)
    assert device_of(default) == device_of(xp.zeros((1,)))
    np.testing.assert_array_equal(bits(backend.to_numpy(default)), bits(backend.to_numpy(out)))


@pytest.mark.parametrize("kind", list(SAMPLERS))
def test_deterministic(backend, kind):
    a = backend.to_numpy(SAMPLERS[kind](backend.xp, (257,), 31337, stream=5))
    b = backend.to_numpy(SAMPLERS[kind](backend.xp, (257,), 31337, stream=5))
    np.testing.assert_array_equal(bits(a), bits(b))


@pytest.mark.parametrize("kind", list(SAMPLERS))
def test_prefix_and_shape_stability(backend, kind):
    sample, xp = SAMPLERS[kind], backend.xp
    long = bits(backend.to_numpy(sample(xp, (1000,), 77, stream=1)))
    for k in (0, 1, 2, 3, 10, 11, 999):
        short = bits(backend.to_numpy(sample(xp, (k,), 77, stream=1)))
        np.testing.assert_array_equal(short, long[:k])
    shaped = bits(backend.to_numpy(sample(xp, (8, 5, 25), 77, stream=1)))
    np.testing.assert_array_equal(shaped.reshape(-1), long)
    # A plain int is accepted as a 1-d shape.
    np.testing.assert_array_equal(bits(backend.to_numpy(sample(xp, 13, 77, stream=1))), long[:13])


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**70),
    stream=st.integers(0, 2**32 - 1),
    n=st.integers(0, 40),
    k=st.integers(0, 40),
    kind=st.sampled_from(sorted(SAMPLERS)),
)
def test_chunks_agree_property(seed, stream, n, k, kind):
    xp = importlib.import_module("array_api_compat.numpy")
    sample = SAMPLERS[kind]
    full = bits(sample(xp, (n + k,), seed, stream=stream))
    np.testing.assert_array_equal(bits(sample(xp, (n,), seed, stream=stream)), full[:n])
    # Seeds are reduced modulo 2**64.
    np.testing.assert_array_equal(bits(sample(xp, (n + k,), seed % 2**64, stream=stream)), full)


def test_seed_high_bits_matter(npx):
    for sample in SAMPLERS.values():
        a = sample(npx, (64,), 5)
        for other in (5 + 2**32, 5 + 2**63, 4, 6):
            assert (bits(sample(npx, (64,), other)) != bits(a)).mean() > 0.9


@pytest.mark.parametrize("kind", list(SAMPLERS))
@pytest.mark.parametrize(
    ("seed", "exc"),
    [
        (-1, ValueError),
        (-(2**70), ValueError),
        (True, TypeError),
        (False, TypeError),
        (1.0, TypeError),
        (None, TypeError),
        ("1", TypeError),
        (np.float32(2), TypeError),
    ],
)
def test_bad_seed(npx, kind, seed, exc):
    with pytest.raises(exc, match="seed"):
        SAMPLERS[kind](npx, (3,), seed)


def test_seed_accepts_integer_like(npx):
    np.testing.assert_array_equal(R.uniform(npx, (5,), np.int64(9)), R.uniform(npx, (5,), 9))
    np.testing.assert_array_equal(R.uniform(npx, (5,), 2**64 + 9), R.uniform(npx, (5,), 9))


@pytest.mark.parametrize(
    ("stream", "exc"),
    [
        (-1, ValueError),
        (2**32, ValueError),
        (True, TypeError),
        (0.5, TypeError),
        (None, TypeError),
    ],
)
def test_bad_stream(npx, stream, exc):
    with pytest.raises(exc, match="stream"):
        R.uniform(npx, (3,), 0, stream=stream)


@pytest.mark.parametrize(
    ("shape", "exc"),
    [
        ((2, -1), ValueError),
        ((2.0,), TypeError),
        ("ab", TypeError),
        (None, TypeError),
        ((2**16, 2**15 + 1), ValueError),
        ((True, 2), TypeError),
    ],
)
def test_bad_shape(npx, shape, exc):
    with pytest.raises(exc, match=r"shape|2\*\*31"):
        R.standard_normal(npx, shape, 0)


def test_random_seed():
    seeds = {R.random_seed() for _ in range(8)}
    assert all(isinstance(s, int) and 0 <= s < 2**64 for s in seeds)
    assert len(seeds) == 8


def test_no_array_library_imported_at_import_time():
    code = (
        "import sys, importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('r', {str(MODULE_FILE)!r})\n"
        "r = importlib.util.module_from_spec(spec); spec.loader.exec_module(r)\n"
        "bad = [m for m in ('numpy', 'torch', 'jax', 'cupy', 'array_api_strict',\n"
        "       'array_api_compat') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


# ----------------------------------------------------------------------------
# Building blocks: log, sqrt, cos/sin
# ----------------------------------------------------------------------------


def test_log_accuracy(npx):
    rng = np.random.default_rng(11)
    w = np.concatenate(
        [
            rng.integers(0, 2**32, 200_000),
            np.arange(0, 4096),
            2**32 - 1 - np.arange(0, 4096),
            2 ** np.arange(32) - 1,
            2 ** np.arange(32),
            2 ** np.arange(1, 32) + 1,
        ]
    ).astype(np.int64)
    w = w[w < 2**32]
    got = R._log_u01(npx, _limbs(npx, w)).astype(np.float64)
    ref = np.log((w + 1.0) / 2**32)
    assert (got[ref == 0] == 0).all()
    nz = ref != 0
    assert (got[nz] < 0).all()
    rel = np.abs(got[nz] - ref[nz]) / np.abs(ref[nz])
    assert rel.max() < 4e-7, rel.max()


def test_sqrt_accuracy(npx):
    rng = np.random.default_rng(12)
    x = np.concatenate(
        [10.0 ** rng.uniform(-10, np.log10(255), 200_000), [2.0**-56, 4.6e-10, 1.0, 4.0, 255.9]]
    ).astype(np.float32)
    got = R._sqrt(npx, x).astype(np.float64)
    rel = np.abs(got - np.sqrt(x.astype(np.float64))) / np.sqrt(x.astype(np.float64))
    assert rel.max() < 2e-7, rel.max()
    assert R._sqrt(npx, np.zeros(3, dtype=np.float32)).tolist() == [0.0, 0.0, 0.0]


def test_cos_sin_accuracy(npx):
    k = np.concatenate([np.arange(0, 2**24, 7), [2**24 - 1, 2**21, 2**22, 2**23, 3 * 2**22]])
    c, s = R._cos_sin_turn(npx, k.astype(np.int32))
    theta = 2 * np.pi * k / 2**24
    assert np.abs(c - np.cos(theta)).max() < 2e-7
    assert np.abs(s - np.sin(theta)).max() < 2e-7


def test_no_float_exceptions_or_subnormals(npx):
    """No intermediate underflows to a subnormal, so flush-to-zero (CuPy builds
    its kernels with -ftz=true) cannot change any result."""
    rng = np.random.default_rng(13)
    w = np.concatenate(
        [rng.integers(0, 2**32, 100_000), np.arange(4096), 2**32 - 1 - np.arange(4096)]
    )
    with np.errstate(all="raise"):
        log = R._log_u01(npx, _limbs(npx, w))
        R._sqrt(npx, -2.0 * log)
        R._cos_sin_turn(npx, np.arange(0, 2**24, 3, dtype=np.int32))
        R._cos_sin_turn(npx, np.arange(2**22 - 64, 2**22 + 64, dtype=np.int32))
        R.standard_normal(npx, (100_000,), 1)
        R.uniform(npx, (100_000,), 1)


def test_normal_matches_float64_box_muller(npx):
    n = 100_000
    z = R.standard_normal(npx, (2 * n,), 2718).astype(np.float64)
    w0, w1 = R._random_words(npx, 0, n, 2718, 0, R.KIND_NORMAL, None)
    b = _load_backend("numpy")
    u1 = (_words(b, w0) + 1.0) / 2**32
    angle = 2 * np.pi * (_words(b, w1) >> 8) / 2**24
    r = np.sqrt(-2 * np.log(u1))
    ref = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1).reshape(-1)
    err = np.abs(z - ref)
    assert err.max() < 1e-6, err.max()
    assert (err / np.maximum(np.abs(ref), 1.0)).max() < 4e-7


# ----------------------------------------------------------------------------
# Statistics (numpy only: the other backends give the same bits)
# ----------------------------------------------------------------------------

N_STAT = 2**20


def _ks_pvalue(x, cdf: str) -> float:
    if stats is not None:
        return float(stats.kstest(x, cdf).pvalue)
    x = np.sort(np.asarray(x, dtype=np.float64))
    n = x.size
    if cdf == "uniform":
        f = x
    elif cdf == "norm":
        f = 0.5 * (1.0 + np.frompyfunc(math.erf, 1, 1)(x / math.sqrt(2)).astype(np.float64))
    else:  # "expon"
        f = -np.expm1(-x)
    i = np.arange(1, n + 1)
    d = max((i / n - f).max(), (f - (i - 1) / n).max())
    lam = d * (math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n))
    p = 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101))
    return min(max(p, 0.0), 1.0)


def _chi2_pvalue(observed, expected) -> float:
    observed = np.asarray(observed, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    stat = float(((observed - expected) ** 2 / expected).sum())
    dof = observed.size - 1
    if stats is not None:
        return float(stats.chi2.sf(stat, dof))
    # Wilson–Hilferty approximation.
    z = ((stat / dof) ** (1 / 3) - (1 - 2 / (9 * dof))) / math.sqrt(2 / (9 * dof))
    return 0.5 * math.erfc(z / math.sqrt(2))


def _norm_cdf(x):
    return np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in np.atleast_1d(x)])


P_MIN = 1e-4  # fixed seeds: these are deterministic checks


def test_uniform_range_and_grid(npx):
    u = R.uniform(npx, (N_STAT,), 1)
    assert u.dtype == np.float32
    assert u.min() >= 0.0
    assert u.max() < 1.0
    m = u.astype(np.float64) * 2**24
    np.testing.assert_array_equal(m, np.floor(m))
    assert u.min() < 1e-5
    assert u.max() > 1 - 1e-5


def test_uniform_distribution(npx):
    u = R.uniform(npx, (N_STAT,), 2024).astype(np.float64)
    assert _ks_pvalue(u, "uniform") > P_MIN
    counts = np.bincount((u * 1024).astype(np.int64), minlength=1024)
    assert _chi2_pvalue(counts, np.full(1024, N_STAT / 1024)) > P_MIN
    # Every one of the 24 bits is fair.
    m = (u * 2**24).astype(np.int64)
    ones = np.array([((m >> b) & 1).sum() for b in range(24)])
    z = (ones - N_STAT / 2) / math.sqrt(N_STAT / 4)
    assert np.abs(z).max() < 5, z
    # Pairs of consecutive values (which share a Threefry block) fill a 32x32 grid.
    pairs = (u[0::2] * 32).astype(np.int64) * 32 + (u[1::2] * 32).astype(np.int64)
    counts = np.bincount(pairs, minlength=1024)
    assert _chi2_pvalue(counts, np.full(1024, N_STAT / 2 / 1024)) > P_MIN
    assert abs(u.mean() - 0.5) < 5 * math.sqrt(1 / 12 / N_STAT)


def test_normal_distribution(npx):
    z = R.standard_normal(npx, (N_STAT,), 2024).astype(np.float64)
    assert np.isfinite(z).all()
    assert _ks_pvalue(z, "norm") > P_MIN
    n = z.size
    assert abs(z.mean()) < 5 / math.sqrt(n)
    assert abs(z.var() - 1) < 5 * math.sqrt(2 / n)
    assert abs(np.mean(z**3)) < 5 * math.sqrt(15 / n)
    assert abs(np.mean(z**4) - 3) < 5 * math.sqrt(96 / n)
    # Chi-square on bins of equal probability, tails included.
    edges = np.concatenate([[-np.inf], np.linspace(-4, 4, 81), [np.inf]])
    probs = np.diff(np.concatenate([[0.0], _norm_cdf(edges[1:-1]), [1.0]]))
    counts = np.histogram(z, bins=edges)[0]
    assert _chi2_pvalue(counts, probs * n) > P_MIN
    # Tails: |z| > 3 happens with probability 0.0027.
    p3 = math.erfc(3 / math.sqrt(2))
    k = int((np.abs(z) > 3).sum())
    assert abs(k - n * p3) < 5 * math.sqrt(n * p3)
    assert np.abs(z).max() < math.sqrt(64 * math.log(2)) + 1e-5


@pytest.mark.parametrize(("kind", "cdf"), [("uniform", "uniform"), ("normal", "norm")])
def test_second_level_ks(npx, kind, cdf):
    """KS p-values over many seeds are themselves uniform."""
    pvalues = [
        _ks_pvalue(SAMPLERS[kind](npx, (2**15,), 1000 + 7919 * s).astype(np.float64), cdf)
        for s in range(32)
    ]
    assert _ks_pvalue(np.array(pvalues), "uniform") > P_MIN


def test_normal_pairs(npx):
    # Box–Muller pairs: the squared radius / 2 is Exp(1), the angle uniform,
    # and the two members are uncorrelated.
    z = R.standard_normal(npx, (N_STAT,), 99).astype(np.float64)
    a, b = z[0::2], z[1::2]
    assert _ks_pvalue((a * a + b * b) / 2, "expon") > P_MIN
    assert _ks_pvalue(np.arctan2(b, a) / (2 * np.pi) + 0.5, "uniform") > P_MIN
    assert abs(np.corrcoef(a, b)[0, 1]) < 5 / math.sqrt(a.size)
    assert abs(np.corrcoef(a * a, b * b)[0, 1]) < 5 / math.sqrt(a.size)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("uniform", 1, 0), ("uniform", 1, 1)),
        (("uniform", 1, 0), ("uniform", 2, 0)),
        (("uniform", 0, 0), ("uniform", 2**32, 0)),
        (("uniform", 3, 0), ("uniform", 3, 2**32 - 1)),
        (("normal", 1, 0), ("normal", 1, 1)),
        (("normal", 1, 0), ("normal", 2, 0)),
        (("uniform", 1, 0), ("normal", 1, 0)),
    ],
)
def test_streams_and_seeds_are_independent(npx, first, second):
    n = 2**18
    x = SAMPLERS[first[0]](npx, (n,), first[1], stream=first[2]).astype(np.float64)
    y = SAMPLERS[second[0]](npx, (n,), second[1], stream=second[2]).astype(np.float64)
    assert abs(np.corrcoef(x, y)[0, 1]) < 5 / math.sqrt(n)
    # Also no shifted relation between neighbouring elements.
    assert abs(np.corrcoef(x[1:], y[:-1])[0, 1]) < 5 / math.sqrt(n)
    if first[0] == second[0] == "uniform":
        # Joint distribution on a 16x16 grid.
        cells = (x * 16).astype(np.int64) * 16 + (y * 16).astype(np.int64)
        counts = np.bincount(cells, minlength=256)
        assert _chi2_pvalue(counts, np.full(256, n / 256)) > P_MIN


def test_serial_correlation(npx):
    for sample in SAMPLERS.values():
        x = sample(npx, (N_STAT,), 5).astype(np.float64)
        for lag in (1, 2, 3, 64):
            assert abs(np.corrcoef(x[lag:], x[:-lag])[0, 1]) < 5 / math.sqrt(N_STAT)


# ----------------------------------------------------------------------------
# Speed (reported, not asserted)
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["numpy", "torch"])
def test_speed_report(name, capsys):
    b = _load_backend(name)
    times = {}
    for kind, sample in SAMPLERS.items():
        sample(b.xp, (1000,), 0)
        t0 = time.perf_counter()
        sample(b.xp, (10**6,), 0)
        times[kind] = time.perf_counter() - t0
    with capsys.disabled():
        print(
            f"\n[xcrop._core.random] {name}: 1e6 uniform {times['uniform']:.3f} s, "
            f"1e6 normal {times['normal']:.3f} s"
        )
