"""Reliability guarantees: nothing mutated, nothing aliased, thread safety, memory bounds.

* Every public call leaves its inputs bit-identical (compared with copies) on every
  backend and path; read-only and non-contiguous NumPy inputs work.
* The output never shares memory with an input (``np.shares_memory``; torch storage
  address ranges), even where the result equals an input (an identity crop or glimpse).
* Many threads calling concurrently on shared inputs (mixed operations, backends and
  paths, ``use_generic()`` in some threads, a thread registering and removing a fast path)
  get the bits serial calls get; ``use_generic`` is per thread (a ``ContextVar``).
* A call whose output would exceed :func:`xcrop.set_max_output_bytes` raises
  :class:`xcrop.OutputTooLargeError` before allocating; a long loop of calls does not
  grow memory.

Expected values come from xcrop's own serial / generic calls (these are properties,
not TF conformance, which the fixtures and the fuzzer check).
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import xcrop
from backends import Backend, backend_params
from xcrop._dispatch import generic as generic_path
from xcrop.compat import v1

MAIN_BACKENDS = ("numpy", "torch", "array_api_strict")
_BACKENDS = {p.id: p for p in backend_params()}
BACKEND_PARAMS = [_BACKENDS[name] for name in MAIN_BACKENDS]

F32 = np.float32
RNG = np.random.default_rng(7)
IMAGE = RNG.standard_normal((2, 6, 7, 3)).astype(F32)
BOXES = np.array([[0.1, 0.2, 0.9, 0.7], [1.2, -0.3, -0.1, 0.8], [0.0, 0.0, 1.0, 1.0]], F32)
INDICES = np.array([0, 1, 1], np.int32)
OFFSETS = np.array([[0.3, -0.4], [-0.9, 0.9]], F32)
GRADS = RNG.standard_normal((3, 4, 5, 3)).astype(F32)


@contextlib.contextmanager
def _path(path: str) -> Iterator[None]:
    if path == "generic":
        with xcrop.use_generic():
            yield
    else:
        yield


#: name -> (function of the backend's converted inputs, names of the inputs it takes)
CALLS: dict[str, tuple[Callable[..., Any], tuple[str, ...]]] = {
    "crop bilinear": (lambda a: xcrop.crop_and_resize(a["image"], a["boxes"], a["indices"],
                                                      (4, 5)), ("image", "boxes", "indices")),
    "crop nearest": (lambda a: xcrop.crop_and_resize(a["image"], a["boxes"], a["indices"],
                                                     (4, 5), "nearest", -1.0),
                     ("image", "boxes", "indices")),
    "v1 crop": (lambda a: v1.crop_and_resize(a["image"], a["boxes"], box_ind=a["indices"],
                                             crop_size=(4, 5)), ("image", "boxes", "indices")),
    "glimpse zero": (lambda a: xcrop.extract_glimpse(a["image"], (4, 9), a["offsets"],
                                                     noise="zero"), ("image", "offsets")),
    "glimpse uniform": (lambda a: xcrop.extract_glimpse(a["image"], (4, 9), a["offsets"],
                                                        seed=3), ("image", "offsets")),
    "glimpse gaussian": (lambda a: xcrop.extract_glimpse(a["image"], (4, 9), a["offsets"],
                                                         noise="gaussian", seed=3),
                         ("image", "offsets")),
    "v1 glimpse": (lambda a: v1.extract_glimpse(a["image"], (4, 9), a["offsets"],
                                                centered=False, normalized=False, seed=1),
                   ("image", "offsets")),
    "grad image": (lambda a: xcrop.crop_and_resize_grad_image(
        a["grads"], a["boxes"], a["indices"], IMAGE.shape), ("grads", "boxes", "indices")),
    "grad boxes": (lambda a: xcrop.crop_and_resize_grad_boxes(
        a["grads"], a["image"], a["boxes"], a["indices"]),
        ("grads", "image", "boxes", "indices")),
}
ARRAYS = {"image": IMAGE, "boxes": BOXES, "indices": INDICES, "offsets": OFFSETS,
          "grads": GRADS}


def _writable(b: Backend, a: np.ndarray) -> Any:
    """A backend array that the call *could* write to (the NumPy adapter's are read-only)."""
    if b.name == "numpy":
        return a.copy()
    return b.asarray(a)


def _overlaps(b: Backend, out: Any, inp: Any) -> bool:
    """Whether ``out`` and ``inp`` share any memory."""
    if b.name == "numpy":
        return bool(np.shares_memory(out, inp))
    if b.name == "torch":
        s_out, s_in = out.untyped_storage(), inp.untyped_storage()
        lo_o, lo_i = s_out.data_ptr(), s_in.data_ptr()
        return lo_o < lo_i + s_in.nbytes() and lo_i < lo_o + s_out.nbytes()
    # array-api-strict wraps a NumPy array (``_array``: private, but the only way to look).
    return bool(np.shares_memory(out._array, inp._array))


# --------------------------------------------------------------------------------------
# Nothing mutated, nothing aliased
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["fast", "generic"])
@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("b", BACKEND_PARAMS)
def test_inputs_unchanged_and_not_aliased(b: Backend, call: str, path: str) -> None:
    fn, names = CALLS[call]
    args = {k: _writable(b, ARRAYS[k]) for k in names}
    before = {k: b.to_numpy(v).copy() for k, v in args.items()}
    with _path(path):
        out = fn(args)
    for k, v in args.items():
        after = b.to_numpy(v)
        assert after.tobytes() == before[k].tobytes(), f"{call} modified its {k} input"
        assert not _overlaps(b, out, v), f"{call} output shares memory with its {k} input"


