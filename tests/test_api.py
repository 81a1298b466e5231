"""Behaviour of xcrop's public API on every backend.

Argument forms (lists, tuples, arrays), the kind of the result (dtype, shape, library,
device), no modification or aliasing of inputs, values derived *by hand* from the rules
of the spec (/work/shared/spec/tf-semantics.md; each derivation is in a comment, none is
a TF output), seeded fills, glimpse edge cases and import hygiene. The recorded TF
fixtures are checked in test_conformance.py.

Eager JAX compiles every operation for each new shape, so the tests that run on JAX use
one image shape (2, 5, 7, 2), one box, crop size (2, 3) and glimpse size (3, 3) (the
shapes test_validation.py uses too); the rest run on numpy, torch and array_api_strict.
jax_x64 is left to test_conformance.py (its 64-bit dtype cases): each x64 test here would
compile every operation again.
"""

from __future__ import annotations

import functools
import inspect
import math
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import xcrop
from backends import Backend, backend_params, holds
from xcrop.compat import v1

_PARAMS = {p.id: p for p in backend_params()}
ALL = ("numpy", "torch", "jax", "array_api_strict", "cupy")
FAST = ("numpy", "torch", "array_api_strict", "cupy")


def _use(request: pytest.FixtureRequest) -> Iterator[Backend]:
    b: Backend = request.param
    with b.adapter.active():
        yield b


@pytest.fixture(params=[_PARAMS[n] for n in ALL])
def any_backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """numpy, torch, jax (no x64), array_api_strict, cupy."""
    yield from _use(request)


@pytest.fixture(params=[_PARAMS[n] for n in FAST])
def fast_backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """numpy, torch, array_api_strict, cupy: the backends without per-shape compiles."""
    yield from _use(request)


F32 = np.float32
# (B, H, W, D) = (2, 5, 7, 2); no pixel is 0 and the image has no symmetry.
IMAGE = np.random.default_rng(20240607).uniform(1.0, 9.0, (2, 5, 7, 2)).astype(F32)
BOX = [[0.1, 0.25, 0.8, 0.6]]  # lists become float32 directly: the same bits as BOX_F32
BOX_F32 = np.array(BOX, dtype=F32)
CROP = (2, 3)
OFFSETS = [[0.25, -0.5], [-0.125, 0.375]]
OFFSETS_F32 = np.array(OFFSETS, dtype=F32)
SIZE = (3, 3)


def bits(a: np.ndarray) -> np.ndarray:
    assert a.dtype == np.float32, a.dtype
    return np.ascontiguousarray(a).view(np.uint32)


