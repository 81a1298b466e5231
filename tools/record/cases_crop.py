"""crop_and_resize suites: crop_edge, crop_random, crop_dtypes, crop_v1, crop_errors."""

from __future__ import annotations

import numpy as np
from rows import BOTH, F32, Table, arange, suite

IMG22 = np.array([[1, 2], [3, 4]], F32).reshape(1, 2, 2, 1)
FULL = [[0, 0, 1, 1]]


def overshoots(n: int, c: int) -> bool:
    """True if box [0, 1] with crop size c on an axis of n pixels samples beyond n - 1."""
    if c < 2 or n < 2:
        return False
    scale = F32(F32(F32(1) * F32(n - 1)) / F32(c - 1))
    return bool(F32(F32(c - 1) * scale) > n - 1)


@suite(1001)
def crop_edge(t: Table) -> None:
    for m, v in zip(BOTH, (2.5, 4), strict=True):
        t.crop(IMG22, FULL, [0], [1, 1], m, tag=f"spec-2x2-1x1-{m}",
               desc=f"spec §3: 2x2 [[1,2],[3,4]], box [0,0,1,1], crop 1x1, {m} -> {v}")
    t.crop(IMG22, FULL, [0], [3, 3], tag="spec-2x2-3x3-bilinear", desc="spec §3: 2x2, box "
           "[0,0,1,1], crop 3x3 bilinear -> [[1,1.5,2],[2,2.5,3],[3,3.5,4]]")
    t.crop(IMG22, FULL, [0], [3, 3], "nearest", tag="spec-2x2-3x3-nearest", desc="spec §3: "
           "2x2, box [0,0,1,1], crop 3x3 nearest -> [[1,2,2],[3,4,4],[3,4,4]]")
    t.crop(IMG22, [[1, 1, 0, 0]], [0], [3, 3], tag="spec-2x2-flipped-bilinear", desc="spec §3: "
           "flipped box [1,1,0,0], crop 3x3 bilinear -> [[4,3.5,3],[3,2.5,2],[2,1.5,1]]")
    t.crop(IMG22, [[1, 1, 0, 0]], [0], [3, 3], "nearest", desc="flipped box [1,1,0,0], crop 3x3 "
           "nearest")
    t.crop(IMG22, [[1, 0, 0, 1]], [0], [3, 3], desc="box flipped in y only [1,0,0,1], crop 3x3 "
           "bilinear")
    for m in BOTH:
        t.crop(IMG22, [[-1, -1, 1, 1]], [0], [3, 3], m, -1.0, tag=f"spec-2x2-outside-{m}",
               desc=f"spec §3: box [-1,-1,1,1], crop 3x3, extrapolation -1, {m} -> "
               "[[-1,-1,-1],[-1,1,2],[-1,3,4]]")

    # 4x4 -> 22x22 and other sizes where box [0,0,1,1] overshoots in float32.
    img44 = arange((1, 4, 4, 1), start=1)
    for m in BOTH:
        t.crop(img44, FULL, [0], [22, 22], m, -7.0, tag=f"spec-4x4-22x22-{m}", desc=f"spec §3: "
               f"4x4, box [0,0,1,1], crop 22x22 {m}, extrapolation -7: f32 rounding puts the "
               "last row/column at 3.0000002 > 3 -> extrapolated")
    t.crop(img44, FULL, [0], [22, 22], desc="4x4 -> 22x22, box [0,0,1,1], extrapolation 0 "
           "(default)")
    over = [(h, c) for h in range(2, 41) for c in range(2, 65) if overshoots(h, c)]
    for h, c in [over[i] for i in (5, 17, 40, 77)]:
        cw = next(cc for cc in range(2, 30) if not overshoots(h, cc))
        t.crop(t.normal((1, h, h, 1)), FULL, [0], [c, cw], "bilinear", 9.0, desc=f"{h}x{h} "
               f"image, box [0,0,1,1], crop {c}x{cw}: rows overshoot (last row extrapolated), "
               "columns do not")

    row5, x = arange((1, 1, 5, 1)), float(F32(0.49999997))
    t.crop(row5, [[0, 0, 0, 1]], [0], [1, 9], "nearest", tag="spec-1x5-nearest", desc="spec §3: "
           "1x5 row [0..4], box [0,0,0,1], crop 1x9 nearest -> [0,1,1,2,2,3,3,4,4] (round half "
           "away from zero)")
    t.crop(row5, [[0, 0, 0, 1]], [0], [1, 9], desc="1x5 row [0..4], box [0,0,0,1], crop 1x9 "
           "bilinear")
    img12 = np.array([10, 20], F32).reshape(1, 1, 2, 1)
    t.crop(img12, [[0, x, 0, x]], [0], [1, 1], "nearest", tag="spec-1x2-0.49999997", desc="spec "
           "§3: 1x2 [10,20], x1 = x2 = 0.49999997, crop 1x1 nearest -> index 0 (floor(x + 0.5) "
           "would give 1)")
    t.crop(img12, [[0, x, 0, x]], [0], [1, 1], desc="1x2 [10,20], x1 = x2 = 0.49999997, crop 1x1 "
           "bilinear")
    t.crop(img12, [[0, 0.25, 0, 0.75]], [0], [1, 3], "nearest", desc="1x2, samples at x = 0.25, "
           "0.5, 0.75: nearest tie 0.5 goes up")
    t.crop(arange((1, 1, 3, 1)), [[0, 0.25, 0, 0.75]], [0], [1, 3], "nearest", desc="1x3 [0,1,2]"
           ", samples at x = 0.5, 1, 1.5: nearest ties go up -> [1,1,2]")
    a9, centres = arange((1, 3, 3, 1)), (([-1, -1, 2, 2], 4), ([-1, 0, 1.5, 1], 2.5),
                                         ([1, 1, 0, 0], 4))
    for i, (box, v) in enumerate(centres):
        t.crop(a9, [box], [0], [1, 1], tag=f"spec-3x3-1x1-{i}", desc=f"spec §3: 3x3 arange(9), "
               f"box {box}, crop 1x1 bilinear -> {v} (box centre, float64 arithmetic)")
        t.crop(a9, [box], [0], [1, 1], "nearest", desc=f"3x3 arange(9), box {box}, crop 1x1 "
               "nearest")
    t.crop(a9, [b for b, _ in centres], [0, 0, 0], [1, 1], desc="the three 1x1 centre boxes "
           "together")
    big = np.array([2**53 + 1, 2**53, 3, 2**62 + 2**40], np.int64).reshape(1, 2, 2, 1)
    for m in BOTH:
        t.crop(big, FULL, [0], [2, 2], m, tag=f"spec-int64-{m}", desc=f"spec §3: int64 pixels, "
               f"2**53+1 -> 2**53 in float32 ({m})")

    # Non-finite pixels, signed zeros.
    infimg = np.array([[np.inf, 1], [2, 3]], F32).reshape(1, 2, 2, 1)
    for m in BOTH:
        t.crop(infimg, [[0, 0, 0, 0]], [0], [1, 1], m, tag=f"spec-inf-00-{m}", desc=f"spec §3: "
               f"[[inf,1],[2,3]] sampled at (0,0), {m} (bilinear: inf + (1 - inf) * 0 = NaN)")
        t.crop(infimg, FULL, [0], [3, 3], m, desc=f"[[inf,1],[2,3]], box [0,0,1,1], crop 3x3, {m}")
    nanimg = arange((1, 4, 4, 2))
    nanimg[0, 1, 2, 0], nanimg[0, 2, 1, 1], nanimg[0, 3, 3, 0] = np.nan, -np.inf, np.inf
    for m in BOTH:
        t.crop(nanimg, [[0, 0, 1, 1], [0.2, 0.1, 0.9, 0.8]], [0, 0], [5, 7], m,
               desc=f"4x4x2 with NaN, -inf, inf pixels, {m}: propagation pattern")
    negz = np.array([[-0.0, -0.0], [-0.0, 1.0]], F32).reshape(1, 2, 2, 1)
    for m in BOTH:
        t.crop(negz, [[0, 0, 1, 1], [0, 0, 0, 0]], [0, 0], [3, 3], m,
               desc=f"-0.0 pixels, {m}: sign of zero (lerp of -0 and -0 at t=0 is +0)")
    t.crop(np.array([[-1, 1], [1, -1]], F32).reshape(1, 2, 2, 1), FULL, [0], [3, 3],
           desc="lerp giving exact zeros (centre sample of [[-1,1],[1,-1]])")

    # 1x1 images and 1-pixel axes.
    one = np.array([7.5, -2], F32).reshape(1, 1, 1, 2)
    for m in BOTH:
        t.crop(one, [FULL[0], [-3, 2, 5, -1], [0.3] * 4, [5, 5, 6, 6], [1, 1, 0, 0]], [0] * 5,
               [3, 2], m, -1.0, desc=f"1x1 image: every box returns its pixel, never "
               f"extrapolates ({m})")
    col, row = t.normal((2, 6, 1, 3)), t.normal((2, 1, 6, 3))
    boxes = [[0, -1, 1, 2], [-0.5, 0, 1.5, 1], [0.2, 3, 0.8, 4], [1, 0, 0, 1]]
    for m in BOTH:
        t.crop(col, boxes, [0, 1, 1, 0], [4, 3], m, 5.0,
               desc=f"W == 1 image: x never extrapolates; y does ({m})")
        t.crop(row, boxes, [0, 1, 1, 0], [3, 4], m, 5.0,
               desc=f"H == 1 image: y never extrapolates; x does ({m})")
    img, boxes = t.normal((1, 7, 9, 2)), [FULL[0], [0.1, 0.2, 0.7, 0.9], [-0.2, 0.5, 1.3, 0.5]]
    for m in BOTH:
        t.crop(img, boxes, [0, 0, 0], [1, 6], m, desc=f"crop height 1 only ({m})")
        t.crop(img, boxes, [0, 0, 0], [6, 1], m, desc=f"crop width 1 only ({m})")
        t.crop(img, boxes, [0, 0, 0], [1, 1], m, desc=f"crop 1x1 ({m})")

    # Integer-coordinate samples.
    img = t.normal((1, 5, 5, 3))
    for m in BOTH:
        t.crop(img, FULL, [0], [5, 5], m, desc=f"5x5, box [0,0,1,1], crop 5x5: exact pixel copy "
               f"({m})")
        t.crop(img, [[0.25, 0.25, 0.75, 0.75], FULL[0]], [0, 0], [3, 3], m,
               desc=f"samples exactly on pixels 0,2,4 / 1,2,3 ({m})")
        t.crop(img, [FULL[0], [-0.0, -0.0, 1, 1], [-1e-8, 0, 1, 1e-8 + 1]], [0, 0, 0], [2, 2], m,
               -3.0, desc=f"boundary: -0.0 is inside, -1e-8 and 1+1e-8 are outside ({m})")
        t.crop(img, [[0, 0, 1.0000001, 0.9999999]], [0], [5, 5], m, -3.0,
               desc=f"coordinates one ulp past the last pixel ({m})")

    img = t.normal((1, 4, 5, 2))
    for ev in (-1.0, 3.5, 0.1, 1e30, 1e40, float("nan"), float("inf"), float("-inf"), -0.0):
        for m in BOTH:
            t.crop(img, [[-0.5, -0.5, 1.5, 1.5], [1.2, -2, 3, -1]], [0, 0], [4, 4], m, ev,
                   desc=f"extrapolation_value {ev!r} ({m}); stored as float32 by TF")

    # zero boxes, D = 0, B = 0.
    img, z4, z = t.normal((2, 3, 4, 2)), np.zeros((0, 4)), np.zeros(0)
    for m in BOTH:
        t.crop(img, z4, z, [3, 2], m, desc=f"zero boxes: output shape (0, 3, 2, 2) ({m})")
    t.crop(img, np.zeros((0, 3)), z, [3, 2],
           desc="zero boxes with 3 columns: no column check when both are empty")
    t.crop(np.zeros((0, 3, 4, 2), F32), z4, z, [2, 2], desc="B = 0 image with zero boxes")
    t.crop(np.zeros((2, 3, 4, 0), F32), [FULL[0], [0.5, 0, 1, 2]], [1, 0], [2, 5],
           desc="D = 0: output shape (2, 2, 5, 0)")
    t.crop(np.zeros((1, 3, 4, 0), np.uint8), z4, z, [2, 2], "nearest",
           desc="zero boxes and D = 0, uint8")

    # batch handling.
    img = t.normal((4, 6, 5, 3))
    t.crop(img, [[0.1, 0.1, 0.9, 0.8]], [2], [4, 4], desc="B = 4, only image 2 used")
    boxes = [FULL[0], [0.2, 0.3, 0.6, 0.7], [-0.1, 0.4, 1.1, 0.2], [0.5] * 4, FULL[0]]
    for m in BOTH:
        t.crop(img, boxes, [3, 1, 3, 0, 3], [5, 4], m,
               desc=f"several boxes per image, unsorted indices, same box twice ({m})")
    t.crop(img, [[0.2, 0.3, 0.6, 0.7]] * 3, [1, 1, 1], [3, 3],
           desc="the same box three times on the same image")

    # degenerate boxes, tiny and huge crops.
    img = t.normal((1, 8, 8, 1))
    for m in BOTH:
        t.crop(img, [[0.4, 0.1, 0.4, 0.9], [0.1, 0.6, 0.9, 0.6], [0.3] * 4], [0, 0, 0], [4, 5],
               m, desc=f"degenerate boxes y1 == y2, x1 == x2, both ({m})")
        t.crop(img, [[0.5, 0.5, 0.5 + 1e-6, 0.5 + 1e-6]], [0], [7, 7], m,
               desc=f"tiny box 1e-6 wide, crop 7x7 ({m})")
    t.crop(img, FULL, [0], [100, 3], desc="crop 100x3 of an 8x8 image")

    # Subnormals: TF's CPU kernel runs with FTZ/DAZ (denormals flushed to zero).
    sub = np.array([[2.8e-45, 0.0], [1e-38, 3e-38]], F32).reshape(1, 2, 2, 1)
    for m in BOTH:
        t.crop(sub, FULL, [0], [3, 3], m, tag=f"ftz-pixels-{m}", desc=f"float32 subnormal "
               f"pixels, {m}: bilinear arithmetic flushes them to 0 (DAZ/FTZ), nearest copies "
               "them unchanged")
    t.crop(np.array([1.2e-38, 1.18e-38, -1.2e-38], F32).reshape(1, 1, 3, 1), [[0, 0, 0, 1]],
           [0], [1, 9], tag="ftz-lerp", desc="bilinear between tiny normal pixels: subnormal "
           "differences and results are flushed to 0")
    d = np.array([2.5e-45, 1e-39, 1.2e-38, -3e-39, 7e-46, -1e-50], np.float64)
    for m in BOTH:
        t.crop(d.reshape(1, 1, 6, 1), FULL, [0], [1, 6], m, tag=f"ftz-float64-{m}",
               desc=f"float64 pixels that are float32 subnormals: the conversion "
               f"flushes them to (signed) 0, {m}")
    for y1 in (-1e-40, -1e-45, -1.1e-38):
        t.crop(a9, [[y1, y1, 1, 1]], [0], [3, 3], "bilinear", -5.0, tag=f"ftz-box-{y1:g}",
               desc=f"box y1 = x1 = {y1:g} (float32 subnormal): read as -0, so the "
               "first row/column is inside, not extrapolated")
    col = np.array([0.0, 3e38], F32).reshape(1, 2, 1, 1)
    t.crop(col, [[0, 0, 1e-39, 0]], [0], [2, 1], tag="ftz-box-height", desc="image rows "
           "[0, 3e38], box y2 = 1e-39 (subnormal): second sample is exactly 0 under DAZ (IEEE "
           "would give 0.3)")
    t.crop(col, [[0, 0, 1.2e-38, 0]], [0], [1, 1], tag="ftz-centre", desc="image rows [0, 3e38]"
           ", crop height 1, box y2 = 1.2e-38: the centre 0.5 * 1.2e-38 is a float32 subnormal, "
           "flushed to 0 by the float64 -> float32 conversion (IEEE would give 1.8)")
    t.crop(a9, [[-1, -1, -1, -1]], [0], [1, 2], "bilinear", 1e-40, tag="ftz-extrapolation",
           desc="subnormal extrapolation_value 1e-40 is copied unchanged")


