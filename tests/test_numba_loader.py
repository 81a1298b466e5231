"""First use of the numba kernels: a call never waits for a compile (the array paths serve
while a background thread loads or compiles the kernels), and a real compile is logged
once at INFO on the ``xcrop`` logger. Expected bits: the other paths', which the
conformance fixtures check against TF."""

from __future__ import annotations

import logging
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

import xcrop

loader = pytest.importorskip("xcrop._backends.numba.loader")
if not loader.available():
    pytest.skip("numba is not installed (or XCROP_NO_NUMBA is set)", allow_module_level=True)

IMAGE = np.arange(2 * 6 * 7 * 3, dtype=np.float32).reshape(2, 6, 7, 3) / 7
BOXES = np.array([[0.1, 0.2, 0.9, 0.7], [-0.2, 0.3, 1.1, 0.6]], np.float32)


def test_first_call_is_served_by_the_array_path_until_the_kernels_are_ready(
        monkeypatch: pytest.MonkeyPatch) -> None:
    key = loader.crop_key(np.float32)
    # As in a fresh process: the key not ready yet (its code is in numba's disk cache, so
    # the background "compile" is a quick load here).
    monkeypatch.setattr(loader, "_ready", loader._ready - {key})
    call = (IMAGE, BOXES, [0, 1], (5, 4))
    first = xcrop.which_path("crop_and_resize", *call)
    assert first == "numpy fast path"
    before = xcrop.crop_and_resize(*call)
    loader.compile_kernels([key])  # waits for the background thread
    assert key in loader._ready
    assert xcrop.which_path("crop_and_resize", *call) == "numpy fast path (numba kernel)"
    assert xcrop.crop_and_resize(*call).tobytes() == before.tobytes()


def test_a_real_compile_is_logged_once(monkeypatch: pytest.MonkeyPatch,
                                       caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(loader, "_announced", False)
    monkeypatch.setattr(loader, "_ready", set())
    ours = SimpleNamespace(py_func=SimpleNamespace(__module__=loader.__name__))
    theirs = SimpleNamespace(py_func=SimpleNamespace(__module__="someone.else"))
    messages: list[str] = []
    monkeypatch.setattr(loader, "_progress", (messages.append, [loader.GLIMPSE]))
    with caplog.at_level(logging.INFO, logger="xcrop"):
        loader._on_compile(theirs)
        assert not caplog.records and not messages
        loader._on_compile(ours)
        loader._on_compile(ours)
    assert len(caplog.records) == 1 and "compiling numba kernels" in caplog.text
    assert messages == ["compiling numba kernels (first use on this machine, ~15 s)…"]


def test_no_numba_switch_still_wins_over_ready_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XCROP_NO_NUMBA", "1")
    assert not loader.ready(loader.crop_key(np.float32))
    assert xcrop.which_path("crop_and_resize", IMAGE, BOXES, [0, 1], (5, 4)) == \
        "numpy fast path"


def test_missing_numba_warns_once_and_the_array_paths_serve(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # As on a platform numba has no wheel for: the spec lookup finds nothing.
    key = loader.crop_key(np.float32)
    monkeypatch.setattr(loader, "_ready", loader._ready - {key})
    monkeypatch.setattr(loader, "_numba_spec", False)
    monkeypatch.setattr(loader, "_warned", False)
    call = (IMAGE, BOXES, [0, 1], (5, 4))
    with pytest.warns(RuntimeWarning, match="numba kernels are unavailable"):
        assert xcrop.which_path("crop_and_resize", *call) == "numpy fast path"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per process, not once per call
        assert xcrop.which_path("crop_and_resize", *call) == "numpy fast path"


def test_switching_numba_off_does_not_warn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XCROP_NO_NUMBA", "1")
    monkeypatch.setattr(loader, "_warned", False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xcrop.crop_and_resize(IMAGE, BOXES, [0, 1], (5, 4))
    assert not loader._warned
