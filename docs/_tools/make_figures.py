"""Draw the figures of the docs into ``docs/_static/figures/`` (matplotlib, Agg).

    python docs/_tools/make_figures.py [--only NAME ...]

Every picture is computed by xcrop itself at build time, so it shows what the code does:

* ``crops.png``: a procedurally generated, photo-like scene (no download) with boxes drawn
  on it (one partly outside the image, one flipped) and the crops xcrop returns;
* ``sampling_grid.png``: where TF's align-corners mapping puts the samples of a crop,
  against the half-pixel convention of ``roi_align(aligned=True)`` and kornia-like code;
* ``glimpse_modes.png``: the window ``extract_glimpse`` copies in each of its four offset
  modes, TF2 (``xcrop.extract_glimpse``) against TF1 (``xcrop.compat.v1``); the windows are
  read back from xcrop's output, not drawn from the formulas;
* ``peer_deviation.png``: how far a peer's crop is from TF's (= xcrop's, which matches TF
  bit for bit on the conformance fixtures): kornia's ``crop_and_resize`` when kornia is
  installed, and the half-pixel (roi_align aligned=True-like) convention in NumPy;
* ``benchmark.png``: the medians of ``bench/results.json``, when that file exists.

The output is deterministic: fixed seeds, no timestamps in the PNG metadata.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colors, patches

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
OUT = DOCS / "_static" / "figures"

sys.path.insert(0, str(ROOT / "src"))

import bench_json  # noqa: E402

import xcrop  # noqa: E402

plt.rcParams.update({
    "font.size": 9,
    "axes.titlesize": 9,
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "svg.hashsalt": "xcrop",
})

TF_COLOR = "#d62728"  # red: TF / xcrop
HALF_COLOR = "#1f77b4"  # blue: half-pixel conventions
V1_COLOR = "#ff7f0e"


def _save(fig: plt.Figure, name: str) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    # No "Software"/date chunks: the same code gives the same bytes.
    fig.savefig(path, metadata={"Software": None}, pil_kwargs={"optimize": True})
    plt.close(fig)
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KB)")
    return path


# ---------------------------------------------------------------------------------------
# (a) a photo-like scene and its crops
# ---------------------------------------------------------------------------------------

def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale: int) -> np.ndarray:
    """Value noise: a coarse random grid, bilinearly upsampled (deterministic)."""
    h, w = shape
    coarse = rng.random((h // scale + 2, w // scale + 2))
    y = np.arange(h) / scale
    x = np.arange(w) / scale
    y0, x0 = np.floor(y).astype(int), np.floor(x).astype(int)
    ty, tx = (y - y0)[:, None], (x - x0)[None, :]
    ty, tx = ty * ty * (3 - 2 * ty), tx * tx * (3 - 2 * tx)  # smoothstep
    a = coarse[y0][:, x0]
    b = coarse[y0][:, x0 + 1]
    c = coarse[y0 + 1][:, x0]
    d = coarse[y0 + 1][:, x0 + 1]
    return (a + (b - a) * tx) + ((c + (d - c) * tx) - (a + (b - a) * tx)) * ty


def scene(height: int = 200, width: int = 300) -> np.ndarray:
    """A synthetic landscape, float32 RGB in [0, 1]: sky, sun, hills, lake, house, tree."""
    rng = np.random.default_rng(20261121)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    v, u = yy / (height - 1), xx / (width - 1)
    img = np.zeros((height, width, 3))
    # Sky: deep blue at the top to a warm haze at the horizon, with soft clouds.
    sky_top, sky_low = np.array([0.18, 0.35, 0.72]), np.array([0.95, 0.80, 0.62])
    t = np.clip(v / 0.55, 0, 1)[..., None]
    img[:] = sky_top + (sky_low - sky_top) * t
    clouds = _smooth_noise(rng, (height, width), 32) * _smooth_noise(rng, (height, width), 16)
    img += (np.clip(clouds - 0.3, 0, 1) * 1.5 * np.clip(1 - v / 0.5, 0, 1))[..., None] * 0.7
    # Sun with a glow.
    r = np.hypot(yy - 0.22 * height, xx - 0.78 * width)
    img += np.exp(-((r / 40.0) ** 2))[..., None] * np.array([0.5, 0.35, 0.1])
    img[r < 14] = [1.0, 0.95, 0.75]
    # Far and near hills: ridgelines from sums of sines, shaded by height and noise.
    for base, amp, color, freq in ((0.50, 0.07, (0.45, 0.52, 0.68), 3.1),
                                   (0.60, 0.09, (0.22, 0.45, 0.20), 1.7)):
        ridge = base - amp * (np.sin(u * freq * np.pi + 0.7) + 0.5 * np.sin(u * 7.3 + 1.1))
        mask = v > ridge
        shade = 0.75 + 0.35 * _smooth_noise(rng, (height, width), 6)
        hill = np.array(color) * shade[..., None] * (1.1 - 0.5 * (v - ridge)[..., None])
        img = np.where(mask[..., None], hill, img)
    # A lake at the bottom left, reflecting the sky with ripples.
    lake = (v > 0.78) & (((u - 0.25) / 0.32) ** 2 + ((v - 0.95) / 0.2) ** 2 < 1)
    ripple = 0.08 * np.sin(yy * 1.3 + 2 * np.sin(xx / 9))
    water = np.array([0.30, 0.50, 0.80]) + ripple[..., None]
    img = np.where(lake[..., None], water, img)
    # A house: walls, a red roof and a door on its left side (so flips are visible).
    hy, hx = int(0.60 * height), int(0.55 * width)
    img[hy:hy + 40, hx:hx + 56] = [0.92, 0.86, 0.70]
    for i in range(24):  # roof: a triangle of rows
        img[hy - 24 + i, hx - 4 + (23 - i):hx + 60 - (23 - i)] = [0.70, 0.15, 0.12]
    img[hy + 16:hy + 40, hx + 8:hx + 20] = [0.35, 0.22, 0.12]  # door
    img[hy + 10:hy + 22, hx + 32:hx + 48] = [0.55, 0.75, 0.95]  # window
    img[hy + 15:hy + 17, hx + 32:hx + 48] = [0.35, 0.22, 0.12]
    # A tree on the right: trunk and a textured crown.
    ty0, tx0 = int(0.58 * height), int(0.86 * width)
    img[ty0:ty0 + 45, tx0 - 3:tx0 + 3] = [0.35, 0.24, 0.13]
    crown = np.hypot(yy - ty0, (xx - tx0) * 1.2) < 22
    texture = 0.7 + 0.6 * _smooth_noise(rng, (height, width), 3)
    leaves = np.array([0.10, 0.38, 0.12]) * texture[..., None]
    img = np.where(crown[..., None], leaves, img)
    # Fine sensor-like grain.
    img += rng.normal(0, 0.012, img.shape)
    return np.clip(img, 0, 1).astype(np.float32)


def _box_rect(box: list[float], h: int, w: int, **kw: object) -> patches.Rectangle:
    """The box as TF reads it: corners at pixel centres y * (H - 1), x * (W - 1)."""
    y1, x1, y2, x2 = box
    y1, y2 = y1 * (h - 1), y2 * (h - 1)
    x1, x2 = x1 * (w - 1), x2 * (w - 1)
    return patches.Rectangle((min(x1, x2), min(y1, y2)), abs(x2 - x1), abs(y2 - y1),
                             fill=False, **kw)


def figure_crops() -> None:
    img = scene()
    h, w, _ = img.shape
    cases = [
        ("house", [0.45, 0.50, 0.85, 0.78], "bilinear", "#ffdd00"),
        ("partly outside", [0.55, 0.80, 1.25, 1.20], "bilinear", "#ff4fd8"),
        ("flipped: y1 > y2", [0.50, 0.62, 0.05, 0.95], "bilinear", "#00e5ff"),
        ("small box, zoomed", [0.64, 0.55, 0.72, 0.60], "nearest", "#ffffff"),
    ]
    boxes = np.array([c[1] for c in cases], np.float32)
    crops = [
        xcrop.crop_and_resize(img[None], boxes[i:i + 1], [0], (96, 96), method=c[2],
                              extrapolation_value=0.0)[0]
        for i, c in enumerate(cases)
    ]
    fig = plt.figure(figsize=(10.4, 4.3))
    grid = fig.add_gridspec(2, 4, width_ratios=[3.2, 3.2, 1.6, 1.6], wspace=0.12,
                            hspace=0.28, left=0.01, right=0.99, top=0.92, bottom=0.02)
    ax = fig.add_subplot(grid[:, :2])
    ax.imshow(img, interpolation="nearest")
    for i, (_label, box, _method, color) in enumerate(cases):
        ax.add_patch(_box_rect(box, h, w, edgecolor=color, linewidth=2))
        y1, x1, y2, x2 = box
        ax.annotate(f"{i + 1}", (min(x1, x2) * (w - 1) + 3, min(y1, y2) * (h - 1) + 3),
                    color="black", fontsize=9, fontweight="bold", va="top", ha="left",
                    bbox=dict(boxstyle="round,pad=0.15", fc=color, ec="none"))
        if y1 > y2:  # the crop's first row is y1, here the bottom edge
            for yy, text, va in ((y1, "y1: first crop row", "bottom"),
                                 (y2, "y2: last crop row", "top")):
                ax.text(max(x1, x2) * (w - 1) - 3, yy * (h - 1) + (-2 if va == "bottom" else 2),
                        text, color="black", fontsize=7, ha="right", va=va,
                        bbox=dict(boxstyle="round,pad=0.15", fc=color, ec="none", alpha=0.85))
    ax.set_xlim(-0.5, 1.22 * (w - 1))
    ax.set_ylim(1.27 * (h - 1), -0.5)
    ax.add_patch(patches.Rectangle((-0.5, -0.5), w, h, fill=False, edgecolor="black",
                                   linewidth=0.8))
    ax.set_facecolor("#eeeeee")
    ax.set_title(f"synthetic {h}x{w} RGB image (float32), boxes as TF reads them")
    ax.set_xticks([])
    ax.set_yticks([])
    for i, ((label, _box, method, color), crop) in enumerate(zip(cases, crops, strict=True)):
        cax = fig.add_subplot(grid[i // 2, 2 + i % 2])
        cax.imshow(np.clip(crop, 0, 1), interpolation="nearest")
        cax.set_title(f"{i + 1}: {label}\n{method}, 96x96", fontsize=8)
        for side in cax.spines.values():
            side.set_edgecolor(color if color != "#ffffff" else "#888888")
            side.set_linewidth(2.5)
        cax.set_xticks([])
        cax.set_yticks([])
    _save(fig, "crops.png")


# ---------------------------------------------------------------------------------------
# (b) sampling grid: align corners vs half pixel
# ---------------------------------------------------------------------------------------

def _tf_samples(lo: float, hi: float, size: int, n: int) -> np.ndarray:
    """TF's sample coordinates along one axis, read back from xcrop: a 1-D image whose
    pixel values are their own indices, cropped bilinearly, returns the coordinates."""
    ramp = np.arange(size, dtype=np.float32).reshape(1, 1, size, 1)
    out = xcrop.crop_and_resize(ramp, [[0, lo, 0, hi]], [0], (1, n),
                                extrapolation_value=np.nan)
    return out[0, 0, :, 0]


def _half_pixel_samples(lo: float, hi: float, size: int, n: int) -> np.ndarray:
    """roi_align(aligned=True, sampling_ratio=1)-like: bin centres of the box [lo, hi] * size
    in pixel-edge units, shifted by half a pixel onto pixel centres."""
    start, extent = lo * size, (hi - lo) * size
    return start + (np.arange(n) + 0.5) * extent / n - 0.5


def figure_sampling_grid() -> None:
    h = w = 5
    cases = [
        ("box [0, 0, 1, 1], crop 3x3", [0.0, 0.0, 1.0, 1.0], (3, 3)),
        ("box [0.1, 0.2, 0.7, 0.9], crop 3x4", [0.1, 0.2, 0.7, 0.9], (3, 4)),
    ]
    fig, axes = plt.subplots(1, 2, figsize=(9.2, 4.6))
    for ax, (title, box, (ch, cw)) in zip(axes, cases, strict=True):
        y1, x1, y2, x2 = box
        for r in range(h):
            for c in range(w):
                ax.add_patch(patches.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=True,
                                               facecolor="#f4f4f4" if (r + c) % 2 else
                                               "#e2e2e2", edgecolor="#bbbbbb", lw=0.6))
        cy, cx = np.mgrid[0:h, 0:w]
        ax.plot(cx.ravel(), cy.ravel(), "+", color="#777777", ms=6,
                label="pixel centre")
        # TF: the box corners sit on pixel centres (align corners).
        ax.add_patch(patches.Rectangle((x1 * (w - 1), y1 * (h - 1)), (x2 - x1) * (w - 1),
                                       (y2 - y1) * (h - 1), fill=False, ec=TF_COLOR, lw=1.6))
        ty = _tf_samples(y1, y2, h, ch)
        tx = _tf_samples(x1, x2, w, cw)
        gy, gx = np.meshgrid(ty, tx, indexing="ij")
        ax.plot(gx.ravel(), gy.ravel(), "o", color=TF_COLOR, ms=8,
                label="TF / xcrop: y·(H−1), align corners")
        # Half pixel: the box edges sit on pixel edges; samples at bin centres.
        ax.add_patch(patches.Rectangle((x1 * w - 0.5, y1 * h - 0.5), (x2 - x1) * w,
                                       (y2 - y1) * h, fill=False, ec=HALF_COLOR, lw=1.6,
                                       ls="--"))
        hy = _half_pixel_samples(y1, y2, h, ch)
        hx = _half_pixel_samples(x1, x2, w, cw)
        gy, gx = np.meshgrid(hy, hx, indexing="ij")
        ax.plot(gx.ravel(), gy.ravel(), "x", color=HALF_COLOR, ms=8, mew=2,
                label="half pixel: y·H − ½, bin centres (roi_align\n"
                      "aligned=True; grid_sample align_corners=False)")
        ax.set_xlim(-0.8, w - 0.2)
        ax.set_ylim(h - 0.2, -0.8)
        ax.set_aspect("equal")
        ax.set_xticks(range(w))
        ax.set_yticks(range(h))
        ax.set_xlabel("x (pixel index)")
        ax.set_ylabel("y (pixel index)")
        ax.set_title(f"{title} on a {h}x{w} image")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, frameon=False)
    fig.subplots_adjust(left=0.06, right=0.99, top=0.94, bottom=0.2, wspace=0.18)
    _save(fig, "sampling_grid.png")


# ---------------------------------------------------------------------------------------
# (c) glimpse offset modes, TF2 vs TF1
# ---------------------------------------------------------------------------------------

def _window(fn: object, img: np.ndarray, size: tuple[int, int], offset: tuple[float, float],
            **flags: object) -> tuple[int, int]:
    """The window's top-left pixel, read from the glimpse of an image of its own indices."""
    out = fn(img, size, [offset], noise="zero", **flags)[0, :, :, 0]
    inside = np.argwhere(out > 0)
    r, c = inside[0]
    flat = int(out[r, c]) - 1
    return flat // img.shape[2] - r, flat % img.shape[2] - c