def assert_same_bits(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape
    np.testing.assert_array_equal(bits(a), bits(b))


# ---------------------------------------------------------------------------------------
# Argument forms
# ---------------------------------------------------------------------------------------


def test_crop_lists_and_tuples_equal_arrays(any_backend: Backend) -> None:
    b = any_backend
    image = b.asarray(IMAGE)
    boxes = b.asarray(BOX_F32)
    indices = b.asarray(np.array([1], np.int32))
    size = b.asarray(np.array(CROP, np.int32))
    ref = b.check_result(xcrop.crop_and_resize(image, boxes, indices, size), image)
    assert ref.shape == (1, *CROP, 2)
    assert not np.array_equal(ref[0], ref[0, ::-1])  # a real crop, not a constant
    forms = [
        (BOX, [1], list(CROP)),
        (tuple(tuple(r) for r in BOX), (1,), CROP),
        (boxes, [1], CROP),
        (BOX, indices, size),
    ]
    for bx, ix, cs in forms:
        out = b.check_result(xcrop.crop_and_resize(image, bx, ix, cs), image)
        assert_same_bits(out, ref)
    # tf.compat.v1: box_ind (positional or keyword) and box_indices are the same argument.
    for out in (
        v1.crop_and_resize(image, BOX, [1], CROP),
        v1.crop_and_resize(image, BOX, box_ind=[1], crop_size=CROP),
        v1.crop_and_resize(image, BOX, box_indices=indices, crop_size=list(CROP)),
    ):
        assert_same_bits(b.check_result(out, image), ref)


def test_glimpse_lists_and_tuples_equal_arrays(any_backend: Backend) -> None:
    b = any_backend
    image = b.asarray(IMAGE)
    offsets = b.asarray(OFFSETS_F32)
    size = b.asarray(np.array(SIZE, np.int32))
    ref = b.check_result(xcrop.extract_glimpse(image, size, offsets, noise="zero"), image)
    assert ref.shape == (2, *SIZE, 2)
    for sz, off in [
        (SIZE, OFFSETS),
        (list(SIZE), tuple(tuple(r) for r in OFFSETS)),
        (size, OFFSETS),
        (SIZE, offsets),
    ]:
        out = xcrop.extract_glimpse(image, sz, off, noise="zero")
        assert_same_bits(b.check_result(out, image), ref)
    ref1 = b.check_result(
        v1.extract_glimpse(image, size, offsets, uniform_noise=False, noise="zero"), image
    )
    out1 = v1.extract_glimpse(image, list(SIZE), OFFSETS, uniform_noise=False, noise="zero")
    assert_same_bits(b.check_result(out1, image), ref1)


def test_empty_box_arguments(fast_backend: Backend) -> None:
    b = fast_backend
    image = b.asarray(IMAGE)
    # Spec §1.2 step 4: boxes and box_indices both empty means zero boxes.
    for boxes, indices in [
        (b.asarray(np.zeros((0, 4), F32)), b.asarray(np.zeros(0, np.int32))),
        (b.asarray(np.zeros((0, 4), F32)), []),
        ([[]], []),  # a (1, 0) list: rank 2 and empty
    ]:
        out = b.check_result(xcrop.crop_and_resize(image, boxes, indices, CROP), image)
        assert out.shape == (0, *CROP, 2)
        assert out.dtype == np.float32
    # ... but step 3 (boxes rank 2) runs first: [] is a rank-1 array and is rejected, as TF
    # rejects it.
    with pytest.raises(ValueError, match=r"\bboxes\b must be 2-D"):
        xcrop.crop_and_resize(image, [], [], CROP)


# ---------------------------------------------------------------------------------------
# Result kind: float32, shape, library and device
# ---------------------------------------------------------------------------------------

CROP_DTYPES = ("uint8", "uint16", "int8", "int16", "int32", "int64", "float16", "float32",
               "float64")  # fmt: skip


def _dtype_params() -> list[Any]:
    out = []
    for dt in CROP_DTYPES:
        for name in ALL:
            p = _PARAMS[name]
            if holds(p.values[0].adapter, np.zeros(0, dt)):
                out.append(pytest.param(dt, p.values[0], marks=p.marks, id=f"{dt}-{name}"))
    return out


@pytest.mark.parametrize(("dtype", "b"), _dtype_params())
@pytest.mark.parametrize("method", ["bilinear", "nearest"])
def test_every_image_dtype_gives_float32(dtype: str, b: Backend, method: str) -> None:
    with b.adapter.active():
        pixels = (np.arange(140) % 100).reshape(2, 5, 7, 2)  # exact in every dtype
        image = b.asarray(pixels.astype(dtype))
        out = xcrop.crop_and_resize(image, [[0.0, 0.0, 1.0, 1.0]], [1], CROP, method=method)
        out = b.check_result(out, image)
    assert out.dtype == np.float32
    assert out.shape == (1, *CROP, 2)
    # Hand-derived (§1.3): crop height 2 on H = 5: scale = f32(f32(1 * 4) / 1) = 4, rows
    # 0 and 4; crop width 3 on W = 7: scale = f32(6 / 2) = 3, columns 0, 3, 6. Integer
    # coordinates: bilinear lerps have t = 0 and a + (b - a) * 0 = a; nearest is exact.
    np.testing.assert_array_equal(out[0], pixels[1, ::4, ::3].astype(F32))


def test_crop_empty_batch_and_depth(any_backend: Backend) -> None:
    b = any_backend
    image = b.asarray(IMAGE[:0])  # B = 0 with zero boxes
    out = xcrop.crop_and_resize(image, b.asarray(np.zeros((0, 4), F32)),
                                b.asarray(np.zeros(0, np.int32)), CROP)
    out = b.check_result(out, image)
    assert (out.shape, out.dtype) == ((0, *CROP, 2), np.float32)
    image = b.asarray(IMAGE[..., :0])  # D = 0
    out = b.check_result(xcrop.crop_and_resize(image, BOX, [1], CROP), image)
    assert (out.shape, out.dtype) == ((1, *CROP, 0), np.float32)


def test_glimpse_empty_batch_and_depth(any_backend: Backend) -> None:
    b = any_backend
    image = b.asarray(IMAGE[:0])
    out = xcrop.extract_glimpse(image, SIZE, b.asarray(np.zeros((0, 2), F32)))
    out = b.check_result(out, image)
    assert (out.shape, out.dtype) == ((0, *SIZE, 2), np.float32)
    image = b.asarray(IMAGE[..., :0])
    out = b.check_result(xcrop.extract_glimpse(image, SIZE, OFFSETS), image)
    assert (out.shape, out.dtype) == ((2, *SIZE, 0), np.float32)


# ---------------------------------------------------------------------------------------
# Inputs are neither modified nor aliased
# ---------------------------------------------------------------------------------------


def test_inputs_not_modified(any_backend: Backend) -> None:
    # NumPy inputs are read-only (backends.py): an in-place write would raise.
    b = any_backend
    args_np = {
        "image": IMAGE,
        "boxes": np.array([[-0.5, 0.25, 1.5, 0.6]], F32),  # partly outside: extrapolates
        "box_indices": np.array([1], np.int32),
        "crop_size": np.array(CROP, np.int32),
    }
    args = {k: b.asarray(v) for k, v in args_np.items()}
    before = {k: b.to_numpy(v).copy() for k, v in args.items()}
    for method in ("bilinear", "nearest"):
        xcrop.crop_and_resize(**args, method=method, extrapolation_value=-3.0)
    for k, v in args.items():
        np.testing.assert_array_equal(b.to_numpy(v), before[k], err_msg=k)

    gargs = {"input": args["image"], "size": b.asarray(np.array(SIZE, np.int32)),
             "offsets": b.asarray(np.array([[1.0, 1.0], [-1.0, -1.0]], F32))}
    before = {k: b.to_numpy(v).copy() for k, v in gargs.items()}
    xcrop.extract_glimpse(**gargs, noise="uniform", seed=3)
    v1.extract_glimpse(**gargs, uniform_noise=False, noise="zero")
    for k, v in gargs.items():
        np.testing.assert_array_equal(b.to_numpy(v), before[k], err_msg=k)


@pytest.mark.parametrize("name", ["numpy", "torch"])
def test_output_does_not_alias_input(name: str) -> None:
    b = _PARAMS[name].values[0]
    if _PARAMS[name].marks:
        pytest.skip(f"{name} unavailable")
    image = b.asarray(IMAGE)
    boxes = b.asarray(np.array([[0.0, 0.0, 1.0, 1.0]], F32))
    indices = b.asarray(np.array([0], np.int32))
    # Box [0, 0, 1, 1] with crop size == image size samples every pixel at an integer
    # coordinate (scale = f32(4 / 4) = 1, f32(6 / 6) = 1): the crop equals image 0, the
    # case where returning a view would be tempting.
    crop = xcrop.crop_and_resize(image, boxes, indices, (5, 7))
    # Default glimpse mode, offset (0, 0), size == image size: start = trunc(f32(2.5 - 2.5))
    # = 0 and trunc(f32(3.5 - 3.5)) = 0: the whole image, every pixel copied.
    glimpse = xcrop.extract_glimpse(image, (5, 7), [[0.0, 0.0], [0.0, 0.0]], noise="zero")
    # A window strictly inside (start (1, 2) as derived in test_glimpse_default_centre).
    inner = xcrop.extract_glimpse(image, SIZE, [[0.0, 0.0], [0.0, 0.0]])
    out_np = [b.to_numpy(x) for x in (crop, glimpse, inner)]
    np.testing.assert_array_equal(out_np[0][0], IMAGE[0])
    np.testing.assert_array_equal(out_np[1], IMAGE)
    np.testing.assert_array_equal(out_np[2], IMAGE[:, 1:4, 2:5])
    for out in out_np:
        for inp in (image, boxes, indices):
            assert not np.shares_memory(out, b.to_numpy(inp))


# ---------------------------------------------------------------------------------------
# Values derived by hand from the spec's rules
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["bilinear", "nearest"])
def test_one_pixel_image_returns_its_pixel(fast_backend: Backend, method: str) -> None:
    # §1.4: H - 1 = W - 1 = 0, so every coordinate is f32(y1 * 0 + y * f32(... * 0)) = ±0
    # (or f32(y1 + y2) * 0 = ±0 for a 1-row crop): always inside, always pixel (0, 0).
    b = fast_backend
    pixel = np.array([3.5, -2.25], F32)
    image = b.asarray(pixel.reshape(1, 1, 1, 2))
    boxes = [[0, 0, 1, 1], [1, 1, 0, 0], [-5, 7, 3, -2], [0.3, 0.3, 0.3, 0.3],
             [-1e30, 2, 1e30, -3], [2, 2, 3, 3]]  # fmt: skip
    for crop_size in [(1, 1), (2, 3), (4, 1)]:
        out = xcrop.crop_and_resize(image, boxes, [0] * len(boxes), crop_size, method=method,
                                    extrapolation_value=99.0)
        out = b.check_result(out, image)
        assert out.shape == (len(boxes), *crop_size, 2)
        np.testing.assert_array_equal(out, np.broadcast_to(pixel, out.shape))


