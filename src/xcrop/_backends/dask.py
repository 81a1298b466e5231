"""Dask arrays: graphs whose tasks each read one image chunk and call xcrop on NumPy.

A dask call returns a lazy dask array at once; computing it runs, per image (batch)
chunk, an ordinary xcrop call on that chunk's NumPy block, served by the NumPy fast
paths (numba kernels). So the bits are the in-memory call's, and the graph grows with
the number of chunks, not with chunks x chunks.

* ``crop_and_resize``: the boxes and box indices are small and were computed once, when
  the call was made (``_core.validation``, which checked their values and names a bad box
  as for any array). Boxes are grouped by the image chunk their index falls in; one task
  crops one group (split so that no block exceeds dask's ``array.chunk-size``) from its
  one image chunk. When the caller's boxes already come in runs per image chunk (sorted
  by image, as a dataset's annotations usually are) the tasks' blocks *are* the output,
  in the caller's order. Otherwise one gather task per output chunk puts the rows back
  in the caller's order (an all-to-all step: every output chunk may read every crop
  block).
* ``extract_glimpse`` (V1 and V2): one task per batch chunk. The seeded fill is indexed
  by the flat output element; each task starts the stream at its chunk's first element
  (``GlimpseArgs.fill_start``), so the result equals the in-memory call bit for bit. An
  unseeded call draws one seed when the graph is built.
* ``crop_and_resize_grad_image``: one task per output batch chunk (chunked like dask's
  ``"auto"`` along the batch), accumulating its boxes in the caller's order: TF's order
  restricted to one image, so the same bits. ``crop_and_resize_grad_boxes``: grouped as
  the crop; each box's gradient depends on its own crop only.

Images (and ``grads``) chunked along height, width or depth are first rechunked to whole
images (crops). Nothing here imports dask until a dask array arrives; each task imports
dispatch when it runs (a nested NumPy call, not an import cycle).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Any

from .._core import random
from .._core.args import CropArgs, GlimpseArgs, GradBoxesArgs, GradImageArgs
from .._core.arrays import dtype_name, ieee_quiet, is_lazy, numpy_blocks
from .._core.errors import InvalidArgumentError
from . import subcalls
from .path_records import one_per_operation

__all__ = ["GLIMPSE_NAME", "NAME", "paths", "whole_images"]

NAME = "dask (one task per image chunk)"
GLIMPSE_NAME = "dask (one task per batch chunk)"


# ----------------------------------------------------------------------------------------
# shared planning
# ----------------------------------------------------------------------------------------

def whole_images(x: Any) -> Any:
    """Dask array ``x`` with one chunk along every axis but the first (rechunked if
    needed: a task must see whole images)."""
    if all(len(c) == 1 for c in x.chunks[1:]):
        return x
    return x.rechunk({axis: -1 for axis in range(1, x.ndim)})


def _starts(chunks: tuple[int, ...]) -> Any:
    """First index of each chunk, then the total: int64 ``(len(chunks) + 1,)``."""
    import numpy as np

    return np.concatenate([[0], np.cumsum(chunks, dtype=np.int64)])


def _chunk_of(starts: Any, index: Any) -> Any:
    """The chunk each of ``index`` (int array) falls in."""
    import numpy as np

    return np.searchsorted(starts, index, side="right") - 1


def _rows_per_block(row_bytes: int) -> int:
    """Rows per output block: dask's ``array.chunk-size`` (128 MiB by default)."""
    import dask
    from dask.utils import parse_bytes

    return max(1, parse_bytes(dask.config.get("array.chunk-size")) // max(row_bytes, 1))


@dataclass(frozen=True)
class _Plan:
    """Which boxes each task handles.

    ``chunks[s]`` is the image chunk of segment ``s`` and ``rows[s]`` its boxes (caller
    positions, ascending). ``in_order``: the segments, one after another, are the caller's
    order (no gather needed).
    """

    chunks: list[int]
    rows: list[Any]
    in_order: bool


def _plan(which: Any, max_rows: int, cuts: Any, gather_tasks: int) -> _Plan:
    """Segments of boxes for ``which`` (the image chunk of each box, caller order).

    Two layouts, the one with fewer tasks wins (ties: runs, which move no data): runs of
    consecutive boxes on one chunk (also cut at ``cuts``: e.g. the grads' chunk
    boundaries), or one group per chunk plus ``gather_tasks`` tasks that restore the
    caller's order. Both split a segment every ``max_rows`` boxes.
    """
    import numpy as np

    n = which.shape[0]
    edges = np.union1d(np.flatnonzero(np.diff(which)) + 1, np.asarray(cuts, dtype=np.int64))
    edges = np.concatenate([[0], edges[(edges > 0) & (edges < n)], [n]])
    sizes = np.diff(edges)
    n_runs = int(np.sum(-(-sizes // max_rows)))
    order = np.argsort(which, kind="stable")
    group_edges = np.concatenate(
        [[0], np.flatnonzero(np.diff(which[order])) + 1, [n]])
    group_sizes = np.diff(group_edges)
    n_groups = int(np.sum(-(-group_sizes // max_rows)))
    chunks, rows = [], []
    if n_runs <= n_groups + gather_tasks:
        for a, b in itertools.pairwise(edges.tolist()):
            for s in range(a, b, max_rows):
                chunks.append(int(which[a]))
                rows.append(np.arange(s, min(b, s + max_rows)))
        return _Plan(chunks, rows, True)
    for a, b in itertools.pairwise(group_edges.tolist()):
        for s in range(a, b, max_rows):
            chunks.append(int(which[order[a]]))
            rows.append(order[s:min(b, s + max_rows)])
    return _Plan(chunks, rows, False)


def _pieces(rows: Any, starts: Any) -> tuple[list[int], list[tuple[Any, Any]]]:
    """Where caller positions ``rows`` lie in an array chunked at ``starts``: the chunks
    they touch and, per chunk, ``(rows within that chunk, their places in rows)``."""
    import numpy as np

    if rows.shape[0] == 0:
        return [], []
    which = _chunk_of(starts, rows)
    dst = np.argsort(which, kind="stable")
    sorted_which = which[dst]
    cut = np.flatnonzero(np.diff(sorted_which)) + 1
    blocks = sorted_which[np.r_[0, cut]].tolist()
    spec = [(rows[d] - starts[c], d) for c, d in zip(blocks, np.split(dst, cut), strict=True)]
    return blocks, spec


def _gather(spec: list[tuple[Any, Any]], *blocks: Any) -> Any:
    """``out[dst] = block[src]`` for each block and its ``(src, dst)`` in ``spec``."""
    import numpy as np

    count = sum(dst.shape[0] for _, dst in spec)
    if len(blocks) == 1 and count == blocks[0].shape[0] and _is_identity(spec[0]):
        return blocks[0]
    out = np.empty((count, *blocks[0].shape[1:]), dtype=blocks[0].dtype)
    for (src, dst), block in zip(spec, blocks, strict=True):
        out[dst] = block[src]
    return out


def _is_identity(pair: tuple[Any, Any]) -> bool:
    import numpy as np

    src, dst = pair
    return bool(np.array_equal(src, np.arange(src.shape[0]))
                and np.array_equal(dst, np.arange(dst.shape[0])))


def _even_chunks(n: int, parts: int) -> tuple[int, ...]:
    """``n`` rows in ``parts`` chunks of sizes differing by at most one."""
    parts = max(1, min(parts, n))
    return tuple(n * (k + 1) // parts - n * k // parts for k in range(parts))


def _reorder(parts: Any, plan: _Plan, name: str, out_chunks: tuple[int, ...]) -> Any:
    """The rows of ``parts`` (dask array, one block per segment of ``plan``) in the
    caller's order, chunked by ``out_chunks`` along axis 0: one gather task per output
    chunk, reading only the blocks that hold its rows."""
    import dask.array as da
    import numpy as np
    from dask.highlevelgraph import HighLevelGraph
    Task, TaskRef = _task_classes()

    n = sum(out_chunks)
    segment = np.empty(n, np.int64)  # caller position -> segment, row in it
    row = np.empty(n, np.int64)
    for s, rows in enumerate(plan.rows):
        segment[rows] = s
        row[rows] = np.arange(rows.shape[0])
    tail = (0,) * (parts.ndim - 1)
    layer = {}
    for k, (a, b) in enumerate(itertools.pairwise(_starts(out_chunks).tolist())):
        key = (name, k, *tail)
        if a == b:  # an empty chunk (grads may have some)
            layer[key] = Task(key, np.empty, (0, *parts.shape[1:]), parts.dtype)
            continue
        # The chunk's positions grouped by segment (stable: ascending within each).
        dst = np.argsort(segment[a:b], kind="stable")
        seg = segment[a:b][dst]
        cut = np.flatnonzero(np.diff(seg)) + 1
        sources = [TaskRef((parts.name, int(s), *tail)) for s in seg[np.r_[0, cut]]]
        spec = [(row[a:b][d], d) for d in np.split(dst, cut)]
        layer[key] = Task(key, _gather, spec, *sources)
    graph = HighLevelGraph.from_collections(name, layer, dependencies=[parts])
    return da.Array(graph, name, (out_chunks, *parts.chunks[1:]), meta=parts._meta)


def _task_classes() -> tuple[Any, Any]:
    """dask's ``Task`` and ``TaskRef`` (public as ``dask.task_spec`` in recent releases)."""
    try:
        from dask.task_spec import Task, TaskRef
    except ImportError:  # older dask: the same classes, not yet re-exported
        from dask._task_spec import Task, TaskRef
    return Task, TaskRef


def _numpy(x: Any) -> Any:
    """The values of a small dask array (one block of NumPy values, see validation)."""
    return x.compute(scheduler="sync")


def _numpy_call(operation: str, validate: Any, *arguments: Any, **fields: Any) -> Any:
    """Run xcrop on NumPy arrays inside a task: validate, set ``fields`` on the record,
    dispatch (the NumPy fast paths serve)."""
    with ieee_quiet():
        args = validate(*arguments)
        return _dispatch(operation, replace(args, **fields) if fields else args)


def _dispatch(operation: str, args: Any) -> Any:
    with ieee_quiet():
        return subcalls.run(operation, args)


def _array(layer: dict[Any, Any], name: str, chunks: tuple[tuple[int, ...], ...],
           dependencies: list[Any], dtype: Any) -> Any:
    import dask.array as da
    import numpy as np
    from dask.highlevelgraph import HighLevelGraph

    graph = HighLevelGraph.from_collections(name, layer, dependencies=dependencies)
    meta = np.empty((0,) * len(chunks), dtype=dtype)
    return da.Array(graph, name, chunks, meta=meta)


# ----------------------------------------------------------------------------------------
# crop_and_resize
# ----------------------------------------------------------------------------------------

def _crop_block(image: Any, boxes: Any, box_indices: Any, crop_size: tuple[int, int],
                method: str, extrapolation_value: float) -> Any:
    """One task: the crops of ``boxes`` from the NumPy image chunk ``image``."""
    from .._core.validation import validate_crop_and_resize

    return _numpy_call("crop_and_resize", validate_crop_and_resize, image, boxes, box_indices,
                       crop_size, method, extrapolation_value)


def crop(args: CropArgs) -> Any:
    """``crop_and_resize`` of a dask image: float32 ``(n, ch, cw, D)`` dask array, chunked
    along boxes, in the caller's box order (see the module docstring for the graph)."""
    import dask.array as da
    import numpy as np
    from dask.base import tokenize
    Task, TaskRef = _task_classes()

    image = whole_images(args.image)
    boxes, box_indices = _numpy(args.boxes), _numpy(args.box_indices)
    n, ch, cw, depth = args.output_shape
    if n == 0:
        return da.empty(args.output_shape, dtype=np.float32, chunks=-1)
    starts = _starts(image.chunks[0])
    which = _chunk_of(starts, box_indices)
    max_rows = _rows_per_block(ch * cw * max(depth, 1) * 4)
    groups = len(np.unique(which))
    plan = _plan(which, max_rows, [], gather_tasks=groups)
    token = tokenize(image.name, boxes, box_indices, ch, cw, args.method,
                     args.extrapolation_value)
    name = f"xcrop-crop-{token}"
    parts = name if plan.in_order else f"xcrop-crop-parts-{token}"
    layer = {}
    for s, (c, rows) in enumerate(zip(plan.chunks, plan.rows, strict=True)):
        key = (parts, s, 0, 0, 0)
        layer[key] = Task(key, _crop_block, TaskRef((image.name, c, 0, 0, 0)), boxes[rows],
                          box_indices[rows] - starts[c], (ch, cw), args.method,
                          args.extrapolation_value)
    sizes = tuple(r.shape[0] for r in plan.rows)
    out = _array(layer, parts, (sizes, (ch,), (cw,), (depth,)), [image], np.float32)
    if plan.in_order:
        return out
    return _reorder(out, plan, name, _even_chunks(n, len(sizes)))


# ----------------------------------------------------------------------------------------
# gradients
# ----------------------------------------------------------------------------------------

def _grad_image_block(in_y: Any, in_x: Any, box_indices: Any, image_shape: tuple[int, ...],
                      method: str, dtype: str, spec: list[tuple[Any, Any]], *grads: Any) -> Any:
    """One task: the image gradient of one batch chunk, from its boxes (caller order: their
    sample coordinates, validated when the call was made) and their rows of ``grads``
    (gathered from the float32 grads blocks given)."""
    import numpy as np

    if not grads:
        return np.zeros(image_shape, dtype=dtype)  # no box on these images
    from .._core.arrays import resolve_backend

    g = _gather(spec, *grads)
    backend = resolve_backend("grads", g)
    return _dispatch("grad_image", GradImageArgs(
        backend=backend, grads=g, box_indices=box_indices, in_y=in_y, in_x=in_x,
        image_shape=image_shape, method=method, dtype=getattr(backend.xp, dtype)))


def grad_image(args: GradImageArgs) -> Any:
    """``crop_and_resize_grad_image`` of dask ``grads``: ``args.image_shape`` dask array of
    ``args.dtype``, chunked along the batch (dask's ``"auto"`` size), one task per chunk."""
    import numpy as np
    from dask.array.core import normalize_chunks
    from dask.base import tokenize
    Task, TaskRef = _task_classes()

    grads = whole_images(args.grads)
    in_y, in_x, box_indices = (_numpy(a) for a in (args.in_y, args.in_x, args.box_indices))
    kind = dtype_name(args.backend.xp, args.dtype)
    _, height, width, depth = args.image_shape
    chunks = normalize_chunks(("auto", -1, -1, -1), args.image_shape, dtype=np.dtype(kind))
    starts = _starts(chunks[0])
    which = _chunk_of(starts, box_indices)
    grad_starts = _starts(grads.chunks[0])
    name = "xcrop-grad-image-" + tokenize(grads.name, in_y, in_x, box_indices,
                                          args.image_shape, args.method, kind)
    layer = {}
    for c, size in enumerate(chunks[0]):
        rows = np.flatnonzero(which == c)
        blocks, spec = _pieces(rows, grad_starts)
        key = (name, c, 0, 0, 0)
        layer[key] = Task(key, _grad_image_block, in_y[rows], in_x[rows],
                          box_indices[rows] - starts[c], (size, height, width, depth),
                          args.method, kind, spec,
                          *(TaskRef((grads.name, g, 0, 0, 0)) for g in blocks))
    return _array(layer, name, chunks, [grads], np.dtype(kind))


def _grad_boxes_block(image: Any, boxes: Any, box_indices: Any, spec: list[tuple[Any, Any]],
                      *grads: Any) -> Any:
    """One task: the box gradients of boxes on one image chunk."""
    from .._core.validation import validate_grad_boxes

    return _numpy_call("grad_boxes", validate_grad_boxes, _gather(spec, *grads), image, boxes,
                       box_indices)


def grad_boxes(args: GradBoxesArgs) -> Any:
    """``crop_and_resize_grad_boxes`` of a dask image and grads: float32 ``(n, 4)`` dask
    array in the caller's box order, chunked like ``grads`` along boxes (or by task)."""
    import dask.array as da
    import numpy as np
    from dask.base import tokenize
    Task, TaskRef = _task_classes()

    image, grads = whole_images(args.image), whole_images(args.grads)
    boxes, box_indices = _numpy(args.boxes), _numpy(args.box_indices)
    n = boxes.shape[0]
    if n == 0:
        return da.empty((0, 4), dtype=np.float32, chunks=-1)
    starts = _starts(image.chunks[0])
    which = _chunk_of(starts, box_indices)
    grad_starts = _starts(grads.chunks[0])
    # The tasks' inputs are bounded by the grads' blocks; their outputs are 16 bytes a box.
    plan = _plan(which, n, grad_starts[1:-1], gather_tasks=len(grads.chunks[0]))
    token = tokenize(image.name, grads.name, boxes, box_indices)
    name = f"xcrop-grad-boxes-{token}"
    parts = name if plan.in_order else f"xcrop-grad-boxes-parts-{token}"
    layer = {}
    for s, (c, rows) in enumerate(zip(plan.chunks, plan.rows, strict=True)):
        blocks, spec = _pieces(rows, grad_starts)
        key = (parts, s, 0)
        layer[key] = Task(key, _grad_boxes_block, TaskRef((image.name, c, 0, 0, 0)),
                          boxes[rows], box_indices[rows] - starts[c], spec,
                          *(TaskRef((grads.name, g, 0, 0, 0)) for g in blocks))
    sizes = tuple(r.shape[0] for r in plan.rows)
    out = _array(layer, parts, (sizes, (4,)), [image, grads], np.float32)
    if plan.in_order:
        return out
    return _reorder(out, plan, name, grads.chunks[0])


# ----------------------------------------------------------------------------------------
# extract_glimpse
# ----------------------------------------------------------------------------------------

def _glimpse_block(image: Any, offsets: Any, rows: tuple[int, int] | None,
                   size: tuple[int, int], flags: tuple[bool, bool, str, int],
                   seed: int | None, fill_start: int) -> Any:
    """One task: the glimpses of one batch chunk (``offsets``, or its ``rows`` slice when
    the offsets are one block), drawing the fill from stream element ``fill_start``."""
    from .._core.validation import validate_extract_glimpse

    if rows is not None:
        offsets = offsets[rows[0]:rows[1]]
    centered, normalized, noise, version = flags
    return _numpy_call("extract_glimpse", validate_extract_glimpse, image, size, offsets,
                       centered, normalized, noise, version, seed, fill_start=fill_start)


def glimpse(args: GlimpseArgs) -> Any:
    """``extract_glimpse`` (V1 or V2) of a dask input: float32 ``(B, h, w, D)`` dask array
    chunked like the input along the batch, one task per chunk, bit for bit the in-memory
    call's (seeded fill included)."""
    import math

    import numpy as np
    from dask.base import tokenize
    Task, TaskRef = _task_classes()

    image = whole_images(args.input)
    _, h, w, depth = args.output_shape
    seed = args.seed
    if args.noise != "zero":
        if math.prod(args.output_shape) > random.MAX_SIZE:
            raise InvalidArgumentError(
                f"extract_glimpse: the seeded fill covers at most 2**31 output elements; "
                f"output shape {args.output_shape} has more. Split the batch into calls, "
                f"or use noise='zero'")
        if seed is None:
            seed = random.random_seed()  # one seed for the whole graph, drawn now
    offsets = args.offsets
    one_block = offsets.numblocks[0] == 1
    if not one_block:
        offsets = offsets.rechunk({0: image.chunks[0], 1: -1})
    offsets = whole_images(offsets)
    starts = _starts(image.chunks[0]).tolist()
    flags = (args.centered, args.normalized, args.noise, args.version)
    name = "xcrop-glimpse-" + tokenize(image.name, offsets.name, h, w, flags, seed)
    layer = {}
    for c, (b0, b1) in enumerate(itertools.pairwise(starts)):
        key = (name, c, 0, 0, 0)
        layer[key] = Task(key, _glimpse_block, TaskRef((image.name, c, 0, 0, 0)),
                          TaskRef((offsets.name, 0 if one_block else c, 0)),
                          (b0, b1) if one_block else None, (h, w), flags, seed,
                          b0 * h * w * depth)
    chunks = (image.chunks[0], (h,), (w,), (depth,))
    return _array(layer, name, chunks, [image, offsets], np.float32)


# ----------------------------------------------------------------------------------------
# registration
# ----------------------------------------------------------------------------------------

def _dask_of_numpy(*arrays: Any) -> bool:
    return all(is_lazy(x) and numpy_blocks(x) for x in arrays)


def _crop_predicate(args: CropArgs) -> bool:
    return _dask_of_numpy(args.image, args.boxes, args.box_indices)


def _glimpse_predicate(args: GlimpseArgs) -> bool:
    return _dask_of_numpy(args.input, args.offsets)


def _grad_image_predicate(args: GradImageArgs) -> bool:
    return _dask_of_numpy(args.grads, args.in_y, args.in_x, args.box_indices)


def _grad_boxes_predicate(args: GradBoxesArgs) -> bool:
    return _dask_of_numpy(args.image, args.grads, args.boxes, args.box_indices)


def paths() -> list[dict[str, Any]]:
    """The dask paths (see ``_backends.builtin_paths``)."""
    return one_per_operation(
        (crop, glimpse, grad_image, grad_boxes),
        (_crop_predicate, _glimpse_predicate, _grad_image_predicate, _grad_boxes_predicate),
        (NAME, GLIMPSE_NAME, NAME, NAME), backend="dask", device="cpu")
