"""Dask arrays: the graphs of ``xcrop._backends.dask`` against the in-memory NumPy call.

Every result is compared bit for bit with the same call on NumPy (which the conformance
suite ties to TF). The default run uses dask's threaded scheduler; one short test runs a
two-process ``distributed.LocalCluster`` on the loopback interface.
"""

from __future__ import annotations

import math
import subprocess
import sys
import zlib

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

import xcrop  # noqa: E402
from xcrop.conformance import load_all  # noqa: E402
from xcrop.conformance._runner import call_case, judge_exact  # noqa: E402

CASES = load_all()


@pytest.fixture(autouse=True)
def _threaded():
    with dask.config.set(scheduler="threads"):
        yield


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _dask(a: np.ndarray, parts: int = 3, axis1: bool = False) -> da.Array:
    """``a`` as a dask array in about ``parts`` chunks along axis 0 (and 2 along axis 1)."""
    a = np.asarray(a)
    if a.ndim == 0 or a.shape[0] == 0:
        return da.from_array(a, chunks=-1)
    chunks = [max(1, math.ceil(a.shape[0] / parts)), *a.shape[1:]]
    if axis1 and a.ndim > 1 and a.shape[1] > 1:
        chunks[1] = math.ceil(a.shape[1] / 2)
    return da.from_array(a, chunks=tuple(chunks))


def _same(out: np.ndarray, ref: np.ndarray) -> None:
    out = np.asarray(out)
    assert out.dtype == ref.dtype and out.shape == ref.shape
    if out.dtype.kind == "f":
        ok, _, msg = judge_exact(out, ref)
        assert ok, msg
    else:
        np.testing.assert_array_equal(out, ref)


def _task_count(x: da.Array) -> int:
    return len(dict(x.__dask_graph__()))


# ---------------------------------------------------------------------------------------
# every fixture suite, on a sample
# ---------------------------------------------------------------------------------------

def _sample(cases):
    """Per suite: its first 3 cases and every 9th after (spread by a hash of the key)."""
    seen: dict[str, int] = {}
    out = []
    for c in cases:
        seen[c.suite] = seen.get(c.suite, 0) + 1
        if seen[c.suite] <= 3 or zlib.crc32(c.key.encode()) % 9 == 0:
            out.append(c)
    return out


SAMPLE = _sample(CASES)


def test_sample_touches_every_suite() -> None:
    assert {c.suite for c in SAMPLE} == {c.suite for c in CASES}


@pytest.mark.parametrize("case", SAMPLE, ids=[c.key for c in SAMPLE])
def test_fixture_case_matches_numpy(case) -> None:
    # Chunked along the batch (and, for every other case, along height as well: the
    # dask path rechunks to whole images). Errors: the same type and message as NumPy's.
    axis1 = zlib.crc32(case.key.encode()) % 2 == 1

    def convert(a):
        return _dask(a, 3, axis1)

    try:
        ref = call_case(case, np.asarray)
    except Exception as exc:  # the dask call must raise the same
        with pytest.raises(type(exc)) as info:
            np.asarray(call_case(case, convert))
        assert str(info.value) == str(exc)
        return
    out = call_case(case, convert)
    assert isinstance(out, da.Array)
    _same(out.compute(), np.asarray(ref))


# ---------------------------------------------------------------------------------------
# crop_and_resize: graph shape
# ---------------------------------------------------------------------------------------

def _crop_inputs(n_images: int = 48, per_chunk: int = 2, n: int = 400, seed: int = 0):
    rng = _rng(seed)
    image = rng.integers(0, 256, (n_images, 16, 20, 3), dtype=np.uint8)
    boxes = rng.uniform(-0.2, 1.2, (n, 4)).astype(np.float32)
    idx = rng.integers(0, n_images, n).astype(np.int32)
    dimage = da.from_array(image, chunks=(per_chunk, 16, 20, 3))
    return image, boxes, idx, dimage


def _image_deps(x: da.Array, image: da.Array) -> list[int]:
    """Per task of ``x``'s own layers: how many image blocks it reads directly."""
    graph = x.__dask_graph__()
    image_keys = {k for k in dict(graph) if isinstance(k, tuple) and k[0] == image.name}
    return [len(set(task.dependencies) & image_keys)
            for name, layer in graph.layers.items() if name.startswith("xcrop-")
            for task in layer.values()]


