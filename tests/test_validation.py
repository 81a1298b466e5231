"""The bad-input matrix of xcrop's public functions (docs/semantics.md §1.2, §2.1).

Covers every argument of ``crop_and_resize``, ``extract_glimpse``, their
``xcrop.compat.v1`` twins, ``crop_and_resize_grad_image``, ``crop_and_resize_grad_boxes``
(the row tables) and of ``set_max_output_bytes``, ``which_path``, ``register_fast_path``
and ``unregister_fast_path`` (``OTHER_ROWS``).

Each row of the tables below is one call (keyword arguments; NumPy arrays are converted
to the backend under test) with the exception class it must raise and a regex its
message must match; every regex names the offending argument. Rows whose ``exc`` is
``None`` are inputs that must be *accepted* (checked for the result's shape, library
and device).

The matrix runs on numpy, torch and array_api_strict; rows marked ``few=True`` also run
on jax and cupy (eager JAX compiles every new shape, so it gets a handful). Expected
outcomes come from the spec's rules, never from TF: this file must not import it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import xcrop
from backends import Backend, backend_params, holds
from xcrop import BoxIndexError, InvalidArgumentError, UnsupportedDTypeError
from xcrop.compat import v1

# ---------------------------------------------------------------------------------------
# Argument placeholders, resolved per backend
# ---------------------------------------------------------------------------------------

OMIT = object()  # leave the argument out of the call


@dataclass(frozen=True)
class Other:
    """An array of a *different* library than the backend under test."""

    array: np.ndarray


@dataclass(frozen=True)
class Lazy:
    """A value built from the backend (e.g. an array on another device)."""

    make: Callable[[Backend], Any]


def _other_library(a: np.ndarray, b: Backend) -> Any:
    if b.name != "numpy":
        return a.copy()
    torch = pytest.importorskip("torch")
    return torch.from_numpy(a.copy())


def _resolve(value: Any, b: Backend) -> Any:
    if isinstance(value, np.ndarray):
        return b.asarray(value)
    if isinstance(value, Other):
        return _other_library(value.array, b)
    if isinstance(value, Lazy):
        return value.make(b)
    return value


# ---------------------------------------------------------------------------------------
# Standard arguments: every row changes one (or two, for the order rows) of them
# ---------------------------------------------------------------------------------------

F32 = np.float32
# B = 2, H = 5, W = 7, D = 2 (the shapes test_api.py uses on JAX too, so eager JAX
# compiles each operation once per session).
IMAGE = np.arange(140, dtype=F32).reshape(2, 5, 7, 2)
BOXES = np.array([[0.0, 0.0, 1.0, 1.0]], dtype=F32)
INDICES = np.array([1], dtype=np.int32)
OFFSETS = np.zeros((2, 2), dtype=F32)


def _box(*row: float) -> np.ndarray:
    return np.array([row], dtype=F32)


def _idx(value: int, dtype: Any = np.int32) -> np.ndarray:
    return np.array([value], dtype=dtype)


def _strided(b: Backend, a: np.ndarray) -> Any:
    """A non-contiguous backend view with ``a``'s values (every other column)."""
    return b.asarray(np.repeat(a, 2, axis=-2))[..., ::2, :]


def _tall(b: Backend) -> Any:
    """A (1, 2**24 + 1, 1, 2) float32 image that costs no memory: a zero-stride view."""
    shape = (1, 2**24 + 1, 1, 2)
    if b.name == "torch":
        import torch

        return torch.zeros((1, 1, 1, 2)).expand(*shape)
    return np.broadcast_to(np.zeros((1, 1, 1, 2), F32), shape)


@dataclass(frozen=True)
class Row:
    id: str
    kwargs: dict[str, Any]
    exc: type[BaseException] | None  # None: the call must succeed
    match: str = ""  # regex the message must match (re.search)
    fns: tuple[str, ...] = ()  # which of FUNCTIONS run this row
    few: bool = False  # also run on jax and cupy
    shape: tuple[int, ...] | None = None  # output shape of an accepted row
    only: tuple[str, ...] | None = None  # restrict to these backends
    xfail: dict[str, str] = field(default_factory=dict)  # backend name -> reason
    out_dtype: str = "float32"  # dtype of an accepted row's result


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "crop": xcrop.crop_and_resize,
    "v1.crop": v1.crop_and_resize,
    "glimpse": xcrop.extract_glimpse,
    "v1.glimpse": v1.extract_glimpse,
    "grad_image": xcrop.crop_and_resize_grad_image,
    "grad_boxes": xcrop.crop_and_resize_grad_boxes,
}
#: The argument whose library and device the result must have.
PRIMARY = {"crop": "image", "v1.crop": "image", "glimpse": "input", "v1.glimpse": "input",
           "grad_image": "grads", "grad_boxes": "image"}
CROPS = ("crop", "v1.crop")
GLIMPSES = ("glimpse", "v1.glimpse")


def crop(id: str, exc: type[BaseException] | None, match: str = "", *,
         fns: tuple[str, ...] = CROPS, few: bool = False, shape: tuple[int, ...] | None = None,
         only: tuple[str, ...] | None = None, xfail: dict[str, str] | None = None,
         **overrides: Any) -> Row:
    kwargs = {"image": IMAGE, "boxes": BOXES, "box_indices": INDICES, "crop_size": (2, 3)}
    kwargs.update(overrides)
    return Row(id, kwargs, exc, match, fns, few, shape, only, xfail or {})


def glimpse(id: str, exc: type[BaseException] | None, match: str = "", *,
            fns: tuple[str, ...] = GLIMPSES, few: bool = False,
            shape: tuple[int, ...] | None = None, only: tuple[str, ...] | None = None,
            xfail: dict[str, str] | None = None, **overrides: Any) -> Row:
    kwargs = {"input": IMAGE, "size": (3, 3), "offsets": OFFSETS}
    kwargs.update(overrides)
    return Row(id, kwargs, exc, match, fns, few, shape, only, xfail or {})


IAE = InvalidArgumentError
UDT = UnsupportedDTypeError
BIE = BoxIndexError
OUTSIDE = r"box_indices has values outside \[0, batch_size\) = \[0, 2\)"
# ---------------------------------------------------------------------------------------
# crop_and_resize (TF2 and tf.compat.v1 signatures)
# ---------------------------------------------------------------------------------------