def figure_glimpse_modes() -> None:
    h, w = 12, 12
    size = (4, 6)
    img = (np.arange(h * w, dtype=np.float32) + 1).reshape(1, h, w, 1)
    modes = [
        (True, True, (0.25, -0.5), "TF2 and TF1: centre, (-1, -1) = top-left"),
        (False, True, (0.25, 0.5), "TF2: corner, TF1: centre; fraction of size"),
        (True, False, (-3.0, 1.0), "TF2: corner, TF1: centre at offset / 2;\n"
                                   "pixels from the image centre"),
        (False, False, (2.0, 7.0), "TF2: corner, TF1: centre; pixels"),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(11.6, 4.2))
    for ax, (centered, normalized, off, what) in zip(axes, modes, strict=True):
        flags = dict(centered=centered, normalized=normalized)
        v2 = _window(xcrop.extract_glimpse, img, size, off, **flags)
        v1 = _window(xcrop.compat.v1.extract_glimpse, img, size, off, uniform_noise=False,
                     **flags)
        ax.imshow(np.zeros((h, w)), cmap="Greys", vmin=0, vmax=1, extent=(0, w, h, 0))
        for k in range(h + 1):
            ax.axhline(k, color="#cccccc", lw=0.5)
        for k in range(w + 1):
            ax.axvline(k, color="#cccccc", lw=0.5)
        # The points the offset names (pixel-edge units), from the modes' formulas:
        # TF2 scales, then (centered) moves to the centre: the default mode's window
        # centre, the other modes' top-left corner. TF1 scales (normalized), then
        # (centered) halves and moves to the centre: always the window centre.
        def tf2_point(o: float, n: int, centered: bool = centered,
                      normalized: bool = normalized) -> float:
            if normalized:
                return o * n / 2 + n / 2 if centered else o * n
            return o + n / 2 if centered else o

        def tf1_point(o: float, n: int, centered: bool = centered,
                      normalized: bool = normalized) -> float:
            p = o * n if normalized else o
            return p / 2 + n / 2 if centered else p

        p2 = [tf2_point(o, n) for o, n in zip(off, (h, w), strict=True)]
        p1 = [tf1_point(o, n) for o, n in zip(off, (h, w), strict=True)]
        ax.add_patch(patches.Rectangle((v2[1], v2[0]), size[1], size[0], fc=TF_COLOR,
                                       alpha=0.25, ec=TF_COLOR, lw=2,
                                       label="TF2: xcrop.extract_glimpse"))
        ax.add_patch(patches.Rectangle((v1[1], v1[0]), size[1], size[0], fill=False,
                                       ec=HALF_COLOR, lw=2, ls="--",
                                       label="TF1: xcrop.compat.v1.extract_glimpse"))
        ax.plot([p2[1]], [p2[0]], "*", color=TF_COLOR, mec="black", ms=13,
                label="TF2: the offset's point")
        ax.plot([p1[1]], [p1[0]], "o", mfc="none", mec=HALF_COLOR, mew=2, ms=10,
                label="TF1: the offset's point (window centre)")
        ax.set_xlim(-0.4, w + 0.4)
        ax.set_ylim(h + 0.4, -0.4)
        ax.set_xticks(range(0, w + 1, 3))
        ax.set_yticks(range(0, h + 1, 3))
        same = " (TF1 = TF2)" if v1 == v2 else ""
        ax.set_title(f"centered={centered}, normalized={normalized}\n"
                     f"offset (y, x) = {off}{same}\n{what}", fontsize=8)
        ax.text(0.02, 0.02, f"TF2 start {tuple(int(v) for v in v2)}\n"
                f"TF1 start {tuple(int(v) for v in v1)}", transform=ax.transAxes,
                fontsize=7, va="bottom", family="monospace")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, frameon=False)
    fig.suptitle(f"extract_glimpse of a {size[0]}x{size[1]} window from a {h}x{w} image",
                 fontsize=10)
    fig.subplots_adjust(left=0.03, right=0.99, top=0.77, bottom=0.13, wspace=0.22)
    _save(fig, "glimpse_modes.png")


