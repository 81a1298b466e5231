"""The compiled gradient kernels (``xcrop._backends.numba``) against TF and the reference.

* every paired case of the grad_edge, grad_dtypes and grad_random fixtures: the recorded
  TF bits (0 ulp, bytes equal) and the generic path's bits;
* targeted cases against the generic path: subnormal partial sums (flushed), -0 results,
  heavily overlapping, flipped and extrapolated boxes, crop size 1 on each axis, every
  image and gradient dtype, no boxes and depth 0, float16 overflow and subnormals;
* TF's skipping of extrapolated samples against a scalar transcription of TF's loops
  (the one place where the generic path differs, see ``jit_gradients``);
* the same bits for every split of the work (thread counts, channel chunks, part order).

Several targeted tests also check that their input is sensitive (a plain float32 sum in
another order, or without the flushes, gives other bits), so that equality means
something.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba", reason="numba is not installed: the compiled gradient kernels "
                    "are optional (pip install xcrop[numba])")

import array_api_compat.numpy as xp

from backends import gradient_pairs
from xcrop._backends.host import numpy_backend
from xcrop._backends.host_gradients import sequential_row_sums
from xcrop._backends.numba import grad_drivers, loader
from xcrop._core.args import GradBoxesArgs, GradImageArgs
from xcrop._core.coordinates import sample_coordinates
from xcrop._reference import gradients as generic


def _image_args(grads, idx, in_y, in_x, shape, method, dtype) -> GradImageArgs:
    return GradImageArgs(backend=numpy_backend(), grads=np.asarray(grads),
                         box_indices=np.asarray(idx), in_y=in_y, in_x=in_x,
                         image_shape=tuple(int(s) for s in shape), method=method,
                         dtype=np.dtype(dtype))


def _boxes_args(grads, image, boxes, idx) -> GradBoxesArgs:
    return GradBoxesArgs(backend=numpy_backend(), grads=np.asarray(grads), image=image,
                         boxes=np.asarray(boxes), box_indices=np.asarray(idx))


def _kernel_image(*args):
    return grad_drivers.image_gradient(_image_args(*args))


def _kernel_boxes(*args):
    return grad_drivers.box_gradient(_boxes_args(*args))


GRAD_IMAGE, GRAD_BOXES = "crop_and_resize_grad_image", "crop_and_resize_grad_boxes"
TINY = np.float32(2.0**-126)


@pytest.fixture(autouse=True)
def _numba_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XCROP_NO_NUMBA", raising=False)
    assert loader.available(), "numba is installed but the gradient kernels failed to load"


PAIRS = gradient_pairs()


def _bits(a: np.ndarray) -> tuple:
    return a.dtype.str, a.shape, a.tobytes()


def _coordinates(boxes: np.ndarray, height: int, width: int, ch: int, cw: int):
    """The forward's sample coordinates, as ``xcrop._gradients`` computes them."""
    boxes = np.asarray(boxes, np.float32)
    return (sample_coordinates(xp, boxes[:, 0:1], boxes[:, 2:3], height, ch, None),
            sample_coordinates(xp, boxes[:, 1:2], boxes[:, 3:4], width, cw, None))


def _same_as_generic(got: np.ndarray, want: np.ndarray, skipped_zeros: bool) -> None:
    """Bits equal; with ``skipped_zeros`` also where the kernel has -0 and the generic
    path +0 (it adds +0 for extrapolated samples, TF skips them: see ``jit_gradients``).
    Such cases are checked against the scalar transcription of TF's loops as well."""
    assert got.dtype == want.dtype and got.shape == want.shape
    if skipped_zeros:
        differ = got.view(np.uint8).reshape(got.size, -1) != \
            want.view(np.uint8).reshape(want.size, -1)
        differ = differ.any(axis=1).reshape(got.shape)
        assert (got[differ] == 0).all() and np.signbit(got[differ]).all()
        assert (want[differ] == 0).all() and not np.signbit(want[differ]).any()
    else:
        assert got.tobytes() == want.tobytes()


def image_grad(grads, boxes, idx, shape, method="bilinear", dtype=np.float32,
               check_generic=True, skipped_zeros=False):
    """Kernel image gradient; equal (bits) to the generic path's unless told otherwise."""
    grads = np.asarray(grads, np.float32)
    in_y, in_x = _coordinates(boxes, shape[1], shape[2], grads.shape[1], grads.shape[2])
    got = _kernel_image(grads, idx, in_y, in_x, tuple(shape), method, np.dtype(dtype))
    assert got is not None
    if check_generic:
        with np.errstate(all="ignore"):
            want = generic.image_gradient(_image_args(grads, idx, in_y, in_x, shape, method,
                                                      dtype))
        _same_as_generic(got, want, skipped_zeros)
    return got


