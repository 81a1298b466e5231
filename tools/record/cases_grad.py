"""crop_and_resize gradient suites: grad_random, grad_edge, grad_dtypes, grad_errors.

A ``t.pair`` row makes the image and box gradient cases of one forward call (raw ops
CropAndResizeGradImage / CropAndResizeGradBoxes, sharing ``params["pair"]``).
"""

from __future__ import annotations

import numpy as np
from rows import BOTH, F32, GRAD_BOXES, GRAD_IMAGE, Table, suite

IMG22 = np.array([[1, 2], [3, 4]], F32).reshape(1, 2, 2, 1)


@suite(4001)
def grad_random(t: Table) -> None:
    rng = t.rng
    for i in range(120):
        b, h, w, d = (int(rng.integers(1, k)) for k in (4, 10, 10, 4))
        n = int(rng.integers(1, 6))
        ch = int(rng.integers(1, 8)) if i % 7 else 1
        cw = int(rng.integers(1, 8)) if i % 11 else 1
        lo, hi = ((0.0, 1.0), (-0.4, 1.4), (0.2, 0.8))[i % 3]
        boxes = rng.uniform(lo, hi, (n, 4)).astype(F32)
        m = "nearest" if i % 4 == 3 else "bilinear"
        t.pair(t.normal((b, h, w, d)), boxes, rng.integers(0, b, n), (ch, cw), m,
               desc=f"random sweep {i}: {b}x{h}x{w}x{d} image, {n} boxes in [{lo}, {hi}], "
               f"crop {ch}x{cw}, {m}")
    for i in range(20):  # many overlapping boxes on one image: long accumulation chains
        h, w = int(rng.integers(2, 6)), int(rng.integers(2, 6))
        n = int(rng.integers(6, 16))
        boxes = (rng.uniform(0, 1, (1, 4)) + rng.uniform(-0.1, 0.1, (n, 4))).astype(F32)
        m = "nearest" if i % 4 == 3 else "bilinear"
        t.pair(t.normal((2, h, w, 2)), boxes, np.zeros(n), (int(rng.integers(3, 12)),
               int(rng.integers(3, 12))), m, desc=f"overlap sweep {i}: {n} near-identical "
               f"boxes on one {h}x{w} image, {m}")


