"""The generic path under ``jax.jit``: the same bits as eagerly, i.e. TF's.

XLA does two things eager JAX does not: it rewrites division by a constant as a multiply
by the reciprocal, and it contracts ``a * b + c`` into fused multiply-adds. The generic
code fences both off (data-dependent divisors, ``xcrop._core.float32.rounding_barrier``); these
tests hold it to 0 ulp:

* every barrier on its own, on many random values (one small compile each);
* the recorded forward fixtures under ``jax.jit``, x64 off and on, against TF's bits, and
  the seeded glimpse fills against the eager generic path's bits (same seed);
* the gradient pairs under ``jax.jit(jax.grad(...))`` through ``xcrop.crop_and_resize``,
  image and box gradients against TF's bits (x64 off includes the crop-1 box gradients
  that TF adds in float64, emulated exactly in float32).

JAX compiles every case afresh (about 0.3 s a forward case, 1.5 s a gradient pair), so the
default run (about 65 s) takes a fixed spread-out sample of each suite: 111 forward cases
with x64 off, 39 with x64 on, 13 + 7 gradient pairs. ``XCROP_JAX_SAMPLE=all`` runs every
case (about 10 minutes).
"""

from __future__ import annotations

import copy
import os
import types
from typing import Any

import numpy as np
import pytest

pytest.importorskip("jax")

import jax
import jax.numpy as jnp

import xcrop
from backends import gradient_pairs
from xcrop._backends import jax_ffi
from xcrop.conformance import load_all
from xcrop.conformance._adapters import ADAPTERS
from xcrop.conformance._runner import call_case, judge_exact

_FULL = os.environ.get("XCROP_JAX_SAMPLE") == "all"
_JAX = next(a for a in ADAPTERS if a.name == "jax")
_JAX_X64 = next(a for a in ADAPTERS if a.name == "jax_x64")

FORWARD = [c for c in load_all() if c.op in ("crop_and_resize", "extract_glimpse")
           and c.check != "error"]
GRAD_IMAGE, GRAD_BOXES = "crop_and_resize_grad_image", "crop_and_resize_grad_boxes"


def _wide(case: Any) -> bool:
    return any(a.dtype.itemsize == 8 for a in case.inputs.values())


def _every(cases: list[Any], step: int, offset: int = 0) -> list[Any]:
    """Every ``step``-th case of each suite (so every suite is represented)."""
    by_suite: dict[str, list[Any]] = {}
    for c in cases:
        by_suite.setdefault(c.suite, []).append(c)
    return [c for group in by_suite.values() for c in group[offset % step::step]]


def _forward_sample(x64: bool) -> list[Any]:
    if x64:
        # Every other 64-bit input case (JAX holds them only with x64), every 32nd case.
        picked = {id(c) for c in _every(FORWARD, 32, 3) + [c for c in FORWARD if _wide(c)][::2]}
        return [c for c in FORWARD if id(c) in picked]
    held = [c for c in FORWARD if not _wide(c)]
    picked = {id(c) for c in _every(held, 10)}
    return [c for c in held if id(c) in picked or c.description.startswith("[spec")]


PAIRS = gradient_pairs()


def _crop1(pair: dict[str, Any]) -> bool:
    g = pair[GRAD_BOXES].inputs["grads"]
    return g.shape[1] == 1 or g.shape[2] == 1


def _grad_sample(x64: bool) -> list[dict[str, Any]]:
    if x64:
        wide = [p for p in PAIRS if _wide(p[GRAD_BOXES])]
        return wide[::4] + PAIRS[5::100]
    held = [p for p in PAIRS if not _wide(p[GRAD_BOXES])]
    # The crop-1 pairs (TF's float64 adds) more densely than the others.
    return [p for p in held if _crop1(p)][::6] + [p for p in held if not _crop1(p)][::60]


def _ids(cases: list[Any]) -> list[str]:
    return [c.key for c in cases]


# ------------------------------------------------------------------- each barrier alone


def _bits(x: Any) -> bytes:
    return np.asarray(x).tobytes()


def test_rounding_barrier() -> None:
    from xcrop._core.float32 import rounding_barrier

    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal(2**16).astype(np.float32) for _ in range(3))
    # The identity (the same object) on everything but a tracer: no eager cost, no bit.
    assert rounding_barrier(np, a) is a
    ja = jnp.asarray(a)
    assert rounding_barrier(jnp, ja) is ja
    fenced = jax.jit(lambda a, b, c: rounding_barrier(jnp, a * b) + c)(a, b, c)
    assert _bits(fenced) == _bits(a * b + c)