CROP_ROWS = [
    # --- image: rank, empty axes, dtype, type (docs/semantics.md §1.1, §1.2 steps 1-2)
    crop("image rank 3", IAE, r"\bimage\b.*4-D", image=IMAGE[0], few=True),
    crop("image rank 5", IAE, r"\bimage\b.*4-D", image=IMAGE[None]),
    crop("image H=0", IAE, r"\bimage\b height and width must be positive",
         image=np.zeros((2, 0, 5, 2), F32), few=True),
    crop("image W=0", IAE, r"\bimage\b height and width must be positive",
         image=np.zeros((2, 4, 0, 2), F32)),
    crop("image H=W=0 B=0", IAE, r"\bimage\b height and width must be positive",
         image=np.zeros((0, 0, 0, 2), F32), boxes=np.zeros((0, 4), F32),
         box_indices=np.zeros(0, np.int32)),
    *(crop(f"image dtype {dt}", UDT, rf"\bimage\b dtype {dt} is not supported",
           image=IMAGE.astype(dt))
      for dt in ("bool", "complex64", "uint32", "uint64")),
    crop("image dtype uint32 (jax)", UDT, r"\bimage\b dtype uint32", image=IMAGE.astype("uint32"),
         few=True, only=("jax", "cupy")),
    crop("image nested list", TypeError, r"\bimage\b must be an array",
         image=IMAGE.tolist(), few=True),
    crop("image None", TypeError, r"\bimage\b must be an array", image=None),
    crop("image Python float", TypeError, r"\bimage\b must be an array", image=1.0),
    # --- boxes / box_indices shapes (§1.2 steps 3-4)
    crop("boxes rank 1", IAE, r"\bboxes\b must be 2-D", boxes=BOXES[0], few=True),
    crop("boxes rank 3", IAE, r"\bboxes\b must be 2-D", boxes=BOXES[None]),
    crop("boxes 3 columns", IAE, r"\bboxes\b must have 4 columns", boxes=BOXES[:, :3]),
    crop("boxes 5 columns", IAE, r"\bboxes\b must have 4 columns",
         boxes=np.zeros((1, 5), F32)),
    crop("box_indices rank 2", IAE, r"\bbox_indices\b must be 1-D",
         box_indices=INDICES[None]),
    crop("box_indices rank 0", IAE, r"\bbox_indices\b must be 1-D",
         box_indices=np.array(1, np.int32)),
    crop("box_indices longer", IAE, r"\bbox_indices\b must have one entry per box",
         box_indices=np.array([1, 1], np.int32), few=True),
    crop("box_indices shorter", IAE, r"\bbox_indices\b must have one entry per box",
         boxes=np.zeros((2, 4), F32)),
    crop("boxes empty, box_indices not", IAE, r"\bbox_indices\b must have one entry per box",
         boxes=np.zeros((0, 4), F32)),
    # An empty Python list is a rank-1 array: step 3 (boxes rank 2) comes before step 4's
    # "both empty" rule, so [] is rejected (as TF rejects it).
    crop("boxes empty list", IAE, r"\bboxes\b must be 2-D", boxes=[], box_indices=[]),
    # --- boxes / box_indices types and dtypes
    crop("boxes int32 array", UDT, r"\bboxes\b must have a real floating dtype",
         boxes=BOXES.astype(np.int32)),
    crop("boxes bool array", UDT, r"\bboxes\b must have a real floating dtype",
         boxes=BOXES.astype(bool)),
    crop("boxes None", TypeError, r"\bboxes\b", boxes=None),
    crop("boxes string", TypeError, r"\bboxes\b", boxes="0 0 1 1"),
    crop("boxes ragged list", TypeError, r"\bboxes\b", boxes=[[0.0, 0.0, 1.0], [1.0]]),
    crop("boxes list of strings", TypeError, r"\bboxes\b", boxes=[["a", "b", "c", "d"]]),
    crop("box_indices bool", UDT, r"\bbox_indices\b must have an integer dtype; got bool",
         box_indices=np.array([True])),
    crop("box_indices bool list", UDT, r"\bbox_indices\b must have an integer dtype",
         box_indices=[True]),
    crop("box_indices float32", UDT, r"\bbox_indices\b must have an integer dtype",
         box_indices=INDICES.astype(F32), few=True),
    crop("box_indices float list", UDT, r"\bbox_indices\b must have an integer dtype",
         box_indices=[1.0]),
    crop("box_indices string", TypeError, r"\bbox_indices\b", box_indices="1"),
    crop("box_indices None", TypeError, r"\bbox_indices\b", box_indices=None),
    # --- crop_size (§1.2 step 5)
    crop("crop_size 1 element", IAE, r"\bcrop_size\b must have exactly 2 elements",
         crop_size=(2,), few=True),
    crop("crop_size 3 elements", IAE, r"\bcrop_size\b must have exactly 2 elements",
         crop_size=[2, 3, 4]),
    crop("crop_size (0, 3)", IAE, r"\bcrop_size\b must be positive", crop_size=(0, 3),
         few=True),
    crop("crop_size (3, 0)", IAE, r"\bcrop_size\b must be positive", crop_size=(3, 0)),
    crop("crop_size negative", IAE, r"\bcrop_size\b must be positive", crop_size=(-1, 3)),
    crop("crop_size > int32", IAE, r"\bcrop_size\b must fit in int32", crop_size=(2**31, 2)),
    crop("crop_size floats", TypeError, r"\bcrop_size\b must contain integers",
         crop_size=(2.0, 3.0)),
    crop("crop_size 3.5", TypeError, r"\bcrop_size\b must contain integers",
         crop_size=(2, 3.5)),
    crop("crop_size bools", TypeError, r"\bcrop_size\b must contain integers, not bool",
         crop_size=(True, True)),
    crop("crop_size string", TypeError, r"\bcrop_size\b must be a list/tuple",
         crop_size="23"),
    crop("crop_size bare int", TypeError, r"\bcrop_size\b must be a list/tuple", crop_size=3),
    crop("crop_size None", TypeError, r"\bcrop_size\b", crop_size=None),
    crop("crop_size 2-D array", IAE, r"\bcrop_size\b must have exactly 2 elements",
         crop_size=np.array([[2, 3]], np.int32), few=True),
    crop("crop_size 0-D array", IAE, r"\bcrop_size\b must have exactly 2 elements",
         crop_size=np.array(2, np.int32)),
    crop("crop_size float array", UDT, r"\bcrop_size\b must have an integer dtype",
         crop_size=np.array([2.0, 3.0], F32)),
    crop("crop_size bool array", UDT, r"\bcrop_size\b must have an integer dtype",
         crop_size=np.array([True, True])),
    # --- box index range (§1.2 step 6)
    crop("box index == B", BIE, OUTSIDE, box_indices=_idx(2), few=True),
    crop("box index -1", BIE, OUTSIDE, box_indices=_idx(-1)),
    crop("box index 2**40 int64", BIE, OUTSIDE + r": box_indices\[0\] = 1099511627776",
         box_indices=_idx(2**40, np.int64)),
    crop("box index 2**40 list", BIE, OUTSIDE, box_indices=[2**40]),
    crop("box index uint8 255", BIE, OUTSIDE + r": box_indices\[0\] = 255",
         box_indices=_idx(255, np.uint8), few=True),
    crop("box index int8 -128", BIE, OUTSIDE, box_indices=_idx(-128, np.int8)),
    *(crop(f"box index {dt} 7", BIE, OUTSIDE, box_indices=_idx(7, dt))
      for dt in ("uint16", "uint32", "uint64")),
    crop("second box index bad", BIE, OUTSIDE + r": box_indices\[1\] = 2",
         boxes=np.zeros((2, 4), F32), box_indices=np.array([0, 2], np.int32)),
    crop("B=0 with one box", BIE, r"box_indices has values outside \[0, batch_size\) = \[0, 0\)",
         image=IMAGE[:0], box_indices=_idx(0)),
    # --- finiteness (§1.2 step 7) and overflowing arithmetic
    crop("box NaN", IAE, r"\bboxes\b must be finite", boxes=_box(0, 0, 1, np.nan), few=True),
    crop("box +inf", IAE, r"\bboxes\b must be finite", boxes=_box(np.inf, 0, 1, 1)),
    crop("box -inf", IAE, r"\bboxes\b must be finite", boxes=_box(0, -np.inf, 1, 1)),
    crop("box list 1e39 (inf in float32)", IAE, r"\bboxes\b must be finite",
         boxes=[[0.0, 0.0, 1e39, 1.0]]),
    crop("box float64 1e39 (inf in float32)", IAE, r"\bboxes\b must be finite",
         boxes=np.array([[0.0, 0.0, 1e39, 1.0]])),
    crop("second box NaN", IAE, r"\bboxes\b must be finite; boxes\[1\]",
         boxes=np.array([[0, 0, 1, 1], [0, np.nan, 1, 1]], F32),
         box_indices=np.array([0, 1], np.int32)),
    # y2 - y1 = 6e38 overflows to inf: TF computes NaN coordinates and segfaults.
    crop("y extent overflows", IAE, r"\bboxes\b\[0\].*overflows",
         boxes=_box(-3e38, 0, 3e38, 1), few=True),
    crop("x extent overflows", IAE, r"\bboxes\b\[0\].*overflows",
         boxes=_box(0, -3e38, 1, 3e38)),
    # y1 * (H - 1) = inf and (y2 - y1) * (H - 1) = -inf: inf + 0 * -inf is NaN.
    crop("y1 * (H-1) overflows", IAE, r"\bboxes\b\[0\].*overflows",
         boxes=_box(3e38, 0, -3e38, 1)),
    # 1-pixel axis: (y2 - y1) * 0 = inf * 0 is NaN.
    crop("1-pixel axis, extent overflows", IAE, r"\bboxes\b\[0\].*overflows",
         image=np.ones((2, 1, 5, 2), F32), boxes=_box(-3e38, 0, 3e38, 1)),
    # crop height 1 on a 1-pixel axis: f32(y1 + y2) = inf and inf * 0.5 * 0 is NaN.
    crop("1-pixel axis, crop 1, y1 + y2 overflows", IAE, r"\bboxes\b\[0\].*overflows",
         image=np.ones((2, 1, 5, 2), F32), boxes=_box(3e38, 0, 3e38, 1), crop_size=(1, 3)),
    crop("1-pixel x axis, crop 1, x1 + x2 overflows", IAE, r"\bboxes\b\[0\].*overflows",
         image=np.ones((2, 4, 1, 2), F32), boxes=_box(0, 3e38, 1, 3e38), crop_size=(2, 1)),
    # --- validation order (docs/semantics.md §1.2: first failure wins)
    crop("order: image rank before boxes rank", IAE, r"\bimage\b.*4-D",
         image=IMAGE[0], boxes=BOXES[0]),
    crop("order: H=0 before boxes columns", IAE, r"\bimage\b height and width",
         image=np.zeros((2, 0, 5, 2), F32), boxes=BOXES[:, :3]),
    crop("order: boxes rank before crop_size", IAE, r"\bboxes\b must be 2-D",
         boxes=BOXES[0], crop_size=(0, 3)),
    crop("order: length mismatch before crop_size", IAE, r"\bbox_indices\b must have one entry",
         box_indices=np.array([1, 1], np.int32), crop_size=(2,)),
    crop("order: crop_size before box index", IAE, r"\bcrop_size\b must be positive",
         box_indices=_idx(2), crop_size=(0, 3), few=True),
    crop("order: crop_size type before box index", TypeError, r"\bcrop_size\b",
         box_indices=_idx(2), crop_size=(2.0, 3.0)),
    crop("order: crop_size before NaN box", IAE, r"\bcrop_size\b must have exactly 2",
         boxes=_box(np.nan, 0, 1, 1), crop_size=(2, 3, 4)),
    crop("order: box index before NaN box", BIE, OUTSIDE,
         boxes=_box(np.nan, 0, 1, 1), box_indices=_idx(2), few=True),
    crop("order: box index before overflow", BIE, OUTSIDE,
         boxes=_box(-3e38, 0, 3e38, 1), box_indices=_idx(-1)),
    # --- method, extrapolation_value
    *(crop(f"method {m!r}", IAE, r"\bmethod\b must be one of 'bilinear', 'nearest'", method=m)
      for m in ("bicubic", "", None, "Bilinear", "area")),
    *(crop(f"extrapolation_value {v!r}", TypeError, r"\bextrapolation_value\b",
           extrapolation_value=v) for v in ("a", None, True, 1j, [0.0])),
    # --- arrays from two libraries / two devices
    crop("boxes of another library", TypeError, r"\bboxes\b is a \w+ array but image is a",
         boxes=Other(BOXES), few=True),
    crop("box_indices of another library", TypeError,
         r"\bbox_indices\b is a \w+ array but image is a", box_indices=Other(INDICES),
         few=True),
    crop("crop_size of another library", TypeError, r"\bcrop_size\b is a \w+ array",
         crop_size=Other(np.array([2, 3], np.int32))),
    crop("boxes on another device", IAE, r"\bboxes\b is on device",
         boxes=Lazy(lambda b: b.xp.asarray(BOXES)), only=("array_api_strict",)),
    crop("box_indices on another device", IAE, r"\bbox_indices\b is on device",
         box_indices=Lazy(lambda b: b.xp.asarray(INDICES)), only=("array_api_strict",)),
    # --- tf.compat.v1 argument handling
    crop("v1 box_ind and box_indices", IAE, r"\bbox_ind\b and \bbox_indices\b",
         box_ind=INDICES, fns=("v1.crop",)),
    crop("v1 neither box_ind nor box_indices", TypeError, r"\bbox_indices\b",
         box_indices=OMIT, fns=("v1.crop",)),
    crop("v1 crop_size missing", TypeError, r"\bcrop_size\b", crop_size=OMIT,
         fns=("v1.crop",)),
    crop("v1 crop_size missing (box_ind)", TypeError, r"\bcrop_size\b", crop_size=OMIT,
         box_indices=OMIT, box_ind=INDICES, fns=("v1.crop",)),
    crop("v1 bad box_ind", BIE, OUTSIDE, box_indices=OMIT, box_ind=_idx(2),
         fns=("v1.crop",)),
    # --- accepted inputs
    crop("ok: crop_size int32 array of the backend", None, crop_size=np.array([2, 3], np.int32),
         shape=(1, 2, 3, 2), few=True),
    crop("ok: crop_size int64 array of the backend", None, crop_size=np.array([2, 3], np.int64),
         shape=(1, 2, 3, 2)),
    crop("ok: crop_size uint8 array", None, crop_size=np.array([2, 3], np.uint8),
         shape=(1, 2, 3, 2)),
    crop("ok: crop_size NumPy ints", None, crop_size=(np.int64(2), np.int32(3)),
         shape=(1, 2, 3, 2)),
    crop("ok: box index uint8 1", None, box_indices=_idx(1, np.uint8), shape=(1, 2, 3, 2)),
    *(crop(f"ok: box index {dt} 1", None, box_indices=_idx(1, dt), shape=(1, 2, 3, 2))
      for dt in ("uint16", "uint32", "uint64")),
    crop("ok: box index int16", None, box_indices=_idx(1, np.int16), shape=(1, 2, 3, 2)),
    crop("ok: boxes float16", None, boxes=BOXES.astype(np.float16), shape=(1, 2, 3, 2)),
    crop("ok: boxes float64", None, boxes=BOXES.astype(np.float64), shape=(1, 2, 3, 2)),
    crop("ok: no boxes (0, 4) / (0,)", None, boxes=np.zeros((0, 4), F32),
         box_indices=np.zeros(0, np.int32), shape=(0, 2, 3, 2)),
    # §1.2 step 4: both empty means zero boxes and no further box checks (columns, length).
    crop("ok: no boxes (0, 5) / (0,)", None, boxes=np.zeros((0, 5), F32),
         box_indices=np.zeros(0, np.int32), shape=(0, 2, 3, 2)),
    crop("ok: no boxes, B=0", None, image=IMAGE[:0], boxes=np.zeros((0, 4), F32),
         box_indices=np.zeros(0, np.int32), shape=(0, 2, 3, 2)),
    crop("ok: D=0", None, image=IMAGE[..., :0], shape=(1, 2, 3, 0)),
    # Crop height 1: in_y = 0.5 * f32(y1 + y2) * (H - 1) = 0, no overflow (§1.3).
    crop("ok: huge box, crop height 1", None, boxes=_box(-3e38, 0, 3e38, 1),
         crop_size=(1, 3), shape=(1, 1, 3, 2)),
    # Crop height 1, f32(y1 + y2) = inf: in_y = inf > H - 1, extrapolated (§1.4).
    crop("ok: huge box, crop height 1, y1 + y2 = inf", None, boxes=_box(3e38, 0, 3e38, 1),
         crop_size=(1, 3), shape=(1, 1, 3, 2)),
    crop("ok: extrapolation_value NumPy float32", None, extrapolation_value=np.float32(2),
         shape=(1, 2, 3, 2)),
    crop("ok: extrapolation_value int", None, extrapolation_value=-1, shape=(1, 2, 3, 2)),
    crop("ok: v1 box_ind", None, box_indices=OMIT, box_ind=INDICES, fns=("v1.crop",),
         shape=(1, 2, 3, 2)),
    # --- more types per argument: complex, 0-d, Python scalars, uint wrap-around
    crop("image complex128", UDT, r"\bimage\b dtype complex128 is not supported",
         image=IMAGE.astype(np.complex128)),
    crop("image too tall (> 2**24)", IAE, r"\bimage\b height and width must be at most 2\*\*24",
         image=Lazy(_tall), boxes=_box(0, 0, 1, 1), box_indices=_idx(0),
         only=("numpy", "torch")),
    crop("boxes complex64", UDT, r"\bboxes\b must have a real floating dtype",
         boxes=BOXES.astype(np.complex64)),
    crop("boxes 0-d array", IAE, r"\bboxes\b must be 2-D", boxes=np.array(0.5, F32)),
    crop("boxes Python float", IAE, r"\bboxes\b must be 2-D", boxes=0.5),
    crop("box_indices complex", UDT, r"\bbox_indices\b must have an integer dtype",
         box_indices=INDICES.astype(np.complex64)),
    crop("box_indices Python int", IAE, r"\bbox_indices\b must be 1-D", box_indices=1),
    crop("box index uint32 max", BIE, OUTSIDE + r": box_indices\[0\] = 4294967295",
         box_indices=_idx(2**32 - 1, np.uint32)),
    # 2**64 - 1 does not fit int64: it must still be refused, whatever it wraps to.
    crop("box index uint64 max", BIE, OUTSIDE, box_indices=_idx(2**64 - 1, np.uint64)),
    crop("box index int64 min", BIE, OUTSIDE, box_indices=_idx(-(2**63), np.int64)),
    crop("box float32 max (extent overflows)", IAE, r"\bboxes\b\[0\].*overflows",
         boxes=_box(-3.4028235e38, 0, 3.4028235e38, 1)),
    # CVE-2022-23587 (TF integer overflow in the output size): refused by the output limit.
    # Not (2**31 - 1, 2**31 - 1): validation allocates the (n, crop) sample coordinates
    # before the limit is checked, 8 GiB per axis there (see test_reliability.py).
    crop("crop_size 2**22 x 2**22", xcrop.OutputTooLargeError,
         r"crop_and_resize output of shape \(1, 4194304, 4194304, 2\)",
         crop_size=(2**22, 2**22)),
    crop("crop_size 2**63", IAE, r"\bcrop_size\b must fit in int32", crop_size=(2**63, 1)),
    crop("crop_size int64 array > int32", IAE, r"\bcrop_size\b must fit in int32",
         crop_size=np.array([2**40, 1], np.int64)),
    crop("crop_size complex array", UDT, r"\bcrop_size\b must have an integer dtype",
         crop_size=np.array([2, 3], np.complex64)),
    crop("crop_size negative int array", IAE, r"\bcrop_size\b must be positive",
         crop_size=np.array([-2, 3], np.int32)),
    crop("crop_size list of lists", TypeError, r"\bcrop_size\b", crop_size=[[2], [3]]),
    crop("method int", IAE, r"\bmethod\b must be one of", method=0),
    crop("method bytes", IAE, r"\bmethod\b must be one of", method=b"bilinear"),
    crop("extrapolation_value 1-d array", TypeError, r"\bextrapolation_value\b",
         extrapolation_value=np.zeros(2, F32)),
    # --- accepted: non-contiguous, read-only (the NumPy adapter's arrays are), scalars
    crop("ok: non-contiguous image, boxes, indices", None,
         image=Lazy(lambda b: _strided(b, IMAGE)),
         boxes=Lazy(lambda b: b.asarray(np.repeat(BOXES, 2, axis=0))[::2, :]),
         box_indices=Lazy(lambda b: b.asarray(np.repeat(INDICES, 2))[::2]), shape=(1, 2, 3, 2)),
    crop("ok: extrapolation_value NaN", None, extrapolation_value=float("nan"),
         shape=(1, 2, 3, 2)),
    crop("ok: extrapolation_value 0-d array", None,
         extrapolation_value=np.array(1.5, F32), shape=(1, 2, 3, 2), only=("numpy",)),
    crop("ok: every image dtype (int64)", None, image=IMAGE.astype(np.int64), shape=(1, 2, 3, 2)),
    crop("ok: image uint16", None, image=IMAGE.astype(np.uint16), shape=(1, 2, 3, 2)),
    crop("ok: box y1 == y2 (zero height)", None, boxes=_box(0.5, 0, 0.5, 1), shape=(1, 2, 3, 2)),
]

