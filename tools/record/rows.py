"""The tables' vocabulary: a suite is a function adding one row per fixture case to a Table.

Building a table needs only NumPy; record.py runs the rows through TF.  A case's id is
"<suite>-<position>", so keep the order of the rows (and of every draw from ``t.rng``) or the
fixtures change: add new cases at the end of a suite, or in a new suite.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

F32, BOTH = np.float32, ("bilinear", "nearest")
GRAD_IMAGE, GRAD_BOXES = "crop_and_resize_grad_image", "crop_and_resize_grad_boxes"
SUITES: dict[str, tuple[int, Any]] = {}  # name -> (seed of the suite's rng, table function)


def suite(seed: int):
    def register(fn):
        SUITES[fn.__name__] = (seed, fn)
        return fn
    return register


def arange(shape, dtype=F32, start: int = 0) -> np.ndarray:
    return (np.arange(int(np.prod(shape))) + start).reshape(shape).astype(dtype)


@dataclass
class Row:
    op: str
    api: str
    inputs: dict[str, np.ndarray]
    params: dict[str, Any]
    desc: str
    expect: str  # "exact", "fill_stats" or "error" (TF must raise)
    where: str  # file:line of the table entry


class Table:
    def __init__(self, name: str, seed: int):
        self.name, self.rng, self.rows, self.pairs = name, np.random.default_rng(seed), [], 0

    def normal(self, shape, scale=1.0, dtype=F32) -> np.ndarray:
        return (self.rng.standard_normal(shape) * scale).astype(dtype)

    def _add(self, op, api, inputs, params, desc, expect="exact", tag=None):
        f = sys._getframe(1)
        while f.f_code.co_filename == __file__:  # point at the table's line, not ours
            f = f.f_back
        desc = f"[{tag}] {desc}" if tag else desc
        where = f"{Path(f.f_code.co_filename).name}:{f.f_lineno}"
        self.rows.append(Row(op, api, inputs, params, desc, expect, where))

    def crop(self, image, boxes, box_indices, crop_size, method="bilinear", extrapolation=0.0,
             *, desc, api="v2", index_kwarg="box_indices", expect="exact", tag=None):
        """tf.image.crop_and_resize; api "v1": tf.compat.v1's, the indices passed as
        ``index_kwarg`` ("box_ind", "box_indices", "both" or "positional")."""
        params = {"crop_size": [int(c) for c in crop_size], "method": method,
                  "extrapolation_value": float(extrapolation)}
        if api == "v1":
            params["index_kwarg"] = index_kwarg
        inputs = {"image": np.asarray(image), "boxes": np.asarray(boxes, F32),
                  "box_indices": np.asarray(box_indices, np.int32)}
        self._add("crop_and_resize", api, inputs, params, desc, expect, tag)

    def glimpse(self, inp, size, offsets, centered=True, normalized=True, noise="zero", *,
                desc, api="v2", uniform_noise=None, expect="exact", tag=None):
        """tf.image.extract_glimpse; api "v1": tf.compat.v1's wrapper if noise is None (op
        default noise "uniform"), else tf.raw_ops.ExtractGlimpse with that noise."""
        params = {"size": [int(s) for s in size], "centered": centered, "normalized": normalized}
        if api == "v1":
            params["uniform_noise"] = bool(uniform_noise)
        if api == "v2" or noise is not None:
            params["noise"] = noise
        inputs = {"input": np.asarray(inp, F32), "offsets": np.asarray(offsets, F32)}
        self._add("extract_glimpse", api, inputs, params, desc, expect, tag)

    def pair(self, image, boxes, box_indices, crop_size, method="bilinear", grads=None, *,
             desc, scale=1.0):
        """The image and box gradients of one forward crop_and_resize for upstream ``grads``
        (drawn standard normal times ``scale`` if None); integer images: box gradient only."""
        image, boxes = np.asarray(image), np.asarray(boxes, F32).reshape(-1, 4)
        idx = np.asarray(box_indices, np.int32).reshape(-1)
        ch, cw = (int(c) for c in crop_size)
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

    def grad_error(self, op, grads, boxes, box_indices, image_or_shape, method="bilinear", *,
                   desc):
        """A gradient op call TF must reject (GRAD_IMAGE takes image_shape, GRAD_BOXES image)."""
        inputs = {"grads": np.asarray(grads, F32), "boxes": np.asarray(boxes, F32),
                  "box_indices": np.asarray(box_indices, np.int32)}
        if op == GRAD_IMAGE:
            params = {"image_shape": list(image_or_shape), "method": method, "T": "float32"}
        else:
            inputs["image"], params = np.asarray(image_or_shape), {}
        self._add(op, "raw", inputs, params, desc, "error")


def build(name: str) -> Table:
    seed, fill = SUITES[name]
    fill(t := Table(name, seed))
    return t
