"""The validated argument records of xcrop's four operations, and the facts they obey.

Validation (``_core.validation``) builds one record per call; dispatch, the reference
implementations, the fast paths and the autodiff glue read nothing else. Rules:
docs/semantics.md §1.1-1.2 (crop), §1.7 (gradients), §2.1 (glimpse).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from .arrays import Backend

__all__ = [
    "CROP_IMAGE_DTYPES",
    "GLIMPSE_INPUT_DTYPES",
    "GRAD_DTYPES",
    "MAX_AXIS",
    "MAX_SIZE",
    "METHODS",
    "NOISES",
    "OPERATIONS",
    "Array",
    "CropArgs",
    "GlimpseArgs",
    "GradBoxesArgs",
    "GradImageArgs",
    "Size2",
]

Array: TypeAlias = Any
#: A 2-element integer size: list/tuple of ints or a 1-D integer array.
Size2: TypeAlias = "Sequence[int] | Array"

#: The operations dispatch serves (fast paths register for these names).
OPERATIONS = (
    "crop_and_resize",
    "extract_glimpse",
    "crop_and_resize_grad_image",
    "crop_and_resize_grad_boxes",
)
#: Image dtypes ``tf.image.crop_and_resize`` accepts (docs/semantics.md §1.1).
CROP_IMAGE_DTYPES = (
    "uint8", "uint16", "int8", "int16", "int32", "int64", "float16", "float32", "float64",
)  # fmt: skip
#: Image dtypes TF's image gradient exists for (none for integer images).
GRAD_DTYPES = ("float16", "float32", "float64")
#: Input dtypes extract_glimpse converts to float32 before its checks, as TF's Python wrapper
#: does (convert_to_tensor(dtype=float32) accepts every real floating and integer dtype;
#: bool and complex fail). docs/semantics.md §2.1.
GLIMPSE_INPUT_DTYPES = (
    "float32", "float16", "bfloat16", "float64",
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
)  # fmt: skip
METHODS = ("bilinear", "nearest")
NOISES = ("uniform", "gaussian", "zero", "")
# Beyond 2**24 pixels along an axis, float32 no longer holds every pixel position and the
# float64 centre formula TF uses for one-row crops stops being reproducible in float32.
MAX_AXIS = 2**24
# TF stores crop and glimpse sizes as int32.
MAX_SIZE = 2**31 - 1


@dataclass(frozen=True)
class CropArgs:
    """Validated ``crop_and_resize`` arguments, all on ``backend``."""

    backend: Backend
    image: Any  # (B, H, W, D), one of CROP_IMAGE_DTYPES
    boxes: Any  # (n, 4) float32
    box_indices: Any  # (n,) integer, every value in [0, B)
    crop_height: int
    crop_width: int
    method: str
    extrapolation_value: float
    in_y: Any  # (n, crop_height) float32 sample rows, no NaN
    in_x: Any  # (n, crop_width) float32 sample columns, no NaN

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        return (self.boxes.shape[0], self.crop_height, self.crop_width, self.image.shape[3])


@dataclass(frozen=True)
class GlimpseArgs:
    """Validated ``extract_glimpse`` arguments, all on ``backend``."""

    backend: Backend
    input: Any  # (B, H, W, D) float32
    offsets: Any  # (B, 2) float32, (y, x)
    height: int
    width: int
    centered: bool
    normalized: bool
    noise: str  # "uniform", "gaussian" or "zero"
    version: int  # 1 (tf.compat.v1, op ExtractGlimpse) or 2 (ExtractGlimpseV2)
    seed: int | None
    # Index, in the seeded fill stream, of this output's first element: 0 for a public
    # call; a batch chunk of a larger call (a dask glimpse) starts where the whole call's
    # output would, so that it draws the whole call's fill bits (docs/semantics.md §2.5).
    fill_start: int = 0

    @property
    def image(self) -> Any:
        """The input image (the name every other record uses)."""
        return self.input

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        return (self.input.shape[0], self.height, self.width, self.input.shape[3])


@dataclass(frozen=True)
class GradImageArgs:
    """Validated ``crop_and_resize_grad_image`` arguments (TF's CropAndResizeGradImage)."""

    backend: Backend
    grads: Any  # (n, ch, cw, D) float32
    box_indices: Any  # (n,) integer, every value in [0, B)
    in_y: Any  # (n, ch) float32: the forward's sample rows
    in_x: Any  # (n, cw) float32: the forward's sample columns
    image_shape: tuple[int, int, int, int]  # (B, H, W, D)
    method: str
    dtype: Any  # the backend's float16/float32/float64 dtype object: the result's dtype
    # (n, 4) float32, or None: the boxes the coordinates come from (paths that check
    # values while the program runs need them; under tracing validation cannot)
    boxes: Any = None

    @property
    def image(self) -> Any:
        """The array whose library, device and tracing state decide the path."""
        return self.grads


@dataclass(frozen=True)
class GradBoxesArgs:
    """Validated ``crop_and_resize_grad_boxes`` arguments (TF's CropAndResizeGradBoxes)."""

    backend: Backend
    grads: Any  # (n, ch, cw, D) float32
    image: Any  # (B, H, W, D), one of CROP_IMAGE_DTYPES
    boxes: Any  # (n, 4) float32, finite
    box_indices: Any  # (n,) integer, every value in [0, B)