# ---------------------------------------------------------------------------------------
# extract_glimpse (TF2 and tf.compat.v1)
# ---------------------------------------------------------------------------------------

GLIMPSE_ROWS = [
    # --- input (§2.1 step 1, dtype: real and integer inputs converted to float32, as TF's
    # wrapper does; its first error is then a later one)
    glimpse("input rank 3", IAE, r"\binput\b must be 4-D", input=IMAGE[0], few=True),
    glimpse("input rank 5", IAE, r"\binput\b must be 4-D", input=IMAGE[None]),
    *(glimpse(f"ok: input {dt}", None, input=IMAGE.astype(dt), shape=(2, 3, 3, 2))
      for dt in ("float64", "uint8", "float16", "int32", "int64")),
    glimpse("input float64 then negative size: the size error", IAE,
            r"\bsize\b must be non-negative", input=IMAGE.astype("float64"), size=(-1, 3)),
    glimpse("input int64 rank 3: the rank error", IAE, r"\binput\b must be 4-D",
            input=IMAGE[0].astype("int64"), few=True),
    glimpse("input nested list", TypeError, r"\binput\b must be an array",
            input=IMAGE.tolist(), few=True),
    glimpse("input None", TypeError, r"\binput\b must be an array", input=None),
    # --- size (§2.1 steps 2-3)
    glimpse("size 3 elements", IAE, r"\bsize\b must have exactly 2 elements", size=(3, 3, 3),
            few=True),
    glimpse("size 1 element", IAE, r"\bsize\b must have exactly 2 elements", size=[3]),
    glimpse("size negative height", IAE, r"\bsize\b must be non-negative", size=(-1, 3),
            few=True),
    glimpse("size negative width", IAE, r"\bsize\b must be non-negative", size=(3, -2)),
    glimpse("size > int32", IAE, r"\bsize\b must fit in int32", size=(2**31, 1)),
    glimpse("size floats", TypeError, r"\bsize\b must contain integers", size=(3.0, 3)),
    glimpse("size bools", TypeError, r"\bsize\b must contain integers, not bool",
            size=(True, 3)),
    glimpse("size None", TypeError, r"\bsize\b", size=None),
    glimpse("size string", TypeError, r"\bsize\b", size="33"),
    glimpse("size 2-D array", IAE, r"\bsize\b must have exactly 2 elements",
            size=np.array([[3, 3]], np.int32)),
    glimpse("size float array", UDT, r"\bsize\b must have an integer dtype",
            size=np.array([3.0, 3.0], F32)),
    # --- offsets (§2.1 steps 4-6)
    glimpse("offsets rank 1", IAE, r"\boffsets\b must be 2-D", offsets=OFFSETS[0], few=True),
    glimpse("offsets rank 3", IAE, r"\boffsets\b must be 2-D", offsets=OFFSETS[None]),
    glimpse("offsets 1 row for B=2", IAE, r"\boffsets\b must have one row per batch",
            offsets=OFFSETS[:1], few=True),
    glimpse("offsets 3 rows for B=2", IAE, r"\boffsets\b must have one row per batch",
            offsets=np.zeros((3, 2), F32)),
    glimpse("offsets 3 columns", IAE, r"\boffsets\b must have 2 columns",
            offsets=np.zeros((2, 3), F32)),
    glimpse("offsets 1 column", IAE, r"\boffsets\b must have 2 columns",
            offsets=np.zeros((2, 1), F32)),
    glimpse("offsets int array", UDT, r"\boffsets\b must have a real floating dtype",
            offsets=OFFSETS.astype(np.int32)),
    glimpse("offsets None", TypeError, r"\boffsets\b", offsets=None),
    glimpse("offsets ragged list", TypeError, r"\boffsets\b", offsets=[[0.0, 0.0], [0.0]]),
    # --- order (§2.1)
    glimpse("order: input rank before size", IAE, r"\binput\b must be 4-D",
            input=IMAGE[0], size=(3,)),
    glimpse("order: size count before size sign", IAE, r"\bsize\b must have exactly 2",
            size=(-1, -1, -1)),
    glimpse("order: size before offsets rank", IAE, r"\bsize\b must be non-negative",
            size=(-1, 3), offsets=OFFSETS[0]),
    glimpse("order: offsets rank before row count", IAE, r"\boffsets\b must be 2-D",
            offsets=np.zeros(3, F32)),
    glimpse("order: offsets rows before columns", IAE, r"\boffsets\b must have one row",
            offsets=np.zeros((3, 3), F32)),
    # --- flags, noise, seed
    *(glimpse(f"centered={v!r}", TypeError, r"\bcentered\b must be a bool", centered=v)
      for v in (1, None, "yes")),
    *(glimpse(f"normalized={v!r}", TypeError, r"\bnormalized\b must be a bool", normalized=v)
      for v in (0, 1.0)),
    *(glimpse(f"noise {v!r}", IAE, r"\bnoise\b must be one of 'uniform', 'gaussian', 'zero'",
              noise=v, fns=("glimpse",)) for v in ("foo", None, "Uniform")),
    glimpse("seed -1", IAE, r"\bseed\b must be None or a non-negative int", seed=-1),
    *(glimpse(f"seed {v!r}", TypeError, r"\bseed\b must be None or a non-negative int", seed=v)
      for v in (1.5, True, "3")),
    # --- tf.compat.v1 noise resolution (§2.4)
    *(glimpse(f"v1 uniform_noise=True, noise={v!r}", IAE,
              r"The \buniform_noise\b and \bnoise\b could not be specified at the same time",
              noise=v, fns=("v1.glimpse",)) for v in ("gaussian", "zero", "foo")),
    *(glimpse(f"v1 uniform_noise={v!r}", TypeError, r"\buniform_noise\b must be a bool",
              uniform_noise=v, fns=("v1.glimpse",)) for v in ("yes", 1, None)),
    glimpse("v1 uniform_noise=False, noise 'foo'", IAE, r"\bnoise\b must be one of",
            uniform_noise=False, noise="foo", fns=("v1.glimpse",)),
    # --- arrays from two libraries / two devices
    glimpse("offsets of another library", TypeError, r"\boffsets\b is a \w+ array but input",
            offsets=Other(OFFSETS), few=True),
    glimpse("size of another library", TypeError, r"\bsize\b is a \w+ array",
            size=Other(np.array([3, 3], np.int32))),
    glimpse("offsets on another device", IAE, r"\boffsets\b is on device",
            offsets=Lazy(lambda b: b.xp.asarray(OFFSETS)), only=("array_api_strict",)),
    # --- accepted inputs
    # TF has no H, W > 0 check for glimpses (§2.1): xcrop returns all fill.
    glimpse("ok: input H=0", None, input=np.zeros((2, 0, 5, 2), F32), shape=(2, 3, 3, 2),
            few=True),
    glimpse("ok: input W=0", None, input=np.zeros((2, 4, 0, 2), F32), shape=(2, 3, 3, 2)),
    glimpse("ok: size (0, 3)", None, size=(0, 3), shape=(2, 0, 3, 2)),
    glimpse("ok: size int32 array of the backend", None, size=np.array([3, 3], np.int32),
            noise="zero", fns=("glimpse",), shape=(2, 3, 3, 2), few=True),
    glimpse("ok: v1 size int32 array of the backend", None, size=np.array([3, 2], np.int32),
            fns=("v1.glimpse",), shape=(2, 3, 2, 2)),
    glimpse("ok: offsets list", None, offsets=[[0, 0], [0.5, -0.5]], shape=(2, 3, 3, 2)),
    glimpse("ok: offsets float64", None, offsets=OFFSETS.astype(np.float64),
            shape=(2, 3, 3, 2)),
    glimpse("ok: offsets NaN", None, offsets=np.full((2, 2), np.nan, F32), noise="zero",
            fns=("glimpse",), shape=(2, 3, 3, 2)),
    glimpse("ok: B=0", None, input=IMAGE[:0], offsets=np.zeros((0, 2), F32),
            shape=(0, 3, 3, 2)),
    glimpse("ok: centered NumPy bool", None, centered=np.bool_(False), shape=(2, 3, 3, 2)),
    glimpse("ok: normalized NumPy bool", None, normalized=np.bool_(True), shape=(2, 3, 3, 2)),
    glimpse("ok: seed 2**64", None, seed=2**64, shape=(2, 3, 3, 2)),
    glimpse("ok: noise ''", None, noise="", fns=("glimpse",), shape=(2, 3, 3, 2)),
    glimpse("ok: v1 uniform_noise=True, noise ''", None, noise="", fns=("v1.glimpse",),
            shape=(2, 3, 3, 2)),
    # --- more types per argument
    glimpse("input complex64", UDT, r"\binput\b must have a real floating or integer dtype",
            input=IMAGE.astype(np.complex64)),
    glimpse("input bool", UDT, r"\binput\b must have a real floating or integer dtype",
            input=IMAGE > 3),
    glimpse("input Python float", TypeError, r"\binput\b must be an array", input=1.0),
    glimpse("input too tall (> 2**24)", IAE, r"\binput\b height and width must be at most",
            input=Lazy(_tall), offsets=np.zeros((1, 2), F32), only=("numpy", "torch")),
    glimpse("offsets complex", UDT, r"\boffsets\b must have a real floating dtype",
            offsets=OFFSETS.astype(np.complex64)),
    glimpse("offsets bool", UDT, r"\boffsets\b must have a real floating dtype",
            offsets=OFFSETS > 0),
    glimpse("offsets 0-d array", IAE, r"\boffsets\b must be 2-D", offsets=np.array(0.0, F32)),
    glimpse("offsets Python float", IAE, r"\boffsets\b must be 2-D", offsets=0.0),
    glimpse("offsets string", TypeError, r"\boffsets\b", offsets="0 0"),
    glimpse("size int32 max", xcrop.OutputTooLargeError,
            r"extract_glimpse output of shape \(2, 2147483647, 2147483647, 2\)",
            size=(2**31 - 1, 2**31 - 1)),
    glimpse("size 2**63", IAE, r"\bsize\b must fit in int32", size=(1, 2**63)),
    glimpse("size 0-d array", IAE, r"\bsize\b must have exactly 2 elements",
            size=np.array(3, np.int32)),
    glimpse("size bool array", UDT, r"\bsize\b must have an integer dtype",
            size=np.array([True, True])),
    glimpse("size negative int array", IAE, r"\bsize\b must be non-negative",
            size=np.array([3, -3], np.int64)),
    glimpse("size bare int", TypeError, r"\bsize\b must be a list/tuple", size=3),
    glimpse("centered array", TypeError, r"\bcentered\b must be a bool",
            centered=np.array([True])),
    glimpse("noise int", IAE, r"\bnoise\b must be one of", noise=0, fns=("glimpse",)),
    glimpse("seed numpy float", TypeError, r"\bseed\b must be None or a non-negative int",
            seed=np.float64(1.0)),
    # --- accepted
    glimpse("ok: non-contiguous input", None, input=Lazy(lambda b: _strided(b, IMAGE)),
            shape=(2, 3, 3, 2)),
    glimpse("ok: size (0, 0)", None, size=(0, 0), shape=(2, 0, 0, 2)),
    glimpse("ok: size larger than the image", None, size=(9, 11), noise="zero",
            fns=("glimpse",), shape=(2, 9, 11, 2)),
    glimpse("ok: seed NumPy int", None, seed=np.int64(5), shape=(2, 3, 3, 2)),
    glimpse("ok: offsets inf", None, offsets=np.full((2, 2), np.inf, F32), noise="zero",
            fns=("glimpse",), shape=(2, 3, 3, 2)),
]