def test_two_by_two_examples(fast_backend: Backend) -> None:
    b = fast_backend
    image = b.asarray(np.array([[1, 2], [3, 4]], F32).reshape(1, 2, 2, 1))

    def crop(box: list[float], size: tuple[int, int], **kw: Any) -> np.ndarray:
        return b.check_result(xcrop.crop_and_resize(image, [box], [0], size, **kw), image)[
            0, :, :, 0
        ]

    # Crop 3x3 of [0, 0, 1, 1]: scale = f32(f32(1 * 1) / 2) = 0.5, coordinates 0, 0.5, 1.
    # Bilinear at (0.5, 0.5): top = 1 + (2 - 1) * 0.5 = 1.5, bottom = 3 + (4 - 3) * 0.5 =
    # 3.5, out = 1.5 + (3.5 - 1.5) * 0.5 = 2.5; the rest likewise.
    expected = [[1, 1.5, 2], [2, 2.5, 3], [3, 3.5, 4]]
    np.testing.assert_array_equal(crop([0, 0, 1, 1], (3, 3)), expected)
    # Nearest: roundf(0.5) = 1 (half away from zero), so indices 0, 1, 1.
    np.testing.assert_array_equal(crop([0, 0, 1, 1], (3, 3), method="nearest"),
                                  [[1, 2, 2], [3, 4, 4], [3, 4, 4]])
    # Flipped [1, 1, 0, 0]: scale = f32(-1 / 2) = -0.5, coordinates 1, 0.5, 0.
    np.testing.assert_array_equal(crop([1, 1, 0, 0], (3, 3)), np.array(expected)[::-1, ::-1])
    # Crop 1x1: centre f32(0.5 * f32(0 + 1) * 1) = 0.5 on both axes: bilinear 2.5 (above),
    # nearest roundf(0.5) = 1 -> pixel (1, 1) = 4.
    np.testing.assert_array_equal(crop([0, 0, 1, 1], (1, 1)), [[2.5]])
    np.testing.assert_array_equal(crop([0, 0, 1, 1], (1, 1), method="nearest"), [[4]])
    # [-1, -1, 1, 1]: scale = f32(f32(2 * 1) / 2) = 1, coordinates -1, 0, 1; -1 < 0 is
    # extrapolated, so the first row and column are extrapolation_value.
    np.testing.assert_array_equal(
        crop([-1, -1, 1, 1], (3, 3), extrapolation_value=-1.0),
        [[-1, -1, -1], [-1, 1, 2], [-1, 3, 4]],
    )


