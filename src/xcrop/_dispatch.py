"""Choose the implementation that serves a validated call.

Today every call runs the generic array-API implementation; fast paths register here
(issue: fast-path registry) without changing the public functions.
"""

from __future__ import annotations

from typing import Any

from ._generic import crop_and_resize as _generic_crop
from ._generic import extract_glimpse as _generic_glimpse
from ._validation import CropArgs, GlimpseArgs

__all__ = ["run_crop_and_resize", "run_extract_glimpse"]


def run_crop_and_resize(args: CropArgs) -> Any:
    return _generic_crop.crop_and_resize(args)


def run_extract_glimpse(args: GlimpseArgs) -> Any:
    return _generic_glimpse.extract_glimpse(args)
