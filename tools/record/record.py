"""Record xcrop's conformance fixtures (conformance/fixtures) with TensorFlow 2.21 on CPU.

    python tools/record/record.py [--suite NAME ...] [--out DIR] [--allow-other-tf]
    python tools/record/record.py --where crop_edge-042   # the table line of a case (or suite)

The cases are in cases.py; Table turns its rows into inputs and params, record() runs them.
Deterministic: seeded RNGs make the inputs, srand(crc32(case id)) pins extract_glimpse's random
fill (C rand(), deaf to TF seeds), op determinism orders TF's gradient kernels sequentially.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import sys
import zlib
from collections import Counter, namedtuple
from pathlib import Path

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
os.environ["CUDA_VISIBLE_DEVICES"] = ""  # CPU only: the reference is TF's CPU kernels

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))  # xcrop from this checkout when not installed

import cases  # noqa: E402
from xcrop.conformance import Case, write_suite  # noqa: E402

REQUIRED_TF, RECORDER, F32 = "2.21.0", "tools/record/record.py", np.float32
GRAD_IMAGE, GRAD_BOXES = "crop_and_resize_grad_image", "crop_and_resize_grad_boxes"
Row = namedtuple("Row", "op api inputs params desc expect where")  # expect: exact/fill_stats/error
tf = None  # imported in main()


class Table:
    """What a suite function of cases.py adds rows to.  A case's id is its position in the
    suite: keep the order of the rows, and of every draw from ``t.rng``."""

    def __init__(self, seed: int):
        self.rng, self.rows, self.pairs = np.random.default_rng(seed), [], 0

    def normal(self, shape, scale=1.0, dtype=F32) -> np.ndarray:
        return (self.rng.standard_normal(shape) * scale).astype(dtype)

    def _add(self, op, api, inputs, params, desc, expect="exact"):
        where = f"cases.py:{sys._getframe(2).f_lineno}"  # the table line calling crop() etc.
        self.rows.append(Row(op, api, inputs, params, desc, expect, where))

    def crop(self, image, boxes, box_indices, crop_size, method="bilinear", extrapolation=0.0,
             *, desc, api="v2", index_kwarg="box_indices", expect="exact"):
        # api "v1": tf.compat.v1's, indices as box_ind=, box_indices=, both or positional
        params = {"crop_size": [int(c) for c in crop_size], "method": method,
                  "extrapolation_value": float(extrapolation)}
        if api == "v1":
            params["index_kwarg"] = index_kwarg
        inputs = {"image": np.asarray(image), "boxes": np.asarray(boxes, F32),
                  "box_indices": np.asarray(box_indices, np.int32)}
        self._add("crop_and_resize", api, inputs, params, desc, expect)

    def glimpse(self, inp, size, offsets, centered=True, normalized=True, noise="zero", *,
                desc, api="v2", uniform_noise=None, expect="exact"):
        # tf.image.extract_glimpse, but noise "zero" by default; api "v1": tf.compat.v1's
        # wrapper if noise is None (so the op's default noise), else tf.raw_ops.ExtractGlimpse
        params = {"size": [int(s) for s in size], "centered": centered, "normalized": normalized}
        if api == "v1":
            params["uniform_noise"] = bool(uniform_noise)
        if api == "v2" or noise is not None:
            params["noise"] = noise
        inputs = {"input": np.asarray(inp, F32), "offsets": np.asarray(offsets, F32)}
        self._add("extract_glimpse", api, inputs, params, desc, expect)

    def pair(self, image, boxes, box_indices, crop_size, method="bilinear", grads=None, *,
             desc, scale=1.0):
        """The image and box gradients of one forward crop_and_resize for upstream ``grads``
        (drawn standard normal times ``scale`` if None); integer images: box gradient only."""
        image, boxes = np.asarray(image), np.asarray(boxes, F32).reshape(-1, 4)
        idx, (ch, cw) = np.asarray(box_indices, np.int32).reshape(-1), map(int, crop_size)
        if grads is None:
            grads = self.rng.standard_normal((boxes.shape[0], ch, cw, image.shape[3])) * scale
        grads, k, self.pairs = np.asarray(grads, F32), self.pairs, self.pairs + 1
        common = {"pair": k, "crop_size": [ch, cw], "forward_method": method}
        if image.dtype.kind == "f":
            self._add(GRAD_IMAGE, "raw", {"grads": grads, "boxes": boxes, "box_indices": idx},
                      {**common, "image_shape": list(image.shape), "method": method,
                       "T": image.dtype.name}, f"[pair {k}] image gradient: {desc}")
        self._add(GRAD_BOXES, "raw",
                  {"grads": grads, "image": image, "boxes": boxes, "box_indices": idx},
                  common, f"[pair {k}] box gradient (forward {method}): {desc}")

    def grad_error(self, which, grads, boxes, box_indices, image_or_shape, method="bilinear",
                   *, desc):
        """A gradient op call TF rejects: which "image" takes image_shape, "boxes" an image."""
        inputs = {"grads": np.asarray(grads, F32), "boxes": np.asarray(boxes, F32),
                  "box_indices": np.asarray(box_indices, np.int32)}
        if which == "boxes":
            inputs["image"], params = np.asarray(image_or_shape), {}
        else:
            params = {"image_shape": list(image_or_shape), "method": method, "T": "float32"}
        self._add(f"crop_and_resize_grad_{which}", "raw", inputs, params, desc, "error")


def call_tf(row: Row):
    x, p = row.inputs, row.params
    if row.op == "crop_and_resize":
        image, boxes, idx = (tf.constant(x[k]) for k in ("image", "boxes", "box_indices"))
        size = tf.constant(np.asarray(p["crop_size"], np.int32))
        kw = {"method": p["method"], "extrapolation_value": p["extrapolation_value"]}
        if row.api == "v2":
            return tf.image.crop_and_resize(image, boxes, idx, size, **kw)
        how, v1 = p["index_kwarg"], tf.compat.v1.image.crop_and_resize
        if how == "positional":
            return v1(image, boxes, idx, size, **kw)
        names = ("box_ind", "box_indices") if how == "both" else (how,)
        return v1(image, boxes, crop_size=size, **dict.fromkeys(names, idx), **kw)
    if row.op == "extract_glimpse":
        kw = {"input": tf.constant(x["input"]), "offsets": tf.constant(x["offsets"]),
              "size": tf.constant(np.asarray(p["size"], np.int32)),
              "centered": p["centered"], "normalized": p["normalized"]}
        if row.api == "v2":
            return tf.image.extract_glimpse(**kw, noise=p["noise"])
        if "noise" not in p:
            return tf.compat.v1.image.extract_glimpse(**kw, uniform_noise=p["uniform_noise"])
        return tf.raw_ops.ExtractGlimpse(**kw, uniform_noise=p["uniform_noise"], noise=p["noise"])
    if row.op == GRAD_IMAGE:
        return tf.raw_ops.CropAndResizeGradImage(
            grads=x["grads"], boxes=x["boxes"], box_ind=x["box_indices"],
            image_size=p["image_shape"], T=tf.as_dtype(p["T"]), method=p["method"])
    return tf.raw_ops.CropAndResizeGradBoxes(grads=x["grads"], image=x["image"],
                                             boxes=x["boxes"], box_ind=x["box_indices"])


def build(name: str) -> list[Row]:
    getattr(cases, name)(t := Table(cases.SUITES[name]))
    return t.rows


def record(name: str) -> list[Case]:
    done: list[Case] = []
    for i, row in enumerate(build(name)):
        cid, expected, error = f"{name}-{i:03d}", None, None
        if row.expect == "fill_stats":
            ctypes.CDLL(None).srand(ctypes.c_uint(zlib.crc32(cid.encode()) or 1))
        try:
            expected = np.asarray(call_tf(row).numpy())
        except Exception as exc:
            if row.expect != "error":
                raise RuntimeError(f"{cid} ({row.where}): TF raised: {exc}") from exc
            msg = str(exc)  # summary: without "{{function_node ...}}" and "[Op:...]"
            summary = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", msg.strip())
            summary = re.sub(r"\s*\[Op:\w+\](?:\s*name:[^\n]*)?\s*$", "", summary)
            error = {"tf_type": type(exc).__name__, "tf_module": type(exc).__module__,
                     "tf_message": msg, "tf_summary": summary.split("\n")[0].strip()}
        if expected is not None and row.expect == "error":
            raise RuntimeError(f"{cid} ({row.where}): TF did not raise")
        done.append(Case(name, cid, row.op, row.api, row.inputs, row.params, expected,
                         row.expect, error, row.desc))
        if row.op == GRAD_BOXES and "pair" in row.params:  # TF's autodiff runs these raw ops
            x, p = row.inputs, row.params
            boxes, img = tf.constant(x["boxes"]), tf.constant(x["image"])
            src = [boxes, img] if x["image"].dtype.kind == "f" else [boxes]  # no int image grad
            with tf.GradientTape() as tape:
                tape.watch(src)
                out = tf.image.crop_and_resize(img, boxes, x["box_indices"], p["crop_size"],
                                               p["forward_method"])
                loss = tf.reduce_sum(out * x["grads"])
            for g, c in zip(tape.gradient(loss, src), done[::-1], strict=False):
                if (g.dtype, g.numpy().tobytes()) != (c.expected.dtype, c.expected.tobytes()):
                    raise RuntimeError(f"{c.id}: tf.GradientTape differs from the raw op")
    return done


def main(argv: list[str] | None = None) -> int:
    global tf
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", action="append", choices=list(cases.SUITES), help="only these")
    ap.add_argument("--out", type=Path, default=ROOT / "conformance" / "fixtures")
    ap.add_argument("--where", metavar="CASE_ID|SUITE", help="print where cases are defined")
    ap.add_argument("--allow-other-tf", action="store_true", help="not TF " + REQUIRED_TF)
    args = ap.parse_args(argv)
    if args.where:  # needs the tables only, not TF; takes "id", "suite/id" or "suite"
        w = args.where.split("/")[-1]
        name = w if w in cases.SUITES else w.rpartition("-")[0]
        if name not in cases.SUITES:
            ap.error(f"no suite {name!r}; suites: {', '.join(cases.SUITES)}")
        for i, row in enumerate(build(name)):
            if w in (name, f"{name}-{i:03d}"):
                print(f"{name}-{i:03d}  tools/record/{row.where}  {row.desc}")
        return 0
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
    for name in args.suite or list(cases.SUITES):
        done = record(name)
        write_suite(args.out, name, done, tf_version=tf.__version__, recorder=RECORDER)
        print(f"{name:15s} {len(done):4d} cases {dict(Counter(c.check for c in done))}")
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
