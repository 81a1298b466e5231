"""Traced JAX calls on CPU through the XLA FFI paths (``xcrop._backends.jax_ffi``): the
numba kernels as custom calls under ``jax.jit``, ``vmap`` and ``grad``.

Expected values: TF's recorded outputs (every forward fixture, under ``jax.jit``) and the
eager paths (themselves conformance-tested), bit for bit. Value errors must fail the
computation with xcrop's message.
"""

from __future__ import annotations

import os
import re
import zlib
from pathlib import Path

import numpy as np
import pytest

import xcrop
from backends import check_jit_error, require_ffi
from xcrop.conformance import load_all, load_suite
from xcrop.conformance._runner import call_case, expected_exception, judge_exact, judge_fill

require_ffi()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from xcrop._backends import jax_ffi  # noqa: E402

FFI = jax_ffi.NAME
#: What JAX raises for a failed custom call: JaxRuntimeError from the first call of a
#: jitted function, ValueError from later calls (its C++ dispatch); xcrop's message in both.
RUNTIME_ERRORS = (jax.errors.JaxRuntimeError, ValueError)
RNG = np.random.default_rng(13)


def _bits(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32).view(np.uint32)


def _same(a, b) -> bool:
    return np.array_equal(_bits(a), _bits(b))


def _ffi_calls(lowered) -> set[str]:
    return set(re.findall(rf"{jax_ffi.PREFIX}\w+", lowered.as_text()))


# ----------------------------------------------------------------------------------------
# every forward fixture under jax.jit
# ----------------------------------------------------------------------------------------

FORWARD = [c for c in load_all() if c.op in ("crop_and_resize", "extract_glimpse")]
# Each case is a fresh trace and XLA compile (~0.1 s; no two share shapes). The three
# large random suites run every other case by default; XCROP_JAX_SAMPLE=all runs them all.
_LARGE = ("crop_random", "glimpse_v1", "glimpse_v2")
if os.environ.get("XCROP_JAX_SAMPLE") != "all":
    FORWARD = [c for c in FORWARD
               if c.suite not in _LARGE or zlib.crc32(c.key.encode()) % 2 == 0]


def _wide(case) -> bool:
    return any(a.dtype.itemsize == 8 for a in case.inputs.values())


def _jitted(case):
    """``call_case`` with the case's arrays as the arguments of a jitted function."""
    keys = list(case.inputs)

    def run(*arrays):
        traced = {id(case.inputs[k]): a for k, a in zip(keys, arrays, strict=True)}
        return call_case(case, lambda a: traced[id(a)])

    return jax.jit(run), [jnp.asarray(case.inputs[k]) for k in keys]


def _serves_ffi(case) -> bool:
    """Whether the FFI path serves the case (it declines empty outputs and images)."""
    if case.expected is None or np.asarray(case.expected).size == 0:
        return False
    if case.op == "extract_glimpse":
        return min(case.inputs["input"].shape[1:3]) > 0
    return True


def _run_case(case) -> None:
    f, arrays = _jitted(case)
    if case.check == "error":
        with pytest.raises(Exception) as raised:
            lowered = f.lower(*arrays)
            jax.block_until_ready(lowered.compile()(*arrays))
        check_jit_error(raised.value, case)
        return
    lowered = f.lower(*arrays)
    out = np.asarray(lowered.compile()(*arrays))
    assert bool(_ffi_calls(lowered)) == _serves_ffi(case), lowered.as_text()[:2000]
    if case.check == "fill_stats":
        ok, msg = judge_fill(case, out)
    else:
        ok, _, msg = judge_exact(out, np.asarray(case.expected), 0)
    assert ok, f"{case.description}: {msg}"


@pytest.fixture
def x64():
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", old)


@pytest.mark.parametrize("suite", sorted({c.suite for c in FORWARD}))
def test_every_forward_fixture_under_jit(suite: str) -> None:
    # One test per suite (not per case): the cases of a suite run in one loop, which
    # keeps the per-test overhead of ~800 cases out of the run time.
    for case in FORWARD:
        if case.suite == suite and not _wide(case):
            _run_case(case)


def test_64_bit_fixtures_under_jit_with_x64(x64) -> None:
    cases = [c for c in FORWARD if _wide(c)]
    assert cases
    for case in cases:
        _run_case(case)