def test_nearest_row_example(fast_backend: Backend) -> None:
    # Spec §3: 1x5 row [0..4], box [0, 0, 0, 1], crop 1x9, nearest. Rows: crop height 1,
    # in_y = 0.5 * 0 * 0 = 0. Columns: scale = f32(4 / 8) = 0.5, in_x = 0, 0.5, ..., 4, and
    # roundf sends each .5 up: 0, 1, 1, 2, 2, 3, 3, 4, 4.
    b = fast_backend
    image = b.asarray(np.arange(5, dtype=F32).reshape(1, 1, 5, 1))
    out = xcrop.crop_and_resize(image, [[0, 0, 0, 1]], [0], (1, 9), method="nearest")
    out = b.check_result(out, image)
    np.testing.assert_array_equal(out.reshape(-1), [0, 1, 1, 2, 2, 3, 3, 4, 4])


@pytest.mark.parametrize("method", ["bilinear", "nearest"])
def test_flipped_box_flips_the_crop(fast_backend: Backend, method: str) -> None:
    # Exact only where the sample grids coincide bit for bit. Crop 9x13 on 5x7:
    # box [0, 0, 1, 1]: in_y = 0 + y * f32(4 / 8) = 0.5 y; flipped [1, 1, 0, 0]:
    # in_y = 4 + y * f32(-4 / 8) = 4 - 0.5 y, which is row 8 - y of the first, exactly
    # (every value a multiple of 0.5 below 2**23); columns likewise with 6 / 12.
    # Box [0.25, 0, 0.75, 1]: in_y = 1 + 0.25 y; flipped: 3 - 0.25 y, again exact.
    b = fast_backend
    image = b.asarray(IMAGE)
    boxes = np.array([[0, 0, 1, 1], [0.25, 0, 0.75, 1]], F32)
    flipped = boxes[:, [2, 3, 0, 1]]
    out = b.to_numpy(xcrop.crop_and_resize(image, b.asarray(boxes), [0, 1], (9, 13),
                                           method=method))
    out_f = b.to_numpy(xcrop.crop_and_resize(image, b.asarray(flipped), [0, 1], (9, 13),
                                             method=method))
    assert not np.array_equal(out, out[:, ::-1, ::-1])  # the test can tell a flip
    np.testing.assert_array_equal(out_f, out[:, ::-1, ::-1])


