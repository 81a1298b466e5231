"""Gradients of crop_and_resize: TF's CropAndResizeGradImage / CropAndResizeGradBoxes.

* plain functions (``crop_and_resize_grad_image`` / ``_grad_boxes``) against the recorded
  TF fixtures: the whole ``grad_*`` suites also run through tests/test_conformance.py on
  every backend; here numpy and array-api-strict run every paired case (bit-exact);
* autodiff: ``loss.backward()`` on PyTorch (every pair, bit-exact) and ``jax.grad`` on JAX
  (a few small pairs: eager JAX compiles per shape);
* determinism (two runs, identical bits, overlapping boxes) and gradcheck in float64.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest

from backends import backend_params, gradient_pairs
from xcrop.gradients import crop_and_resize_grad_boxes, crop_and_resize_grad_image

SUITES = ("grad_random", "grad_edge", "grad_dtypes")
GRAD_IMAGE, GRAD_BOXES = "crop_and_resize_grad_image", "crop_and_resize_grad_boxes"


PAIRS = gradient_pairs(SUITES)
PAIR_IDS = [p[GRAD_BOXES].key for p in PAIRS]
HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_JAX = importlib.util.find_spec("jax") is not None


def _bits_equal(got: np.ndarray, want: np.ndarray) -> bool:
    return got.dtype == want.dtype and got.shape == want.shape and got.tobytes() == want.tobytes()


def test_fixture_coverage() -> None:
    assert len(PAIRS) >= 200
    descriptions = " ".join(p[GRAD_BOXES].description for p in PAIRS)
    for needle in ("nearest", "partly", "crop height 1", "crop width 1", "zero box gradient",
                   "float16", "float64", "overlap", "FTZ"):
        assert needle in descriptions, needle


@pytest.mark.parametrize("name", ["numpy", "array_api_strict"])
def test_plain_functions_bit_exact(name: str) -> None:
    from xcrop.conformance._adapters import ADAPTERS, UnsupportedByBackend

    adapter = next(a for a in ADAPTERS if a.name == name)
    if adapter.skip_reason():
        pytest.skip(adapter.skip_reason())
    checked = 0
    for pair in PAIRS[:: 1 if name == "numpy" else 4]:
        for op, case in pair.items():
            try:
                arrays = {k: adapter.asarray(v) for k, v in case.inputs.items()}
                if op == GRAD_IMAGE:
                    adapter.asarray(np.zeros(0, case.params["T"]))
                    out = crop_and_resize_grad_image(
                        arrays["grads"], arrays["boxes"], arrays["box_indices"],
                        case.params["image_shape"], case.params["method"], case.params["T"])
                else:
                    out = crop_and_resize_grad_boxes(
                        arrays["grads"], arrays["image"], arrays["boxes"],
                        arrays["box_indices"])
            except UnsupportedByBackend:
                continue
            assert _bits_equal(adapter.to_numpy(out), case.expected), case.description
            checked += 1
    assert checked > 50


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("pair", PAIRS, ids=PAIR_IDS)
def test_torch_backward_bit_exact(pair: dict) -> None:
    import torch

    import xcrop

    cb = pair[GRAD_BOXES]
    image = torch.from_numpy(cb.inputs["image"].copy())
    floating = image.dtype.is_floating_point
    image.requires_grad_(floating)
    boxes = torch.from_numpy(cb.inputs["boxes"].copy()).requires_grad_(True)
    out = xcrop.crop_and_resize(image, boxes, torch.from_numpy(cb.inputs["box_indices"]),
                                cb.params["crop_size"], method=cb.params["forward_method"])
    out.backward(torch.from_numpy(cb.inputs["grads"]))
    got_boxes = boxes.grad if boxes.grad is not None else torch.zeros_like(boxes)
    assert _bits_equal(got_boxes.numpy(), cb.expected), cb.description
    if floating:
        assert _bits_equal(image.grad.numpy(), pair[GRAD_IMAGE].expected), cb.description
    else:
        assert GRAD_IMAGE not in pair


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_torch_float64_boxes_and_no_index_gradient() -> None:
    import torch

    import xcrop

    image = torch.randn(1, 4, 5, 2, dtype=torch.float64, requires_grad=True)
    boxes = torch.tensor([[0.1, 0.2, 0.7, 0.9]], dtype=torch.float64, requires_grad=True)
    out = xcrop.crop_and_resize(image, boxes, torch.tensor([0]), (3, 3))
    out.sum().backward()
    assert boxes.grad.dtype == torch.float64 and image.grad.dtype == torch.float64
    with torch.no_grad():
        plain = xcrop.crop_and_resize(image, boxes, torch.tensor([0]), (3, 3))
    assert not plain.requires_grad


def _overlapping(rng: np.random.Generator) -> dict:
    return {
        "image": rng.standard_normal((2, 5, 6, 3)).astype(np.float32),
        "boxes": (np.array([[0.1, 0.1, 0.9, 0.9]] * 12, np.float32)
                  + rng.uniform(-0.05, 0.05, (12, 4)).astype(np.float32)),
        "box_indices": np.zeros(12, np.int32),
        "grads": rng.standard_normal((12, 9, 8, 3)).astype(np.float32),
    }


# JAX: covered by test_jax_grad_and_jit (eager JAX compiles per shape).
@pytest.mark.parametrize("backend", backend_params(exclude=("jax", "jax_x64")), indirect=True)
def test_determinism_overlapping_boxes(backend) -> None:
    a = _overlapping(np.random.default_rng(7))
    x = {k: backend.asarray(v) for k, v in a.items()}
    runs = []
    for _ in range(2):
        gi = crop_and_resize_grad_image(x["grads"], x["boxes"], x["box_indices"],
                                        (2, 5, 6, 3))
        gb = crop_and_resize_grad_boxes(x["grads"], x["image"], x["boxes"], x["box_indices"])
        runs.append((backend.to_numpy(gi).tobytes(), backend.to_numpy(gb).tobytes()))
    assert runs[0] == runs[1]


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_torch_gradcheck_float64() -> None:
    import torch

    import xcrop

    torch.manual_seed(0)
    image = torch.randn(1, 5, 6, 2, dtype=torch.float64, requires_grad=True)
    # Boxes whose samples stay away from pixel centres and the image border (kinks).
    boxes = torch.tensor([[0.13, 0.11, 0.71, 0.83]], dtype=torch.float64, requires_grad=True)
    idx = torch.tensor([0])

    def f(img, bx):
        return xcrop.crop_and_resize(img, bx, idx, (3, 4)).double()

    # The forward is float32 (TF's contract), so the tolerance is float32's.
    assert torch.autograd.gradcheck(f, (image, boxes), eps=1e-3, atol=2e-3, rtol=2e-2)


@pytest.mark.skipif(not HAS_JAX, reason="jax is not installed")
def test_jax_grad_and_jit() -> None:
    import jax
    import jax.numpy as jnp

    import xcrop

    small = [p for p in PAIRS if p[GRAD_BOXES].suite == "grad_edge"][:3]
    for pair in small:
        cb, ci = pair[GRAD_BOXES], pair[GRAD_IMAGE]
        g = jnp.asarray(cb.inputs["grads"])
        idx = jnp.asarray(cb.inputs["box_indices"])

        def loss(img, bx, cb=cb, g=g, idx=idx):
            out = xcrop.crop_and_resize(img, bx, idx, cb.params["crop_size"],
                                        method=cb.params["forward_method"])
            return jnp.sum(out * g)

        args = (jnp.asarray(cb.inputs["image"]), jnp.asarray(cb.inputs["boxes"]))
        eager = jax.grad(loss, argnums=(0, 1))(*args)
        assert _bits_equal(np.asarray(eager[0]), ci.expected), ci.description
        assert _bits_equal(np.asarray(eager[1]), cb.expected), cb.description
        jitted = jax.jit(jax.grad(loss, argnums=(0, 1)))(*args)
        # Same bits twice under jit (determinism); the jit result is within the bound.
        again = jax.jit(jax.grad(loss, argnums=(0, 1)))(*args)
        for a, b in zip(jitted, again, strict=True):
            assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
        np.testing.assert_allclose(np.asarray(jitted[0]), ci.expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(jitted[1]), cb.expected, rtol=1e-5, atol=1e-6)


def test_errors() -> None:
    g = np.ones((1, 2, 2, 1), np.float32)
    boxes = np.array([[0.1, 0.2, 0.8, 0.9]], np.float32)
    with pytest.raises(IndexError, match="box_indices"):
        crop_and_resize_grad_image(g, boxes, [3], (1, 3, 3, 1))
    with pytest.raises(ValueError, match="finite"):
        crop_and_resize_grad_image(g, [[np.nan, 0, 1, 1]], [0], (1, 3, 3, 1))
    with pytest.raises(ValueError, match="depth"):
        crop_and_resize_grad_image(g, boxes, [0], (1, 3, 3, 2))
    with pytest.raises(TypeError, match="dtype"):
        crop_and_resize_grad_image(g, boxes, [0], (1, 3, 3, 1), dtype="int32")
    with pytest.raises(ValueError, match="method"):
        crop_and_resize_grad_image(g, boxes, [0], (1, 3, 3, 1), method="bicubic")
    with pytest.raises(ValueError, match="depth"):
        crop_and_resize_grad_boxes(g, np.ones((1, 3, 3, 2), np.float32), boxes, [0])
    with pytest.raises(ValueError, match="4-D"):
        crop_and_resize_grad_boxes(g[0], np.ones((1, 3, 3, 1), np.float32), boxes, [0])


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_torch_zero_boxes_give_empty_gradients() -> None:
    import torch

    import xcrop

    image = torch.randn(1, 4, 4, 2, requires_grad=True)
    boxes = torch.zeros((0, 4), requires_grad=True)
    out = xcrop.crop_and_resize(image, boxes, torch.zeros(0, dtype=torch.int32), (2, 2))
    out.sum().backward()
    assert boxes.grad is not None and boxes.grad.shape == (0, 4)
    assert torch.equal(image.grad, torch.zeros_like(image))


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_torch_compile_forward_and_backward_bit_exact() -> None:
    """Under torch.compile the call is one xcrop:: operator node whose kernel runs the
    fast paths on real tensors (tests/test_torch_ops.py has the fullgraph and export
    checks); the compiled graph must give the eager bits, forward and backward."""
    import torch

    import xcrop

    torch.manual_seed(0)
    image = torch.randn(2, 5, 6, 3)
    boxes = torch.tensor([[0.1, 0.2, 0.8, 0.7], [0.9, 0.1, 0.0, 0.95]])
    idx = torch.tensor([0, 1])

    def f(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return xcrop.crop_and_resize(a, b, idx, (3, 4))

    compiled = torch.compile(f, backend="aot_eager", fullgraph=True)
    runs = []
    for fn in (f, compiled):
        a, b = image.clone().requires_grad_(), boxes.clone().requires_grad_()
        out = fn(a, b)
        out.backward(torch.linspace(-1, 1, out.numel()).reshape(out.shape))
        runs.append([out.detach().numpy().tobytes(), a.grad.numpy().tobytes(),
                     b.grad.numpy().tobytes()])
    assert runs[0] == runs[1]


@pytest.mark.skipif(not HAS_JAX, reason="jax is not installed")
def test_jax_vmap() -> None:
    import jax
    import jax.numpy as jnp

    import xcrop

    rng = np.random.default_rng(3)
    images = rng.standard_normal((3, 2, 5, 6, 2)).astype(np.float32)
    boxes = np.array([[0.1, 0.2, 0.8, 0.7], [0.9, 0.1, 0.05, 0.95]], np.float32)
    idx = np.array([0, 1], np.int32)

    def crop(img: Any, bx: Any) -> Any:
        return xcrop.crop_and_resize(img, bx, jnp.asarray(idx), (3, 4))

    # Batched over images: same bits as one call per image on NumPy (= TF's bits).
    batched = jax.vmap(lambda img: crop(img, jnp.asarray(boxes)))(jnp.asarray(images))
    want = np.stack([xcrop.crop_and_resize(im, boxes, idx, (3, 4)) for im in images])
    assert np.asarray(batched).tobytes() == want.tobytes()

    # Batched over boxes and through jax.grad: vmap stages the function through XLA like
    # jax.jit, so the jit tolerance applies (see the JAX rows of xcrop.capabilities).
    many = np.stack([boxes + np.float32(0.01 * k) for k in range(3)])

    def loss(img: Any, bx: Any) -> Any:
        return jnp.sum(crop(img, bx) ** 2)

    grads = jax.vmap(jax.grad(loss, argnums=(0, 1)))(jnp.asarray(images), jnp.asarray(many))
    for k in range(3):
        gi = crop_and_resize_grad_image(
            2 * xcrop.crop_and_resize(images[k], many[k], idx, (3, 4)), many[k], idx,
            images[k].shape)
        gb = crop_and_resize_grad_boxes(
            2 * xcrop.crop_and_resize(images[k], many[k], idx, (3, 4)), images[k], many[k],
            idx)
        np.testing.assert_allclose(np.asarray(grads[0][k]), gi, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(grads[1][k]), gb, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not HAS_JAX, reason="jax is not installed")
def test_jax_check_grads_float64() -> None:
    """jax.test_util.check_grads (reverse mode against numerical differences) in float64,
    with boxes whose samples stay away from pixel centres and borders (the kinks)."""
    import jax.numpy as jnp
    from jax.test_util import check_grads

    import xcrop
    from xcrop.conformance._adapters import ADAPTERS

    adapter = next(a for a in ADAPTERS if a.name == "jax_x64")
    with adapter.active():
        rng = np.random.default_rng(0)
        image = jnp.asarray(rng.standard_normal((1, 5, 6, 2)))
        boxes = jnp.asarray([[0.13, 0.11, 0.71, 0.83]], dtype=jnp.float64)
        idx = jnp.asarray([0])
        assert image.dtype == jnp.float64

        def f(img: Any, bx: Any) -> Any:
            # check_grads may hand NumPy arrays to the numerical side.
            return xcrop.crop_and_resize(jnp.asarray(img), jnp.asarray(bx), idx,
                                         (3, 4)).astype(jnp.float64)

        # The forward is float32 (TF's contract), so the tolerance is float32's.
        check_grads(f, (image, boxes), order=1, modes=("rev",), eps=1e-3, atol=2e-3,
                    rtol=2e-2)


def test_host_sequential_sums_match_the_fold() -> None:
    """The accumulate shortcut of the box gradient: TF's left-to-right float32 fold from +0,
    declined (None) where TF would flush a subnormal partial sum."""
    from xcrop._backends.host_gradients import sequential_row_sums

    rng = np.random.default_rng(5)
    seq = (rng.standard_normal((3, 500, 4)) * 10.0 ** rng.integers(-3, 4, (3, 500, 4)))
    seq = seq.astype(np.float32)
    want = np.zeros((3, 4), np.float32)
    for k in range(seq.shape[1]):
        want = want + seq[:, k, :]  # float32 + float32, rounded every step
    assert sequential_row_sums(seq).tobytes() == want.tobytes()
    # All -0 terms: the fold from +0 gives +0, not accumulate's -0.
    negzero = np.full((1, 3, 1), -0.0, np.float32)
    assert np.signbit(np.add.accumulate(negzero, axis=1)[0, -1, 0])
    assert not np.signbit(sequential_row_sums(negzero)[0, 0])
    # A subnormal partial sum (TF flushes it): declined.
    tiny = np.array([[[2.0**-120], [-(2.0**-120) + 2.0**-130]]], np.float32)
    assert sequential_row_sums(tiny) is None
    assert sequential_row_sums(seq.astype(np.float64)) is None