# ----------------------------------------------------------------------------------------
# which path, eager and traced
# ----------------------------------------------------------------------------------------

IMAGE = (RNG.standard_normal((3, 13, 17, 4)) * 20).astype(np.float32)
BOXES = RNG.uniform(-0.3, 1.3, (6, 4)).astype(np.float32)
INDICES = RNG.integers(0, 3, 6).astype(np.int32)
OFFSETS = RNG.uniform(-1.2, 1.2, (3, 2)).astype(np.float32)


def _crop(image, boxes, indices, method="bilinear"):
    return xcrop.crop_and_resize(image, boxes, indices, (5, 7), method=method,
                                 extrapolation_value=-2.5)


def test_traced_calls_report_the_ffi_path_and_eager_calls_keep_theirs() -> None:
    args = (jnp.asarray(IMAGE), jnp.asarray(BOXES), jnp.asarray(INDICES), (5, 7))
    assert xcrop.which_path("crop_and_resize", *args) == "jax CPU fast path (numba kernel)"
    seen = []

    @jax.jit
    def traced(image, boxes, indices, offsets):
        seen.append(xcrop.which_path("crop_and_resize", image, boxes, indices, (5, 7)))
        seen.append(xcrop.which_path("extract_glimpse", image, (4, 4), offsets))
        return image

    traced(*args[:3], jnp.asarray(OFFSETS))
    assert seen == [FFI, FFI]
    with xcrop.use_generic():
        # A fresh function: jax.jit caches traces per function and shapes, not per
        # xcrop.use_generic(), so jit(_crop) would serve this trace to the tests below.
        lowered = jax.jit(lambda *a: _crop(*a)).lower(*args[:3])
    assert not _ffi_calls(lowered)


@pytest.mark.parametrize("dtype", ["uint8", "int16", "float16", "float32"])
@pytest.mark.parametrize("method", ["bilinear", "nearest"])
def test_jit_equals_eager_for_every_dtype(dtype: str, method: str) -> None:
    image = jnp.asarray((IMAGE * 3 + 100).astype(dtype))
    f = jax.jit(lambda i, b, x: _crop(i, b, x, method))
    lowered = f.lower(image, jnp.asarray(BOXES), jnp.asarray(INDICES))
    kind = "float32" if dtype == "float16" else dtype
    assert _ffi_calls(lowered) == {f"{jax_ffi.PREFIX}crop_{kind}"}
    got = lowered.compile()(image, jnp.asarray(BOXES), jnp.asarray(INDICES))
    assert _same(got, _crop(image, jnp.asarray(BOXES), jnp.asarray(INDICES), method))


def test_dynamic_box_counts_retrace_and_stay_exact() -> None:
    f = jax.jit(_crop)
    image = jnp.asarray(IMAGE)
    for n in (1, 4, 6, 2):
        boxes, indices = jnp.asarray(BOXES[:n]), jnp.asarray(INDICES[:n])
        assert _same(f(image, boxes, indices), _crop(image, boxes, indices))


def test_glimpse_fills_are_exact_and_seeded_under_jit() -> None:
    image, offsets = jnp.asarray(IMAGE), jnp.asarray(OFFSETS)
    for noise in ("uniform", "gaussian", "zero"):
        f = jax.jit(lambda i, o, seed, noise=noise: xcrop.extract_glimpse(
            i, (9, 12), o, noise=noise, seed=seed), static_argnums=2)
        a, b = f(image, offsets, 5), f(image, offsets, 6)
        assert _same(a, xcrop.extract_glimpse(image, (9, 12), offsets, noise=noise, seed=5))
        assert noise == "zero" or not _same(a, b)


