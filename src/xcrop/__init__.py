"""xcrop: TensorFlow-exact ``crop_and_resize`` and ``extract_glimpse`` on any array library.

Functions take arrays of any library that speaks the Python array API standard (NumPy,
PyTorch, JAX, CuPy, array-api-strict) and return an array of the same library on the
same device. ``xcrop.compat.v1`` holds TF1's signatures.
"""

from __future__ import annotations

import sys

from . import compat
from ._core.config import OutputTooLargeError, max_output_bytes, set_max_output_bytes
from ._core.errors import BoxIndexError, InvalidArgumentError, UnsupportedDTypeError
from ._dispatch.registry import FastPath, register_fast_path, unregister_fast_path, use_generic
from ._which_path import which_path
from .api import crop_and_resize, extract_glimpse
from .gradients import crop_and_resize_grad_boxes, crop_and_resize_grad_image

__version__ = "0.1.0.dev0"

if "torch" in sys.modules:  # torch.ops.xcrop.* exist from here on (else at the first call)
    from ._frameworks import torch_ops_module as _torch_ops_module

    _torch_ops_module()

__all__ = [
    "BoxIndexError",
    "FastPath",
    "InvalidArgumentError",
    "OutputTooLargeError",
    "UnsupportedDTypeError",
    "__version__",
    "compat",
    "crop_and_resize",
    "crop_and_resize_grad_boxes",
    "crop_and_resize_grad_image",
    "extract_glimpse",
    "max_output_bytes",
    "register_fast_path",
    "set_max_output_bytes",
    "unregister_fast_path",
    "use_generic",
    "which_path",
]