# ---------------------------------------------------------------------------------------
# (d) deviation of peers from TF
# ---------------------------------------------------------------------------------------

def half_pixel_crop(image: np.ndarray, box: list[float], size: tuple[int, int]) -> np.ndarray:
    """The half-pixel convention of ``roi_align(aligned=True, sampling_ratio=1)``, in NumPy.

    One sample per output element at the bin centre of the box ``[y1, x1, y2, x2] * (H, W)``
    (pixel-edge units) shifted by half a pixel; RoIAlign's border rule: samples up to one
    pixel outside clamp to the border, samples further out are 0. Written here for the
    figure (not torchvision's code), float64 arithmetic.
    """
    h, w, _ = image.shape
    y1, x1, y2, x2 = box
    ys = _half_pixel_samples(y1, y2, h, size[0])
    xs = _half_pixel_samples(x1, x2, w, size[1])

    def axis(c: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        valid = (c >= -1.0) & (c <= n)
        c = np.clip(c, 0, n - 1)
        lo = np.floor(c).astype(int)
        hi = np.minimum(lo + 1, n - 1)
        return lo, hi, c - lo, valid

    yl, yh, ty, vy = axis(ys, h)
    xl, xh, tx, vx = axis(xs, w)
    img = image.astype(np.float64)
    top = img[yl][:, xl] * (1 - tx)[None, :, None] + img[yl][:, xh] * tx[None, :, None]
    bot = img[yh][:, xl] * (1 - tx)[None, :, None] + img[yh][:, xh] * tx[None, :, None]
    out = top * (1 - ty)[:, None, None] + bot * ty[:, None, None]
    return (out * (vy[:, None] & vx[None, :])[..., None]).astype(np.float32)


def kornia_crop(image: np.ndarray, box: list[float], size: tuple[int, int],
                method: str) -> np.ndarray | None:
    """kornia.geometry.transform.crop_and_resize on TF's box, or None without kornia.

    TF's normalized box is turned into kornia's four corner points in pixel units with
    TF's own mapping (``y * (H - 1)``), so the comparison is as fair as it can be.
    """
    try:
        import kornia
        import torch
    except ImportError:
        return None
    h, w, _ = image.shape
    y1, x1, y2, x2 = (np.float32(v) for v in box)
    y1, y2 = y1 * np.float32(h - 1), y2 * np.float32(h - 1)
    x1, x2 = x1 * np.float32(w - 1), x2 * np.float32(w - 1)
    pts = torch.tensor([[[x1, y1], [x2, y1], [x2, y2], [x1, y2]]], dtype=torch.float32)
    t = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
    out = kornia.geometry.transform.crop_and_resize(t, pts, size, mode=method)
    return out[0].permute(1, 2, 0).numpy()


def figure_peer_deviation() -> None:
    img = scene()
    size = (64, 64)
    cases = [
        ("inside the image", [0.45, 0.50, 0.85, 0.78], "bilinear"),
        ("partly outside", [0.55, 0.80, 1.25, 1.20], "bilinear"),
        ("flipped (y1 > y2)", [0.50, 0.62, 0.05, 0.95], "bilinear"),
        ("inside, nearest", [0.45, 0.50, 0.85, 0.78], "nearest"),
    ]
    have_kornia = kornia_crop(img, cases[0][1], size, "bilinear") is not None
    if have_kornia:
        import kornia

        kornia_label = f"kornia {kornia.__version__}\ncrop_and_resize"
    peers = ["kornia"] if have_kornia else []
    peers.append("half pixel")
    ncols = 1 + 2 * len(peers)
    fig, axes = plt.subplots(len(cases), ncols, figsize=(1.75 * ncols + 1.2,
                                                         1.75 * len(cases) + 0.9),
                             squeeze=False)
    norm = colors.LogNorm(vmin=1e-7, vmax=1.0)
    cmap = plt.get_cmap("magma").copy()
    cmap.set_under("#1a9850")  # bit-exact: green
    image = None
    for row, (label, box, method) in enumerate(cases):
        ref = xcrop.crop_and_resize(img[None], np.array([box], np.float32), [0], size,
                                    method=method)[0]
        panels = [(f"TF = xcrop\n{method}", ref, None)]
        for peer in peers:
            if peer == "kornia":
                out = kornia_crop(img, box, size, method)
                name = kornia_label
            else:
                # roi_align has no nearest mode
                out = None if method != "bilinear" else half_pixel_crop(img, box, size)
                name = "half pixel\n(roi_align aligned=True-like)"
            panels.append((name, out, None))
            diff = None if out is None else np.abs(out - ref).max(axis=-1)
            panels.append(("|peer − TF|" if out is not None else "", None, diff))
        for col, (title, crop, diff) in enumerate(panels):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if crop is not None:
                ax.imshow(np.clip(crop, 0, 1), interpolation="nearest")
            elif diff is not None:
                shown = np.where(diff == 0, 1e-9, diff)
                image = ax.imshow(shown, cmap=cmap, norm=norm, interpolation="nearest")
                ax.set_xlabel(f"max {diff.max():.2g}, exact {np.mean(diff == 0):.0%}",
                              fontsize=7)
            else:
                ax.text(0.5, 0.5, "no nearest mode" if panels[col - 1][1] is None and col % 2
                        else "", ha="center", va="center", fontsize=7, transform=ax.transAxes)
                ax.axis("off")
            if row == 0 or col == 0:
                ax.set_title(title, fontsize=7)
        axes[row, 0].set_ylabel(label, fontsize=8)
    fig.subplots_adjust(left=0.05, right=0.86, top=0.9, bottom=0.04, wspace=0.08,
                        hspace=0.3)
    cax = fig.add_axes((0.88, 0.1, 0.02, 0.75))
    bar = fig.colorbar(image, cax=cax, extend="min")
    bar.set_label("max |peer − TF| over RGB (values in [0, 1]); green: 0, bit-exact",
                  fontsize=7)
    fig.suptitle("Crops of a peer vs TF (xcrop equals TF bit for bit on the conformance "
                 "fixtures)", fontsize=9)
    _save(fig, "peer_deviation.png")


# ---------------------------------------------------------------------------------------
# benchmark
# ---------------------------------------------------------------------------------------

def figure_benchmark() -> None:
    path = OUT / "benchmark.png"
    source = bench_json.BENCH_JSON
    if not source.exists():
        if path.exists():
            path.unlink()  # never show a plot of results that are no longer there
        print("no bench/results.json: no benchmark figure")
        return
    results = json.loads(source.read_text())
    names = list(results.get("workloads", {}))
    if not names:
        print("bench/results.json has no workloads: no benchmark figure")
        return
    fig, axes = plt.subplots(1, len(names), figsize=(2.7 * len(names) + 1.5, 3.6),
                             squeeze=False, sharey=False)
    for ax, name in zip(axes[0], names, strict=True):
        rows = results["workloads"][name]
        tf_ms = rows["tf"]["median_s"] * 1e3 if "tf" in rows else None
        runners = [r for r in rows if r != "tf"]
        # Throughput relative to TF (TF time / runner time): > 1 means faster than TF.
        ratios = [tf_ms / (rows[r]["median_s"] * 1e3) if tf_ms else float("nan")
                  for r in runners]
        colors_ = ["#999999" if "peer" in r else HALF_COLOR for r in runners]
        ax.barh(range(len(runners)), ratios, color=colors_)
        for i, v in enumerate(ratios):
            ax.text(v, i, f" {v:.2f}", va="center", fontsize=7)
        ax.axvline(1.0, color=TF_COLOR, linestyle="--", linewidth=1)
        ax.set_yticks(range(len(runners)))
        ax.set_yticklabels(runners, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, max([r for r in ratios if r == r] + [1.0]) * 1.3)
        title = name if tf_ms is None else f"{name}\n(TF {tf_ms:.1f} ms)"
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("TF time / xcrop time", fontsize=8)
    fig.suptitle("Throughput relative to TF 2.21 CPU (dashed line: TF; right of it: faster)",
                 fontsize=9)
    fig.tight_layout()
    _save(fig, "benchmark.png")


FIGURES = {
    "crops": figure_crops,
    "sampling_grid": figure_sampling_grid,
    "glimpse_modes": figure_glimpse_modes,
    "peer_deviation": figure_peer_deviation,
    "benchmark": figure_benchmark,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", nargs="*", choices=sorted(FIGURES), help="figures to draw")
    opts = bench_json.parse_args(p, argv, "plot")
    for name, fn in FIGURES.items():
        if not opts.only or name in opts.only:
            fn()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
