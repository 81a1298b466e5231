"""extract_glimpse suites: glimpse_v2, glimpse_v1, glimpse_fill, glimpse_errors.

``t.glimpse(input, size, offsets, centered, normalized, noise)`` as tf.image.extract_glimpse,
but noise "zero" by default; ``**V1`` calls tf.raw_ops.ExtractGlimpse instead.
"""

from __future__ import annotations

import numpy as np
from rows import F32, Table, arange, suite

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


def random_glimpses(t: Table, count: int, **api) -> None:
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
            t.glimpse(inp, [h, w], offsets(rng, B, H, W, h, w, c, n), c, n, **api,
                      desc=f"random: input {[B, H, W, D]}, size {h}x{w}, centered={c}, "
                      f"normalized={n}")


@suite(6006)
def glimpse_v2(t: Table) -> None:
    a25 = arange((1, 5, 5, 1))
    t.glimpse(a25, [3, 3], [[0, 0]], False, False, tag="spec-g-00-nn", desc="spec §3: 5x5 "
              "arange, size 3, offset (0,0), not centered, not normalized -> "
              "[[0,1,2],[5,6,7],[10,11,12]]")
    t.glimpse(a25, [3, 3], [[-1, -1]], tag="spec-g-m1-cn", desc="spec §3: normalized+centered, "
              "size 3, offset (-1,-1) -> [[0,0,0],[0,0,1],[0,5,6]]")
    t.glimpse(a25, [3, 3], [[1, 1]], tag="spec-g-p1-cn", desc="spec §3: normalized+centered, "
              "size 3, offset (1,1) -> [[18,19,0],[23,24,0],[0,0,0]]")
    t.glimpse(a25, [3, 3], [[-0.9, -1.5]], False, False, tag="spec-g-trunc-nn", desc="spec §3: "
              "offset (-0.9,-1.5), not centered, not normalized -> [[0,0,1],[0,5,6],[0,10,11]] "
              "(truncation toward zero)")
    t.glimpse(arange((1, 3, 3, 1)), [2, 2], [[1, 1]], False, False, tag="spec-g-seed",
              desc="spec §2.2: 3x3 arange, size 2, offset (1,1), neither -> [[4,5],[7,8]]")
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


@suite(7007)
def glimpse_v1(t: Table) -> None:
    a25 = arange((1, 5, 5, 1))
    t.glimpse(a25, [3, 3], [[0, 0]], True, False, **V1, tag="spec-g-v1", desc="spec §3: V1 "
              "(raw ExtractGlimpse, noise zero), size 3, centered, not normalized, offset (0,0) "
              "-> [[6,7,8],[11,12,13],[16,17,18]]")
    t.glimpse(a25, [3, 3], [[0, 0]], True, False, api="v1", uniform_noise=False, noise=None,
              tag="spec-g-v1-wrapper", desc="same through tf.compat.v1.image.extract_glimpse("
              "uniform_noise=False); window fully inside so the fill does not matter")
    for c, n in FLAGS:
        for size, off in (("3", [0, 0]), ("2x4", [0.5, -0.5]), ("4x3", [-0.7, 1.5])):
            t.glimpse(a25, [int(size[0]), int(size[-1])], [off], c, n, **V1, desc=f"V1 5x5 "
                      f"arange, size {size}, offset ({off[0]},{off[1]}), centered={c}, "
                      f"normalized={n}")
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


@suite(8008)
def glimpse_fill(t: Table) -> None:
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
        t.glimpse(np.zeros((2, 0, 3, 2)), [2, 3], np.zeros((2, 2)), noise=noise,
                  desc=f"H = 0 input with noise {noise!r}: TF fills with NaN (statistics of an "
                  "empty image)")
    for un in (True, False):
        for _ in range(3):
            D, H, W = int(rng.integers(1, 4)), int(rng.integers(2, 6)), int(rng.integers(2, 6))
            t.glimpse(ranged(2, H, W, D), [H + 6, W + 5], np.zeros((2, 2)), api="v1",
                      uniform_noise=un, noise=None, expect=fs, desc="tf.compat.v1.image."
                      f"extract_glimpse(uniform_noise={un}): uniform fill either way (op "
                      "default noise='uniform')")
    for un, noise in ((False, ""), (False, "gaussian"), (False, "uniform"), (True, "")):
        t.glimpse(ranged(2, 4, 3, 3), [10, 9], np.zeros((2, 2)), api="v1", uniform_noise=un,
                  noise=noise, expect=fs, desc=f"raw ExtractGlimpse uniform_noise={un} "
                  f"noise={noise!r}" + (": uniform" if un else ""))


@suite(9009)
def glimpse_errors(t: Table) -> None:
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
