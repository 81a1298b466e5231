"""The output buffer pool of the CPU fast paths (``xcrop._backends.buffers``).

Large outputs are recycled once every array on them is freed; a buffer still in use is
never handed out again; the pool's size follows ``XCROP_BUFFER_POOL_BYTES``; and a call
that reuses a dirty buffer gives the same bits as one on fresh memory.
"""

from __future__ import annotations

import gc
import threading

import numpy as np
import pytest

import xcrop
from xcrop._backends import buffers

BIG = (64, 64, 64, 2)  # 2 MiB of float32: pooled
SMALL = (4, 4)


@pytest.fixture(autouse=True)
def _empty_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XCROP_BUFFER_POOL_BYTES", raising=False)
    monkeypatch.setattr(buffers, "_idle", {})
    monkeypatch.setattr(buffers, "_idle_bytes", 0)


def test_a_freed_buffer_is_reused() -> None:
    a = buffers.empty(BIG)
    address = a.ctypes.data
    assert address % buffers.ALIGNMENT == 0
    assert a.shape == BIG and a.dtype == np.float32 and a.flags.c_contiguous
    del a
    assert buffers.idle_bytes() >= 2 * 2**20
    b = buffers.empty(BIG)
    assert b.ctypes.data == address
    assert buffers.idle_bytes() == 0


def test_a_buffer_in_use_is_not_handed_out() -> None:
    a = buffers.empty(BIG)
    view = a[1:3]  # keeps the buffer alive after `a` is gone
    address = a.ctypes.data
    del a
    gc.collect()
    b = buffers.empty(BIG)
    assert b.ctypes.data != address
    view[...] = 1
    b[...] = 2
    assert np.all(view == 1)


def test_nearby_sizes_share_a_buffer() -> None:
    a = buffers.empty((1000, 1024))  # 4,096,000 bytes
    address = a.ctypes.data
    del a
    b = buffers.empty((1020, 1024))  # 2% more: the same size class (4 MiB)
    assert b.ctypes.data == address


def test_small_outputs_are_plain_aligned_arrays() -> None:
    a = buffers.empty(SMALL, np.float64)
    assert a.ctypes.data % buffers.ALIGNMENT == 0 and a.dtype == np.float64
    del a
    assert buffers.idle_bytes() == 0


@pytest.mark.parametrize("setting", ["0", "off", "1000"])
def test_the_pool_size_is_the_environment_variable(
        monkeypatch: pytest.MonkeyPatch, setting: str) -> None:
    monkeypatch.setenv("XCROP_BUFFER_POOL_BYTES", setting)
    a = buffers.empty(BIG)
    del a
    assert buffers.idle_bytes() == 0


def test_zeros_are_zero_on_a_dirty_buffer() -> None:
    a = buffers.empty(BIG)
    a.fill(np.nan)
    address = a.ctypes.data
    del a
    z = buffers.zeros(BIG)
    assert z.ctypes.data == address
    assert not np.any(z)


def test_a_call_on_a_dirty_buffer_gives_the_same_bits() -> None:
    rng = np.random.default_rng(3)
    image = rng.standard_normal((2, 40, 40, 64), np.float32)
    boxes = np.array([[-0.2, 0.1, 0.9, 1.3], [0.3, 0.3, 0.6, 0.8]], np.float32)
    first = xcrop.crop_and_resize(image, boxes, [0, 1], (64, 64), extrapolation_value=-1.0)
    assert first.nbytes >= buffers.POOL_MIN_BYTES
    expected = first.copy()
    address = first.ctypes.data
    first.fill(np.nan)
    del first
    again = xcrop.crop_and_resize(image, boxes, [0, 1], (64, 64), extrapolation_value=-1.0)
    if xcrop.which_path("crop_and_resize", image, boxes, [0, 1], (64, 64)) != "generic":
        assert again.ctypes.data == address  # the fast paths take outputs from the pool
    assert np.array_equal(again.view(np.uint32), expected.view(np.uint32))


def test_threads_freeing_and_taking_do_not_share_buffers() -> None:
    errors: list[str] = []

    def work(k: int) -> None:
        for _ in range(50):
            a = buffers.empty(BIG)
            a.fill(k)
            if not np.all(a == k):
                errors.append(f"thread {k} saw another thread's writes")
            del a

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert buffers.idle_bytes() <= 4 * buffers._size_class(2 * 2**20)
