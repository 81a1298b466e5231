"""The JAX CPU fast paths: eager JAX arrays run the NumPy fast paths on zero-copy views and
get a JAX array back without a copy; traced calls take the XLA FFI path (numba) or the
generic one.

Expected values: the generic path (itself checked against TF's fixtures in
test_conformance), compared bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

import xcrop
from xcrop._dispatch.registry import GENERIC

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

RNG = np.random.default_rng(5)
BOXES = np.array([[0.1, 0.2, 0.9, 0.7], [-0.2, 0.3, 1.1, 0.6], [0.8, 0.9, 0.1, 0.2]],
                 dtype=np.float32)
INDICES = np.array([0, 1, 1], dtype=np.int32)
OFFSETS = np.array([[0.9, -0.8], [0.0, 0.1]], dtype=np.float32)


def _bits(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32).view(np.uint32)


@pytest.fixture(params=["numba", "numpy"])
def numba(request, monkeypatch) -> bool:
    from xcrop._backends.numba import loader as numba_kernels

    if request.param == "numba":
        if not numba_kernels.available():
            pytest.skip("numba not installed (or XCROP_NO_NUMBA set)")
        return True
    monkeypatch.setenv("XCROP_NO_NUMBA", "1")
    return False


@pytest.mark.parametrize("dtype", ["float32", "uint8", "float16"])
@pytest.mark.parametrize("method", ["bilinear", "nearest"])
def test_eager_crop_is_served_on_the_host_and_equals_the_generic_path(
        numba: bool, dtype: str, method: str) -> None:
    image = jnp.asarray((RNG.standard_normal((2, 9, 11, 3)) * 40 + 100).astype(dtype))
    args = (image, jnp.asarray(BOXES), jnp.asarray(INDICES), (5, 4))
    expected_path = "jax CPU fast path (numba kernel)" if numba else "jax CPU fast path"
    assert xcrop.which_path("crop_and_resize", *args, method=method) == expected_path
    got = xcrop.crop_and_resize(*args, method=method, extrapolation_value=-1.5)
    with xcrop.use_generic():
        ref = xcrop.crop_and_resize(*args, method=method, extrapolation_value=-1.5)
    assert isinstance(got, jax.Array) and got.dtype == jnp.float32 and got.shape == ref.shape
    assert got.devices() == image.devices()
    np.testing.assert_array_equal(_bits(got), _bits(ref))


def test_the_result_is_adopted_without_a_copy(numba: bool) -> None:
    from xcrop._backends import buffers

    seen = []
    real = buffers.empty

    def spy(shape, dtype="float32"):
        out = real(shape, dtype)
        seen.append(out.ctypes.data)
        return out

    with pytest.MonkeyPatch.context() as m:
        m.setattr(buffers, "empty", spy)
        got = xcrop.crop_and_resize(jnp.ones((1, 4, 4, 2)), jnp.asarray(BOXES[:1]),
                                    jnp.zeros(1, jnp.int32), (3, 3))
    assert seen and seen[0] % buffers.ALIGNMENT == 0
    assert got.unsafe_buffer_pointer() == seen[0]


@pytest.mark.parametrize("noise", ["zero", "uniform", "gaussian"])
def test_eager_glimpse_equals_the_generic_path(numba: bool, noise: str) -> None:
    image = jnp.asarray(RNG.standard_normal((2, 10, 12, 3)).astype(np.float32))
    args = (image, (6, 7), jnp.asarray(OFFSETS))
    assert xcrop.which_path("extract_glimpse", *args, noise=noise, seed=3) == \
        "jax CPU fast path"
    got = xcrop.extract_glimpse(*args, noise=noise, seed=3)
    with xcrop.use_generic():
        ref = xcrop.extract_glimpse(*args, noise=noise, seed=3)
    np.testing.assert_array_equal(_bits(got), _bits(ref))


def test_traced_calls_take_the_ffi_path_or_the_generic_one() -> None:
    # Traced calls are served by the traceable XLA FFI path where numba is installed
    # (tests/test_jax_ffi.py), else by the generic path; never by the eager paths.
    from xcrop._backends import jax_ffi
    from xcrop._backends.numba import loader as numba_kernels

    image = jnp.asarray(RNG.standard_normal((2, 9, 11, 3)).astype(np.float32))
    boxes, idx = jnp.asarray(BOXES), jnp.asarray(INDICES)
    seen = []

    def loss(img):
        seen.append(xcrop.which_path("crop_and_resize", img, boxes, idx, (5, 4)))
        return jnp.sum(xcrop.crop_and_resize(img, boxes, idx, (5, 4)) ** 2)

    grad = jax.grad(loss)(image)
    assert seen == [jax_ffi.NAME if numba_kernels.available() else GENERIC]
    # The eager gradient of the same loss through the public gradient function.
    out = xcrop.crop_and_resize(image, boxes, idx, (5, 4))
    ref = xcrop.crop_and_resize_grad_image(2 * out, boxes, idx, image.shape)
    np.testing.assert_array_equal(_bits(grad), _bits(ref))


@pytest.mark.parametrize("method", ["bilinear", "nearest"])
def test_eager_gradients_are_served_on_the_host_and_equal_the_numpy_path(
        method: str, numba: bool) -> None:
    # The reference gradients on NumPy views: the NumPy backend's bits (TF's, checked by
    # the conformance fixtures), where generic JAX without x64 cannot sum in float64.
    grads = (RNG.standard_normal((3, 5, 4, 2)) * 3).astype(np.float32)
    image = (RNG.standard_normal((2, 9, 11, 2)) * 40).astype(np.float32)
    j = jnp.asarray
    from xcrop._core.validation import validate_grad_boxes, validate_grad_image
    from xcrop._dispatch.run import path_name

    name = "jax CPU fast path " + ("(numba kernel)" if numba else "(NumPy views)")
    assert path_name("crop_and_resize_grad_image", validate_grad_image(
        j(grads), j(BOXES), j(INDICES), (2, 9, 11, 2), method, "float32")) == name
    assert path_name("crop_and_resize_grad_boxes", validate_grad_boxes(
        j(grads), j(image), j(BOXES), j(INDICES))) == name
    got_i = xcrop.crop_and_resize_grad_image(j(grads), j(BOXES), j(INDICES), (2, 9, 11, 2),
                                             method)
    got_b = xcrop.crop_and_resize_grad_boxes(j(grads), j(image), j(BOXES), j(INDICES))
    want_i = xcrop.crop_and_resize_grad_image(grads, BOXES, INDICES, (2, 9, 11, 2), method)
    want_b = xcrop.crop_and_resize_grad_boxes(grads, image, BOXES, INDICES)
    assert isinstance(got_i, jax.Array) and isinstance(got_b, jax.Array)
    np.testing.assert_array_equal(_bits(got_i), _bits(want_i))
    np.testing.assert_array_equal(_bits(got_b), _bits(want_b))
    # Traced calls keep the generic path.
    traced = jax.jit(lambda g: xcrop.crop_and_resize_grad_boxes(g, j(image), j(BOXES),
                                                                j(INDICES)))
    assert traced(j(grads)).shape == (3, 4)