# Calls whose result equals an input bit for bit: the tempting place to return the input.
IDENTITY_CALLS = {
    "identity crop": lambda img: xcrop.crop_and_resize(
        img, np.array([[0, 0, 1, 1]] * 2, F32), np.array([0, 1], np.int32), img.shape[1:3]),
    "identity glimpse": lambda img: xcrop.extract_glimpse(
        img, img.shape[1:3], np.zeros((2, 2), F32), noise="zero"),
    "identity glimpse, top-left mode": lambda img: xcrop.extract_glimpse(
        img, img.shape[1:3], np.zeros((2, 2), F32), centered=False, normalized=False,
        noise="zero"),
}


@pytest.mark.parametrize("path", ["fast", "generic"])
@pytest.mark.parametrize("call", list(IDENTITY_CALLS))
def test_identity_result_is_a_copy(call: str, path: str) -> None:
    image = IMAGE.copy()
    with _path(path):
        out = IDENTITY_CALLS[call](image)
    assert np.array_equal(out, image)  # the case is meaningful only if it is the identity
    assert not np.shares_memory(out, image)
    out[...] = 0  # the result is the caller's to write
    assert np.array_equal(image, IMAGE)


@pytest.mark.parametrize("path", ["fast", "generic"])
def test_identity_result_is_a_copy_torch(path: str) -> None:
    torch = pytest.importorskip("torch")
    image = torch.from_numpy(IMAGE.copy())
    with _path(path):
        out = xcrop.extract_glimpse(image, (6, 7), torch.zeros((2, 2)), noise="zero")
        crop = xcrop.crop_and_resize(image, torch.tensor([[0.0, 0, 1, 1]]),
                                     torch.tensor([1]), (6, 7))
    assert torch.equal(out, image) and torch.equal(crop[0], image[1])
    b = _BACKENDS["torch"].values[0]
    assert not _overlaps(b, out, image) and not _overlaps(b, crop, image)