# ---------------------------------------------------------------------------------------
# crop_and_resize_grad_image / crop_and_resize_grad_boxes
# ---------------------------------------------------------------------------------------

GRADS = np.ones((1, 2, 3, 2), F32)  # one box, 2x3 crop, depth 2 (IMAGE's)


def grad_image(id: str, exc: type[BaseException] | None, match: str = "", *,
               shape: tuple[int, ...] | None = None, only: tuple[str, ...] | None = None,
               xfail: dict[str, str] | None = None, out_dtype: str = "float32",
               **overrides: Any) -> Row:
    kwargs = {"grads": GRADS, "boxes": BOXES, "box_indices": INDICES,
              "image_shape": IMAGE.shape}
    kwargs.update(overrides)
    return Row(id, kwargs, exc, match, ("grad_image",), False, shape, only, xfail or {},
               out_dtype)


def grad_boxes(id: str, exc: type[BaseException] | None, match: str = "", *,
               shape: tuple[int, ...] | None = None, only: tuple[str, ...] | None = None,
               xfail: dict[str, str] | None = None, **overrides: Any) -> Row:
    kwargs = {"grads": GRADS, "image": IMAGE, "boxes": BOXES, "box_indices": INDICES}
    kwargs.update(overrides)
    return Row(id, kwargs, exc, match, ("grad_boxes",), False, shape, only, xfail or {})