def test_large_results_are_exact() -> None:
    # Results of 4 MiB or more: the handlers first advise huge pages on XLA's result
    # buffer (xla_ffi.advise_huge_pages), which must change nothing but the speed.
    image = jnp.asarray(RNG.standard_normal((2, 48, 40, 64)).astype(np.float32))
    boxes = jnp.asarray(RNG.uniform(-0.2, 1.2, (5, 4)).astype(np.float32))
    indices = jnp.asarray(np.array([0, 1, 1, 0, 1], np.int32))
    offsets = jnp.asarray(RNG.uniform(-1, 1, (2, 2)).astype(np.float32))
    crop = jax.jit(lambda i, b, x: xcrop.crop_and_resize(i, b, x, (64, 64)))
    glimpse = jax.jit(lambda i, o: xcrop.extract_glimpse(i, (96, 96), o, seed=3))
    grads = jnp.asarray(RNG.standard_normal((5, 64, 64, 64)).astype(np.float32))
    grad_image = jax.jit(lambda g, b, x: xcrop.crop_and_resize_grad_image(
        g, b, x, (6, 200, 160, 64)))  # an image gradient of 49 MB
    results = [(crop, (image, boxes, indices), "crop_float32"),
               (glimpse, (image, offsets), "glimpse"),
               (grad_image, (grads, boxes, indices), "grad_image_float32")]
    for f, args, target in results:
        lowered = f.lower(*args)
        assert _ffi_calls(lowered) == {jax_ffi.PREFIX + target}
        got = lowered.compile()(*args)
        assert got.nbytes >= 4 << 20
        eager = f.__wrapped__(*(np.asarray(a) for a in args))
        assert _same(got, eager), target


# ----------------------------------------------------------------------------------------
# vmap, grad and their combinations
# ----------------------------------------------------------------------------------------

V = 3
VIMAGE = jnp.asarray(np.stack([IMAGE * (v + 1) for v in range(V)]))
VBOXES = jnp.asarray(RNG.uniform(-0.3, 1.3, (V, 6, 4)).astype(np.float32))
VINDICES = jnp.asarray(RNG.integers(0, 3, (V, 6)).astype(np.int32))


@pytest.mark.parametrize("axes", [(0, 0, 0), (None, 0, 0), (0, None, None), (0, 0, None)])
def test_vmap_is_the_loop_of_eager_calls(axes) -> None:
    full = (VIMAGE, VBOXES, VINDICES)
    args = [a if ax == 0 else a[0] for a, ax in zip(full, axes, strict=True)]
    f = jax.jit(jax.vmap(_crop, in_axes=axes))
    lowered = f.lower(*args)
    assert len(re.findall(jax_ffi.PREFIX, lowered.as_text())) >= 1
    got = lowered.compile()(*args)
    for v in range(V):
        one = [a[v] if ax == 0 else a for a, ax in zip(args, axes, strict=True)]
        assert _same(got[v], _crop(*one))


def test_nested_vmap_and_vmap_of_glimpse() -> None:
    images = jnp.stack([VIMAGE[:2], VIMAGE[1:]])
    boxes = jnp.stack([VBOXES[:2], VBOXES[1:]])
    indices = jnp.stack([VINDICES[:2], VINDICES[1:]])
    got = jax.jit(jax.vmap(jax.vmap(_crop, in_axes=(None, 0, 0))))(images[:, 0], boxes,
                                                                    indices)
    for a in range(2):
        for b in range(2):
            assert _same(got[a, b], _crop(images[a, 0], boxes[a, b], indices[a, b]))
    offsets = jnp.asarray(RNG.uniform(-1, 1, (V, 3, 2)).astype(np.float32))

    def glimpse(i, o):
        return xcrop.extract_glimpse(i, (8, 9), o, noise="gaussian", seed=3)

    got = jax.jit(jax.vmap(glimpse))(VIMAGE, offsets)
    for v in range(V):
        assert _same(got[v], glimpse(VIMAGE[v], offsets[v]))


def _loss(image, boxes, indices):
    return (_crop(image, boxes, indices) ** 2).sum()


def _grads_generic(image, boxes, indices):
    """The gradients the FFI path must give: the generic ones (also TF's bits under jit,
    tests/test_jax_jit_exact.py) on the exact cotangent."""
    g = 2 * _crop(image, boxes, indices)
    with xcrop.use_generic():
        gi = xcrop.gradients.crop_and_resize_grad_image(g, boxes, indices, image.shape,
                                                        dtype=image.dtype)
        gb = xcrop.gradients.crop_and_resize_grad_boxes(g, image, boxes, indices)
    return gi, gb


