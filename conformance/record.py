"""Record xcrop's TensorFlow conformance fixtures.

Runs ``tf.image.crop_and_resize`` and ``tf.image.extract_glimpse`` (and their
``tf.compat.v1`` / raw-op forms) from TensorFlow 2.21 on CPU on generated inputs and writes
the results as fixture suites (see ``xcrop.conformance._format``)::

    python conformance/record.py [--out DIR] [--suite NAME ...] [--allow-other-tf]

Deterministic: inputs come from ``np.random.default_rng(<fixed seed per suite>)`` and the
random fill of ``extract_glimpse`` (Eigen draws it from C ``rand()``, ignoring TF's seeds)
is made reproducible by calling libc ``srand(<per-case seed>)`` right before each call, so
running the recorder twice gives byte-identical files.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
os.environ["CUDA_VISIBLE_DEVICES"] = ""  # CPU only: the reference is TF's CPU kernels

import numpy as np

try:
    from xcrop.conformance import Case, write_suite
except ImportError:  # running from a source checkout without xcrop installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from xcrop.conformance import Case, write_suite

REQUIRED_TF = "2.21.0"
RECORDER = "conformance/record.py"
DEFAULT_OUT = Path(__file__).resolve().parent / "fixtures"

f32 = np.float32
tf: Any = None  # imported in main()


# ======================================================================================
# helpers


def _libc_srand() -> Callable[[int], None]:
    try:
        libc = ctypes.CDLL(None)
        return lambda seed: libc.srand(ctypes.c_uint(seed))
    except (OSError, AttributeError):  # pragma: no cover - non-glibc platforms
        return lambda seed: None


SRAND = _libc_srand()

_FN_PREFIX = re.compile(r"^\{\{function_node [^}]*\}\}\s*")
_OP_SUFFIX = re.compile(r"\s*\[Op:\w+\](?:\s*name:[^\n]*)?\s*$")


def summarize_error(exc: BaseException) -> dict:
    msg = str(exc)
    summary = _OP_SUFFIX.sub("", _FN_PREFIX.sub("", msg.strip()))
    summary = summary.split("\n")[0].strip()
    return {
        "tf_type": type(exc).__name__,
        "tf_module": type(exc).__module__,
        "tf_message": msg,
        "tf_summary": summary,
    }


class Suite:
    """Accumulates the cases of one suite."""

    def __init__(self, name: str, seed: int):
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.cases: list[Case] = []
        self.notes: list[str] = []
        self._tags: dict[str, Case] = {}

    # ---------------------------------------------------------------- generic

    def _add(
        self,
        op: str,
        api: str,
        inputs: dict[str, np.ndarray],
        params: dict[str, Any],
        call: Callable[[], Any],
        description: str,
        expect: str,
        tag: str | None,
    ) -> Case:
        cid = f"{self.name}-{len(self.cases):03d}"
        if tag:
            if tag in self._tags:
                raise RuntimeError(f"duplicate tag {tag!r}")
            description = f"[{tag}] {description}"
        if expect == "fill_stats":
            SRAND(zlib.crc32(cid.encode()) or 1)
        try:
            out = call()
        except Exception as exc:
            if expect != "error":
                raise RuntimeError(
                    f"{cid} ({description}): TF raised unexpectedly: {exc}"
                ) from exc
            case = Case(
                self.name,
                cid,
                op,
                api,
                inputs,
                params,
                None,
                "error",
                summarize_error(exc),
                description,
            )
        else:
            expected = np.asarray(out.numpy() if hasattr(out, "numpy") else out)
            check = expect
            if expect == "error":
                note = f"NOTE {cid}: TF did not raise for '{description}'; recorded as exact"
                print(note)
                self.notes.append(note)
                check = "exact"
            case = Case(
                self.name, cid, op, api, inputs, params, expected, check, None, description
            )
        self.cases.append(case)
        if tag:
            self._tags[tag] = case
        return case

    def tagged(self, tag: str) -> Case:
        return self._tags[tag]

    # ---------------------------------------------------------------- crop_and_resize

    def crop(
        self,
        image,
        boxes,
        box_indices,
        crop_size,
        method: str = "bilinear",
        extrapolation_value: float = 0.0,
        *,
        description: str,
        api: str = "v2",
        index_kwarg: str = "box_indices",
        expect: str = "exact",
        tag: str | None = None,
        boxes_dtype=np.float32,
    ) -> Case:
        image = np.asarray(image)
        boxes = np.asarray(boxes, dtype=boxes_dtype)
        box_indices = np.asarray(box_indices, dtype=np.int32)
        crop_size = [int(c) for c in crop_size]
        params: dict[str, Any] = {
            "crop_size": crop_size,
            "method": method,
            "extrapolation_value": float(extrapolation_value),
        }
        if api == "v1":
            params["index_kwarg"] = index_kwarg

        def call():
            t_img = tf.constant(image)
            t_boxes = tf.constant(boxes)
            t_idx = tf.constant(box_indices)
            t_size = tf.constant(np.asarray(crop_size, dtype=np.int32))
            kw = {"method": method, "extrapolation_value": float(extrapolation_value)}
            if api == "v2":
                return tf.image.crop_and_resize(t_img, t_boxes, t_idx, t_size, **kw)
            v1 = tf.compat.v1.image.crop_and_resize
            if index_kwarg == "positional":
                return v1(t_img, t_boxes, t_idx, t_size, **kw)
            if index_kwarg == "box_ind":
                return v1(t_img, t_boxes, box_ind=t_idx, crop_size=t_size, **kw)
            if index_kwarg == "box_indices":
                return v1(t_img, t_boxes, box_indices=t_idx, crop_size=t_size, **kw)
            if index_kwarg == "both":
                return v1(t_img, t_boxes, box_ind=t_idx, box_indices=t_idx, crop_size=t_size, **kw)
            raise ValueError(index_kwarg)

        inputs = {"image": image, "boxes": boxes, "box_indices": box_indices}
        return self._add("crop_and_resize", api, inputs, params, call, description, expect, tag)

    # ---------------------------------------------------------------- extract_glimpse

    def glimpse(
        self,
        inp,
        size,
        offsets,
        *,
        centered: bool,
        normalized: bool,
        description: str,
        noise: str | None = "zero",
        api: str = "v2",
        uniform_noise: bool | None = None,
        expect: str = "exact",
        tag: str | None = None,
    ) -> Case:
        """api "v2": tf.image.extract_glimpse(noise=...).

        api "v1" with noise None: the tf.compat.v1 wrapper (which cannot pass ``noise``: the
        op default "uniform" applies).  api "v1" with a noise string: tf.raw_ops.ExtractGlimpse.
        """
        inp = np.asarray(inp, dtype=np.float32)
        offsets = np.asarray(offsets, dtype=np.float32)
        size = [int(s) for s in size]
        params: dict[str, Any] = {"size": size, "centered": centered, "normalized": normalized}
        if api == "v2":
            params["noise"] = noise
        else:
            params["uniform_noise"] = bool(uniform_noise)
            if noise is not None:
                params["noise"] = noise

        def call():
            t_in = tf.constant(inp)
            t_size = tf.constant(np.asarray(size, dtype=np.int32))
            t_off = tf.constant(offsets)
            if api == "v2":
                return tf.image.extract_glimpse(
                    t_in, t_size, t_off, centered=centered, normalized=normalized, noise=noise
                )
            if noise is None:
                return tf.compat.v1.image.extract_glimpse(
                    t_in,
                    t_size,
                    t_off,
                    centered=centered,
                    normalized=normalized,
                    uniform_noise=bool(uniform_noise),
                )
            return tf.raw_ops.ExtractGlimpse(
                input=t_in,
                size=t_size,
                offsets=t_off,
                centered=centered,
                normalized=normalized,
                uniform_noise=bool(uniform_noise),
                noise=noise,
            )

        inputs = {"input": inp, "offsets": offsets}
        return self._add("extract_glimpse", api, inputs, params, call, description, expect, tag)


def normal_image(rng, shape, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def arange_image(shape, dtype=np.float32, start: int = 0) -> np.ndarray:
    return (np.arange(int(np.prod(shape))) + start).reshape(shape).astype(dtype)


def last_sample_overshoots(n: int, c: int) -> bool:
    """True if box [0, 1] with crop size c on an axis of n pixels samples beyond n - 1."""
    if c < 2 or n < 2:
        return False
    scale = f32(f32(f32(1) * f32(n - 1)) / f32(c - 1))
    return bool(f32(f32(c - 1) * scale) > n - 1)


# ======================================================================================
# crop_edge


def build_crop_edge() -> Suite:
    s = Suite("crop_edge", seed=1001)
    rng = s.rng
    img22 = np.array([[1, 2], [3, 4]], np.float32).reshape(1, 2, 2, 1)
    full = [[0, 0, 1, 1]]
    for m, exp in (("bilinear", "2.5"), ("nearest", "4")):
        s.crop(
            img22,
            full,
            [0],
            [1, 1],
            m,
            tag=f"spec-2x2-1x1-{m}",
            description=f"spec §3: 2x2 [[1,2],[3,4]], box [0,0,1,1], crop 1x1, {m} -> {exp}",
        )
    s.crop(
        img22,
        full,
        [0],
        [3, 3],
        "bilinear",
        tag="spec-2x2-3x3-bilinear",
        description="spec §3: 2x2, box [0,0,1,1], crop 3x3 bilinear -> "
        "[[1,1.5,2],[2,2.5,3],[3,3.5,4]]",
    )
    s.crop(
        img22,
        full,
        [0],
        [3, 3],
        "nearest",
        tag="spec-2x2-3x3-nearest",
        description="spec §3: 2x2, box [0,0,1,1], crop 3x3 nearest -> [[1,2,2],[3,4,4],[3,4,4]]",
    )
    s.crop(
        img22,
        [[1, 1, 0, 0]],
        [0],
        [3, 3],
        "bilinear",
        tag="spec-2x2-flipped-bilinear",
        description="spec §3: flipped box [1,1,0,0], crop 3x3 bilinear -> "
        "[[4,3.5,3],[3,2.5,2],[2,1.5,1]]",
    )
    s.crop(
        img22,
        [[1, 1, 0, 0]],
        [0],
        [3, 3],
        "nearest",
        description="flipped box [1,1,0,0], crop 3x3 nearest",
    )
    s.crop(
        img22,
        [[1, 0, 0, 1]],
        [0],
        [3, 3],
        "bilinear",
        description="box flipped in y only [1,0,0,1], crop 3x3 bilinear",
    )
    for m in ("bilinear", "nearest"):
        s.crop(
            img22,
            [[-1, -1, 1, 1]],
            [0],
            [3, 3],
            m,
            -1.0,
            tag=f"spec-2x2-outside-{m}",
            description=f"spec §3: box [-1,-1,1,1], crop 3x3, extrapolation -1, {m} -> "
            "[[-1,-1,-1],[-1,1,2],[-1,3,4]]",
        )

    # 4x4 -> 22x22 and other sizes where box [0,0,1,1] overshoots in float32.
    img44 = arange_image((1, 4, 4, 1), start=1)
    for m in ("bilinear", "nearest"):
        s.crop(
            img44,
            full,
            [0],
            [22, 22],
            m,
            -7.0,
            tag=f"spec-4x4-22x22-{m}",
            description=f"spec §3: 4x4, box [0,0,1,1], crop 22x22 {m}, extrapolation -7: "
            "f32 rounding puts the last row/column at 3.0000002 > 3 -> extrapolated",
        )
    s.crop(
        img44,
        full,
        [0],
        [22, 22],
        "bilinear",
        description="4x4 -> 22x22, box [0,0,1,1], extrapolation 0 (default)",
    )
    over = [(h, c) for h in range(2, 41) for c in range(2, 65) if last_sample_overshoots(h, c)]
    for h, c in [over[i] for i in (5, 17, 40, 77)]:
        cw = next(cc for cc in range(2, 30) if not last_sample_overshoots(h, cc))
        s.crop(
            normal_image(rng, (1, h, h, 1)),
            full,
            [0],
            [c, cw],
            "bilinear",
            9.0,
            description=f"{h}x{h} image, box [0,0,1,1], crop {c}x{cw}: rows overshoot "
            "(last row extrapolated), columns do not",
        )

    row5 = arange_image((1, 1, 5, 1))
    s.crop(
        row5,
        [[0, 0, 0, 1]],
        [0],
        [1, 9],
        "nearest",
        tag="spec-1x5-nearest",
        description="spec §3: 1x5 row [0..4], box [0,0,0,1], crop 1x9 nearest -> "
        "[0,1,1,2,2,3,3,4,4] (round half away from zero)",
    )
    s.crop(
        row5,
        [[0, 0, 0, 1]],
        [0],
        [1, 9],
        "bilinear",
        description="1x5 row [0..4], box [0,0,0,1], crop 1x9 bilinear",
    )
    x = float(f32(0.49999997))
    img12 = np.array([10, 20], np.float32).reshape(1, 1, 2, 1)
    s.crop(
        img12,
        [[0, x, 0, x]],
        [0],
        [1, 1],
        "nearest",
        tag="spec-1x2-0.49999997",
        description="spec §3: 1x2 [10,20], x1 = x2 = 0.49999997, crop 1x1 nearest -> "
        "index 0 (floor(x + 0.5) would give 1)",
    )
    s.crop(
        img12,
        [[0, x, 0, x]],
        [0],
        [1, 1],
        "bilinear",
        description="1x2 [10,20], x1 = x2 = 0.49999997, crop 1x1 bilinear",
    )
    s.crop(
        img12,
        [[0, 0.25, 0, 0.75]],
        [0],
        [1, 3],
        "nearest",
        description="1x2, samples at x = 0.25, 0.5, 0.75: nearest tie 0.5 goes up",
    )
    row3 = arange_image((1, 1, 3, 1))
    s.crop(
        row3,
        [[0, 0.25, 0, 0.75]],
        [0],
        [1, 3],
        "nearest",
        description="1x3 [0,1,2], samples at x = 0.5, 1, 1.5: nearest ties go up -> [1,1,2]",
    )

    a9 = arange_image((1, 3, 3, 1))
    for i, (box, val) in enumerate(
        (([-1, -1, 2, 2], "4"), ([-1, 0, 1.5, 1], "2.5"), ([1, 1, 0, 0], "4"))
    ):
        s.crop(
            a9,
            [box],
            [0],
            [1, 1],
            "bilinear",
            tag=f"spec-3x3-1x1-{i}",
            description=f"spec §3: 3x3 arange(9), box {box}, crop 1x1 bilinear -> {val} "
            "(box centre, float64 arithmetic)",
        )
        s.crop(
            a9,
            [box],
            [0],
            [1, 1],
            "nearest",
            description=f"3x3 arange(9), box {box}, crop 1x1 nearest",
        )
    s.crop(
        a9,
        [[-1, -1, 2, 2], [-1, 0, 1.5, 1], [1, 1, 0, 0]],
        [0, 0, 0],
        [1, 1],
        description="the three 1x1 centre boxes together",
    )

    big = np.array([2**53 + 1, 2**53, 3, 2**62 + 2**40], np.int64).reshape(1, 2, 2, 1)
    for m in ("bilinear", "nearest"):
        s.crop(
            big,
            full,
            [0],
            [2, 2],
            m,
            tag=f"spec-int64-{m}",
            description=f"spec §3: int64 pixels, 2**53+1 -> 2**53 in float32 ({m})",
        )

    # Non-finite pixels.
    infimg = np.array([[np.inf, 1], [2, 3]], np.float32).reshape(1, 2, 2, 1)
    for m in ("bilinear", "nearest"):
        s.crop(
            infimg,
            [[0, 0, 0, 0]],
            [0],
            [1, 1],
            m,
            tag=f"spec-inf-00-{m}",
            description=f"spec §3: [[inf,1],[2,3]] sampled at (0,0), {m} "
            "(bilinear: inf + (1 - inf) * 0 = NaN)",
        )
        s.crop(
            infimg,
            full,
            [0],
            [3, 3],
            m,
            description=f"[[inf,1],[2,3]], box [0,0,1,1], crop 3x3, {m}",
        )
    nanimg = arange_image((1, 4, 4, 2))
    nanimg[0, 1, 2, 0] = np.nan
    nanimg[0, 2, 1, 1] = -np.inf
    nanimg[0, 3, 3, 0] = np.inf
    for m in ("bilinear", "nearest"):
        s.crop(
            nanimg,
            [[0, 0, 1, 1], [0.2, 0.1, 0.9, 0.8]],
            [0, 0],
            [5, 7],
            m,
            description=f"4x4x2 with NaN, -inf, inf pixels, {m}: propagation pattern",
        )
    negz = np.array([[-0.0, -0.0], [-0.0, 1.0]], np.float32).reshape(1, 2, 2, 1)
    for m in ("bilinear", "nearest"):
        s.crop(
            negz,
            [[0, 0, 1, 1], [0, 0, 0, 0]],
            [0, 0],
            [3, 3],
            m,
            description=f"-0.0 pixels, {m}: sign of zero (lerp of -0 and -0 at t=0 is +0)",
        )
    s.crop(
        np.array([[-1, 1], [1, -1]], np.float32).reshape(1, 2, 2, 1),
        full,
        [0],
        [3, 3],
        description="lerp giving exact zeros (centre sample of [[-1,1],[1,-1]])",
    )

    # 1x1 images and 1-pixel axes.
    one = np.array([7.5, -2], np.float32).reshape(1, 1, 1, 2)
    boxes1 = [[0, 0, 1, 1], [-3, 2, 5, -1], [0.3, 0.3, 0.3, 0.3], [5, 5, 6, 6], [1, 1, 0, 0]]
    for m in ("bilinear", "nearest"):
        s.crop(
            one,
            boxes1,
            [0] * 5,
            [3, 2],
            m,
            -1.0,
            description=f"1x1 image: every box returns its pixel, never extrapolates ({m})",
        )
    col = normal_image(rng, (2, 6, 1, 3))
    row = normal_image(rng, (2, 1, 6, 3))
    boxes_w = [[0, -1, 1, 2], [-0.5, 0, 1.5, 1], [0.2, 3, 0.8, 4], [1, 0, 0, 1]]
    for m in ("bilinear", "nearest"):
        s.crop(
            col,
            boxes_w,
            [0, 1, 1, 0],
            [4, 3],
            m,
            5.0,
            description=f"W == 1 image: x never extrapolates; y does ({m})",
        )
        s.crop(
            row,
            boxes_w,
            [0, 1, 1, 0],
            [3, 4],
            m,
            5.0,
            description=f"H == 1 image: y never extrapolates; x does ({m})",
        )

    img = normal_image(rng, (1, 7, 9, 2))
    boxes = [[0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9], [-0.2, 0.5, 1.3, 0.5]]
    for m in ("bilinear", "nearest"):
        s.crop(img, boxes, [0, 0, 0], [1, 6], m, description=f"crop height 1 only ({m})")
        s.crop(img, boxes, [0, 0, 0], [6, 1], m, description=f"crop width 1 only ({m})")
        s.crop(img, boxes, [0, 0, 0], [1, 1], m, description=f"crop 1x1 ({m})")

    # Integer-coordinate samples.
    img55 = normal_image(rng, (1, 5, 5, 3))
    for m in ("bilinear", "nearest"):
        s.crop(
            img55,
            full,
            [0],
            [5, 5],
            m,
            description=f"5x5, box [0,0,1,1], crop 5x5: exact pixel copy ({m})",
        )
        s.crop(
            img55,
            [[0.25, 0.25, 0.75, 0.75], [0, 0, 1, 1]],
            [0, 0],
            [3, 3],
            m,
            description=f"samples exactly on pixels 0,2,4 / 1,2,3 ({m})",
        )
        s.crop(
            img55,
            [[0, 0, 1, 1], [-0.0, -0.0, 1, 1], [-1e-8, 0, 1, 1e-8 + 1]],
            [0, 0, 0],
            [2, 2],
            m,
            -3.0,
            description=f"boundary: -0.0 is inside, -1e-8 and 1+1e-8 are outside ({m})",
        )
        s.crop(
            img55,
            [[0, 0, 1.0000001, 0.9999999]],
            [0],
            [5, 5],
            m,
            -3.0,
            description=f"coordinates one ulp past the last pixel ({m})",
        )

    # extrapolation values.
    img = normal_image(rng, (1, 4, 5, 2))
    boxes = [[-0.5, -0.5, 1.5, 1.5], [1.2, -2, 3, -1]]
    for ev in (-1.0, 3.5, 0.1, 1e30, 1e40, float("nan"), float("inf"), float("-inf"), -0.0):
        for m in ("bilinear", "nearest"):
            s.crop(
                img,
                boxes,
                [0, 0],
                [4, 4],
                m,
                ev,
                description=f"extrapolation_value {ev!r} ({m}); stored as float32 by TF",
            )

    # zero boxes, D = 0, B = 0.
    img = normal_image(rng, (2, 3, 4, 2))
    for m in ("bilinear", "nearest"):
        s.crop(
            img,
            np.zeros((0, 4)),
            np.zeros(0),
            [3, 2],
            m,
            description=f"zero boxes: output shape (0, 3, 2, 2) ({m})",
        )
    s.crop(
        img,
        np.zeros((0, 3)),
        np.zeros(0),
        [3, 2],
        description="zero boxes with 3 columns: no column check when both are empty",
    )
    s.crop(
        np.zeros((0, 3, 4, 2), np.float32),
        np.zeros((0, 4)),
        np.zeros(0),
        [2, 2],
        description="B = 0 image with zero boxes",
    )
    s.crop(
        np.zeros((2, 3, 4, 0), np.float32),
        [[0, 0, 1, 1], [0.5, 0, 1, 2]],
        [1, 0],
        [2, 5],
        description="D = 0: output shape (2, 2, 5, 0)",
    )
    s.crop(
        np.zeros((1, 3, 4, 0), np.uint8),
        np.zeros((0, 4)),
        np.zeros(0),
        [2, 2],
        "nearest",
        description="zero boxes and D = 0, uint8",
    )

    # batch handling.
    img = normal_image(rng, (4, 6, 5, 3))
    s.crop(img, [[0.1, 0.1, 0.9, 0.8]], [2], [4, 4], description="B = 4, only image 2 used")
    for m in ("bilinear", "nearest"):
        s.crop(
            img,
            [
                [0, 0, 1, 1],
                [0.2, 0.3, 0.6, 0.7],
                [-0.1, 0.4, 1.1, 0.2],
                [0.5, 0.5, 0.5, 0.5],
                [0, 0, 1, 1],
            ],
            [3, 1, 3, 0, 3],
            [5, 4],
            m,
            description=f"several boxes per image, unsorted indices, same box twice ({m})",
        )
    s.crop(
        img,
        [[0.2, 0.3, 0.6, 0.7]] * 3,
        [1, 1, 1],
        [3, 3],
        description="the same box three times on the same image",
    )

    # degenerate boxes, tiny and huge crops.
    img = normal_image(rng, (1, 8, 8, 1))
    for m in ("bilinear", "nearest"):
        s.crop(
            img,
            [[0.4, 0.1, 0.4, 0.9], [0.1, 0.6, 0.9, 0.6], [0.3, 0.3, 0.3, 0.3]],
            [0, 0, 0],
            [4, 5],
            m,
            description=f"degenerate boxes y1 == y2, x1 == x2, both ({m})",
        )
        s.crop(
            img,
            [[0.5, 0.5, 0.5 + 1e-6, 0.5 + 1e-6]],
            [0],
            [7, 7],
            m,
            description=f"tiny box 1e-6 wide, crop 7x7 ({m})",
        )
    s.crop(img, [[0, 0, 1, 1]], [0], [100, 3], description="crop 100x3 of an 8x8 image")

    # Subnormals: TF's CPU kernel runs with FTZ/DAZ (denormals flushed to zero).
    sub = np.array([[2.8e-45, 0.0], [1e-38, 3e-38]], np.float32).reshape(1, 2, 2, 1)
    for m in ("bilinear", "nearest"):
        s.crop(
            sub,
            full,
            [0],
            [3, 3],
            m,
            tag=f"ftz-pixels-{m}",
            description=f"float32 subnormal pixels, {m}: bilinear arithmetic flushes them "
            "to 0 (DAZ/FTZ), nearest copies them unchanged",
        )
    row = np.array([1.2e-38, 1.18e-38, -1.2e-38], np.float32).reshape(1, 1, 3, 1)
    s.crop(
        row,
        [[0, 0, 0, 1]],
        [0],
        [1, 9],
        tag="ftz-lerp",
        description="bilinear between tiny normal pixels: subnormal differences and "
        "results are flushed to 0",
    )
    d = np.array([2.5e-45, 1e-39, 1.2e-38, -3e-39, 7e-46, -1e-50], np.float64)
    for m in ("bilinear", "nearest"):
        s.crop(
            d.reshape(1, 1, 6, 1),
            full,
            [0],
            [1, 6],
            m,
            tag=f"ftz-float64-{m}",
            description=f"float64 pixels that are float32 subnormals: the conversion "
            f"flushes them to (signed) 0, {m}",
        )
    a9 = arange_image((1, 3, 3, 1))
    for y1 in (-1e-40, -1e-45, -1.1e-38):
        s.crop(
            a9,
            [[y1, y1, 1, 1]],
            [0],
            [3, 3],
            "bilinear",
            -5.0,
            tag=f"ftz-box-{y1:g}",
            description=f"box y1 = x1 = {y1:g} (float32 subnormal): read as -0, so the "
            "first row/column is inside, not extrapolated",
        )
    col = np.array([0.0, 3e38], np.float32).reshape(1, 2, 1, 1)
    s.crop(
        col,
        [[0, 0, 1e-39, 0]],
        [0],
        [2, 1],
        tag="ftz-box-height",
        description="image rows [0, 3e38], box y2 = 1e-39 (subnormal): second sample "
        "is exactly 0 under DAZ (IEEE would give 0.3)",
    )
    s.crop(
        col,
        [[0, 0, 1.2e-38, 0]],
        [0],
        [1, 1],
        tag="ftz-centre",
        description="image rows [0, 3e38], crop height 1, box y2 = 1.2e-38: the centre "
        "0.5 * 1.2e-38 is a float32 subnormal, flushed to 0 by the float64 -> float32 "
        "conversion (IEEE would give 1.8)",
    )
    s.crop(
        a9,
        [[-1, -1, -1, -1]],
        [0],
        [1, 2],
        "bilinear",
        1e-40,
        tag="ftz-extrapolation",
        description="subnormal extrapolation_value 1e-40 is copied unchanged",
    )
    return s


# ======================================================================================
# crop_random


def _crop_size(rng) -> int:
    u = rng.random()
    if u < 0.2:
        return int(rng.integers(1, 4))
    if u < 0.7:
        return int(rng.integers(1, 17))
    if u < 0.97:
        return int(rng.integers(17, 65))
    return int(rng.integers(65, 101))


def _sorted_pair(rng, lo, hi):
    a, b = rng.uniform(lo, hi, 2)
    return (a, b) if a <= b else (b, a)


def build_crop_random() -> Suite:
    s = Suite("crop_random", seed=2002)
    rng = s.rng
    budget = 3000  # output elements per case

    def image_for(kind):
        if kind == "onepixel":
            H, W = [(1, 1), (1, int(rng.integers(2, 30))), (int(rng.integers(2, 30)), 1)][
                int(rng.integers(3))
            ]
        else:
            H, W = int(rng.integers(2, 41)), int(rng.integers(2, 41))
            if rng.random() < 0.3:
                H, W = int(rng.integers(2, 9)), int(rng.integers(2, 9))
        D = int(rng.integers(8, 17)) if kind == "channels" else int(rng.integers(1, 4))
        B = int(rng.integers(1, 4))
        B = max(1, min(B, 2400 // (H * W * D)))
        if kind == "uint8":
            return rng.integers(0, 256, (B, H, W, D)).astype(np.uint8)
        scale = [1.0, 1.0, 1000.0, 1e-3][int(rng.integers(4))]
        img = normal_image(rng, (B, H, W, D), scale)
        if rng.random() < 0.2:
            img += f32(rng.uniform(-50, 50))
        return img

    def boxes_for(kind, n):
        out = []
        for _ in range(n):
            if kind in ("inside", "uint8", "channels", "big"):
                (y1, y2), (x1, x2) = _sorted_pair(rng, 0, 1), _sorted_pair(rng, 0, 1)
            elif kind in ("outside", "onepixel"):
                (y1, y2), (x1, x2) = _sorted_pair(rng, -2, 3), _sorted_pair(rng, -2, 3)
            elif kind == "flipped":
                (y2, y1), (x2, x1) = _sorted_pair(rng, -0.5, 1.5), _sorted_pair(rng, -0.5, 1.5)
                r = rng.random()
                if r < 0.33:
                    y1, y2 = y2, y1
                elif r < 0.66:
                    x1, x2 = x2, x1
            elif kind == "degenerate":
                y1, y2 = _sorted_pair(rng, -0.5, 1.5)
                x1, x2 = _sorted_pair(rng, -0.5, 1.5)
                r = rng.random()
                pick = [0.0, 1.0, float(rng.uniform(-0.5, 1.5))][int(rng.integers(3))]
                if r < 0.4:
                    y1 = y2 = pick
                elif r < 0.8:
                    x1 = x2 = pick
                else:
                    y1 = y2 = pick
                    x1 = x2 = float(rng.uniform(0, 1))
            elif kind == "grid":  # coordinates on a 1/8 grid: integer and .5 samples
                y1, y2, x1, x2 = (rng.integers(-4, 13, 4) / 8.0).tolist()
            else:
                raise ValueError(kind)
            out.append([y1, x1, y2, x2])
        return np.asarray(out, np.float32)

    plan = [
        ("inside", 100),
        ("outside", 70),
        ("flipped", 40),
        ("degenerate", 40),
        ("onepixel", 40),
        ("channels", 30),
        ("grid", 40),
        ("uint8", 20),
        ("big", 10),
    ]
    for kind, count in plan:
        for i in range(count):
            method = "bilinear" if i % 2 == 0 else "nearest"
            image = image_for(kind)
            B, D = image.shape[0], image.shape[3]
            if kind == "big":
                ch, cw = int(rng.integers(65, 101)), int(rng.integers(1, 30))
                if i % 4 >= 2:
                    ch, cw = cw, ch
            else:
                ch, cw = _crop_size(rng), _crop_size(rng)
            n = int(rng.integers(1, 6))
            n = max(1, min(n, budget // (ch * cw * D)))
            boxes = boxes_for(kind, n)
            idx = rng.integers(0, B, n)
            ev = [0.0, 0.0, -1.0, float(f32(rng.standard_normal()))][int(rng.integers(4))]
            s.crop(
                image,
                boxes,
                idx,
                [ch, cw],
                method,
                ev,
                description=f"random {kind}: {image.dtype} image {list(image.shape)}, "
                f"{n} boxes, crop {ch}x{cw}, {method}, extrapolation {ev!r}",
            )
    return s


# ======================================================================================
# crop_dtypes


def build_crop_dtypes() -> Suite:
    s = Suite("crop_dtypes", seed=3003)
    rng = s.rng
    ints = [np.uint8, np.uint16, np.int8, np.int16, np.int32, np.int64]
    extremes: dict[type, list] = {}
    for dt in ints:
        info = np.iinfo(dt)
        lo, hi = int(info.min), int(info.max)
        extremes[dt] = [lo, hi, lo + 1, hi - 1, 0, 1, hi // 2, lo // 2, (hi // 3) | 1]
    extremes[np.int32] += [2**24 + 1, 2**24 + 3, -(2**24) - 1, 2**31 - 65, 2**31 - 129]
    extremes[np.int64] += [
        2**53 + 1,
        2**53 - 1,
        2**54 + 3,
        2**62,
        2**62 + 2**38 + 1,
        -(2**62) - 1,
        2**63 - 2**39,
        2**63 - 2**39 - 1,
        2**24 + 1,
    ]
    extremes[np.float16] = [
        65504.0,
        -65504.0,
        6e-08,
        -6e-08,
        6.1e-05,
        0.0,
        -0.0,
        1.0,
        0.1,
        1e4 / 3,
        float("inf"),
        float("-inf"),
        float("nan"),
        2048.0,
        2049.0,
        0.333,
    ]
    extremes[np.float32] = [
        3.4028235e38,
        -3.4028235e38,
        1e-45,
        -1e-45,
        1.1754944e-38,
        0.0,
        -0.0,
        1.0,
        0.1,
        16777217.0,
        float("inf"),
        float("-inf"),
        float("nan"),
        1e38,
        -1e38,
    ]
    extremes[np.float64] = [
        0.1,
        1 / 3,
        1 + 2**-24,
        1 + 3 * 2**-25,
        1 + 2**-23 + 2**-60,
        1e300,
        -1e300,
        1e-50,
        -1e-50,
        3.4028235677973366e38,
        3.40282357e38,
        np.finfo(np.float64).max,
        2.5e-45,
        7e-46,
        16777217.0,
        2**53 + 1.0,
        -0.0,
        float("nan"),
        1e-320,
    ]
    all_dtypes = [*ints, np.float16, np.float32, np.float64]

    def random_image(dt, shape):
        if dt in ints:
            info = np.iinfo(dt)
            return rng.integers(info.min, info.max, shape, dtype=dt, endpoint=True)
        if dt is np.float16:
            return (rng.standard_normal(shape) * 5000).astype(np.float16)
        if dt is np.float32:
            return (rng.standard_normal(shape) * 1e20).astype(np.float32)
        return rng.standard_normal(shape) * 10.0 ** rng.integers(-40, 40, shape)

    for dt in all_dtypes:
        name = np.dtype(dt).name
        img = random_image(dt, (2, 5, 6, 2))
        boxes = [[0, 0, 1, 1], [0.1, 0.3, 0.8, 0.7], [-0.5, 0.2, 1.5, 0.6], [1, 1, 0.2, 0.1]]
        for m in ("bilinear", "nearest"):
            s.crop(
                img,
                boxes,
                [0, 1, 1, 0],
                [4, 5],
                m,
                description=f"{name}: random full-range image, {m}",
            )
        vals = np.asarray(extremes[dt], dtype=object)
        n = len(vals)
        W = 4
        H = -(-n // W)
        flat = np.resize(vals, H * W)  # repeat to fill the grid
        ext = np.asarray(flat.tolist(), dtype=dt).reshape(1, H, W, 1)
        for m in ("bilinear", "nearest"):
            s.crop(
                ext,
                [[0, 0, 1, 1]],
                [0],
                [H, W],
                m,
                description=f"{name}: extreme values, crop == image size (pure conversion "
                f"to float32), {m}",
            )
        s.crop(
            ext,
            [[0, 0, 1, 1], [0.1, 0.05, 0.95, 0.9]],
            [0, 0],
            [2 * H - 1, 2 * W + 1],
            "bilinear",
            description=f"{name}: extreme values blended (bilinear, half-pixel "
            "and off-grid samples; may overflow to inf/NaN)",
        )
        s.crop(
            ext,
            [[0.1, 0.05, 0.95, 0.9]],
            [0],
            [2 * H - 1, 2 * W + 1],
            "nearest",
            description=f"{name}: extreme values, nearest on an off-grid box",
        )
    # one larger uint8 "photo-like" case
    img = rng.integers(0, 256, (1, 48, 64, 3), dtype=np.uint8)
    s.crop(
        img,
        [[0.1, 0.1, 0.9, 0.9], [0, 0, 1, 1]],
        [0, 0],
        [24, 32],
        "bilinear",
        description="uint8 48x64x3 image, two boxes, crop 24x32 (larger than usual)",
    )
    return s


# ======================================================================================
# crop_v1


def build_crop_v1() -> Suite:
    s = Suite("crop_v1", seed=4004)
    rng = s.rng
    img = normal_image(rng, (2, 5, 6, 2))
    boxes = [[0, 0, 1, 1], [0.2, -0.3, 0.9, 1.4], [1, 1, 0, 0]]
    idx = [1, 0, 1]
    for kw in ("box_ind", "box_indices", "positional"):
        for m in ("bilinear", "nearest"):
            s.crop(
                img,
                boxes,
                idx,
                [4, 3],
                m,
                -2.0,
                api="v1",
                index_kwarg=kw,
                description=f"tf.compat.v1.image.crop_and_resize, indices via {kw}, {m}",
            )
    s.crop(
        arange_image((1, 2, 2, 1), np.uint8, 1),
        [[0, 0, 1, 1]],
        [0],
        [3, 3],
        api="v1",
        index_kwarg="box_ind",
        description="v1, uint8 2x2 [[1,2],[3,4]], crop 3x3",
    )
    s.crop(
        img,
        boxes,
        idx,
        [4, 3],
        api="v1",
        index_kwarg="both",
        expect="error",
        description="v1 with both box_ind= and box_indices=: Python ValueError",
    )
    s.crop(
        img,
        boxes,
        [2, 0, 1],
        [4, 3],
        api="v1",
        index_kwarg="box_ind",
        expect="error",
        description="v1, box_ind out of range",
    )
    return s


# ======================================================================================
# crop_errors


def build_crop_errors() -> Suite:
    s = Suite("crop_errors", seed=5005)
    rng = s.rng
    img = normal_image(rng, (2, 4, 5, 2))
    box = [[0, 0, 1, 1]]
    e = {"expect": "error"}
    s.crop(img[0], box, [0], [2, 2], description="image rank 3", **e)
    s.crop(img[None], box, [0], [2, 2], description="image rank 5", **e)
    s.crop(img[0, 0, 0], box, [0], [2, 2], description="image rank 1", **e)
    s.crop(img[0], box, [0], [0, 2], description="image rank 3 and crop size 0: rank wins", **e)
    s.crop(np.zeros((1, 0, 5, 2), np.float32), box, [0], [2, 2], description="H = 0", **e)
    s.crop(np.zeros((1, 4, 0, 2), np.float32), box, [0], [2, 2], description="W = 0", **e)
    s.crop(
        np.zeros((1, 0, 0, 2), np.float32),
        np.zeros((0, 4)),
        np.zeros(0),
        [2, 2],
        description="H = W = 0 with zero boxes",
        **e,
    )
    s.crop(
        np.zeros((1, 0, 5, 2), np.float32),
        [0, 0, 1, 1],
        [0],
        [2, 2],
        description="H = 0 and boxes rank 1: image check wins",
        **e,
    )
    s.crop(img, [0, 0, 1, 1], [0], [2, 2], description="boxes rank 1", **e)
    s.crop(img, [[[0, 0, 1, 1]]], [0], [2, 2], description="boxes rank 3", **e)
    s.crop(img, box, [[0]], [2, 2], description="box_indices rank 2", **e)
    s.crop(img, box, 0, [2, 2], description="box_indices rank 0", **e)
    s.crop(img, [[0, 0, 1]], [0], [2, 2], description="boxes with 3 columns", **e)
    s.crop(img, [[0, 0, 1, 1, 0]], [0], [2, 2], description="boxes with 5 columns", **e)
    s.crop(img, [[0, 0, 1, 1]] * 2, [0], [2, 2], description="2 boxes, 1 index", **e)
    s.crop(img, box, [0, 1], [2, 2], description="1 box, 2 indices", **e)
    s.crop(img, np.zeros((0, 4)), [0], [2, 2], description="0 boxes, 1 index", **e)
    s.crop(img, [[0, 0, 1, 1]] * 2, np.zeros(0), [2, 2], description="2 boxes, 0 indices", **e)
    s.crop(img, box, [0], [2, 2, 2], description="crop_size with 3 elements", **e)
    s.crop(img, box, [0], [2], description="crop_size with 1 element", **e)
    s.crop(img, box, [0], [0, 2], description="crop height 0", **e)
    s.crop(img, box, [0], [2, 0], description="crop width 0", **e)
    s.crop(img, box, [0], [-1, 2], description="crop height negative", **e)
    s.crop(img, box, [0], [3, -2], description="crop width negative", **e)
    s.crop(
        img,
        np.zeros((0, 4)),
        np.zeros(0),
        [0, 2],
        description="crop height 0 with zero boxes: still an error",
        **e,
    )
    s.crop(img, [[0, 0, 1, 1]] * 2, [0, 2], [2, 2], description="box index == B", **e)
    s.crop(img, box, [-1], [2, 2], description="box index negative", **e)
    s.crop(img, box, [2**31 - 1], [2, 2], description="box index int32 max", **e)
    s.crop(
        np.zeros((0, 4, 5, 2), np.float32),
        box,
        [0],
        [2, 2],
        description="B = 0 with one box: index out of range",
        **e,
    )
    s.crop(img, [[0, 0, np.nan, 1]], [0], [2, 2], description="NaN box coordinate", **e)
    s.crop(img, [[0, np.inf, 1, 1]], [0], [2, 2], description="inf box coordinate", **e)
    s.crop(img, [[0, 0, 1, -np.inf]], [0], [2, 2], description="-inf box coordinate", **e)
    s.crop(
        img,
        [[0, 0, 1, 1], [np.nan, 0, 1, 1]],
        [0, 5],
        [2, 2],
        description="box index out of range AND a NaN box: the index error wins",
        **e,
    )
    s.crop(
        img,
        [[np.nan, 0, 1, 1]],
        [0],
        [0, 2],
        description="NaN box and crop size 0: the crop size error wins",
        **e,
    )
    for method in ("bicubic", "Bilinear", "area", ""):
        s.crop(img, box, [0], [2, 2], method, description=f"bad method {method!r}", **e)
    for dt in (np.bool_, np.complex64, np.complex128, np.uint32, np.uint64):
        s.crop(
            np.ones((1, 3, 3, 1), dt),
            box,
            [0],
            [2, 2],
            description=f"unsupported image dtype {np.dtype(dt).name}",
            **e,
        )
    return s


# ======================================================================================
# glimpse


def _glimpse_offsets(rng, B, H, W, h, w, centered, normalized):
    """Offsets mixing continuous values, exact grid values (ties) and far-outside values."""
    out = np.empty((B, 2), np.float32)
    for b in range(B):
        for axis, (n, k) in enumerate(((H, h), (W, w))):
            r = rng.random()
            if normalized:
                if r < 0.4:
                    v = rng.uniform(-1.5, 1.5)
                else:  # multiples of 1/(2n) or 1/(4n): start lands on .0/.5/.25 values
                    den = 2 * n if r < 0.8 else 4 * n
                    v = rng.integers(-3 * n, 3 * n + 1) / den
            else:
                lo, hi = (-n - 2, n + 2) if centered else (-k - 2, n + 2)
                # continuous, or on a quarter-pixel grid (ties, negative halves)
                v = rng.uniform(lo, hi) if r < 0.4 else rng.integers(4 * lo, 4 * hi + 1) / 4.0
            out[b, axis] = v
    return out


def _random_glimpse_cases(s: Suite, api: str, count_per_combo: int) -> None:
    rng = s.rng
    for centered in (True, False):
        for normalized in (True, False):
            for _ in range(count_per_combo):
                B = int(rng.integers(1, 5))
                H, W = int(rng.integers(1, 13)), int(rng.integers(1, 13))
                D = int(rng.integers(1, 6))
                r = rng.random()
                if r < 0.08:
                    h, w = 1, 1
                elif r < 0.14:
                    h, w = (
                        (0, int(rng.integers(1, 6)))
                        if rng.random() < 0.5
                        else (int(rng.integers(1, 6)), 0)
                    )
                elif r < 0.3:  # larger than the image
                    h, w = H + int(rng.integers(1, 6)), W + int(rng.integers(1, 6))
                else:
                    h, w = int(rng.integers(1, H + 3)), int(rng.integers(1, W + 3))
                inp = normal_image(rng, (B, H, W, D))
                off = _glimpse_offsets(rng, B, H, W, h, w, centered, normalized)
                kw = (
                    {"noise": "zero"} if api == "v2" else {"uniform_noise": False, "noise": "zero"}
                )
                s.glimpse(
                    inp,
                    [h, w],
                    off,
                    centered=centered,
                    normalized=normalized,
                    api=api,
                    description=f"random: input {[B, H, W, D]}, size {h}x{w}, "
                    f"centered={centered}, normalized={normalized}",
                    **kw,
                )


def build_glimpse_v2() -> Suite:
    s = Suite("glimpse_v2", seed=6006)
    rng = s.rng
    a25 = arange_image((1, 5, 5, 1))
    z = {"noise": "zero"}
    s.glimpse(
        a25,
        [3, 3],
        [[0, 0]],
        centered=False,
        normalized=False,
        tag="spec-g-00-nn",
        description="spec §3: 5x5 arange, size 3, offset (0,0), not centered, not "
        "normalized -> [[0,1,2],[5,6,7],[10,11,12]]",
        **z,
    )
    s.glimpse(
        a25,
        [3, 3],
        [[-1, -1]],
        centered=True,
        normalized=True,
        tag="spec-g-m1-cn",
        description="spec §3: normalized+centered, size 3, offset (-1,-1) -> "
        "[[0,0,0],[0,0,1],[0,5,6]]",
        **z,
    )
    s.glimpse(
        a25,
        [3, 3],
        [[1, 1]],
        centered=True,
        normalized=True,
        tag="spec-g-p1-cn",
        description="spec §3: normalized+centered, size 3, offset (1,1) -> "
        "[[18,19,0],[23,24,0],[0,0,0]]",
        **z,
    )
    s.glimpse(
        a25,
        [3, 3],
        [[-0.9, -1.5]],
        centered=False,
        normalized=False,
        tag="spec-g-trunc-nn",
        description="spec §3: offset (-0.9,-1.5), not centered, not normalized -> "
        "[[0,0,1],[0,5,6],[0,10,11]] (truncation toward zero)",
        **z,
    )
    a9 = arange_image((1, 3, 3, 1))
    s.glimpse(
        a9,
        [2, 2],
        [[1, 1]],
        centered=False,
        normalized=False,
        tag="spec-g-seed",
        description="spec §2.2: 3x3 arange, size 2, offset (1,1), neither -> [[4,5],[7,8]]",
        **z,
    )
    for c in (True, False):
        for n in (True, False):
            s.glimpse(
                a25,
                [3, 3],
                [[0, 0]],
                centered=c,
                normalized=n,
                description=f"5x5 arange, size 3, offset (0,0), centered={c}, normalized={n}",
                **z,
            )
            s.glimpse(
                a25,
                [2, 4],
                [[0.5, -0.5]],
                centered=c,
                normalized=n,
                description=f"5x5 arange, size 2x4, offset (0.5,-0.5), centered={c}, "
                f"normalized={n}",
                **z,
            )
    # non-finite and huge offsets: window entirely outside.
    img = arange_image((3, 4, 4, 2), start=1)
    for c, n in ((True, True), (False, False)):
        s.glimpse(
            img,
            [3, 3],
            [[np.nan, 0], [0, np.inf], [-np.inf, 1e20]],
            centered=c,
            normalized=n,
            description=f"NaN / inf / 1e20 offsets: all fill (centered={c}, normalized={n})",
            **z,
        )
        s.glimpse(
            img,
            [3, 3],
            [[9.3e18, 0], [-9.3e18, 0], [4e9, -4e9]],
            centered=c,
            normalized=n,
            description=f"offsets near +-2**63 and +-4e9: all fill (centered={c}, normalized={n})",
            **z,
        )
    # empty things.
    s.glimpse(
        normal_image(rng, (2, 4, 4, 3)),
        [0, 0],
        [[0, 0], [0, 0]],
        centered=True,
        normalized=True,
        description="size 0x0: empty output",
        **z,
    )
    s.glimpse(
        normal_image(rng, (2, 4, 4, 0)),
        [3, 2],
        [[0, 0], [0.5, 0.5]],
        centered=True,
        normalized=True,
        description="D = 0: empty output",
        **z,
    )
    s.glimpse(
        np.zeros((0, 4, 4, 2), np.float32),
        [3, 2],
        np.zeros((0, 2)),
        centered=True,
        normalized=True,
        description="B = 0: empty output",
        **z,
    )
    s.glimpse(
        np.zeros((2, 0, 4, 2), np.float32),
        [3, 2],
        [[0, 0], [1, 1]],
        centered=True,
        normalized=True,
        description="H = 0 input: TF does not check, all fill",
        **z,
    )
    s.glimpse(
        np.zeros((1, 3, 0, 2), np.float32),
        [2, 2],
        [[0, 0]],
        centered=False,
        normalized=False,
        description="W = 0 input: TF does not check, all fill",
        **z,
    )
    s.glimpse(
        arange_image((2, 5, 6, 3)),
        [3, 4],
        [[0, 0], [0.1, -0.1]],
        centered=True,
        normalized=True,
        noise="",
        description="noise '' is accepted by V2 (means gaussian); window fully inside",
    )
    g = np.array([1e-40, -1e-45, 1.2e-38, -0.0], np.float32).reshape(1, 2, 2, 1)
    s.glimpse(
        g,
        [3, 3],
        [[0, 0]],
        centered=False,
        normalized=False,
        description="subnormal and -0.0 pixels are copied unchanged (no FTZ in the copy)",
        **z,
    )
    # ties: centered normalized with odd image / even window (start at .5 values).
    img = arange_image((1, 5, 7, 1), start=1)
    for off in ([0, 0], [0.2, 1 / 7], [-0.2, -1 / 7], [0.6, 3 / 7], [-0.6, -3 / 7]):
        s.glimpse(
            img,
            [2, 4],
            [off],
            centered=True,
            normalized=True,
            description=f"5x7 image, window 2x4, offset {off}: .5 window starts",
            **z,
        )
    for off in ([-0.5, -0.5], [-1.5, -2.5], [0.5, 1.5], [-1.0, -0.99999994], [3.5, 6.5]):
        s.glimpse(
            img,
            [3, 3],
            [off],
            centered=False,
            normalized=False,
            description=f"pixel offset {off}: trunc toward zero",
            **z,
        )
    _random_glimpse_cases(s, "v2", 40)
    return s


def build_glimpse_v1() -> Suite:
    s = Suite("glimpse_v1", seed=7007)
    rng = s.rng
    a25 = arange_image((1, 5, 5, 1))
    z = {"api": "v1", "uniform_noise": False, "noise": "zero"}
    s.glimpse(
        a25,
        [3, 3],
        [[0, 0]],
        centered=True,
        normalized=False,
        tag="spec-g-v1",
        description="spec §3: V1 (raw ExtractGlimpse, noise zero), size 3, centered, "
        "not normalized, offset (0,0) -> [[6,7,8],[11,12,13],[16,17,18]]",
        **z,
    )
    s.glimpse(
        a25,
        [3, 3],
        [[0, 0]],
        centered=True,
        normalized=False,
        api="v1",
        uniform_noise=False,
        noise=None,
        tag="spec-g-v1-wrapper",
        description="same through tf.compat.v1.image.extract_glimpse(uniform_noise="
        "False); window fully inside so the fill does not matter",
    )
    for c in (True, False):
        for n in (True, False):
            s.glimpse(
                a25,
                [3, 3],
                [[0, 0]],
                centered=c,
                normalized=n,
                description=f"V1 5x5 arange, size 3, offset (0,0), centered={c}, normalized={n}",
                **z,
            )
            s.glimpse(
                a25,
                [2, 4],
                [[0.5, -0.5]],
                centered=c,
                normalized=n,
                description=f"V1 5x5 arange, size 2x4, offset (0.5,-0.5), centered={c}, "
                f"normalized={n}",
                **z,
            )
            s.glimpse(
                a25,
                [4, 3],
                [[-0.7, 1.5]],
                centered=c,
                normalized=n,
                description=f"V1 5x5 arange, size 4x3, offset (-0.7,1.5), centered={c}, "
                f"normalized={n}",
                **z,
            )
    img = arange_image((2, 6, 7, 2), start=1)
    inside = [  # (centered, normalized, offsets) with windows fully inside
        (True, False, [[0, 0], [1, -1]]),
        (True, True, [[0.1, -0.2], [0, 0]]),
        (False, False, [[2.5, 2], [3, 4.5]]),
        (False, True, [[0.5, 0.5], [0.6, 0.7]]),
    ]
    for c, n, off in inside:
        for un in (False, True):
            s.glimpse(
                img,
                [3, 2],
                off,
                centered=c,
                normalized=n,
                api="v1",
                uniform_noise=un,
                noise=None,
                description=f"tf.compat.v1.image.extract_glimpse(uniform_noise={un}), "
                f"centered={c}, normalized={n}, window fully inside (no fill)",
            )
    img = arange_image((3, 4, 4, 2), start=1)
    s.glimpse(
        img,
        [3, 3],
        [[np.nan, 0], [0, np.inf], [-np.inf, 1e20]],
        centered=True,
        normalized=True,
        description="V1: NaN / inf / 1e20 offsets: all fill",
        **z,
    )
    s.glimpse(
        normal_image(rng, (2, 4, 4, 3)),
        [0, 3],
        [[0, 0], [0, 0]],
        centered=True,
        normalized=True,
        description="V1: size 0x3: empty output",
        **z,
    )
    _random_glimpse_cases(s, "v1", 25)
    return s


def build_glimpse_fill() -> Suite:
    s = Suite("glimpse_fill", seed=8008)
    rng = s.rng

    def ranged(B, H, W, D):
        base = rng.uniform(0, 1, (B, H, W, D))
        for d in range(D):
            base[..., d] = 100.0 * d + 10.0 * base[..., d] + 5.0 * np.arange(B).reshape(B, 1, 1)
        return base.astype(np.float32)

    fs = {"expect": "fill_stats"}
    for noise in ("uniform", "gaussian"):
        for i in range(8):
            B, D = int(rng.integers(1, 4)), int(rng.integers(1, 5))
            H, W = int(rng.integers(2, 7)), int(rng.integers(2, 7))
            h, w = int(rng.integers(H + 4, 20)), int(rng.integers(W + 4, 20))
            c, n = bool(i % 2 == 0), bool(i % 4 < 2)
            off = _glimpse_offsets(rng, B, H, W, h, w, c, n)
            s.glimpse(
                ranged(B, H, W, D),
                [h, w],
                off,
                centered=c,
                normalized=n,
                noise=noise,
                description=f"V2 noise {noise!r}: input {[B, H, W, D]} with channel d in "
                f"[100d, 100d+10] (+5b), glimpse {h}x{w} mostly fill",
                **fs,
            )
        s.glimpse(
            ranged(2, 3, 3, 3),
            [16, 16],
            [[0, 0], [0.5, -0.5]],
            centered=True,
            normalized=True,
            noise=noise,
            description=f"V2 noise {noise!r}: 3x3x3 input in a 16x16 window, 96% fill",
            **fs,
        )
        const = np.full((2, 3, 4, 2), 2.5, np.float32)
        s.glimpse(
            const,
            [6, 7],
            [[0, 0], [-0.5, 0.5]],
            centered=True,
            normalized=True,
            noise=noise,
            description=f"V2 noise {noise!r} on a constant image: fill is the constant "
            "(deterministic)",
        )
    for _ in range(3):
        B, D = int(rng.integers(1, 4)), int(rng.integers(2, 5))
        H, W = int(rng.integers(2, 6)), int(rng.integers(2, 6))
        s.glimpse(
            ranged(B, H, W, D),
            [H + 7, W + 6],
            np.zeros((B, 2)),
            centered=True,
            normalized=True,
            noise="",
            description="V2 noise '' (accepted by ExtractGlimpseV2): gaussian fill",
            **fs,
        )
    for noise in ("uniform", "gaussian"):
        s.glimpse(
            np.zeros((2, 0, 3, 2), np.float32),
            [2, 3],
            np.zeros((2, 2)),
            centered=True,
            normalized=True,
            noise=noise,
            description=f"H = 0 input with noise {noise!r}: TF fills with NaN "
            "(statistics of an empty image)",
        )
    for un in (True, False):
        for _ in range(3):
            B, D = 2, int(rng.integers(1, 4))
            H, W = int(rng.integers(2, 6)), int(rng.integers(2, 6))
            s.glimpse(
                ranged(B, H, W, D),
                [H + 6, W + 5],
                np.zeros((B, 2)),
                centered=True,
                normalized=True,
                api="v1",
                uniform_noise=un,
                noise=None,
                description=f"tf.compat.v1.image.extract_glimpse(uniform_noise={un}): "
                "uniform fill either way (op default noise='uniform')",
                **fs,
            )
    for noise in ("", "gaussian", "uniform"):
        s.glimpse(
            ranged(2, 4, 3, 3),
            [10, 9],
            np.zeros((2, 2)),
            centered=True,
            normalized=True,
            api="v1",
            uniform_noise=False,
            noise=noise,
            description=f"raw ExtractGlimpse uniform_noise=False noise={noise!r}",
            **fs,
        )
    s.glimpse(
        ranged(2, 4, 3, 3),
        [10, 9],
        np.zeros((2, 2)),
        centered=True,
        normalized=True,
        api="v1",
        uniform_noise=True,
        noise="",
        description="raw ExtractGlimpse uniform_noise=True noise='': uniform",
        **fs,
    )
    return s


def build_glimpse_errors() -> Suite:
    s = Suite("glimpse_errors", seed=9009)
    rng = s.rng
    img = normal_image(rng, (2, 5, 5, 1))
    off = np.zeros((2, 2))
    e = {"expect": "error", "centered": True, "normalized": True}
    s.glimpse(img[0], [2, 2], off, description="input rank 3", **e)
    s.glimpse(img[None], [2, 2], off, description="input rank 5", **e)
    s.glimpse(img, [2, 2, 2], off, description="size with 3 elements", **e)
    s.glimpse(img, [2], off, description="size with 1 element", **e)
    s.glimpse(img, [-1, 2], off, description="negative height", **e)
    s.glimpse(img, [2, -3], off, description="negative width", **e)
    s.glimpse(img, [-1, 2], off[0], description="negative size and offsets rank 1: size wins", **e)
    s.glimpse(img, [2, 2], off[0], description="offsets rank 1", **e)
    s.glimpse(img, [2, 2], off[None], description="offsets rank 3", **e)
    s.glimpse(img, [2, 2], np.zeros((3, 2)), description="offsets rows (3) != B (2)", **e)
    s.glimpse(img, [2, 2], np.zeros((1, 2)), description="offsets rows (1) != B (2)", **e)
    s.glimpse(img, [2, 2], np.zeros((2, 3)), description="offsets with 3 columns", **e)
    s.glimpse(img, [2, 2], np.zeros((2, 1)), description="offsets with 1 column", **e)
    s.glimpse(img, [2, 2], np.zeros((3, 3)), description="rows != B and 3 columns", **e)
    for noise in ("normal", "Uniform", "none"):
        s.glimpse(img, [2, 2], off, noise=noise, description=f"bad noise {noise!r}", **e)
    for noise in ("gaussian", "zero", "bogus"):
        s.glimpse(
            img,
            [2, 2],
            off,
            api="v1",
            uniform_noise=True,
            noise=noise,
            description=f"raw ExtractGlimpse uniform_noise=True with noise={noise!r}",
            **e,
        )
    s.glimpse(
        img,
        [2, 2],
        off,
        api="v1",
        uniform_noise=False,
        noise="bogus",
        description="raw ExtractGlimpse uniform_noise=False with noise='bogus'",
        **e,
    )
    s.glimpse(
        img,
        [-2, 2],
        off,
        api="v1",
        uniform_noise=False,
        noise="zero",
        description="V1 negative size",
        **e,
    )
    return s


BUILDERS: dict[str, Callable[[], Suite]] = {
    "crop_edge": build_crop_edge,
    "crop_random": build_crop_random,
    "crop_dtypes": build_crop_dtypes,
    "crop_v1": build_crop_v1,
    "crop_errors": build_crop_errors,
    "glimpse_v2": build_glimpse_v2,
    "glimpse_v1": build_glimpse_v1,
    "glimpse_fill": build_glimpse_fill,
    "glimpse_errors": build_glimpse_errors,
}


# ======================================================================================
# checks against the spec's §3 numbers (TF is the reference; mismatches are reported)

SPEC_VALUES: dict[str, list] = {
    "spec-2x2-1x1-bilinear": [[2.5]],
    "spec-2x2-1x1-nearest": [[4]],
    "spec-2x2-3x3-bilinear": [[1, 1.5, 2], [2, 2.5, 3], [3, 3.5, 4]],
    "spec-2x2-3x3-nearest": [[1, 2, 2], [3, 4, 4], [3, 4, 4]],
    "spec-2x2-flipped-bilinear": [[4, 3.5, 3], [3, 2.5, 2], [2, 1.5, 1]],
    "spec-2x2-outside-bilinear": [[-1, -1, -1], [-1, 1, 2], [-1, 3, 4]],
    "spec-2x2-outside-nearest": [[-1, -1, -1], [-1, 1, 2], [-1, 3, 4]],
    "spec-1x5-nearest": [[0, 1, 1, 2, 2, 3, 3, 4, 4]],
    "spec-1x2-0.49999997": [[10]],
    "spec-3x3-1x1-0": [[4]],
    "spec-3x3-1x1-1": [[2.5]],
    "spec-3x3-1x1-2": [[4]],
    "spec-int64-nearest": [[2.0**53, 2.0**53], [3, float(f32(2**62 + 2**40))]],
    "spec-inf-00-bilinear": [[np.nan]],
    "spec-inf-00-nearest": [[np.inf]],
    "spec-g-00-nn": [[0, 1, 2], [5, 6, 7], [10, 11, 12]],
    "spec-g-m1-cn": [[0, 0, 0], [0, 0, 1], [0, 5, 6]],
    "spec-g-p1-cn": [[18, 19, 0], [23, 24, 0], [0, 0, 0]],
    "spec-g-trunc-nn": [[0, 0, 1], [0, 5, 6], [0, 10, 11]],
    "spec-g-seed": [[4, 5], [7, 8]],
    "spec-g-v1": [[6, 7, 8], [11, 12, 13], [16, 17, 18]],
    "spec-g-v1-wrapper": [[6, 7, 8], [11, 12, 13], [16, 17, 18]],
}


def check_spec(suites: dict[str, Suite]) -> list[str]:
    problems = []
    for s in suites.values():
        for tag, case in s._tags.items():
            if tag in SPEC_VALUES:
                got = case.expected[0, ..., 0]
                want = np.asarray(SPEC_VALUES[tag], np.float32)
                ok = got.shape == want.shape and np.array_equal(got, want, equal_nan=True)
                print(
                    f"  spec {'OK  ' if ok else 'DIFF'} {case.id:18s} [{tag}] "
                    f"{np.array2string(got, separator=',').replace(chr(10), '')}"
                )
                if not ok:
                    problems.append(
                        f"{case.id} [{tag}]: TF {got.tolist()} vs spec {want.tolist()}"
                    )
        for tag in ("spec-4x4-22x22-bilinear", "spec-4x4-22x22-nearest"):
            if tag in s._tags:
                got = s._tags[tag].expected[0, ..., 0]
                ok = bool(
                    np.all(got[-1, :] == -7)
                    and np.all(got[:, -1] == -7)
                    and np.all(got[:-1, :-1] != -7)
                )
                print(
                    f"  spec {'OK  ' if ok else 'DIFF'} {s._tags[tag].id:18s} [{tag}] last "
                    f"row/column extrapolated: {ok}"
                )
                if not ok:
                    problems.append(f"{tag}: last row/column not (only) extrapolated")
        for tag in ("spec-int64-bilinear",):
            if tag in s._tags:
                got = s._tags[tag].expected
                print(f"  spec      {s._tags[tag].id:18s} [{tag}] {got.ravel().tolist()}")
    return problems


# ======================================================================================


def main(argv: list[str] | None = None) -> int:
    global tf
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    ap.add_argument(
        "--suite",
        action="append",
        choices=sorted(BUILDERS),
        help="record only this suite (repeatable)",
    )
    ap.add_argument(
        "--allow-other-tf",
        action="store_true",
        help=f"record with a TensorFlow other than {REQUIRED_TF}",
    )
    args = ap.parse_args(argv)

    import tensorflow

    tf = tensorflow
    if tf.__version__ != REQUIRED_TF and not args.allow_other_tf:
        print(
            f"error: the fixtures are defined by TensorFlow {REQUIRED_TF}, this is "
            f"{tf.__version__}; use --allow-other-tf to record anyway",
            file=sys.stderr,
        )
        return 2
    tf.config.set_visible_devices([], "GPU")
    tf.config.experimental.enable_op_determinism()

    t0 = time.perf_counter()
    suites: dict[str, Suite] = {}
    for name in args.suite or list(BUILDERS):
        t = time.perf_counter()
        suite = BUILDERS[name]()
        suites[name] = suite
        npz, js = write_suite(
            args.out, name, suite.cases, tf_version=tf.__version__, recorder=RECORDER
        )
        counts: dict[str, int] = {}
        for c in suite.cases:
            counts[c.check] = counts.get(c.check, 0) + 1
        size = npz.stat().st_size + js.stat().st_size
        print(
            f"{name:15s} {len(suite.cases):4d} cases {counts} {size / 1024:8.1f} KiB "
            f"{time.perf_counter() - t:6.2f} s"
        )
    total = sum(len(s.cases) for s in suites.values())
    print(f"total {total} cases in {time.perf_counter() - t0:.1f} s -> {args.out}")
    print("checks against tf-semantics.md §3:")
    problems = check_spec(suites)
    for s in suites.values():
        for note in s.notes:
            print(note)
    if problems:
        print("TF disagrees with the spec:\n  " + "\n  ".join(problems))
    return 0


if __name__ == "__main__":
    sys.exit(main())