GRAD_ROWS = [
    # --- grads (both functions)
    *(f(f"{f.__name__}: grads rank 3", IAE, r"\bgrads\b must be 4-D", grads=GRADS[0])
      for f in (grad_image, grad_boxes)),
    *(f(f"{f.__name__}: grads int32", UDT, r"\bgrads\b must have a real floating dtype",
        grads=GRADS.astype(np.int32)) for f in (grad_image, grad_boxes)),
    *(f(f"{f.__name__}: grads complex", UDT, r"\bgrads\b must have a real floating dtype",
        grads=GRADS.astype(np.complex64)) for f in (grad_image, grad_boxes)),
    grad_image("grad_image: grads None", TypeError, r"\bgrads\b", grads=None),
    grad_image("grad_image: grads nested list", TypeError, r"\bgrads\b must be an array",
               grads=GRADS.tolist()),
    grad_boxes("grad_boxes: grads None", TypeError, r"\bgrads\b", grads=None),
    *(f(f"{f.__name__}: grads crop height 0", IAE, r"crop dimensions must be positive: "
        r"\bgrads\b", grads=np.ones((1, 0, 3, 2), F32)) for f in (grad_image, grad_boxes)),
    # --- boxes, box_indices (both functions)
    *(f(f"{f.__name__}: boxes rank 1", IAE, r"\bboxes\b must be 2-D", boxes=BOXES[0])
      for f in (grad_image, grad_boxes)),
    *(f(f"{f.__name__}: boxes 2 rows for 1 grads", IAE, r"\bboxes\b must have one row per",
        boxes=np.zeros((2, 4), F32)) for f in (grad_image, grad_boxes)),
    *(f(f"{f.__name__}: boxes int32", UDT, r"\bboxes\b must have a real floating dtype",
        boxes=BOXES.astype(np.int32)) for f in (grad_image, grad_boxes)),
    *(f(f"{f.__name__}: box NaN", IAE, r"\bboxes\b must be finite",
        boxes=_box(0, np.nan, 1, 1)) for f in (grad_image, grad_boxes)),
    *(f(f"{f.__name__}: box inf", IAE, r"\bboxes\b must be finite",
        boxes=_box(0, 0, np.inf, 1)) for f in (grad_image, grad_boxes)),
    *(f(f"{f.__name__}: box extent overflows", IAE, r"\bboxes\b\[0\].*overflows",
        boxes=_box(-3e38, 0, 3e38, 1)) for f in (grad_image, grad_boxes)),
    *(f(f"{f.__name__}: box_indices float", UDT, r"\bbox_indices\b must have an integer",
        box_indices=INDICES.astype(F32)) for f in (grad_image, grad_boxes)),
    *(f(f"{f.__name__}: box_indices bool", UDT, r"\bbox_indices\b must have an integer",
        box_indices=np.array([True])) for f in (grad_image, grad_boxes)),
    *(f(f"{f.__name__}: box_indices 2 entries", IAE, r"\bbox_indices\b must be 1-D with one",
        box_indices=np.array([0, 1], np.int32)) for f in (grad_image, grad_boxes)),
    *(f(f"{f.__name__}: box index == B", BIE, OUTSIDE, box_indices=_idx(2))
      for f in (grad_image, grad_boxes)),
    *(f(f"{f.__name__}: box index -1", BIE, OUTSIDE, box_indices=_idx(-1))
      for f in (grad_image, grad_boxes)),
    *(f(f"{f.__name__}: box index uint64 max", BIE, OUTSIDE,
        box_indices=_idx(2**64 - 1, np.uint64)) for f in (grad_image, grad_boxes)),
    *(f(f"{f.__name__}: boxes of another library", TypeError, r"\bboxes\b is a \w+ array",
        boxes=Other(BOXES)) for f in (grad_image, grad_boxes)),
    *(f(f"{f.__name__}: boxes on another device", IAE, r"\bboxes\b is on device",
        boxes=Lazy(lambda b: b.xp.asarray(BOXES)), only=("array_api_strict",))
      for f in (grad_image, grad_boxes)),
    # --- grad_image: image_shape, method, dtype
    grad_image("grad_image: image_shape 3 elements", IAE,
               r"\bimage_shape\b must have exactly 4 elements", image_shape=(2, 5, 7)),
    grad_image("grad_image: image_shape H=0", IAE, r"image height and width must be positive",
               image_shape=(2, 0, 7, 2)),
    grad_image("grad_image: image_shape negative batch", IAE,
               r"\bimage_shape\b must be non-negative", image_shape=(-1, 5, 7, 2)),
    grad_image("grad_image: image_shape depth differs", IAE, r"\bimage_shape\b depth 3",
               image_shape=(2, 5, 7, 3)),
    grad_image("grad_image: image_shape H > 2**24", IAE, r"at most 2\*\*24",
               image_shape=(2, 2**24 + 1, 7, 2)),
    grad_image("grad_image: image_shape 2-D array", IAE,
               r"\bimage_shape\b must have exactly 4 elements .* got shape \(1, 4\)",
               image_shape=np.array([[2, 5, 7, 2]], np.int32)),
    grad_image("grad_image: image_shape None", TypeError, r"\bimage_shape\b", image_shape=None),
    grad_image("grad_image: image_shape string", TypeError, r"\bimage_shape\b",
               image_shape="2572"),
    grad_image("grad_image: image_shape floats", TypeError, r"\bimage_shape\b",
               image_shape=(2.0, 5.5, 7.0, 2.0)),
    grad_image("grad_image: image_shape bools", TypeError, r"\bimage_shape\b",
               image_shape=(True, True, True, True)),
    grad_image("grad_image: image_shape float array", UDT, r"\bimage_shape\b",
               image_shape=np.array([2, 5, 7, 2], F32)),
    grad_image("grad_image: method bicubic", IAE, r"\bmethod\b must be one of",
               method="bicubic"),
    grad_image("grad_image: method None", IAE, r"\bmethod\b must be one of", method=None),
    *(grad_image(f"grad_image: dtype {d!r}", UDT, r"\bdtype\b must be float16, float32 or",
                 dtype=d) for d in ("int32", "uint8", "bfloat16", "complex64")),
    grad_image("grad_image: dtype None", UDT, r"\bdtype\b must be float16", dtype=None),
    grad_image("grad_image: dtype np.int32", UDT, r"\bdtype\b must be float16",
               dtype=Lazy(lambda b: b.xp.int32)),
    grad_image("grad_image: grads of another library", TypeError, r"\bboxes\b is a \w+ array",
               grads=Other(GRADS)),
    # --- grad_boxes: image
    grad_boxes("grad_boxes: image rank 3", IAE, r"\bimage\b must be 4-D", image=IMAGE[0]),
    grad_boxes("grad_boxes: image bool", UDT, r"\bimage\b dtype bool is not supported",
               image=IMAGE > 3),
    grad_boxes("grad_boxes: image uint32", UDT, r"\bimage\b dtype uint32 is not supported",
               image=IMAGE.astype(np.uint32)),
    grad_boxes("grad_boxes: image list", TypeError, r"\bimage\b must be an array",
               image=IMAGE.tolist()),
    grad_boxes("grad_boxes: image W=0", IAE, r"image height and width must be positive",
               image=np.zeros((2, 5, 0, 2), F32)),
    grad_boxes("grad_boxes: grads depth differs", IAE, r"\bgrads\b depth 3",
               grads=np.ones((1, 2, 3, 3), F32)),
    grad_boxes("grad_boxes: grads of another library", TypeError,
               r"\bgrads\b is a \w+ array but image", grads=Other(GRADS)),
    # --- accepted
    grad_image("ok: grad_image float64", None, dtype="float64", shape=IMAGE.shape,
               out_dtype="float64"),
    grad_image("ok: grad_image dtype object", None, dtype=Lazy(lambda b: b.xp.float32),
               shape=IMAGE.shape),
    grad_image("ok: grad_image image_shape int array", None,
               image_shape=np.array(IMAGE.shape, np.int64), shape=IMAGE.shape),
    grad_image("ok: grad_image nearest", None, method="nearest", shape=IMAGE.shape),
    grad_image("ok: grad_image no boxes", None, grads=np.ones((0, 2, 3, 2), F32),
               boxes=np.zeros((0, 4), F32), box_indices=np.zeros(0, np.int32),
               shape=IMAGE.shape),
    grad_image("ok: grad_image non-contiguous grads", None,
               grads=Lazy(lambda b: _strided(b, GRADS)), shape=IMAGE.shape),
    grad_boxes("ok: grad_boxes uint8 image", None, image=IMAGE.astype(np.uint8), shape=(1, 4)),
    grad_boxes("ok: grad_boxes non-contiguous image", None,
               image=Lazy(lambda b: _strided(b, IMAGE)), shape=(1, 4)),
    grad_boxes("ok: grad_boxes float16 grads", None, grads=GRADS.astype(np.float16),
               shape=(1, 4), only=("numpy", "torch")),
]