@pytest.mark.parametrize("order", ["random", "sorted"])
def test_crop_graph_grows_with_chunks(order: str) -> None:
    image, boxes, idx, dimage = _crop_inputs()
    if order == "sorted":
        perm = np.argsort(idx, kind="stable")
        boxes, idx = boxes[perm], idx[perm]
    out = xcrop.crop_and_resize(dimage, da.from_array(boxes, chunks=100),
                                da.from_array(idx, chunks=100), (7, 5))
    chunks = dimage.numblocks[0]  # 24
    tasks = _task_count(out)
    assert tasks <= 12 * chunks
    # The image's own tasks, one crop task per chunk, and (random order only) one gather
    # task per output chunk.
    assert tasks <= (3 if order == "random" else 2) * chunks + 1
    assert max(_image_deps(out, dimage)) == 1  # no task reads two image chunks
    if order == "sorted":
        assert len(out.chunks[0]) == chunks  # the crop blocks are the output, in order
    _same(out.compute(), xcrop.crop_and_resize(image, boxes, idx, (7, 5)))


def test_crop_tasks_split_at_dask_chunk_size() -> None:
    image, boxes, idx, dimage = _crop_inputs(n_images=4, per_chunk=4, n=50)
    with dask.config.set({"array.chunk-size": "2KiB"}):  # 20 boxes of 7x5x3 float32
        out = xcrop.crop_and_resize(dimage, da.from_array(boxes), da.from_array(idx), (7, 5))
    assert max(out.chunks[0]) <= 2048 // (7 * 5 * 3 * 4)
    _same(out.compute(), xcrop.crop_and_resize(image, boxes, idx, (7, 5)))


def test_crop_image_chunked_along_height_and_width() -> None:
    image, boxes, idx, _ = _crop_inputs(n_images=6, n=40)
    dimage = da.from_array(image, chunks=(2, 5, 7, 1))
    out = xcrop.crop_and_resize(dimage, da.from_array(boxes), da.from_array(idx), (4, 4),
                                method="nearest", extrapolation_value=-1.5)
    _same(out.compute(), xcrop.crop_and_resize(image, boxes, idx, (4, 4), method="nearest",
                                               extrapolation_value=-1.5))


def test_crop_no_boxes_and_boxes_on_few_chunks() -> None:
    image, boxes, idx, dimage = _crop_inputs(n_images=12, n=30)
    empty = xcrop.crop_and_resize(dimage, da.zeros((0, 4), dtype=np.float32),
                                  da.zeros((0,), dtype=np.int32), (3, 3))
    assert empty.shape == (0, 3, 3, 3) and empty.compute().shape == (0, 3, 3, 3)
    idx[:] = 5  # every box on one image: one crop task
    out = xcrop.crop_and_resize(dimage, da.from_array(boxes), da.from_array(idx), (3, 3))
    assert len(out.chunks[0]) == 1
    _same(out.compute(), xcrop.crop_and_resize(image, boxes, idx, (3, 3)))


def test_which_path_reports_dask() -> None:
    _, boxes, idx, dimage = _crop_inputs(n_images=4, n=5)
    path = xcrop.which_path(xcrop.crop_and_resize, dimage, da.from_array(boxes),
                            da.from_array(idx), (3, 3))
    assert path == "dask (one task per image chunk)"


def test_boxes_computed_once_at_the_call() -> None:
    _, boxes, idx, dimage = _crop_inputs(n_images=6, n=20)
    calls = []

    def counted(block):
        calls.append(block.shape[0])
        return block

    lazy_boxes = da.from_array(boxes, chunks=10).map_blocks(
        counted, meta=np.empty((0, 0), np.float32))
    out = xcrop.crop_and_resize(dimage, lazy_boxes, da.from_array(idx), (3, 3))
    assert len(calls) == 2  # its two blocks, once
    out.compute()
    assert len(calls) == 2  # computing the crop does not compute the boxes again


# ---------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------

def test_bad_box_index_names_the_box() -> None:
    _, boxes, idx, dimage = _crop_inputs(n_images=6, n=20)
    idx[13] = 6
    with pytest.raises(xcrop.BoxIndexError, match=r"box_indices\[13\] = 6"):
        xcrop.crop_and_resize(dimage, da.from_array(boxes, chunks=5),
                              da.from_array(idx, chunks=5), (3, 3))