def test_huge_boxes_with_one_row_crops(fast_backend: Backend) -> None:
    # Crop height 1 uses the centre (§1.3): in_y = f32(0.5 * f32(y1 + y2) * (H - 1)).
    b = fast_backend
    image = b.asarray(IMAGE)
    # y1 + y2 = -3e38 + 3e38 = 0: row 0. Columns: scale = f32(6 / 3) = 2 -> 0, 2, 4, 6.
    out = xcrop.crop_and_resize(image, [[-3e38, 0, 3e38, 1]], [0], (1, 4))
    np.testing.assert_array_equal(b.check_result(out, image)[0, 0], IMAGE[0, 0, ::2])
    # f32(3e38 + 3e38) = inf: in_y = inf > H - 1, the whole row is extrapolated (§1.4).
    out = xcrop.crop_and_resize(image, [[3e38, 0, 3e38, 1]], [0], (1, 4),
                                extrapolation_value=7.5)
    np.testing.assert_array_equal(b.check_result(out, image), np.full((1, 1, 4, 2), 7.5))


def test_glimpse_default_centre(any_backend: Backend) -> None:
    # Default mode (§2.2, V2 normalized+centered), offset (0, 0), size 3x3 on 5x7:
    # t_y = f32(0 * 5) / 2 = 0, + 5/2 = 2.5, - 3/2 = 1.0 -> start row 1;
    # t_x = 0 + 3.5 - 1.5 = 2.0 -> start column 2: the centre window.
    b = any_backend
    image = b.asarray(IMAGE)
    out = xcrop.extract_glimpse(image, SIZE, b.asarray(np.zeros((2, 2), F32)), noise="zero")
    np.testing.assert_array_equal(b.check_result(out, image), IMAGE[:, 1:4, 2:5])


def test_glimpse_corner_modes(fast_backend: Backend) -> None:
    b = fast_backend
    image = b.asarray(np.arange(9, dtype=F32).reshape(1, 3, 3, 1))
    # §2.2, V2 neither centered nor normalized: start = trunc(offset) = (1, 1).
    out = xcrop.extract_glimpse(image, (2, 2), [[1.0, 1.0]], centered=False, normalized=False,
                                noise="zero")
    np.testing.assert_array_equal(b.check_result(out, image)[0, :, :, 0], [[4, 5], [7, 8]])
    # V1 centered, not normalized, 5x5 arange, size 3, offset (0, 0):
    # t = 0 / 2 + 5/2 - 3/2 = 1 -> rows and columns 1..3.
    image = b.asarray(np.arange(25, dtype=F32).reshape(1, 5, 5, 1))
    out = v1.extract_glimpse(image, (3, 3), [[0.0, 0.0]], centered=True, normalized=False,
                             uniform_noise=False, noise="zero")
    np.testing.assert_array_equal(b.check_result(out, image)[0, :, :, 0],
                                  [[6, 7, 8], [11, 12, 13], [16, 17, 18]])


# ---------------------------------------------------------------------------------------
# Seeded fills
# ---------------------------------------------------------------------------------------

# Offsets (1, 1) and (-1, -1), default mode, size 3x3 on 5x7 (§2.2):
#   image 0: t_y = 5/2 + 2.5 - 1.5 = 3.5 -> rows 3..5; t_x = 3.5 + 3.5 - 1.5 = 5.5 -> 5..7
#   image 1: t_y = -2.5 + 2.5 - 1.5 = -1.5 -> rows -1..1; t_x = -1.5 -> columns -1..1.
# Fill: row 5 / column 7 of image 0 and row -1 / column -1 of image 1, 5 pixels each.
EDGE_OFFSETS = np.array([[1.0, 1.0], [-1.0, -1.0]], F32)
FILL_MASK = np.zeros((2, 3, 3, 2), bool)
FILL_MASK[0, 2, :] = FILL_MASK[0, :, 2] = True
FILL_MASK[1, 0, :] = FILL_MASK[1, :, 0] = True
INSIDE = np.concatenate([IMAGE[:1, 3:5, 5:7], IMAGE[1:, 0:2, 0:2]])  # the copied pixels