def test_coordinates_under_jit() -> None:
    from xcrop._core.coordinates import sample_coordinates

    rng = np.random.default_rng(1)
    boxes = rng.uniform(-0.5, 1.5, (4096, 2)).astype(np.float32)
    lo, hi = boxes[:, :1], boxes[:, 1:]
    for size, count in ((50, 14), (7, 8), (384, 224), (5, 1), (1, 3)):
        want = sample_coordinates(np, lo, hi, size, count, None)
        got = jax.jit(lambda lo, hi, s=size, n=count: sample_coordinates(jnp, lo, hi, s, n,
                                                                           None))(lo, hi)
        assert _bits(got) == _bits(want), (size, count)


def test_window_start_under_jit() -> None:
    from xcrop._reference.indexing import window_start

    rng = np.random.default_rng(2)
    offsets = (rng.standard_normal(4096) * 3).astype(np.float32)
    for version in (1, 2):
        for centered in (False, True):
            for normalized in (False, True):
                args = types.SimpleNamespace(version=version, centered=centered,
                                             normalized=normalized)
                want = window_start(np, offsets, 37, 5, args)
                got = jax.jit(lambda t, a=args: window_start(jnp, t, 37, 5, a))(offsets)
                assert _bits(got) == _bits(want), (version, centered, normalized)


def test_random_under_jit() -> None:
    from xcrop._core import random as _random

    n = 3 * 2**14 + 1
    for draw in (_random.uniform, _random.standard_normal):
        want = draw(np, (n,), 12345, stream=3)
        got = jax.jit(lambda d=draw: d(jnp, (n,), 12345, stream=3))()
        assert _bits(got) == _bits(want), draw.__name__


def test_portable_under_jit() -> None:
    from xcrop._core.portable import pairwise_mean, portable_sqrt

    rng = np.random.default_rng(3)
    x = (rng.standard_normal((3, 1001, 4)) * 10.0 ** rng.integers(-8, 8, (3, 1001, 4)))
    x = x.astype(np.float32)
    want = pairwise_mean(np, x, None)
    assert _bits(jax.jit(lambda x: pairwise_mean(jnp, x, None))(x)) == _bits(want)
    y = np.abs(x)
    assert _bits(jax.jit(lambda y: portable_sqrt(jnp, y))(y)) == _bits(portable_sqrt(np, y))


def test_float_plus_double_emulation() -> None:
    """``f32(acc + (hi + lo))`` rounded once, as C's ``float += double`` with the exact
    double ``hi + lo`` (the crop-1 box gradient without float64), incl. near-ties."""
    from xcrop._reference.gradients import _add_rounded_once, _exact_product

    rng = np.random.default_rng(4)
    n = 2**16
    acc = (rng.standard_normal(n) * 2.0 ** rng.integers(-20, 20, n)).astype(np.float32)
    gy = (rng.standard_normal(n) * 2.0 ** rng.integers(-20, 20, n)).astype(np.float32)
    for half in (0.5, 3.5, 1234.5, 4095.0, 8388607.5):
        hi, lo = _exact_product(np, gy, half)
        assert np.array_equal(hi.astype(np.float64) + lo, gy.astype(np.float64) * half)
        want = (acc.astype(np.float64) + gy.astype(np.float64) * half).astype(np.float32)
        assert _bits(_add_rounded_once(np, acc, hi, lo)) == _bits(want), half
    # Sums just off, and exactly on, a float32 midpoint: one rounding of the exact sum.
    acc = rng.uniform(-0.75, 0.75, n).astype(np.float32)  # so that p below splits exactly
    z = rng.uniform(1, 2, n).astype(np.float32)
    mid = z.astype(np.float64) + np.spacing(z).astype(np.float64) / 2
    nudge = rng.choice([-1.0, 0.0, 1.0], n) * 2.0 ** rng.integers(-45, -30, n)
    p = np.round((mid + nudge - acc.astype(np.float64)) * 2.0**46) / 2.0**46  # <= 53 bits
    hi = p.astype(np.float32)
    lo = (p - hi).astype(np.float32)
    assert np.array_equal(hi.astype(np.float64) + lo, p)
    want = (acc.astype(np.float64) + p).astype(np.float32)
    assert _bits(_add_rounded_once(np, acc, hi, lo)) == _bits(want)
    # acc + hi an exact tie that lo breaks: rounding acc + hi first goes the wrong way.
    hi = np.full(n, 2.0**-24, np.float32)  # half an ulp of z in [1, 2)
    lo = (rng.choice([-1.0, 1.0], n) * 2.0 ** rng.integers(-48, -26, n)).astype(np.float32)
    want = (z.astype(np.float64) + hi + lo).astype(np.float32)
    assert _bits(_add_rounded_once(np, z, hi, lo)) == _bits(want)
    jitted = jax.jit(lambda *a: _add_rounded_once(jnp, *a))
    assert _bits(jitted(z, hi, lo)) == _bits(want)
    # Signs of zero as IEEE gives them: -0 + -0 = -0, anything else that cancels: +0.
    f = np.float32
    acc, hi, lo = (np.array(v, f) for v in ([-0.0, 0.0, 1.0, -0.0], [-0.0, -0.0, -1.0, 2.0],
                                            [-0.0, -0.0, 0.0, 0.0]))
    assert _bits(_add_rounded_once(np, acc, hi, lo)) == _bits(np.array([-0.0, 0, 0, 2], f))


