from __future__ import annotations

from collections.abc import Iterator

import pytest

from backends import Backend, backend_params


@pytest.fixture(params=backend_params())
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """Every array backend: numpy, torch, jax, jax_x64, array_api_strict, cupy."""
    b: Backend = request.param
    with b.adapter.active():
        yield b