@suite(2002)
def crop_random(t: Table) -> None:
    rng = t.rng

    def size() -> int:
        u = rng.random()
        lo, hi = (1, 4) if u < 0.2 else (1, 17) if u < 0.7 else (17, 65) if u < 0.97 else (65, 101)
        return int(rng.integers(lo, hi))

    def image(kind):
        if kind == "onepixel":
            H, W = [(1, 1), (1, int(rng.integers(2, 30))), (int(rng.integers(2, 30)), 1)][
                int(rng.integers(3))]
        else:
            H, W = int(rng.integers(2, 41)), int(rng.integers(2, 41))
            if rng.random() < 0.3:
                H, W = int(rng.integers(2, 9)), int(rng.integers(2, 9))
        D = int(rng.integers(8, 17)) if kind == "channels" else int(rng.integers(1, 4))
        B = max(1, min(int(rng.integers(1, 4)), 2400 // (H * W * D)))
        if kind == "uint8":
            return rng.integers(0, 256, (B, H, W, D)).astype(np.uint8)
        img = t.normal((B, H, W, D), [1.0, 1.0, 1000.0, 1e-3][int(rng.integers(4))])
        if rng.random() < 0.2:
            img += F32(rng.uniform(-50, 50))
        return img

    def sorted_pair(lo, hi):
        a, b = rng.uniform(lo, hi, 2)
        return (a, b) if a <= b else (b, a)

    def box(kind):  # -> [y1, x1, y2, x2]
        if kind == "grid":  # coordinates on a 1/8 grid: integer and .5 samples
            y1, y2, x1, x2 = (rng.integers(-4, 13, 4) / 8.0).tolist()
            return [y1, x1, y2, x2]
        lo, hi = {"outside": (-2, 3), "onepixel": (-2, 3), "flipped": (-0.5, 1.5),
                  "degenerate": (-0.5, 1.5)}.get(kind, (0, 1))
        (y1, y2), (x1, x2) = sorted_pair(lo, hi), sorted_pair(lo, hi)
        if kind == "flipped":  # x, y or both axes flipped
            r = rng.random()
            y1, y2, x1, x2 = ((y1, y2, x2, x1) if r < 0.33 else (y2, y1, x1, x2) if r < 0.66
                              else (y2, y1, x2, x1))
        elif kind == "degenerate":  # y1 == y2, x1 == x2 or both
            r, pick = rng.random(), [0.0, 1.0, float(rng.uniform(-0.5, 1.5))][int(rng.integers(3))]
            if r < 0.4:
                y1 = y2 = pick
            elif r < 0.8:
                x1 = x2 = pick
            else:
                (y1, y2), (x1, x2) = (pick, pick), [float(rng.uniform(0, 1))] * 2
        return [y1, x1, y2, x2]

    plan = {"inside": 100, "outside": 70, "flipped": 40, "degenerate": 40, "onepixel": 40,
            "channels": 30, "grid": 40, "uint8": 20, "big": 10}
    for kind, count in plan.items():
        for i in range(count):
            method, img = BOTH[i % 2], image(kind)
            if kind == "big":
                ch, cw = int(rng.integers(65, 101)), int(rng.integers(1, 30))
                ch, cw = (cw, ch) if i % 4 >= 2 else (ch, cw)
            else:
                ch, cw = size(), size()
            n = max(1, min(int(rng.integers(1, 6)), 3000 // (ch * cw * img.shape[3])))
            boxes = np.asarray([box(kind) for _ in range(n)], F32)
            idx = rng.integers(0, img.shape[0], n)
            ev = [0.0, 0.0, -1.0, float(F32(rng.standard_normal()))][int(rng.integers(4))]
            t.crop(img, boxes, idx, [ch, cw], method, ev, desc=f"random {kind}: {img.dtype} "
                   f"image {list(img.shape)}, {n} boxes, crop {ch}x{cw}, {method}, "
                   f"extrapolation {ev!r}")


INTS = [np.uint8, np.uint16, np.int8, np.int16, np.int32, np.int64]
nan, inf = float("nan"), float("inf")

EXTREMES: dict[type, list] = {}
for _dt in INTS:
    lo, hi = int(np.iinfo(_dt).min), int(np.iinfo(_dt).max)
    EXTREMES[_dt] = [lo, hi, lo + 1, hi - 1, 0, 1, hi // 2, lo // 2, (hi // 3) | 1]
EXTREMES[np.int32] += [2**24 + 1, 2**24 + 3, -(2**24) - 1, 2**31 - 65, 2**31 - 129]
EXTREMES[np.int64] += [2**53 + 1, 2**53 - 1, 2**54 + 3, 2**62, 2**62 + 2**38 + 1, -(2**62) - 1,
                       2**63 - 2**39, 2**63 - 2**39 - 1, 2**24 + 1]
EXTREMES[np.float16] = [65504.0, -65504.0, 6e-08, -6e-08, 6.1e-05, 0.0, -0.0, 1.0, 0.1, 1e4 / 3,
                        inf, -inf, nan, 2048.0, 2049.0, 0.333]
EXTREMES[np.float32] = [3.4028235e38, -3.4028235e38, 1e-45, -1e-45, 1.1754944e-38, 0.0, -0.0,
                        1.0, 0.1, 16777217.0, inf, -inf, nan, 1e38, -1e38]
EXTREMES[np.float64] = [0.1, 1 / 3, 1 + 2**-24, 1 + 3 * 2**-25, 1 + 2**-23 + 2**-60, 1e300,
                        -1e300, 1e-50, -1e-50, 3.4028235677973366e38, 3.40282357e38,
                        np.finfo(np.float64).max, 2.5e-45, 7e-46, 16777217.0, 2**53 + 1.0,
                        -0.0, nan, 1e-320]


@suite(3003)
def crop_dtypes(t: Table) -> None:
    rng = t.rng
    for dt in [*INTS, np.float16, np.float32, np.float64]:
        name, shape = np.dtype(dt).name, (2, 5, 6, 2)
        if dt in INTS:
            img = rng.integers(np.iinfo(dt).min, np.iinfo(dt).max, shape, dtype=dt, endpoint=True)
        elif dt is np.float16:
            img = (rng.standard_normal(shape) * 5000).astype(np.float16)
        elif dt is np.float32:
            img = (rng.standard_normal(shape) * 1e20).astype(np.float32)
        else:
            img = rng.standard_normal(shape) * 10.0 ** rng.integers(-40, 40, shape)
        boxes = [[0, 0, 1, 1], [0.1, 0.3, 0.8, 0.7], [-0.5, 0.2, 1.5, 0.6], [1, 1, 0.2, 0.1]]
        for m in BOTH:
            t.crop(img, boxes, [0, 1, 1, 0], [4, 5], m,
                   desc=f"{name}: random full-range image, {m}")
        W, H = 4, -(-len(EXTREMES[dt]) // 4)  # the values repeated to fill an Hx4 grid
        flat = np.resize(np.asarray(EXTREMES[dt], dtype=object), H * W)
        ext = np.asarray(flat.tolist(), dtype=dt).reshape(1, H, W, 1)
        for m in BOTH:
            t.crop(ext, FULL, [0], [H, W], m, desc=f"{name}: extreme values, crop == image "
                   f"size (pure conversion to float32), {m}")
        t.crop(ext, [FULL[0], [0.1, 0.05, 0.95, 0.9]], [0, 0], [2 * H - 1, 2 * W + 1],
               desc=f"{name}: extreme values blended (bilinear, half-pixel "
               "and off-grid samples; may overflow to inf/NaN)")
        t.crop(ext, [[0.1, 0.05, 0.95, 0.9]], [0], [2 * H - 1, 2 * W + 1], "nearest",
               desc=f"{name}: extreme values, nearest on an off-grid box")
    t.crop(rng.integers(0, 256, (1, 48, 64, 3), dtype=np.uint8), [[0.1, 0.1, 0.9, 0.9], FULL[0]],
           [0, 0], [24, 32], desc="uint8 48x64x3 image, two boxes, crop 24x32 (larger than usual)")


@suite(4004)
def crop_v1(t: Table) -> None:
    img = t.normal((2, 5, 6, 2))
    boxes, idx = [[0, 0, 1, 1], [0.2, -0.3, 0.9, 1.4], [1, 1, 0, 0]], [1, 0, 1]
    for kw in ("box_ind", "box_indices", "positional"):
        for m in BOTH:
            t.crop(img, boxes, idx, [4, 3], m, -2.0, api="v1", index_kwarg=kw,
                   desc=f"tf.compat.v1.image.crop_and_resize, indices via {kw}, {m}")
    v1 = {"api": "v1", "index_kwarg": "box_ind"}
    t.crop(arange((1, 2, 2, 1), np.uint8, 1), FULL, [0], [3, 3], **v1,
           desc="v1, uint8 2x2 [[1,2],[3,4]], crop 3x3")
    t.crop(img, boxes, idx, [4, 3], api="v1", index_kwarg="both", expect="error",
           desc="v1 with both box_ind= and box_indices=: Python ValueError")
    t.crop(img, boxes, [2, 0, 1], [4, 3], **v1, expect="error", desc="v1, box_ind out of range")


@suite(5005)
def crop_errors(t: Table) -> None:
    img, box, z4 = t.normal((2, 4, 5, 2)), [[0, 0, 1, 1]], np.zeros((0, 4))
    rows = [  # image, boxes, box_indices, crop_size, description
        (img[0], box, [0], [2, 2], "image rank 3"),
        (img[None], box, [0], [2, 2], "image rank 5"),
        (img[0, 0, 0], box, [0], [2, 2], "image rank 1"),
        (img[0], box, [0], [0, 2], "image rank 3 and crop size 0: rank wins"),
        (np.zeros((1, 0, 5, 2), F32), box, [0], [2, 2], "H = 0"),
        (np.zeros((1, 4, 0, 2), F32), box, [0], [2, 2], "W = 0"),
        (np.zeros((1, 0, 0, 2), F32), z4, np.zeros(0), [2, 2], "H = W = 0 with zero boxes"),
        (np.zeros((1, 0, 5, 2), F32), [0, 0, 1, 1], [0], [2, 2],
         "H = 0 and boxes rank 1: image check wins"),
        (img, [0, 0, 1, 1], [0], [2, 2], "boxes rank 1"),
        (img, [[[0, 0, 1, 1]]], [0], [2, 2], "boxes rank 3"),
        (img, box, [[0]], [2, 2], "box_indices rank 2"),
        (img, box, 0, [2, 2], "box_indices rank 0"),
        (img, [[0, 0, 1]], [0], [2, 2], "boxes with 3 columns"),
        (img, [[0, 0, 1, 1, 0]], [0], [2, 2], "boxes with 5 columns"),
        (img, box * 2, [0], [2, 2], "2 boxes, 1 index"),
        (img, box, [0, 1], [2, 2], "1 box, 2 indices"),
        (img, z4, [0], [2, 2], "0 boxes, 1 index"),
        (img, box * 2, np.zeros(0), [2, 2], "2 boxes, 0 indices"),
        (img, box, [0], [2, 2, 2], "crop_size with 3 elements"),
        (img, box, [0], [2], "crop_size with 1 element"),
        (img, box, [0], [0, 2], "crop height 0"),
        (img, box, [0], [2, 0], "crop width 0"),
        (img, box, [0], [-1, 2], "crop height negative"),
        (img, box, [0], [3, -2], "crop width negative"),
        (img, z4, np.zeros(0), [0, 2], "crop height 0 with zero boxes: still an error"),
        (img, box * 2, [0, 2], [2, 2], "box index == B"),
        (img, box, [-1], [2, 2], "box index negative"),
        (img, box, [2**31 - 1], [2, 2], "box index int32 max"),
        (np.zeros((0, 4, 5, 2), F32), box, [0], [2, 2], "B = 0 with one box: index out of range"),
        (img, [[0, 0, np.nan, 1]], [0], [2, 2], "NaN box coordinate"),
        (img, [[0, np.inf, 1, 1]], [0], [2, 2], "inf box coordinate"),
        (img, [[0, 0, 1, -np.inf]], [0], [2, 2], "-inf box coordinate"),
        (img, [box[0], [np.nan, 0, 1, 1]], [0, 5], [2, 2],
         "box index out of range AND a NaN box: the index error wins"),
        (img, [[np.nan, 0, 1, 1]], [0], [0, 2],
         "NaN box and crop size 0: the crop size error wins"),
    ]
    for image, boxes, idx, size, desc in rows:
        t.crop(image, boxes, idx, size, expect="error", desc=desc)
    for method in ("bicubic", "Bilinear", "area", ""):
        t.crop(img, box, [0], [2, 2], method, expect="error", desc=f"bad method {method!r}")
    for dt in (np.bool_, np.complex64, np.complex128, np.uint32, np.uint64):
        t.crop(np.ones((1, 3, 3, 1), dt), box, [0], [2, 2], expect="error",
               desc=f"unsupported image dtype {np.dtype(dt).name}")