# ------------------------------------------------------------------- recorded fixtures


def _jit_call(case: Any) -> np.ndarray:
    """``call_case`` on the generic path inside ``jax.jit``, the case's inputs traced."""
    names = list(case.inputs)

    def run(*arrays: Any) -> Any:
        # A Case holds NumPy arrays and checks that on construction: swap them in a copy.
        traced = copy.copy(case)
        object.__setattr__(traced, "inputs", dict(zip(names, arrays, strict=True)))
        return call_case(traced, lambda a: a)

    with xcrop.use_generic():
        return np.asarray(jax.jit(run)(*(jnp.asarray(case.inputs[k]) for k in names)))


def _check_forward(case: Any) -> None:
    out = _jit_call(case)
    if case.check == "fill_stats":
        # TF's fill is not reproducible; the seeded fill must be the eager generic one.
        with xcrop.use_generic():
            want = np.asarray(call_case(case, np.asarray))
    else:
        want = np.asarray(case.expected)
    ok, _, msg = judge_exact(out, want)
    assert ok, f"{case.description}: {msg}"


FORWARD_X64_OFF = [c for c in FORWARD if not _wide(c)] if _FULL else _forward_sample(False)
FORWARD_X64_ON = FORWARD if _FULL else _forward_sample(True)


def test_samples_cover_every_suite() -> None:
    suites = {c.suite for c in FORWARD}
    assert {c.suite for c in FORWARD_X64_OFF} == suites
    assert {c.suite for c in FORWARD_X64_ON} == suites
    assert any(c.check == "fill_stats" for c in FORWARD_X64_OFF)
    grad_suites = {p[GRAD_BOXES].suite for p in PAIRS}
    assert {p[GRAD_BOXES].suite for p in GRADS_X64_OFF} == grad_suites
    assert any(_crop1(p) for p in GRADS_X64_OFF)


@pytest.mark.parametrize("case", FORWARD_X64_OFF, ids=_ids(FORWARD_X64_OFF))
def test_forward_jit(case: Any) -> None:
    with _JAX.active():
        _check_forward(case)


@pytest.mark.parametrize("case", FORWARD_X64_ON, ids=_ids(FORWARD_X64_ON))
def test_forward_jit_x64(case: Any) -> None:
    with _JAX_X64.active():
        _check_forward(case)


# ---------------------------------------------------------------------- gradient pairs


def _check_grad_pair(pair: dict[str, Any]) -> None:
    cb = pair[GRAD_BOXES]
    grads, idx = jnp.asarray(cb.inputs["grads"]), jnp.asarray(cb.inputs["box_indices"])

    def loss(image: Any, boxes: Any) -> Any:
        out = xcrop.crop_and_resize(image, boxes, idx, cb.params["crop_size"],
                                    method=cb.params["forward_method"])
        return jnp.sum(out * grads)  # d loss / d out == grads, exactly

    image, boxes = jnp.asarray(cb.inputs["image"]), jnp.asarray(cb.inputs["boxes"])
    floating = GRAD_IMAGE in pair
    # The generic gradients (on CPU with numba the FFI path would serve: test_jax_ffi_grad).
    with xcrop.use_generic():
        lowered = jax.jit(jax.grad(loss, argnums=(0, 1) if floating else (1,))).lower(
            image, boxes)
        assert jax_ffi.PREFIX not in lowered.as_text()
        got = lowered.compile()(image, boxes)
    checks = [(got[-1], cb)] + ([(got[0], pair[GRAD_IMAGE])] if floating else [])
    for out, case in checks:
        ok, _, msg = judge_exact(np.asarray(out), case.expected)
        assert ok, f"{case.op}, {case.description}: {msg}"