# ---------------------------------------------------------------------------------------
# Parametrization: rows x functions x backends
# ---------------------------------------------------------------------------------------

MATRIX_BACKENDS = ("numpy", "torch", "array_api_strict")
FEW_BACKENDS = ("jax", "cupy")
_BACKENDS = {p.id: p for p in backend_params()}


def _params(rows: list[Row]) -> list[Any]:
    out = []
    for row in rows:
        for k, fn_name in enumerate(row.fns):
            # The tf.compat.v1 twin shares the validator: JAX runs the TF2 function only.
            few = row.few and k == 0
            names = row.only or (MATRIX_BACKENDS + (FEW_BACKENDS if few else ()))
            for name in names:
                bparam = _BACKENDS[name]
                if not holds(bparam.values[0].adapter, *row.kwargs.values()):
                    continue  # e.g. float16 on array-api-strict: a call that cannot exist
                marks = list(bparam.marks)
                reason = row.xfail.get(name) or row.xfail.get("*")
                if reason:
                    marks.append(pytest.mark.xfail(strict=True, reason=reason))
                out.append(pytest.param(row, fn_name, bparam.values[0], marks=marks,
                                        id=f"{fn_name}-{row.id}-{name}"))
    return out


def _call(row: Row, fn_name: str, b: Backend) -> Any:
    kwargs = {k: _resolve(v, b) for k, v in row.kwargs.items() if v is not OMIT}
    return FUNCTIONS[fn_name](**kwargs)