def test_non_finite_box_names_the_box() -> None:
    _, boxes, idx, dimage = _crop_inputs(n_images=6, n=20)
    boxes[11, 2] = np.inf
    with pytest.raises(xcrop.InvalidArgumentError, match=r"boxes\[11\] = .* is not"):
        xcrop.crop_and_resize(dimage, da.from_array(boxes, chunks=5), da.from_array(idx),
                              (3, 3))
    with pytest.raises(xcrop.InvalidArgumentError, match=r"boxes\[11\]"):
        xcrop.crop_and_resize_grad_boxes(da.ones((20, 3, 3, 3), dtype=np.float32, chunks=5),
                                         dimage, da.from_array(boxes), da.from_array(idx))


def test_unknown_sizes_are_refused() -> None:
    _, boxes, idx, dimage = _crop_inputs(n_images=6, n=20)
    masked = dimage[dimage[:, 0, 0, 0] > 100]
    with pytest.raises(xcrop.InvalidArgumentError, match=r"image has unknown sizes.*"
                       r"compute_chunk_sizes\(\)"):
        xcrop.crop_and_resize(masked, da.from_array(boxes), da.from_array(idx), (3, 3))
    dboxes = da.from_array(boxes)
    with pytest.raises(xcrop.InvalidArgumentError, match="boxes has unknown sizes"):
        xcrop.crop_and_resize(dimage, dboxes[dboxes[:, 0] > 0.5], da.from_array(idx), (3, 3))
    with pytest.raises(xcrop.InvalidArgumentError, match="input has unknown sizes"):
        xcrop.extract_glimpse(masked.astype(np.float32), (3, 3), da.zeros((6, 2)))


def test_mixed_libraries_are_refused() -> None:
    _, boxes, idx, dimage = _crop_inputs(n_images=6, n=20)
    with pytest.raises(TypeError, match="boxes is a numpy array but image is a dask array"):
        xcrop.crop_and_resize(dimage, boxes, da.from_array(idx), (3, 3))