def box_grad(grads, image, boxes, idx, check_generic=True, skipped_zeros=False):
    """Kernel box gradient; equal (bits) to the generic path's unless told otherwise."""
    grads = np.asarray(grads, np.float32)
    boxes = np.asarray(boxes, np.float32)
    got = _kernel_boxes(grads, image, boxes, idx)
    assert got is not None
    if check_generic:
        with np.errstate(all="ignore"):
            want = generic.box_gradient(_boxes_args(grads, image, boxes, idx),
                                        row_sums=sequential_row_sums)
        _same_as_generic(got, want, skipped_zeros)
    return got


@pytest.fixture(params=["_hw", ""], ids=["cpu-flush", "explicit-flush"])
def flush(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both kernel sets: the CPU's flush-to-zero (``fpenv``; on x86-64 what the drivers
    use) and the explicit flushes (what other CPUs use)."""
    from xcrop._backends.numba import fpenv, grad_drivers

    if request.param == "_hw" and not fpenv.HARDWARE_FLUSH:
        pytest.skip("no CPU flush-to-zero kernels on this architecture (not x86-64)")
    monkeypatch.setattr(grad_drivers, "KERNEL_SUFFIX", request.param)
    return request.param


# --- the recorded TF fixtures --------------------------------------------------------------

def test_fixture_coverage() -> None:
    cases = [c for p in PAIRS for c in p.values()]
    assert len(PAIRS) >= 200 and len(cases) >= 400
    assert {c.params.get("T") for c in cases if c.op == GRAD_IMAGE} == \
        {"float16", "float32", "float64"}


@pytest.mark.parametrize("pair", PAIRS, ids=[p[GRAD_BOXES].key for p in PAIRS])
def test_fixture_pair_bit_exact(pair: dict, flush: str) -> None:
    for op, case in pair.items():
        i = case.inputs
        if op == GRAD_IMAGE:
            p = case.params
            got = image_grad(i["grads"], i["boxes"], i["box_indices"], p["image_shape"],
                             p["method"], p["T"])
        else:
            got = box_grad(i["grads"], i["image"], i["boxes"], i["box_indices"])
        assert _bits(got) == _bits(case.expected), case.description


# --- targeted cases against the generic path -----------------------------------------------

def _random_boxes(rng: np.random.Generator, n: int, lo: float = 0.0, hi: float = 1.0,
                  flip: bool = False) -> np.ndarray:
    b = rng.uniform(lo, hi, (n, 4)).astype(np.float32)
    if not flip:
        b = np.concatenate([np.minimum(b[:, :2], b[:, 2:]), np.maximum(b[:, :2], b[:, 2:])], 1)
    return b


def _workload(seed: int, shape, n, crop, lo=0.0, hi=1.0, flip=False, image_dtype=np.float32):
    rng = np.random.default_rng(seed)
    image = rng.standard_normal(shape).astype(image_dtype)
    boxes = _random_boxes(rng, n, lo, hi, flip)
    idx = rng.integers(0, shape[0], n).astype(np.int32)
    grads = rng.standard_normal((n, *crop, shape[3])).astype(np.float32)
    return grads, image, boxes, idx


@pytest.mark.parametrize("method", ["bilinear", "nearest"])
@pytest.mark.parametrize("depth", [1, 3, 20])
def test_flipped_and_extrapolated_boxes(method: str, depth: int) -> None:
    grads, image, boxes, idx = _workload(1, (3, 7, 9, depth), 25, (5, 6), -0.6, 1.6, flip=True)
    assert (boxes[:, 0] > boxes[:, 2]).any() and (boxes[:, 1] > boxes[:, 3]).any()
    in_y, in_x = _coordinates(boxes, 7, 9, 5, 6)
    assert ((in_y < 0) | (in_y > 6)).any() and ((in_x < 0) | (in_x > 8)).any()
    image_grad(grads, boxes, idx, image.shape, method)
    box_grad(grads, image, boxes, idx)


@pytest.mark.parametrize("depth", [2, 16])
def test_heavily_overlapping_boxes(depth: int) -> None:
    rng = np.random.default_rng(2)
    n = 80
    boxes = (np.array([[0.1, 0.1, 0.9, 0.9]], np.float32)
             + rng.uniform(-0.02, 0.02, (n, 4)).astype(np.float32))
    idx = np.zeros(n, np.int32)
    # Magnitudes over many binades: the float32 sums depend on their order.
    grads = (rng.standard_normal((n, 6, 5, depth))
             * 10.0 ** rng.integers(-4, 5, (n, 6, 5, depth))).astype(np.float32)
    image = rng.standard_normal((1, 4, 5, depth)).astype(np.float32)
    got = image_grad(grads, boxes, idx, image.shape)
    # Sensitivity: the same contributions summed in reverse box order give other bits.
    rev = image_grad(grads[::-1], boxes[::-1], idx, image.shape, check_generic=False)
    assert got.tobytes() != rev.tobytes()
    box_grad(grads, image, boxes, idx)
    for method in ("nearest",):
        image_grad(grads, boxes, idx, image.shape, method)


def test_image_gradient_flushes_subnormal_partial_sums(flush: str) -> None:
    # A 2x2 crop of a whole 2x2 image samples exactly the pixels: each upstream value goes
    # to one pixel whole. Box 0 adds a, box 1 adds -(a + 2**-140): the partial sum
    # -2**-140 is subnormal and TF flushes it to -0; box 2 then adds 2**-126.
    a = np.float32(1.5 * 2.0**-125)
    b = -(a + np.float32(2.0**-140))
    grads = np.zeros((3, 2, 2, 1), np.float32)
    grads[0, 0, 0, 0], grads[1, 0, 0, 0], grads[2, 0, 0, 0] = a, b, TINY
    grads[:, 1, 1, 0] = a, b, -0.0  # this pixel ends at the flushed -0 (-0 adds nothing)
    boxes = np.array([[0, 0, 1, 1]] * 3, np.float32)
    got = image_grad(grads, boxes, np.zeros(3, np.int32), (1, 2, 2, 1))
    assert got[0, 0, 0, 0] == TINY  # without the flush: 2**-126 - 2**-140
    assert got[0, 1, 1, 0] == 0 and np.signbit(got[0, 1, 1, 0])  # -0, kept
    assert np.float32(np.float32(a + b) + TINY) != TINY  # the flush is what makes TINY


def test_image_gradient_random_subnormal_range(flush: str) -> None:
    # Upstream values near the subnormal range: many products and partial sums are
    # subnormal (flushed). float32, float16 (tiny halves) and float64 accumulators.
    # Extrapolated samples hit pixels whose sums were flushed to -0: TF keeps them.
    rng = np.random.default_rng(3)
    grads, image, boxes, idx = _workload(3, (2, 5, 6, 4), 40, (4, 5), -0.2, 1.2)
    grads = (rng.integers(-2**12, 2**12, grads.shape) * 2.0**-136).astype(np.float32)
    for dtype in (np.float32, np.float16, np.float64):
        for method in ("bilinear", "nearest"):
            image_grad(grads, boxes, idx, image.shape, method, dtype, skipped_zeros=True)
    got = image_grad(grads, boxes, idx, image.shape, skipped_zeros=True)
    in_y, in_x = _coordinates(boxes, 5, 6, 4, 5)
    assert _bits(got) == _bits(_tf_image_gradient(grads, idx, in_y, in_x, image.shape))
    assert (got == 0).any() and np.signbit(got[got == 0]).any()  # flushed to -0


@pytest.mark.parametrize("depth", [1, 9])
def test_box_gradient_flushes_subnormal_partial_sums(depth: int, flush: str) -> None:
    # The image's two rows differ by 1 and every sample lies halfway between them, on
    # pixel columns: on crop row 0 every y1 term is the upstream value itself (row
    # weight 1), taken in (x, channel) order; on crop row 1 the weight is 0.
    # Box 0's terms a, -(a + 2**-140), 2**-126: a subnormal partial sum, flushed to -0
    # by TF, then 2**-126. Box 1 stops at the flushed -0. Every other term is -0.
    a = np.float32(1.5 * 2.0**-125)
    b = -(a + np.float32(2.0**-140))
    image = np.zeros((1, 2, 3, depth), np.float32)
    image[0, 1] = 1.0
    grads = np.full((2, 2, 3, depth), -0.0, np.float32)
    grads[0, 0].reshape(-1)[:3] = a, b, TINY
    grads[1, 0].reshape(-1)[:2] = a, b
    boxes = np.array([[0.5, 0, 0.5, 1]] * 2, np.float32)  # rows at y = 0.5
    got = box_grad(grads, image, boxes, np.zeros(2, np.int32))
    assert got[0, 0] == TINY  # unflushed: 2**-126 - 2**-140
    assert got[1, 0] == 0 and np.signbit(got[1, 0])  # -0
    assert np.float32(np.float32(a + b) + TINY) != TINY  # the flush is what makes TINY


def test_box_gradient_random_subnormal_range(flush: str) -> None:
    rng = np.random.default_rng(4)
    for depth in (2, 12):  # the fused loop and the three passes
        grads, image, boxes, idx = _workload(4, (2, 5, 6, depth), 30, (4, 5), -0.2, 1.2)
        grads = (rng.integers(-2**12, 2**12, grads.shape) * 2.0**-130).astype(np.float32)
        got = box_grad(grads, image, boxes, idx, skipped_zeros=True)
        assert _bits(got) == _bits(_tf_box_gradient(grads, image, boxes, idx))
        assert (got == 0).any()


def test_negative_zero_terms_give_positive_zero() -> None:
    # -0 upstream values: every term is +-0 and the sums start at +0, so TF's results are
    # +0 everywhere (-0 results need a flushed partial sum: see the two tests above).
    grads, image, boxes, idx = _workload(5, (1, 4, 4, 3), 6, (3, 3))
    neg = np.full_like(grads, -0.0)
    for dtype in (np.float16, np.float32, np.float64):
        assert not np.signbit(image_grad(neg, boxes, idx, image.shape, dtype=dtype)).any()
    assert not np.signbit(box_grad(neg, image, boxes, idx)).any()


@pytest.mark.parametrize("crop", [(1, 1), (1, 6), (6, 1)])
def test_crop_size_one(crop: tuple[int, int]) -> None:
    for image_dtype in (np.float32, np.float64, np.uint8):
        grads, image, boxes, idx = _workload(6, (2, 7, 8, 5), 12, crop, -0.1, 1.1,
                                             flip=True, image_dtype=np.float64)
        image = (image * 50).astype(image_dtype) if image_dtype == np.uint8 else \
            image.astype(image_dtype)
        box_grad(grads, image, boxes, idx)
        for method in ("bilinear", "nearest"):
            image_grad(grads, boxes, idx, image.shape, method)


@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16", "int16", "int32", "int64",
                                   "float16", "float32", "float64"])
def test_box_gradient_image_dtypes(dtype: str, flush: str) -> None:
    rng = np.random.default_rng(7)
    grads, _, boxes, idx = _workload(7, (2, 6, 7, 10), 15, (4, 3), -0.1, 1.1)
    shape = (2, 6, 7, 10)
    if dtype.startswith(("int", "uint")):
        info = np.iinfo(dtype)
        image = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    elif dtype == "float16":  # normal and subnormal halves
        image = (rng.standard_normal(shape) * 10.0 ** rng.integers(-7, 4, shape)) \
            .astype(np.float16)
        assert (np.abs(image[image != 0]) < 2.0**-14).any()
    else:  # float64: values that round (and some that go subnormal) in float32
        image = (rng.standard_normal(shape) * 10.0 ** rng.integers(-40, 4, shape)) \
            .astype(dtype)
    box_grad(grads, image, boxes, idx)
    # depth < 8 takes the fused loop, >= 8 the three passes: both
    box_grad(grads[..., :3], np.ascontiguousarray(image[..., :3]), boxes, idx)


def test_int64_image_rounds_to_float32() -> None:
    image = np.array([2**40 + 1, 3, 2**53 - 1, -(2**35) - 7], np.int64).reshape(1, 2, 2, 1)
    grads = np.ones((1, 3, 3, 1), np.float32)
    box_grad(grads, image, np.array([[0.1, 0.2, 0.8, 0.9]], np.float32), np.zeros(1, np.int32))


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_image_gradient_dtypes(dtype, flush: str) -> None:
    grads, image, boxes, idx = _workload(8, (2, 5, 6, 9), 30, (4, 5), -0.2, 1.2)
    for method in ("bilinear", "nearest"):
        image_grad(grads, boxes, idx, image.shape, method, dtype)
        image_grad(grads[..., :2], boxes, idx, (2, 5, 6, 2), method, dtype)


def test_float16_overflow_and_subnormals(flush: str) -> None:
    rng = np.random.default_rng(9)
    grads, image, boxes, idx = _workload(9, (1, 3, 3, 4), 40, (3, 3))
    big = (grads * 30000).astype(np.float32)  # sums overflow half to +-inf
    got = image_grad(big, boxes, idx, image.shape, dtype=np.float16)
    assert np.isinf(got).any()
    small = (grads * 1e-6).astype(np.float32)  # half subnormals, no flushing in half
    got = image_grad(small, boxes, idx, image.shape, dtype=np.float16)
    assert (np.abs(got[got != 0]) < 2.0**-14).any()
    mixed = (grads * 10.0 ** rng.integers(-9, 5, grads.shape)).astype(np.float32)
    image_grad(mixed, boxes, idx, image.shape, "nearest", np.float16)


def test_nearest_rounds_half_up() -> None:
    # crop 5 over a 3-row box: coordinates 0, 0.5, 1, 1.5, 2 (ties go up, as TF's round).
    grads = np.arange(1, 26, dtype=np.float32).reshape(1, 5, 5, 1)
    got = image_grad(grads, [[0, 0, 1, 1]], [0], (1, 3, 3, 1), "nearest")
    assert got[0, 0, 0, 0] == 1 and got[0, 1, 1, 0] == 7 + 8 + 12 + 13


def test_no_boxes_and_depth_zero() -> None:
    for n, depth in ((0, 3), (4, 0), (0, 0)):
        grads = np.zeros((n, 2, 3, depth), np.float32)
        boxes = np.tile(np.array([[0.1, 0.2, 0.7, 0.9]], np.float32), (n, 1))
        idx = np.zeros(n, np.int32)
        for dtype in (np.float16, np.float32, np.float64):
            got = image_grad(grads, boxes, idx, (2, 4, 5, depth), dtype=dtype)
            assert got.shape == (2, 4, 5, depth) and got.dtype == dtype and not got.any()
        got = box_grad(grads, np.ones((2, 4, 5, depth), np.uint8), boxes, idx)
        assert got.shape == (n, 4) and got.dtype == np.float32 and not got.any()


def test_box_indices_of_any_integer_dtype_and_readonly_inputs() -> None:
    grads, image, boxes, idx = _workload(10, (3, 5, 6, 4), 10, (3, 4))
    want_i = image_grad(grads, boxes, idx, image.shape)
    want_b = box_grad(grads, image, boxes, idx)
    for a in (grads, image, boxes):
        a.flags.writeable = False
    for dt in (np.uint8, np.int16, np.uint64):
        assert _bits(image_grad(grads, boxes, idx.astype(dt), image.shape)) == _bits(want_i)
        assert _bits(box_grad(grads, image, boxes, idx.astype(dt))) == _bits(want_b)


def test_bad_indices_and_shapes_raise() -> None:
    grads, image, boxes, idx = _workload(11, (2, 4, 4, 2), 3, (2, 2))
    in_y, in_x = _coordinates(boxes, 4, 4, 2, 2)
    with pytest.raises(IndexError):
        _kernel_image(grads, [0, 2, 1], in_y, in_x, (2, 4, 4, 2), "bilinear", np.float32)
    with pytest.raises(IndexError):
        _kernel_boxes(grads, image, boxes, [0, -1, 1])
    with pytest.raises(ValueError):
        _kernel_image(grads, idx, in_x[:, :1], in_x, (2, 4, 4, 2), "bilinear", np.float32)
    with pytest.raises(ValueError):
        _kernel_boxes(grads, image[..., :1], boxes, idx)


def test_disabled_kernels_are_not_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    import xcrop

    grads, image, boxes, idx = _workload(12, (1, 3, 3, 1), 2, (2, 2))
    on = xcrop.which_path
    assert "numba" in on("crop_and_resize", image, boxes, idx, (2, 2))
    monkeypatch.setenv("XCROP_NO_NUMBA", "1")
    assert not loader.available()
    from xcrop.capabilities import fast_path_names

    assert any("numba" in n for n in fast_path_names("crop_and_resize_grad_image", "numpy"))
    with xcrop.use_generic():
        want = xcrop.crop_and_resize_grad_boxes(grads, image, boxes, idx)
    assert _bits(xcrop.crop_and_resize_grad_boxes(grads, image, boxes, idx)) == _bits(want)


# --- TF skips extrapolated samples ---------------------------------------------------------

def _ftz(v: np.float32) -> np.float32:
    return np.float32(np.copysign(np.float32(0), v)) if abs(v) < TINY else np.float32(v)


def _tf_samples(coordinates, size):
    """TF's loop over one axis of a box's samples: ``(index, floor, ceil, lerp)`` of each
    sample coordinate inside ``[0, size - 1]``; TF skips the others."""
    for j, c in enumerate(coordinates):
        if c < 0 or c > size - 1:
            continue
        low = int(np.floor(c))
        yield j, low, int(np.ceil(c)), np.float32(c - np.float32(low))


def _tf_image_gradient(grads, idx, in_y, in_x, shape):
    """TF's CPU CropAndResizeBackpropImage loop (float32, bilinear), scalar by scalar."""
    out = np.zeros(shape, np.float32)
    one = np.float32(1)
    n, _, _, depth = grads.shape
    for i in range(n):
        for y, top, bottom, yl in _tf_samples(in_y[i], shape[1]):
            for x, left, right, xl in _tf_samples(in_x[i], shape[2]):
                for d in range(depth):
                    g = _ftz(grads[i, y, x, d])
                    dtop = _ftz(_ftz(one - yl) * g)
                    dbottom = _ftz(yl * g)
                    for r, c, v in ((top, left, _ftz(_ftz(one - xl) * dtop)),
                                    (top, right, _ftz(xl * dtop)),
                                    (bottom, left, _ftz(_ftz(one - xl) * dbottom)),
                                    (bottom, right, _ftz(xl * dbottom))):
                        out[idx[i], r, c, d] = _ftz(out[idx[i], r, c, d] + v)
    return out