ALL_ROWS = CROP_ROWS + GLIMPSE_ROWS + GRAD_ROWS


def test_row_ids_unique() -> None:
    ids = [r.id for r in ALL_ROWS]
    assert len(ids) == len(set(ids))
    # Every row names at least one function and every error row has a message regex.
    assert all(r.fns for r in ALL_ROWS)
    assert all(r.match for r in ALL_ROWS if r.exc is not None)
    assert all(r.shape is not None for r in ALL_ROWS if r.exc is None)


@pytest.mark.parametrize(("row", "fn_name", "b"), _params(ALL_ROWS))
def test_matrix(row: Row, fn_name: str, b: Backend) -> None:
    with b.adapter.active():
        if row.exc is None:
            first = _resolve(row.kwargs[PRIMARY[fn_name]], b)
            out = b.check_result(_call(row, fn_name, b), first)
            assert out.shape == row.shape
            assert out.dtype == np.dtype(row.out_dtype)
            return
        with pytest.raises(row.exc) as info:
            _call(row, fn_name, b)
    message = str(info.value)
    assert re.search(row.match, message), f"message {message!r} does not match {row.match!r}"
    if row.exc is not BoxIndexError:
        # BoxIndexError is an InvalidArgumentError: make sure the other error won.
        assert not isinstance(info.value, BoxIndexError), message