def test_jit_of_grad_runs_the_ffi_crop_and_gradients() -> None:
    image, boxes, indices = jnp.asarray(IMAGE), jnp.asarray(BOXES), jnp.asarray(INDICES)
    f = jax.jit(jax.grad(_loss, argnums=(0, 1)))
    lowered = f.lower(image, boxes, indices)
    assert _ffi_calls(lowered) == {f"{jax_ffi.PREFIX}{name}" for name in (
        "crop_float32", "grad_image_float32", "grad_boxes_float32")}
    gi, gb = lowered.compile()(image, boxes, indices)
    ri, rb = jax.jit(_grads_generic)(image, boxes, indices)
    assert _same(gi, ri) and _same(gb, rb)


def test_vmap_of_grad_and_grad_of_vmap() -> None:
    f = jax.jit(jax.vmap(jax.grad(_loss, argnums=(0, 1))))
    gi, gb = f(VIMAGE, VBOXES, VINDICES)
    for v in range(V):
        ri, rb = jax.jit(_grads_generic)(VIMAGE[v], VBOXES[v], VINDICES[v])
        assert _same(gi[v], ri) and _same(gb[v], rb)
    total = jax.jit(jax.grad(lambda i, b: jax.vmap(_loss, in_axes=(None, 0, 0))(
        i, b, VINDICES).sum(), argnums=(0, 1)))
    ti, tb = total(jnp.asarray(IMAGE), VBOXES)
    for v in range(V):
        ri, rb = jax.jit(_grads_generic)(jnp.asarray(IMAGE), VBOXES[v], VINDICES[v])
        assert _same(tb[v], rb)
    np.testing.assert_allclose(np.asarray(ti), np.asarray(sum(
        jax.jit(_grads_generic)(jnp.asarray(IMAGE), VBOXES[v], VINDICES[v])[0]
        for v in range(V))), rtol=1e-5, atol=1e-4)


# ----------------------------------------------------------------------------------------
# value errors: raised when the program runs, with xcrop's message
# ----------------------------------------------------------------------------------------

BAD = {
    "index": (BOXES, np.array([0, 1, 3, 0, 1, 2], np.int32)),
    "negative index": (BOXES, np.array([0, -1, 1, 0, 1, 2], np.int32)),
    "nan": (np.where(np.arange(24).reshape(6, 4) == 9, np.nan, BOXES).astype(np.float32),
            INDICES),
    "inf": (np.where(np.arange(24).reshape(6, 4) == 21, -np.inf, BOXES).astype(np.float32),
            INDICES),
    "overflow": (np.where(np.arange(24).reshape(6, 4) == 13, 3e38, BOXES).astype(np.float32),
                 INDICES),
}


def _eager_message(fn) -> str:
    with pytest.raises(xcrop.InvalidArgumentError) as eager:
        fn()
    return str(eager.value)


@pytest.mark.parametrize("bad", list(BAD))
def test_value_errors_fail_the_jitted_crop_with_xcrops_message(bad: str) -> None:
    image = jnp.asarray(IMAGE)
    boxes, indices = (jnp.asarray(a) for a in BAD[bad])
    message = _eager_message(lambda: _crop(image, boxes, indices))
    with pytest.raises(RUNTIME_ERRORS, match=re.escape(message)):
        jax.block_until_ready(jax.jit(_crop)(image, boxes, indices))
    # and through vmap (the bad box in the last example) and jit(grad)
    vboxes = jnp.stack([jnp.asarray(BOXES), boxes])
    vindices = jnp.stack([jnp.asarray(INDICES), indices])
    with pytest.raises(RUNTIME_ERRORS, match=re.escape(message)):
        jax.block_until_ready(jax.jit(jax.vmap(_crop, in_axes=(None, 0, 0)))(
            image, vboxes, vindices))
    # jit(grad): the forward's custom call fails first, with the forward's message.
    with pytest.raises(RUNTIME_ERRORS, match=re.escape(message)):
        jax.block_until_ready(jax.jit(jax.grad(_loss, argnums=1))(image, boxes, indices))


def test_value_errors_fail_the_jitted_gradient_functions() -> None:
    boxes, indices = (jnp.asarray(a) for a in BAD["index"])
    grads = jnp.ones((6, 5, 7, 4), jnp.float32)
    message = _eager_message(lambda: xcrop.gradients.crop_and_resize_grad_image(
        grads, boxes, indices, IMAGE.shape))
    f = jax.jit(lambda g, b, x: xcrop.gradients.crop_and_resize_grad_image(
        g, b, x, IMAGE.shape))
    with pytest.raises(RUNTIME_ERRORS, match=re.escape(message)):
        jax.block_until_ready(f(grads, boxes, indices))
    ok = f(grads, jnp.asarray(BOXES), jnp.asarray(INDICES))
    with xcrop.use_generic():
        ref = jax.jit(lambda g, b, x: xcrop.gradients.crop_and_resize_grad_image(
            g, b, x, IMAGE.shape))(grads, jnp.asarray(BOXES), jnp.asarray(INDICES))
    assert _same(ok, ref)