@suite(4002)
def grad_edge(t: Table) -> None:
    for m in BOTH:
        t.pair(IMG22, [[0, 0, 1, 1]], [0], (2, 2), m, np.ones((1, 2, 2, 1)),
               desc=f"2x2, box [0,0,1,1], crop 2x2 ({m}): every sample on a pixel "
               "-> all-zero box gradient")
        t.pair(IMG22, [[0, 0, 1, 1]], [0], (3, 3), m, np.ones((1, 3, 3, 1)),
               desc=f"2x2, box [0,0,1,1], crop 3x3 ({m}), upstream ones")
        t.pair(IMG22, [[-1, -1, 1, 1]], [0], (3, 3), m,
               desc=f"box [-1,-1,1,1] partly outside, crop 3x3 ({m})")
        t.pair(IMG22, [[1, 1, 0, 0]], [0], (3, 3), m,
               desc=f"flipped box [1,1,0,0], crop 3x3 ({m})")
    a = t.normal((2, 5, 6, 3))
    box, box2 = [0.1, 0.2, 0.9, 0.7], [0.3, 0.1, 0.4, 0.6]
    for m in BOTH:
        t.pair(a, [[0, 0, 1, 1], [0.25, 0.2, 0.75, 0.8]], [0, 1], (5, 6), m,
               desc=f"5x6 image, crop 5x6 of the full box and integer-coordinate "
               f"boxes ({m}) -> zero box gradient")
        t.pair(a, [[-0.5, 0.3, 0.4, 1.7], [1.2, -0.3, 1.5, 0.2], [2, 2, 3, 3]], [0, 1, 1],
               (4, 4), m, desc=f"boxes partly and wholly outside the image ({m})")
        t.pair(a, [box], [0], (1, 5), m,
               desc=f"crop height 1 (box centre row, float64 in TF) ({m})")
        t.pair(a, [box], [0], (5, 1), m, desc=f"crop width 1 (box centre column) ({m})")
        t.pair(a, [box, box2], [0, 1], (1, 1), m, desc=f"crop 1x1 ({m})")
        t.pair(a, [[0.3, 0.3, 0.3, 0.3]] * 4, [1] * 4, (7, 7), m,
               desc=f"four identical degenerate boxes (every sample at one point) "
               f"({m}): 196 adds into the same pixels")
    for m in BOTH:
        t.pair(t.normal((1, 3, 3, 2)), [[0, 0, 1, 1]] * 5 + [[0.1, 0.0, 0.9, 1.0]] * 3,
               [0] * 8, (23, 17), m, desc=f"upsampling 3x3 to 23x17 with 8 overlapping boxes "
               f"({m}): hundreds of float32 adds per pixel, TF's sequential order")
    box = [0.1, 0.2, 0.8, 0.9]
    rows = [  # image shape, image scale, boxes, box_indices, crop size, grads scale, desc
        ((1, 4, 4, 1), 1, [[0, 0, 1, 1]], [0], (22, 22), 1, "4x4 -> 22x22, box [0,0,1,1]: "
         "last row/column extrapolated by float32 rounding, so they get no gradient"),
        ((1, 1, 5, 2), 1, [[0, 0, 0.5, 1], [0.3, 0.1, 0.9, 0.8]], [0, 0], (3, 4), 1,
         "1-pixel-high image: the y axis never extrapolates"),
        ((1, 6, 1, 2), 1, [[0, 0.3, 1, 0.6], [0.3, 0.1, 0.9, 0.8]], [0, 0], (4, 3), 1,
         "1-pixel-wide image"),
        ((1, 1, 1, 3), 1, [[-0.2, 0.5, 0.7, 0.1]], [0], (2, 3), 1, "1x1 image"),
        ((2, 4, 5, 2), 1, [box], [1], (3, 3), 2e-38, "upstream gradients near FLT_MIN: "
         "subnormal inputs and products flush to zero in TF's CPU kernels (FTZ/DAZ)"),
        ((2, 4, 5, 2), 1e-20, [box, [0.3, 0.1, 0.6, 0.7]], [1, 0], (3, 4), 1e-18,
         "tiny pixel differences times tiny upstream gradients: box-gradient products "
         "underflow to subnormal and flush"),
        ((1, 3, 3, 1), 1e30, [box], [0], (4, 4), 1e10,
         "huge values: products overflow to inf in float32"),
        ((2, 3, 4, 2), 1, np.zeros((0, 4)), np.zeros(0), (2, 3), 1,
         "zero boxes -> zero image gradient, (0, 4) box gradient"),
        ((2, 3, 4, 0), 1, [box], [1], (2, 3), 1, "depth 0"),
        ((3, 3, 4, 2), 1, [box, [0.0, 0.0, 1.0, 1.0]], [2, 2], (3, 2), 1,
         "boxes only on the last batch image; the others get zeros"),
    ]
    for shape, iscale, boxes, idx, size, gscale, desc in rows:
        t.pair(t.normal(shape, iscale), boxes, idx, size, scale=gscale, desc=desc)