def _edge_glimpse(b: Backend, **kw: Any) -> np.ndarray:
    image = b.asarray(IMAGE)
    out = xcrop.extract_glimpse(image, SIZE, b.asarray(EDGE_OFFSETS), **kw)
    return b.check_result(out, image)


@pytest.mark.parametrize("noise", ["uniform", "gaussian"])
def test_seed_repeatable_and_copies_the_window(any_backend: Backend, noise: str) -> None:
    first = _edge_glimpse(any_backend, noise=noise, seed=7)
    second = _edge_glimpse(any_backend, noise=noise, seed=7)
    assert_same_bits(first, second)
    np.testing.assert_array_equal(first[0, :2, :2], INSIDE[0])
    np.testing.assert_array_equal(first[1, 1:, 1:], INSIDE[1])
    assert np.all(np.isfinite(first))



# Another image of the same shape, with values of both signs.
SPREAD = (np.random.default_rng(0).standard_normal((2, 5, 7, 2)) * 3 + 1).astype(F32)


@pytest.mark.parametrize("noise", ["uniform", "gaussian"])
def test_seed_same_bits_on_every_backend(
    any_backend: Backend, noise: str, request: pytest.FixtureRequest
) -> None:
    """Each backend's fill against NumPy's (the test id names the backend that ran)."""
    b = any_backend
    for image in (IMAGE, SPREAD):
        ref = xcrop.extract_glimpse(image, SIZE, EDGE_OFFSETS, noise=noise, seed=7)
        x = b.asarray(image)
        out = xcrop.extract_glimpse(x, SIZE, b.asarray(EDGE_OFFSETS), noise=noise, seed=7)
        assert_same_bits(b.check_result(out, x), ref)


@pytest.mark.parametrize("noise", ["uniform", "gaussian"])
def test_seed_changes_the_fill(fast_backend: Backend, noise: str) -> None:
    outs = [_edge_glimpse(fast_backend, noise=noise, seed=s) for s in (7, 8, None, None)]
    for out in outs:
        np.testing.assert_array_equal(out[~FILL_MASK], INSIDE.reshape(-1))
    fills = [out[FILL_MASK] for out in outs]  # 20 values each
    assert not np.array_equal(fills[0], fills[1]), "seeds 7 and 8 gave the same fill"
    assert not np.array_equal(fills[2], fills[3]), "seed=None twice gave the same fill"
    assert not np.array_equal(fills[0], fills[2])


# Channel 0 in [0, 1], channel 1 in [10, 20] (both ends attained): global range [0, 20].
RANGES = np.stack([np.linspace(0, 1, 35), np.linspace(10, 20, 35)], axis=-1)
RANGES = RANGES.reshape(1, 5, 7, 2).astype(F32)
BIG = (64, 64)  # 8192 fill values
# Default mode: t_y = f32(100 * 5) / 2 + 2.5 - 32 = 220.5 >= H (x likewise): all fill.
FAR = [[100.0, 100.0]]


def _all_fill(b: Backend, image: np.ndarray, fn: Any = xcrop.extract_glimpse,
              **kw: Any) -> np.ndarray:
    x = b.asarray(image)
    return b.check_result(fn(x, BIG, FAR, **kw), x)


def test_uniform_fill_uses_the_global_range(fast_backend: Backend) -> None:
    out = _all_fill(fast_backend, RANGES, noise="uniform", seed=11)
    assert out.min() >= 0.0 and out.max() <= 20.0
    # Global, not per channel: channel 0's fill leaves channel 0's range [0, 1].
    assert np.mean(out[..., 0] > 1.0) > 0.9
    assert np.mean(out[..., 1] < 10.0) > 0.4


def test_gaussian_fill_uses_each_channels_range(fast_backend: Backend) -> None:
    out = _all_fill(fast_backend, RANGES, noise="gaussian", seed=11)
    assert out[..., 0].min() >= 0.0 and out[..., 0].max() <= 1.0
    assert out[..., 1].min() >= 10.0 and out[..., 1].max() <= 20.0
    assert len(np.unique(out[..., 0])) > 100  # noise, not a constant


@pytest.mark.parametrize("noise", ["uniform", "gaussian"])
def test_constant_image_gives_constant_fill(fast_backend: Backend, noise: str) -> None:
    # uniform: lo + U * (hi - lo) = lo + U * 0 = lo; gaussian: clipped to [c, c].
    c = F32(0.3)
    out = _all_fill(fast_backend, np.full((1, 5, 7, 2), c, F32), noise=noise, seed=5)
    np.testing.assert_array_equal(out, np.full(out.shape, c))


