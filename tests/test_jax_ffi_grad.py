"""The gradients under ``jax.jit`` on CPU through the XLA FFI paths
(``xcrop._backends.jax_ffi.grad_image`` / ``grad_boxes``: the numba gradient kernels as
custom calls), for ``jax.jit(jax.grad(...))`` of a crop and for the standalone gradient
functions.

Expected values: TF's recorded gradients (every gradient fixture), bit for bit, with x64
off and on; value errors fail the computation with the eager call's message. Every test
also checks the lowered program for the FFI targets, so a silent fall-back to the generic
gradient (about 25x slower, and exact too) fails it.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

import xcrop
from backends import check_jit_error, require_ffi
from xcrop.conformance import load_suite
from xcrop.conformance._runner import call_case, judge_exact

require_ffi()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from xcrop._backends import jax_ffi  # noqa: E402

#: What JAX raises for a failed custom call (see tests/test_jax_ffi.py).
RUNTIME_ERRORS = (jax.errors.JaxRuntimeError, ValueError)
GRAD_IMAGE, GRAD_BOXES = "crop_and_resize_grad_image", "crop_and_resize_grad_boxes"
SUITES = ("grad_edge", "grad_dtypes", "grad_random", "grad_errors")
RNG = np.random.default_rng(17)
#: XCROP_JAX_SAMPLE=all: every case and pair in both modes (about 2.5 minutes).
FULL = os.environ.get("XCROP_JAX_SAMPLE") == "all"


def _ffi_calls(lowered) -> set[str]:
    return set(re.findall(rf"{jax_ffi.PREFIX}(\w+)", lowered.as_text()))


def _wide(case) -> bool:
    return (any(a.dtype.itemsize == 8 for a in case.inputs.values())
            or case.params.get("T") == "float64")


@pytest.fixture(params=[False, True], ids=["x64_off", "x64_on"])
def x64(request):
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", request.param)
    yield request.param
    jax.config.update("jax_enable_x64", old)


# ----------------------------------------------------------------------------------------
# every gradient fixture through the standalone functions under jax.jit
# ----------------------------------------------------------------------------------------

def _run_standalone(case) -> None:
    keys = list(case.inputs)

    def run(*arrays):
        traced = {id(case.inputs[k]): a for k, a in zip(keys, arrays, strict=True)}
        return call_case(case, lambda a: traced.get(id(a), jnp.asarray(a)))

    f = jax.jit(run)
    arrays = [jnp.asarray(case.inputs[k]) for k in keys]
    if case.check == "error":
        with pytest.raises(Exception) as raised:
            jax.block_until_ready(f(*arrays))
        check_jit_error(raised.value, case)
        return
    lowered = f.lower(*arrays)
    kind = "grad_image" if case.op == GRAD_IMAGE else "grad_boxes"
    assert {c.rsplit("_", 1)[0] for c in _ffi_calls(lowered)} == {kind}, case.description
    out = np.asarray(lowered.compile()(*arrays))
    ok, _, msg = judge_exact(out, np.asarray(case.expected), 0)
    assert ok, f"{case.op}, {case.description}: {msg}"


@pytest.mark.parametrize("suite", SUITES)
def test_every_gradient_fixture_under_jit(suite: str, x64: bool) -> None:
    # One test per suite and mode: the cases compile ~0.05 s each. x64 off runs the
    # cases JAX can hold without it; x64 on the 64-bit ones and every 10th other one (the
    # same programs but for 64-bit shapes and scalars).
    # grad_random: every other case (its 280 cases differ in values more than in kind).
    cases = load_suite(suite)[::2 if suite == "grad_random" and not FULL else 1]
    cases = [c for c in cases if _wide(c)] + [c for c in cases if not _wide(c)][
        ::1 if FULL else 10] if x64 else [c for c in cases if not _wide(c)]
    assert cases
    for case in cases:
        _run_standalone(case)


# ----------------------------------------------------------------------------------------
# jax.jit(jax.grad(...)) of xcrop.crop_and_resize on the recorded pairs
# ----------------------------------------------------------------------------------------

def _pairs() -> list[dict]:
    pairs: dict = {}
    for suite in ("grad_edge", "grad_dtypes", "grad_random"):
        for c in load_suite(suite):
            pairs.setdefault((suite, c.params["pair"]), {})[c.op] = c
    return list(pairs.values())


PAIRS = _pairs()


def _check_grad_pair(pair: dict, argnums: tuple[int, ...]) -> None:
    cb = pair[GRAD_BOXES]
    grads, idx = jnp.asarray(cb.inputs["grads"]), jnp.asarray(cb.inputs["box_indices"])

    def loss(image, boxes):
        out = xcrop.crop_and_resize(image, boxes, idx, cb.params["crop_size"],
                                    method=cb.params["forward_method"])
        return jnp.sum(out * grads)  # d loss / d out == grads, exactly

    image, boxes = jnp.asarray(cb.inputs["image"]), jnp.asarray(cb.inputs["boxes"])
    lowered = jax.jit(jax.grad(loss, argnums=argnums)).lower(image, boxes)
    calls = {c.rsplit("_", 1)[0] for c in _ffi_calls(lowered)}
    assert ("grad_boxes" in calls) == (1 in argnums), calls
    assert ("grad_image" in calls) == (0 in argnums), calls
    got = lowered.compile()(image, boxes)
    checks = ([(got[-1], cb)] if 1 in argnums else []) + (
        [(got[0], pair[GRAD_IMAGE])] if 0 in argnums else [])
    for out, case in checks:
        ok, _, msg = judge_exact(np.asarray(out), case.expected)
        assert ok, f"{case.op}, {case.description}: {msg}"


def test_jit_of_grad_on_the_recorded_pairs(x64: bool) -> None:
    # Every edge and dtype pair, every 8th random one (a compile each, ~0.2 s).
    picked = [p for p in PAIRS if p[GRAD_BOXES].suite != "grad_random"] + [
        p for p in PAIRS if p[GRAD_BOXES].suite == "grad_random"][::1 if FULL else 8]
    ran = 0
    for pair in picked:
        if _wide(pair[GRAD_BOXES]) != x64 and not (FULL and x64):
            continue
        floating = GRAD_IMAGE in pair
        _check_grad_pair(pair, (0, 1) if floating else (1,))
        ran += 1
    assert ran


def test_grad_of_only_the_image_or_only_the_boxes() -> None:
    floating = [p for p in PAIRS if GRAD_IMAGE in p and not _wide(p[GRAD_BOXES])]
    for pair in floating[:3]:
        _check_grad_pair(pair, (0,))
        _check_grad_pair(pair, (1,))


# ----------------------------------------------------------------------------------------
# vmap, dynamic box counts, value errors
# ----------------------------------------------------------------------------------------

IMAGE = (RNG.standard_normal((3, 13, 17, 4)) * 20).astype(np.float32)
V = 3
VIMAGE = jnp.asarray(np.stack([IMAGE * (v + 1) for v in range(V)]))
VBOXES = jnp.asarray(RNG.uniform(-0.3, 1.3, (V, 6, 4)).astype(np.float32))
VINDICES = jnp.asarray(RNG.integers(0, 3, (V, 6)).astype(np.int32))


def _loss(image, boxes, indices, method="bilinear"):
    out = xcrop.crop_and_resize(image, boxes, indices, (5, 7), method=method)
    return (out * out).sum()


def _bits(x) -> np.ndarray:
    return np.asarray(x).view(np.uint8)


def _eager(image, boxes, indices, method="bilinear"):
    """The gradients of :func:`_loss` by the eager NumPy paths (the numba kernels, exact
    against TF in tests/test_numba_gradients.py): the reference of the FFI handlers."""
    image, boxes, indices = (np.asarray(a) for a in (image, boxes, indices))
    g = 2 * xcrop.crop_and_resize(image, boxes, indices, (5, 7), method=method)
    return (xcrop.crop_and_resize_grad_image(g, boxes, indices, image.shape, method=method,
                                             dtype=image.dtype),
            xcrop.crop_and_resize_grad_boxes(g, image, boxes, indices))


@pytest.mark.parametrize("method", ["bilinear", "nearest"])
def test_vmap_of_grad_is_one_batched_call_and_the_loop_of_eager_grads(method: str) -> None:
    grad = jax.grad(_loss, argnums=(0, 1))
    f = jax.jit(jax.vmap(lambda i, b, x: grad(i, b, x, method)))
    lowered = f.lower(VIMAGE, VBOXES, VINDICES)
    text = lowered.as_text()
    # The batching rule, not a loop: one call of each target, on the batched operands.
    for name in ("grad_image_float32", "grad_boxes_float32"):
        assert len(re.findall(jax_ffi.PREFIX + name, text)) == 1, text[:3000]
    gi, gb = lowered.compile()(VIMAGE, VBOXES, VINDICES)
    for v in range(V):
        ei, eb = _eager(VIMAGE[v], VBOXES[v], VINDICES[v], method)
        assert np.array_equal(_bits(gi[v]), _bits(ei))
        assert np.array_equal(_bits(gb[v]), _bits(eb))


def test_vmap_over_boxes_with_a_shared_image() -> None:
    grad = jax.grad(_loss, argnums=1)
    gb = jax.jit(jax.vmap(grad, in_axes=(None, 0, 0)))(jnp.asarray(IMAGE), VBOXES, VINDICES)
    for v in range(V):
        assert np.array_equal(_bits(gb[v]), _bits(_eager(IMAGE, VBOXES[v], VINDICES[v])[1]))


def test_dynamic_box_counts_and_float16_images() -> None:
    f = jax.jit(jax.grad(_loss, argnums=(0, 1)))
    for dtype in ("float32", "float16"):
        image = jnp.asarray(IMAGE.astype(dtype))
        for n in (1, 4, 6, 2):
            boxes, indices = VBOXES[0, :n], VINDICES[0, :n]
            gi, gb = f(image, boxes, indices)
            ei, eb = _eager(image, boxes, indices)
            assert gi.dtype == image.dtype
            assert np.array_equal(_bits(gi), _bits(ei))
            assert np.array_equal(_bits(gb), _bits(eb))


def test_generic_gradient_stays_the_fallback() -> None:
    args = (jnp.asarray(IMAGE), VBOXES[0], VINDICES[0])
    with xcrop.use_generic():
        lowered = jax.jit(lambda *a: jax.grad(_loss, argnums=(0, 1))(*a)).lower(*args)
    assert not _ffi_calls(lowered)


BAD = {
    "index": (np.asarray(VBOXES[0]), np.array([0, 1, 3, 0, 1, 2], np.int32)),
    "nan": (np.where(np.arange(24).reshape(6, 4) == 9, np.nan, VBOXES[0]).astype(np.float32),
            np.asarray(VINDICES[0])),
    "overflow": (np.where(np.arange(24).reshape(6, 4) == 13, 3e38, VBOXES[0])
                 .astype(np.float32), np.asarray(VINDICES[0])),
}


@pytest.mark.parametrize("bad", list(BAD))
def test_value_errors_fail_the_jitted_gradient_functions(bad: str) -> None:
    boxes, indices = (jnp.asarray(a) for a in BAD[bad])
    grads = jnp.ones((6, 5, 7, 4), jnp.float32)
    image = jnp.asarray(IMAGE)
    calls = {
        "grad_image": lambda g, b, x: xcrop.crop_and_resize_grad_image(g, b, x, IMAGE.shape),
        "grad_boxes": lambda g, b, x: xcrop.crop_and_resize_grad_boxes(g, image, b, x),
    }
    for name, fn in calls.items():
        with pytest.raises(xcrop.InvalidArgumentError) as eager:
            fn(grads, boxes, indices)
        f = jax.jit(fn)
        assert name in {c.rsplit("_", 1)[0] for c in _ffi_calls(f.lower(grads, boxes, indices))}
        with pytest.raises(RUNTIME_ERRORS, match=re.escape(str(eager.value))):
            jax.block_until_ready(f(grads, boxes, indices))
        # and in the last example of a vmap
        vf = jax.jit(jax.vmap(fn, in_axes=(None, 0, 0)))
        with pytest.raises(RUNTIME_ERRORS, match=re.escape(str(eager.value))):
            jax.block_until_ready(vf(grads, jnp.stack([VBOXES[0], boxes]),
                                     jnp.stack([VINDICES[0], indices])))


def test_an_unknown_ffi_api_or_a_failing_handler_falls_back_with_one_warning(
        monkeypatch) -> None:
    from xcrop._backends.numba import ffi_handlers

    args = (jnp.asarray(IMAGE), VBOXES[0], VINDICES[0])

    def lowered_text():
        # A fresh function each time: jit caches traces per function.
        return jax.jit(lambda *a: jax.grad(_loss, argnums=(0, 1))(*a)).lower(*args).as_text()

    monkeypatch.setattr(jax_ffi, "_ffi_ok", None)
    monkeypatch.setattr(jax_ffi, "_header_version", lambda: (0, 2))
    with pytest.warns(RuntimeWarning, match="FFI API is 0.2"):
        assert jax_ffi.PREFIX not in lowered_text()
    monkeypatch.undo()

    def broken(name):
        raise RuntimeError("no compiler")

    monkeypatch.setattr(jax_ffi, "_ffi_ok", None)
    monkeypatch.setattr(jax_ffi, "_registered", {})
    monkeypatch.setattr(ffi_handlers, "handler", broken)
    with pytest.warns(RuntimeWarning, match="no compiler"):
        assert jax_ffi.PREFIX not in lowered_text()
    assert jax_ffi.PREFIX not in lowered_text()  # and stays off, silently
    monkeypatch.undo()
    assert jax_ffi.PREFIX in lowered_text()


def test_empty_gradients_still_check_the_boxes() -> None:
    # Depth 0: nothing to compute, but a bad box index must still fail (TF: OutOfRange),
    # as the fuzzer found when XLA dropped an empty call with its check.
    boxes, indices = (jnp.asarray(a) for a in BAD["index"])
    grads = jnp.ones((6, 5, 7, 0), jnp.float32)
    image = jnp.zeros((3, 13, 17, 0), jnp.float32)
    for fn in (lambda g, b, x: xcrop.crop_and_resize_grad_image(g, b, x, (3, 13, 17, 0)),
               lambda g, b, x: xcrop.crop_and_resize_grad_boxes(g, image, b, x)):
        f = jax.jit(fn)
        assert _ffi_calls(f.lower(grads, boxes, indices))
        with pytest.raises(RUNTIME_ERRORS, match="box_indices"):
            jax.block_until_ready(f(grads, boxes, indices))
        out = f(grads, VBOXES[0], VINDICES[0])
        assert not np.asarray(out).any()
