"""xcrop: TensorFlow-exact ``crop_and_resize`` and ``extract_glimpse`` on any array library.

Functions take arrays of any library that speaks the Python array API standard (NumPy,
PyTorch, JAX, CuPy, array-api-strict) and return an array of the same library on the
same device. ``xcrop.compat.v1`` holds TF1's signatures.
"""

from __future__ import annotations

from . import compat
from ._api import crop_and_resize, extract_glimpse
from ._errors import BoxIndexError, InvalidArgumentError, UnsupportedDTypeError

__version__ = "0.1.0.dev0"

__all__ = [
    "BoxIndexError",
    "InvalidArgumentError",
    "UnsupportedDTypeError",
    "__version__",
    "compat",
    "crop_and_resize",
    "extract_glimpse",
]