def _tf_box_gradient(grads, image, boxes, idx):
    """TF's CPU CropAndResizeBackpropBoxes loop, scalar by scalar (float32, flushing; the
    box gradient's coordinates and row/column weights from the generic definitions)."""
    n, ch, cw, depth = grads.shape
    height, width = image.shape[1:3]
    ys = generic.box_coordinates(xp, boxes[:, 0:1], boxes[:, 2:3], height, ch, None)
    xs = generic.box_coordinates(xp, boxes[:, 1:2], boxes[:, 3:4], width, cw, None)
    wy = generic.edge_weights(xp, height, ch, None) if ch > 1 else None
    wx = generic.edge_weights(xp, width, cw, None) if cw > 1 else None
    one = np.float32(1)
    out = np.zeros((n, 4), np.float32)
    for i in range(n):
        s = [np.float32(0)] * 4
        for y, top, bottom, yl in _tf_samples(ys[i], height):
            for x, left, right, xl in _tf_samples(xs[i], width):
                for d in range(depth):
                    tl, tr, bl, br = (_ftz(np.float32(image[idx[i], r, c, d]))
                                      for r, c in ((top, left), (top, right), (bottom, left),
                                                   (bottom, right)))
                    g = _ftz(grads[i, y, x, d])
                    gy = _ftz(_ftz(_ftz(_ftz(one - xl) * _ftz(bl - tl))
                                   + _ftz(xl * _ftz(br - tr))) * g)
                    gx = _ftz(_ftz(_ftz(_ftz(one - yl) * _ftz(tr - tl))
                                   + _ftz(yl * _ftz(br - bl))) * g)
                    for k, grad, w, j, size in ((0, gy, wy, y, height), (2, gy, wy, y, height),
                                                (1, gx, wx, x, width), (3, gx, wx, x, width)):
                        if w is None:  # crop size 1: float += double
                            s[k] = _ftz(np.float32(float(s[k]) + float(grad) * 0.5 * (size - 1)))
                        else:
                            s[k] = _ftz(s[k] + _ftz(grad * w[k // 2][j]))
        out[i] = s
    return out


def test_extrapolated_samples_are_skipped_as_tf_does() -> None:
    # Pixel (0, 0) ends at a flushed -0 (boxes 0 and 1), then box 2's samples lie above
    # the image (in_y < 0): TF skips them and keeps -0. The generic path adds an exact +0
    # for them and returns +0 here (its only difference from TF).
    a = np.float32(1.5 * 2.0**-125)
    grads = np.zeros((3, 2, 2, 1), np.float32)
    grads[0, 0, 0, 0], grads[1, 0, 0, 0] = a, -(a + np.float32(2.0**-140))
    grads[2] = 1.0
    boxes = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [-3, 0, -2, 1]], np.float32)
    idx = np.zeros(3, np.int32)
    in_y, in_x = _coordinates(boxes, 2, 2, 2, 2)
    assert (in_y[2] < 0).all()
    got = _kernel_image(grads, idx, in_y, in_x, (1, 2, 2, 1), "bilinear", np.float32)
    want = _tf_image_gradient(grads, idx, in_y, in_x, (1, 2, 2, 1))
    assert _bits(got) == _bits(want)
    assert np.signbit(got[0, 0, 0, 0]) and got[0, 0, 0, 0] == 0


def test_box_gradient_skips_extrapolated_rows_as_tf_does() -> None:
    # As in test_box_gradient_flushes_subnormal_partial_sums, crop row 0 sums a and
    # -(a + 2**-140) into a flushed -0; crop row 1 lies below the image (y = 2): TF skips
    # it and keeps -0 (the generic path adds +0s and returns +0).
    a = np.float32(1.5 * 2.0**-125)
    image = np.zeros((1, 2, 3, 2), np.float32)
    image[0, 1] = 1.0
    grads = np.full((1, 2, 3, 2), -0.0, np.float32)
    grads[0, 0, 0] = a, -(a + np.float32(2.0**-140))
    grads[0, 1] = 1.0
    boxes = np.array([[0.5, 0, 2.0, 1]], np.float32)
    got = _kernel_boxes(grads, image, boxes, np.zeros(1, np.int32))
    want = _tf_box_gradient(grads, image, boxes, np.zeros(1, np.int32))
    assert _bits(got) == _bits(want)
    assert got[0, 0] == 0 and np.signbit(got[0, 0])


@pytest.mark.parametrize("crop", [(3, 4), (1, 3), (3, 1)])
def test_tf_loop_transcriptions_on_random_cases(crop: tuple[int, int]) -> None:
    # The scalar transcriptions agree with the kernels (and so with generic) elsewhere.
    grads, image, boxes, idx = _workload(13, (2, 4, 5, 2), 7, crop, -0.3, 1.3, flip=True)
    in_y, in_x = _coordinates(boxes, 4, 5, *crop)
    want = _tf_image_gradient(grads, idx, in_y, in_x, image.shape)
    assert _bits(image_grad(grads, boxes, idx, image.shape)) == _bits(want)
    want = _tf_box_gradient(grads, image, boxes, idx)
    assert _bits(box_grad(grads, image, boxes, idx)) == _bits(want)


# --- the same bits for every split ---------------------------------------------------------

def test_thread_count_independence(monkeypatch: pytest.MonkeyPatch) -> None:
    from xcrop._backends import host

    monkeypatch.setattr(host, "SERIAL_ELEMENTS", 0)  # always split
    grads, image, boxes, idx = _workload(14, (3, 9, 11, 40), 50, (6, 7), -0.2, 1.2)
    in_y, in_x = _coordinates(boxes, 9, 11, 6, 7)
    runs = []
    for threads in ("1", "2", "3", "4", "7"):
        monkeypatch.setenv("XCROP_NUM_THREADS", threads)
        runs.append([_kernel_image(grads, idx, in_y, in_x, image.shape, m, dt).tobytes()
                     for m in ("bilinear", "nearest")
                     for dt in (np.float16, np.float32, np.float64)]
                    + [_kernel_boxes(grads, image, boxes, idx).tobytes()])
    assert all(r == runs[0] for r in runs)
    monkeypatch.setenv("XCROP_NUM_THREADS", "4")
    image_grad(grads, boxes, idx, image.shape)  # and the generic bits
    box_grad(grads, image, boxes, idx)


def test_kernel_splits_and_part_order() -> None:
    """Call the kernels directly over different units and in different part orders."""
    kernels = loader.kernels().gradients
    grads, image, boxes, idx = _workload(15, (2, 6, 7, 13), 30, (5, 4), -0.2, 1.2)
    in_y, in_x = _coordinates(boxes, 6, 7, 5, 4)
    idx64 = idx.astype(np.int64)
    order = np.argsort(idx64, kind="stable")
    starts = np.searchsorted(idx64[order], np.arange(3)).astype(np.int64)
    table = np.zeros(1, np.float32)
    results = set()
    for chunks in (1, 2, 5, 13):
        units = 2 * chunks
        for parts in (list(range(units)), list(range(units))[::-1]):
            out = np.zeros((2 * 6 * 7, 13), np.float32)
            for u in parts:
                kernels.image_grad_bilinear(grads, order, starts, in_y, in_x, 6, 7, chunks,
                                            table, out, u, u + 1)
            results.add(out.tobytes())
    assert len(results) == 1
    want = image_grad(grads, boxes, idx, image.shape)
    assert results == {want.tobytes()}
    out = np.zeros((30, 4), np.float32)
    full = box_grad(grads, image, boxes, idx)
    ys, xs = (np.ascontiguousarray(generic.box_coordinates(xp, boxes[:, a:a + 1],
                                                            boxes[:, a + 2:a + 3], s, c, None))
              for a, s, c in ((0, 6, 5), (1, 7, 4)))
    wy, wx = generic.edge_weights(xp, 6, 5, None), generic.edge_weights(xp, 7, 4, None)
    pixels = image.reshape(-1, 13)
    for i in range(29, -1, -1):
        kernels.box_grad(grads, pixels, table, idx64, ys, xs, *wy, *wx, 6, 7, out, i, i + 1)
    assert out.tobytes() == full.tobytes()


# --- float16 rounding and the on-disk cache ------------------------------------------------

def test_half_rounding_matches_numpy() -> None:
    kernels = loader.kernels().gradients
    rng = np.random.default_rng(16)
    bits = np.concatenate([
        rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32),
        # around half's limits: 65504/65520, 2**-14, 2**-24/2**-25, ties, inf, NaN
        np.array([0x477FE000, 0x477FEFFF, 0x477FF000, 0x477FF001, 0x38800000, 0x387FFFFF,
                  0x33800000, 0x33000000, 0x33000001, 0x32FFFFFF, 0x3F801000, 0x3F803000,
                  0x7F800000, 0x7FC00000, 0x7F800001, 0x7FBFFFFF, 0x00000001, 0],
                 np.uint32)])
    bits = np.concatenate([bits, bits | np.uint32(0x80000000)])
    values = bits.view(np.float32)
    out = np.empty(values.shape, np.uint16)
    kernels.half_bits(values, out)
    with np.errstate(all="ignore"):
        want = values.astype(np.float16).view(np.uint16)
    nan = np.isnan(values)
    assert np.array_equal(out[~nan], want[~nan])
    # NaN stays NaN with its sign (the payload is not part of TF's contract)
    assert np.isnan(out[nan].view(np.float16)).all()
    assert np.array_equal(out[nan] >> 15, want[nan] >> 15)


