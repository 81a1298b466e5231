"""Record TensorFlow's crop_and_resize gradients as conformance fixtures.

Calls TF 2.21's two gradient ops directly, on CPU, through ``tf.raw_ops`` with
``tf.config.experimental.enable_op_determinism()`` on, so TF runs them in its sequential
order (boxes, rows, columns, channels; spec §1.7) instead of racing across threads::

    tf.raw_ops.CropAndResizeGradImage(grads, boxes, box_ind, image_size, T, method)
    tf.raw_ops.CropAndResizeGradBoxes(grads, image, boxes, box_ind)

Those are exactly the ops TF's registered gradient of ``CropAndResize`` calls (with the
forward's ``method`` for the image and, TF's quirk, no ``method`` at all for the boxes);
the recorder checks that claim on every paired case against ``tf.GradientTape`` of
``tf.image.crop_and_resize`` and stops if a single bit differs.

    python conformance/record_gradients.py [--out DIR] [--suite NAME ...] [--allow-other-tf]

Suites (each case is one op call; paired cases share a ``pair`` number in ``params`` so
the autodiff tests can replay the forward call and compare both gradients at once):

``grad_random``  random sweeps: shapes, boxes (partly outside, flipped), crop sizes
                 including 1 on each axis, both methods, overlapping boxes.
``grad_edge``    integer-coordinate samples (zero box gradient), boxes partly or wholly
                 outside, heavy overlap/upsampling (long accumulation chains), subnormal
                 upstream gradients (TF's FTZ/DAZ), 1-pixel axes, zero boxes/depth.
``grad_dtypes``  float16 and float64 images (image gradient in that dtype), integer
                 images (box gradient only: TF has no image gradient for them).
``grad_errors``  argument errors of the two ops.

Deterministic: inputs come from ``np.random.default_rng(<fixed seed per suite>)``; running
the recorder twice gives byte-identical files.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
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
RECORDER = "conformance/record_gradients.py"
DEFAULT_OUT = Path(__file__).resolve().parent / "fixtures"
GRAD_IMAGE = "crop_and_resize_grad_image"
GRAD_BOXES = "crop_and_resize_grad_boxes"

tf: Any = None  # imported in main()

_FN_PREFIX = re.compile(r"^\{\{function_node [^}]*\}\}\s*")
_OP_SUFFIX = re.compile(r"\s*\[Op:\w+\](?:\s*name:[^\n]*)?\s*$")


def summarize_error(exc: BaseException) -> dict:
    msg = str(exc)
    summary = _OP_SUFFIX.sub("", _FN_PREFIX.sub("", msg.strip())).split("\n")[0].strip()
    return {
        "tf_type": type(exc).__name__,
        "tf_module": type(exc).__module__,
        "tf_message": msg,
        "tf_summary": summary,
    }


class Suite:
    def __init__(self, name: str, seed: int):
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.cases: list[Case] = []
        self.pairs = 0
        self.tape_checked = 0

    def _id(self) -> str:
        return f"{self.name}-{len(self.cases):03d}"

    def _record(self, op, inputs, params, call, description, expect="exact") -> None:
        cid = self._id()
        try:
            out = call()
        except Exception as exc:
            if expect != "error":
                raise RuntimeError(f"{cid} ({description}): TF raised: {exc}") from exc
            case = Case(self.name, cid, op, "raw", inputs, params, None, "error",
                        summarize_error(exc), description)
        else:
            if expect == "error":
                raise RuntimeError(f"{cid} ({description}): TF did not raise")
            case = Case(self.name, cid, op, "raw", inputs, params, np.asarray(out.numpy()),
                        "exact", None, description)
        self.cases.append(case)

    def pair(self, image, boxes, box_indices, crop_size, method="bilinear", grads=None, *,
             description: str, scale: float = 1.0) -> None:
        """Record both gradients of one forward call ``crop_and_resize(image, boxes, ...)``
        with upstream gradient ``grads`` (standard normal times ``scale`` if None)."""
        image = np.asarray(image)
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        box_indices = np.asarray(box_indices, np.int32).reshape(-1)
        ch, cw = (int(c) for c in crop_size)
        depth = image.shape[3]
        if grads is None:
            grads = self.rng.standard_normal((boxes.shape[0], ch, cw, depth)) * scale
        grads = np.asarray(grads, np.float32)
        k = self.pairs
        self.pairs += 1
        image_shape = [int(s) for s in image.shape]
        dt = image.dtype.name
        float_image = dt in ("float16", "float32", "float64")
        common = {"pair": k, "crop_size": [ch, cw], "forward_method": method}
        if float_image:
            self._record(
                GRAD_IMAGE,
                {"grads": grads, "boxes": boxes, "box_indices": box_indices},
                {**common, "image_shape": image_shape, "method": method, "T": dt},
                lambda: tf.raw_ops.CropAndResizeGradImage(
                    grads=grads, boxes=boxes, box_ind=box_indices, image_size=image_shape,
                    T=tf.as_dtype(dt), method=method),
                f"[pair {k}] image gradient: {description}",
            )
        self._record(
            GRAD_BOXES,
            {"grads": grads, "image": image, "boxes": boxes, "box_indices": box_indices},
            {**common},
            lambda: tf.raw_ops.CropAndResizeGradBoxes(
                grads=grads, image=image, boxes=boxes, box_ind=box_indices),
            f"[pair {k}] box gradient (forward {method}): {description}",
        )
        self._check_tape(image, boxes, box_indices, (ch, cw), method, grads, float_image)

    def _check_tape(self, image, boxes, box_indices, crop_size, method, grads, float_image):
        """The raw ops are what tf.GradientTape runs for crop_and_resize: assert it."""
        t_img, t_boxes = tf.constant(image), tf.constant(boxes)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(t_boxes)
            if float_image:
                tape.watch(t_img)
            out = tf.image.crop_and_resize(t_img, t_boxes, tf.constant(box_indices),
                                           tf.constant(np.asarray(crop_size, np.int32)),
                                           method=method)
            loss = tf.reduce_sum(out * tf.constant(grads))
        got = [tape.gradient(loss, t_boxes).numpy()]
        want = [self.cases[-1].expected]
        if float_image:
            got.append(tape.gradient(loss, t_img).numpy())
            want.append(self.cases[-2].expected)
        for g, w in zip(got, want, strict=True):
            if g.dtype != w.dtype or g.tobytes() != w.tobytes():
                raise RuntimeError(f"{self.cases[-1].id}: GradientTape differs from the raw op")
        self.tape_checked += 1

    def error(self, op, inputs, params, call, description) -> None:
        self._record(op, inputs, params, call, description, expect="error")


def normal(rng, shape, scale=1.0, dtype=np.float32):
    return (rng.standard_normal(shape) * scale).astype(dtype)


# ======================================================================================


def build_grad_random() -> Suite:
    s = Suite("grad_random", seed=4001)
    rng = s.rng
    for i in range(120):
        b = int(rng.integers(1, 4))
        h, w = int(rng.integers(1, 10)), int(rng.integers(1, 10))
        d = int(rng.integers(1, 4))
        n = int(rng.integers(1, 6))
        ch = int(rng.integers(1, 8)) if i % 7 else 1
        cw = int(rng.integers(1, 8)) if i % 11 else 1
        lo, hi = ((0.0, 1.0), (-0.4, 1.4), (0.2, 0.8))[i % 3]
        boxes = rng.uniform(lo, hi, (n, 4)).astype(np.float32)
        method = "nearest" if i % 4 == 3 else "bilinear"
        s.pair(normal(rng, (b, h, w, d)), boxes, rng.integers(0, b, n), (ch, cw), method,
               description=f"random sweep {i}: {b}x{h}x{w}x{d} image, {n} boxes in "
               f"[{lo}, {hi}], crop {ch}x{cw}, {method}")
    for i in range(20):
        # Many overlapping boxes on one image: long accumulation chains per pixel.
        h, w = int(rng.integers(2, 6)), int(rng.integers(2, 6))
        n = int(rng.integers(6, 16))
        base = rng.uniform(0, 1, (1, 4))
        boxes = (base + rng.uniform(-0.1, 0.1, (n, 4))).astype(np.float32)
        method = "nearest" if i % 4 == 3 else "bilinear"
        s.pair(normal(rng, (2, h, w, 2)), boxes, np.zeros(n), (int(rng.integers(3, 12)),
               int(rng.integers(3, 12))), method,
               description=f"overlap sweep {i}: {n} near-identical boxes on one {h}x{w} "
               f"image, {method}")
    return s


def build_grad_edge() -> Suite:
    s = Suite("grad_edge", seed=4002)
    rng = s.rng
    img22 = np.array([[1, 2], [3, 4]], np.float32).reshape(1, 2, 2, 1)
    for m in ("bilinear", "nearest"):
        s.pair(img22, [[0, 0, 1, 1]], [0], (2, 2), m, np.ones((1, 2, 2, 1)),
               description=f"2x2, box [0,0,1,1], crop 2x2 ({m}): every sample on a pixel "
               "-> all-zero box gradient")
        s.pair(img22, [[0, 0, 1, 1]], [0], (3, 3), m, np.ones((1, 3, 3, 1)),
               description=f"2x2, box [0,0,1,1], crop 3x3 ({m}), upstream ones")
        s.pair(img22, [[-1, -1, 1, 1]], [0], (3, 3), m,
               description=f"box [-1,-1,1,1] partly outside, crop 3x3 ({m})")
        s.pair(img22, [[1, 1, 0, 0]], [0], (3, 3), m,
               description=f"flipped box [1,1,0,0], crop 3x3 ({m})")
    a = normal(rng, (2, 5, 6, 3))
    for m in ("bilinear", "nearest"):
        s.pair(a, [[0, 0, 1, 1], [0.25, 0.2, 0.75, 0.8]], [0, 1], (5, 6), m,
               description=f"5x6 image, crop 5x6 of the full box and integer-coordinate "
               f"boxes ({m}) -> zero box gradient")
        s.pair(a, [[-0.5, 0.3, 0.4, 1.7], [1.2, -0.3, 1.5, 0.2], [2, 2, 3, 3]], [0, 1, 1],
               (4, 4), m, description=f"boxes partly and wholly outside the image ({m})")
        s.pair(a, [[0.1, 0.2, 0.9, 0.7]], [0], (1, 5), m,
               description=f"crop height 1 (box centre row, float64 in TF) ({m})")
        s.pair(a, [[0.1, 0.2, 0.9, 0.7]], [0], (5, 1), m,
               description=f"crop width 1 (box centre column) ({m})")
        s.pair(a, [[0.1, 0.2, 0.9, 0.7], [0.3, 0.1, 0.4, 0.6]], [0, 1], (1, 1), m,
               description=f"crop 1x1 ({m})")
        s.pair(a, [[0.3, 0.3, 0.3, 0.3]] * 4, [1] * 4, (7, 7), m,
               description=f"four identical degenerate boxes (every sample at one point) "
               f"({m}): 196 adds into the same pixels")
    for m in ("bilinear", "nearest"):
        s.pair(normal(rng, (1, 3, 3, 2)), [[0, 0, 1, 1]] * 5 + [[0.1, 0.0, 0.9, 1.0]] * 3,
               [0] * 8, (23, 17), m,
               description=f"upsampling 3x3 to 23x17 with 8 overlapping boxes ({m}): "
               "hundreds of float32 adds per pixel, TF's sequential order")
    s.pair(normal(rng, (1, 4, 4, 1)), [[0, 0, 1, 1]], [0], (22, 22),
           description="4x4 -> 22x22, box [0,0,1,1]: last row/column extrapolated by "
           "float32 rounding, so they get no gradient")
    s.pair(normal(rng, (1, 1, 5, 2)), [[0, 0, 0.5, 1], [0.3, 0.1, 0.9, 0.8]], [0, 0], (3, 4),
           description="1-pixel-high image: the y axis never extrapolates")
    s.pair(normal(rng, (1, 6, 1, 2)), [[0, 0.3, 1, 0.6], [0.3, 0.1, 0.9, 0.8]], [0, 0],
           (4, 3), description="1-pixel-wide image")
    s.pair(normal(rng, (1, 1, 1, 3)), [[-0.2, 0.5, 0.7, 0.1]], [0], (2, 3),
           description="1x1 image")
    s.pair(normal(rng, (2, 4, 5, 2)), [[0.1, 0.2, 0.8, 0.9]], [1], (3, 3),
           scale=2e-38,
           description="upstream gradients near FLT_MIN: subnormal inputs and products "
           "flush to zero in TF's CPU kernels (FTZ/DAZ)")
    s.pair(normal(rng, (2, 4, 5, 2), 1e-20), [[0.1, 0.2, 0.8, 0.9], [0.3, 0.1, 0.6, 0.7]],
           [1, 0], (3, 4), scale=1e-18,
           description="tiny pixel differences times tiny upstream gradients: box-gradient "
           "products underflow to subnormal and flush")
    s.pair(normal(rng, (1, 3, 3, 1), 1e30), [[0.1, 0.2, 0.8, 0.9]], [0], (4, 4), scale=1e10,
           description="huge values: products overflow to inf in float32")
    s.pair(normal(rng, (2, 3, 4, 2)), np.zeros((0, 4)), np.zeros(0), (2, 3),
           description="zero boxes -> zero image gradient, (0, 4) box gradient")
    s.pair(normal(rng, (2, 3, 4, 0)), [[0.1, 0.2, 0.8, 0.9]], [1], (2, 3),
           description="depth 0")
    s.pair(normal(rng, (3, 3, 4, 2)),
           [[0.1, 0.2, 0.8, 0.9], [0.0, 0.0, 1.0, 1.0]], [2, 2], (3, 2),
           description="boxes only on the last batch image; the others get zeros")
    return s


def build_grad_dtypes() -> Suite:
    s = Suite("grad_dtypes", seed=4003)
    rng = s.rng
    for dt in ("float16", "float64"):
        for i in range(12):
            b, h, w, d = 2, int(rng.integers(1, 8)), int(rng.integers(1, 8)), 2
            n = int(rng.integers(1, 5))
            ch, cw = int(rng.integers(1, 7)), int(rng.integers(1, 7))
            method = "nearest" if i % 3 == 2 else "bilinear"
            s.pair(normal(rng, (b, h, w, d), 3.0, np.dtype(dt)),
                   rng.uniform(-0.3, 1.3, (n, 4)), rng.integers(0, b, n), (ch, cw), method,
                   description=f"{dt} image {b}x{h}x{w}x{d}, {n} boxes, crop {ch}x{cw}, "
                   f"{method}: image gradient accumulated in {dt}")
        s.pair(normal(rng, (1, 3, 3, 1), 1.0, np.dtype(dt)), [[0, 0, 1, 1]] * 6, [0] * 6,
               (15, 15), description=f"{dt}: six overlapping upsampling boxes, long "
               f"accumulation in {dt}")
    s.pair(normal(rng, (1, 3, 3, 1), 1.0, np.float16), [[0.1, 0.2, 0.8, 0.9]], [0], (4, 4),
           scale=1e-6,
           description="float16: contributions below float16's normal range (half "
           "subnormals are kept: only float32 arithmetic flushes)")
    s.pair(np.full((1, 2, 2, 1), 60000, np.float16), [[0, 0, 1, 1]] * 3, [0] * 3, (3, 3),
           "bilinear", np.full((3, 3, 3, 1), 30000.0),
           description="float16 accumulation overflows to inf")
    for dt in ("uint8", "int16", "int32", "int64", "uint16", "int8"):
        info = np.iinfo(dt)
        img = rng.integers(max(info.min, -1000), min(info.max, 1000), (2, 4, 5, 2),
                           dtype=np.dtype(dt), endpoint=True)
        s.pair(img, rng.uniform(-0.2, 1.2, (3, 4)), [0, 1, 1], (3, 4),
               description=f"{dt} image: box gradient only (TF has no image gradient for "
               "integer images)")
    return s


def build_grad_errors() -> Suite:
    s = Suite("grad_errors", seed=4004)
    g = np.ones((1, 2, 2, 1), np.float32)
    boxes = np.array([[0.1, 0.2, 0.8, 0.9]], np.float32)
    img = np.ones((1, 3, 3, 1), np.float32)

    def gi(grads, bx, idx, shape, method="bilinear", T="float32", desc=""):
        grads, bx, idx = (np.asarray(grads, np.float32), np.asarray(bx, np.float32),
                          np.asarray(idx, np.int32))
        s.error(GRAD_IMAGE, {"grads": grads, "boxes": bx, "box_indices": idx},
                {"image_shape": [int(v) for v in shape], "method": method, "T": T},
                lambda: tf.raw_ops.CropAndResizeGradImage(
                    grads=grads, boxes=bx, box_ind=idx, image_size=list(shape),
                    T=tf.as_dtype(T), method=method), desc)

    def gb(grads, image, bx, idx, desc=""):
        grads, bx, idx = (np.asarray(grads, np.float32), np.asarray(bx, np.float32),
                          np.asarray(idx, np.int32))
        image = np.asarray(image)
        s.error(GRAD_BOXES, {"grads": grads, "image": image, "boxes": bx, "box_indices": idx},
                {}, lambda: tf.raw_ops.CropAndResizeGradBoxes(
                    grads=grads, image=image, boxes=bx, box_ind=idx), desc)

    gi(g[0], boxes, [0], [1, 3, 3, 1], desc="grad image: grads not 4-D")
    gi(g, boxes, [0], [1, 3, 3], desc="grad image: image_shape with 3 elements")
    gi(g, boxes, [0], [1, 0, 3, 1], desc="grad image: zero image height")
    gi(g, boxes, [0], [1, 3, 3, 2], desc="grad image: depth differs from grads")
    gi(g, boxes[:, :3], [0], [1, 3, 3, 1], desc="grad image: boxes with 3 columns")
    gi(g, boxes, [0, 0], [1, 3, 3, 1], desc="grad image: box_indices longer than boxes")
    gi(np.ones((2, 2, 2, 1)), boxes, [0], [1, 3, 3, 1],
       desc="grad image: grads has more rows than boxes")
    gi(g, boxes, [1], [1, 3, 3, 1], desc="grad image: box index outside [0, batch)")
    gi(g, boxes, [-1], [1, 3, 3, 1], desc="grad image: negative box index")
    gi(g, boxes, [0], [1, 3, 3, 1], method="bicubic", desc="grad image: unknown method")
    gi(np.ones((1, 0, 2, 1)), boxes, [0], [1, 3, 3, 1], desc="grad image: zero crop height")
    gb(g[0], img, boxes, [0], desc="grad boxes: grads not 4-D")
    gb(g, img[0], boxes, [0], desc="grad boxes: image not 4-D")
    gb(g, np.ones((1, 0, 3, 1), np.float32), boxes, [0], desc="grad boxes: zero image width")
    gb(g, np.ones((1, 3, 3, 2), np.float32), boxes, [0],
       desc="grad boxes: image depth differs from grads")
    gb(g, img, boxes, [0, 0], desc="grad boxes: box_indices longer than boxes")
    gb(g, img, boxes, [3], desc="grad boxes: box index outside [0, batch)")
    gb(np.ones((1, 2, 0, 1)), img, boxes, [0], desc="grad boxes: zero crop width")
    return s


BUILDERS: dict[str, Callable[[], Suite]] = {
    "grad_random": build_grad_random,
    "grad_edge": build_grad_edge,
    "grad_dtypes": build_grad_dtypes,
    "grad_errors": build_grad_errors,
}


def main(argv: list[str] | None = None) -> int:
    global tf
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    ap.add_argument("--suite", action="append", choices=sorted(BUILDERS),
                    help="record only this suite (repeatable)")
    ap.add_argument("--allow-other-tf", action="store_true",
                    help=f"record with a TensorFlow other than {REQUIRED_TF}")
    args = ap.parse_args(argv)

    import tensorflow

    tf = tensorflow
    if tf.__version__ != REQUIRED_TF and not args.allow_other_tf:
        print(f"error: the fixtures are defined by TensorFlow {REQUIRED_TF}, this is "
              f"{tf.__version__}; use --allow-other-tf to record anyway", file=sys.stderr)
        return 2
    tf.config.set_visible_devices([], "GPU")
    # TF's CPU image gradient shards boxes over threads without atomics (racy on
    # overlapping boxes, tensorflow#42033); under op determinism it runs sequentially.
    tf.config.experimental.enable_op_determinism()

    t0 = time.perf_counter()
    total = 0
    for name in args.suite or list(BUILDERS):
        t = time.perf_counter()
        suite = BUILDERS[name]()
        npz, js = write_suite(args.out, name, suite.cases, tf_version=tf.__version__,
                              recorder=RECORDER)
        counts: dict[str, int] = {}
        for c in suite.cases:
            counts[c.op] = counts.get(c.op, 0) + 1
        size = npz.stat().st_size + js.stat().st_size
        total += len(suite.cases)
        print(f"{name:12s} {len(suite.cases):4d} cases {counts} "
              f"(GradientTape checked on {suite.tape_checked} pairs) {size / 1024:7.1f} KiB "
              f"{time.perf_counter() - t:6.2f} s")
    print(f"total {total} cases in {time.perf_counter() - t0:.1f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
