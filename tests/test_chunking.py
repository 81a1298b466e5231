"""The generic crop is computed in chunks (of boxes, and of output rows for boxes larger
than a chunk) to bound its temporaries; the chunking must not change a bit."""

from __future__ import annotations

import numpy as np
import pytest

import xcrop
from backends import backend_params
from xcrop._dispatch import generic as generic_path

RNG = np.random.default_rng(0)
IMAGE = RNG.standard_normal((2, 40, 50, 3)).astype(np.float32)
# Inside, flipped and partly outside, and a one-row box.
BOXES = np.array([[0.1, 0.2, 0.9, 0.7], [1.1, -0.2, -0.1, 0.8], [0.3, 0.3, 0.3, 0.9]],
                 np.float32)
INDICES = np.array([0, 1, 1], np.int32)
ROW = 29 * 3 * 4  # bytes of one output row of a (37, 29) crop with depth 3


# Not on JAX: eager JAX compiles every chunk shape (slow), and runs the same generic code.
@pytest.mark.parametrize("backend", backend_params(exclude=("jax", "jax_x64")), indirect=True)
@pytest.mark.parametrize("method", ["bilinear", "nearest"])
@pytest.mark.parametrize("chunk", [1, 5 * ROW, 74 * ROW], ids=["row", "rows", "boxes"])
def test_chunked_generic_crop_is_bit_identical(backend, method: str, chunk: int,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    args = (backend.asarray(IMAGE), backend.asarray(BOXES), backend.asarray(INDICES),
            (37, 29))
    with xcrop.use_generic():
        whole = backend.to_numpy(xcrop.crop_and_resize(*args, method=method,
                                                       extrapolation_value=-2.0))
        monkeypatch.setattr(generic_path, "GENERIC_CHUNK_BYTES", chunk)
        chunked = backend.to_numpy(xcrop.crop_and_resize(*args, method=method,
                                                         extrapolation_value=-2.0))
    assert chunked.shape == (3, 37, 29, 3)
    assert chunked.tobytes() == whole.tobytes()