def _readonly(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.flags.writeable = False
    return a


@pytest.mark.parametrize("path", ["fast", "generic"])
def test_readonly_and_strided_numpy_inputs(path: str) -> None:
    """Read-only, non-contiguous, Fortran-ordered and zero-stride (broadcast) inputs give
    the result of their contiguous copies."""
    big = RNG.standard_normal((2, 12, 14, 6)).astype(F32)
    views = {
        "read-only": _readonly(IMAGE),
        "strided": big[:, ::2, ::2, ::2],
        "Fortran": np.asfortranarray(IMAGE),
        "reversed": IMAGE[:, ::-1, ::-1],
        "broadcast (stride 0, read-only)": np.broadcast_to(IMAGE[:1], IMAGE.shape),
    }
    boxes_views = {"read-only": _readonly(BOXES), "strided": np.repeat(BOXES, 2, 0)[::2],
                   "transposed twice": np.ascontiguousarray(BOXES.T).T}
    for name, image in views.items():
        for bname, boxes in boxes_views.items():
            with _path(path):
                got = xcrop.crop_and_resize(image, boxes, _readonly(INDICES)[::1], (4, 5))
                want = xcrop.crop_and_resize(np.ascontiguousarray(image),
                                             np.ascontiguousarray(boxes), INDICES, (4, 5))
                assert got.tobytes() == want.tobytes(), f"crop: image {name}, boxes {bname}"
        with _path(path):
            got = xcrop.extract_glimpse(image, (4, 9), _readonly(OFFSETS)[:, ::-1][:, ::-1],
                                        noise="zero")
            want = xcrop.extract_glimpse(np.ascontiguousarray(image), (4, 9), OFFSETS,
                                         noise="zero")
        assert got.tobytes() == want.tobytes(), f"glimpse: input {name}"
        g = xcrop.crop_and_resize_grad_boxes(_readonly(GRADS), image, BOXES, INDICES)
        assert g.tobytes() == xcrop.crop_and_resize_grad_boxes(
            GRADS, np.ascontiguousarray(image), BOXES, INDICES).tobytes(), name


def test_noncontiguous_torch_inputs() -> None:
    torch = pytest.importorskip("torch")
    big = torch.from_numpy(RNG.standard_normal((2, 12, 14, 6)).astype(F32))
    view = big[:, ::2, ::2, ::2]  # non-contiguous
    want = xcrop.crop_and_resize(view.contiguous(), torch.from_numpy(BOXES),
                                 torch.from_numpy(INDICES), (4, 5))
    got = xcrop.crop_and_resize(view, torch.from_numpy(BOXES), torch.from_numpy(INDICES), (4, 5))
    assert torch.equal(got, want)
    expanded = torch.from_numpy(IMAGE[:1]).expand(2, -1, -1, -1)  # stride 0
    got = xcrop.extract_glimpse(expanded, (4, 9), torch.from_numpy(OFFSETS), noise="zero")
    want = xcrop.extract_glimpse(expanded.contiguous(), (4, 9), torch.from_numpy(OFFSETS),
                                 noise="zero")
    assert torch.equal(got, want)


# --------------------------------------------------------------------------------------
# Concurrency
# --------------------------------------------------------------------------------------

THREADS = 8
CALLS_PER_THREAD = 20


def _concurrent_jobs() -> list[tuple[str, str, str]]:
    """(backend, call, path) for every job, mixed so threads interleave everything."""
    backends = [n for n in MAIN_BACKENDS if not _BACKENDS[n].marks]
    jobs = []
    names = list(CALLS)
    for i in range(THREADS * CALLS_PER_THREAD):
        jobs.append((backends[i % len(backends)], names[(i // 3) % len(names)],
                     "generic" if i % 5 == 0 else "fast"))
    return jobs


def _run_job(job: tuple[str, str, str], inputs: dict[str, dict[str, Any]]) -> np.ndarray:
    backend, call, path = job
    b = _BACKENDS[backend].values[0]
    with _path(path):
        return b.to_numpy(CALLS[call][0](inputs[backend]))


def test_threads_give_serial_results() -> None:
    jobs = _concurrent_jobs()
    # Shared inputs: every thread reads the same arrays.
    inputs = {n: {k: _BACKENDS[n].values[0].asarray(v) for k, v in ARRAYS.items()}
              for n in {j[0] for j in jobs}}
    serial = [_run_job(j, inputs) for j in jobs]

    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS + 2)  # workers, registrar, main

    def worker(t: int) -> None:
        try:
            barrier.wait(timeout=120)
            # Threads 0 and 1 run *all* their calls under use_generic(): it must stay in
            # this thread, so the other threads' fast paths are unaffected (and vice versa).
            ctx = xcrop.use_generic() if t < 2 else contextlib.nullcontext()
            with ctx:
                for i in range(t, len(jobs), THREADS):
                    results[i] = _run_job(jobs[i], inputs)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    def registrar() -> None:
        # Registry churn while the others resolve paths: a path that never serves.
        barrier.wait(timeout=120)
        for _ in range(50):
            handle = xcrop.register_fast_path("crop_and_resize", "numpy", lambda a: None,
                                              predicate=lambda a: False, priority=99)
            xcrop.unregister_fast_path(handle)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    threads.append(threading.Thread(target=registrar))
    for th in threads:
        th.start()
    barrier.wait(timeout=120)
    for th in threads:
        th.join(timeout=300)
        assert not th.is_alive(), "a thread hangs"
    assert not errors, errors
    assert len(results) == len(jobs)
    for i, job in enumerate(jobs):
        assert results[i].tobytes() == serial[i].tobytes(), f"job {i} {job} differs"


def test_use_generic_is_per_thread() -> None:
    """use_generic() in one thread neither leaks into threads started inside it nor is
    lifted by other threads; XCROP_FORCE_GENERIC (the environment) is process-wide."""
    image = np.ones((1, 4, 4, 1), F32)
    args = ("crop_and_resize", image, [[0.0, 0.0, 1.0, 1.0]], [0], (2, 2))
    fast = xcrop.which_path(*args)
    assert fast != "generic", "no NumPy fast path registered: nothing to test"
    seen: dict[str, str] = {}
    inside = threading.Event()
    release = threading.Event()

    def forced() -> None:
        with xcrop.use_generic():
            seen["forced"] = xcrop.which_path(*args)
            inside.set()
            release.wait(30)
            seen["forced, later"] = xcrop.which_path(*args)

    def other() -> None:
        inside.wait(30)
        seen["other"] = xcrop.which_path(*args)
        release.set()

    with xcrop.use_generic():
        child = threading.Thread(target=lambda: seen.setdefault("child", xcrop.which_path(*args)))
        child.start()
        child.join()
    ts = [threading.Thread(target=forced), threading.Thread(target=other)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert seen == {"child": fast, "forced": "generic", "other": fast,
                    "forced, later": "generic"}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork does not exist on this OS")
def test_a_forked_child_computes_and_does_not_hang() -> None:
    """A child forked after calls that started xcrop's thread pool and a background
    kernel load (a PyTorch DataLoader worker, fork by default on Linux) computes the
    same bits: the inherited pool has no threads and the inherited locks may be held,
    so the child must not reuse them. In a fresh interpreter (no JAX threads to fork)."""
    import subprocess
    import textwrap

    script = textwrap.dedent("""
        import os, sys
        import numpy as np
        import xcrop
        image = np.random.default_rng(0).standard_normal((2, 50, 76, 64)).astype(np.float32)
        boxes = np.array([[0.1, 0.2, 0.9, 0.7]] * 300, np.float32)
        indices = np.zeros(300, np.int32)
        parent = xcrop.crop_and_resize(image, boxes, indices, (14, 14))  # pool, loads
        grads = xcrop.crop_and_resize_grad_boxes(parent, image, boxes, indices)
        pid = os.fork()
        if pid == 0:
            child = xcrop.crop_and_resize(image, boxes, indices, (14, 14))
            child_grads = xcrop.crop_and_resize_grad_boxes(child, image, boxes, indices)
            same = (child.tobytes() == parent.tobytes()
                    and child_grads.tobytes() == grads.tobytes())
            os._exit(0 if same else 3)
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])


# --------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------


@pytest.fixture
def limit() -> Iterator[Callable[[int | None], None]]:
    old = xcrop.max_output_bytes()
    yield xcrop.set_max_output_bytes
    xcrop.set_max_output_bytes(old)


@pytest.mark.parametrize("path", ["fast", "generic"])
@pytest.mark.parametrize("b", BACKEND_PARAMS)
def test_output_limit_refuses_up_front(b: Backend, path: str, limit: Any) -> None:
    image = b.asarray(IMAGE)
    boxes, idx = b.asarray(BOXES), b.asarray(INDICES)
    limit(3 * 4 * 5 * 3 * 4)  # exactly the output of the 4x5 crop of 3 boxes
    with _path(path):
        assert tuple(xcrop.crop_and_resize(image, boxes, idx, (4, 5)).shape) == (3, 4, 5, 3)
        with pytest.raises(xcrop.OutputTooLargeError, match=r"crop_and_resize output of "
                           r"shape \(3, 4, 6, 3\).*more than the limit"):
            xcrop.crop_and_resize(image, boxes, idx, (4, 6))
        with pytest.raises(xcrop.OutputTooLargeError, match="extract_glimpse output"):
            xcrop.extract_glimpse(image, (10, 10), b.asarray(OFFSETS))
        with pytest.raises(MemoryError):  # also a MemoryError ...
            v1.crop_and_resize(image, boxes, idx, (4, 6))
        with pytest.raises(ValueError):  # ... and a ValueError
            v1.extract_glimpse(image, (10, 10), b.asarray(OFFSETS))


def test_output_limit_checked_before_allocating(limit: Any) -> None:
    """A refused glimpse allocates nothing: a 32 TB glimpse fails fast. (Crops: see
    test_output_limit_checked_before_coordinates.)"""
    limit(2**30)
    tracemalloc.start()
    try:
        with pytest.raises(xcrop.OutputTooLargeError):
            xcrop.extract_glimpse(IMAGE, (2**20, 2**20), OFFSETS)  # 32 TB
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20


def test_output_limit_checked_before_coordinates(limit: Any) -> None:
    limit(2**20)
    tracemalloc.start()
    try:
        with pytest.raises(xcrop.OutputTooLargeError):
            # 32 MB of coordinates for a refused call: affordable here, 16 GiB at int32 max.
            xcrop.crop_and_resize(IMAGE, BOXES[:1], INDICES[:1], (2**22, 2**22))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20, f"{peak} bytes allocated before refusing"


def test_output_limit_applies_to_image_gradient(limit: Any) -> None:
    limit(1000)
    with pytest.raises(xcrop.OutputTooLargeError):
        xcrop.crop_and_resize_grad_image(GRADS, BOXES, INDICES, (2, 100, 100, 3))


def _generic_crop_peak(n: int, size: int) -> tuple[int, int]:
    """(output bytes, tracemalloc peak) of a generic NumPy crop of n boxes."""
    boxes = np.tile(np.array([[0.1, 0.1, 0.9, 0.8]], F32), (n, 1))
    idx = np.zeros(n, np.int32)
    image = RNG.standard_normal((1, 50, 50, 1)).astype(F32)
    with xcrop.use_generic():
        xcrop.crop_and_resize(image, boxes[:1], idx[:1], (2, 2))  # warm caches first
        gc.collect()
        tracemalloc.start()
        try:
            out = xcrop.crop_and_resize(image, boxes, idx, (size, size))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    return out.nbytes, peak


def test_generic_temporaries_bounded_by_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many boxes: the generic crop runs in chunks, so its peak stays near twice the
    output (here 4 MB output, 128 KB chunks) instead of the ~6x output one pass takes."""
    chunk = 128 * 2**10
    monkeypatch.setattr(generic_path, "GENERIC_CHUNK_BYTES", chunk)
    out_bytes, peak = _generic_crop_peak(256, 62)
    # The chunk results plus their concatenation (2x output) and one chunk's temporaries
    # (about 12 chunk-sized arrays, _dispatch/generic.py); one unchunked pass peaks near 6x output.
    assert peak < 2 * out_bytes + 16 * chunk, (out_bytes, peak)
    assert peak < 3 * out_bytes, (out_bytes, peak)


def test_generic_temporaries_of_one_large_box_bounded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A box larger than a chunk is computed a few output rows at a time (_dispatch/generic.py), so
    # one huge box is bounded like many boxes (it used to peak near 6x its output).
    chunk = 256 * 2**10
    monkeypatch.setattr(generic_path, "GENERIC_CHUNK_BYTES", chunk)
    out_bytes, peak = _generic_crop_peak(1, 1000)  # 4 MB output
    assert peak < 2 * out_bytes + 16 * chunk, (out_bytes, peak)
    assert peak < 3 * out_bytes, (out_bytes, peak)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
@pytest.mark.parametrize("b", BACKEND_PARAMS)
def test_long_loop_does_not_grow_memory(b: Backend) -> None:
    args = {k: b.asarray(v) for k, v in ARRAYS.items()}
    names = list(CALLS)

    def loop(n: int) -> None:
        for i in range(n):
            CALLS[names[i % len(names)]][0](args)

    loop(2 * len(names))  # warm-up: caches, compiled kernels, thread pools
    gc.collect()
    rss0 = _rss_bytes()
    if b.name == "numpy":
        # tracemalloc sees NumPy's buffers (and slows every allocation): NumPy only.
        tracemalloc.start()
        try:
            snap0 = tracemalloc.take_snapshot()
            loop(300)
            gc.collect()
            snap1 = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        growth = sum(s.size_diff for s in snap1.compare_to(snap0, "filename"))
        assert growth < 256 * 2**10, f"traced memory grew by {growth} bytes in 300 calls"
    else:
        loop(300)
        gc.collect()
    # RSS includes allocator caches and library arenas: a generous bound, but a leak of
    # one output per call (300 x ~1 KB-20 KB) plus per-call temporaries would show.
    assert _rss_bytes() - rss0 < 64 * 2**20


def test_helpers_can_fail() -> None:
    """_overlaps sees a view; the mutation check sees a one-element change."""
    a = np.zeros(4, F32)
    assert _overlaps(_BACKENDS["numpy"].values[0], a[1:], a)
    assert not _overlaps(_BACKENDS["numpy"].values[0], a.copy(), a)
    assert Path(__file__).exists()
