from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

from backends import Backend, backend_params

_HAS_NUMBA = importlib.util.find_spec("numba") is not None


@pytest.fixture(params=backend_params())
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """Every array backend: numpy, torch, jax, jax_x64, array_api_strict, cupy."""
    b: Backend = request.param
    with b.adapter.active():
        yield b


@pytest.fixture(
    params=[
        "fast",
        pytest.param(
            "fast_array",
            marks=[] if _HAS_NUMBA else [pytest.mark.skip(
                reason="numba is not installed: 'fast' already is the array-op fast path")],
        ),
        "generic",
    ]
)
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Which implementation serves the test's calls.

    "fast": whatever the registry picks (the compiled numba kernel where numba is
    installed); "fast_array": the array-op fast paths, numba disabled; "generic": the
    test wraps its calls in ``xcrop.use_generic()``.
    """
    if request.param == "fast_array":
        monkeypatch.setenv("XCROP_NO_NUMBA", "1")
    yield request.param


def pytest_sessionstart(session: pytest.Session) -> None:
    # The numba kernels compile in the background on first use while the array paths
    # serve (xcrop._backends.numba.loader); tests that check which path serves need them
    # ready, so load (or, on a fresh machine, compile) them all before the first test.
    if not _HAS_NUMBA:
        return
    from xcrop._backends.numba import loader

    reporter = session.config.pluginmanager.get_plugin("terminalreporter")

    def say(message: str) -> None:
        if reporter is not None:
            reporter.write_line(message)

    seconds = loader.compile_kernels(progress=say)
    if seconds > 5:
        say(f"numba kernels ready in {seconds:.0f} s (cached on disk for later runs)")