def test_fill_statistics() -> None:
    # Deterministic (fixed seeds): thresholds are 5 standard errors of the estimate.
    n = BIG[0] * BIG[1] * 2
    out = _all_fill(_PARAMS["numpy"].values[0], RANGES, noise="uniform", seed=1)
    # lo + U (hi - lo), U ~ U[0, 1): mean 10, standard error 20 / sqrt(12 n).
    assert abs(out.mean() - 10.0) < 5 * 20 / math.sqrt(12 * n)
    assert abs(out.std() - 20 / math.sqrt(12)) < 0.05 * 20 / math.sqrt(12)

    # Gaussian: channel 0 is 33 zeros and -8, 8 (mean 0, population std sqrt(128 / 35));
    # channel 1 = 10 + 2 * channel 0. The clip range is +-4.18 std, symmetric: the clipped
    # fill keeps the channel mean and (to 0.1%) its std.
    ch0 = np.zeros(35)
    ch0[[3, 20]] = [-8.0, 8.0]
    image = np.stack([ch0, 10 + 2 * ch0], axis=-1).reshape(1, 5, 7, 2).astype(F32)
    out = _all_fill(_PARAMS["numpy"].values[0], image, noise="gaussian", seed=2)
    m = n // 2
    for d, (mean, std) in enumerate([(0.0, math.sqrt(128 / 35)),
                                     (10.0, 2 * math.sqrt(128 / 35))]):
        fill = out[..., d].astype(np.float64)
        assert abs(fill.mean() - mean) < 5 * std / math.sqrt(m), d
        assert abs(fill.std() / std - 1) < 5 / math.sqrt(2 * m) + 0.002, d


def test_v1_uniform_noise_false_is_still_uniform(fast_backend: Backend) -> None:
    # Spec §2.4: uniform_noise=False with the op's default noise "uniform" -> uniform.
    b = fast_backend
    out = _all_fill(b, RANGES, fn=v1.extract_glimpse, uniform_noise=False, seed=4)
    assert out.min() >= 0.0 and out.max() <= 20.0
    assert np.any(out != 0)
    assert np.mean(out[..., 0] > 1.0) > 0.9  # global range: not gaussian, not per channel
    same = _all_fill(b, RANGES, fn=v1.extract_glimpse, uniform_noise=True, seed=4)
    assert_same_bits(out, same)


def test_v1_empty_noise_is_gaussian(fast_backend: Backend) -> None:
    # Spec §2.4: uniform_noise=False with noise "" -> gaussian (per-channel clip range).
    b = fast_backend
    out = _all_fill(b, RANGES, fn=v1.extract_glimpse, uniform_noise=False, noise="", seed=4)
    assert out[..., 0].min() >= 0.0 and out[..., 0].max() <= 1.0
    assert out[..., 1].min() >= 10.0 and out[..., 1].max() <= 20.0
    assert len(np.unique(out[..., 0])) > 100
    same = _all_fill(b, RANGES, fn=v1.extract_glimpse, uniform_noise=False,
                     noise="gaussian", seed=4)
    assert_same_bits(out, same)


# ---------------------------------------------------------------------------------------
# Glimpse edge cases
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(0, 3), (3, 0), (0, 0)])
def test_glimpse_zero_size(fast_backend: Backend, size: tuple[int, int]) -> None:
    b = fast_backend
    image = b.asarray(IMAGE)
    for out in (xcrop.extract_glimpse(image, size, OFFSETS),
                v1.extract_glimpse(image, size, OFFSETS)):
        out = b.check_result(out, image)
        assert (out.shape, out.dtype) == ((2, *size, 2), np.float32)


@pytest.mark.parametrize("shape", [(2, 0, 7, 2), (2, 5, 0, 2), (2, 0, 0, 2)])
def test_glimpse_of_an_empty_image_is_all_fill(fast_backend: Backend,
                                               shape: tuple[int, ...]) -> None:
    # TF has no H, W > 0 check (§2.1); every element is fill: zero -> 0, and a statistical
    # fill has no image statistics -> NaN.
    b = fast_backend
    image = b.asarray(np.zeros(shape, F32))
    expected = {"zero": 0.0, "uniform": np.nan, "gaussian": np.nan}
    for noise, value in expected.items():
        out = b.check_result(xcrop.extract_glimpse(image, SIZE, OFFSETS, noise=noise), image)
        assert out.shape == (2, *SIZE, 2)
        np.testing.assert_array_equal(out, np.full(out.shape, value, F32), err_msg=noise)
    out = b.check_result(v1.extract_glimpse(image, SIZE, OFFSETS), image)  # uniform
    assert out.shape == (2, *SIZE, 2) and np.all(np.isnan(out))


