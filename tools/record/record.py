"""Record xcrop's conformance fixtures (conformance/fixtures) with TensorFlow 2.21 on CPU.

    python tools/record/record.py [--suite NAME ...] [--out DIR] [--allow-other-tf]
    python tools/record/record.py --check     # record to a temp dir, compare with --out
    python tools/record/record.py --where crop_edge-042   # the table line of a case
    python tools/record/record.py --where crop_edge       # ... of every case of a suite

The cases are tables, one function per suite, in cases_crop.py, cases_glimpse.py and
cases_grad.py: each ``t.crop`` / ``t.glimpse`` row is a case, each ``t.pair`` row the two
gradient cases of one forward call (checked against tf.GradientTape).  Deterministic: inputs
come from ``np.random.default_rng(<suite seed>)``, extract_glimpse's random fill (C ``rand()``,
deaf to TF seeds) is pinned by ``srand(crc32(case id))`` before each fill_stats case, and op
determinism runs TF's gradient kernels in their sequential order.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import sys
import tempfile
import zipfile
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
os.environ["CUDA_VISIBLE_DEVICES"] = ""  # CPU only: the reference is TF's CPU kernels

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))  # xcrop from this checkout when not installed

import cases_crop  # noqa: E402,F401  (importing registers the suites, in this order)
import cases_glimpse  # noqa: E402,F401
import cases_grad  # noqa: E402,F401
from rows import GRAD_BOXES, GRAD_IMAGE, SUITES, Row, build  # noqa: E402

from xcrop.conformance import Case, write_suite  # noqa: E402

REQUIRED_TF, RECORDER = "2.21.0", "tools/record/record.py"
tf: Any = None  # imported in main()


def summarize_error(exc: BaseException) -> dict:
    msg = str(exc)  # summary: without TF's "{{function_node ...}}" prefix and "[Op:...]" suffix
    summary = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", msg.strip())
    summary = re.sub(r"\s*\[Op:\w+\](?:\s*name:[^\n]*)?\s*$", "", summary).split("\n")[0]
    return {"tf_type": type(exc).__name__, "tf_module": type(exc).__module__,
            "tf_message": msg, "tf_summary": summary.strip()}


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


def check_tape(row: Row, cases: list[Case]) -> None:
    """The raw gradient ops are what tf.GradientTape runs for crop_and_resize: assert it."""
    x, p = row.inputs, row.params
    img, boxes = tf.constant(x["image"]), tf.constant(x["boxes"])
    sources = [boxes, img] if x["image"].dtype.kind == "f" else [boxes]  # last case first
    with tf.GradientTape() as tape:
        tape.watch(sources)
        out = tf.image.crop_and_resize(img, boxes, x["box_indices"], p["crop_size"],
                                       method=p["forward_method"])
        loss = tf.reduce_sum(out * x["grads"])
    for g, case in zip(tape.gradient(loss, sources), cases[::-1], strict=False):
        if g.dtype != case.expected.dtype or g.numpy().tobytes() != case.expected.tobytes():
            raise RuntimeError(f"{case.id}: GradientTape differs from the raw op")


def record(name: str) -> list[Case]:
    cases = []
    for i, row in enumerate(build(name).rows):
        cid, check, expected, error = f"{name}-{i:03d}", row.expect, None, None
        if check == "fill_stats":
            ctypes.CDLL(None).srand(ctypes.c_uint(zlib.crc32(cid.encode()) or 1))
        try:
            expected = np.asarray(call_tf(row).numpy())
        except Exception as exc:
            if check != "error":
                raise RuntimeError(f"{cid} ({row.where}): TF raised: {exc}") from exc
            error = summarize_error(exc)
        if expected is not None and check == "error":
            print(f"NOTE {cid} ({row.where}): TF did not raise; recorded as exact")
            check = "exact"
        cases.append(Case(name, cid, row.op, row.api, row.inputs, row.params, expected, check,
                          error, row.desc))
        if row.op == GRAD_BOXES and "pair" in row.params:
            check_tape(row, cases)
    return cases


def compare(old: Path, new: Path, name: str) -> list[str]:
    """Differences between two recordings of a suite: the sidecar's case entries (id, op, api,
    params, check, error, description, array dtypes and shapes) and each array's .npy bytes."""
    a, b = (json.loads((d / f"{name}.json").read_text())["cases"] for d in (old, new))
    diff = [] if len(a) == len(b) else [f"{name}: {len(a)} cases, now {len(b)}"]
    diff += [f"{x['id']}: sidecar entry differs" for x, y in zip(a, b, strict=False) if x != y]
    with zipfile.ZipFile(old / f"{name}.npz") as za, zipfile.ZipFile(new / f"{name}.npz") as zb:
        keys = sorted(set(za.namelist()) | set(zb.namelist()))
        diff += [f"{name}: {k} differs" for k in keys
                 if k not in za.namelist() or k not in zb.namelist() or za.read(k) != zb.read(k)]
    same = [e for e in ("json", "npz")
            if (old / f"{name}.{e}").read_bytes() == (new / f"{name}.{e}").read_bytes()]
    print(f"  {len(a)} cases compared, {len(diff)} differences; byte-identical: {same}")
    return diff


def where(target: str) -> int:
    name = target if target in SUITES else target.rpartition("-")[0]
    rows = enumerate(build(name).rows) if name in SUITES else []
    hits = [(f"{name}-{i:03d}", r) for i, r in rows if target in (name, f"{name}-{i:03d}")]
    for cid, row in hits:
        print(f"{cid}  tools/record/{row.where}  {row.desc}")
    if not hits:
        print(f"no case or suite {target!r}; suites: {', '.join(SUITES)}", file=sys.stderr)
    return 0 if hits else 1


def main(argv: list[str] | None = None) -> int:
    global tf
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", action="append", choices=list(SUITES), help="only this suite")
    ap.add_argument("--out", type=Path, default=ROOT / "conformance" / "fixtures")
    ap.add_argument("--check", action="store_true",
                    help="record to a temporary directory and compare with --out")
    ap.add_argument("--where", metavar="CASE_ID|SUITE", help="print where a case is defined")
    ap.add_argument("--allow-other-tf", action="store_true",
                    help=f"record with a TensorFlow other than {REQUIRED_TF}")
    args = ap.parse_args(argv)
    if args.where:
        return where(args.where)
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
    diff: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) if args.check else args.out
        for name in args.suite or list(SUITES):
            cases = record(name)
            write_suite(out, name, cases, tf_version=tf.__version__, recorder=RECORDER)
            print(f"{name:15s} {len(cases):4d} cases {dict(Counter(c.check for c in cases))}")
            diff += compare(args.out, out, name) if args.check else []
    print(*diff[:50], f"{len(diff)} differences with {args.out}" if args.check else
          f"written to {args.out}", sep="\n")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