GRADS_X64_OFF = ([p for p in PAIRS if not _wide(p[GRAD_BOXES])] if _FULL
                 else _grad_sample(False))
GRADS_X64_ON = PAIRS if _FULL else _grad_sample(True)


@pytest.mark.parametrize("pair", GRADS_X64_OFF, ids=_ids([p[GRAD_BOXES] for p in GRADS_X64_OFF]))
def test_grad_jit(pair: dict[str, Any]) -> None:
    with _JAX.active():
        _check_grad_pair(pair)


@pytest.mark.parametrize("pair", GRADS_X64_ON, ids=_ids([p[GRAD_BOXES] for p in GRADS_X64_ON]))
def test_grad_jit_x64(pair: dict[str, Any]) -> None:
    with _JAX_X64.active():
        _check_grad_pair(pair)


# ------------------------------------------------------------------- value errors


_IMAGE = jnp.ones((2, 5, 6, 3), jnp.float32)
_BOXES = np.array([[0, 0, 1, 1], [0.1, 0.2, 0.5, 0.7]], np.float32)


def _value_error_calls(depth: int) -> list[tuple[str, Any, tuple[Any, ...]]]:
    image, grads = _IMAGE[..., :depth], jnp.ones((2, 3, 3, depth), jnp.float32)
    crop = lambda i, b, x: xcrop.crop_and_resize(i, b, x, (3, 3))  # noqa: E731
    loss = lambda i, b, x: crop(i, b, x).sum()  # noqa: E731
    return [
        ("crop", crop, (image,)),
        ("jit(grad)", jax.grad(loss, argnums=(0, 1)), (image,)),
        ("grad_image", lambda b, x: xcrop.crop_and_resize_grad_image(
            grads, b, x, image.shape), ()),
        ("grad_boxes", lambda b, x: xcrop.crop_and_resize_grad_boxes(grads, image, b, x), ()),
    ]


@pytest.mark.parametrize("bad", ["index", "nan", "overflow", "index, no channels"])
def test_generic_path_under_jit_raises_the_eager_error_at_run_time(bad: str) -> None:
    # Validation sees tracers; the generic path checks the values when the program runs
    # (a host callback), with the eager call's message: never a silently wrong array.
    # With no channels the output has no elements (XLA would drop a pure callback).
    boxes, idx = _BOXES.copy(), np.array([0, 1], np.int32)
    if bad.startswith("index"):
        idx[1] = 5
    elif bad == "nan":
        boxes[1, 2] = np.nan
    else:
        boxes[1, 2] = 3e38  # finite, but its sample coordinates overflow to NaN
    boxes, idx = jnp.asarray(boxes), jnp.asarray(idx)
    for name, fn, first in _value_error_calls(0 if "no channels" in bad else 3):
        with xcrop.use_generic():
            with pytest.raises(Exception) as eager:
                fn(*first, boxes, idx)
            with pytest.raises(jax.errors.JaxRuntimeError) as traced:
                jax.block_until_ready(jax.jit(fn)(*first, boxes, idx))
        assert isinstance(eager.value, (xcrop.BoxIndexError, xcrop.InvalidArgumentError))
        assert str(eager.value) in str(traced.value), (name, traced.value)
        assert type(eager.value).__name__ in str(traced.value)


def test_generic_path_under_vmap_names_the_callers_box() -> None:
    idx = jnp.array([[0, 1], [1, 7]], jnp.int32)
    f = jax.jit(jax.vmap(lambda b, x: xcrop.crop_and_resize(_IMAGE, b, x, (3, 3))))
    with xcrop.use_generic(), pytest.raises(jax.errors.JaxRuntimeError,
                                            match=r"box_indices\[1\] = 7\b"):
        jax.block_until_ready(f(jnp.stack([_BOXES, _BOXES]), idx))
    with xcrop.use_generic():
        out = f(jnp.stack([_BOXES, _BOXES]), jnp.stack([idx[0], idx[0]]))
        want = xcrop.crop_and_resize(_IMAGE, jnp.asarray(_BOXES), idx[0], (3, 3))
    assert _bits(out[1]) == _bits(want)
