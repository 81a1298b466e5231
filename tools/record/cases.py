"""The fixture cases: a function per suite, a t.crop / t.glimpse / t.pair / t.grad_error row per
case (record.py's Table).  ``record.py --where crop_edge-042`` prints the line making a case."""

from __future__ import annotations

import numpy as np

SUITES = {  # name: seed of the suite's np.random.default_rng, in recording order
    "crop_edge": 1001, "crop_random": 2002, "crop_dtypes": 3003, "crop_v1": 4004,
    "crop_errors": 5005, "glimpse_v2": 6006, "glimpse_v1": 7007, "glimpse_fill": 8008,
    "glimpse_errors": 9009, "grad_random": 4001, "grad_edge": 4002, "grad_dtypes": 4003,
    "grad_errors": 4004,
}
F32, BOTH = np.float32, ("bilinear", "nearest")


def arange(shape, dtype=F32, start: int = 0) -> np.ndarray:
    return (np.arange(int(np.prod(shape))) + start).reshape(shape).astype(dtype)


# ---------------------------------------------------------------- crop_and_resize
IMG22, FULL = np.array([[1, 2], [3, 4]], F32).reshape(1, 2, 2, 1), [[0, 0, 1, 1]]


def crop_edge(t) -> None:
    def overshoots(n: int, c: int) -> bool:  # box [0, 1], crop c >= 2 on n pixels: past n - 1?
        scale = F32(F32(F32(1) * F32(n - 1)) / F32(c - 1))
        return bool(F32(F32(c - 1) * scale) > n - 1)

    for m, v in zip(BOTH, (2.5, 4), strict=True):
        t.crop(IMG22, FULL, [0], [1, 1], m, desc=f"[spec-2x2-1x1-{m}] spec §3: 2x2 [[1,2],[3,4]], "
               f"box [0,0,1,1], crop 1x1, {m} -> {v}")
    t.crop(IMG22, FULL, [0], [3, 3], desc="[spec-2x2-3x3-bilinear] spec §3: 2x2, box [0,0,1,1], "
           "crop 3x3 bilinear -> [[1,1.5,2],[2,2.5,3],[3,3.5,4]]")
    t.crop(IMG22, FULL, [0], [3, 3], "nearest", desc="[spec-2x2-3x3-nearest] spec §3: 2x2, box "
           "[0,0,1,1], crop 3x3 nearest -> [[1,2,2],[3,4,4],[3,4,4]]")
    t.crop(IMG22, [[1, 1, 0, 0]], [0], [3, 3], desc="[spec-2x2-flipped-bilinear] spec §3: "
           "flipped box [1,1,0,0], crop 3x3 bilinear -> [[4,3.5,3],[3,2.5,2],[2,1.5,1]]")
    t.crop(IMG22, [[1, 1, 0, 0]], [0], [3, 3], "nearest", desc="flipped box [1,1,0,0], crop 3x3 "
           "nearest")
    t.crop(IMG22, [[1, 0, 0, 1]], [0], [3, 3], desc="box flipped in y only [1,0,0,1], crop 3x3 "
           "bilinear")
    for m in BOTH:
        t.crop(IMG22, [[-1, -1, 1, 1]], [0], [3, 3], m, -1.0, desc=f"[spec-2x2-outside-{m}] spec "
               f"§3: box [-1,-1,1,1], crop 3x3, extrapolation -1, {m} -> "
               "[[-1,-1,-1],[-1,1,2],[-1,3,4]]")
    img44 = arange((1, 4, 4, 1), start=1)  # where box [0,0,1,1] overshoots in float32
    for m in BOTH:
        t.crop(img44, FULL, [0], [22, 22], m, -7.0, desc=f"[spec-4x4-22x22-{m}] spec §3: 4x4, box "
               f"[0,0,1,1], crop 22x22 {m}, extrapolation -7: f32 rounding puts the last "
               "row/column at 3.0000002 > 3 -> extrapolated")
    t.crop(img44, FULL, [0], [22, 22], desc="4x4 -> 22x22, box [0,0,1,1], extrapolation 0 "
           "(default)")
    over = [(h, c) for h in range(2, 41) for c in range(2, 65) if overshoots(h, c)]
    for h, c in [over[i] for i in (5, 17, 40, 77)]:
        cw = next(cc for cc in range(2, 30) if not overshoots(h, cc))
        t.crop(t.normal((1, h, h, 1)), FULL, [0], [c, cw], "bilinear", 9.0, desc=f"{h}x{h} "
               f"image, box [0,0,1,1], crop {c}x{cw}: rows overshoot (last row extrapolated), "
               "columns do not")
    row5, x = arange((1, 1, 5, 1)), float(F32(0.49999997))
    t.crop(row5, [[0, 0, 0, 1]], [0], [1, 9], "nearest", desc="[spec-1x5-nearest] spec §3: 1x5 "
           "row [0..4], box [0,0,0,1], crop 1x9 nearest -> [0,1,1,2,2,3,3,4,4] (round half away "
           "from zero)")
    t.crop(row5, [[0, 0, 0, 1]], [0], [1, 9], desc="1x5 row [0..4], box [0,0,0,1], crop 1x9 "
           "bilinear")
    img12 = np.array([10, 20], F32).reshape(1, 1, 2, 1)
    t.crop(img12, [[0, x, 0, x]], [0], [1, 1], "nearest", desc="[spec-1x2-0.49999997] spec §3: "
           "1x2 [10,20], x1 = x2 = 0.49999997, crop 1x1 nearest -> index 0 (floor(x + 0.5) would "
           "give 1)")
    t.crop(img12, [[0, x, 0, x]], [0], [1, 1], desc="1x2 [10,20], x1 = x2 = 0.49999997, crop 1x1 "
           "bilinear")
    t.crop(img12, [[0, 0.25, 0, 0.75]], [0], [1, 3], "nearest", desc="1x2, samples at x = 0.25, "
           "0.5, 0.75: nearest tie 0.5 goes up")
    t.crop(arange((1, 1, 3, 1)), [[0, 0.25, 0, 0.75]], [0], [1, 3], "nearest", desc="1x3 [0,1,2]"
           ", samples at x = 0.5, 1, 1.5: nearest ties go up -> [1,1,2]")
    a9 = arange((1, 3, 3, 1))
    centres = [([-1, -1, 2, 2], 4), ([-1, 0, 1.5, 1], 2.5), ([1, 1, 0, 0], 4)]
    for i, (box, v) in enumerate(centres):
        t.crop(a9, [box], [0], [1, 1], desc=f"[spec-3x3-1x1-{i}] spec §3: 3x3 arange(9), box "
               f"{box}, crop 1x1 bilinear -> {v} (box centre, float64 arithmetic)")
        t.crop(a9, [box], [0], [1, 1], "nearest", desc=f"3x3 arange(9), box {box}, crop 1x1 "
               "nearest")
    t.crop(a9, [b for b, _ in centres], [0, 0, 0], [1, 1], desc="the three 1x1 centre boxes "
           "together")
    big = np.array([2**53 + 1, 2**53, 3, 2**62 + 2**40], np.int64).reshape(1, 2, 2, 1)
    for m in BOTH:
        t.crop(big, FULL, [0], [2, 2], m, desc=f"[spec-int64-{m}] spec §3: int64 pixels, 2**53+1 "
               f"-> 2**53 in float32 ({m})")
    infimg = np.array([[np.inf, 1], [2, 3]], F32).reshape(1, 2, 2, 1)  # non-finite pixels
    for m in BOTH:
        t.crop(infimg, [[0, 0, 0, 0]], [0], [1, 1], m, desc=f"[spec-inf-00-{m}] spec §3: "
               f"[[inf,1],[2,3]] sampled at (0,0), {m} (bilinear: inf + (1 - inf) * 0 = NaN)")
        t.crop(infimg, FULL, [0], [3, 3], m, desc=f"[[inf,1],[2,3]], box [0,0,1,1], crop 3x3, {m}")
    nanimg = arange((1, 4, 4, 2))
    nanimg[0, 1, 2, 0], nanimg[0, 2, 1, 1], nanimg[0, 3, 3, 0] = np.nan, -np.inf, np.inf
    for m in BOTH:
        t.crop(nanimg, [FULL[0], [0.2, 0.1, 0.9, 0.8]], [0, 0], [5, 7], m,
               desc=f"4x4x2 with NaN, -inf, inf pixels, {m}: propagation pattern")
    negz = np.array([[-0.0, -0.0], [-0.0, 1.0]], F32).reshape(1, 2, 2, 1)
    for m in BOTH:
        t.crop(negz, [FULL[0], [0, 0, 0, 0]], [0, 0], [3, 3], m,
               desc=f"-0.0 pixels, {m}: sign of zero (lerp of -0 and -0 at t=0 is +0)")
    t.crop(np.array([[-1, 1], [1, -1]], F32).reshape(1, 2, 2, 1), FULL, [0], [3, 3],
           desc="lerp giving exact zeros (centre sample of [[-1,1],[1,-1]])")
    one = np.array([7.5, -2], F32).reshape(1, 1, 1, 2)  # 1x1 images and 1-pixel axes
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
    img = t.normal((1, 5, 5, 3))  # integer-coordinate samples
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
    img, z4, z = t.normal((2, 3, 4, 2)), np.zeros((0, 4)), np.zeros(0)  # zero boxes, D/B = 0
    for m in BOTH:
        t.crop(img, z4, z, [3, 2], m, desc=f"zero boxes: output shape (0, 3, 2, 2) ({m})")
    t.crop(img, np.zeros((0, 3)), z, [3, 2],
           desc="zero boxes with 3 columns: no column check when both are empty")
    t.crop(np.zeros((0, 3, 4, 2), F32), z4, z, [2, 2], desc="B = 0 image with zero boxes")
    t.crop(np.zeros((2, 3, 4, 0), F32), [FULL[0], [0.5, 0, 1, 2]], [1, 0], [2, 5],
           desc="D = 0: output shape (2, 2, 5, 0)")
    t.crop(np.zeros((1, 3, 4, 0), np.uint8), z4, z, [2, 2], "nearest",
           desc="zero boxes and D = 0, uint8")
    img = t.normal((4, 6, 5, 3))  # batch handling
    t.crop(img, [[0.1, 0.1, 0.9, 0.8]], [2], [4, 4], desc="B = 4, only image 2 used")
    boxes = [FULL[0], [0.2, 0.3, 0.6, 0.7], [-0.1, 0.4, 1.1, 0.2], [0.5] * 4, FULL[0]]
    for m in BOTH:
        t.crop(img, boxes, [3, 1, 3, 0, 3], [5, 4], m,
               desc=f"several boxes per image, unsorted indices, same box twice ({m})")
    t.crop(img, [[0.2, 0.3, 0.6, 0.7]] * 3, [1, 1, 1], [3, 3],
           desc="the same box three times on the same image")
    img = t.normal((1, 8, 8, 1))  # degenerate boxes, tiny and huge crops
    for m in BOTH:
        t.crop(img, [[0.4, 0.1, 0.4, 0.9], [0.1, 0.6, 0.9, 0.6], [0.3] * 4], [0, 0, 0], [4, 5],
               m, desc=f"degenerate boxes y1 == y2, x1 == x2, both ({m})")
        t.crop(img, [[0.5, 0.5, 0.5 + 1e-6, 0.5 + 1e-6]], [0], [7, 7], m,
               desc=f"tiny box 1e-6 wide, crop 7x7 ({m})")
    t.crop(img, FULL, [0], [100, 3], desc="crop 100x3 of an 8x8 image")
    sub = np.array([[2.8e-45, 0.0], [1e-38, 3e-38]], F32).reshape(1, 2, 2, 1)  # TF has FTZ/DAZ
    for m in BOTH:
        t.crop(sub, FULL, [0], [3, 3], m, desc=f"[ftz-pixels-{m}] float32 subnormal pixels, {m}: "
               "bilinear arithmetic flushes them to 0 (DAZ/FTZ), nearest copies them unchanged")
    t.crop(np.array([1.2e-38, 1.18e-38, -1.2e-38], F32).reshape(1, 1, 3, 1), [[0, 0, 0, 1]], [0],
           [1, 9], desc="[ftz-lerp] bilinear between tiny normal pixels: subnormal differences "
           "and results are flushed to 0")
    d = np.array([2.5e-45, 1e-39, 1.2e-38, -3e-39, 7e-46, -1e-50], np.float64).reshape(1, 1, 6, 1)
    for m in BOTH:
        t.crop(d, FULL, [0], [1, 6], m, desc=f"[ftz-float64-{m}] float64 pixels that are float32 "
               f"subnormals: the conversion flushes them to (signed) 0, {m}")
    for y1 in (-1e-40, -1e-45, -1.1e-38):
        t.crop(a9, [[y1, y1, 1, 1]], [0], [3, 3], "bilinear", -5.0, desc=f"[ftz-box-{y1:g}] box "
               f"y1 = x1 = {y1:g} (float32 subnormal): read as -0, so the first row/column is "
               "inside, not extrapolated")
    col = np.array([0.0, 3e38], F32).reshape(1, 2, 1, 1)
    t.crop(col, [[0, 0, 1e-39, 0]], [0], [2, 1], desc="[ftz-box-height] image rows [0, 3e38], box "
           "y2 = 1e-39 (subnormal): second sample is exactly 0 under DAZ (IEEE would give 0.3)")
    t.crop(col, [[0, 0, 1.2e-38, 0]], [0], [1, 1], desc="[ftz-centre] image rows [0, 3e38], crop "
           "height 1, box y2 = 1.2e-38: the centre 0.5 * 1.2e-38 is a float32 subnormal, flushed "
           "to 0 by the float64 -> float32 conversion (IEEE would give 1.8)")
    t.crop(a9, [[-1, -1, -1, -1]], [0], [1, 2], "bilinear", 1e-40, desc="[ftz-extrapolation] "
           "subnormal extrapolation_value 1e-40 is copied unchanged")


