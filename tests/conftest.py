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


@pytest.fixture(autouse=True)
def _restore_output_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # xcrop.set_max_output_bytes is process-wide; a test that changes it and fails before
    # restoring it must not turn the limit off for every later test (tests that rely on the
    # default 16 GiB limit would then try to allocate their huge outputs).
    from xcrop._core import config

    monkeypatch.setattr(config, "_setting", config._setting)


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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # One line per skip reason (pyproject's addopts leave skips out of -r): a missing
    # backend skips tests in many files, and pytest's own list gives each location a line.
    reasons: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    if reasons:
        terminalreporter.section("skipped, by reason", sep="-")
        for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
            terminalreporter.write_line(f"{n:6d}  {reason}")