@suite(4003)
def grad_dtypes(t: Table) -> None:
    rng = t.rng
    for dt in ("float16", "float64"):
        for i in range(12):
            b, h, w, d = 2, int(rng.integers(1, 8)), int(rng.integers(1, 8)), 2
            n = int(rng.integers(1, 5))
            ch, cw = int(rng.integers(1, 7)), int(rng.integers(1, 7))
            m = "nearest" if i % 3 == 2 else "bilinear"
            t.pair(t.normal((b, h, w, d), 3.0, dt), rng.uniform(-0.3, 1.3, (n, 4)),
                   rng.integers(0, b, n), (ch, cw), m,
                   desc=f"{dt} image {b}x{h}x{w}x{d}, {n} boxes, crop {ch}x{cw}, "
                   f"{m}: image gradient accumulated in {dt}")
        t.pair(t.normal((1, 3, 3, 1), 1.0, dt), [[0, 0, 1, 1]] * 6, [0] * 6, (15, 15),
               desc=f"{dt}: six overlapping upsampling boxes, long accumulation in {dt}")
    t.pair(t.normal((1, 3, 3, 1), 1.0, np.float16), [[0.1, 0.2, 0.8, 0.9]], [0], (4, 4),
           scale=1e-6, desc="float16: contributions below float16's normal range (half "
           "subnormals are kept: only float32 arithmetic flushes)")
    t.pair(np.full((1, 2, 2, 1), 60000, np.float16), [[0, 0, 1, 1]] * 3, [0] * 3, (3, 3),
           "bilinear", np.full((3, 3, 3, 1), 30000.0),
           desc="float16 accumulation overflows to inf")
    for dt in ("uint8", "int16", "int32", "int64", "uint16", "int8"):
        info = np.iinfo(dt)
        img = rng.integers(max(info.min, -1000), min(info.max, 1000), (2, 4, 5, 2),
                           dtype=np.dtype(dt), endpoint=True)
        t.pair(img, rng.uniform(-0.2, 1.2, (3, 4)), [0, 1, 1], (3, 4),
               desc=f"{dt} image: box gradient only (TF has no image gradient for "
               "integer images)")


@suite(4004)
def grad_errors(t: Table) -> None:
    g, img, s = np.ones((1, 2, 2, 1)), np.ones((1, 3, 3, 1), F32), [1, 3, 3, 1]
    bx = np.array([[0.1, 0.2, 0.8, 0.9]], F32)
    rows = [  # grads, boxes, box_indices, image_shape, method, description
        (g[0], bx, [0], s, "bilinear", "grads not 4-D"),
        (g, bx, [0], [1, 3, 3], "bilinear", "image_shape with 3 elements"),
        (g, bx, [0], [1, 0, 3, 1], "bilinear", "zero image height"),
        (g, bx, [0], [1, 3, 3, 2], "bilinear", "depth differs from grads"),
        (g, bx[:, :3], [0], s, "bilinear", "boxes with 3 columns"),
        (g, bx, [0, 0], s, "bilinear", "box_indices longer than boxes"),
        (np.ones((2, 2, 2, 1)), bx, [0], s, "bilinear", "grads has more rows than boxes"),
        (g, bx, [1], s, "bilinear", "box index outside [0, batch)"),
        (g, bx, [-1], s, "bilinear", "negative box index"),
        (g, bx, [0], s, "bicubic", "unknown method"),
        (np.ones((1, 0, 2, 1)), bx, [0], s, "bilinear", "zero crop height"),
    ]
    for grads, boxes, idx, shape, m, desc in rows:
        t.grad_error(GRAD_IMAGE, grads, boxes, idx, shape, m, desc=f"grad image: {desc}")
    rows = [  # grads, boxes, box_indices, image, description
        (g[0], bx, [0], img, "grads not 4-D"),
        (g, bx, [0], img[0], "image not 4-D"),
        (g, bx, [0], np.ones((1, 0, 3, 1), F32), "zero image width"),
        (g, bx, [0], np.ones((1, 3, 3, 2), F32), "image depth differs from grads"),
        (g, bx, [0, 0], img, "box_indices longer than boxes"),
        (g, bx, [3], img, "box index outside [0, batch)"),
        (np.ones((1, 2, 0, 1)), bx, [0], img, "zero crop width"),
    ]
    for grads, boxes, idx, image, desc in rows:
        t.grad_error(GRAD_BOXES, grads, boxes, idx, image, desc=f"grad boxes: {desc}")