def test_entry_kernels_are_cached() -> None:
    import numba

    from xcrop._backends.numba import gradients as jit_gradients

    # Entry kernels are the public ones; the private helpers compile into them.
    entry = {name: obj for name, obj in vars(jit_gradients).items()
             if isinstance(obj, numba.core.registry.CPUDispatcher)
             and not name.startswith("_")}
    assert {"image_grad_bilinear", "image_grad_nearest", "box_grad"} <= set(entry)
    assert not [k for k, d in entry.items() if type(d._cache).__name__ == "NullCache"]


def test_a_second_process_loads_the_kernels_from_the_cache(tmp_path) -> None:
    import os
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import numpy as np
        import xcrop
        from xcrop._backends.numba import gradients as jit_gradients
        g = np.ones((1, 2, 2, 1), np.float32)
        xcrop.crop_and_resize_grad_image(g, [[0.25, 0, 0.5, 1]], [0], (1, 3, 3, 1), "nearest")
        stats = jit_gradients.image_grad_nearest_hw.stats  # what the driver runs
        print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))
    """)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    env.pop("XCROP_NO_NUMBA", None)
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                           text=True, check=True).stdout.split() for _ in range(2)]
    assert runs == [["0", "1"], ["1", "0"]]  # compiled and saved, then loaded


def test_the_cpu_flush_mode_is_restored(flush: str) -> None:
    # The hardware kernels turn on flush-to-zero for their own duration only: the caller's
    # float arithmetic keeps its subnormals afterwards (small calls: the calling thread).
    grads, image, boxes, idx = _workload(6, (1, 4, 4, 2), 2, (2, 2))
    box_grad(grads, image, boxes, idx)
    for method in ("bilinear", "nearest"):
        image_grad(grads, boxes, idx, image.shape, method, "float32")
    tiny = np.array([2.0**-70], np.float32) * np.array([2.0**-60], np.float32)
    assert tiny[0] == np.float32(2.0**-130)