# ---------------------------------------------------------------------------------------
# Exception classes
# ---------------------------------------------------------------------------------------


def test_exception_hierarchy() -> None:
    assert issubclass(xcrop.BoxIndexError, IndexError)
    assert issubclass(xcrop.BoxIndexError, ValueError)
    assert issubclass(xcrop.BoxIndexError, xcrop.InvalidArgumentError)
    assert issubclass(xcrop.InvalidArgumentError, ValueError)
    assert not issubclass(xcrop.InvalidArgumentError, IndexError)
    assert issubclass(xcrop.UnsupportedDTypeError, TypeError)
    assert not issubclass(xcrop.UnsupportedDTypeError, ValueError)


def test_box_index_error_caught_as_index_and_value_error() -> None:
    image = np.zeros((1, 2, 2, 1), F32)
    for catch in (IndexError, ValueError):
        with pytest.raises(catch):
            xcrop.crop_and_resize(image, [[0.0, 0.0, 1.0, 1.0]], [1], (1, 1))


# ---------------------------------------------------------------------------------------
# set_max_output_bytes, which_path, register_fast_path, unregister_fast_path
# ---------------------------------------------------------------------------------------


def _noop(args: Any) -> Any:
    raise AssertionError("never called")


def _register_then_remove(**kwargs: Any) -> None:
    """register_fast_path(**kwargs); a path that was (wrongly) accepted is removed again
    so that it cannot break later calls."""
    handle = xcrop.register_fast_path(**kwargs)
    xcrop.unregister_fast_path(handle)


OK_CROP = (IMAGE, BOXES, INDICES, (2, 3))
OTHER_ROWS: list[tuple[str, Callable[[], Any], type[BaseException], str, str | None]] = [
    # (id, call, exception, message regex, xfail reason)
    *((f"set_max_output_bytes({v!r})", (lambda v=v: xcrop.set_max_output_bytes(v)), TypeError,
       r"\blimit\b must be a non-negative int or None", None)
      for v in (-1, 1.5, True, "10", np.float64(3.0))),
    ("which_path unknown op", lambda: xcrop.which_path("resize", *OK_CROP), ValueError,
     r"\bop\b must be 'crop_and_resize'", None),
    ("which_path op None", lambda: xcrop.which_path(None, *OK_CROP), ValueError,
     r"\bop\b must be", None),
    ("which_path op unhashable", lambda: xcrop.which_path(["crop_and_resize"], *OK_CROP),
     ValueError, r"\bop\b must be", None),
    ("which_path unknown keyword", lambda: xcrop.which_path("crop_and_resize", *OK_CROP,
                                                            bogus=1), TypeError, r"\bbogus\b",
     None),
    ("which_path missing argument", lambda: xcrop.which_path("crop_and_resize", IMAGE),
     TypeError, r"\bboxes\b", None),
    ("which_path validates box index", lambda: xcrop.which_path(
        "crop_and_resize", IMAGE, BOXES, _idx(5), (2, 3)), BoxIndexError, OUTSIDE, None),
    ("which_path validates crop_size", lambda: xcrop.which_path(
        xcrop.crop_and_resize, IMAGE, BOXES, INDICES, (0, 3)), IAE, r"\bcrop_size\b", None),
    ("which_path validates glimpse size", lambda: xcrop.which_path(
        "extract_glimpse", IMAGE, (-1, 3), OFFSETS), IAE, r"\bsize\b must be non-negative", None),
    ("which_path validates v1 noise", lambda: xcrop.which_path(
        "v1.extract_glimpse", IMAGE, (3, 3), OFFSETS, noise="zero"), IAE,
     r"\buniform_noise\b and \bnoise\b", None),
    ("which_path validates v1 box_ind", lambda: xcrop.which_path(
        "v1.crop_and_resize", IMAGE, BOXES, box_ind=_idx(7), crop_size=(2, 3)),
     BoxIndexError, OUTSIDE, None),
    ("register unknown operation", lambda: _register_then_remove(
        operation="resize", backend="numpy", implementation=_noop), ValueError,
     r"\boperation\b must be one of", None),
    ("register backend ''", lambda: _register_then_remove(
        operation="crop_and_resize", backend="", implementation=_noop), TypeError,
     r"\bbackend\b must be a library name", None),
    ("register backend module", lambda: _register_then_remove(
        operation="crop_and_resize", backend=np, implementation=_noop), TypeError,
     r"\bbackend\b must be a library name", None),
    ("register implementation None", lambda: _register_then_remove(
        operation="crop_and_resize", backend="numpy", implementation=None), TypeError,
     r"\bimplementation\b must be callable", None),
    ("register predicate True", lambda: _register_then_remove(
        operation="crop_and_resize", backend="numpy", implementation=_noop, predicate=True),
     TypeError, r"\bpredicate\b must be callable", None),
    ("register priority 'high'", lambda: _register_then_remove(
        operation="crop_and_resize", backend="numpy", implementation=_noop, priority="high"),
     TypeError, r"\bpriority\b", None),
    ("unregister a non-path", lambda: xcrop.unregister_fast_path("numpy fast path"),
     TypeError, r"\bpath\b", None),
]


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [pytest.param(c, e, m, id=i, marks=[pytest.mark.xfail(strict=True, reason=x)] if x else [])
     for i, c, e, m, x in OTHER_ROWS])
def test_other_functions(call: Callable[[], Any], exc: type[BaseException], match: str) -> None:
    before = xcrop.max_output_bytes()
    try:
        with pytest.raises(exc) as info:
            call()
    finally:
        assert xcrop.max_output_bytes() == before, "a refused limit changed the setting"
    message = str(info.value)
    assert re.search(match, message), f"message {message!r} does not match {match!r}"
    # Whatever was refused, the registry still serves calls.
    assert xcrop.crop_and_resize(*OK_CROP).shape == (1, 2, 3, 2)