def crop_random(t) -> None:
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
            t.crop(img, boxes, idx, [ch, cw], method, ev, desc=f"random {kind}: {img.dtype} image "
                   f"{list(img.shape)}, {n} boxes, crop {ch}x{cw}, {method}, extrapolation {ev!r}")


INTS, nan, inf = [np.uint8, np.uint16, np.int8, np.int16, np.int32, np.int64], np.nan, np.inf
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


def crop_dtypes(t) -> None:
    rng, off = t.rng, [0.1, 0.05, 0.95, 0.9]
    for dt in [*INTS, np.float16, np.float32, np.float64]:
        name, shape = np.dtype(dt).name, (2, 5, 6, 2)
        if dt in INTS:
            img = rng.integers(np.iinfo(dt).min, np.iinfo(dt).max, shape, dtype=dt, endpoint=True)
        elif dt is np.float64:  # standard normal times 10**k, k in [-40, 40)
            img = rng.standard_normal(shape) * 10.0 ** rng.integers(-40, 40, shape)
        else:
            img = t.normal(shape, 5000 if dt is np.float16 else 1e20, dt)
        boxes = [FULL[0], [0.1, 0.3, 0.8, 0.7], [-0.5, 0.2, 1.5, 0.6], [1, 1, 0.2, 0.1]]
        for m in BOTH:
            t.crop(img, boxes, [0, 1, 1, 0], [4, 5], m, desc=f"{name}: random full-range image, "
                   f"{m}")
        W, H = 4, -(-len(EXTREMES[dt]) // 4)  # the values repeated to fill an Hx4 grid
        flat = np.resize(np.asarray(EXTREMES[dt], dtype=object), H * W)
        ext = np.asarray(flat.tolist(), dtype=dt).reshape(1, H, W, 1)
        for m in BOTH:
            t.crop(ext, FULL, [0], [H, W], m, desc=f"{name}: extreme values, crop == image "
                   f"size (pure conversion to float32), {m}")
        t.crop(ext, [FULL[0], off], [0, 0], [2 * H - 1, 2 * W + 1], desc=f"{name}: extreme values "
               "blended (bilinear, half-pixel and off-grid samples; may overflow to inf/NaN)")
        t.crop(ext, [off], [0], [2 * H - 1, 2 * W + 1], "nearest",
               desc=f"{name}: extreme values, nearest on an off-grid box")
    t.crop(rng.integers(0, 256, (1, 48, 64, 3), dtype=np.uint8), [[0.1, 0.1, 0.9, 0.9], FULL[0]],
           [0, 0], [24, 32], desc="uint8 48x64x3 image, two boxes, crop 24x32 (larger than usual)")


def crop_v1(t) -> None:
    img = t.normal((2, 5, 6, 2))
    boxes, idx, v1 = [FULL[0], [0.2, -0.3, 0.9, 1.4], [1, 1, 0, 0]], [1, 0, 1], {"api": "v1"}
    for kw in ("box_ind", "box_indices", "positional"):
        for m in BOTH:
            t.crop(img, boxes, idx, [4, 3], m, -2.0, **v1, index_kwarg=kw,
                   desc=f"tf.compat.v1.image.crop_and_resize, indices via {kw}, {m}")
    t.crop(arange((1, 2, 2, 1), np.uint8, 1), FULL, [0], [3, 3], **v1, index_kwarg="box_ind",
           desc="v1, uint8 2x2 [[1,2],[3,4]], crop 3x3")
    t.crop(img, boxes, idx, [4, 3], **v1, index_kwarg="both", expect="error",
           desc="v1 with both box_ind= and box_indices=: Python ValueError")
    t.crop(img, boxes, [2, 0, 1], [4, 3], **v1, index_kwarg="box_ind", expect="error",
           desc="v1, box_ind out of range")


def crop_errors(t) -> None:
    img, box, z4, z = t.normal((2, 4, 5, 2)), [[0, 0, 1, 1]], np.zeros((0, 4)), np.zeros(0)
    rows = [  # image, boxes, box_indices, crop_size, description
        (img[0], box, [0], [2, 2], "image rank 3"),
        (img[None], box, [0], [2, 2], "image rank 5"),
        (img[0, 0, 0], box, [0], [2, 2], "image rank 1"),
        (img[0], box, [0], [0, 2], "image rank 3 and crop size 0: rank wins"),
        (np.zeros((1, 0, 5, 2), F32), box, [0], [2, 2], "H = 0"),
        (np.zeros((1, 4, 0, 2), F32), box, [0], [2, 2], "W = 0"),
        (np.zeros((1, 0, 0, 2), F32), z4, z, [2, 2], "H = W = 0 with zero boxes"),
        (np.zeros((1, 0, 5, 2), F32), box[0], [0], [2, 2], "H = 0 and boxes rank 1: image "
         "check wins"),
        (img, box[0], [0], [2, 2], "boxes rank 1"),
        (img, [box], [0], [2, 2], "boxes rank 3"),
        (img, box, [[0]], [2, 2], "box_indices rank 2"),
        (img, box, 0, [2, 2], "box_indices rank 0"),
        (img, [[0, 0, 1]], [0], [2, 2], "boxes with 3 columns"),
        (img, [[0, 0, 1, 1, 0]], [0], [2, 2], "boxes with 5 columns"),
        (img, box * 2, [0], [2, 2], "2 boxes, 1 index"),
        (img, box, [0, 1], [2, 2], "1 box, 2 indices"),
        (img, z4, [0], [2, 2], "0 boxes, 1 index"),
        (img, box * 2, z, [2, 2], "2 boxes, 0 indices"),
        (img, box, [0], [2, 2, 2], "crop_size with 3 elements"),
        (img, box, [0], [2], "crop_size with 1 element"),
        (img, box, [0], [0, 2], "crop height 0"),
        (img, box, [0], [2, 0], "crop width 0"),
        (img, box, [0], [-1, 2], "crop height negative"),
        (img, box, [0], [3, -2], "crop width negative"),
        (img, z4, z, [0, 2], "crop height 0 with zero boxes: still an error"),
        (img, box * 2, [0, 2], [2, 2], "box index == B"),
        (img, box, [-1], [2, 2], "box index negative"),
        (img, box, [2**31 - 1], [2, 2], "box index int32 max"),
        (np.zeros((0, 4, 5, 2), F32), box, [0], [2, 2], "B = 0 with one box: index out of range"),
        (img, [[0, 0, np.nan, 1]], [0], [2, 2], "NaN box coordinate"),
        (img, [[0, np.inf, 1, 1]], [0], [2, 2], "inf box coordinate"),
        (img, [[0, 0, 1, -np.inf]], [0], [2, 2], "-inf box coordinate"),
        (img, [box[0], [np.nan, 0, 1, 1]], [0, 5], [2, 2], "box index out of range AND a NaN "
         "box: the index error wins"),
        (img, [[np.nan, 0, 1, 1]], [0], [0, 2], "NaN box and crop size 0: the crop size error "
         "wins"),
    ]
    for image, boxes, idx, size, desc in rows:
        t.crop(image, boxes, idx, size, expect="error", desc=desc)
    for method in ("bicubic", "Bilinear", "area", ""):
        t.crop(img, box, [0], [2, 2], method, expect="error", desc=f"bad method {method!r}")
    for dt in (np.bool_, np.complex64, np.complex128, np.uint32, np.uint64):
        t.crop(np.ones((1, 3, 3, 1), dt), box, [0], [2, 2], expect="error",
               desc=f"unsupported image dtype {np.dtype(dt).name}")


# ---------------------------------------------------------------- extract_glimpse
FLAGS = [(c, n) for c in (True, False) for n in (True, False)]  # (centered, normalized)
V1 = {"api": "v1", "uniform_noise": False, "noise": "zero"}


def offsets(rng, B, H, W, h, w, centered, normalized):
    """Offsets mixing continuous values, exact grid values (ties) and far-outside values."""
    out = np.empty((B, 2), F32)
    for b in range(B):
        for axis, (n, k) in enumerate(((H, h), (W, w))):
            r = rng.random()
            if normalized:
                if r < 0.4:
                    v = rng.uniform(-1.5, 1.5)
                else:  # multiples of 1/(2n) or 1/(4n): start lands on .0/.5/.25 values
                    v = rng.integers(-3 * n, 3 * n + 1) / (2 * n if r < 0.8 else 4 * n)
            else:  # continuous, or on a quarter-pixel grid (ties, negative halves)
                lo, hi = (-n - 2, n + 2) if centered else (-k - 2, n + 2)
                v = rng.uniform(lo, hi) if r < 0.4 else rng.integers(4 * lo, 4 * hi + 1) / 4.0
            out[b, axis] = v
    return out


def random_glimpses(t, count: int, **api) -> None:
    rng = t.rng
    for c, n in FLAGS:
        for _ in range(count):
            B, H, W = int(rng.integers(1, 5)), int(rng.integers(1, 13)), int(rng.integers(1, 13))
            D, r = int(rng.integers(1, 6)), rng.random()
            if r < 0.08:
                h, w = 1, 1
            elif r < 0.14:  # one side 0
                h, w = ((0, int(rng.integers(1, 6))) if rng.random() < 0.5
                        else (int(rng.integers(1, 6)), 0))
            elif r < 0.3:  # larger than the image
                h, w = H + int(rng.integers(1, 6)), W + int(rng.integers(1, 6))
            else:
                h, w = int(rng.integers(1, H + 3)), int(rng.integers(1, W + 3))
            inp = t.normal((B, H, W, D))
            t.glimpse(inp, [h, w], offsets(rng, B, H, W, h, w, c, n), c, n, **api, desc="random: "
                      f"input {[B, H, W, D]}, size {h}x{w}, centered={c}, normalized={n}")


def glimpse_v2(t) -> None:
    a25 = arange((1, 5, 5, 1))
    t.glimpse(a25, [3, 3], [[0, 0]], False, False, desc="[spec-g-00-nn] spec §3: 5x5 arange, size "
              "3, offset (0,0), not centered, not normalized -> [[0,1,2],[5,6,7],[10,11,12]]")
    t.glimpse(a25, [3, 3], [[-1, -1]], desc="[spec-g-m1-cn] spec §3: normalized+centered, size "
              "3, offset (-1,-1) -> [[0,0,0],[0,0,1],[0,5,6]]")
    t.glimpse(a25, [3, 3], [[1, 1]], desc="[spec-g-p1-cn] spec §3: normalized+centered, size 3, "
              "offset (1,1) -> [[18,19,0],[23,24,0],[0,0,0]]")
    t.glimpse(a25, [3, 3], [[-0.9, -1.5]], False, False, desc="[spec-g-trunc-nn] spec §3: offset "
              "(-0.9,-1.5), not centered, not normalized -> [[0,0,1],[0,5,6],[0,10,11]] "
              "(truncation toward zero)")
    t.glimpse(arange((1, 3, 3, 1)), [2, 2], [[1, 1]], False, False, desc="[spec-g-seed] spec "
              "§2.2: 3x3 arange, size 2, offset (1,1), neither -> [[4,5],[7,8]]")
    for c, n in FLAGS:
        t.glimpse(a25, [3, 3], [[0, 0]], c, n,
                  desc=f"5x5 arange, size 3, offset (0,0), centered={c}, normalized={n}")
        t.glimpse(a25, [2, 4], [[0.5, -0.5]], c, n,
                  desc=f"5x5 arange, size 2x4, offset (0.5,-0.5), centered={c}, normalized={n}")
    img = arange((3, 4, 4, 2), start=1)  # non-finite and huge offsets: window all outside
    for c in (True, False):
        t.glimpse(img, [3, 3], [[np.nan, 0], [0, np.inf], [-np.inf, 1e20]], c, c,
                  desc=f"NaN / inf / 1e20 offsets: all fill (centered={c}, normalized={c})")
        t.glimpse(img, [3, 3], [[9.3e18, 0], [-9.3e18, 0], [4e9, -4e9]], c, c, desc="offsets "
                  f"near +-2**63 and +-4e9: all fill (centered={c}, normalized={c})")
    t.glimpse(t.normal((2, 4, 4, 3)), [0, 0], [[0, 0]] * 2, desc="size 0x0: empty output")
    t.glimpse(t.normal((2, 4, 4, 0)), [3, 2], [[0, 0], [0.5, 0.5]], desc="D = 0: empty output")
    t.glimpse(np.zeros((0, 4, 4, 2)), [3, 2], np.zeros((0, 2)), desc="B = 0: empty output")
    t.glimpse(np.zeros((2, 0, 4, 2)), [3, 2], [[0, 0], [1, 1]],
              desc="H = 0 input: TF does not check, all fill")
    t.glimpse(np.zeros((1, 3, 0, 2)), [2, 2], [[0, 0]], False, False,
              desc="W = 0 input: TF does not check, all fill")
    t.glimpse(arange((2, 5, 6, 3)), [3, 4], [[0, 0], [0.1, -0.1]], noise="",
              desc="noise '' is accepted by V2 (means gaussian); window fully inside")
    t.glimpse(np.array([1e-40, -1e-45, 1.2e-38, -0.0], F32).reshape(1, 2, 2, 1), [3, 3],
              [[0, 0]], False, False,
              desc="subnormal and -0.0 pixels are copied unchanged (no FTZ in the copy)")
    img = arange((1, 5, 7, 1), start=1)  # ties: odd image, even window: .5 window starts
    for off in ([0, 0], [0.2, 1 / 7], [-0.2, -1 / 7], [0.6, 3 / 7], [-0.6, -3 / 7]):
        t.glimpse(img, [2, 4], [off], desc=f"5x7 image, window 2x4, offset {off}: .5 window "
                  "starts")
    for off in ([-0.5, -0.5], [-1.5, -2.5], [0.5, 1.5], [-1.0, -0.99999994], [3.5, 6.5]):
        t.glimpse(img, [3, 3], [off], False, False, desc=f"pixel offset {off}: trunc toward zero")
    random_glimpses(t, 40, noise="zero")


def glimpse_v1(t) -> None:
    a25 = arange((1, 5, 5, 1))
    t.glimpse(a25, [3, 3], [[0, 0]], True, False, **V1, desc="[spec-g-v1] spec §3: V1 (raw "
              "ExtractGlimpse, noise zero), size 3, centered, not normalized, offset (0,0) -> "
              "[[6,7,8],[11,12,13],[16,17,18]]")
    t.glimpse(a25, [3, 3], [[0, 0]], True, False, api="v1", uniform_noise=False, noise=None,
              desc="[spec-g-v1-wrapper] same through tf.compat.v1.image.extract_glimpse("
              "uniform_noise=False); window fully inside so the fill does not matter")
    for c, n in FLAGS:
        for size, off in (("3", [0, 0]), ("2x4", [0.5, -0.5]), ("4x3", [-0.7, 1.5])):
            t.glimpse(a25, [int(size[0]), int(size[-1])], [off], c, n, **V1, desc="V1 5x5 arange, "
                      f"size {size}, offset ({off[0]},{off[1]}), centered={c}, normalized={n}")
    img = arange((2, 6, 7, 2), start=1)
    inside = [  # centered, normalized, offsets with windows fully inside
        (True, False, [[0, 0], [1, -1]]), (True, True, [[0.1, -0.2], [0, 0]]),
        (False, False, [[2.5, 2], [3, 4.5]]), (False, True, [[0.5, 0.5], [0.6, 0.7]])]
    for c, n, off in inside:
        for un in (False, True):
            t.glimpse(img, [3, 2], off, c, n, api="v1", uniform_noise=un, noise=None,
                      desc=f"tf.compat.v1.image.extract_glimpse(uniform_noise={un}), "
                      f"centered={c}, normalized={n}, window fully inside (no fill)")
    t.glimpse(arange((3, 4, 4, 2), start=1), [3, 3], [[np.nan, 0], [0, np.inf], [-np.inf, 1e20]],
              **V1, desc="V1: NaN / inf / 1e20 offsets: all fill")
    t.glimpse(t.normal((2, 4, 4, 3)), [0, 3], [[0, 0]] * 2, **V1, desc="V1: size 0x3: empty "
              "output")
    random_glimpses(t, 25, **V1)


def glimpse_fill(t) -> None:
    rng, fs = t.rng, "fill_stats"

    def ranged(B, H, W, D):  # channel d in [100d, 100d + 10], plus 5 * batch index
        base = rng.uniform(0, 1, (B, H, W, D))
        for d in range(D):
            base[..., d] = 100.0 * d + 10.0 * base[..., d] + 5.0 * np.arange(B).reshape(B, 1, 1)
        return base.astype(F32)

    for noise in ("uniform", "gaussian"):
        for i in range(8):
            B, D = int(rng.integers(1, 4)), int(rng.integers(1, 5))
            H, W = int(rng.integers(2, 7)), int(rng.integers(2, 7))
            h, w = int(rng.integers(H + 4, 20)), int(rng.integers(W + 4, 20))
            c, n = bool(i % 2 == 0), bool(i % 4 < 2)
            off = offsets(rng, B, H, W, h, w, c, n)
            t.glimpse(ranged(B, H, W, D), [h, w], off, c, n, noise, expect=fs, desc=f"V2 noise "
                      f"{noise!r}: input {[B, H, W, D]} with channel d in [100d, 100d+10] (+5b), "
                      f"glimpse {h}x{w} mostly fill")
        t.glimpse(ranged(2, 3, 3, 3), [16, 16], [[0, 0], [0.5, -0.5]], noise=noise, expect=fs,
                  desc=f"V2 noise {noise!r}: 3x3x3 input in a 16x16 window, 96% fill")
        t.glimpse(np.full((2, 3, 4, 2), 2.5), [6, 7], [[0, 0], [-0.5, 0.5]], noise=noise,
                  desc=f"V2 noise {noise!r} on a constant image: fill is the constant "
                  "(deterministic)")
    for _ in range(3):
        B, D = int(rng.integers(1, 4)), int(rng.integers(2, 5))
        H, W = int(rng.integers(2, 6)), int(rng.integers(2, 6))
        t.glimpse(ranged(B, H, W, D), [H + 7, W + 6], np.zeros((B, 2)), noise="", expect=fs,
                  desc="V2 noise '' (accepted by ExtractGlimpseV2): gaussian fill")
    for noise in ("uniform", "gaussian"):
        t.glimpse(np.zeros((2, 0, 3, 2)), [2, 3], np.zeros((2, 2)), noise=noise, desc="H = 0 "
                  f"input with noise {noise!r}: TF fills with NaN (statistics of an empty image)")
    for un in (True, False):
        for _ in range(3):
            D, H, W = int(rng.integers(1, 4)), int(rng.integers(2, 6)), int(rng.integers(2, 6))
            t.glimpse(ranged(2, H, W, D), [H + 6, W + 5], np.zeros((2, 2)), api="v1", noise=None,
                      uniform_noise=un, expect=fs, desc=f"tf.compat.v1.image.extract_glimpse("
                      f"uniform_noise={un}): uniform fill either way (op default noise='uniform')")
    for un, noise in ((False, ""), (False, "gaussian"), (False, "uniform"), (True, "")):
        t.glimpse(ranged(2, 4, 3, 3), [10, 9], np.zeros((2, 2)), api="v1", uniform_noise=un,
                  noise=noise, expect=fs, desc=f"raw ExtractGlimpse uniform_noise={un} "
                  f"noise={noise!r}" + (": uniform" if un else ""))


def glimpse_errors(t) -> None:
    img, off = t.normal((2, 5, 5, 1)), np.zeros((2, 2))
    rows = [  # input, size, offsets, description
        (img[0], [2, 2], off, "input rank 3"),
        (img[None], [2, 2], off, "input rank 5"),
        (img, [2, 2, 2], off, "size with 3 elements"),
        (img, [2], off, "size with 1 element"),
        (img, [-1, 2], off, "negative height"),
        (img, [2, -3], off, "negative width"),
        (img, [-1, 2], off[0], "negative size and offsets rank 1: size wins"),
        (img, [2, 2], off[0], "offsets rank 1"),
        (img, [2, 2], off[None], "offsets rank 3"),
        (img, [2, 2], np.zeros((3, 2)), "offsets rows (3) != B (2)"),
        (img, [2, 2], np.zeros((1, 2)), "offsets rows (1) != B (2)"),
        (img, [2, 2], np.zeros((2, 3)), "offsets with 3 columns"),
        (img, [2, 2], np.zeros((2, 1)), "offsets with 1 column"),
        (img, [2, 2], np.zeros((3, 3)), "rows != B and 3 columns"),
    ]
    for inp, size, o, desc in rows:
        t.glimpse(inp, size, o, expect="error", desc=desc)
    for noise in ("normal", "Uniform", "none"):
        t.glimpse(img, [2, 2], off, noise=noise, expect="error", desc=f"bad noise {noise!r}")
    for un, noise in ((True, "gaussian"), (True, "zero"), (True, "bogus"), (False, "bogus")):
        t.glimpse(img, [2, 2], off, api="v1", uniform_noise=un, noise=noise, expect="error",
                  desc=f"raw ExtractGlimpse uniform_noise={un} with noise={noise!r}")
    t.glimpse(img, [-2, 2], off, **V1, expect="error", desc="V1 negative size")


# ---------------------------------------------------------------- crop_and_resize gradients
def grad_random(t) -> None:
    rng = t.rng
    for i in range(120):
        b, h, w, d = (int(rng.integers(1, k)) for k in (4, 10, 10, 4))
        n = int(rng.integers(1, 6))
        ch = int(rng.integers(1, 8)) if i % 7 else 1
        cw = int(rng.integers(1, 8)) if i % 11 else 1
        lo, hi = ((0.0, 1.0), (-0.4, 1.4), (0.2, 0.8))[i % 3]
        boxes = rng.uniform(lo, hi, (n, 4)).astype(F32)
        m = "nearest" if i % 4 == 3 else "bilinear"
        t.pair(t.normal((b, h, w, d)), boxes, rng.integers(0, b, n), (ch, cw), m, desc="random "
               f"sweep {i}: {b}x{h}x{w}x{d} image, {n} boxes in [{lo}, {hi}], crop {ch}x{cw}, {m}")
    for i in range(20):  # many overlapping boxes on one image: long accumulation chains
        h, w = int(rng.integers(2, 6)), int(rng.integers(2, 6))
        n = int(rng.integers(6, 16))
        boxes = (rng.uniform(0, 1, (1, 4)) + rng.uniform(-0.1, 0.1, (n, 4))).astype(F32)
        m = "nearest" if i % 4 == 3 else "bilinear"
        t.pair(t.normal((2, h, w, 2)), boxes, np.zeros(n), (int(rng.integers(3, 12)),
               int(rng.integers(3, 12))), m, desc=f"overlap sweep {i}: {n} near-identical "
               f"boxes on one {h}x{w} image, {m}")


def grad_edge(t) -> None:
    for m in BOTH:
        t.pair(IMG22, [[0, 0, 1, 1]], [0], (2, 2), m, np.ones((1, 2, 2, 1)), desc="2x2, box "
               f"[0,0,1,1], crop 2x2 ({m}): every sample on a pixel -> all-zero box gradient")
        t.pair(IMG22, [[0, 0, 1, 1]], [0], (3, 3), m, np.ones((1, 3, 3, 1)),
               desc=f"2x2, box [0,0,1,1], crop 3x3 ({m}), upstream ones")
        t.pair(IMG22, [[-1, -1, 1, 1]], [0], (3, 3), m,
               desc=f"box [-1,-1,1,1] partly outside, crop 3x3 ({m})")
        t.pair(IMG22, [[1, 1, 0, 0]], [0], (3, 3), m,
               desc=f"flipped box [1,1,0,0], crop 3x3 ({m})")
    a = t.normal((2, 5, 6, 3))
    box, box2 = [0.1, 0.2, 0.9, 0.7], [0.3, 0.1, 0.4, 0.6]
    for m in BOTH:
        t.pair(a, [[0, 0, 1, 1], [0.25, 0.2, 0.75, 0.8]], [0, 1], (5, 6), m, desc="5x6 image, "
               f"crop 5x6 of the full box and integer-coordinate boxes ({m}) -> zero box gradient")
        t.pair(a, [[-0.5, 0.3, 0.4, 1.7], [1.2, -0.3, 1.5, 0.2], [2, 2, 3, 3]], [0, 1, 1],
               (4, 4), m, desc=f"boxes partly and wholly outside the image ({m})")
        t.pair(a, [box], [0], (1, 5), m,
               desc=f"crop height 1 (box centre row, float64 in TF) ({m})")
        t.pair(a, [box], [0], (5, 1), m, desc=f"crop width 1 (box centre column) ({m})")
        t.pair(a, [box, box2], [0, 1], (1, 1), m, desc=f"crop 1x1 ({m})")
        t.pair(a, [[0.3] * 4] * 4, [1] * 4, (7, 7), m, desc="four identical degenerate boxes "
               f"(every sample at one point) ({m}): 196 adds into the same pixels")
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


def grad_dtypes(t) -> None:
    rng = t.rng
    for dt in ("float16", "float64"):
        for i in range(12):
            b, h, w, d = 2, int(rng.integers(1, 8)), int(rng.integers(1, 8)), 2
            n = int(rng.integers(1, 5))
            ch, cw = int(rng.integers(1, 7)), int(rng.integers(1, 7))
            m = "nearest" if i % 3 == 2 else "bilinear"
            t.pair(t.normal((b, h, w, d), 3.0, dt), rng.uniform(-0.3, 1.3, (n, 4)),
                   rng.integers(0, b, n), (ch, cw), m, desc=f"{dt} image {b}x{h}x{w}x{d}, {n} "
                   f"boxes, crop {ch}x{cw}, {m}: image gradient accumulated in {dt}")
        t.pair(t.normal((1, 3, 3, 1), 1.0, dt), [[0, 0, 1, 1]] * 6, [0] * 6, (15, 15),
               desc=f"{dt}: six overlapping upsampling boxes, long accumulation in {dt}")
    t.pair(t.normal((1, 3, 3, 1), 1.0, np.float16), [[0.1, 0.2, 0.8, 0.9]], [0], (4, 4),
           scale=1e-6, desc="float16: contributions below float16's normal range (half "
           "subnormals are kept: only float32 arithmetic flushes)")
    t.pair(np.full((1, 2, 2, 1), 60000, np.float16), [[0, 0, 1, 1]] * 3, [0] * 3, (3, 3),
           grads=np.full((3, 3, 3, 1), 30000.0), desc="float16 accumulation overflows to inf")
    for dt in ("uint8", "int16", "int32", "int64", "uint16", "int8"):
        info = np.iinfo(dt)
        img = rng.integers(max(info.min, -1000), min(info.max, 1000), (2, 4, 5, 2),
                           dtype=np.dtype(dt), endpoint=True)
        t.pair(img, rng.uniform(-0.2, 1.2, (3, 4)), [0, 1, 1], (3, 4), desc=f"{dt} image: box "
               "gradient only (TF has no image gradient for integer images)")


def grad_errors(t) -> None:
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
        t.grad_error("image", grads, boxes, idx, shape, m, desc=f"grad image: {desc}")
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
        t.grad_error("boxes", grads, boxes, idx, image, desc=f"grad boxes: {desc}")
