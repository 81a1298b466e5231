"""xcrop on dask: crop throughput on a dask.distributed LocalCluster with 1 and 2 workers.

    python bench/bench_dask.py [--images 12288] [--size 256 256] [--chunk 256]
                               [--boxes 30000] [--crop 64 64] [--order sorted random]
                               [--repeats 3] [--json bench/results_dask.json]

    nox -s bench_dask     # the same, in the test requirements' venv with xcrop[dask]

The images are uint8 ``(images, H, W, 3)``, generated lazily by ``map_blocks`` (a cheap
pattern written per chunk, so generating them costs one pass over memory), chunked by
``--chunk`` images along the batch. ``--boxes`` random boxes over all images, in the
caller's order given by ``--order``: ``sorted`` by image (a dataset's annotations; the
crop tasks' blocks are the output) or ``random`` (one gather task per output chunk puts
them back in the caller's order). Each output block is reduced to one checksum per box
on the workers (``sum`` over the crop), as a pipeline would consume it; only those come
back to the client.

Reported per configuration: the median wall time of ``--repeats`` computes, graph
building included (after a warm-up compute of the first chunks' graph, which loads the
numba kernels from their cache in each worker; the clusters run side by side and are
timed in turn, round by round, so that load changes during the run hit them alike),
throughput in boxes/s and in input GB/s, the scaling (throughput of each cluster over
the first's), the graph's task count per image chunk, and each worker's peak resident memory
(``VmHWM``) before and after. Workers run one thread each with ``XCROP_NUM_THREADS=1``
(xcrop's own thread pool off: dask's parallelism is the workers). For reference, the
in-process NumPy call on one in-memory chunk (its images and boxes), with xcrop's thread
pool at 1 thread and at its default.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time
from typing import Any

import numpy as np

import xcrop


def make_images(n: int, height: int, width: int, chunk: int) -> Any:
    """Lazy uint8 ``(n, height, width, 3)`` images: a pattern that differs per image."""
    import dask.array as da

    def block(block_info: dict | None = None) -> np.ndarray:
        info = block_info[None]
        (b0, b1), *_ = info["array-location"]
        rows = np.arange(height, dtype=np.uint16)[:, None, None]
        cols = np.arange(width, dtype=np.uint16)[None, :, None]
        base = (rows * 3 + cols * 5 + np.arange(3, dtype=np.uint16)).astype(np.uint8)
        out = np.empty((b1 - b0, height, width, 3), np.uint8)
        for i in range(b1 - b0):
            np.add(base, np.uint8((b0 + i) % 251), out=out[i])
        return out

    chunks = ((chunk,) * (n // chunk) + ((n % chunk,) if n % chunk else ()),
              (height,), (width,), (3,))
    return da.map_blocks(block, chunks=chunks, dtype=np.uint8,
                         meta=np.empty((0, 0, 0, 0), np.uint8))


def make_boxes(n_images: int, n: int, order: str, seed: int = 0) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    corners = np.sort(rng.uniform(-0.05, 1.05, (n, 2, 2)).astype(np.float32), axis=1)
    boxes = np.stack([corners[:, 0, 0], corners[:, 0, 1], corners[:, 1, 0], corners[:, 1, 1]],
                     axis=1)
    idx = rng.integers(0, n_images, n).astype(np.int32)
    if order == "sorted":
        idx = np.sort(idx)
    return boxes, idx


def crop_graph(images: Any, boxes: np.ndarray, idx: np.ndarray,
               crop: tuple[int, int]) -> tuple[Any, Any]:
    """The crop (lazy) and the per-box checksums computed from it."""
    import dask.array as da

    out = xcrop.crop_and_resize(images, da.from_array(boxes), da.from_array(idx), crop)
    return out, out.sum(axis=(1, 2, 3), dtype=np.float32)


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _warm(client: Any, images: Any, boxes: np.ndarray, idx: np.ndarray, workers: int,
          opts: argparse.Namespace) -> None:
    """The graph of the first chunks and their boxes, so that each worker loads the numba
    kernel variants the run needs (seconds each on a busy machine)."""
    small = images[:workers * opts.chunk]
    keep = idx < small.shape[0]
    _, sums = crop_graph(small, boxes[keep], idx[keep], tuple(opts.crop))
    client.compute(sums, sync=True)
    client.run(lambda: None)


def run_clusters(opts: argparse.Namespace, order: str) -> list[dict[str, Any]]:
    """One LocalCluster per entry of ``--workers``, all started first, then timed in turn
    (round 1: each cluster once, round 2 ...), as ``bench.py`` times its runners, so a
    change in machine load during the run affects every cluster alike (the idle clusters'
    processes sleep)."""
    from distributed import Client, LocalCluster

    images = make_images(opts.images, *opts.size, opts.chunk)
    boxes, idx = make_boxes(opts.images, opts.boxes, order)
    crop = tuple(opts.crop)
    with contextlib.ExitStack() as stack:
        clients = {}
        for workers in opts.workers:
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None, env={"XCROP_NUM_THREADS": "1"}))
            clients[workers] = stack.enter_context(Client(cluster, set_as_default=False))
        before, times, results = {}, {w: [] for w in clients}, {}
        for workers, client in clients.items():
            _warm(client, images, boxes, idx, workers, opts)
            before[workers] = client.run(_peak_rss_mb)
        tasks = 0
        for _ in range(opts.repeats):
            for workers, client in clients.items():
                t0 = time.perf_counter()
                out, sums = crop_graph(images, boxes, idx, crop)  # graph build included
                results[workers] = client.compute(sums, sync=True)
                times[workers].append(time.perf_counter() - t0)
                tasks = len(dict(out.__dask_graph__()))
        after = {w: c.run(_peak_rss_mb) for w, c in clients.items()}
    # The checksums of the whole graph against the in-process call, on one chunk.
    first = np.flatnonzero(idx < opts.chunk)
    ref = xcrop.crop_and_resize(images[:opts.chunk].compute(), boxes[first], idx[first],
                                crop).sum(axis=(1, 2, 3), dtype=np.float32)
    rows = []
    for workers in clients:
        assert np.array_equal(np.asarray(results[workers])[first], ref), "checksums differ"
        median = statistics.median(times[workers])
        rows.append({
            "runner": f"LocalCluster {workers} worker{'s' if workers > 1 else ''}",
            "order": order, "seconds": times[workers], "median_s": median,
            "boxes_per_s": opts.boxes / median,
            "input_gb_per_s": images.nbytes / 1e9 / median,
            "tasks": tasks, "tasks_per_image_chunk": tasks / images.numblocks[0],
            "worker_peak_rss_mb_before": sorted(before[workers].values()),
            "worker_peak_rss_mb_after": sorted(after[workers].values()),
        })
    return rows


def run_numpy(opts: argparse.Namespace, order: str, threads: int | None) -> dict[str, Any]:
    """The in-process NumPy call on one in-memory chunk (its images and its boxes)."""
    images = make_images(opts.images, *opts.size, opts.chunk)
    boxes, idx = make_boxes(opts.images, opts.boxes, order)
    chunk = images[:opts.chunk].compute()
    keep = np.flatnonzero(idx < opts.chunk)
    b, i = boxes[keep], idx[keep]
    old = os.environ.get("XCROP_NUM_THREADS")
    if threads is not None:
        os.environ["XCROP_NUM_THREADS"] = str(threads)
    try:
        xcrop.crop_and_resize(chunk, b[:100], i[:100], tuple(opts.crop))  # warm-up
        times = []
        for _ in range(opts.repeats):
            t0 = time.perf_counter()
            xcrop.crop_and_resize(chunk, b, i, tuple(opts.crop)).sum(axis=(1, 2, 3),
                                                                     dtype=np.float32)
            times.append(time.perf_counter() - t0)
    finally:
        if old is None:
            os.environ.pop("XCROP_NUM_THREADS", None)
        else:
            os.environ["XCROP_NUM_THREADS"] = old
    median = statistics.median(times)
    label = "default threads" if threads is None else f"{threads} thread"
    return {"runner": f"NumPy in process, one chunk, {label}", "order": order,
            "seconds": times, "median_s": median, "boxes": int(keep.size),
            "boxes_per_s": keep.size / median,
            "input_gb_per_s": chunk.nbytes / 1e9 / median}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=12288)
    p.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("H", "W"))
    p.add_argument("--chunk", type=int, default=256, help="images per chunk")
    p.add_argument("--boxes", type=int, default=30000)
    p.add_argument("--crop", type=int, nargs=2, default=(64, 64), metavar=("CH", "CW"))
    p.add_argument("--order", nargs="+", default=["sorted", "random"],
                   choices=["sorted", "random"])
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", default="bench/results_dask.json")
    opts = p.parse_args(argv)
    height, width = opts.size
    gb = opts.images * height * width * 3 / 1e9
    print(f"images: {opts.images} x {height}x{width}x3 uint8 = {gb:.2f} GB in chunks of "
          f"{opts.chunk}; {opts.boxes} boxes -> {tuple(opts.crop)} crops "
          f"({opts.boxes * opts.crop[0] * opts.crop[1] * 3 * 4 / 1e9:.2f} GB float32)")
    rows = []
    for order in opts.order:
        rows.append(run_numpy(opts, order, 1))
        rows.append(run_numpy(opts, order, None))
        rows += run_clusters(opts, order)
    print(f"\n{'runner':44} {'order':7} {'median s':>9} {'boxes/s':>10} {'GB/s in':>8} "
          f"{'tasks/chunk':>11}  worker peak RSS MB (before -> after)")
    for r in rows:
        mem = ""
        if "worker_peak_rss_mb_after" in r:
            mem = ", ".join(f"{a:.0f} -> {b:.0f}" for a, b in zip(
                r["worker_peak_rss_mb_before"], r["worker_peak_rss_mb_after"], strict=True))
        per_chunk = f"{r['tasks_per_image_chunk']:.2f}" if "tasks" in r else ""
        print(f"{r['runner']:44} {r['order']:7} {r['median_s']:9.3f} {r['boxes_per_s']:10.0f} "
              f"{r['input_gb_per_s']:8.2f} {per_chunk:>11}  {mem}")
    for order in opts.order:
        clusters = [r for r in rows if r["order"] == order and "tasks" in r]
        for r in clusters[1:]:
            r["scaling"] = clusters[0]["median_s"] / r["median_s"]
            print(f"{order}: {r['runner']} / {clusters[0]['runner']}: "
                  f"{r['scaling']:.2f}x the throughput")
    import dask
    import distributed

    meta = {"images": opts.images, "size": [height, width], "chunk": opts.chunk,
            "boxes": opts.boxes, "crop": list(opts.crop), "input_gb": gb,
            "repeats": opts.repeats, "cpus": os.cpu_count(), "python": sys.version.split()[0],
            "machine": platform.machine(), "dask": dask.__version__,
            "distributed": distributed.__version__, "xcrop": xcrop.__version__,
            "numpy": np.__version__}
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=1)
        print(f"\nwrote {opts.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