# ---------------------------------------------------------------------------------------
# Package surface
# ---------------------------------------------------------------------------------------


def test_import_loads_no_array_library() -> None:
    code = textwrap.dedent(
        """
        import sys
        import xcrop
        libs = ("numpy", "torch", "jax", "cupy", "array_api_strict")
        print(sorted(m for m in libs if m in sys.modules))
        import numpy as np
        x = np.zeros((1, 2, 2, 1), np.float32)
        xcrop.crop_and_resize(x, [[0, 0, 1, 1]], [0], (1, 1))
        xcrop.extract_glimpse(x, (1, 1), [[0, 0]], noise="uniform", seed=1)
        print(sorted(m for m in libs if m in sys.modules))
        """
    )
    # Import the same xcrop as this test run (its src directory first on the path).
    src = str(Path(xcrop.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=False, env=env)
    assert result.returncode == 0, result.stderr
    after_import, after_numpy_calls = result.stdout.split("\n")[:2]
    # Not even NumPy: the backend is decided only by the arrays a caller passes.
    assert after_import == "[]"
    assert after_numpy_calls == "['numpy']"


def test_public_names_exist() -> None:
    for name in xcrop.__all__:
        assert hasattr(xcrop, name), name
    for name in v1.__all__:
        assert callable(getattr(v1, name)), name
    assert xcrop.compat.v1 is v1
    assert isinstance(xcrop.__version__, str) and xcrop.__version__


@pytest.mark.parametrize(
    "fn", [xcrop.crop_and_resize, xcrop.extract_glimpse, v1.crop_and_resize,
           v1.extract_glimpse], ids=lambda f: f"{f.__module__}.{f.__name__}",
)
def test_public_functions_documented(fn: Any) -> None:
    doc = inspect.getdoc(fn)
    assert doc and len(doc) > 100
    if fn.__module__ == "xcrop.api":  # the full references document every parameter
        for param in inspect.signature(fn).parameters:
            assert param in doc, f"{fn.__name__} docstring does not mention {param}"


def test_exception_classes_documented() -> None:
    for cls in (xcrop.BoxIndexError, xcrop.InvalidArgumentError, xcrop.UnsupportedDTypeError):
        assert inspect.getdoc(cls)


def test_glimpse_converts_real_and_integer_inputs_like_tf() -> None:
    # TF's wrapper runs convert_to_tensor(input, dtype=float32): every real floating and
    # integer dtype is cast (float64 under flush-to-zero), then the op runs; its first
    # error is a later one (docs/semantics.md §2.1).
    image = np.arange(2 * 5 * 5 * 2, dtype=np.float64).reshape(2, 5, 5, 2) - 30
    image[0, 2, 2, 0] = 1e-40  # a float32 subnormal after the cast: TF flushes it
    image[0, 2, 2, 1] = -1e-40
    offsets = [[0.0, 0.0], [0.5, -0.5]]
    flushed = np.where(np.abs(image) < 2.0**-126, np.copysign(0.0, image), image)
    v1 = functools.partial(xcrop.compat.v1.extract_glimpse, uniform_noise=False)
    for fn in (xcrop.extract_glimpse, v1):
        got = fn(image, (3, 3), offsets, noise="zero")
        want = fn(flushed.astype(np.float32), (3, 3), offsets, noise="zero")
        assert got.dtype == np.float32
        assert got.tobytes() == want.tobytes()
    assert np.signbit(xcrop.extract_glimpse(image, (1, 1), [[0.0, 0.0]] * 2,
                                            noise="zero")[0, 0, 0, 1])
    for dtype in (np.int64, np.uint8, np.float16, np.int32):
        got = xcrop.extract_glimpse(image.astype(dtype), (3, 3), offsets, noise="zero")
        ref = xcrop.extract_glimpse(image.astype(dtype).astype(np.float32), (3, 3), offsets,
                                    noise="zero")
        assert got.tobytes() == ref.tobytes()
    with pytest.raises(xcrop.InvalidArgumentError, match="size must be non-negative"):
        xcrop.extract_glimpse(image.astype(np.int64), (-1, 3), offsets)
    for bad in (image > 0, image.astype(np.complex64)):
        with pytest.raises(xcrop.UnsupportedDTypeError, match="real floating or integer"):
            xcrop.extract_glimpse(bad, (3, 3), offsets)