def test_dask_is_not_imported_for_other_arrays() -> None:
    code = ("import sys, numpy as np, xcrop, xcrop.capabilities\n"
            "xcrop.crop_and_resize(np.ones((1, 2, 2, 1), np.float32), [[0, 0, 1, 1]], [0],"
            " (2, 2))\n"
            "xcrop.extract_glimpse(np.ones((1, 2, 2, 1), np.float32), (2, 2), [[0, 0]])\n"
            "xcrop.capabilities.capabilities()\n"
            "assert 'dask' not in sys.modules, sorted(m for m in sys.modules if 'dask' in m)\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# ---------------------------------------------------------------------------------------
# extract_glimpse
# ---------------------------------------------------------------------------------------

def _glimpse_inputs(n: int = 10, seed: int = 1):
    rng = _rng(seed)
    image = rng.random((n, 9, 11, 3), dtype=np.float32)
    offsets = rng.uniform(-1.6, 1.6, (n, 2)).astype(np.float32)
    return image, offsets


@pytest.mark.parametrize("noise", ["uniform", "gaussian", "zero"])
@pytest.mark.parametrize("version", [1, 2])
def test_glimpse_chunks_draw_the_whole_calls_fill(noise: str, version: int) -> None:
    image, offsets = _glimpse_inputs()
    # Odd glimpse sizes: chunks start at odd stream elements (mid Threefry block).
    size = (5, 7)
    call = xcrop.extract_glimpse if version == 2 else xcrop.compat.v1.extract_glimpse
    flags = {} if version == 2 else {"uniform_noise": noise == "uniform"}
    ref = call(image, size, offsets, noise=noise, seed=12345, **flags)
    for image_chunks, offset_chunks in ((3, 10), (3, 4), (1, 1)):
        dimage = da.from_array(image, chunks=(image_chunks, 9, 11, 3))
        out = call(dimage, size, da.from_array(offsets, chunks=(offset_chunks, 2)),
                   noise=noise, seed=12345, **flags)
        blocks = dimage.numblocks[0]
        # image blocks + glimpse tasks (+ the offsets' own and rechunk tasks).
        assert _task_count(out) <= 12 * blocks
        assert out.chunks[0] == dimage.chunks[0]
        _same(out.compute(), ref)


def test_unseeded_glimpse_draws_one_seed_per_graph() -> None:
    image, offsets = _glimpse_inputs()
    out = xcrop.extract_glimpse(da.from_array(image, chunks=(2, 9, 11, 3)), (12, 14),
                                da.from_array(offsets), noise="uniform")
    first = out.compute()
    _same(out.compute(), first)  # the seed is part of the graph
    other = xcrop.extract_glimpse(da.from_array(image, chunks=(2, 9, 11, 3)), (12, 14),
                                  da.from_array(offsets), noise="uniform").compute()
    assert not np.array_equal(first, other)  # a new call, a new seed


def test_glimpse_image_chunked_along_width() -> None:
    image, offsets = _glimpse_inputs()
    out = xcrop.extract_glimpse(da.from_array(image, chunks=(4, 9, 4, 3)), (5, 5),
                                da.from_array(offsets), noise="gaussian", seed=3)
    _same(out.compute(), xcrop.extract_glimpse(image, (5, 5), offsets, noise="gaussian",
                                               seed=3))


# ---------------------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float16", "float64"])
@pytest.mark.parametrize("method", ["bilinear", "nearest"])
def test_grad_image(dtype: str, method: str) -> None:
    rng = _rng(2)
    n_images, n = 12, 60
    boxes = rng.uniform(-0.1, 1.1, (n, 4)).astype(np.float32)
    idx = rng.integers(0, n_images, n).astype(np.int32)
    grads = rng.standard_normal((n, 4, 5, 2)).astype(np.float32)
    shape = (n_images, 10, 9, 2)
    ref = xcrop.crop_and_resize_grad_image(grads, boxes, idx, shape, method, dtype)
    with dask.config.set({"array.chunk-size": "2KiB"}):  # several batch chunks
        out = xcrop.crop_and_resize_grad_image(
            da.from_array(grads, chunks=(7, 4, 5, 2)), da.from_array(boxes),
            da.from_array(idx), shape, method, dtype)
    assert len(out.chunks[0]) > 1 and out.dtype == np.dtype(dtype)
    # one task per output chunk, on top of the grads' own
    assert _task_count(out) == len(out.chunks[0]) + math.ceil(n / 7)
    _same(out.compute(), ref)


@pytest.mark.parametrize("order", ["random", "sorted"])
def test_grad_boxes(order: str) -> None:
    rng = _rng(3)
    image = rng.random((12, 10, 9, 2), dtype=np.float32)
    n = 60
    boxes = rng.uniform(-0.1, 1.1, (n, 4)).astype(np.float32)
    idx = rng.integers(0, 12, n).astype(np.int32)
    if order == "sorted":
        idx = np.sort(idx)
    grads = rng.standard_normal((n, 4, 5, 2)).astype(np.float32)
    dimage = da.from_array(image, chunks=(3, 10, 9, 2))
    out = xcrop.crop_and_resize_grad_boxes(da.from_array(grads, chunks=(15, 4, 5, 2)), dimage,
                                           da.from_array(boxes), da.from_array(idx))
    assert max(_image_deps(out, dimage)) == 1
    assert _task_count(out) <= 12 * dimage.numblocks[0]
    if order == "random":
        assert out.chunks[0] == (15, 15, 15, 15)  # like grads
    _same(out.compute(), xcrop.crop_and_resize_grad_boxes(grads, image, boxes, idx))


# ---------------------------------------------------------------------------------------
# a distributed cluster
# ---------------------------------------------------------------------------------------

def test_local_cluster_two_processes() -> None:
    distributed = pytest.importorskip("distributed")
    image, boxes, idx, dimage = _crop_inputs(n_images=32, per_chunk=4, n=300, seed=5)
    ref = xcrop.crop_and_resize(image, boxes, idx, (9, 9))
    # Kept short (< 30 s on a busy 2-core machine): crops only, and the workers use the
    # NumPy fast path without numba (loading the numba kernels in two fresh processes
    # took 10 s under load; the threaded tests above run them).
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  host="127.0.0.1", dashboard_address=None,
                                  env={"XCROP_NO_NUMBA": "1"},
                                  ) as cluster, distributed.Client(cluster) as client:
        out = xcrop.crop_and_resize(dimage, da.from_array(boxes), da.from_array(idx), (9, 9))
        with distributed.get_task_stream(client) as stream:
            got = client.compute(out, sync=True)
        _same(got, ref)
        assert _task_count(out) <= 3 * dimage.numblocks[0] + 1
        # Every xcrop task ran once, and both workers ran some.
        ours = [t for t in stream.data if str(t["key"]).startswith("('xcrop-")]
        assert len(ours) == _xcrop_task_count(out)
        workers = {t["worker"] for t in ours}
        assert len(workers) == 2, workers


def _xcrop_task_count(x: da.Array) -> int:
    return sum(len(layer) for name, layer in x.__dask_graph__().layers.items()
               if name.startswith("xcrop-"))