# ----------------------------------------------------------------------------------------
# cases the TF fuzzer (fuzz/fuzz_tf.py) found
# ----------------------------------------------------------------------------------------

FUZZ_FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_empty_gradients_still_check_box_indices_under_jit() -> None:
    """fuzz/fuzz_tf.py, seed 20261203 (tests/fixtures/fuzz-grad-image-seed20261203): an
    image gradient of depth 0 with box index -1. TF raises OutOfRange; under jax.jit the
    gradient has no elements, so JAX dropped the check call with it and returned zeros.
    The check call is now marked as having a side effect; grad_boxes had the same hole."""
    (case,) = load_suite(FUZZ_FIXTURES / "fuzz-grad-image-seed20261203")
    assert case.check == "error" and case.error["tf_type"] == "OutOfRangeError"
    grads, boxes, indices = (jnp.asarray(case.inputs[k])
                             for k in ("grads", "boxes", "box_indices"))
    assert grads.shape[3] == 0
    p = case.params

    def grad_image(g, b, x):
        return xcrop.gradients.crop_and_resize_grad_image(g, b, x, p["image_shape"],
                                                          method=p["method"], dtype=p["T"])

    message = _eager_message(lambda: grad_image(grads, boxes, indices))
    assert isinstance(expected_exception(case)(message), xcrop.BoxIndexError)
    with pytest.raises(RUNTIME_ERRORS, match=re.escape(message)):
        jax.block_until_ready(jax.jit(grad_image)(grads, boxes, indices))
    image = jnp.zeros(p["image_shape"], jnp.float32)
    message = _eager_message(lambda: xcrop.gradients.crop_and_resize_grad_boxes(
        grads, image, boxes, indices))
    f = jax.jit(xcrop.gradients.crop_and_resize_grad_boxes)
    with pytest.raises(RUNTIME_ERRORS, match=re.escape(message)):
        jax.block_until_ready(f(grads, image, boxes, indices))


def test_empty_crop_checks_box_indices_under_jit() -> None:
    """Found with the TF fuzzer: TF raises OutOfRange for a bad box index whatever the
    depth; the jitted crop of a depth-0 image returned an empty result. The FFI crop
    declines depth 0; the generic path now checks the values when the program runs."""
    image = jnp.zeros((1, 4, 8, 0), jnp.float32)
    boxes = jnp.zeros((2, 4), jnp.float32)
    indices = jnp.asarray([-1, 0], jnp.int32)
    message = _eager_message(lambda: _crop(image, boxes, indices))
    with pytest.raises(RUNTIME_ERRORS, match=re.escape(message)):
        jax.block_until_ready(jax.jit(_crop)(image, boxes, indices))


@pytest.mark.parametrize(("operands", "what"), [
    ((np.zeros((1, 4, 4, 1), np.int32),), "crop: unexpected operand dtypes"),
    ((), "crop: expected attributes fill (f32), method (s32)"),
])
def test_a_target_called_with_other_operands_fails_with_an_internal_error(operands,
                                                                          what) -> None:
    """A handler refuses a call frame it was not written for (another jaxlib's layout, or
    the target called with other operands or attributes) with an INTERNAL error naming
    what is wrong, instead of reading memory that is not there."""
    image = operands[0] if operands else np.zeros((1, 4, 4, 1), np.float32)
    call = jax.ffi.ffi_call(jax_ffi.target("crop_float32"),
                            jax.ShapeDtypeStruct((1, 2, 2, 1), jnp.float32))
    attributes = {} if not operands else {"fill": np.float32(0), "method": np.int32(0)}
    with pytest.raises(RUNTIME_ERRORS, match=re.escape("xcrop XLA FFI handler: " + what)):
        jax.block_until_ready(call(image, np.zeros((1, 4), np.float32),
                                   np.zeros(1, np.int32), **attributes))
