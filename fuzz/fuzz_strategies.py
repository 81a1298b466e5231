"""Hypothesis strategies for the differential fuzzer, and TensorFlow as the oracle.

Shared by ``fuzz/fuzz_tf.py`` (against live TF) and ``tests/test_differential.py``
(paths and backends against each other, no TF); importing it imports no TF.

Each strategy draws one call as a :class:`xcrop.conformance.Case` without its outcome
(``op``, ``api``, ``inputs``, ``params`` in the fixture format); :func:`run_tf` runs it
through TF 2.21 and returns the finished case (``expected`` or ``error``), so the judging
and the xcrop calls reuse the conformance runner exactly as the recorded fixtures do.

Inputs stay small (at most a few thousand output elements) so one case costs
milliseconds; coverage comes from the number of cases, not their size.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from xcrop.conformance._adapters import PATHS, serve_path
from xcrop.conformance._format import Case

__all__ = [
    "OPS",
    "PATHS",
    "crop_cases",
    "glimpse_cases",
    "grad_boxes_cases",
    "grad_image_cases",
    "path_context",
    "probe_case",
    "run_tf",
    "strategy_for",
]

#: Fuzzed operations: (name used on the command line, fixture op, api).
OPS = ("crop_and_resize", "extract_glimpse_v2", "extract_glimpse_v1", "grad_image",
       "grad_boxes")

#: How a call is served, and the context that serves it: the conformance suite's own
#: (``xcrop.conformance._adapters``), so the fuzzer forces paths exactly as it does.
path_context = serve_path


CROP_DTYPES = ("uint8", "uint16", "int8", "int16", "int32", "int64", "float16", "float32",
               "float64")
GRAD_DTYPES = ("float16", "float32", "float64")


# --------------------------------------------------------------------------------------
# Elements
# --------------------------------------------------------------------------------------

def _elements(dtype: str) -> st.SearchStrategy[Any]:
    """Any finite value of ``dtype``: extremes, subnormals and signed zeros included
    (Hypothesis' float strategy favours those)."""
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return st.floats(allow_nan=False, allow_infinity=False, width=8 * dt.itemsize)
    info = np.iinfo(dt)
    return st.integers(int(info.min), int(info.max))


def _array(draw: Any, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    kind = draw(st.sampled_from(["any", "any", "small", "grid"]))
    dt = np.dtype(dtype)
    if kind == "small":
        # Small integers: every path's lerps are then exact sums, the common real case.
        return draw(hnp.arrays(dt, shape, elements=st.integers(-3, 9).map(
            lambda v: v if dt.kind != "u" else abs(v))))
    if kind == "grid":
        # Distinct small values (mod 100 so that int8 holds them): shows misplaced pixels.
        return (np.arange(int(np.prod(shape))) % 100).reshape(shape).astype(dt)
    return draw(hnp.arrays(dt, shape, elements=_elements(dtype), fill=_elements(dtype)))


def _coordinate(draw: Any, size: int) -> float:
    """One normalized box coordinate in [-2, 3]: random, exactly on a pixel centre
    (k / (size - 1)), exactly half way between two (nearest-neighbour ties) or special."""
    kind = draw(st.integers(0, 5))
    if kind <= 1:
        return draw(st.floats(-2.0, 3.0, width=32))
    if kind in (2, 3) and size > 1:
        den = (size - 1) * (1 if kind == 2 else 2)
        return draw(st.integers(-2 * den, 3 * den)) / den
    return draw(st.sampled_from([0.0, -0.0, 1.0, 0.5, -1.0, 2.0, 1e-30, -1e-30, 1 - 2**-24,
                                 1 + 2**-23, 2**-126, 3.0, -2.0]))


def _boxes(draw: Any, n: int, height: int, width: int) -> np.ndarray:
    rows = []
    for _ in range(n):
        y1, x1, y2, x2 = (_coordinate(draw, s) for s in (height, width, height, width))
        tie = draw(st.integers(0, 7))
        if tie == 0:
            y2 = y1  # zero-height box: every row samples one image row
        elif tie == 1:
            x2 = x1
        elif tie == 2:
            y1, y2 = y2, y1  # a flip of the other order
        rows.append([y1, x1, y2, x2])
    return np.array(rows, dtype=np.float32).reshape(n, 4)


def _indices(draw: Any, n: int, batch: int) -> np.ndarray:
    idx = [draw(st.integers(0, batch - 1)) for _ in range(n)] if batch else [0] * n
    if n and draw(st.integers(0, 40)) == 0:
        # Now and then an index outside [0, batch): TF raises, so must xcrop.
        idx[draw(st.integers(0, n - 1))] = draw(st.sampled_from([-1, batch, batch + 7]))
    return np.array(idx, dtype=np.int32)


def _crop_size(draw: Any) -> int:
    return draw(st.one_of(st.integers(1, 6), st.integers(1, 64)))


def _image_shape(draw: Any, *, min_batch: int = 1) -> tuple[int, int, int, int]:
    batch = draw(st.integers(min_batch, 3))
    height = draw(st.one_of(st.just(1), st.integers(1, 9), st.integers(1, 24)))
    width = draw(st.one_of(st.just(1), st.integers(1, 9), st.integers(1, 24)))
    depth = draw(st.sampled_from([1, 1, 2, 3, 0]))
    return batch, height, width, depth


# --------------------------------------------------------------------------------------
# Strategies: one Case (without outcome) per draw
# --------------------------------------------------------------------------------------

def _pending(op: str, api: str, inputs: dict[str, np.ndarray], params: dict[str, Any]) -> Case:
    # expected is filled in by run_tf; an empty placeholder keeps Case's checks happy.
    return Case("fuzz", "pending", op, api, inputs, params, np.zeros(0, np.float32), "exact")


@st.composite
def crop_cases(draw: Any) -> Case:
    dtype = draw(st.sampled_from(CROP_DTYPES))
    batch, height, width, depth = _image_shape(draw, min_batch=0)
    n = draw(st.integers(0, 4)) if batch else 0
    image = _array(draw, dtype, (batch, height, width, depth))
    boxes = _boxes(draw, n, height, width)
    params: dict[str, Any] = {
        "crop_size": [_crop_size(draw), _crop_size(draw)],
        "method": draw(st.sampled_from(["bilinear", "nearest"])),
        "extrapolation_value": draw(st.one_of(
            st.sampled_from([0.0, -0.0, -1.0, 0.5, float("nan"), float("inf")]),
            st.floats(width=32))),
    }
    api = draw(st.sampled_from(["v2", "v2", "v1"]))
    if api == "v1":
        params["index_kwarg"] = draw(st.sampled_from(["box_ind", "box_indices", "positional"]))
    inputs = {"image": image, "boxes": boxes, "box_indices": _indices(draw, n, batch)}
    return _pending("crop_and_resize", api, inputs, params)


def _offsets(draw: Any, batch: int, height: int, width: int, size: tuple[int, int],
             centered: bool, normalized: bool) -> np.ndarray:
    rows = []
    for _ in range(batch):
        row = []
        for extent, glimpse in ((height, size[0]), (width, size[1])):
            kind = draw(st.integers(0, 4))
            span = max(extent, 1)
            if normalized:
                lo, hi = (-1.5, 1.5) if centered else (-0.5, 1.5)
                if kind <= 1:
                    v = draw(st.floats(lo, hi, width=32))
                else:  # starts on or half way between whole pixels
                    v = draw(st.integers(int(lo * 2 * span), int(hi * 2 * span))) / (2 * span)
            else:
                if centered:
                    lo, hi = -span - glimpse, span + glimpse
                else:
                    lo, hi = -glimpse - 2, span + 2
                if kind <= 1:
                    v = draw(st.floats(float(lo), float(hi), width=32))
                else:
                    v = draw(st.integers(2 * lo, 2 * hi)) / 2
            if kind == 4:
                v = draw(st.sampled_from([0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 1e-30, 0.999999]))
            row.append(v)
        rows.append(row)
    return np.array(rows, dtype=np.float32).reshape(batch, 2)


def glimpse_cases(version: int) -> st.SearchStrategy[Case]:
    @st.composite
    def strategy(draw: Any) -> Case:
        batch = draw(st.integers(0, 3))
        height = draw(st.one_of(st.integers(1, 9), st.integers(0, 20)))
        width = draw(st.one_of(st.integers(1, 9), st.integers(0, 20)))
        depth = draw(st.sampled_from([1, 1, 2, 3, 0]))
        image = _array(draw, "float32", (batch, height, width, depth))
        size = (draw(st.one_of(st.integers(1, 6), st.integers(0, 24))),
                draw(st.one_of(st.integers(1, 6), st.integers(0, 24))))
        centered, normalized = draw(st.booleans()), draw(st.booleans())
        offsets = _offsets(draw, batch, height, width, size, centered, normalized)
        params: dict[str, Any] = {"size": list(size), "centered": centered,
                                  "normalized": normalized}
        random_fill = draw(st.integers(0, 3)) == 0
        if version == 2:
            params["noise"] = draw(st.sampled_from(["uniform", "gaussian", ""])) \
                if random_fill else "zero"
        elif random_fill:
            params["uniform_noise"], params["noise"] = draw(st.sampled_from(
                [(True, "uniform"), (False, "gaussian"), (False, ""), (False, "uniform")]))
        else:
            params["uniform_noise"], params["noise"] = False, "zero"
        api = "v2" if version == 2 else "v1"
        return _pending("extract_glimpse", api, {"input": image, "offsets": offsets}, params)

    return strategy()


def _grads(draw: Any, shape: tuple[int, ...]) -> np.ndarray:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return np.ones(shape, np.float32)
    if kind == 1:
        return draw(hnp.arrays(np.float32, shape, elements=st.integers(-4, 4).map(float)))
    return draw(hnp.arrays(np.float32, shape, elements=_elements("float32"),
                           fill=_elements("float32")))


@st.composite
def grad_image_cases(draw: Any) -> Case:
    batch, height, width, depth = _image_shape(draw, min_batch=0)
    n = draw(st.integers(0, 4)) if batch else 0
    ch, cw = _crop_size(draw), _crop_size(draw)
    method = draw(st.sampled_from(["bilinear", "nearest"]))
    inputs = {
        "grads": _grads(draw, (n, ch, cw, depth)),
        "boxes": _boxes(draw, n, height, width),
        "box_indices": _indices(draw, n, batch),
    }
    params = {"image_shape": [batch, height, width, depth], "method": method,
              "T": draw(st.sampled_from(GRAD_DTYPES)), "crop_size": [ch, cw],
              "forward_method": method}
    return _pending("crop_and_resize_grad_image", "raw", inputs, params)


@st.composite
def grad_boxes_cases(draw: Any) -> Case:
    dtype = draw(st.sampled_from(CROP_DTYPES))
    batch, height, width, depth = _image_shape(draw, min_batch=0)
    n = draw(st.integers(0, 4)) if batch else 0
    ch, cw = _crop_size(draw), _crop_size(draw)
    inputs = {
        "grads": _grads(draw, (n, ch, cw, depth)),
        "image": _array(draw, dtype, (batch, height, width, depth)),
        "boxes": _boxes(draw, n, height, width),
        "box_indices": _indices(draw, n, batch),
    }
    params = {"crop_size": [ch, cw], "forward_method": "bilinear"}
    return _pending("crop_and_resize_grad_boxes", "raw", inputs, params)


def strategy_for(op: str) -> st.SearchStrategy[Case]:
    return {
        "crop_and_resize": crop_cases(),
        "extract_glimpse_v2": glimpse_cases(2),
        "extract_glimpse_v1": glimpse_cases(1),
        "grad_image": grad_image_cases(),
        "grad_boxes": grad_boxes_cases(),
    }[op]


# --------------------------------------------------------------------------------------
# TensorFlow
# --------------------------------------------------------------------------------------

_FN_PREFIX = re.compile(r"^\{\{function_node [^}]*\}\}\s*")
_OP_SUFFIX = re.compile(r"\s*\[Op:\w+\](?:\s*name:[^\n]*)?\s*$")


def _summarize_error(exc: BaseException) -> dict[str, str]:
    # The same summary tools/record/record.py stores for recorded error cases.
    msg = str(exc)
    summary = _OP_SUFFIX.sub("", _FN_PREFIX.sub("", msg.strip())).split("\n")[0].strip()
    return {"tf_type": type(exc).__name__, "tf_module": type(exc).__module__,
            "tf_message": msg, "tf_summary": summary}


def _tf_call(tf: Any, case: Case) -> Any:
    p, x = case.params, case.inputs
    if case.op == "crop_and_resize":
        # tf.compat.v1.image.crop_and_resize is this same op; the api only changes how
        # xcrop is called (box_ind / box_indices / positional).
        return tf.image.crop_and_resize(
            x["image"], x["boxes"], x["box_indices"], np.asarray(p["crop_size"], np.int32),
            method=p["method"], extrapolation_value=p["extrapolation_value"])
    if case.op == "extract_glimpse":
        size = np.asarray(p["size"], np.int32)
        if case.api == "v2":
            return tf.raw_ops.ExtractGlimpseV2(
                input=x["input"], size=size, offsets=x["offsets"], centered=p["centered"],
                normalized=p["normalized"], uniform_noise=False, noise=p["noise"])
        return tf.raw_ops.ExtractGlimpse(
            input=x["input"], size=size, offsets=x["offsets"], centered=p["centered"],
            normalized=p["normalized"], uniform_noise=p["uniform_noise"], noise=p["noise"])
    if case.op == "crop_and_resize_grad_image":
        return tf.raw_ops.CropAndResizeGradImage(
            grads=x["grads"], boxes=x["boxes"], box_ind=x["box_indices"],
            image_size=np.asarray(p["image_shape"], np.int32), T=tf.as_dtype(p["T"]),
            method=p["method"])
    return tf.raw_ops.CropAndResizeGradBoxes(
        grads=x["grads"], image=x["image"], boxes=x["boxes"], box_ind=x["box_indices"])


def is_random_fill(case: Case) -> bool:
    """A glimpse whose out-of-image fill is random in TF (uniform or gaussian)."""
    if case.op != "extract_glimpse":
        return False
    return case.params.get("noise") != "zero"


def run_tf(tf: Any, case: Case, case_id: str) -> Case:
    """``case`` with TF's outcome: its output (``exact``, or ``fill_stats`` for a random
    fill) or the error it raised (``error``)."""
    try:
        out = np.asarray(_tf_call(tf, case).numpy())
    except (tf.errors.OpError, ValueError, TypeError) as exc:
        return Case("fuzz", case_id, case.op, case.api, case.inputs, case.params, None,
                    "error", _summarize_error(exc))
    check = "fill_stats" if is_random_fill(case) else "exact"
    return Case("fuzz", case_id, case.op, case.api, case.inputs, case.params, out, check)


def probe_case(case: Case) -> Case:
    """The zero-fill twin of a random-fill glimpse, on an all-ones input: its zeros are
    exactly the filled positions (outside the image), its ones the copied ones."""
    params = dict(case.params)
    if case.api == "v2":
        params["noise"] = "zero"
    else:
        params["uniform_noise"], params["noise"] = False, "zero"
    inputs = {"input": np.ones_like(case.inputs["input"]), "offsets": case.inputs["offsets"]}
    return _pending("extract_glimpse", case.api, inputs, params)
